"""Discharge summaries and radiology reports written from an admission's own structured data.

Layout and section headers follow MIMIC-IV-Note (de-identified spans are '___'), so section
parsers written for the real notes work on these.
"""

from __future__ import annotations

import re

from medbench.store.synth import vocab

_QUALIFIERS = re.compile(r",? *(?:unspecified|not elsewhere classified|initial encounter[^,]*|"
                         r"without complications?|site not specified|\([^)]*\))", re.IGNORECASE)


def dx_phrase(rng, code: str, title: str) -> str | None:
    """How a clinician writes coded diagnosis `code` in a note: an abbreviation or synonym
    (vocab.CLINICAL_NAMES), else the title without its ICD qualifiers ("unspecified", "initial
    encounter", parentheses); None — left unmentioned — when no such wording differs from the ICD
    long title (a rare condition with a one-phrase title)."""
    names = vocab.CLINICAL_NAMES.get(code)
    if names:
        return rng.choice(names)
    short = " ".join(_QUALIFIERS.sub("", title).split()).strip(" ,")
    if not short or short.lower() == title.lower():
        return None
    return short[:1].lower() + short[1:] if not short[:2].isupper() else short


def mention_probability(code: str, version: int, primary: bool) -> float:
    """Real notes leave a share of the coded diagnoses unmentioned: status (Z, V) and
    external-cause (ICD-10 V-Y, ICD-9 E) codes most often."""
    if primary:
        return 1.0
    external = code[:1] in "VWXY" if version == 10 else code[:1] == "E"
    if external:
        return 0.2
    if code[:1] in ("Z", "V"):
        return 0.35
    return 0.65

SERVICE_NAMES = {"MED": "MEDICINE", "CMED": "MEDICINE", "NMED": "NEUROLOGY", "ORTHO": "ORTHOPAEDICS",
                 "SURG": "SURGERY"}
DISPOSITION = {"HOME": "Home", "HOME HEALTH CARE": "Home With Service",
               "SKILLED NURSING FACILITY": "Extended Care", "REHAB": "Extended Care",
               "CHRONIC/LONG TERM ACUTE CARE": "Extended Care", "AGAINST ADVICE": "Home",
               "ACUTE HOSPITAL": "Extended Care", "": "Home"}
# short lab names as they appear in MIMIC's "Pertinent Results" lines
LAB_ABBREV = {51301: "WBC", 51279: "RBC", 51222: "Hgb", 51221: "Hct", 51250: "MCV", 51248: "MCH",
              51249: "MCHC", 51277: "RDW", 51265: "Plt ___", 50931: "Glucose", 51006: "UreaN",
              50912: "Creat", 50983: "Na", 50971: "K", 50902: "Cl", 50882: "HCO3", 50868: "AnGap",
              50893: "Calcium", 50970: "Phos", 50960: "Mg", 50861: "ALT", 50878: "AST",
              50863: "AlkPhos", 50885: "TotBili", 50862: "Albumin", 50813: "Lactate",
              51003: "cTropnT", 50963: "proBNP", 50956: "Lipase", 51274: "PT", 51237: "INR(PT)",
              51275: "PTT", 50852: "%HbA1c"}
LINES = ((51301, 51279, 51222, 51221, 51250, 51248, 51249, 51277, 51265),
         (50931, 51006, 50912, 50983, 50971, 50902, 50882, 50868),
         (50893, 50970, 50960), (50861, 50878, 50863, 50885, 50862), (51274, 51237, 51275),
         (51003, 50963, 50956, 50852, 50813))


def radiology_report(exam: str, indication: str, technique: str, findings: str, impression: str,
                     age: int, gender: str) -> str:
    sex = "woman" if gender == "F" else "man"
    return (
        f"EXAMINATION:  {exam}\n\n"
        f"INDICATION:  ___ year old {sex} with {indication.lower()}  // evaluate\n\n"
        f"TECHNIQUE:  {technique}\n\n"
        "COMPARISON:  ___\n\n"
        f"FINDINGS: \n\n{findings}\n\n"
        f"IMPRESSION: \n\n{impression}\n"
    )


def _lab_lines(labs: dict[int, str]) -> list[str]:
    out = []
    for group in LINES:
        parts = []
        for item in group:
            if item in labs:
                value = labs[item]
                lo, hi = vocab.LABS[item][4], vocab.LABS[item][5]
                star = "*" if lo is not None and hi is not None and not lo <= float(value) <= hi else ""
                parts.append(f"{LAB_ABBREV[item]}-{value}{star}")
        if parts:
            out.append("___ 06:10AM BLOOD " + " ".join(parts))
    return out


def _med_line(i: int, med: tuple) -> str:
    drug, _cd, _gsn, _ndc, _strength, _form, dose, unit, _fv, _fu, route, freq = med[:12]
    return f"{i}. {drug} {dose} {unit} {route} {freq} "


def _fmt_num(series: list[float] | None, pick) -> str:
    if not series:
        return "___"
    v = pick(series)
    return f"{v:g}"


