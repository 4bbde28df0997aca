"""Clinical vocabularies for the synthetic generator.

Item ids, labels, ICD-9 titles, ICD-10-PCS titles and DRG descriptions are those of the real
MIMIC-IV dictionaries, so code written against the synthetic data works on the real release.
ICD-10-CM titles come from the simple-icd-10-cm library (the CMS tabular list).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --------------------------------------------------------------------------------------------
# Labs: itemid -> (label, fluid, category, unit, ref_lo, ref_hi, normal_mean, normal_sd, decimals)
# Means/SDs are those of a stable inpatient; scenarios shift them.
# --------------------------------------------------------------------------------------------
LABS: dict[int, tuple] = {
    # chemistry (basic metabolic panel)
    50983: ("Sodium", "Blood", "Chemistry", "mEq/L", 133, 145, 139, 3, 0),
    50971: ("Potassium", "Blood", "Chemistry", "mEq/L", 3.3, 5.1, 4.1, 0.4, 1),
    50902: ("Chloride", "Blood", "Chemistry", "mEq/L", 96, 108, 102, 3.5, 0),
    50882: ("Bicarbonate", "Blood", "Chemistry", "mEq/L", 22, 32, 26, 2.5, 0),
    51006: ("Urea Nitrogen", "Blood", "Chemistry", "mg/dL", 6, 20, 16, 5, 0),
    50912: ("Creatinine", "Blood", "Chemistry", "mg/dL", 0.5, 1.2, 0.9, 0.2, 1),
    50931: ("Glucose", "Blood", "Chemistry", "mg/dL", 70, 100, 105, 18, 0),
    50868: ("Anion Gap", "Blood", "Chemistry", "mEq/L", 8, 20, 13, 2.5, 0),
    50960: ("Magnesium", "Blood", "Chemistry", "mg/dL", 1.6, 2.6, 2.0, 0.2, 1),
    50893: ("Calcium, Total", "Blood", "Chemistry", "mg/dL", 8.4, 10.3, 9.1, 0.4, 1),
    50970: ("Phosphate", "Blood", "Chemistry", "mg/dL", 2.7, 4.5, 3.5, 0.5, 1),
    # liver panel
    50861: ("Alanine Aminotransferase (ALT)", "Blood", "Chemistry", "IU/L", 0, 40, 24, 9, 0),
    50878: ("Asparate Aminotransferase (AST)", "Blood", "Chemistry", "IU/L", 0, 40, 26, 9, 0),
    50863: ("Alkaline Phosphatase", "Blood", "Chemistry", "IU/L", 40, 130, 85, 22, 0),
    50885: ("Bilirubin, Total", "Blood", "Chemistry", "mg/dL", 0, 1.5, 0.6, 0.25, 1),
    50862: ("Albumin", "Blood", "Chemistry", "g/dL", 3.5, 5.2, 3.9, 0.35, 1),
    50976: ("Protein, Total", "Blood", "Chemistry", "g/dL", 6.4, 8.3, 6.9, 0.5, 1),
    50954: ("Lactate Dehydrogenase (LD)", "Blood", "Chemistry", "IU/L", 94, 250, 190, 40, 0),
    # cardiac and others
    51003: ("Troponin T", "Blood", "Chemistry", "ng/mL", 0, 0.01, 0.005, 0.003, 2),
    50910: ("Creatine Kinase (CK)", "Blood", "Chemistry", "IU/L", 47, 322, 120, 45, 0),
    50911: ("Creatine Kinase, MB Isoenzyme", "Blood", "Chemistry", "ng/mL", 0, 10, 3, 1.2, 0),
    50963: ("NTproBNP", "Blood", "Chemistry", "pg/mL", 0, 353, 180, 80, 0),
    50956: ("Lipase", "Blood", "Chemistry", "IU/L", 0, 60, 32, 12, 0),
    50852: ("% Hemoglobin A1c", "Blood", "Chemistry", "%", 4, 6, 5.5, 0.4, 1),
    50907: ("Cholesterol, Total", "Blood", "Chemistry", "mg/dL", 0, 199, 175, 35, 0),
    50904: ("Cholesterol, HDL", "Blood", "Chemistry", "mg/dL", 40, 200, 48, 12, 0),
    50905: ("Cholesterol, LDL, Calculated", "Blood", "Chemistry", "mg/dL", 0, 129, 100, 30, 0),
    51000: ("Triglycerides", "Blood", "Chemistry", "mg/dL", 0, 149, 130, 45, 0),
    50993: ("Thyroid Stimulating Hormone", "Blood", "Chemistry", "uIU/mL", 0.27, 4.2, 1.8, 0.8, 2),
    50889: ("C-Reactive Protein", "Blood", "Chemistry", "mg/L", 0, 5, 3, 1.5, 1),
    51009: ("Vancomycin", "Blood", "Chemistry", "ug/mL", 10, 20, 15, 4, 1),
    # hematology (CBC)
    51301: ("White Blood Cells", "Blood", "Hematology", "K/uL", 4.0, 10.0, 7.5, 1.8, 1),
    51279: ("Red Blood Cells", "Blood", "Hematology", "m/uL", 4.6, 6.1, 4.3, 0.45, 2),
    51222: ("Hemoglobin", "Blood", "Hematology", "g/dL", 13.7, 17.5, 12.6, 1.3, 1),
    51221: ("Hematocrit", "Blood", "Hematology", "%", 40, 51, 38, 3.8, 1),
    51250: ("MCV", "Blood", "Hematology", "fL", 82, 98, 90, 5, 0),
    51248: ("MCH", "Blood", "Hematology", "pg", 26, 32, 29.5, 1.8, 1),
    51249: ("MCHC", "Blood", "Hematology", "g/dL", 32, 37, 33, 1.0, 1),
    51277: ("RDW", "Blood", "Hematology", "%", 10.5, 15.5, 14.0, 1.3, 1),
    52172: ("RDW-SD", "Blood", "Hematology", "fL", 35.1, 46.3, 45, 4.5, 1),
    51265: ("Platelet Count", "Blood", "Hematology", "K/uL", 150, 400, 240, 60, 0),
    51256: ("Neutrophils", "Blood", "Hematology", "%", 34, 71, 64, 8, 1),
    51244: ("Lymphocytes", "Blood", "Hematology", "%", 19, 53, 24, 7, 1),
    51254: ("Monocytes", "Blood", "Hematology", "%", 5, 13, 8, 2, 1),
    51200: ("Eosinophils", "Blood", "Hematology", "%", 1, 7, 2.2, 1.2, 1),
    51146: ("Basophils", "Blood", "Hematology", "%", 0, 1, 0.5, 0.2, 1),
    51274: ("PT", "Blood", "Hematology", "sec", 9.4, 12.5, 11.8, 1.0, 1),
    51237: ("INR(PT)", "Blood", "Hematology", "", 0.9, 1.1, 1.1, 0.1, 1),
    51275: ("PTT", "Blood", "Hematology", "sec", 25, 36.5, 30, 3.5, 1),
    51214: ("Fibrinogen, Functional", "Blood", "Hematology", "mg/dL", 180, 393, 320, 60, 0),
    # blood gas
    50820: ("pH", "Blood", "Blood Gas", "units", 7.35, 7.45, 7.40, 0.03, 2),
    50821: ("pO2", "Blood", "Blood Gas", "mm Hg", 85, 105, 95, 12, 0),
    50818: ("pCO2", "Blood", "Blood Gas", "mm Hg", 35, 45, 40, 4, 0),
    50802: ("Base Excess", "Blood", "Blood Gas", "mEq/L", None, None, 0, 2, 0),
    50804: ("Calculated Total CO2", "Blood", "Blood Gas", "mEq/L", 21, 30, 25, 2.5, 0),
    50813: ("Lactate", "Blood", "Blood Gas", "mmol/L", 0.5, 2.0, 1.2, 0.35, 1),
    50808: ("Free Calcium", "Blood", "Blood Gas", "mmol/L", 1.12, 1.32, 1.18, 0.05, 2),
    # urinalysis
    51491: ("pH", "Urine", "Hematology", "units", 5, 8, 6.0, 0.6, 1),
    51498: ("Specific Gravity", "Urine", "Hematology", " ", 1.001, 1.035, 1.015, 0.006, 3),
    51516: ("WBC", "Urine", "Hematology", "#/hpf", 0, 5, 2, 1.5, 0),
    51493: ("RBC", "Urine", "Hematology", "#/hpf", 0, 2, 1, 1, 0),
    51484: ("Ketone", "Urine", "Hematology", "mg/dL", 0, 0, 0, 0, 0),
    51478: ("Glucose", "Urine", "Hematology", "mg/dL", 0, 0, 0, 0, 0),
    51492: ("Protein", "Urine", "Hematology", "mg/dL", 0, 0, 0, 0, 0),
    51476: ("Epithelial Cells", "Urine", "Hematology", "#/hpf", 0, 5, 1, 1, 0),
}

# Text-valued urinalysis items: itemid -> (label, fluid, category, normal value, abnormal value)
TEXT_LABS: dict[int, tuple] = {
    51487: ("Nitrite", "Urine", "Hematology", "NEG", "POS"),
    51486: ("Leukocytes", "Urine", "Hematology", "NEG", "LG"),
    51466: ("Blood", "Urine", "Hematology", "NEG", "MOD"),
    51508: ("Urine Color", "Urine", "Hematology", "Yellow", "Yellow"),
    51506: ("Urine Appearance", "Urine", "Hematology", "Clear", "Cloudy"),
    51463: ("Bacteria", "Urine", "Hematology", "NONE", "MANY"),
}

PANELS: dict[str, tuple[int, ...]] = {
    "bmp": (50983, 50971, 50902, 50882, 51006, 50912, 50931, 50868),
    "cbc": (51301, 51279, 51222, 51221, 51250, 51248, 51249, 51277, 52172, 51265),
    "mgcaphos": (50960, 50893, 50970),
    "diff": (51256, 51244, 51254, 51200, 51146),
    "coags": (51274, 51237, 51275),
    "lfts": (50861, 50878, 50863, 50885, 50862),
    "abg": (50820, 50821, 50818, 50802, 50804, 50813, 50808),
    "cardiac": (51003, 50910, 50911),
    "bnp": (50963,),
    "lipase": (50956,),
    "a1c": (50852,),
    "lipids": (50907, 50904, 50905, 51000),
    "tsh": (50993,),
    "crp": (50889,),
    "ldh": (50954, 50976, 51214),
    "ua": (51491, 51498, 51516, 51493, 51484, 51478, 51492, 51476, 51487, 51486, 51466, 51508,
           51506, 51463),
    "vanco": (51009,),
}

# --------------------------------------------------------------------------------------------
# ICU items (d_items): itemid -> (label, abbreviation, linksto, category, unitname, param_type,
# lownormalvalue, highnormalvalue)
# --------------------------------------------------------------------------------------------
D_ITEMS: dict[int, tuple] = {
    220045: ("Heart Rate", "HR", "chartevents", "Routine Vital Signs", "bpm", "Numeric", "", ""),
    220179: ("Non Invasive Blood Pressure systolic", "NBPs", "chartevents", "Routine Vital Signs",
             "mmHg", "Numeric", "", ""),
    220180: ("Non Invasive Blood Pressure diastolic", "NBPd", "chartevents", "Routine Vital Signs",
             "mmHg", "Numeric", "", ""),
    220181: ("Non Invasive Blood Pressure mean", "NBPm", "chartevents", "Routine Vital Signs",
             "mmHg", "Numeric", "", ""),
    220210: ("Respiratory Rate", "RR", "chartevents", "Respiratory", "insp/min", "Numeric", "", ""),
    220277: ("O2 saturation pulseoxymetry", "SpO2", "chartevents", "Respiratory", "%", "Numeric",
             "", ""),
    223761: ("Temperature Fahrenheit", "Temperature F", "chartevents", "Routine Vital Signs", "°F",
             "Numeric", "", ""),
    220739: ("GCS - Eye Opening", "Eye Opening", "chartevents", "Neurological", "", "Text", "", ""),
    223900: ("GCS - Verbal Response", "Verbal Response", "chartevents", "Neurological", "", "Text",
             "", ""),
    223901: ("GCS - Motor Response", "Motor Response", "chartevents", "Neurological", "", "Text",
             "", ""),
    220048: ("Heart Rhythm", "Heart Rhythm", "chartevents", "Routine Vital Signs", "", "Text", "", ""),
    226512: ("Admission Weight (Kg)", "Admission Weight (Kg)", "chartevents", "General", "kg",
             "Numeric", "", ""),
    225664: ("Glucose finger stick (range 70-100)", "Glucose FS (range 70 -100)", "chartevents",
             "Labs", "None", "Numeric", "", ""),
    226559: ("Foley", "Foley", "outputevents", "Output", "mL", "Numeric", "", ""),
    225158: ("NaCl 0.9%", "NaCl 0.9%", "inputevents", "Fluids/Intake", "mL", "Solution", "", ""),
    221906: ("Norepinephrine", "Norepinephrine", "inputevents", "Medications", "mg", "Solution",
             "", ""),
    225798: ("Vancomycin", "Vancomycin", "inputevents", "Antibiotics", "dose", "Solution", "", ""),
    222168: ("Propofol", "Propofol", "inputevents", "Medications", "mg", "Solution", "", ""),
    225792: ("Invasive Ventilation", "Invasive Ventilation", "procedureevents",
             "2-Ventilation", "None", "Processes", "", ""),
    224275: ("20 Gauge", "20 Gauge", "procedureevents", "Access Lines - Peripheral", "None",
             "Processes", "", ""),
    224263: ("Multi Lumen", "Multi Lumen", "procedureevents", "Access Lines - Invasive", "None",
             "Processes", "", ""),
}

VITALS = (  # itemid, normal mean, sd, decimals, unit
    (220045, 82, 10, 0, "bpm"),
    (220179, 124, 14, 0, "mmHg"),
    (220180, 68, 9, 0, "mmHg"),
    (220210, 18, 3, 0, "insp/min"),
    (220277, 96, 1.8, 0, "%"),
)

# --------------------------------------------------------------------------------------------
# ICD-9 diagnoses (titles exactly as in MIMIC-IV's d_icd_diagnoses)
# --------------------------------------------------------------------------------------------
ICD9_DIAGNOSES: dict[str, str] = {
    "0389": "Unspecified septicemia",
    "486": "Pneumonia, organism unspecified",
    "42833": "Acute on chronic diastolic heart failure",
    "4280": "Congestive heart failure, unspecified",
    "49121": "Obstructive chronic bronchitis with (acute) exacerbation",
    "5849": "Acute kidney failure, unspecified",
    "25013": "Diabetes with ketoacidosis, type I [juvenile type], uncontrolled",
    "5789": "Hemorrhage of gastrointestinal tract, unspecified",
    "43491": "Cerebral artery occlusion, unspecified with cerebral infarction",
    "41071": "Subendocardial infarction, initial episode of care",
    "6826": "Cellulitis and abscess of leg, except foot",
    "82021": "Closed fracture of intertrochanteric section of neck of femur",
    "4019": "Unspecified essential hypertension",
    "25000": "Diabetes mellitus without mention of complication, type II or unspecified type, "
             "not stated as uncontrolled",
    "2724": "Other and unspecified hyperlipidemia",
    "41401": "Coronary atherosclerosis of native coronary artery",
    "42731": "Atrial fibrillation",
    "5859": "Chronic kidney disease, unspecified",
    "496": "Chronic airway obstruction, not elsewhere classified",
    "53081": "Esophageal reflux",
    "311": "Depressive disorder, not elsewhere classified",
    "2449": "Unspecified acquired hypothyroidism",
    "2859": "Anemia, unspecified",
    "V1582": "Personal history of tobacco use",
    "32723": "Obstructive sleep apnea (adult)(pediatric)",
    "2761": "Hyposmolality and/or hyponatremia",
    "2768": "Hypopotassemia",
    "99591": "Sepsis",
    "78552": "Septic shock",
    "5990": "Urinary tract infection, site not specified",
    "5770": "Acute pancreatitis",
    "27800": "Obesity, unspecified",
    "V5861": "Long-term (current) use of anticoagulants",
    "V5867": "Long-term (current) use of insulin",
    "2851": "Acute posthemorrhagic anemia",
    "3051": "Tobacco use disorder",
    "56400": "Constipation, unspecified",
    "27651": "Dehydration",
    "2762": "Acidosis",
    "42832": "Chronic diastolic heart failure",
    "412": "Old myocardial infarction",
    "30500": "Alcohol abuse, unspecified",
    "E8859": "Fall from other slipping, tripping, or stumbling",
    "29181": "Alcohol withdrawal",
    "30391": "Other and unspecified alcohol dependence, continuous",
    "57400": "Calculus of gallbladder with acute cholecystitis, without mention of obstruction",
    "5070": "Pneumonitis due to inhalation of food or vomitus",
    "51881": "Acute respiratory failure",
    "2875": "Thrombocytopenia, unspecified",
    "V4582": "Percutaneous transluminal coronary angioplasty status",
}

# Chronic conditions: key -> (ICD-10, ICD-9, label for notes, prevalence, home meds, lab shifts)
CHRONIC: dict[str, tuple] = {
    "htn": ("I10", "4019", "Hypertension", 0.55, ("lisinopril", "amlodipine"), {}),
    "dm2": ("E119", "25000", "Type 2 diabetes mellitus", 0.28, ("metformin",), {50931: 1.5, 50852: 1.35}),
    "hld": ("E785", "2724", "Hyperlipidemia", 0.42, ("atorvastatin",), {}),
    "cad": ("I2510", "41401", "Coronary artery disease", 0.2, ("aspirin", "metoprolol_t"), {}),
    "afib": ("I4891", "42731", "Atrial fibrillation", 0.15, ("apixaban", "metoprolol_t"), {}),
    "ckd": ("N189", "5859", "Chronic kidney disease", 0.15, ("calcitriol",),
            {50912: 1.9, 51006: 1.6, 51222: 0.88}),
    "copd": ("J449", "496", "COPD", 0.12, ("tiotropium", "albuterol_inh"), {}),
    "gerd": ("K219", "53081", "GERD", 0.22, ("omeprazole",), {}),
    "dep": ("F329", "311", "Depression", 0.18, ("sertraline",), {}),
    "hypothyroid": ("E039", "2449", "Hypothyroidism", 0.1, ("levothyroxine",), {50993: 1.6}),
    "anemia": ("D649", "2859", "Anemia", 0.15, ("ferrous_sulfate",), {51222: 0.8, 51221: 0.8}),
    "tobacco": ("Z87891", "V1582", "Former tobacco use", 0.25, (), {}),
    "osa": ("G4733", "32723", "Obstructive sleep apnea", 0.08, (), {}),
    "obesity": ("E669", "27800", "Obesity", 0.16, (), {}),
}

# Secondary problems that may accompany any admission: (ICD-10, ICD-9 or None, probability)
FILLER_DX: tuple[tuple[str, str | None, float], ...] = (
    ("E871", "2761", 0.12), ("E876", "2768", 0.14), ("K5900", "56400", 0.1), ("G4700", None, 0.06),
    ("E860", "27651", 0.08), ("D696", "2875", 0.06), ("Z7901", "V5861", 0.08),
    ("Z7902", None, 0.1), ("Z66", None, 0.05), ("N400", None, 0.05), ("M1990", None, 0.05),
    ("E43", None, 0.03), ("Z86718", None, 0.04), ("I252", "412", 0.05), ("F17210", "3051", 0.07),
    ("R531", None, 0.05), ("Z23", None, 0.04), ("Z9181", None, 0.04), ("D509", None, 0.05),
    ("E875", None, 0.04), ("K2970", None, 0.03), ("R4182", None, 0.05), ("Z794", "V5867", 0.06),
    ("Z7984", None, 0.06), ("Z955", "V4582", 0.04), ("F419", None, 0.07), ("M549", None, 0.04),
    ("E559", None, 0.05), ("G8929", None, 0.04), ("I739", None, 0.03), ("H5410", None, 0.01),
    ("Z7982", None, 0.05), ("Z8546", None, 0.02), ("Z853", None, 0.02), ("E1142", None, 0.03),
    ("G629", None, 0.03), ("M810", None, 0.04), ("Z96653", None, 0.02), ("R339", None, 0.03),
)

# ICD-10-PCS and ICD-9 procedures (titles exactly as in MIMIC-IV's d_icd_procedures)
ICD10_PROCEDURES: dict[str, str] = {
    "5A1955Z": "Respiratory Ventilation, Greater than 96 Consecutive Hours",
    "5A1935Z": "Respiratory Ventilation, Less than 24 Consecutive Hours",
    "5A1945Z": "Respiratory Ventilation, 24-96 Consecutive Hours",
    "0BH17EZ": "Insertion of Endotracheal Airway into Trachea, Via Natural or Artificial Opening",
    "02HV33Z": "Insertion of Infusion Device into Superior Vena Cava, Percutaneous Approach",
    "0DJ08ZZ": "Inspection of Upper Intestinal Tract, Via Natural or Artificial Opening Endoscopic",
    "0DB68ZX": "Excision of Stomach, Via Natural or Artificial Opening Endoscopic, Diagnostic",
    "30233N1": "Transfusion of Nonautologous Red Blood Cells into Peripheral Vein, Percutaneous "
               "Approach",
    "5A1D70Z": "Performance of Urinary Filtration, Intermittent, Less than 6 Hours Per Day",
    "3E03317": "Introduction of Other Thrombolytic into Peripheral Vein, Percutaneous Approach",
    "4A023N7": "Measurement of Cardiac Sampling and Pressure, Left Heart, Percutaneous Approach",
    "B2111ZZ": "Fluoroscopy of Multiple Coronary Arteries using Low Osmolar Contrast",
    "027034Z": "Dilation of Coronary Artery, One Artery with Drug-eluting Intraluminal Device, "
               "Percutaneous Approach",
    "0QS634Z": "Reposition Right Upper Femur with Internal Fixation Device, Percutaneous Approach",
    "0SR9019": "Replacement of Right Hip Joint with Metal Synthetic Substitute, Cemented, Open "
               "Approach",
    "0J9M0ZZ": "Drainage of Left Upper Leg Subcutaneous Tissue and Fascia, Open Approach",
    "0W9G3ZZ": "Drainage of Peritoneal Cavity, Percutaneous Approach",
    "0BJ08ZZ": "Inspection of Tracheobronchial Tree, Via Natural or Artificial Opening Endoscopic",
    "009U3ZX": "Drainage of Spinal Canal, Percutaneous Approach, Diagnostic",
    "0T9B70Z": "Drainage of Bladder with Drainage Device, Via Natural or Artificial Opening",
    "03CG3ZZ": "Extirpation of Matter from Intracranial Artery, Percutaneous Approach",
    "0FT44ZZ": "Resection of Gallbladder, Percutaneous Endoscopic Approach",
    "06L34CZ": "Occlusion of Esophageal Vein with Extraluminal Device, Percutaneous Endoscopic "
               "Approach",
    "05HY33Z": "Insertion of Infusion Device into Upper Vein, Percutaneous Approach",
}
ICD9_PROCEDURES: dict[str, str] = {
    "9604": "Insertion of endotracheal tube",
    "9671": "Continuous invasive mechanical ventilation for less than 96 consecutive hours",
    "9672": "Continuous invasive mechanical ventilation for 96 consecutive hours or more",
    "3893": "Venous catheterization, not elsewhere classified",
    "9904": "Transfusion of packed cells",
    "4513": "Other endoscopy of small intestine",
    "3995": "Hemodialysis",
    "0066": "Percutaneous transluminal coronary angioplasty [PTCA]",
    "3722": "Left heart cardiac catheterization",
    "8151": "Total hip replacement",
    "7915": "Closed reduction of fracture with internal fixation, femur",
    "8622": "Excisional debridement of wound, infection, or burn",
    "0331": "Spinal tap",
    "5123": "Laparoscopic cholecystectomy",
    "4443": "Endoscopic control of gastric or duodenal bleeding",
    "0017": "Infusion of vasopressor agent",
}

# --------------------------------------------------------------------------------------------
# Medications: key -> (drug, formulary_drug_cd, gsn, ndc, prod_strength, form_rx, dose_val_rx,
# dose_unit_rx, form_val_disp, form_unit_disp, route, frequency, doses_per_24_hrs, proc_type)
# --------------------------------------------------------------------------------------------
MEDS: dict[str, tuple] = {
    # standard inpatient orders
    "heparin_sc": ("Heparin", "HEPA5I", "006549", "63323026201", "5000 Units / mL- 1mL Vial", "",
                   "5000", "UNIT", "1", "mL", "SC", "Q8H", 3, "Unit Dose"),
    "nacl_flush": ("Sodium Chloride 0.9%  Flush", "NACLFLUSH", "", "0", "10 mL Syringe", "", "3",
                   "mL", "0.3", "SYR", "IV", "Q8H", 3, "Unit Dose"),
    "docusate": ("Docusate Sodium", "DOCU100", "003009", "00904224461", "100mg Capsule", "", "100",
                 "mg", "1", "CAP", "PO", "BID", 2, "Unit Dose"),
    "senna": ("Senna", "SENN187", "019964", "00904516561", "8.6 mg Tablet", "", "8.6", "mg", "1",
              "TAB", "PO", "BID", 2, "Unit Dose"),
    "acetaminophen": ("Acetaminophen", "ACET325", "004489", "51079000220", "325mg Tablet", "", "650",
                      "mg", "2", "TAB", "PO/NG", "Q6H PRN", 4, "Unit Dose"),
    "ondansetron": ("Ondansetron", "ONDA2I", "016455", "60505613000", "2mg/mL-2mL", "", "4", "mg", "2",
                    "mL", "IV", "Q8H PRN", 3, "Unit Dose"),
    "bisacodyl": ("Bisacodyl", "BISA10R", "002947", "00536338101", "10mg Suppository", "", "10", "mg",
                  "1", "SUPP", "PR", "DAILY PRN", 1, "Unit Dose"),
    "polyethylene_glycol": ("Polyethylene Glycol", "PEG17", "025466", "00904693186", "17 g Packet", "",
                            "17", "g", "1", "PKT", "PO", "DAILY PRN", 1, "Unit Dose"),
    "kcl_po": ("Potassium Chloride", "KCL20P", "001234", "00245004101", "20mEq Packet", "", "40",
               "mEq", "2", "PKT", "PO", "ONCE", 1, "Unit Dose"),
    "mag_iv": ("Magnesium Sulfate", "MAG2PM", "011806", "00409672903", "2 g / 50 mL Premix Bag", "",
               "2", "gm", "1", "BAG", "IV", "ONCE", 1, "IV Piggyback"),
    "insulin_ss": ("Insulin", "INSULIN", "", "0", "100 Units / mL - 10 mL Vial", "", "0", "UNIT",
                   "0", "VIAL", "SC", "QACHS", 4, "Unit Dose"),
    "d5w": ("5% Dextrose", "D5W250", "001972", "00338001702", "250 mL Bag", "", "250", "mL", "1",
            "BAG", "IV", "ASDIR", 1, "IV Large Volume"),
    "ns_bag": ("0.9% Sodium Chloride", "NS1000", "001323", "00338004904", "1000 mL Bag", "", "1000",
               "mL", "1", "BAG", "IV", "ASDIR", 1, "IV Large Volume"),
    "lr": ("Lactated Ringers", "LR1000", "001286", "00338011704", "1000 mL Bag", "", "1000", "mL",
           "1", "BAG", "IV", "ASDIR", 1, "IV Large Volume"),
    # home medications
    "lisinopril": ("Lisinopril", "LISI10", "000405", "00172375860", "10mg Tablet", "", "10", "mg",
                   "1", "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "amlodipine": ("Amlodipine", "AMLO5", "016926", "00069152066", "5 mg Tablet", "", "5", "mg", "1",
                   "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "metformin": ("MetFORMIN (Glucophage)", "METF500", "010856", "00378023401", "500mg Tablet", "",
                  "500", "mg", "1", "TAB", "PO", "BID", 2, "Unit Dose"),
    "atorvastatin": ("Atorvastatin", "ATOR40", "029968", "00071015723", "40mg Tablet", "", "40", "mg",
                     "1", "TAB", "PO", "QPM", 1, "Unit Dose"),
    "aspirin": ("Aspirin", "ASA81", "004376", "63739043201", "81mg Tablet", "", "81", "mg", "1", "TAB",
                "PO", "DAILY", 1, "Unit Dose"),
    "metoprolol_t": ("Metoprolol Tartrate", "METO25", "006462", "51079025520", "25mg Tablet", "", "25",
                     "mg", "1", "TAB", "PO", "BID", 2, "Unit Dose"),
    "apixaban": ("Apixaban", "APIX5", "066738", "00003089421", "5 mg Tablet", "", "5", "mg", "1",
                 "TAB", "PO", "BID", 2, "Unit Dose"),
    "calcitriol": ("Calcitriol", "CALC.25", "003326", "00054000725", "0.25mcg Capsule", "", "0.25",
                   "mcg", "1", "CAP", "PO", "DAILY", 1, "Unit Dose"),
    "tiotropium": ("Tiotropium Bromide", "TIOT18", "052225", "00597007541", "18 mcg Cap", "", "1",
                   "CAP", "1", "CAP", "IH", "DAILY", 1, "Unit Dose"),
    "albuterol_inh": ("Albuterol Inhaler", "ALBU17", "028090", "00173068220", "18g Inhaler", "", "2",
                      "PUFF", "0.011", "INH", "IH", "Q4H PRN", 6, "Unit Dose"),
    "omeprazole": ("Omeprazole", "OMEP20", "024356", "62175011837", "20mg Capsule DR", "", "20", "mg",
                   "1", "CAP", "PO", "DAILY", 1, "Unit Dose"),
    "sertraline": ("Sertraline", "SERT50", "016375", "00049491030", "50mg Tablet", "", "50", "mg", "1",
                   "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "levothyroxine": ("Levothyroxine Sodium", "LEVO50", "006637", "00074455211", "50mcg Tablet", "",
                      "50", "mcg", "1", "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "ferrous_sulfate": ("Ferrous Sulfate", "FERR325", "001630", "00904759160", "325 mg Tablet", "",
                        "325", "mg", "1", "TAB", "PO", "DAILY", 1, "Unit Dose"),
    # scenario medications
    "vancomycin": ("Vancomycin", "VANC1F", "009331", "00338355248", "1 g / 200 mL Premix Bag", "",
                   "1000", "mg", "1", "BAG", "IV", "Q12H", 2, "IV Piggyback"),
    "piptazo": ("Piperacillin-Tazobactam", "PIPT4.5F", "046813", "00206886102", "4.5 g Frozen Bag",
                "", "4.5", "g", "1", "BAG", "IV", "Q8H", 3, "IV Piggyback"),
    "ceftriaxone": ("CefTRIAXone", "CEFX1F", "009230", "00338503741", "1 gm / 50 mL Frozen Bag", "",
                    "1", "gm", "1", "BAG", "IV", "Q24H", 1, "IV Piggyback"),
    "azithromycin": ("Azithromycin", "AZIT250", "026721", "00069306075", "250 mg Tablet", "", "500",
                     "mg", "2", "TAB", "PO/NG", "Q24H", 1, "Unit Dose"),
    "norepinephrine": ("Norepinephrine", "NORE4I", "004943", "00409344301", "4mg/4mL Vial", "",
                       "0.06", "mcg/kg/min", "0.0", "VIAL", "IV DRIP", "TITRATE", 0,
                       "Continuous Med"),
    "furosemide_iv": ("Furosemide", "FURO40I", "008209", "00641619310", "40mg/4mL Vial", "", "40",
                      "mg", "1", "VIAL", "IV", "BID", 2, "Unit Dose"),
    "furosemide_po": ("Furosemide", "FURO20", "008208", "51079007220", "20mg Tablet", "", "40", "mg",
                      "2", "TAB", "PO/NG", "DAILY", 1, "Unit Dose"),
    "carvedilol": ("Carvedilol", "CARV6.25", "019936", "00007414020", "6.25 mg Tablet", "", "6.25",
                   "mg", "1", "TAB", "PO", "BID", 2, "Unit Dose"),
    "prednisone": ("PredniSONE", "PRED20", "006745", "00054474125", "20 mg Tablet", "", "40", "mg",
                   "2", "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "methylpred": ("MethylPREDNISolone Sodium Succ", "METH125I", "006754", "00009004722",
                   "125 mg Vial", "", "125", "mg", "1", "VIAL", "IV", "Q24H", 1, "Unit Dose"),
    "ipratropium_albuterol": ("Ipratropium-Albuterol Neb", "IPRA/ALB", "030358", "00487020160",
                              "3 mL Vial", "", "1", "NEB", "1", "VIAL", "IH", "Q6H", 4, "Unit Dose"),
    "insulin_drip": ("Insulin Regular (Human)", "INSREG100", "", "00169183311", "100 Units/100 mL Bag",
                     "", "0.1", "units/kg/hr", "0", "BAG", "IV DRIP", "TITRATE", 0, "Continuous Med"),
    "glargine": ("Insulin Glargine", "GLAR100I", "051061", "00088222033", "100 Units / mL - 10 mL Vial",
                 "", "20", "UNIT", "0.2", "mL", "SC", "QHS", 1, "Unit Dose"),
    "kcl_iv": ("Potassium Chloride", "KCL20PM", "001231", "00338070941", "20 mEq / 50 mL Premix Bag", "",
               "20", "mEq", "1", "BAG", "IV", "ONCE", 1, "IV Piggyback"),
    "pantoprazole_iv": ("Pantoprazole", "PANT40I", "027462", "00008092351", "40mg Vial", "", "40", "mg",
                        "1", "VIAL", "IV", "Q12H", 2, "Unit Dose"),
    "octreotide": ("Octreotide Acetate", "OCTR500I", "015950", "00078018101", "500mcg/mL Vial", "",
                   "50", "mcg/hr", "0.1", "mL", "IV DRIP", "TITRATE", 0, "Continuous Med"),
    "aspirin_325": ("Aspirin", "ASA325", "004380", "00904201560", "325mg Tablet", "", "325", "mg", "1",
                    "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "atorvastatin_80": ("Atorvastatin", "ATOR80", "029970", "00071015823", "80mg Tablet", "", "80",
                        "mg", "1", "TAB", "PO", "QPM", 1, "Unit Dose"),
    "clopidogrel": ("Clopidogrel", "CLOP75", "049301", "63653117106", "75 mg Tablet", "", "75", "mg",
                    "1", "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "heparin_drip": ("Heparin", "HEPAPREMIX", "006552", "00409765162", "25,000 unit/500 mL Premix Bag",
                     "", "1000", "UNIT/HR", "0.04", "BAG", "IV", "TITRATE", 0, "Continuous Med"),
    "nitroglycerin_sl": ("Nitroglycerin SL", "NTG.4SL", "000477", "00071041713", "0.4mg SL Tablet", "",
                         "0.4", "mg", "1", "TAB", "SL", "Q5MIN PRN", 3, "Unit Dose"),
    "cefazolin": ("CeFAZolin", "CEFA2F", "009068", "00338350841", "2 g / 100 mL Premix Bag", "", "2",
                  "g", "1", "BAG", "IV", "Q8H", 3, "IV Piggyback"),
    "cephalexin": ("Cephalexin", "CEPH500", "009114", "00093314705", "500mg Capsule", "", "500", "mg",
                   "1", "CAP", "PO", "Q6H", 4, "Unit Dose"),
    "oxycodone": ("OxyCODONE (Immediate Release)", "OXYC5", "004225", "00406055262", "5mg Tablet", "",
                  "5", "mg", "1", "TAB", "PO/NG", "Q4H PRN", 6, "Unit Dose"),
    "enoxaparin": ("Enoxaparin Sodium", "ENOX40I", "025271", "00075062040", "40mg/0.4mL Syringe", "",
                   "40", "mg", "1", "SYR", "SC", "DAILY", 1, "Unit Dose"),
    "calcium_vitd": ("Calcium Carbonate", "CALC500", "001593", "00904323352", "500mg Tablet", "", "500",
                     "mg", "1", "TAB", "PO", "BID", 2, "Unit Dose"),
    "hydromorphone": ("HYDROmorphone (Dilaudid)", "HYDR2I", "004167", "00409131230", "2mg/mL Syringe",
                      "", "0.5", "mg", "0.25", "SYR", "IV", "Q3H PRN", 8, "Unit Dose"),
    "diltiazem": ("Diltiazem", "DILT30", "000538", "00093031801", "30mg Tablet", "", "30", "mg", "1",
                  "TAB", "PO", "Q6H", 4, "Unit Dose"),
    "metoprolol_iv": ("Metoprolol Tartrate", "METO5I", "006465", "55390007310", "5mg/5mL Vial", "", "5",
                      "mg", "1", "VIAL", "IV", "Q6H PRN", 4, "Unit Dose"),
    "lorazepam": ("Lorazepam", "LORA1", "003757", "00641604401", "1mg Tablet", "", "1", "mg", "1",
                  "TAB", "PO", "Q4H PRN", 6, "Unit Dose"),
    "diazepam": ("Diazepam", "DIAZ5", "003768", "00140000514", "5mg Tablet", "", "10", "mg", "2", "TAB",
                 "PO", "Q2H PRN", 12, "Unit Dose"),
    "thiamine": ("Thiamine", "THIA100", "002614", "00904054360", "100mg Tablet", "", "100", "mg", "1",
                 "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "folic_acid": ("FoLIC Acid", "FOLI1", "002366", "00182059601", "1mg Tablet", "", "1", "mg", "1",
                   "TAB", "PO", "DAILY", 1, "Unit Dose"),
    "multivitamin": ("Multivitamins", "MULTI", "", "00904053060", "1 Tablet", "", "1", "TAB", "1", "TAB",
                     "PO", "DAILY", 1, "Unit Dose"),
    "morphine": ("Morphine Sulfate", "MORP2I", "004186", "00409189001", "2mg Syringe", "", "2", "mg",
                 "1", "SYR", "IV", "Q4H PRN", 6, "Unit Dose"),
    "ciprofloxacin": ("Ciprofloxacin HCl", "CIPR500", "009574", "00172531210", "500mg Tablet", "",
                      "500", "mg", "1", "TAB", "PO", "Q12H", 2, "Unit Dose"),
}

# eMAR event texts and their weights (MIMIC's most common ones)
EMAR_EVENTS = (("Administered", 0.8), ("Not Given", 0.07), ("Confirmed", 0.06),
               ("Flushed", 0.04), ("Stopped", 0.03))

# --------------------------------------------------------------------------------------------
# Microbiology
# --------------------------------------------------------------------------------------------
SPECIMENS = {  # key -> (spec_itemid, spec_type_desc, test_itemid, test_name, negative comment)
    "blood": (70012, "BLOOD CULTURE", 90201, "Blood Culture, Routine", "NO GROWTH."),
    "urine": (70079, "URINE", 90039, "URINE CULTURE", "NO GROWTH."),
    "sputum": (70062, "SPUTUM", 90055, "RESPIRATORY CULTURE", "SPARSE GROWTH OF COMMENSAL RESPIRATORY FLORA."),
    "mrsa": (70091, "MRSA SCREEN", 90189, "MRSA SCREEN", "No MRSA isolated."),
    "wound": (70070, "SWAB", 90046, "WOUND CULTURE", "NO GROWTH."),
    "stool": (70064, "STOOL", 90221, "C. difficile PCR", "Negative for toxigenic C. difficile by the Illumigene DNA amplification."),
}
ORGANISMS = {  # key -> (org_itemid, org_name, label for notes, susceptibility panel)
    "ecoli": (80002, "ESCHERICHIA COLI", "E. coli", "gnr"),
    "kleb": (80004, "KLEBSIELLA PNEUMONIAE", "Klebsiella pneumoniae", "gnr"),
    "pseudo": (80026, "PSEUDOMONAS AERUGINOSA", "Pseudomonas aeruginosa", "pseudo"),
    "staph": (80023, "STAPH AUREUS COAG +", "Staphylococcus aureus", "gpc"),
    "proteus": (80017, "PROTEUS MIRABILIS", "Proteus mirabilis", "gnr"),
    "strep_pneumo": (80052, "STREPTOCOCCUS PNEUMONIAE", "Streptococcus pneumoniae", "strep"),
    "enterococcus": (80053, "ENTEROCOCCUS SP.", "Enterococcus", "entero"),
}
ANTIBIOTICS = {  # ab_itemid -> (name, susceptible dilution text, resistant dilution text)
    90004: ("AMPICILLIN", "<=2", "=>32"), 90005: ("CEFAZOLIN", "<=4", "=>64"),
    90008: ("TRIMETHOPRIM/SULFA", "<=1", "=>16"), 90010: ("NITROFURANTOIN", "<=16", "128"),
    90012: ("GENTAMICIN", "<=1", "=>16"), 90015: ("VANCOMYCIN", "1", ">256"),
    90016: ("OXACILLIN", "<=0.25", "=>4"), 90017: ("CEFTAZIDIME", "<=1", "=>64"),
    90018: ("CEFTRIAXONE", "<=1", "=>64"), 90019: ("CIPROFLOXACIN", "<=0.25", "=>4"),
    90025: ("LEVOFLOXACIN", "<=0.12", "=>8"), 90026: ("PIPERACILLIN/TAZO", "<=4", "=>128"),
    90028: ("CEFEPIME", "<=1", "=>64"), 90029: ("MEROPENEM", "<=0.25", "=>16"),
    90007: ("CLINDAMYCIN", "<=0.25", "=>8"), 90006: ("ERYTHROMYCIN", "<=0.25", "=>8"),
    90011: ("TETRACYCLINE", "<=1", "=>16"), 90027: ("RIFAMPIN", "<=0.5", "=>4"),
    90022: ("AMPICILLIN/SULBACTAM", "<=2", "=>32"), 90013: ("TOBRAMYCIN", "<=1", "=>16"),
}
SUSCEPTIBILITY_PANELS = {
    "gnr": (90004, 90022, 90005, 90018, 90017, 90028, 90029, 90026, 90012, 90013, 90019, 90008, 90010),
    "pseudo": (90017, 90028, 90029, 90026, 90012, 90013, 90019),
    "gpc": (90016, 90015, 90007, 90006, 90011, 90008, 90027, 90025, 90012),
    "strep": (90006, 90007, 90018, 90025, 90015, 90011),
    "entero": (90004, 90015, 90010, 90011),
}

# --------------------------------------------------------------------------------------------
# Imaging: key -> (exam name, cpt, technique, normal findings, normal impression)
# Scenario-specific abnormal findings live in the scenarios.
# --------------------------------------------------------------------------------------------
IMAGING = {
    "cxr": ("CHEST (PA AND LAT)", "71046", "Chest PA and lateral",
            ("The lungs are clear without focal consolidation. No pleural effusion or pneumothorax is "
            "seen. The cardiac and mediastinal silhouettes are unremarkable."),
            "No acute cardiopulmonary process."),
    "cxr_port": ("CHEST (PORTABLE AP)", "71045", "Single frontal view of the chest",
                 ("Lung volumes are low. No focal consolidation, large effusion or pneumothorax. "
                 "Heart size is within normal limits."),
                 "No acute cardiopulmonary process."),
    "ct_head": ("CT HEAD W/O CONTRAST", "70450", ("Contiguous axial images of the brain were obtained "
                "without intravenous contrast."),
                ("There is no evidence of hemorrhage, edema, mass effect, or large territorial "
                "infarction. The ventricles and sulci are normal in size and configuration."),
                "No acute intracranial abnormality."),
    "mri_head": ("MR HEAD W/O CONTRAST", "70551", ("Multiplanar multisequence MR images of the brain "
                 "were obtained without contrast."),
                 "No restricted diffusion. No intracranial hemorrhage or mass.",
                 "No acute intracranial process."),
    "ct_abd": ("CT ABD & PELVIS WITH CONTRAST", "74177", ("MDCT axial images were obtained through "
               "the abdomen and pelvis following intravenous contrast."),
               ("The liver, spleen, pancreas, adrenal glands and kidneys are unremarkable. No free "
               "fluid or free air. The bowel is normal in caliber."),
               "No acute intra-abdominal process."),
    "ruq_us": ("US ABD LIMIT, SINGLE ORGAN", "76705", ("Grayscale and color Doppler ultrasound images "
               "of the right upper quadrant."),
               ("The liver is normal in echotexture. The gallbladder is normal without stones. No "
               "biliary dilatation."),
               "Normal right upper quadrant ultrasound."),
    "renal_us": ("RENAL U.S.", "76770", ("Grayscale and color Doppler ultrasound of the kidneys and "
                 "bladder."),
                 ("The kidneys are normal in size without hydronephrosis, stones or masses. The "
                 "bladder is decompressed."),
                 "No hydronephrosis."),
    "hip_xr": ("HIP UNILAT MIN 2 VIEWS RIGHT", "73502", "Two views of the right hip.",
               "No fracture or dislocation. Joint spaces are preserved.",
               "No acute fracture."),
    "le_us": ("UNILAT LOWER EXT VEINS", "93971", ("Grayscale, color and spectral Doppler of the "
              "lower extremity veins."),
              ("Normal compressibility, flow and augmentation of the common femoral, femoral and "
              "popliteal veins."),
              "No evidence of deep venous thrombosis."),
    "echo_ct_chest": ("CTA CHEST", "71275", "Axial images of the chest after intravenous contrast.",
                      "No pulmonary embolism to the subsegmental level. Lungs are clear.",
                      "No pulmonary embolism."),
}


@dataclass(frozen=True)
class Scenario:
    key: str
    weight: float
    complaint: str
    dx10: tuple[str, ...]  # principal diagnosis choices (ICD-10-CM)
    dx9: str  # principal diagnosis for ICD-9-era admissions
    sec10: tuple[tuple[str, float], ...]  # scenario secondaries with probability
    sec9: tuple[str, ...]
    labs: dict[int, float]  # itemid -> multiplier on the normal mean at admission
    panels: tuple[str, ...]  # extra lab panels at admission
    meds: tuple[str, ...]  # inpatient scenario medications
    discharge_meds: tuple[str, ...]
    micro: tuple[str, ...]  # specimens sent
    organisms: tuple[str, ...]  # possible organisms (empty: cultures negative)
    proc10: tuple[tuple[str, float], ...]
    proc9: tuple[str, ...]
    drg: tuple[str, str]
    apr: tuple[str, str]
    service: str
    ward: str
    icu_p: float
    los: float  # median length of stay, days
    imaging: tuple[tuple[str, str, str], ...]  # (study key, findings, impression)
    hpi: str
    course: str
    mortality: float = 0.02
    vitals: dict[int, float] = field(default_factory=dict)  # itemid -> multiplier
    min_age: int = 18
    elective: bool = False


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "sepsis_uti", 1.2, "Fever, confusion", ("A419", "A4151"), "0389",
        (("R6520", 0.5), ("N390", 1.0), ("N179", 0.35), ("B9620", 0.4)),
        ("99591", "5990"),
        {51301: 2.1, 50813: 2.4, 50912: 1.5, 51006: 1.6, 50882: 0.82, 51265: 0.8, 50889: 20},
        ("abg", "ua", "lfts", "coags", "crp"),
        ("vancomycin", "piptazo", "ns_bag", "norepinephrine"), ("ciprofloxacin",),
        ("blood", "blood", "urine"), ("ecoli", "kleb", "proteus"),
        (("02HV33Z", 0.3),), ("3893",),
        ("871", "SEPTICEMIA OR SEVERE SEPSIS W/O MV >96 HOURS W MCC"),
        ("720", "SEPTICEMIA & DISSEMINATED INFECTIONS"), "MED", "Medicine", 0.4, 5.5,
        (("cxr_port", "", ""), ("renal_us", "", "")),
        "{pt} presents with {days} days of dysuria, fevers to 102F and new confusion. In the ED "
        "she was febrile, tachycardic and hypotensive, with a leukocytosis to {wbc} and a lactate "
        "of {lactate}. Urinalysis was grossly positive.",
        "Sepsis from a urinary source. Blood and urine cultures were sent and the patient was "
        "started on vancomycin and piperacillin-tazobactam with IV fluid resuscitation. {micro} "
        "Antibiotics were narrowed to ciprofloxacin once sensitivities returned. Lactate and white "
        "count normalised and mental status returned to baseline.",
        mortality=0.08, vitals={220045: 1.3, 220179: 0.8, 220210: 1.3},
    ),
    Scenario(
        "pneumonia", 1.2, "Cough, shortness of breath", ("J189", "J159"), "486",
        (("J9601", 0.3), ("R0902", 0.3), ("E871", 0.2)), ("51881",),
        {51301: 1.7, 50889: 15, 50813: 1.4, 50983: 0.97},
        ("abg", "crp", "diff"),
        ("ceftriaxone", "azithromycin", "ipratropium_albuterol"), ("azithromycin",),
        ("blood", "blood", "sputum"), ("strep_pneumo", "staph"),
        (), (),
        ("193", "SIMPLE PNEUMONIA & PLEURISY W MCC"),
        ("139", "OTHER PNEUMONIA"), "MED", "Medicine", 0.2, 4.5,
        (("cxr", ("There is a new focal consolidation in the {side} lower lobe. No pleural effusion "
          "or pneumothorax. The cardiomediastinal silhouette is normal."),
          "{Side} lower lobe consolidation concerning for pneumonia."),
         ("cxr", "", "")),
        "{pt} presents with {days} days of productive cough, fevers and worsening shortness of "
        "breath. Oxygen saturation was 89% on room air in the ED. Chest radiograph showed a "
        "{side} lower lobe consolidation.",
        "Community-acquired pneumonia. Treated with ceftriaxone and azithromycin with "
        "supplemental oxygen, weaned to room air by hospital day 3. {micro} Completed the "
        "antibiotic course with oral azithromycin.",
        mortality=0.04, vitals={220045: 1.15, 220210: 1.35, 220277: 0.95},
    ),
    Scenario(
        "chf", 1.2, "Dyspnea, leg swelling", ("I5023", "I5033", "I5043"), "42833",
        (("I110", 0.6), ("E876", 0.2), ("N179", 0.25)), ("4280",),
        {50963: 25, 51006: 1.5, 50912: 1.3, 50983: 0.97, 51003: 3},
        ("bnp", "cardiac", "lfts"),
        ("furosemide_iv", "carvedilol", "kcl_po"), ("furosemide_po", "carvedilol"),
        (), (), (), (),
        ("291", "HEART FAILURE & SHOCK W MCC"), ("194", "HEART FAILURE"), "CMED",
        "Medicine/Cardiology", 0.15, 5.0,
        (("cxr", ("There is moderate pulmonary vascular congestion with bilateral small pleural "
          "effusions. The heart is enlarged."),
          "Moderate pulmonary edema and small bilateral effusions."),
         ("cxr", ("Interval improvement in pulmonary vascular congestion. Persistent mild "
          "cardiomegaly."), "Improved pulmonary edema.")),
        "{pt} with known heart failure presents with {days} days of progressive dyspnea on "
        "exertion, orthopnea and bilateral leg swelling after running out of diuretics. Weight is "
        "up about 4 kg. NT-proBNP was {bnp}.",
        "Acute on chronic heart failure exacerbation. Diuresed with IV furosemide with net "
        "negative fluid balance and improvement in dyspnea and edema. Creatinine peaked at "
        "{cr_peak} and was {cr_last} at discharge. Transitioned to oral furosemide.",
        mortality=0.03, vitals={220045: 1.1, 220210: 1.25, 220277: 0.96, 220179: 1.1},
        min_age=45,
    ),
    Scenario(
        "copd", 0.9, "Shortness of breath, wheezing", ("J441", "J440"), "49121",
        (("J9601", 0.3), ("F17210", 0.5)), ("51881",),
        {50818: 1.25, 50820: 0.995, 51301: 1.3, 50882: 1.12},
        ("abg",),
        ("methylpred", "ipratropium_albuterol", "azithromycin", "prednisone"), ("prednisone",),
        ("sputum",), (), (), (),
        ("190", "CHRONIC OBSTRUCTIVE PULMONARY DISEASE W MCC"),
        ("140", "CHRONIC OBSTRUCTIVE PULMONARY DISEASE"), "MED", "Medicine", 0.15, 4.0,
        (("cxr", ("The lungs are hyperinflated with flattening of the diaphragms. No focal "
          "consolidation."), "Hyperinflation consistent with COPD. No pneumonia."),),
        "{pt} with COPD presents with {days} days of worsening dyspnea, wheezing and increased "
        "sputum production. Required BiPAP briefly in the ED.",
        "COPD exacerbation. Treated with IV methylprednisolone transitioned to a prednisone "
        "taper, scheduled nebulizers and azithromycin. Weaned to room air at rest.",
        vitals={220210: 1.35, 220277: 0.94, 220045: 1.15}, min_age=45,
    ),
    Scenario(
        "aki", 0.8, "Decreased urine output, weakness", ("N179", "N170"), "5849",
        (("E875", 0.3), ("E860", 0.5), ("E8729", 0.2)), ("27651",),
        {50912: 3.2, 51006: 3.0, 50971: 1.2, 50882: 0.8, 50970: 1.4},
        ("ua",),
        ("ns_bag", "kcl_po"), (),
        ("urine",), (), (("5A1D70Z", 0.1),), ("3995",),
        ("682", "RENAL FAILURE W MCC"), ("460", "RENAL FAILURE"), "MED", "Medicine", 0.1, 4.5,
        (("renal_us", "", ""),),
        "{pt} presents with {days} days of poor oral intake, diarrhea and decreased urine "
        "output. Creatinine on arrival was {cr} (baseline about 1.0).",
        "Acute kidney injury, likely prerenal from volume depletion. Nephrotoxins and "
        "antihypertensives were held and the patient received IV fluids. Creatinine peaked at "
        "{cr_peak} and improved to {cr_last} at discharge. Renal ultrasound showed no "
        "hydronephrosis.",
    ),
    Scenario(
        "dka", 0.5, "Nausea, vomiting, hyperglycemia", ("E1010", "E1110"), "25013",
        (("E860", 0.6), ("E876", 0.3)), ("27651",),
        {50931: 4.2, 50882: 0.45, 50868: 1.9, 50971: 1.25, 50820: 0.985, 51006: 1.5, 50912: 1.4},
        ("abg", "ua", "a1c"),
        ("insulin_drip", "glargine", "kcl_iv", "ns_bag", "d5w"), ("glargine",),
        (), (), (), (),
        ("637", "DIABETES W MCC"), ("420", "DIABETES"), "MED", "Medicine", 0.5, 3.0,
        (("cxr", "", ""),),
        "{pt} with diabetes presents with {days} days of nausea, vomiting and polyuria after "
        "missing insulin doses. Glucose was {glucose} with an anion gap of {gap}.",
        "Diabetic ketoacidosis. Treated with an insulin infusion, IV fluids and potassium "
        "repletion; the anion gap closed within 24 hours and the patient was transitioned to "
        "subcutaneous insulin glargine with diabetes education.",
        vitals={220045: 1.25, 220210: 1.3}, min_age=18,
    ),
    Scenario(
        "gi_bleed", 0.9, "Melena, lightheadedness", ("K922", "K921", "K254", "K2971"), "5789",
        (("D62", 0.9),), ("2851",),
        {51222: 0.62, 51221: 0.63, 51006: 2.0, 51265: 0.85},
        ("coags",),
        ("pantoprazole_iv", "ns_bag"), ("omeprazole",),
        (), (), (("0DJ08ZZ", 0.8), ("30233N1", 0.7), ("0DB68ZX", 0.3)), ("4513", "9904"),
        ("377", "G.I. HEMORRHAGE W MCC"), ("253", "OTHER & UNSPECIFIED GASTROINTESTINAL HEMORRHAGE"),
        "MED", "Medicine", 0.3, 4.0,
        (("cxr_port", "", ""),),
        "{pt} presents with {days} days of black tarry stools and lightheadedness. Hemoglobin on "
        "arrival was {hgb}. Takes daily NSAIDs for joint pain.",
        "Upper GI bleed. Started on IV pantoprazole and transfused packed red cells. EGD showed "
        "a gastric ulcer without active bleeding. Hemoglobin stabilised at {hgb_last}. NSAIDs "
        "were discontinued.",
        mortality=0.03, vitals={220045: 1.25, 220179: 0.88},
    ),
    Scenario(
        "stroke", 0.8, "Right-sided weakness, trouble finding words", ("I639", "I6350"), "43491",
        (("R4701", 0.6), ("G8191", 0.5), ("R29810", 0.4)), (),
        {50931: 1.2},
        ("lipids", "a1c", "coags", "tsh"),
        ("aspirin_325", "atorvastatin_80", "clopidogrel"), ("aspirin", "atorvastatin_80", "clopidogrel"),
        (), (), (("3E03317", 0.15), ("03CG3ZZ", 0.1)), (),
        ("064", "INTRACRANIAL HEMORRHAGE OR CEREBRAL INFARCTION W MCC"),
        ("045", "CVA & PRECEREBRAL OCCLUSION W INFARCT"), "NMED", "Neurology", 0.3, 5.0,
        (("ct_head", ("There is a subtle loss of gray-white differentiation in the left frontal "
          "operculum. No hemorrhage."), "Early left MCA territory infarct. No hemorrhage."),
         ("mri_head", ("There is restricted diffusion in the left frontal lobe and insula in the "
          "left MCA territory. No hemorrhagic transformation."),
          "Acute left MCA territory infarct.")),
        "{pt} was found by family with acute right-sided weakness and difficulty speaking; last "
        "known well about {days} hours before arrival. NIHSS was 8 in the ED.",
        "Acute ischemic stroke in the left MCA territory. CT showed no hemorrhage; MRI confirmed "
        "an acute infarct. Started on aspirin, clopidogrel and high-intensity atorvastatin. "
        "Worked with physical, occupational and speech therapy with improving deficits.",
        mortality=0.06, vitals={220179: 1.2}, min_age=40,
    ),
    Scenario(
        "nstemi", 0.9, "Chest pain", ("I214", "I2119"), "41071",
        (("I2510", 0.8), ("E785", 0.4)), ("41401",),
        {51003: 40, 50911: 4, 50910: 2.2},
        ("cardiac", "coags", "lipids", "a1c"),
        ("aspirin", "heparin_drip", "atorvastatin_80", "metoprolol_t", "clopidogrel", "nitroglycerin_sl"),
        ("aspirin", "atorvastatin_80", "metoprolol_t", "clopidogrel"),
        (), (), (("4A023N7", 0.8), ("B2111ZZ", 0.8), ("027034Z", 0.6)), ("3722", "0066"),
        ("280", "ACUTE MYOCARDIAL INFARCTION, DISCHARGED ALIVE W MCC"),
        ("190", "ACUTE MYOCARDIAL INFARCTION"), "CMED", "Medicine/Cardiology", 0.25, 3.5,
        (("cxr", "", ""),),
        "{pt} presents with {days} hours of substernal chest pressure radiating to the left arm "
        "with diaphoresis. ECG showed ST depressions in the lateral leads; troponin T was "
        "{trop}.",
        "NSTEMI. Loaded with aspirin and clopidogrel and started on a heparin drip. Cardiac "
        "catheterization showed a culprit lesion in the LAD treated with a drug-eluting stent. "
        "Troponin peaked at {trop_peak}. Discharged on dual antiplatelet therapy.",
        mortality=0.03, vitals={220045: 1.1}, min_age=40,
    ),
    Scenario(
        "cellulitis", 0.8, "Leg redness and swelling", ("L03115", "L03116"), "6826",
        (("B9561", 0.2), ("L02416", 0.2)), (),
        {51301: 1.5, 50889: 10},
        ("crp",),
        ("cefazolin", "vancomycin"), ("cephalexin",),
        ("blood", "wound"), ("staph",),
        (("0J9M0ZZ", 0.15),), ("8622",),
        ("603", "CELLULITIS W/O MCC"), ("383", "CELLULITIS & OTHER SKIN INFECTIONS"),
        "MED", "Medicine", 0.03, 3.5,
        (("le_us", "", ""),),
        "{pt} presents with {days} days of spreading redness, warmth and pain of the lower leg "
        "with low-grade fevers.",
        "Lower extremity cellulitis. Lower extremity ultrasound was negative for DVT. Treated "
        "with IV cefazolin with improvement in erythema, then transitioned to oral cephalexin. "
        "{micro}",
        mortality=0.0, vitals={220045: 1.1},
    ),
    Scenario(
        "hip_fracture", 0.7, "Fall, right hip pain", ("S72001A", "S72141A"), "82021",
        (("W010XXA", 0.6), ("W19XXXA", 0.4), ("Y92009", 0.7), ("D62", 0.4)), ("E8859",),
        {51222: 0.85, 51221: 0.86},
        ("coags",),
        ("cefazolin", "oxycodone", "enoxaparin", "calcium_vitd"), ("oxycodone", "enoxaparin",
                                                                    "calcium_vitd"),
        (), (), (("0QS634Z", 0.6), ("0SR9019", 0.4)), ("7915", "8151"),
        ("481", "HIP & FEMUR PROCEDURES EXCEPT MAJOR JOINT W CC"),
        ("308", "HIP & FEMUR FRACTURE REPAIR"), "ORTHO", "Orthopaedics", 0.05, 5.0,
        (("hip_xr", ("There is a displaced intertrochanteric fracture of the right femur. No "
          "dislocation."), "Displaced right intertrochanteric femur fracture."),
         ("cxr", "", "")),
        "{pt} presents after a mechanical fall at home with inability to bear weight on the "
        "right leg. Right leg shortened and externally rotated.",
        "Right hip fracture. Taken to the operating room on hospital day 1 for operative "
        "fixation without complication. Started on enoxaparin for DVT prophylaxis and worked "
        "with physical therapy. Postoperative hemoglobin nadir {hgb_last}.",
        vitals={220045: 1.05}, min_age=60,
    ),
    Scenario(
        "pancreatitis", 0.5, "Epigastric pain", ("K8520", "K8590", "K8510"), "5770",
        (("F1020", 0.4), ("E876", 0.2)), ("30500",),
        {50956: 18, 51301: 1.5, 50931: 1.4, 50893: 0.9, 50878: 2, 50861: 2},
        ("lfts", "lipase", "lipids"),
        ("lr", "hydromorphone", "ondansetron"), (),
        (), (), (), (),
        ("439", "DISORDERS OF PANCREAS EXCEPT MALIGNANCY W CC"),
        ("282", "DISORDERS OF PANCREAS EXCEPT MALIGNANCY"), "MED", "Medicine", 0.15, 4.5,
        (("ct_abd", ("There is peripancreatic fat stranding and edema without necrosis or fluid "
          "collection."), "Acute interstitial edematous pancreatitis."),
         ("ruq_us", "", "")),
        "{pt} presents with {days} days of severe epigastric pain radiating to the back with "
        "nausea and vomiting. Lipase was {lipase}.",
        "Acute pancreatitis. Managed with aggressive IV fluids, IV analgesia and bowel rest; diet "
        "was advanced as pain improved. Right upper quadrant ultrasound showed no gallstones.",
        vitals={220045: 1.2},
    ),
    Scenario(
        "afib_rvr", 0.6, "Palpitations", ("I4891", "I480"), "42731",
        (("I10", 0.5),), (),
        {50993: 1.0},
        ("tsh", "cardiac", "coags", "bnp"),
        ("diltiazem", "metoprolol_iv", "apixaban"), ("diltiazem", "apixaban"),
        (), (), (), (),
        ("308", "CARDIAC ARRHYTHMIA & CONDUCTION DISORDERS W MCC"),
        ("201", "CARDIAC ARRHYTHMIA & CONDUCTION DISORDERS"), "CMED", "Medicine/Cardiology", 0.1,
        2.5, (("cxr", "", ""),),
        "{pt} presents with {days} days of palpitations and fatigue. Found to be in atrial "
        "fibrillation with rapid ventricular response to the 150s.",
        "Atrial fibrillation with rapid ventricular response. Rate controlled with IV "
        "metoprolol then oral diltiazem. CHA2DS2-VASc score favoured anticoagulation and apixaban "
        "was started.",
        vitals={220045: 1.7}, min_age=45,
    ),
    Scenario(
        "etoh_withdrawal", 0.5, "Tremors, alcohol withdrawal", ("F10239", "F10231"), "29181",
        (("E876", 0.3), ("E871", 0.2), ("K7030", 0.15)), ("30391",),
        {50878: 2.5, 50861: 1.6, 51265: 0.65, 50960: 0.8, 51250: 1.08},
        ("lfts", "coags"),
        ("diazepam", "lorazepam", "thiamine", "folic_acid", "multivitamin"),
        ("thiamine", "folic_acid", "multivitamin"),
        (), (), (), (),
        ("897", "ALCOHOL, DRUG ABUSE OR DEPENDENCE W/O REHABILITATION THERAPY W/O MCC"),
        ("775", "ALCOHOL ABUSE & DEPENDENCE"), "MED", "Medicine", 0.2, 3.5,
        (("ct_head", "", ""),),
        "{pt} with heavy daily alcohol use presents with tremors, sweats and anxiety about "
        "{days} days after the last drink.",
        "Alcohol withdrawal managed with a CIWA-guided diazepam protocol without seizures or "
        "delirium. Given thiamine, folate and multivitamin. Social work provided resources for "
        "outpatient treatment.",
        vitals={220045: 1.25, 220179: 1.15},
    ),
    Scenario(
        "cholecystitis", 0.5, "Right upper quadrant pain", ("K8000", "K8012", "K810"), "57400",
        (), (),
        {51301: 1.5, 50863: 1.4, 50885: 1.8, 50878: 1.5, 50861: 1.6},
        ("lfts", "lipase"),
        ("piptazo", "morphine", "ondansetron"), ("oxycodone",),
        ("blood",), (), (("0FT44ZZ", 0.9),), ("5123",),
        ("418", "LAPAROSCOPIC CHOLECYSTECTOMY W/O C.D.E. W CC"),
        ("263", "LAPAROSCOPIC CHOLECYSTECTOMY"), "SURG", "Med/Surg", 0.03, 3.0,
        (("ruq_us", ("The gallbladder is distended with multiple shadowing stones, wall thickening "
          "and pericholecystic fluid. Positive sonographic Murphy sign."),
          "Acute calculous cholecystitis."),),
        "{pt} presents with {days} days of right upper quadrant pain after fatty meals, now "
        "constant with fever.",
        "Acute calculous cholecystitis. Started on piperacillin-tazobactam and underwent "
        "laparoscopic cholecystectomy on hospital day 1 without complication. Diet advanced and "
        "pain controlled with oral medication.",
        mortality=0.0, vitals={220045: 1.1},
    ),
)

STANDARD_MEDS = ("heparin_sc", "nacl_flush", "docusate", "senna", "acetaminophen", "ondansetron",
                 "bisacodyl", "polyethylene_glycol")

CAREUNITS_ICU = ("Medical Intensive Care Unit (MICU)", "Medical/Surgical Intensive Care Unit (MICU/SICU)",
                 "Surgical Intensive Care Unit (SICU)", "Coronary Care Unit (CCU)",
                 "Neuro Surgical Intensive Care Unit (Neuro SICU)")
ICU_FOR_SERVICE = {"MED": 0, "CMED": 3, "NMED": 4, "ORTHO": 2, "SURG": 2}

RACES = (("WHITE", 0.62), ("BLACK/AFRICAN AMERICAN", 0.14), ("HISPANIC/LATINO - PUERTO RICAN", 0.03),
         ("HISPANIC OR LATINO", 0.03), ("ASIAN", 0.02), ("ASIAN - CHINESE", 0.02),
         ("WHITE - OTHER EUROPEAN", 0.02), ("OTHER", 0.04), ("UNKNOWN", 0.05),
         ("BLACK/CAPE VERDEAN", 0.01), ("WHITE - RUSSIAN", 0.01), ("PORTUGUESE", 0.01))
INSURANCE = (("Medicare", 0.4), ("Other", 0.38), ("Medicaid", 0.2), ("Private", 0.02))
LANGUAGE = (("ENGLISH", 0.9), ("?", 0.05), ("SPANISH", 0.03), ("PORTUGUESE", 0.02))
MARITAL = (("MARRIED", 0.42), ("SINGLE", 0.33), ("WIDOWED", 0.12), ("DIVORCED", 0.08), ("", 0.05))
DISCHARGE_LOCATIONS = (("HOME", 0.38), ("HOME HEALTH CARE", 0.25), ("SKILLED NURSING FACILITY", 0.16),
                       ("REHAB", 0.05), ("CHRONIC/LONG TERM ACUTE CARE", 0.02),
                       ("AGAINST ADVICE", 0.01), ("ACUTE HOSPITAL", 0.01), ("", 0.12))
YEAR_GROUPS = ("2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022")
FOLLOWUP_CLINICS = {"MED": "your primary care physician", "CMED": "Cardiology", "NMED": "Neurology",
                    "ORTHO": "Orthopaedics", "SURG": "Acute Care Surgery"}


# --------------------------------------------------------------------------------------------
# How clinicians write the coded diagnoses in a note: abbreviations and synonyms, never the ICD
# long title (ICD-9 and ICD-10-CM codes share one map; codes never collide). notes.dx_phrase
# picks one per mention and falls back to a shortened title for a code not listed here.
# --------------------------------------------------------------------------------------------
CLINICAL_NAMES: dict[str, tuple[str, ...]] = {
    # ICD-10-CM
    "A4151": ("E. coli bacteremia with sepsis", "E coli sepsis"),
    "A419": ("sepsis", "septic picture, source unclear"),
    "B9561": ("MSSA", "MSSA infection"),
    "B9620": ("E. coli", "E coli on culture"),
    "D509": ("iron deficiency", "IDA"),
    "D62": ("acute blood loss anemia", "ABLA"),
    "D649": ("anemia", "chronic anemia"),
    "D696": ("thrombocytopenia", "low platelets"),
    "E039": ("hypothyroidism", "hypothyroid"),
    "E1010": ("DKA", "DKA in T1DM"),
    "E1110": ("DKA", "DKA in T2DM"),
    "E1142": ("diabetic neuropathy", "DM2 c/b neuropathy"),
    "E119": ("DM2", "T2DM", "type 2 diabetes"),
    "E43": ("severe malnutrition", "protein-calorie malnutrition"),
    "E559": ("vit D deficiency", "low vitamin D"),
    "E669": ("obesity", "elevated BMI"),
    "E785": ("HLD", "hyperlipidemia"),
    "E860": ("volume depletion", "dehydrated"),
    "E871": ("hyponatremia", "hypoNa"),
    "E8729": ("metabolic acidosis", "acidosis"),
    "E875": ("hyperK", "high potassium"),
    "E876": ("hypoK", "low potassium"),
    "F1020": ("EtOH use disorder", "alcohol use disorder"),
    "F10231": ("DTs", "EtOH withdrawal with delirium"),
    "F10239": ("EtOH withdrawal", "alcohol withdrawal"),
    "F17210": ("current smoker", "tobacco use"),
    "F329": ("depression", "MDD"),
    "F419": ("anxiety", "GAD"),
    "G4700": ("insomnia", "poor sleep"),
    "G4733": ("OSA", "OSA on CPAP"),
    "G629": ("neuropathy", "peripheral neuropathy"),
    "G8191": ("right hemiparesis", "R-sided weakness"),
    "G8929": ("chronic pain", "chronic pain syndrome"),
    "H5410": ("low vision", "visual impairment"),
    "I10": ("HTN", "hypertension"),
    "I110": ("hypertensive heart disease with HF", "HHD w/ CHF"),
    "I2119": ("inferior STEMI", "STEMI"),
    "I214": ("NSTEMI", "non-ST elevation MI"),
    "I2510": ("CAD", "coronary disease"),
    "I252": ("prior MI", "hx MI"),
    "I480": ("pAF", "paroxysmal AFib"),
    "I4891": ("AFib", "AF"),
    "I5023": ("acute on chronic HFrEF", "CHF exacerbation"),
    "I5033": ("acute on chronic HFpEF", "CHF exacerbation"),
    "I5043": ("acute on chronic combined CHF", "CHF exacerbation"),
    "I6350": ("ischemic stroke", "acute CVA"),
    "I639": ("acute ischemic stroke", "CVA"),
    "I739": ("PVD", "PAD"),
    "J159": ("bacterial PNA", "pneumonia"),
    "J189": ("PNA", "CAP", "community-acquired pneumonia"),
    "J440": ("COPD with bronchitis", "COPD with LRTI"),
    "J441": ("COPD exacerbation", "AECOPD"),
    "J449": ("COPD", "COPD on home inhalers"),
    "J9601": ("hypoxemic respiratory failure", "acute hypoxic resp failure"),
    "K219": ("GERD", "reflux"),
    "K254": ("bleeding gastric ulcer", "gastric ulcer with bleed"),
    "K2970": ("gastritis", "mild gastritis"),
    "K2971": ("hemorrhagic gastritis", "gastritis with bleeding"),
    "K5900": ("constipation", "bowel regimen needs"),
    "K7030": ("EtOH cirrhosis", "alcoholic cirrhosis"),
    "K8000": ("calculous cholecystitis", "acute chole with gallstones"),
    "K8012": ("acute on chronic chole", "calculous cholecystitis"),
    "K810": ("acute chole", "cholecystitis"),
    "K8510": ("gallstone pancreatitis", "biliary pancreatitis"),
    "K8520": ("EtOH pancreatitis", "alcoholic pancreatitis"),
    "K8590": ("pancreatitis", "acute pancreatitis, uncomplicated"),
    "K921": ("melanotic stools", "dark tarry stools"),
    "K922": ("GI bleed", "GIB"),
    "L02416": ("L leg abscess", "abscess of the left leg"),
    "L03115": ("RLE cellulitis", "right leg cellulitis"),
    "L03116": ("LLE cellulitis", "left leg cellulitis"),
    "M1990": ("OA", "osteoarthritis"),
    "M549": ("back pain", "chronic back pain"),
    "M810": ("osteoporosis", "OP"),
    "N170": ("ATN", "AKI from ATN"),
    "N179": ("AKI", "acute kidney injury"),
    "N189": ("CKD", "chronic kidney disease"),
    "N390": ("UTI", "urinary infection"),
    "N400": ("BPH", "enlarged prostate"),
    "R0902": ("hypoxia", "low O2 sats"),
    "R29810": ("facial droop", "L facial droop"),
    "R339": ("urinary retention", "retention"),
    "R4182": ("AMS", "altered mental status"),
    "R4701": ("word-finding difficulty", "expressive language deficit"),
    "R531": ("deconditioning", "generally weak"),
    "R6520": ("severe sepsis", "sepsis with end-organ dysfunction"),
    "S72001A": ("R femoral neck fx", "right hip fracture"),
    "S72141A": ("R intertrochanteric fx", "right hip fracture"),
    "W010XXA": ("mechanical fall", "slip and fall"),
    "W19XXXA": ("fall", "fall at home"),
    "Y92009": ("fall at home", "occurred at home"),
    "Z23": ("flu shot given", "vaccinated this admission"),
    "Z66": ("DNR", "DNR/DNI"),
    "Z7901": ("on anticoagulation", "chronic AC"),
    "Z7902": ("on antiplatelets", "on plavix"),
    "Z794": ("insulin-dependent", "on insulin"),
    "Z7982": ("on ASA", "daily aspirin"),
    "Z7984": ("on oral agents", "on metformin"),
    "Z853": ("hx breast ca", "breast cancer s/p treatment"),
    "Z8546": ("hx prostate ca", "prostate cancer s/p treatment"),
    "Z86718": ("hx DVT", "prior VTE"),
    "Z87891": ("former smoker", "quit smoking"),
    "Z9181": ("hx falls", "frequent falls"),
    "Z955": ("s/p PCI", "prior stents"),
    "Z96653": ("bilateral TKAs", "s/p bilateral knee replacements"),
    # ICD-9-CM
    "0389": ("bacteremia", "septicemia"),
    "2449": ("hypothyroidism", "hypothyroid"),
    "25000": ("DM2", "diabetes"),
    "25013": ("DKA", "T1DM with DKA"),
    "2724": ("HLD", "hyperlipidemia"),
    "2761": ("hyponatremia", "hypoNa"),
    "2762": ("metabolic acidosis", "AG acidosis"),
    "27651": ("volume depletion", "dehydrated"),
    "2768": ("hypoK", "low potassium"),
    "27800": ("obesity", "elevated BMI"),
    "2851": ("acute blood loss anemia", "ABLA"),
    "2859": ("anemia", "chronic anemia"),
    "2875": ("thrombocytopenia", "low platelets"),
    "29181": ("EtOH withdrawal", "withdrawal"),
    "30391": ("EtOH dependence", "alcohol use disorder"),
    "30500": ("EtOH abuse", "heavy drinking"),
    "3051": ("current smoker", "tobacco use"),
    "311": ("depression", "MDD"),
    "32723": ("OSA", "OSA on CPAP"),
    "4019": ("HTN", "hypertension"),
    "41071": ("NSTEMI", "non-ST elevation MI"),
    "412": ("prior MI", "hx MI"),
    "41401": ("CAD", "coronary disease"),
    "42731": ("AFib", "AF"),
    "4280": ("CHF", "heart failure"),
    "42832": ("chronic HFpEF", "diastolic CHF"),
    "42833": ("acute on chronic HFpEF", "CHF exacerbation"),
    "43491": ("acute ischemic stroke", "CVA"),
    "486": ("PNA", "CAP"),
    "49121": ("COPD exacerbation", "AECOPD"),
    "496": ("COPD", "COPD on home inhalers"),
    "5070": ("aspiration PNA", "aspiration"),
    "51881": ("hypoxemic respiratory failure", "resp failure"),
    "53081": ("GERD", "reflux"),
    "56400": ("constipation", "bowel regimen needs"),
    "57400": ("calculous cholecystitis", "acute chole"),
    "5770": ("pancreatitis", "pancreatitis flare"),
    "5789": ("GI bleed", "GIB"),
    "5849": ("AKI", "acute kidney injury"),
    "5859": ("CKD", "chronic kidney disease"),
    "5990": ("UTI", "urinary infection"),
    "6826": ("leg cellulitis", "LE cellulitis"),
    "78552": ("septic shock", "shock requiring pressors"),
    "82021": ("intertrochanteric hip fx", "hip fracture"),
    "99591": ("SIRS from infection", "septic physiology"),
    "E8859": ("mechanical fall", "slip and fall"),
    "V1582": ("former smoker", "quit smoking"),
    "V4582": ("s/p PCI", "prior stents"),
    "V5861": ("on anticoagulation", "chronic AC"),
    "V5867": ("insulin-dependent", "on insulin"),
}
