"""Question templates of the text-to-SQL task: one question family per `Template`.

A template has
- `candidates`: DuckDB SQL over the release database returning one row per possible slot filling,
  with a `subject_id` column and one column per slot. It only looks at the patient's own rows and
  at dictionary tables, so what a patient can be asked never depends on the other patients in a
  build (sharded builds merge to the same bytes). Candidates also screen out ambiguity a model
  could not resolve (a lab label naming two tests, ties at "first"/"last", text-only results);
- `gold`: the gold SQL, a `str.format` string whose `{slot}` fields receive SQL literals;
- `phrasings`: at least three wordings (`str.format` over the raw slot values); one is chosen
  per item from a hash of the item key;
- `tables`: the tables the gold SQL reads; `requires`: tables that must exist for the template to
  apply (e.g. vital signs only when the store has chartevents).

Unanswerable templates (`gold=None`) ask, about the same patients and in the same voice, for data
the schema does not hold (blood type, names, addresses, home medications, data "now" after
discharge) or for clinical judgement (should a dose be increased?).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILIES = (
    "demographics", "admissions", "transfers", "diagnoses", "procedures", "labs", "prescriptions",
    "emar", "microbiology", "icu", "vitals", "drg", "omr", "unanswerable",
)


@dataclass(frozen=True)
class Template:
    name: str
    family: str
    phrasings: tuple[str, ...]
    candidates: str
    gold: str | None
    tables: tuple[str, ...]
    requires: tuple[str, ...]
    #: unanswerable templates: a query (same slots) whose first column is non-zero when the
    #: release database does hold what the question asks about; such candidates are dropped.
    verify: str | None = None

    @property
    def answerable(self) -> bool:
        return self.gold is not None


def _one_line(sql: str) -> str:
    # Templates hold no string literals with runs of spaces, so collapsing whitespace is safe here
    # (slot values such as 'Sodium Chloride 0.9%  Flush' are inserted later, untouched).
    return " ".join(sql.split())


def T(name: str, phrasings: list[str], candidates: str, gold: str | None, tables: list[str],
      requires: list[str] | None = None, verify: str | None = None) -> Template:
    family = "unanswerable" if gold is None else name.split(".")[0]
    assert family in FAMILIES, name
    assert len(phrasings) >= 3, name
    need = tuple(requires if requires is not None else tables)
    if gold is not None:
        # Also filter by patient wherever an admission is: release tables are stored sorted by
        # subject_id, so DuckDB skips every row group of other patients (build and scoring stay
        # linear in the number of patients instead of quadratic).
        gold = _ADMISSION_FILTER.sub(r"\1subject_id = {subject_id} AND \1hadm_id = {hadm_id}", _one_line(gold))
    assert verify is None or gold is None, name
    return Template(name, family, tuple(phrasings), _one_line(candidates), gold, tuple(tables), need,
                    _one_line(verify) if verify else None)


_ADMISSION_FILTER = re.compile(r"\b((?:\w+\.)?)hadm_id = \{hadm_id\}")


# Reusable candidate fragments -------------------------------------------------------------------

#: every admission, with its admission time for phrasings such as "the stay admitted on ...".
ADM = "SELECT subject_id, hadm_id, admittime FROM admissions"

#: lab results of an admission per label, restricted to labels that name one test in that
#: admission and whose every result is numeric; first/last ties counted so they can be excluded.
LAB_STATS = """
WITH l AS (
  SELECT e.subject_id, e.hadm_id, d.label, e.itemid, e.charttime, e.valuenum, e.flag,
         e.ref_range_upper, min(e.charttime) OVER w AS t0, max(e.charttime) OVER w AS t1
  FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
  WHERE e.hadm_id IS NOT NULL AND d.label IS NOT NULL
  WINDOW w AS (PARTITION BY e.hadm_id, d.label)
)
SELECT l.subject_id, l.hadm_id, l.label, a.admittime, count(*) AS n,
  count(*) FILTER (WHERE l.flag = 'abnormal') AS n_abn,
  count(*) FILTER (WHERE l.valuenum > l.ref_range_upper) AS n_high,
  count(*) FILTER (WHERE l.charttime = l.t0) AS n_t0,
  count(*) FILTER (WHERE l.charttime = l.t1) AS n_t1
FROM l JOIN admissions a ON l.hadm_id = a.hadm_id
GROUP BY l.subject_id, l.hadm_id, l.label, a.admittime
HAVING count(DISTINCT l.itemid) = 1 AND count(l.valuenum) = count(*)
   AND count(l.charttime) = count(*)
"""

#: a patient's lab labels over all their results (subject-level questions).
LAB_SUBJECT = """
SELECT e.subject_id, d.label FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
WHERE d.label IS NOT NULL
GROUP BY e.subject_id, d.label
HAVING count(DISTINCT e.itemid) = 1 AND count(e.valuenum) = count(*)
"""

LAB_JOIN = "labevents JOIN d_labitems ON labevents.itemid = d_labitems.itemid"
DX_JOIN = ("diagnoses_icd JOIN d_icd_diagnoses ON diagnoses_icd.icd_code = d_icd_diagnoses.icd_code "
           "AND diagnoses_icd.icd_version = d_icd_diagnoses.icd_version")
PX_JOIN = ("procedures_icd JOIN d_icd_procedures ON procedures_icd.icd_code = d_icd_procedures.icd_code "
           "AND procedures_icd.icd_version = d_icd_procedures.icd_version")

#: (admission, title) pairs whose title names one code in that admission.
DX_TITLES = f"""
SELECT diagnoses_icd.subject_id, diagnoses_icd.hadm_id, a.admittime, d_icd_diagnoses.long_title AS title
FROM {DX_JOIN} JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id
GROUP BY ALL HAVING count(DISTINCT diagnoses_icd.icd_code) = 1
"""
PX_TITLES = f"""
SELECT procedures_icd.subject_id, procedures_icd.hadm_id, a.admittime,
       d_icd_procedures.long_title AS title
FROM {PX_JOIN} JOIN admissions a ON procedures_icd.hadm_id = a.hadm_id
GROUP BY ALL HAVING count(DISTINCT procedures_icd.icd_code) = 1
"""

#: (admission, drug) pairs with the tie count at the first start time.
RX = """
WITH p AS (
  SELECT subject_id, hadm_id, drug, min(starttime) AS t0, count(*) AS n,
         count(DISTINCT route) AS n_route
  FROM prescriptions WHERE drug IS NOT NULL AND starttime IS NOT NULL
  GROUP BY subject_id, hadm_id, drug
)
SELECT p.*, a.admittime,
  (SELECT count(*) FROM prescriptions q WHERE q.hadm_id = p.hadm_id AND q.drug = p.drug
     AND q.starttime = p.t0) AS n_t0
FROM p JOIN admissions a ON p.hadm_id = a.hadm_id
"""

EMAR = """
SELECT e.subject_id, e.hadm_id, a.admittime, e.medication,
  count(*) FILTER (WHERE e.event_txt = 'Administered') AS n_given,
  count(*) FILTER (WHERE e.event_txt = 'Not Given') AS n_not_given,
  count(e.event_txt) AS n_events
FROM emar e JOIN admissions a ON e.hadm_id = a.hadm_id
WHERE e.medication IS NOT NULL
GROUP BY ALL
"""

MICRO = """
SELECT m.subject_id, m.hadm_id, a.admittime, m.spec_type_desc AS specimen,
  count(m.org_name) AS n_org, count(m.test_name) AS n_test
FROM microbiologyevents m JOIN admissions a ON m.hadm_id = a.hadm_id
WHERE m.spec_type_desc IS NOT NULL
GROUP BY ALL
"""

#: chart items of an admission per label: one item, numeric, with first/last tie counts.
VITALS = """
WITH c AS (
  SELECT e.subject_id, e.hadm_id, d.label, e.itemid, e.charttime, e.valuenum
  FROM chartevents e JOIN d_items d ON e.itemid = d.itemid
  WHERE e.hadm_id IS NOT NULL AND d.label IS NOT NULL
), s AS (
  SELECT subject_id, hadm_id, label, count(*) AS n, max(charttime) AS t1 FROM c
  GROUP BY subject_id, hadm_id, label
  HAVING count(DISTINCT itemid) = 1 AND count(valuenum) = count(*)
)
SELECT s.*, a.admittime,
  (SELECT count(*) FROM c WHERE c.hadm_id = s.hadm_id AND c.label = s.label AND c.charttime = s.t1)
    AS n_t1