def discharge_summary(rng, *, scen: vocab.Scenario, gender: str, age: int, chronic: list[str],
                      dx_titles: list[str], proc_titles: list[str], labs_first: dict[int, str],
                      lab_series: dict[int, list[float]], micro: list[str],
                      imaging: list[tuple[str, str]], home_meds: list[tuple],
                      discharge_meds: list[tuple], disch_loc: str, los_days: float, icu: bool,
                      intubated: bool) -> str:
    sex = "F" if gender == "F" else "M"
    pt = "Ms. ___ is a ___ year old woman" if gender == "F" else "Mr. ___ is a ___ year old man"
    if chronic:
        pt += " with a history of " + ", ".join(c for c in chronic[:4]) + ","
    first = lambda item: _fmt_num(lab_series.get(item), lambda s: s[0])
    values = {
        "pt": pt, "days": str(rng.randint(2, 5)), "side": rng.choice(("right", "left")),
        "Side": "Right", "wbc": first(51301), "lactate": first(50813), "bnp": first(50963),
        "cr": first(50912), "glucose": first(50931), "gap": first(50868), "hgb": first(51222),
        "lipase": first(50956), "trop": first(51003),
        "cr_peak": _fmt_num(lab_series.get(50912), max), "cr_last": _fmt_num(lab_series.get(50912),
                                                                             lambda s: s[-1]),
        "hgb_last": _fmt_num(lab_series.get(51222), lambda s: s[-1]),
        "trop_peak": _fmt_num(lab_series.get(51003), max),
        "micro": ("Cultures grew " + "; ".join(micro) + ".") if micro else "",
    }
    hpi = scen.hpi.format(**values)
    course = scen.course.format(**values)
    if icu:
        course += (" Required a stay in the intensive care unit"
                   + (" with intubation and mechanical ventilation" if intubated else "") + ".")
    last_labs = {item: f"{series[-1]:g}" for item, series in lab_series.items()}
    sections = [
        " \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___              "
        "Discharge Date:   ___\n \nDate of Birth:  ___             Sex:   " + sex + "\n \n"
        f"Service: {SERVICE_NAMES.get(scen.service, 'MEDICINE')}\n \nAllergies: \n"
        + rng.choice(("No Known Allergies / Adverse Drug Reactions", "Penicillins", "Sulfa (Sulfonamide Antibiotics)"))
        + "\n \nAttending: ___.\n",
        f"Chief Complaint:\n{scen.complaint}\n",
        "Major Surgical or Invasive Procedure:\n" + ("\n".join(proc_titles) if proc_titles else "None") + "\n",
        f"History of Present Illness:\n{hpi}\n",
        "Past Medical History:\n" + ("\n".join(f"- {c}" for c in chronic) if chronic else "None") + "\n",
        "Social History:\n___\nFamily History:\nNon-contributory\n",
        "Physical Exam:\nADMISSION PHYSICAL EXAM:\nGENERAL: "
        + ("Ill-appearing, in mild distress" if icu else "Alert, in no acute distress")
        + "\nHEENT: Sclera anicteric, MMM\nCV: Regular rate and rhythm, no murmurs\nLUNGS: "
        + ("Crackles at the bases" if scen.key in ("chf", "pneumonia") else "Clear to auscultation bilaterally")
        + "\nABDOMEN: Soft, non-tender\nEXTREMITIES: "
        + ("2+ pitting edema to the knees" if scen.key == "chf" else "Warm, well perfused, no edema")
        + "\n \nDISCHARGE PHYSICAL EXAM:\nGENERAL: Alert, in no acute distress\n",
        "Pertinent Results:\nADMISSION LABS:\n" + "\n".join(_lab_lines(labs_first))
        + "\n \nDISCHARGE LABS:\n" + "\n".join(_lab_lines(last_labs))
        + ("\n \nMICROBIOLOGY:\n" + "\n".join(micro) if micro else "")
        + ("\n \nIMAGING:\n" + "\n".join(f"{name}: {imp}" for name, imp in imaging) if imaging else "")
        + "\n",
        f"Brief Hospital Course:\n{pt.removesuffix(',')} who presented with "
        f"{scen.complaint.lower()}.\n \n#{dx_titles[0]}\n{course}\n \nCHRONIC ISSUES:\n"
        + "\n".join(f"#{c}: stable, home regimen continued." for c in chronic) + "\n",
        "Medications on Admission:\nThe Preadmission Medication list is accurate and complete.\n"
        + ("\n".join(_med_line(i, m) for i, m in enumerate(home_meds, 1)) or "None") + "\n",
        "Discharge Medications:\n"
        + ("\n".join(_med_line(i, m) for i, m in enumerate(discharge_meds, 1)) or "None") + "\n",
        f"Discharge Disposition:\n{DISPOSITION.get(disch_loc, 'Home')}\n",
        "Discharge Diagnosis:\nPRIMARY DIAGNOSIS:\n" + dx_titles[0]
        + ("\n \nSECONDARY DIAGNOSES:\n" + "\n".join(dx_titles[1:]) if len(dx_titles) > 1 else "") + "\n",
        "Discharge Condition:\nMental Status: Clear and coherent.\nLevel of Consciousness: Alert "
        "and interactive.\nActivity Status: "
        + ("Out of Bed with assistance to chair or wheelchair." if scen.key in ("hip_fracture", "stroke")
           else "Ambulatory - Independent.") + "\n",
        (f"Discharge Instructions:\nDear {'Ms.' if gender == 'F' else 'Mr.'} ___,\n \nYou were admitted "
        f"to the hospital for {dx_titles[0].lower()}. You were in the hospital for "
        f"{max(1, round(los_days))} days. Please take your medications as prescribed and keep "
        "your follow-up appointments.\n \nWe wish you the best!\nYour ___ Care Team\n"),
        "Followup Instructions:\nPlease follow up with "
        + vocab.FOLLOWUP_CLINICS.get(scen.service, "your primary care physician")
        + " within 1-2 weeks.\n___\n",
    ]
    return " \n".join(sections)