FROM s JOIN admissions a ON s.hadm_id = a.hadm_id
"""

# Answerable templates ---------------------------------------------------------------------------

ANSWERABLE: list[Template] = [
    # demographics
    T("demographics.gender", [
        "What is the gender of patient {subject_id}?",
        "Is patient {subject_id} recorded as male or female?",
        "Which sex is documented for patient {subject_id}?",
    ], "SELECT subject_id FROM patients WHERE gender IS NOT NULL",
        "SELECT gender FROM patients WHERE subject_id = {subject_id}", ["patients"]),
    T("demographics.age_at_admission", [
        "How old was patient {subject_id} at the time of hospital admission {hadm_id}?",
        "What was the age of patient {subject_id} when admitted to the hospital on {admittime}?",
        "Give the age in years of patient {subject_id} at admission {hadm_id}.",
    ], f"{ADM} JOIN patients USING (subject_id)",
        "SELECT patients.anchor_age + (year(admissions.admittime) - patients.anchor_year) "
        "FROM patients JOIN admissions ON patients.subject_id = admissions.subject_id "
        "WHERE admissions.hadm_id = {hadm_id}", ["patients", "admissions"]),
    T("demographics.insurance", [
        "What insurance did patient {subject_id} have during hospital admission {hadm_id}?",
        "Which insurance was recorded for patient {subject_id} at the admission on {admittime}?",
        "Tell me the insurance type of patient {subject_id} for admission {hadm_id}.",
    ], f"{ADM} WHERE insurance IS NOT NULL",
        "SELECT insurance FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.language", [
        "What language does patient {subject_id} speak, as recorded at admission {hadm_id}?",
        "Which language was documented for patient {subject_id} when admitted on {admittime}?",
        "Patient {subject_id}'s recorded language during hospital stay {hadm_id}?",
    ], f"{ADM} WHERE language IS NOT NULL",
        "SELECT language FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.marital_status", [
        "What was the marital status of patient {subject_id} at hospital admission {hadm_id}?",
        "Was patient {subject_id} married, single, widowed or divorced when admitted on {admittime}?",
        "Which marital status is recorded for patient {subject_id} in admission {hadm_id}?",
    ], f"{ADM} WHERE marital_status IS NOT NULL",
        "SELECT marital_status FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.race", [
        "What race was recorded for patient {subject_id} during admission {hadm_id}?",
        "Which race or ethnicity is documented for patient {subject_id} at the admission on {admittime}?",
        "Tell me the recorded race of patient {subject_id} for hospital stay {hadm_id}.",
    ], f"{ADM} WHERE race IS NOT NULL",
        "SELECT race FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.date_of_death", [
        "On what date did patient {subject_id} die?",
        "When is the date of death of patient {subject_id}?",
        "What is the recorded date of death for patient {subject_id}?",
    ], "SELECT subject_id FROM patients WHERE dod IS NOT NULL",
        "SELECT dod FROM patients WHERE subject_id = {subject_id}", ["patients"]),
    T("demographics.died_in_hospital", [
        "Did patient {subject_id} die in the hospital during admission {hadm_id}?",
        "Was patient {subject_id}'s hospital stay that began on {admittime} ended by in-hospital death?",
        "Did hospital admission {hadm_id} of patient {subject_id} end with the patient's death?",
    ], f"{ADM} WHERE hospital_expire_flag IS NOT NULL",
        "SELECT hospital_expire_flag FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    # admissions and stays
    T("admissions.count", [
        "How many times has patient {subject_id} been admitted to the hospital?",
        "Count the hospital admissions of patient {subject_id}.",
        "What is the number of hospital stays recorded for patient {subject_id}?",
    ], "SELECT DISTINCT subject_id FROM admissions",
        "SELECT count(*) FROM admissions WHERE subject_id = {subject_id}", ["admissions"]),
    T("admissions.length_of_stay", [
        "How many days did hospital admission {hadm_id} of patient {subject_id} last?",
        "What was the length of stay, in days, of patient {subject_id}'s admission on {admittime}?",
        "For patient {subject_id}, how long in days was hospital stay {hadm_id} from admission to discharge?",
    ], f"{ADM} WHERE dischtime IS NOT NULL",
        "SELECT date_diff('second', admittime, dischtime) / 86400.0 FROM admissions "
        "WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.admission_type", [
        "What type of admission was hospital stay {hadm_id} of patient {subject_id}?",
        "Which admission type was recorded for patient {subject_id} when admitted on {admittime}?",
        "Tell me the admission type of patient {subject_id}'s admission {hadm_id}.",
    ], f"{ADM} WHERE admission_type IS NOT NULL",
        "SELECT admission_type FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.admission_location", [
        "Where was patient {subject_id} admitted from for hospital admission {hadm_id}?",
        "What was the admission location of patient {subject_id} for the stay that began on {admittime}?",
        "From which location did patient {subject_id} arrive for admission {hadm_id}?",
    ], f"{ADM} WHERE admission_location IS NOT NULL",
        "SELECT admission_location FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.discharge_location", [
        "Where was patient {subject_id} discharged to after hospital admission {hadm_id}?",
        "What was the discharge location of patient {subject_id}'s stay that began on {admittime}?",
        "To which location did patient {subject_id} go at the end of admission {hadm_id}?",
    ], f"{ADM} WHERE discharge_location IS NOT NULL",
        "SELECT discharge_location FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.first_admission_time", [
        "When was patient {subject_id} first admitted to the hospital?",
        "What is the admission time of patient {subject_id}'s first hospital stay?",
        "Give the date and time of the earliest hospital admission of patient {subject_id}.",
    ], "SELECT DISTINCT subject_id FROM admissions",
        "SELECT min(admittime) FROM admissions WHERE subject_id = {subject_id}", ["admissions"]),
    T("admissions.count_since", [
        "How many hospital admissions has patient {subject_id} had since {since}?",
        "Count patient {subject_id}'s admissions to the hospital from {since} onwards.",
        "Since {since}, how many times was patient {subject_id} admitted?",
    ], "SELECT subject_id, CAST(admittime AS DATE) AS since FROM admissions",
        "SELECT count(*) FROM admissions WHERE subject_id = {subject_id} AND admittime >= {since}",
        ["admissions"]),
    T("admissions.days_since_previous", [
        "How many days passed between patient {subject_id}'s previous discharge and hospital admission {hadm_id}?",
        "Before the stay admitted on {admittime}, how many days had patient {subject_id} been out of hospital since the last discharge?",
        "What was the gap in days from patient {subject_id}'s prior hospital discharge to admission {hadm_id}?",
        "For admission {hadm_id}, how long in days after the previous discharge was patient {subject_id} readmitted?",
        "Days between the end of patient {subject_id}'s last earlier stay and the start of admission {hadm_id}?",
        "Patient {subject_id} was admitted on {admittime}: how many days earlier had the preceding admission ended?",
    ], """SELECT a.subject_id, a.hadm_id, a.admittime FROM admissions a WHERE EXISTS (SELECT 1 FROM admissions b
          WHERE b.subject_id = a.subject_id AND b.hadm_id <> a.hadm_id AND b.dischtime <= a.admittime)""",
        "SELECT date_diff('second', (SELECT max(b.dischtime) FROM admissions b WHERE b.subject_id = "
        "{subject_id} AND b.hadm_id <> a.hadm_id AND b.dischtime <= a.admittime), a.admittime) / 86400.0 "
        "FROM admissions a WHERE a.hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.ed_hours", [
        "How many hours did patient {subject_id} spend in the emergency department before admission {hadm_id}?",
        "For the hospital stay of patient {subject_id} that began on {admittime}, how long in hours was the ED stay?",
        "What was the emergency department length of stay in hours of patient {subject_id} for admission {hadm_id}?",
    ], f"{ADM} WHERE edregtime IS NOT NULL AND edouttime IS NOT NULL",
        "SELECT date_diff('second', edregtime, edouttime) / 3600.0 FROM admissions "
        "WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.services", [
        "Which clinical services cared for patient {subject_id} during hospital admission {hadm_id}?",
        "List the services patient {subject_id} was under during the stay admitted on {admittime}.",
        "Under which hospital services was patient {subject_id} treated in admission {hadm_id}?",
    ], "SELECT DISTINCT s.subject_id, s.hadm_id, a.admittime FROM services s "
       "JOIN admissions a ON s.hadm_id = a.hadm_id WHERE s.curr_service IS NOT NULL",
        "SELECT DISTINCT curr_service FROM services WHERE hadm_id = {hadm_id}", ["services"],
        ["services", "admissions"]),
    # transfers and care units
    T("transfers.careunits", [
        "Which care units did patient {subject_id} stay in during hospital admission {hadm_id}?",
        "List the care units patient {subject_id} passed through during the admission on {admittime}.",
        "In what hospital units was patient {subject_id} cared for during stay {hadm_id}?",
    ], "SELECT DISTINCT t.subject_id, t.hadm_id, a.admittime FROM transfers t "
       "JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL",
        "SELECT DISTINCT careunit FROM transfers WHERE hadm_id = {hadm_id} AND careunit IS NOT NULL",
        ["transfers"], ["transfers", "admissions"]),
    T("transfers.first_careunit", [
        "What was the first care unit patient {subject_id} was placed in during admission {hadm_id}?",
        "In which unit did patient {subject_id} start the hospital stay that began on {admittime}?",
        "Name the earliest care unit recorded for patient {subject_id} in hospital admission {hadm_id}.",
    ], """WITH f AS (SELECT hadm_id, min(intime) AS t0 FROM transfers WHERE careunit IS NOT NULL
                     GROUP BY hadm_id)
          SELECT a.subject_id, a.hadm_id, a.admittime FROM f JOIN admissions a ON f.hadm_id = a.hadm_id
          WHERE (SELECT count(*) FROM transfers t WHERE t.hadm_id = f.hadm_id AND t.intime = f.t0
                 AND t.careunit IS NOT NULL) = 1""",
        "SELECT careunit FROM transfers WHERE hadm_id = {hadm_id} AND careunit IS NOT NULL "
        "ORDER BY intime LIMIT 1", ["transfers"], ["transfers", "admissions"]),
    T("transfers.count_unit", [
        "How many times was patient {subject_id} transferred into {careunit} during admission {hadm_id}?",
        "During the hospital stay admitted on {admittime}, how many times did patient {subject_id} enter {careunit}?",
        "Count the stays of patient {subject_id} in the {careunit} unit during hospital admission {hadm_id}.",
    ], "SELECT DISTINCT t.subject_id, t.hadm_id, a.admittime, t.careunit FROM transfers t "
       "JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL",
        "SELECT count(*) FROM transfers WHERE hadm_id = {hadm_id} AND careunit = {careunit}",
        ["transfers"], ["transfers", "admissions"]),
    T("transfers.hours_in_unit", [
        "How many hours in total did patient {subject_id} spend in {careunit} during admission {hadm_id}?",
        "What was the total time in hours of patient {subject_id} in the {careunit} unit during the stay admitted on {admittime}?",
        "For hospital admission {hadm_id} of patient {subject_id}, how long in hours was the patient in {careunit}?",
    ], "SELECT t.subject_id, t.hadm_id, a.admittime, t.careunit FROM transfers t "
       "JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL "
       "GROUP BY ALL HAVING count(t.outtime) = count(*)",
        "SELECT sum(date_diff('second', intime, outtime)) / 3600.0 FROM transfers "
        "WHERE hadm_id = {hadm_id} AND careunit = {careunit}", ["transfers"], ["transfers", "admissions"]),
    # diagnoses
    T("diagnoses.list", [
        "What diagnoses were recorded for patient {subject_id} during hospital admission {hadm_id}?",
        "List the diagnoses of patient {subject_id} for the hospital stay admitted on {admittime}.",
        "Which conditions was patient {subject_id} diagnosed with in admission {hadm_id}?",
    ], f"""SELECT DISTINCT diagnoses_icd.subject_id, diagnoses_icd.hadm_id, a.admittime FROM {DX_JOIN}
           JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id""",
        f"SELECT DISTINCT d_icd_diagnoses.long_title FROM {DX_JOIN} "
        "WHERE diagnoses_icd.hadm_id = {hadm_id}", ["diagnoses_icd", "d_icd_diagnoses"],
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    T("diagnoses.primary", [
        "What was the primary diagnosis of patient {subject_id} in hospital admission {hadm_id}?",
        "Which diagnosis was listed first for patient {subject_id} during the stay admitted on {admittime}?",
        "Name the principal diagnosis recorded for patient {subject_id} in admission {hadm_id}.",
    ], f"""SELECT diagnoses_icd.subject_id, diagnoses_icd.hadm_id, a.admittime FROM {DX_JOIN}
           JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id WHERE diagnoses_icd.seq_num = 1
           GROUP BY ALL HAVING count(*) = 1""",
        f"SELECT d_icd_diagnoses.long_title FROM {DX_JOIN} "
        "WHERE diagnoses_icd.hadm_id = {hadm_id} AND diagnoses_icd.seq_num = 1",
        ["diagnoses_icd", "d_icd_diagnoses"], ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    T("diagnoses.admissions_with_title", [
        "In how many hospital admissions was patient {subject_id} diagnosed with {title}?",
        "How many of patient {subject_id}'s hospital stays carry the diagnosis {title}?",
        "Count the admissions of patient {subject_id} with a recorded diagnosis of {title}.",
    ], f"""SELECT diagnoses_icd.subject_id, d_icd_diagnoses.long_title AS title FROM {DX_JOIN}
           GROUP BY ALL""",
        f"SELECT count(DISTINCT diagnoses_icd.hadm_id) FROM {DX_JOIN} "
        "WHERE diagnoses_icd.subject_id = {subject_id} AND d_icd_diagnoses.long_title = {title}",
        ["diagnoses_icd", "d_icd_diagnoses"]),
    T("diagnoses.title_by_code", [
        "What does the diagnosis code {icd_code} (ICD-{icd_version}) recorded for patient {subject_id} stand for?",
        "Patient {subject_id} has ICD-{icd_version} diagnosis code {icd_code}; what is its description?",
        "Give the long title of the ICD-{icd_version} diagnosis code {icd_code} found in patient {subject_id}'s record.",
    ], f"""SELECT DISTINCT diagnoses_icd.subject_id, diagnoses_icd.icd_code, diagnoses_icd.icd_version
           FROM {DX_JOIN}""",
        "SELECT long_title FROM d_icd_diagnoses WHERE icd_code = {icd_code} AND icd_version = {icd_version}",
        ["d_icd_diagnoses"], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("diagnoses.icd_version", [
        "Which ICD version was used to code the diagnoses of patient {subject_id} in admission {hadm_id}?",
        "Were the diagnoses of patient {subject_id}'s stay admitted on {admittime} coded in ICD-9 or ICD-10?",
        "What ICD version are the diagnosis codes of hospital admission {hadm_id} (patient {subject_id})?",
    ], f"{ADM} WHERE hadm_id IN (SELECT hadm_id FROM diagnoses_icd)",
        "SELECT DISTINCT icd_version FROM diagnoses_icd WHERE hadm_id = {hadm_id}", ["diagnoses_icd"],
        ["diagnoses_icd", "admissions"]),
    T("diagnoses.first_time", [
        "When was patient {subject_id} first admitted with a diagnosis of {title}? Give the admission time.",
        "What is the admission time of the first hospital stay in which patient {subject_id} was diagnosed with {title}?",
        "At which admission time was {title} first recorded as a diagnosis for patient {subject_id}?",
    ], f"""SELECT diagnoses_icd.subject_id, d_icd_diagnoses.long_title AS title FROM {DX_JOIN}
           GROUP BY ALL""",
        f"SELECT min(admissions.admittime) FROM {DX_JOIN} JOIN admissions ON "
        "diagnoses_icd.hadm_id = admissions.hadm_id WHERE diagnoses_icd.subject_id = {subject_id} "
        "AND d_icd_diagnoses.long_title = {title}",
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    T("diagnoses.code_by_title", [
        "What is the ICD code of the diagnosis {title} recorded for patient {subject_id} in admission {hadm_id}?",
        "Which diagnosis code was used for {title} in patient {subject_id}'s stay admitted on {admittime}?",
        "Give the ICD code under which {title} was coded for patient {subject_id} during hospital admission {hadm_id}.",
    ], DX_TITLES,
        f"SELECT DISTINCT diagnoses_icd.icd_code FROM {DX_JOIN} WHERE diagnoses_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_diagnoses.long_title = {title}", ["diagnoses_icd", "d_icd_diagnoses"],
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    # procedures
    T("procedures.list", [
        "Which procedures did patient {subject_id} undergo during hospital admission {hadm_id}?",
        "List the procedures recorded for patient {subject_id} in the stay admitted on {admittime}.",
        "What procedures were performed on patient {subject_id} during admission {hadm_id}?",
    ], f"""SELECT DISTINCT procedures_icd.subject_id, procedures_icd.hadm_id, a.admittime FROM {PX_JOIN}
           JOIN admissions a ON procedures_icd.hadm_id = a.hadm_id""",
        f"SELECT DISTINCT d_icd_procedures.long_title FROM {PX_JOIN} "
        "WHERE procedures_icd.hadm_id = {hadm_id}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.date_by_title", [
        "On what date did patient {subject_id} first undergo {title} during admission {hadm_id}?",
        "When was {title} first performed on patient {subject_id} during the stay admitted on {admittime}?",
        "Give the date of the first {title} procedure of patient {subject_id} in hospital admission {hadm_id}.",
    ], PX_TITLES,
        f"SELECT min(procedures_icd.chartdate) FROM {PX_JOIN} WHERE procedures_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_procedures.long_title = {title}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.count", [
        "How many procedures were recorded for patient {subject_id} during hospital admission {hadm_id}?",
        "Count the procedure codes of patient {subject_id} for the stay admitted on {admittime}.",
        "What is the number of procedures patient {subject_id} had in admission {hadm_id}?",
    ], "SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime FROM procedures_icd p "
       "JOIN admissions a ON p.hadm_id = a.hadm_id",
        "SELECT count(*) FROM procedures_icd WHERE hadm_id = {hadm_id}", ["procedures_icd"],
        ["procedures_icd", "admissions"]),
    T("procedures.code_by_title", [
        "What is the ICD code of the procedure {title} performed on patient {subject_id} in admission {hadm_id}?",
        "Which procedure code was recorded for {title} in patient {subject_id}'s stay admitted on {admittime}?",
        "Give the ICD procedure code of {title} for patient {subject_id} during hospital admission {hadm_id}.",
    ], PX_TITLES,
        f"SELECT DISTINCT procedures_icd.icd_code FROM {PX_JOIN} WHERE procedures_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_procedures.long_title = {title}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.title_by_code", [
        "What procedure does the code {icd_code} (ICD-{icd_version}) in patient {subject_id}'s record describe?",
        "Patient {subject_id} has ICD-{icd_version} procedure code {icd_code}; what is its description?",
        "Give the long title of the ICD-{icd_version} procedure code {icd_code} recorded for patient {subject_id}.",
    ], f"""SELECT DISTINCT procedures_icd.subject_id, procedures_icd.icd_code, procedures_icd.icd_version
           FROM {PX_JOIN}""",
        "SELECT long_title FROM d_icd_procedures WHERE icd_code = {icd_code} AND icd_version = {icd_version}",
        ["d_icd_procedures"], ["procedures_icd", "d_icd_procedures"]),
    # labs
    T("labs.last_value", [
        "What was the last {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was patient {subject_id}'s most recent {label} result?",
        "Give the final {label} measurement of patient {subject_id} in admission {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_t1 = 1",
        f"SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime DESC LIMIT 1",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.first_value", [
        "What was the first {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "In the stay admitted on {admittime}, what was patient {subject_id}'s first {label} result?",
        "Give the earliest {label} measurement of patient {subject_id} in admission {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_t0 = 1",
        f"SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime LIMIT 1",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.max_value", [
        "What was the highest {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was the maximum {label} of patient {subject_id}?",
        "Give the peak {label} result of patient {subject_id} in admission {hadm_id}.",
    ], LAB_STATS,
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.min_value_ever", [
        "What is the lowest {label} value ever recorded for patient {subject_id}?",
        "Across all of patient {subject_id}'s results, what was the minimum {label}?",
        "Give the smallest {label} measurement on record for patient {subject_id}.",
    ], LAB_SUBJECT,
        f"SELECT min(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.subject_id = {{subject_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"]),
    T("labs.mean_value", [
        "What was the average {label} of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was patient {subject_id}'s mean {label} value?",
        "Compute the mean {label} result of patient {subject_id} over admission {hadm_id}.",
    ], LAB_STATS,
        f"SELECT avg(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.count", [
        "How many times was {label} measured for patient {subject_id} during hospital admission {hadm_id}?",
        "Count the {label} results of patient {subject_id} in the stay admitted on {admittime}.",
        "What is the number of {label} tests patient {subject_id} had in admission {hadm_id}?",
    ], LAB_STATS,
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.last_higher_than_first", [
        "Was the last {label} of patient {subject_id} during admission {hadm_id} higher than the first?",
        "During the stay admitted on {admittime}, did patient {subject_id}'s {label} end higher than it started?",
        "Comparing the first and last {label} results of patient {subject_id} in hospital admission {hadm_id}, was the last one greater?",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n >= 2 AND n_t0 = 1 AND n_t1 = 1",
        f"SELECT (SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime DESC LIMIT 1) > "
        f"(SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime LIMIT 1)",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.change_first_to_last", [
        "By how much did patient {subject_id}'s {label} change from the first to the last measurement in admission {hadm_id}?",
        "What is the difference between the last and the first {label} of patient {subject_id} during the stay admitted on {admittime}?",
        "Compute last minus first {label} value for patient {subject_id} during hospital admission {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n >= 2 AND n_t0 = 1 AND n_t1 = 1",
        f"SELECT (SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime DESC LIMIT 1) - "
        f"(SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime LIMIT 1)",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.abnormal_count", [
        "How many {label} results of patient {subject_id} were flagged abnormal during admission {hadm_id}?",
        "Count the abnormal {label} values of patient {subject_id} in the stay admitted on {admittime}.",
        "During hospital admission {hadm_id}, how many times was patient {subject_id}'s {label} abnormal?",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_abn > 0",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} AND labevents.flag = 'abnormal'", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.abnormal_first_24h", [
        "Which lab tests of patient {subject_id} were flagged abnormal in the first 24 hours of admission {hadm_id}?",
        "List the abnormal lab results (test names) of patient {subject_id} within 24 hours of the admission on {admittime}.",
        "In the first day after hospital admission {hadm_id}, which labs of patient {subject_id} came back abnormal?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM labevents e
          JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.flag = 'abnormal'
          AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        f"SELECT DISTINCT d_labitems.label FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND labevents.flag = 'abnormal' AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 24 HOUR", ["labevents", "d_labitems", "admissions"]),
    T("labs.max_first_24h", [
        "What was the highest {label} of patient {subject_id} within the first 24 hours of admission {hadm_id}?",
        "In the first day of the stay admitted on {admittime}, what was patient {subject_id}'s maximum {label}?",
        "Give the peak {label} of patient {subject_id} during the first 24 hours after hospital admission {hadm_id}.",
    ], f"""SELECT DISTINCT s.subject_id, s.hadm_id, s.admittime, s.label FROM ({LAB_STATS}) s
           JOIN {LAB_JOIN} ON labevents.hadm_id = s.hadm_id AND d_labitems.label = s.label
           WHERE labevents.charttime BETWEEN s.admittime AND s.admittime + INTERVAL 24 HOUR""",
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 24 HOUR", ["labevents", "d_labitems", "admissions"]),
    # relative-time questions (issue 11): windows anchored on admission or discharge
    T("labs.min_last_24h", [
        "What was the lowest {label} of patient {subject_id} in the last 24 hours of hospital admission {hadm_id}?",
        "In the final day before discharge from the stay admitted on {admittime}, what was patient {subject_id}'s minimum {label}?",
        "Give the minimum {label} of patient {subject_id} during the 24 hours before discharge from admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: lowest {label} within 24 hours of leaving the hospital?",
        "Over the last day of patient {subject_id}'s hospital stay {hadm_id}, how low did the {label} go?",
        "For the admission of patient {subject_id} that began on {admittime}, report the smallest {label} value charted in the 24 hours before discharge.",
    ], f"""SELECT DISTINCT s.subject_id, s.hadm_id, s.admittime, s.label FROM ({LAB_STATS}) s
           JOIN admissions a2 ON a2.hadm_id = s.hadm_id
           JOIN {LAB_JOIN} ON labevents.hadm_id = s.hadm_id AND d_labitems.label = s.label
           WHERE labevents.charttime BETWEEN a2.dischtime - INTERVAL 24 HOUR AND a2.dischtime""",
        f"SELECT min(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.dischtime "
        "- INTERVAL 24 HOUR AND admissions.dischtime", ["labevents", "d_labitems", "admissions"]),
    T("labs.count_first_48h", [
        "How many {label} results did patient {subject_id} have within 2 days of hospital admission {hadm_id}?",
        "In the first 48 hours of the stay admitted on {admittime}, how many times was patient {subject_id}'s {label} measured?",
        "Count the {label} tests of patient {subject_id} during the first two days of admission {hadm_id}.",
        "Within 48 hours of being admitted (admission {hadm_id}), how many {label} values were recorded for patient {subject_id}?",
        "Number of {label} measurements for patient {subject_id} in the first 2 days after admission {hadm_id}?",
        "During the first two days of patient {subject_id}'s hospital stay that began on {admittime}, how often was {label} checked?",
    ], LAB_STATS,
        f"SELECT count(*) FROM {LAB_JOIN} JOIN admissions ON labevents.hadm_id = admissions.hadm_id "
        "WHERE labevents.hadm_id = {hadm_id} AND d_labitems.label = {label} AND labevents.charttime "
        "BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 48 HOUR",
        ["labevents", "d_labitems", "admissions"]),
    T("prescriptions.count_first_48h", [
        "How many different drugs were started for patient {subject_id} within 2 days of hospital admission {hadm_id}?",
        "In the first 48 hours of the stay admitted on {admittime}, how many distinct medications were prescribed to patient {subject_id}?",
        "Count the distinct drugs prescribed to patient {subject_id} during the first two days of admission {hadm_id}.",
        "Within 48 hours of admission {hadm_id}, how many unique drugs did patient {subject_id} get prescribed?",
        "Number of distinct prescriptions started in the first 2 days of patient {subject_id}'s admission {hadm_id}?",
        "During the first two days of patient {subject_id}'s stay that began on {admittime}, how many different drugs were ordered?",
    ], f"{ADM} WHERE hadm_id IN (SELECT hadm_id FROM prescriptions WHERE drug IS NOT NULL)",
        "SELECT count(DISTINCT prescriptions.drug) FROM prescriptions JOIN admissions ON "
        "prescriptions.hadm_id = admissions.hadm_id WHERE prescriptions.hadm_id = {hadm_id} AND "
        "prescriptions.starttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 48 HOUR",
        ["prescriptions", "admissions"]),
    T("labs.count_since", [
        "How many {label} tests has patient {subject_id} had since {since}?",
        "Since {since}, how many times was {label} measured for patient {subject_id}?",
        "Count patient {subject_id}'s {label} results from {since} onwards.",
    ], f"""SELECT DISTINCT e.subject_id, d.label, CAST(e.charttime AS DATE) AS since
           FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
           JOIN ({LAB_SUBJECT}) u ON u.subject_id = e.subject_id AND u.label = d.label
           WHERE e.charttime IS NOT NULL""",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.subject_id = {{subject_id}} "
        "AND d_labitems.label = {label} AND labevents.charttime >= {since}",
        ["labevents", "d_labitems"]),
    T("labs.last_time", [
        "When was {label} last measured for patient {subject_id} during hospital admission {hadm_id}?",
        "At what time was patient {subject_id}'s final {label} drawn during the stay admitted on {admittime}?",
        "Give the time of the most recent {label} test of patient {subject_id} in admission {hadm_id}.",
    ], LAB_STATS,
        f"SELECT max(labevents.charttime) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.above_reference", [
        "How many {label} values of patient {subject_id} were above the upper reference limit during admission {hadm_id}?",
        "During the stay admitted on {admittime}, how often was patient {subject_id}'s {label} above its reference range?",
        "Count the {label} results of patient {subject_id} exceeding the upper limit of normal in hospital admission {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_high > 0",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} AND labevents.valuenum > labevents.ref_range_upper",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    # prescriptions and routes
    T("prescriptions.first_24h", [
        "Which drugs were started for patient {subject_id} within the first 24 hours of admission {hadm_id}?",
        "List the medications prescribed to patient {subject_id} in the first day of the stay admitted on {admittime}.",
        "What did patient {subject_id} get prescribed during the first 24 hours after hospital admission {hadm_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM prescriptions p
          JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.drug IS NOT NULL
          AND p.starttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT DISTINCT prescriptions.drug FROM prescriptions JOIN admissions ON "
        "prescriptions.hadm_id = admissions.hadm_id WHERE prescriptions.hadm_id = {hadm_id} "
        "AND prescriptions.starttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR",
        ["prescriptions", "admissions"]),
    T("prescriptions.route", [
        "By which route was {drug} given to patient {subject_id} during hospital admission {hadm_id}?",
        "What administration route was prescribed for {drug} for patient {subject_id} in the stay admitted on {admittime}?",
        "How was {drug} administered to patient {subject_id} in admission {hadm_id} (route)?",
    ], f"SELECT * FROM ({RX}) WHERE n_route >= 1",
        "SELECT DISTINCT route FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug} "
        "AND route IS NOT NULL", ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.first_dose", [
        "What dose of {drug} was first prescribed to patient {subject_id} during admission {hadm_id}? Give value and unit.",
        "In the stay admitted on {admittime}, what was the dose (value and unit) of patient {subject_id}'s first {drug} prescription?",
        "Give the dose and dose unit of the first {drug} order of patient {subject_id} in hospital admission {hadm_id}.",
    ], f"SELECT * FROM ({RX}) WHERE n_t0 = 1",
        "SELECT dose_val_rx, dose_unit_rx FROM prescriptions WHERE hadm_id = {hadm_id} "
        "AND drug = {drug} ORDER BY starttime LIMIT 1", ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.first_start", [
        "When was {drug} first started for patient {subject_id} during hospital admission {hadm_id}?",
        "What is the start time of patient {subject_id}'s first {drug} prescription in the stay admitted on {admittime}?",
        "Give the earliest start time of {drug} for patient {subject_id} in admission {hadm_id}.",
    ], RX,
        "SELECT min(starttime) FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.count", [
        "How many times was {drug} prescribed to patient {subject_id} during hospital admission {hadm_id}?",
        "Count the {drug} prescriptions of patient {subject_id} in the stay admitted on {admittime}.",
        "What is the number of {drug} orders for patient {subject_id} in admission {hadm_id}?",
    ], RX,
        "SELECT count(*) FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.by_route", [
        "Which drugs were prescribed to patient {subject_id} by the {route} route during admission {hadm_id}?",
        "List the {route} medications of patient {subject_id} in the stay admitted on {admittime}.",
        "What did patient {subject_id} receive via route {route} during hospital admission {hadm_id}?",
    ], """SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime, p.route FROM prescriptions p
          JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.route IS NOT NULL AND p.drug IS NOT NULL""",
        "SELECT DISTINCT drug FROM prescriptions WHERE hadm_id = {hadm_id} AND route = {route}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.after_procedure", [
        "How many different drugs were started for patient {subject_id} on or after the day of {title} in admission {hadm_id}?",
        "After undergoing {title} during the stay admitted on {admittime}, how many distinct drugs were started for patient {subject_id}?",
        "Count the distinct medications patient {subject_id} began on or after the date of the first {title} in hospital admission {hadm_id}.",
    ], PX_TITLES.replace("GROUP BY ALL", "WHERE procedures_icd.hadm_id IN "
                         "(SELECT hadm_id FROM prescriptions) GROUP BY ALL"),
        "SELECT count(DISTINCT prescriptions.drug) FROM prescriptions WHERE prescriptions.hadm_id = {hadm_id} "
        f"AND prescriptions.starttime >= (SELECT min(procedures_icd.chartdate) FROM {PX_JOIN} "
        "WHERE procedures_icd.hadm_id = {hadm_id} AND d_icd_procedures.long_title = {title})",
        ["prescriptions", "procedures_icd", "d_icd_procedures"],
        ["prescriptions", "procedures_icd", "d_icd_procedures", "admissions"]),
    # eMAR
    T("emar.administered_count", [
        "How many times was {medication} administered to patient {subject_id} during hospital admission {hadm_id}?",
        "Count the charted administrations of {medication} for patient {subject_id} in the stay admitted on {admittime}.",
        "According to the medication administration record, how many doses of {medication} did patient {subject_id} receive in admission {hadm_id}?",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT count(*) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Administered'", ["emar"], ["emar", "admissions"]),
    T("emar.last_administered", [
        "When was {medication} last administered to patient {subject_id} during hospital admission {hadm_id}?",
        "What is the time of the final charted administration of {medication} for patient {subject_id} in the stay admitted on {admittime}?",
        "Give the last administration time of {medication} for patient {subject_id} in admission {hadm_id}.",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT max(charttime) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Administered'", ["emar"], ["emar", "admissions"]),
    T("emar.event_types", [
        "Which administration events were charted for {medication} for patient {subject_id} during admission {hadm_id}?",
        "List the distinct eMAR event types recorded for {medication} of patient {subject_id} in the stay admitted on {admittime}.",
        "What actions were documented on the medication record for {medication} (patient {subject_id}, admission {hadm_id})?",
    ], f"SELECT * FROM ({EMAR}) WHERE n_events > 0",
        "SELECT DISTINCT event_txt FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt IS NOT NULL", ["emar"], ["emar", "admissions"]),
    T("emar.given_last_24h", [
        "How many times was {medication} administered to patient {subject_id} in the last 24 hours of hospital admission {hadm_id}?",
        "In the final day before discharge from the stay admitted on {admittime}, how many doses of {medication} did patient {subject_id} receive?",
        "Count the {medication} administrations of patient {subject_id} during the 24 hours before discharge from admission {hadm_id}.",
        "Within 24 hours of leaving hospital admission {hadm_id}, how often was patient {subject_id} given {medication}?",
        "Number of {medication} doses given to patient {subject_id} on the last day of admission {hadm_id}?",
        "For patient {subject_id}'s stay that began on {admittime}, how many {medication} administrations were charted in the 24 hours before discharge?",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT count(*) FROM emar JOIN admissions ON emar.hadm_id = admissions.hadm_id WHERE "
        "emar.hadm_id = {hadm_id} AND emar.medication = {medication} AND emar.event_txt = 'Administered' "
        "AND emar.charttime BETWEEN admissions.dischtime - INTERVAL 24 HOUR AND admissions.dischtime",
        ["emar", "admissions"]),
    T("emar.not_given_count", [
        "How many scheduled doses of {medication} were charted as not given to patient {subject_id} in admission {hadm_id}?",
        "Count the 'Not Given' entries for {medication} of patient {subject_id} in the stay admitted on {admittime}.",
        "How often was {medication} not given to patient {subject_id} during hospital admission {hadm_id}?",
    ], f"SELECT * FROM ({EMAR}) WHERE n_not_given > 0",
        "SELECT count(*) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Not Given'", ["emar"], ["emar", "admissions"]),
    # microbiology
    T("microbiology.specimens", [
        "Which specimen types were sent for microbiology testing for patient {subject_id} during admission {hadm_id}?",
        "List the microbiology specimens collected from patient {subject_id} in the stay admitted on {admittime}.",
        "What kinds of specimens were cultured for patient {subject_id} in hospital admission {hadm_id}?",
    ], f"SELECT DISTINCT subject_id, hadm_id, admittime FROM ({MICRO})",
        "SELECT DISTINCT spec_type_desc FROM microbiologyevents WHERE hadm_id = {hadm_id}",
        ["microbiologyevents"], ["microbiologyevents", "admissions"]),
    T("microbiology.organisms", [
        "Which organisms grew in the {specimen} specimens of patient {subject_id} during admission {hadm_id}?",
        "What organisms were identified in patient {subject_id}'s {specimen} cultures in the stay admitted on {admittime}?",
        "List the organisms found in {specimen} samples of patient {subject_id} in hospital admission {hadm_id}.",
    ], f"SELECT * FROM ({MICRO}) WHERE n_org > 0",
        "SELECT DISTINCT org_name FROM microbiologyevents WHERE hadm_id = {hadm_id} "
        "AND spec_type_desc = {specimen} AND org_name IS NOT NULL", ["microbiologyevents"],
        ["microbiologyevents", "admissions"]),
    T("microbiology.tests", [
        "Which microbiology tests were run on {specimen} specimens of patient {subject_id} during admission {hadm_id}?",
        "List the tests performed on patient {subject_id}'s {specimen} samples in the stay admitted on {admittime}.",
        "What microbiology tests did the lab do on {specimen} from patient {subject_id} in hospital admission {hadm_id}?",
    ], f"SELECT * FROM ({MICRO}) WHERE n_test > 0",
        "SELECT DISTINCT test_name FROM microbiologyevents WHERE hadm_id = {hadm_id} "
        "AND spec_type_desc = {specimen} AND test_name IS NOT NULL", ["microbiologyevents"],
        ["microbiologyevents", "admissions"]),
    T("microbiology.first_specimen_date", [
        "When was a {specimen} specimen first collected from patient {subject_id}?",
        "What is the date of patient {subject_id}'s first {specimen} microbiology specimen?",
        "Give the earliest collection date of a {specimen} sample for patient {subject_id}.",
    ], "SELECT DISTINCT subject_id, spec_type_desc AS specimen FROM microbiologyevents "
       "WHERE spec_type_desc IS NOT NULL AND chartdate IS NOT NULL",
        "SELECT min(chartdate) FROM microbiologyevents WHERE subject_id = {subject_id} "
        "AND spec_type_desc = {specimen}", ["microbiologyevents"]),
    T("microbiology.resistant_antibiotics", [
        "To which antibiotics was {organism} from patient {subject_id} resistant during admission {hadm_id}?",
        "List the antibiotics that {organism} isolated from patient {subject_id} in the stay admitted on {admittime} was resistant to.",
        "Which antibiotics tested resistant for the {organism} of patient {subject_id} in hospital admission {hadm_id}?",
    ], """SELECT DISTINCT m.subject_id, m.hadm_id, a.admittime, m.org_name AS organism
          FROM microbiologyevents m JOIN admissions a ON m.hadm_id = a.hadm_id
          WHERE m.interpretation = 'R' AND m.org_name IS NOT NULL AND m.ab_name IS NOT NULL""",
        "SELECT DISTINCT ab_name FROM microbiologyevents WHERE hadm_id = {hadm_id} "
        "AND org_name = {organism} AND interpretation = 'R'", ["microbiologyevents"],
        ["microbiologyevents", "admissions"]),
    # ICU stays
    T("icu.count", [
        "How many ICU stays did patient {subject_id} have during hospital admission {hadm_id}?",
        "Count the intensive care unit stays of patient {subject_id} in the hospital stay admitted on {admittime}.",
        "How many times was patient {subject_id} admitted to the ICU during admission {hadm_id}?",
    ], "SELECT DISTINCT i.subject_id, i.hadm_id, a.admittime FROM icustays i "
       "JOIN admissions a ON i.hadm_id = a.hadm_id",
        "SELECT count(*) FROM icustays WHERE hadm_id = {hadm_id}", ["icustays"],
        ["icustays", "admissions"]),
    T("icu.length_of_stay", [
        "How many days did the ICU stay of patient {subject_id} that began at {intime} last?",
        "What was the length of stay in days of patient {subject_id}'s ICU stay starting {intime}?",
        "Give the ICU length of stay (days) for patient {subject_id}'s intensive care stay admitted at {intime}.",
    ], "SELECT subject_id, intime FROM icustays WHERE los IS NOT NULL AND intime IS NOT NULL",
        "SELECT los FROM icustays WHERE subject_id = {subject_id} AND intime = {intime}", ["icustays"]),
    T("icu.first_careunit", [
        "Which ICU was patient {subject_id} first admitted to for the intensive care stay that began at {intime}?",
        "What was the first care unit of patient {subject_id}'s ICU stay starting {intime}?",
        "Name the first intensive care unit of patient {subject_id} for the ICU stay starting at {intime}.",
    ], "SELECT subject_id, intime FROM icustays WHERE first_careunit IS NOT NULL AND intime IS NOT NULL",
        "SELECT first_careunit FROM icustays WHERE subject_id = {subject_id} AND intime = {intime}",
        ["icustays"]),
    T("icu.total_days", [
        "How many days in total has patient {subject_id} spent in intensive care?",
        "What is the total ICU length of stay in days across all of patient {subject_id}'s ICU stays?",
        "Sum the ICU days of patient {subject_id} over every ICU stay.",
    ], "SELECT DISTINCT subject_id FROM icustays WHERE los IS NOT NULL",
        "SELECT sum(los) FROM icustays WHERE subject_id = {subject_id}", ["icustays"]),
    T("icu.hours_to_icu", [
        "How many hours after hospital admission {hadm_id} was patient {subject_id} first moved to the ICU?",
        "After being admitted on {admittime}, how long in hours did it take until patient {subject_id} entered the ICU?",
        "Compute the hours from the admission time of stay {hadm_id} to patient {subject_id}'s first ICU admission.",
    ], "SELECT DISTINCT i.subject_id, i.hadm_id, a.admittime FROM icustays i "
       "JOIN admissions a ON i.hadm_id = a.hadm_id WHERE i.intime IS NOT NULL",
        "SELECT date_diff('second', admissions.admittime, min(icustays.intime)) / 3600.0 FROM admissions "
        "JOIN icustays ON admissions.hadm_id = icustays.hadm_id WHERE admissions.hadm_id = {hadm_id} "
        "GROUP BY admissions.admittime", ["admissions", "icustays"]),
    # DRG
    T("drg.description", [
        "What is the {drg_type} DRG description of patient {subject_id}'s hospital admission {hadm_id}?",
        "Which {drg_type} diagnosis-related group was assigned to patient {subject_id} for the stay admitted on {admittime}?",
        "Give the {drg_type} DRG of patient {subject_id} in admission {hadm_id}.",
    ], "SELECT DISTINCT g.subject_id, g.hadm_id, a.admittime, g.drg_type FROM drgcodes g "
       "JOIN admissions a ON g.hadm_id = a.hadm_id WHERE g.drg_type IS NOT NULL AND g.description IS NOT NULL",
        "SELECT DISTINCT description FROM drgcodes WHERE hadm_id = {hadm_id} AND drg_type = {drg_type}",
        ["drgcodes"], ["drgcodes", "admissions"]),
    T("drg.severity", [
        "What APR-DRG severity was assigned to patient {subject_id}'s admission {hadm_id}?",
        "Which APR severity of illness was coded for patient {subject_id}'s stay admitted on {admittime}?",
        "Give the APR DRG severity level of patient {subject_id} in hospital admission {hadm_id}.",
    ], "SELECT DISTINCT g.subject_id, g.hadm_id, a.admittime FROM drgcodes g "
       "JOIN admissions a ON g.hadm_id = a.hadm_id WHERE g.drg_type = 'APR' AND g.drg_severity IS NOT NULL",
        "SELECT DISTINCT drg_severity FROM drgcodes WHERE hadm_id = {hadm_id} AND drg_type = 'APR'",
        ["drgcodes"], ["drgcodes", "admissions"]),
    # OMR (outpatient measurements)
    T("omr.last_value", [
        "What is the most recent {result_name} recorded in the outpatient record of patient {subject_id}?",
        "Give the last {result_name} measurement on file for patient {subject_id}.",
        "What was patient {subject_id}'s latest recorded {result_name}?",
    ], """WITH o AS (SELECT subject_id, result_name, max(chartdate) AS d1 FROM omr
                     WHERE result_name IS NOT NULL GROUP BY ALL)
          SELECT o.subject_id, o.result_name FROM o WHERE (SELECT count(*) FROM omr
            WHERE omr.subject_id = o.subject_id AND omr.result_name = o.result_name
            AND omr.chartdate = o.d1) = 1""",
        "SELECT result_value FROM omr WHERE subject_id = {subject_id} AND result_name = {result_name} "
        "ORDER BY chartdate DESC LIMIT 1", ["omr"]),
    T("omr.count_since", [
        "How many {result_name} measurements were recorded for patient {subject_id} since {since}?",
        "Since {since}, how many times was {result_name} documented for patient {subject_id}?",
        "Count patient {subject_id}'s {result_name} entries from {since} onwards.",
    ], "SELECT DISTINCT subject_id, result_name, chartdate AS since FROM omr "
       "WHERE result_name IS NOT NULL AND chartdate IS NOT NULL",
        "SELECT count(*) FROM omr WHERE subject_id = {subject_id} AND result_name = {result_name} "
        "AND chartdate >= {since}", ["omr"]),
    # vital signs (only when the store has chartevents)
    T("vitals.max_value", [
        "What was the highest {label} of patient {subject_id} charted during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was the maximum charted {label} of patient {subject_id}?",
        "Give the peak {label} recorded for patient {subject_id} in admission {hadm_id}.",
    ], VITALS,
        "SELECT max(chartevents.valuenum) FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "WHERE chartevents.hadm_id = {hadm_id} AND d_items.label = {label}", ["chartevents", "d_items"],
        ["chartevents", "d_items", "admissions"]),
    T("vitals.last_value", [
        "What was the last charted {label} of patient {subject_id} during hospital admission {hadm_id}?",
        "In the stay admitted on {admittime}, what was patient {subject_id}'s final {label} reading?",
        "Give the most recent {label} value of patient {subject_id} in admission {hadm_id}.",
    ], f"SELECT * FROM ({VITALS}) WHERE n_t1 = 1",
        "SELECT chartevents.valuenum FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "WHERE chartevents.hadm_id = {hadm_id} AND d_items.label = {label} "
        "ORDER BY chartevents.charttime DESC LIMIT 1", ["chartevents", "d_items"],
        ["chartevents", "d_items", "admissions"]),
    T("vitals.min_first_24h_icu", [
        "What was the lowest {label} of patient {subject_id} in the first 24 hours of the ICU stay that began at {intime}?",
        "During the first day of patient {subject_id}'s ICU stay starting {intime}, what was the minimum {label}?",
        "Give the minimum {label} charted for patient {subject_id} within 24 hours of ICU admission at {intime}.",
    ], """SELECT DISTINCT i.subject_id, i.intime, d.label FROM chartevents c
          JOIN d_items d ON c.itemid = d.itemid JOIN icustays i ON c.stay_id = i.stay_id
          WHERE c.valuenum IS NOT NULL AND d.label IS NOT NULL
          AND c.charttime BETWEEN i.intime AND i.intime + INTERVAL 24 HOUR
          AND (SELECT count(DISTINCT d2.itemid) FROM d_items d2 JOIN chartevents c2 ON c2.itemid = d2.itemid
               WHERE c2.stay_id = i.stay_id AND d2.label = d.label) = 1""",
        "SELECT min(chartevents.valuenum) FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "JOIN icustays ON chartevents.stay_id = icustays.stay_id WHERE icustays.subject_id = {subject_id} "
        "AND icustays.intime = {intime} AND d_items.label = {label} AND chartevents.charttime BETWEEN "
        "icustays.intime AND icustays.intime + INTERVAL 24 HOUR", ["chartevents", "d_items", "icustays"]),
]

# Unanswerable templates -------------------------------------------------------------------------

_U_DRUG = "SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime, p.drug FROM prescriptions p " \
          "JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.drug IS NOT NULL"
#: labs of the patient's last admission only: "now, after discharge" or "next value" asked
#: about an earlier stay could be read off a later one.
_U_LAB = """
SELECT DISTINCT e.subject_id, e.hadm_id, a.admittime, d.label FROM labevents e
JOIN d_labitems d ON e.itemid = d.itemid JOIN admissions a ON e.hadm_id = a.hadm_id
WHERE d.label IS NOT NULL
  AND a.admittime = (SELECT max(b.admittime) FROM admissions b WHERE b.subject_id = a.subject_id)
"""
#: "now"/"next" after an admission is answerable when the patient has a later result of that
#: label (outpatient labs, a later stay): such candidates are dropped at build time.
_V_LATER_LAB = """
SELECT count(*) FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
WHERE e.subject_id = {subject_id} AND d.label = {label}
  AND e.charttime > (SELECT max(coalesce(a.dischtime, a.admittime)) FROM admissions a WHERE a.hadm_id = {hadm_id})
"""
_U_DX = f"SELECT DISTINCT diagnoses_icd.subject_id, d_icd_diagnoses.long_title AS title FROM {DX_JOIN}"
_U_SUBJ = "SELECT subject_id FROM patients"

UNANSWERABLE: list[Template] = [
    T("unanswerable.blood_type", [
        "What is the blood type of patient {subject_id}?",
        "Which ABO blood group does patient {subject_id} have?",
        "Tell me patient {subject_id}'s blood type and Rh factor.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.attending_name", [
        "What is the name of the attending physician of patient {subject_id} during hospital admission {hadm_id}?",
        "Who was the attending doctor for patient {subject_id} in the stay admitted on {admittime}?",
        "Give the attending physician's name for patient {subject_id}'s admission {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.prescriber_name", [
        "What is the name of the doctor who prescribed {drug} to patient {subject_id} during admission {hadm_id}?",
        "Which physician, by name, ordered {drug} for patient {subject_id} in the stay admitted on {admittime}?",
        "Who (name) wrote the {drug} prescription of patient {subject_id} in hospital admission {hadm_id}?",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.home_address", [
        "What is the home address of patient {subject_id}?",
        "Where does patient {subject_id} live? Give the street address.",
        "Which city and street is patient {subject_id}'s residence on?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.phone_number", [
        "What is the phone number of patient {subject_id}?",
        "Give the contact telephone number on file for patient {subject_id}.",
        "How can patient {subject_id} be reached by phone?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.home_medications", [
        "Which medications was patient {subject_id} taking at home before hospital admission {hadm_id}?",
        "List patient {subject_id}'s home medications prior to the stay admitted on {admittime}.",
        "What drugs did patient {subject_id} take before being admitted for admission {hadm_id}?",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.genetic_testing", [
        "What did genetic testing show about patient {subject_id}'s {title}?",
        "Which gene variant was found in patient {subject_id} to explain {title}?",
        "Was patient {subject_id}'s {title} confirmed by a genetic test, and with what result?",
    ], _U_DX, None, [], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("unanswerable.room_number", [
        "What room and bed number was patient {subject_id} in during hospital admission {hadm_id}?",
        "Which room was patient {subject_id} assigned to in the stay admitted on {admittime}?",
        "Give the bed number of patient {subject_id} during admission {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.lab_now", [
        "What is patient {subject_id}'s {label} right now, after discharge from admission {hadm_id}?",
        "What is the current {label} of patient {subject_id} today, now that the stay admitted on {admittime} is over?",
        "Tell me patient {subject_id}'s {label} level as of today, after leaving hospital admission {hadm_id}.",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"], _V_LATER_LAB),
    T("unanswerable.next_lab", [
        "What will patient {subject_id}'s next {label} value be after admission {hadm_id}?",
        "Predict the {label} of patient {subject_id} at the next blood draw following the stay admitted on {admittime}.",
        "What {label} result should we expect for patient {subject_id} next time after hospital admission {hadm_id}?",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"], _V_LATER_LAB),
    T("unanswerable.dose_increase", [
        "Should the {drug} dose of patient {subject_id} have been increased during admission {hadm_id}?",
        "Would it be appropriate to raise patient {subject_id}'s {drug} dose in the stay admitted on {admittime}?",
        "Is a higher dose of {drug} advisable for patient {subject_id} given hospital admission {hadm_id}?",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.drug_reason", [
        "Why was {drug} prescribed to patient {subject_id} during hospital admission {hadm_id}?",
        "What was the indication for patient {subject_id}'s {drug} in the stay admitted on {admittime}?",
        "For what reason did patient {subject_id} receive {drug} during admission {hadm_id}?",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.allergies", [
        "What is patient {subject_id} allergic to?",
        "List the drug allergies of patient {subject_id}.",
        "Which allergies are documented for patient {subject_id}?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.nurse_name", [
        "What is the name of the nurse who administered {medication} to patient {subject_id} during admission {hadm_id}?",
        "Which nurse, by name, gave patient {subject_id} the {medication} in the stay admitted on {admittime}?",
        "Who was the nurse that charted {medication} for patient {subject_id} in hospital admission {hadm_id}? Give the name.",
    ], "SELECT DISTINCT e.subject_id, e.hadm_id, a.admittime, e.medication FROM emar e "
       "JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.medication IS NOT NULL AND e.event_txt = 'Administered'",
        None, [], ["emar", "admissions"]),
    T("unanswerable.readmission_risk", [
        "How likely is patient {subject_id} to be readmitted within 30 days after admission {hadm_id}?",
        "What is the 30-day readmission risk of patient {subject_id} following the stay admitted on {admittime}?",
        "Estimate the chance that patient {subject_id} returns to hospital within a month of admission {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.treatment_advice", [
        "What treatment should patient {subject_id} receive for {title}?",
        "Which therapy would you recommend for patient {subject_id}'s {title}?",
        "How should {title} be managed in patient {subject_id} going forward?",
    ], _U_DX, None, [], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("unanswerable.occupation", [
        "What is the occupation of patient {subject_id}?",
        "Where does patient {subject_id} work?",
        "What job does patient {subject_id} have?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.email", [
        "What is the email address of patient {subject_id}?",
        "Give the e-mail contact of patient {subject_id}.",
        "Which email address is registered for patient {subject_id}?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.policy_number", [
        "What is the insurance policy number of patient {subject_id} for hospital admission {hadm_id}?",
        "Give patient {subject_id}'s insurance member ID used for the stay admitted on {admittime}.",
        "Which policy number billed admission {hadm_id} of patient {subject_id}?",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.religion", [
        "What is the religion of patient {subject_id}?",
        "Which religious affiliation is recorded for patient {subject_id}?",
        "Tell me patient {subject_id}'s religion.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.followup_appointment", [
        "When is patient {subject_id}'s follow-up appointment after hospital admission {hadm_id}?",
        "What date was the clinic follow-up scheduled for patient {subject_id} after the stay admitted on {admittime}?",
        "Give the follow-up visit date arranged for patient {subject_id} at discharge from admission {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.lab_order_reason", [
        "Why did the physician order the {label} test for patient {subject_id} during admission {hadm_id}?",
        "What was the clinical reason for checking patient {subject_id}'s {label} in the stay admitted on {admittime}?",
        "For what purpose was {label} ordered for patient {subject_id} in hospital admission {hadm_id}?",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"]),
    T("unanswerable.smoking", [
        "How many cigarettes per day does patient {subject_id} smoke?",
        "How many pack-years of smoking does patient {subject_id} have?",
        "What is the daily tobacco use of patient {subject_id}?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.symptom_onset", [
        "When did patient {subject_id}'s symptoms begin before hospital admission {hadm_id}?",
        "How many days before the stay admitted on {admittime} did patient {subject_id} first feel unwell?",
        "What was the date of symptom onset for patient {subject_id} leading to admission {hadm_id}?",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.emergency_contact", [
        "Who is the emergency contact of patient {subject_id}?",
        "Give the name of patient {subject_id}'s next of kin.",
        "Whom should we call in an emergency for patient {subject_id}?",
    ], _U_SUBJ, None, [], ["patients"]),
]

TEMPLATES: list[Template] = ANSWERABLE + UNANSWERABLE
TEMPLATES_BY_NAME = {t.name: t for t in TEMPLATES}
assert len(TEMPLATES_BY_NAME) == len(TEMPLATES), "template names must be unique"


# Hold-out: templates and phrasings that appear only in test -------------------------------------

#: share of the answerable and, separately, of the unanswerable templates of a build that appear
#: only in the test split (at least this share: ceil(share * n) of each group).
TEMPLATE_HOLDOUT_SHARE = 0.25
#: phrasings of every template that only test items use (train and dev items use the others).
TEST_ONLY_PHRASINGS = 2


def _stable_rank(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("|".join(("medbench-sql-holdout", *parts)).encode()).hexdigest()


def held_out_templates(templates: list[Template], share: float = TEMPLATE_HOLDOUT_SHARE) -> frozenset[str]:
    """Names of the test-only templates among `templates`: in each group (answerable,
    unanswerable), the ceil(share * n) templates with the smallest sha256 of their name. Depends
    only on the template set, never on the patients, so sharded builds agree."""
    import math

    out: set[str] = set()
    for group in ([t for t in templates if t.answerable], [t for t in templates if not t.answerable]):
        k = math.ceil(share * len(group))
        out.update(sorted((t.name for t in group), key=lambda n: (_stable_rank(n), n))[:k])
    return frozenset(out)


def heldout_phrasings(t: Template, k: int = TEST_ONLY_PHRASINGS) -> tuple[int, ...]:
    """Indices of the phrasings of `t` that only test items use (the k smallest hashes); at least
    one phrasing is always left for train and dev."""
    k = min(k, len(t.phrasings) - 1)
    ranked = sorted(range(len(t.phrasings)), key=lambda i: (_stable_rank(t.name, t.phrasings[i]), i))
    return tuple(sorted(ranked[:k]))
