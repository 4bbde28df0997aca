"""Question templates of the text-to-SQL task: one question family per `Template`.

A template has
- `candidates`: DuckDB SQL over the release database returning one row per possible slot filling,
  with a `subject_id` column and one column per slot. It only looks at the patient's own rows and
  at dictionary tables, so what a patient can be asked never depends on the other patients in a
  build (sharded builds merge to the same bytes). Population templates have no `subject_id`. Candidates also screen out ambiguity a model
  could not resolve (a lab label naming two tests, ties at "first"/"last", text-only results);
- `gold`: the gold SQL, a `str.format` string whose `{slot}` fields receive SQL literals;
- `phrasings`: at least six wordings (`str.format` over the raw slot values); one is chosen
  per item from a hash of the item key (2 are test-only, see the hold-out below);
- tags (issue 11): `scope` "patient" (one patient, named in every phrasing) or "population"
  (counts, averages and rankings over all of the release's patients: no `subject_id` slot, the
  candidates and gold read the whole release database, see build.py); `relative_time` (a window
  anchored on an event: "in the last 24 hours of the stay", "within 2 days of admission", "since
  <date>"); `multi_admission` (the answer spans or compares a patient's admissions);
- `tables`: the tables the gold SQL reads; `requires`: tables that must exist for the template to
  apply (e.g. vital signs only when the store has chartevents).

Unanswerable templates (`gold=None`) ask, about the same patients (or the population) and in the
same voice, for data the schema does not hold (blood type, names, addresses, home medications,
income, data "now" after discharge, the next admission) or for clinical judgement (should a dose
be increased?); the ones whose data could exist carry a `verify` query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILIES = (
    "demographics", "admissions", "transfers", "diagnoses", "procedures", "labs", "prescriptions",
    "emar", "microbiology", "icu", "vitals", "drg", "omr", "unanswerable",
)


SCOPES = ("patient", "population")
#: every template has at least this many wordings (TEST_ONLY_PHRASINGS of them test-only)
MIN_PHRASINGS = 6


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
    #: "patient" (about one patient, named in the question) or "population" (counts, averages,
    #: rankings over all of the release's patients; no subject_id slot; see build.py)
    scope: str = "patient"
    #: a time window anchored on an event of the record ("in the last 24 hours of the stay",
    #: "within 2 days of admission", "since <date>")
    relative_time: bool = False
    #: the answer spans several of a patient's admissions (or compares them)
    multi_admission: bool = False

    @property
    def answerable(self) -> bool:
        return self.gold is not None


def _one_line(sql: str) -> str:
    # Templates hold no string literals with runs of spaces, so collapsing whitespace is safe here
    # (slot values such as 'Sodium Chloride 0.9%  Flush' are inserted later, untouched).
    return " ".join(sql.split())


def T(name: str, phrasings: list[str], candidates: str, gold: str | None, tables: list[str],
      requires: list[str] | None = None, verify: str | None = None, *, scope: str = "patient",
      rel: bool = False, multi: bool = False) -> Template:
    family = "unanswerable" if gold is None else name.split(".")[0]
    assert family in FAMILIES, name
    assert len(phrasings) >= MIN_PHRASINGS and len(set(phrasings)) == len(phrasings), name
    assert scope in SCOPES, name
    need = tuple(requires if requires is not None else tables)
    if gold is not None:
        # Also filter by patient wherever an admission is: release tables are stored sorted by
        # subject_id, so DuckDB skips every row group of other patients (build and scoring stay
        # linear in the number of patients instead of quadratic).
        gold = _ADMISSION_FILTER.sub(r"\1subject_id = {subject_id} AND \1hadm_id = {hadm_id}", _one_line(gold))
    assert verify is None or gold is None, name
    return Template(name, family, tuple(phrasings), _one_line(candidates), gold, tuple(tables), need,
                    _one_line(verify) if verify else None, scope, rel, multi)


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
        "Patient {subject_id}: what gender does the record list?",
        "Tell me whether patient {subject_id} is a man or a woman according to the database.",
        "What is the documented sex of the patient with id {subject_id}?",
    ], "SELECT subject_id FROM patients WHERE gender IS NOT NULL",
        "SELECT gender FROM patients WHERE subject_id = {subject_id}", ["patients"]),
    T("demographics.age_at_admission", [
        "How old was patient {subject_id} at the time of hospital admission {hadm_id}?",
        "What was the age of patient {subject_id} when admitted to the hospital on {admittime}?",
        "Give the age in years of patient {subject_id} at admission {hadm_id}.",
        "Patient {subject_id} was admitted on {admittime}; how old were they then?",
        "Age of patient {subject_id} (in years) when hospital stay {hadm_id} started?",
        "At the start of hospitalisation {hadm_id}, what age had patient {subject_id} reached?",
    ], f"{ADM} JOIN patients USING (subject_id)",
        "SELECT patients.anchor_age + (year(admissions.admittime) - patients.anchor_year) "
        "FROM patients JOIN admissions ON patients.subject_id = admissions.subject_id "
        "WHERE admissions.hadm_id = {hadm_id}", ["patients", "admissions"]),
    T("demographics.insurance", [
        "What insurance did patient {subject_id} have during hospital admission {hadm_id}?",
        "Which insurance was recorded for patient {subject_id} at the admission on {admittime}?",
        "Tell me the insurance type of patient {subject_id} for admission {hadm_id}.",
        "Which payer covered patient {subject_id}'s hospital stay {hadm_id}?",
        "For the admission of patient {subject_id} on {admittime}, what was the insurance category?",
        "Patient {subject_id}, admission {hadm_id}: what kind of insurance is on file?",
    ], f"{ADM} WHERE insurance IS NOT NULL",
        "SELECT insurance FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.language", [
        "What language does patient {subject_id} speak, as recorded at admission {hadm_id}?",
        "Which language was documented for patient {subject_id} when admitted on {admittime}?",
        "Patient {subject_id}'s recorded language during hospital stay {hadm_id}?",
        "In which language did patient {subject_id} communicate during hospital stay {hadm_id}?",
        "For the admission on {admittime}, what is patient {subject_id}'s preferred language?",
        "Which spoken language is on record for patient {subject_id} in admission {hadm_id}?",
    ], f"{ADM} WHERE language IS NOT NULL",
        "SELECT language FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.marital_status", [
        "What was the marital status of patient {subject_id} at hospital admission {hadm_id}?",
        "Was patient {subject_id} married, single, widowed or divorced when admitted on {admittime}?",
        "Which marital status is recorded for patient {subject_id} in admission {hadm_id}?",
        "Patient {subject_id}, hospital stay {hadm_id}: marital status on record?",
        "What did the admission on {admittime} record as patient {subject_id}'s marital status?",
        "Tell me if patient {subject_id} was married at the time of admission {hadm_id}.",
    ], f"{ADM} WHERE marital_status IS NOT NULL",
        "SELECT marital_status FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.race", [
        "What race was recorded for patient {subject_id} during admission {hadm_id}?",
        "Which race or ethnicity is documented for patient {subject_id} at the admission on {admittime}?",
        "Tell me the recorded race of patient {subject_id} for hospital stay {hadm_id}.",
        "Patient {subject_id}'s race as documented at the admission on {admittime}?",
        "Which racial group was patient {subject_id} recorded under for admission {hadm_id}?",
        "For hospitalisation {hadm_id}, what race is listed for patient {subject_id}?",
    ], f"{ADM} WHERE race IS NOT NULL",
        "SELECT race FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("demographics.date_of_death", [
        "On what date did patient {subject_id} die?",
        "When is the date of death of patient {subject_id}?",
        "What is the recorded date of death for patient {subject_id}?",
        "Give the day patient {subject_id} passed away.",
        "Patient {subject_id} died; on which date?",
        "Which date of death does the database hold for patient {subject_id}?",
    ], "SELECT subject_id FROM patients WHERE dod IS NOT NULL",
        "SELECT dod FROM patients WHERE subject_id = {subject_id}", ["patients"]),
    T("demographics.died_in_hospital", [
        "Did patient {subject_id} die in the hospital during admission {hadm_id}?",
        "Was patient {subject_id}'s hospital stay that began on {admittime} ended by in-hospital death?",
        "Did hospital admission {hadm_id} of patient {subject_id} end with the patient's death?",
        "Was patient {subject_id} discharged alive from hospital admission {hadm_id}?",
        "Did the stay of patient {subject_id} admitted on {admittime} end in death in hospital?",
        "For admission {hadm_id}, is patient {subject_id} flagged as having expired in hospital?",
    ], f"{ADM} WHERE hospital_expire_flag IS NOT NULL",
        "SELECT hospital_expire_flag FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    # admissions and stays
    T("admissions.count", [
        "How many times has patient {subject_id} been admitted to the hospital?",
        "Count the hospital admissions of patient {subject_id}.",
        "What is the number of hospital stays recorded for patient {subject_id}?",
        "How many hospital admissions does patient {subject_id} have in total?",
        "Patient {subject_id}: number of inpatient admissions on record?",
        "Tell me the total count of hospital stays for patient {subject_id}.",
    ], "SELECT DISTINCT subject_id FROM admissions",
        "SELECT count(*) FROM admissions WHERE subject_id = {subject_id}", ["admissions"], multi=True),
    T("admissions.length_of_stay", [
        "How many days did hospital admission {hadm_id} of patient {subject_id} last?",
        "What was the length of stay, in days, of patient {subject_id}'s admission on {admittime}?",
        "For patient {subject_id}, how long in days was hospital stay {hadm_id} from admission to discharge?",
        "Patient {subject_id} was admitted on {admittime}; how many days later were they discharged?",
        "Length of hospital stay {hadm_id} for patient {subject_id}, in days?",
        "Compute the duration in days of patient {subject_id}'s hospitalisation {hadm_id}.",
    ], f"{ADM} WHERE dischtime IS NOT NULL",
        "SELECT date_diff('second', admittime, dischtime) / 86400.0 FROM admissions "
        "WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.admission_type", [
        "What type of admission was hospital stay {hadm_id} of patient {subject_id}?",
        "Which admission type was recorded for patient {subject_id} when admitted on {admittime}?",
        "Tell me the admission type of patient {subject_id}'s admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: what was the admission type?",
        "How was the admission of patient {subject_id} on {admittime} classified (admission type)?",
        "What kind of admission (e.g. emergency, elective) was stay {hadm_id} for patient {subject_id}?",
    ], f"{ADM} WHERE admission_type IS NOT NULL",
        "SELECT admission_type FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.admission_location", [
        "Where was patient {subject_id} admitted from for hospital admission {hadm_id}?",
        "What was the admission location of patient {subject_id} for the stay that began on {admittime}?",
        "From which location did patient {subject_id} arrive for admission {hadm_id}?",
        "Patient {subject_id} came into hospital on {admittime}; from which admission location?",
        "Which admission location is recorded for hospital stay {hadm_id} of patient {subject_id}?",
        "Where did patient {subject_id} come from before hospital admission {hadm_id}?",
    ], f"{ADM} WHERE admission_location IS NOT NULL",
        "SELECT admission_location FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.discharge_location", [
        "Where was patient {subject_id} discharged to after hospital admission {hadm_id}?",
        "What was the discharge location of patient {subject_id}'s stay that began on {admittime}?",
        "To which location did patient {subject_id} go at the end of admission {hadm_id}?",
        "After the stay admitted on {admittime}, where did patient {subject_id} go?",
        "Which discharge destination is recorded for patient {subject_id}'s admission {hadm_id}?",
        "Patient {subject_id}, hospital stay {hadm_id}: discharge location?",
    ], f"{ADM} WHERE discharge_location IS NOT NULL",
        "SELECT discharge_location FROM admissions WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.first_admission_time", [
        "When was patient {subject_id} first admitted to the hospital?",
        "What is the admission time of patient {subject_id}'s first hospital stay?",
        "Give the date and time of the earliest hospital admission of patient {subject_id}.",
        "What was the date of patient {subject_id}'s very first hospital admission?",
        "Patient {subject_id}: when did the earliest recorded admission start?",
        "Tell me the admittime of the first hospitalisation of patient {subject_id}.",
    ], "SELECT DISTINCT subject_id FROM admissions",
        "SELECT min(admittime) FROM admissions WHERE subject_id = {subject_id}", ["admissions"], multi=True),
    T("admissions.count_since", [
        "How many hospital admissions has patient {subject_id} had since {since}?",
        "Count patient {subject_id}'s admissions to the hospital from {since} onwards.",
        "Since {since}, how many times was patient {subject_id} admitted?",
        "Patient {subject_id}: number of hospital admissions on or after {since}?",
        "Starting from {since}, how many hospital stays does patient {subject_id} have?",
        "How many times has patient {subject_id} been hospitalised from {since} on?",
    ], "SELECT subject_id, CAST(admittime AS DATE) AS since FROM admissions",
        "SELECT count(*) FROM admissions WHERE subject_id = {subject_id} AND admittime >= {since}",
        ["admissions"], rel=True, multi=True),
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
        "FROM admissions a WHERE a.hadm_id = {hadm_id}", ["admissions"], rel=True, multi=True),
    T("admissions.ed_hours", [
        "How many hours did patient {subject_id} spend in the emergency department before admission {hadm_id}?",
        "For the hospital stay of patient {subject_id} that began on {admittime}, how long in hours was the ED stay?",
        "What was the emergency department length of stay in hours of patient {subject_id} for admission {hadm_id}?",
        "Patient {subject_id} was admitted on {admittime}; how many hours were spent in the ED first?",
        "Emergency department time in hours for patient {subject_id} before hospital stay {hadm_id}?",
        "Compute the hours between ED registration and ED departure of patient {subject_id} for admission {hadm_id}.",
    ], f"{ADM} WHERE edregtime IS NOT NULL AND edouttime IS NOT NULL",
        "SELECT date_diff('second', edregtime, edouttime) / 3600.0 FROM admissions "
        "WHERE hadm_id = {hadm_id}", ["admissions"]),
    T("admissions.services", [
        "Which clinical services cared for patient {subject_id} during hospital admission {hadm_id}?",
        "List the services patient {subject_id} was under during the stay admitted on {admittime}.",
        "Under which hospital services was patient {subject_id} treated in admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: which services were they under?",
        "What services was patient {subject_id} assigned to during the hospitalisation that began on {admittime}?",
        "Name every clinical service that patient {subject_id} was transferred to in hospital stay {hadm_id}.",
    ], "SELECT DISTINCT s.subject_id, s.hadm_id, a.admittime FROM services s "
       "JOIN admissions a ON s.hadm_id = a.hadm_id WHERE s.curr_service IS NOT NULL",
        "SELECT DISTINCT curr_service FROM services WHERE hadm_id = {hadm_id}", ["services"],
        ["services", "admissions"]),
    # transfers and care units
    T("transfers.careunits", [
        "Which care units did patient {subject_id} stay in during hospital admission {hadm_id}?",
        "List the care units patient {subject_id} passed through during the admission on {admittime}.",
        "In what hospital units was patient {subject_id} cared for during stay {hadm_id}?",
        "Patient {subject_id}, hospital stay {hadm_id}: which units did they pass through?",
        "What wards or units was patient {subject_id} in during the admission that began on {admittime}?",
        "Name all care units recorded in the transfers of patient {subject_id} for admission {hadm_id}.",
    ], "SELECT DISTINCT t.subject_id, t.hadm_id, a.admittime FROM transfers t "
       "JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL",
        "SELECT DISTINCT careunit FROM transfers WHERE hadm_id = {hadm_id} AND careunit IS NOT NULL",
        ["transfers"], ["transfers", "admissions"]),
    T("transfers.first_careunit", [
        "What was the first care unit patient {subject_id} was placed in during admission {hadm_id}?",
        "In which unit did patient {subject_id} start the hospital stay that began on {admittime}?",
        "Name the earliest care unit recorded for patient {subject_id} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: which care unit came first?",
        "Where was patient {subject_id} first placed after the admission on {admittime}?",
        "Which unit did patient {subject_id} go to first in hospital stay {hadm_id}?",
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
        "Patient {subject_id}, admission {hadm_id}: number of transfers into {careunit}?",
        "How often was patient {subject_id} moved to {careunit} in the stay that began on {admittime}?",
        "In hospital stay {hadm_id}, how many {careunit} transfer records does patient {subject_id} have?",
    ], "SELECT DISTINCT t.subject_id, t.hadm_id, a.admittime, t.careunit FROM transfers t "
       "JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL",
        "SELECT count(*) FROM transfers WHERE hadm_id = {hadm_id} AND careunit = {careunit}",
        ["transfers"], ["transfers", "admissions"]),
    T("transfers.hours_in_unit", [
        "How many hours in total did patient {subject_id} spend in {careunit} during admission {hadm_id}?",
        "What was the total time in hours of patient {subject_id} in the {careunit} unit during the stay admitted on {admittime}?",
        "For hospital admission {hadm_id} of patient {subject_id}, how long in hours was the patient in {careunit}?",
        "Total hours spent by patient {subject_id} in {careunit} during hospital stay {hadm_id}?",
        "Patient {subject_id} was admitted on {admittime}; how many hours did they spend in {careunit} altogether?",
        "Sum the time in hours patient {subject_id} was in {careunit} for admission {hadm_id}.",
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
        "Patient {subject_id}, admission {hadm_id}: what are the recorded diagnoses?",
        "Name all diagnoses coded for patient {subject_id} in the hospitalisation that began on {admittime}.",
        "Give every diagnosis title recorded for hospital stay {hadm_id} of patient {subject_id}.",
    ], f"""SELECT DISTINCT diagnoses_icd.subject_id, diagnoses_icd.hadm_id, a.admittime FROM {DX_JOIN}
           JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id""",
        f"SELECT DISTINCT d_icd_diagnoses.long_title FROM {DX_JOIN} "
        "WHERE diagnoses_icd.hadm_id = {hadm_id}", ["diagnoses_icd", "d_icd_diagnoses"],
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    T("diagnoses.primary", [
        "What was the primary diagnosis of patient {subject_id} in hospital admission {hadm_id}?",
        "Which diagnosis was listed first for patient {subject_id} during the stay admitted on {admittime}?",
        "Name the principal diagnosis recorded for patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: what is the first-listed diagnosis?",
        "What was patient {subject_id} mainly admitted for in the stay that began on {admittime} (principal diagnosis)?",
        "Give the diagnosis with sequence number 1 for patient {subject_id}'s hospital stay {hadm_id}.",
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
        "Patient {subject_id}: number of admissions coded with {title}?",
        "How often has {title} been diagnosed in patient {subject_id}'s hospitalisations?",
        "In how many of patient {subject_id}'s stays does the diagnosis {title} appear?",
    ], f"""SELECT diagnoses_icd.subject_id, d_icd_diagnoses.long_title AS title FROM {DX_JOIN}
           GROUP BY ALL""",
        f"SELECT count(DISTINCT diagnoses_icd.hadm_id) FROM {DX_JOIN} "
        "WHERE diagnoses_icd.subject_id = {subject_id} AND d_icd_diagnoses.long_title = {title}",
        ["diagnoses_icd", "d_icd_diagnoses"], multi=True),
    T("diagnoses.title_by_code", [
        "What does the diagnosis code {icd_code} (ICD-{icd_version}) recorded for patient {subject_id} stand for?",
        "Patient {subject_id} has ICD-{icd_version} diagnosis code {icd_code}; what is its description?",
        "Give the long title of the ICD-{icd_version} diagnosis code {icd_code} found in patient {subject_id}'s record.",
        "Patient {subject_id}'s record lists ICD-{icd_version} code {icd_code}: which diagnosis is that?",
        "What diagnosis does ICD-{icd_version} code {icd_code}, found for patient {subject_id}, mean?",
        "Translate the ICD-{icd_version} diagnosis code {icd_code} of patient {subject_id} into its title.",
    ], f"""SELECT DISTINCT diagnoses_icd.subject_id, diagnoses_icd.icd_code, diagnoses_icd.icd_version
           FROM {DX_JOIN}""",
        "SELECT long_title FROM d_icd_diagnoses WHERE icd_code = {icd_code} AND icd_version = {icd_version}",
        ["d_icd_diagnoses"], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("diagnoses.icd_version", [
        "Which ICD version was used to code the diagnoses of patient {subject_id} in admission {hadm_id}?",
        "Were the diagnoses of patient {subject_id}'s stay admitted on {admittime} coded in ICD-9 or ICD-10?",
        "What ICD version are the diagnosis codes of hospital admission {hadm_id} (patient {subject_id})?",
        "Patient {subject_id}, admission {hadm_id}: ICD-9 or ICD-10 diagnosis codes?",
        "Which ICD revision do the diagnosis codes of patient {subject_id}'s stay admitted on {admittime} use?",
        "Tell me the ICD version of the diagnoses coded for hospital stay {hadm_id} of patient {subject_id}.",
    ], f"{ADM} WHERE hadm_id IN (SELECT hadm_id FROM diagnoses_icd)",
        "SELECT DISTINCT icd_version FROM diagnoses_icd WHERE hadm_id = {hadm_id}", ["diagnoses_icd"],
        ["diagnoses_icd", "admissions"]),
    T("diagnoses.first_time", [
        "When was patient {subject_id} first admitted with a diagnosis of {title}? Give the admission time.",
        "What is the admission time of the first hospital stay in which patient {subject_id} was diagnosed with {title}?",
        "At which admission time was {title} first recorded as a diagnosis for patient {subject_id}?",
        "Patient {subject_id}: admission time of the earliest stay coded with {title}?",
        "When did patient {subject_id} first have a hospital admission with the diagnosis {title}?",
        "Give the admittime of patient {subject_id}'s first admission where {title} was diagnosed.",
    ], f"""SELECT diagnoses_icd.subject_id, d_icd_diagnoses.long_title AS title FROM {DX_JOIN}
           GROUP BY ALL""",
        f"SELECT min(admissions.admittime) FROM {DX_JOIN} JOIN admissions ON "
        "diagnoses_icd.hadm_id = admissions.hadm_id WHERE diagnoses_icd.subject_id = {subject_id} "
        "AND d_icd_diagnoses.long_title = {title}",
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"], multi=True),
    T("diagnoses.code_by_title", [
        "What is the ICD code of the diagnosis {title} recorded for patient {subject_id} in admission {hadm_id}?",
        "Which diagnosis code was used for {title} in patient {subject_id}'s stay admitted on {admittime}?",
        "Give the ICD code under which {title} was coded for patient {subject_id} during hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: which ICD code stands for {title}?",
        "Under which code was {title} recorded for patient {subject_id} in the admission of {admittime}?",
        "What code was entered for the diagnosis {title} of patient {subject_id} in hospital stay {hadm_id}?",
    ], DX_TITLES,
        f"SELECT DISTINCT diagnoses_icd.icd_code FROM {DX_JOIN} WHERE diagnoses_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_diagnoses.long_title = {title}", ["diagnoses_icd", "d_icd_diagnoses"],
        ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    # procedures
    T("procedures.list", [
        "Which procedures did patient {subject_id} undergo during hospital admission {hadm_id}?",
        "List the procedures recorded for patient {subject_id} in the stay admitted on {admittime}.",
        "What procedures were performed on patient {subject_id} during admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: what procedures were coded?",
        "Name the procedures patient {subject_id} had during the hospitalisation that began on {admittime}.",
        "Give every procedure title recorded for hospital stay {hadm_id} of patient {subject_id}.",
    ], f"""SELECT DISTINCT procedures_icd.subject_id, procedures_icd.hadm_id, a.admittime FROM {PX_JOIN}
           JOIN admissions a ON procedures_icd.hadm_id = a.hadm_id""",
        f"SELECT DISTINCT d_icd_procedures.long_title FROM {PX_JOIN} "
        "WHERE procedures_icd.hadm_id = {hadm_id}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.date_by_title", [
        "On what date did patient {subject_id} first undergo {title} during admission {hadm_id}?",
        "When was {title} first performed on patient {subject_id} during the stay admitted on {admittime}?",
        "Give the date of the first {title} procedure of patient {subject_id} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: date of the first {title}?",
        "On which day of the stay admitted on {admittime} did patient {subject_id} first have {title}?",
        "What is the earliest chart date of {title} for patient {subject_id} in hospital stay {hadm_id}?",
    ], PX_TITLES,
        f"SELECT min(procedures_icd.chartdate) FROM {PX_JOIN} WHERE procedures_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_procedures.long_title = {title}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.count", [
        "How many procedures were recorded for patient {subject_id} during hospital admission {hadm_id}?",
        "Count the procedure codes of patient {subject_id} for the stay admitted on {admittime}.",
        "What is the number of procedures patient {subject_id} had in admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: how many procedure codes?",
        "How many procedures did patient {subject_id} have during the hospitalisation that began on {admittime}?",
        "Give the count of ICD procedures coded for hospital stay {hadm_id} of patient {subject_id}.",
    ], "SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime FROM procedures_icd p "
       "JOIN admissions a ON p.hadm_id = a.hadm_id",
        "SELECT count(*) FROM procedures_icd WHERE hadm_id = {hadm_id}", ["procedures_icd"],
        ["procedures_icd", "admissions"]),
    T("procedures.code_by_title", [
        "What is the ICD code of the procedure {title} performed on patient {subject_id} in admission {hadm_id}?",
        "Which procedure code was recorded for {title} in patient {subject_id}'s stay admitted on {admittime}?",
        "Give the ICD procedure code of {title} for patient {subject_id} during hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: what code was used for the procedure {title}?",
        "Under which ICD code was {title} recorded for patient {subject_id} in the admission of {admittime}?",
        "Tell me the procedure code entered for {title} in hospital stay {hadm_id} of patient {subject_id}.",
    ], PX_TITLES,
        f"SELECT DISTINCT procedures_icd.icd_code FROM {PX_JOIN} WHERE procedures_icd.hadm_id = {{hadm_id}} "
        "AND d_icd_procedures.long_title = {title}", ["procedures_icd", "d_icd_procedures"],
        ["procedures_icd", "d_icd_procedures", "admissions"]),
    T("procedures.title_by_code", [
        "What procedure does the code {icd_code} (ICD-{icd_version}) in patient {subject_id}'s record describe?",
        "Patient {subject_id} has ICD-{icd_version} procedure code {icd_code}; what is its description?",
        "Give the long title of the ICD-{icd_version} procedure code {icd_code} recorded for patient {subject_id}.",
        "Patient {subject_id}'s record lists ICD-{icd_version} procedure code {icd_code}: which procedure is that?",
        "What procedure does ICD-{icd_version} code {icd_code} of patient {subject_id} refer to?",
        "Translate the ICD-{icd_version} procedure code {icd_code} of patient {subject_id} into its title.",
    ], f"""SELECT DISTINCT procedures_icd.subject_id, procedures_icd.icd_code, procedures_icd.icd_version
           FROM {PX_JOIN}""",
        "SELECT long_title FROM d_icd_procedures WHERE icd_code = {icd_code} AND icd_version = {icd_version}",
        ["d_icd_procedures"], ["procedures_icd", "d_icd_procedures"]),
    # labs
    T("labs.last_value", [
        "What was the last {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was patient {subject_id}'s most recent {label} result?",
        "Give the final {label} measurement of patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: final {label} result?",
        "What {label} did patient {subject_id} have at the last draw of the hospitalisation that began on {admittime}?",
        "Tell me the latest {label} value recorded for patient {subject_id} during hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_t1 = 1",
        f"SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime DESC LIMIT 1",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.first_value", [
        "What was the first {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "In the stay admitted on {admittime}, what was patient {subject_id}'s first {label} result?",
        "Give the earliest {label} measurement of patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: first {label} result?",
        "What was the initial {label} of patient {subject_id} after the admission on {admittime}?",
        "Tell me the {label} value from patient {subject_id}'s first draw in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_t0 = 1",
        f"SELECT labevents.valuenum FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} ORDER BY labevents.charttime LIMIT 1",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    T("labs.max_value", [
        "What was the highest {label} value of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was the maximum {label} of patient {subject_id}?",
        "Give the peak {label} result of patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: highest {label}?",
        "How high did patient {subject_id}'s {label} get during the hospitalisation that began on {admittime}?",
        "Tell me the maximum {label} result of patient {subject_id} over hospital stay {hadm_id}.",
    ], LAB_STATS,
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.min_value_ever", [
        "What is the lowest {label} value ever recorded for patient {subject_id}?",
        "Across all of patient {subject_id}'s results, what was the minimum {label}?",
        "Give the smallest {label} measurement on record for patient {subject_id}.",
        "Patient {subject_id}: lowest {label} on record across all results?",
        "How low has patient {subject_id}'s {label} ever been?",
        "Tell me the minimum {label} value among all lab results of patient {subject_id}.",
    ], LAB_SUBJECT,
        f"SELECT min(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.subject_id = {{subject_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"], multi=True),
    T("labs.mean_value", [
        "What was the average {label} of patient {subject_id} during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was patient {subject_id}'s mean {label} value?",
        "Compute the mean {label} result of patient {subject_id} over admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: mean {label}?",
        "On average, what was patient {subject_id}'s {label} in the hospitalisation that began on {admittime}?",
        "Average all {label} results of patient {subject_id} during hospital stay {hadm_id}.",
    ], LAB_STATS,
        f"SELECT avg(labevents.valuenum) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.count", [
        "How many times was {label} measured for patient {subject_id} during hospital admission {hadm_id}?",
        "Count the {label} results of patient {subject_id} in the stay admitted on {admittime}.",
        "What is the number of {label} tests patient {subject_id} had in admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: number of {label} results?",
        "How often was {label} drawn for patient {subject_id} during the hospitalisation that began on {admittime}?",
        "Tell me how many {label} values patient {subject_id} has in hospital stay {hadm_id}.",
    ], LAB_STATS,
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.last_higher_than_first", [
        "Was the last {label} of patient {subject_id} during admission {hadm_id} higher than the first?",
        "During the stay admitted on {admittime}, did patient {subject_id}'s {label} end higher than it started?",
        "Comparing the first and last {label} results of patient {subject_id} in hospital admission {hadm_id}, was the last one greater?",
        "Patient {subject_id}, admission {hadm_id}: was the final {label} above the initial one?",
        "Did patient {subject_id}'s {label} rise between the first and the last draw of the hospitalisation that began on {admittime}?",
        "Is the last {label} of patient {subject_id} in hospital stay {hadm_id} greater than the first {label}?",
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
        "Patient {subject_id}, admission {hadm_id}: last {label} minus first {label}?",
        "How much did patient {subject_id}'s {label} go up or down over the hospitalisation that began on {admittime}?",
        "Give the change in {label} of patient {subject_id} between the first and final draws of hospital stay {hadm_id}.",
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
        "Patient {subject_id}, admission {hadm_id}: number of abnormal {label} results?",
        "How many {label} values of patient {subject_id} carried an abnormal flag in the hospitalisation that began on {admittime}?",
        "Tell me the count of abnormal-flagged {label} tests of patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_abn > 0",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} AND labevents.flag = 'abnormal'", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.abnormal_first_24h", [
        "Which lab tests of patient {subject_id} were flagged abnormal in the first 24 hours of admission {hadm_id}?",
        "List the abnormal lab results (test names) of patient {subject_id} within 24 hours of the admission on {admittime}.",
        "In the first day after hospital admission {hadm_id}, which labs of patient {subject_id} came back abnormal?",
        "Patient {subject_id}, admission {hadm_id}: which tests were abnormal on the first day?",
        "Within a day of being admitted on {admittime}, which lab tests of patient {subject_id} were flagged abnormal?",
        "Name the labs with an abnormal flag for patient {subject_id} during the first 24 hours of hospital stay {hadm_id}.",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM labevents e
          JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.flag = 'abnormal'
          AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        f"SELECT DISTINCT d_labitems.label FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND labevents.flag = 'abnormal' AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 24 HOUR", ["labevents", "d_labitems", "admissions"], rel=True),
    T("labs.max_first_24h", [
        "What was the highest {label} of patient {subject_id} within the first 24 hours of admission {hadm_id}?",
        "In the first day of the stay admitted on {admittime}, what was patient {subject_id}'s maximum {label}?",
        "Give the peak {label} of patient {subject_id} during the first 24 hours after hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: highest {label} in the first 24 hours?",
        "Within a day of being admitted on {admittime}, how high did patient {subject_id}'s {label} get?",
        "Tell me the maximum {label} of patient {subject_id} in the 24 hours after the start of hospital stay {hadm_id}.",
    ], f"""SELECT DISTINCT s.subject_id, s.hadm_id, s.admittime, s.label FROM ({LAB_STATS}) s
           JOIN {LAB_JOIN} ON labevents.hadm_id = s.hadm_id AND d_labitems.label = s.label
           WHERE labevents.charttime BETWEEN s.admittime AND s.admittime + INTERVAL 24 HOUR""",
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 24 HOUR", ["labevents", "d_labitems", "admissions"], rel=True),
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
        "- INTERVAL 24 HOUR AND admissions.dischtime", ["labevents", "d_labitems", "admissions"], rel=True),
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
        ["labevents", "d_labitems", "admissions"], rel=True),
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
        ["prescriptions", "admissions"], rel=True),
    T("labs.count_since", [
        "How many {label} tests has patient {subject_id} had since {since}?",
        "Since {since}, how many times was {label} measured for patient {subject_id}?",
        "Count patient {subject_id}'s {label} results from {since} onwards.",
        "Patient {subject_id}: number of {label} results on or after {since}?",
        "Starting from {since}, how often was patient {subject_id}'s {label} checked?",
        "How many {label} values does patient {subject_id} have dated {since} or later?",
    ], f"""SELECT DISTINCT e.subject_id, d.label, CAST(e.charttime AS DATE) AS since
           FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
           JOIN ({LAB_SUBJECT}) u ON u.subject_id = e.subject_id AND u.label = d.label
           WHERE e.charttime IS NOT NULL""",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.subject_id = {{subject_id}} "
        "AND d_labitems.label = {label} AND labevents.charttime >= {since}",
        ["labevents", "d_labitems"], rel=True, multi=True),
    T("labs.last_time", [
        "When was {label} last measured for patient {subject_id} during hospital admission {hadm_id}?",
        "At what time was patient {subject_id}'s final {label} drawn during the stay admitted on {admittime}?",
        "Give the time of the most recent {label} test of patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: time of the last {label}?",
        "When was the final {label} of the hospitalisation that began on {admittime} drawn for patient {subject_id}?",
        "Tell me the chart time of patient {subject_id}'s latest {label} in hospital stay {hadm_id}.",
    ], LAB_STATS,
        f"SELECT max(labevents.charttime) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"],
        ["labevents", "d_labitems", "admissions"]),
    T("labs.above_reference", [
        "How many {label} values of patient {subject_id} were above the upper reference limit during admission {hadm_id}?",
        "During the stay admitted on {admittime}, how often was patient {subject_id}'s {label} above its reference range?",
        "Count the {label} results of patient {subject_id} exceeding the upper limit of normal in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: how many {label} results were above the reference range?",
        "How many times did patient {subject_id}'s {label} exceed its upper reference limit in the hospitalisation that began on {admittime}?",
        "Tell me the number of {label} values of patient {subject_id} above normal in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({LAB_STATS}) WHERE n_high > 0",
        f"SELECT count(*) FROM {LAB_JOIN} WHERE labevents.hadm_id = {{hadm_id}} "
        "AND d_labitems.label = {label} AND labevents.valuenum > labevents.ref_range_upper",
        ["labevents", "d_labitems"], ["labevents", "d_labitems", "admissions"]),
    # prescriptions and routes
    T("prescriptions.first_24h", [
        "Which drugs were started for patient {subject_id} within the first 24 hours of admission {hadm_id}?",
        "List the medications prescribed to patient {subject_id} in the first day of the stay admitted on {admittime}.",
        "What did patient {subject_id} get prescribed during the first 24 hours after hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: drugs started on the first day?",
        "Within a day of being admitted on {admittime}, which drugs were prescribed for patient {subject_id}?",
        "Name the prescriptions started in the first 24 hours of hospital stay {hadm_id} of patient {subject_id}.",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM prescriptions p
          JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.drug IS NOT NULL
          AND p.starttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT DISTINCT prescriptions.drug FROM prescriptions JOIN admissions ON "
        "prescriptions.hadm_id = admissions.hadm_id WHERE prescriptions.hadm_id = {hadm_id} "
        "AND prescriptions.starttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR",
        ["prescriptions", "admissions"], rel=True),
    T("prescriptions.route", [
        "By which route was {drug} given to patient {subject_id} during hospital admission {hadm_id}?",
        "What administration route was prescribed for {drug} for patient {subject_id} in the stay admitted on {admittime}?",
        "How was {drug} administered to patient {subject_id} in admission {hadm_id} (route)?",
        "Patient {subject_id}, admission {hadm_id}: route of {drug}?",
        "Through which route did patient {subject_id} get {drug} during the hospitalisation that began on {admittime}?",
        "Tell me the route of administration recorded for {drug} of patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({RX}) WHERE n_route >= 1",
        "SELECT DISTINCT route FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug} "
        "AND route IS NOT NULL", ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.first_dose", [
        "What dose of {drug} was first prescribed to patient {subject_id} during admission {hadm_id}? Give value and unit.",
        "In the stay admitted on {admittime}, what was the dose (value and unit) of patient {subject_id}'s first {drug} prescription?",
        "Give the dose and dose unit of the first {drug} order of patient {subject_id} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: dose and unit of the first {drug} order?",
        "What was the starting dose of {drug} for patient {subject_id} in the hospitalisation that began on {admittime} (value and unit)?",
        "Tell me the initial prescribed dose of {drug}, with its unit, for patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({RX}) WHERE n_t0 = 1",
        "SELECT dose_val_rx, dose_unit_rx FROM prescriptions WHERE hadm_id = {hadm_id} "
        "AND drug = {drug} ORDER BY starttime LIMIT 1", ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.first_start", [
        "When was {drug} first started for patient {subject_id} during hospital admission {hadm_id}?",
        "What is the start time of patient {subject_id}'s first {drug} prescription in the stay admitted on {admittime}?",
        "Give the earliest start time of {drug} for patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: start time of the first {drug}?",
        "When did patient {subject_id} first get {drug} prescribed in the hospitalisation that began on {admittime}?",
        "Tell me when {drug} was first ordered for patient {subject_id} in hospital stay {hadm_id}.",
    ], RX,
        "SELECT min(starttime) FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.count", [
        "How many times was {drug} prescribed to patient {subject_id} during hospital admission {hadm_id}?",
        "Count the {drug} prescriptions of patient {subject_id} in the stay admitted on {admittime}.",
        "What is the number of {drug} orders for patient {subject_id} in admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: number of {drug} prescriptions?",
        "How often was {drug} ordered for patient {subject_id} during the hospitalisation that began on {admittime}?",
        "Tell me how many prescriptions of {drug} patient {subject_id} has in hospital stay {hadm_id}.",
    ], RX,
        "SELECT count(*) FROM prescriptions WHERE hadm_id = {hadm_id} AND drug = {drug}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.by_route", [
        "Which drugs were prescribed to patient {subject_id} by the {route} route during admission {hadm_id}?",
        "List the {route} medications of patient {subject_id} in the stay admitted on {admittime}.",
        "What did patient {subject_id} receive via route {route} during hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: drugs given by the {route} route?",
        "Which prescriptions of patient {subject_id} in the hospitalisation that began on {admittime} had route {route}?",
        "Name the {route} drugs prescribed for patient {subject_id} in hospital stay {hadm_id}.",
    ], """SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime, p.route FROM prescriptions p
          JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.route IS NOT NULL AND p.drug IS NOT NULL""",
        "SELECT DISTINCT drug FROM prescriptions WHERE hadm_id = {hadm_id} AND route = {route}",
        ["prescriptions"], ["prescriptions", "admissions"]),
    T("prescriptions.after_procedure", [
        "How many different drugs were started for patient {subject_id} on or after the day of {title} in admission {hadm_id}?",
        "After undergoing {title} during the stay admitted on {admittime}, how many distinct drugs were started for patient {subject_id}?",
        "Count the distinct medications patient {subject_id} began on or after the date of the first {title} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: distinct drugs started from the day of {title} onwards?",
        "From the date of {title} in the stay admitted on {admittime}, how many different drugs did patient {subject_id} begin?",
        "How many unique medications were started for patient {subject_id} at or after the first {title} of hospital stay {hadm_id}?",
    ], PX_TITLES.replace("GROUP BY ALL", "WHERE procedures_icd.hadm_id IN "
                         "(SELECT hadm_id FROM prescriptions) GROUP BY ALL"),
        "SELECT count(DISTINCT prescriptions.drug) FROM prescriptions WHERE prescriptions.hadm_id = {hadm_id} "
        f"AND prescriptions.starttime >= (SELECT min(procedures_icd.chartdate) FROM {PX_JOIN} "
        "WHERE procedures_icd.hadm_id = {hadm_id} AND d_icd_procedures.long_title = {title})",
        ["prescriptions", "procedures_icd", "d_icd_procedures"],
        ["prescriptions", "procedures_icd", "d_icd_procedures", "admissions"], rel=True),
    # eMAR
    T("emar.administered_count", [
        "How many times was {medication} administered to patient {subject_id} during hospital admission {hadm_id}?",
        "Count the charted administrations of {medication} for patient {subject_id} in the stay admitted on {admittime}.",
        "According to the medication administration record, how many doses of {medication} did patient {subject_id} receive in admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: number of {medication} administrations?",
        "How often was {medication} given to patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Tell me how many 'Administered' eMAR entries of {medication} patient {subject_id} has in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT count(*) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Administered'", ["emar"], ["emar", "admissions"]),
    T("emar.last_administered", [
        "When was {medication} last administered to patient {subject_id} during hospital admission {hadm_id}?",
        "What is the time of the final charted administration of {medication} for patient {subject_id} in the stay admitted on {admittime}?",
        "Give the last administration time of {medication} for patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: time of the last {medication} dose given?",
        "When did patient {subject_id} last receive {medication} in the hospitalisation that began on {admittime}?",
        "Tell me the chart time of the final {medication} administration for patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT max(charttime) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Administered'", ["emar"], ["emar", "admissions"]),
    T("emar.event_types", [
        "Which administration events were charted for {medication} for patient {subject_id} during admission {hadm_id}?",
        "List the distinct eMAR event types recorded for {medication} of patient {subject_id} in the stay admitted on {admittime}.",
        "What actions were documented on the medication record for {medication} (patient {subject_id}, admission {hadm_id})?",
        "Patient {subject_id}, admission {hadm_id}: which eMAR events exist for {medication}?",
        "What kinds of administration entries were charted for {medication} of patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Name the distinct event texts on the eMAR for {medication} of patient {subject_id} in hospital stay {hadm_id}.",
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
        ["emar", "admissions"], rel=True),
    T("emar.not_given_count", [
        "How many scheduled doses of {medication} were charted as not given to patient {subject_id} in admission {hadm_id}?",
        "Count the 'Not Given' entries for {medication} of patient {subject_id} in the stay admitted on {admittime}.",
        "How often was {medication} not given to patient {subject_id} during hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: number of {medication} doses not given?",
        "How many {medication} entries of patient {subject_id} in the hospitalisation that began on {admittime} are marked 'Not Given'?",
        "Tell me how often a dose of {medication} was charted as not given for patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({EMAR}) WHERE n_not_given > 0",
        "SELECT count(*) FROM emar WHERE hadm_id = {hadm_id} AND medication = {medication} "
        "AND event_txt = 'Not Given'", ["emar"], ["emar", "admissions"]),
    # microbiology
    T("microbiology.specimens", [
        "Which specimen types were sent for microbiology testing for patient {subject_id} during admission {hadm_id}?",
        "List the microbiology specimens collected from patient {subject_id} in the stay admitted on {admittime}.",
        "What kinds of specimens were cultured for patient {subject_id} in hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: which microbiology specimen types?",
        "What samples were sent to microbiology for patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Name the specimen types of patient {subject_id}'s microbiology events in hospital stay {hadm_id}.",
    ], f"SELECT DISTINCT subject_id, hadm_id, admittime FROM ({MICRO})",
        "SELECT DISTINCT spec_type_desc FROM microbiologyevents WHERE hadm_id = {hadm_id}",
        ["microbiologyevents"], ["microbiologyevents", "admissions"]),
    T("microbiology.organisms", [
        "Which organisms grew in the {specimen} specimens of patient {subject_id} during admission {hadm_id}?",
        "What organisms were identified in patient {subject_id}'s {specimen} cultures in the stay admitted on {admittime}?",
        "List the organisms found in {specimen} samples of patient {subject_id} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: organisms in {specimen}?",
        "Which bugs grew from patient {subject_id}'s {specimen} in the hospitalisation that began on {admittime}?",
        "Name the organisms isolated from {specimen} of patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({MICRO}) WHERE n_org > 0",
        "SELECT DISTINCT org_name FROM microbiologyevents WHERE hadm_id = {hadm_id} "
        "AND spec_type_desc = {specimen} AND org_name IS NOT NULL", ["microbiologyevents"],
        ["microbiologyevents", "admissions"]),
    T("microbiology.tests", [
        "Which microbiology tests were run on {specimen} specimens of patient {subject_id} during admission {hadm_id}?",
        "List the tests performed on patient {subject_id}'s {specimen} samples in the stay admitted on {admittime}.",
        "What microbiology tests did the lab do on {specimen} from patient {subject_id} in hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: tests run on {specimen}?",
        "What microbiology tests were ordered on {specimen} of patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Name the tests performed on {specimen} samples of patient {subject_id} in hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({MICRO}) WHERE n_test > 0",
        "SELECT DISTINCT test_name FROM microbiologyevents WHERE hadm_id = {hadm_id} "
        "AND spec_type_desc = {specimen} AND test_name IS NOT NULL", ["microbiologyevents"],
        ["microbiologyevents", "admissions"]),
    T("microbiology.first_specimen_date", [
        "When was a {specimen} specimen first collected from patient {subject_id}?",
        "What is the date of patient {subject_id}'s first {specimen} microbiology specimen?",
        "Give the earliest collection date of a {specimen} sample for patient {subject_id}.",
        "Patient {subject_id}: date of the first {specimen} specimen?",
        "On which day was {specimen} first sent to microbiology for patient {subject_id}?",
        "Tell me when patient {subject_id} had a {specimen} sample collected for the first time.",
    ], "SELECT DISTINCT subject_id, spec_type_desc AS specimen FROM microbiologyevents "
       "WHERE spec_type_desc IS NOT NULL AND chartdate IS NOT NULL",
        "SELECT min(chartdate) FROM microbiologyevents WHERE subject_id = {subject_id} "
        "AND spec_type_desc = {specimen}", ["microbiologyevents"], multi=True),
    T("microbiology.resistant_antibiotics", [
        "To which antibiotics was {organism} from patient {subject_id} resistant during admission {hadm_id}?",
        "List the antibiotics that {organism} isolated from patient {subject_id} in the stay admitted on {admittime} was resistant to.",
        "Which antibiotics tested resistant for the {organism} of patient {subject_id} in hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: antibiotics {organism} was resistant to?",
        "Which antibiotics did the {organism} of patient {subject_id} resist in the hospitalisation that began on {admittime}?",
        "Name the antibiotics with interpretation R for the {organism} isolate of patient {subject_id} in hospital stay {hadm_id}.",
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
        "Patient {subject_id}, admission {hadm_id}: number of ICU stays?",
        "How many intensive care episodes did patient {subject_id} have in the hospitalisation that began on {admittime}?",
        "Tell me how many ICU stays are recorded for patient {subject_id} in hospital stay {hadm_id}.",
    ], "SELECT DISTINCT i.subject_id, i.hadm_id, a.admittime FROM icustays i "
       "JOIN admissions a ON i.hadm_id = a.hadm_id",
        "SELECT count(*) FROM icustays WHERE hadm_id = {hadm_id}", ["icustays"],
        ["icustays", "admissions"]),
    T("icu.length_of_stay", [
        "How many days did the ICU stay of patient {subject_id} that began at {intime} last?",
        "What was the length of stay in days of patient {subject_id}'s ICU stay starting {intime}?",
        "Give the ICU length of stay (days) for patient {subject_id}'s intensive care stay admitted at {intime}.",
        "Patient {subject_id}, ICU stay from {intime}: length of stay in days?",
        "How long, in days, was patient {subject_id} in the ICU stay that started at {intime}?",
        "Tell me the ICU los (days) of patient {subject_id} for the stay beginning {intime}.",
    ], "SELECT subject_id, intime FROM icustays WHERE los IS NOT NULL AND intime IS NOT NULL",
        "SELECT los FROM icustays WHERE subject_id = {subject_id} AND intime = {intime}", ["icustays"]),
    T("icu.first_careunit", [
        "Which ICU was patient {subject_id} first admitted to for the intensive care stay that began at {intime}?",
        "What was the first care unit of patient {subject_id}'s ICU stay starting {intime}?",
        "Name the first intensive care unit of patient {subject_id} for the ICU stay starting at {intime}.",
        "Patient {subject_id}, ICU stay from {intime}: first care unit?",
        "In which intensive care unit did patient {subject_id}'s ICU stay of {intime} begin?",
        "Tell me the first ICU care unit of patient {subject_id} for the stay that started at {intime}.",
    ], "SELECT subject_id, intime FROM icustays WHERE first_careunit IS NOT NULL AND intime IS NOT NULL",
        "SELECT first_careunit FROM icustays WHERE subject_id = {subject_id} AND intime = {intime}",
        ["icustays"]),
    T("icu.total_days", [
        "How many days in total has patient {subject_id} spent in intensive care?",
        "What is the total ICU length of stay in days across all of patient {subject_id}'s ICU stays?",
        "Sum the ICU days of patient {subject_id} over every ICU stay.",
        "Patient {subject_id}: total ICU days over all stays?",
        "How long has patient {subject_id} been in intensive care altogether, in days?",
        "Tell me the sum of ICU lengths of stay of patient {subject_id}.",
    ], "SELECT DISTINCT subject_id FROM icustays WHERE los IS NOT NULL",
        "SELECT sum(los) FROM icustays WHERE subject_id = {subject_id}", ["icustays"], multi=True),
    T("icu.hours_to_icu", [
        "How many hours after hospital admission {hadm_id} was patient {subject_id} first moved to the ICU?",
        "After being admitted on {admittime}, how long in hours did it take until patient {subject_id} entered the ICU?",
        "Compute the hours from the admission time of stay {hadm_id} to patient {subject_id}'s first ICU admission.",
        "Patient {subject_id}, admission {hadm_id}: hours from admission to first ICU entry?",
        "How many hours into the hospitalisation that began on {admittime} did patient {subject_id} reach the ICU?",
        "Tell me the time in hours between admission {hadm_id} and the first ICU stay of patient {subject_id}.",
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
        "Patient {subject_id}, admission {hadm_id}: {drg_type} DRG?",
        "Which {drg_type} DRG was billed for patient {subject_id}'s hospitalisation that began on {admittime}?",
        "Tell me the {drg_type} diagnosis-related group description for patient {subject_id} in hospital stay {hadm_id}.",
    ], "SELECT DISTINCT g.subject_id, g.hadm_id, a.admittime, g.drg_type FROM drgcodes g "
       "JOIN admissions a ON g.hadm_id = a.hadm_id WHERE g.drg_type IS NOT NULL AND g.description IS NOT NULL",
        "SELECT DISTINCT description FROM drgcodes WHERE hadm_id = {hadm_id} AND drg_type = {drg_type}",
        ["drgcodes"], ["drgcodes", "admissions"]),
    T("drg.severity", [
        "What APR-DRG severity was assigned to patient {subject_id}'s admission {hadm_id}?",
        "Which APR severity of illness was coded for patient {subject_id}'s stay admitted on {admittime}?",
        "Give the APR DRG severity level of patient {subject_id} in hospital admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: APR-DRG severity level?",
        "What severity of illness did the APR DRG give patient {subject_id}'s hospitalisation that began on {admittime}?",
        "Tell me the APR severity coded for patient {subject_id} in hospital stay {hadm_id}.",
    ], "SELECT DISTINCT g.subject_id, g.hadm_id, a.admittime FROM drgcodes g "
       "JOIN admissions a ON g.hadm_id = a.hadm_id WHERE g.drg_type = 'APR' AND g.drg_severity IS NOT NULL",
        "SELECT DISTINCT drg_severity FROM drgcodes WHERE hadm_id = {hadm_id} AND drg_type = 'APR'",
        ["drgcodes"], ["drgcodes", "admissions"]),
    # OMR (outpatient measurements)
    T("omr.last_value", [
        "What is the most recent {result_name} recorded in the outpatient record of patient {subject_id}?",
        "Give the last {result_name} measurement on file for patient {subject_id}.",
        "What was patient {subject_id}'s latest recorded {result_name}?",
        "Patient {subject_id}: latest outpatient {result_name}?",
        "What is the newest {result_name} entry in patient {subject_id}'s OMR record?",
        "Tell me the most recent {result_name} on file for patient {subject_id}.",
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
        "Patient {subject_id}: number of {result_name} entries on or after {since}?",
        "Starting from {since}, how often was {result_name} recorded for patient {subject_id}?",
        "How many {result_name} records does patient {subject_id} have dated {since} or later?",
    ], "SELECT DISTINCT subject_id, result_name, chartdate AS since FROM omr "
       "WHERE result_name IS NOT NULL AND chartdate IS NOT NULL",
        "SELECT count(*) FROM omr WHERE subject_id = {subject_id} AND result_name = {result_name} "
        "AND chartdate >= {since}", ["omr"], rel=True),
    # vital signs (only when the store has chartevents)
    T("vitals.max_value", [
        "What was the highest {label} of patient {subject_id} charted during hospital admission {hadm_id}?",
        "During the stay admitted on {admittime}, what was the maximum charted {label} of patient {subject_id}?",
        "Give the peak {label} recorded for patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: highest charted {label}?",
        "How high did patient {subject_id}'s charted {label} get in the hospitalisation that began on {admittime}?",
        "Tell me the maximum {label} in the chart of patient {subject_id} for hospital stay {hadm_id}.",
    ], VITALS,
        "SELECT max(chartevents.valuenum) FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "WHERE chartevents.hadm_id = {hadm_id} AND d_items.label = {label}", ["chartevents", "d_items"],
        ["chartevents", "d_items", "admissions"]),
    T("vitals.last_value", [
        "What was the last charted {label} of patient {subject_id} during hospital admission {hadm_id}?",
        "In the stay admitted on {admittime}, what was patient {subject_id}'s final {label} reading?",
        "Give the most recent {label} value of patient {subject_id} in admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: last charted {label}?",
        "What {label} was charted last for patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Tell me the final {label} value in the chart of patient {subject_id} for hospital stay {hadm_id}.",
    ], f"SELECT * FROM ({VITALS}) WHERE n_t1 = 1",
        "SELECT chartevents.valuenum FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "WHERE chartevents.hadm_id = {hadm_id} AND d_items.label = {label} "
        "ORDER BY chartevents.charttime DESC LIMIT 1", ["chartevents", "d_items"],
        ["chartevents", "d_items", "admissions"]),
    T("vitals.min_first_24h_icu", [
        "What was the lowest {label} of patient {subject_id} in the first 24 hours of the ICU stay that began at {intime}?",
        "During the first day of patient {subject_id}'s ICU stay starting {intime}, what was the minimum {label}?",
        "Give the minimum {label} charted for patient {subject_id} within 24 hours of ICU admission at {intime}.",
        "Patient {subject_id}, ICU stay from {intime}: lowest {label} in the first 24 hours?",
        "How low did patient {subject_id}'s {label} go in the first day of the ICU stay beginning {intime}?",
        "Tell me the minimum {label} charted within a day of patient {subject_id}'s ICU admission at {intime}.",
    ], """SELECT DISTINCT i.subject_id, i.intime, d.label FROM chartevents c
          JOIN d_items d ON c.itemid = d.itemid JOIN icustays i ON c.stay_id = i.stay_id
          WHERE c.valuenum IS NOT NULL AND d.label IS NOT NULL
          AND c.charttime BETWEEN i.intime AND i.intime + INTERVAL 24 HOUR
          AND (SELECT count(DISTINCT d2.itemid) FROM d_items d2 JOIN chartevents c2 ON c2.itemid = d2.itemid
               WHERE c2.stay_id = i.stay_id AND d2.label = d.label) = 1""",
        "SELECT min(chartevents.valuenum) FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "JOIN icustays ON chartevents.stay_id = icustays.stay_id WHERE icustays.subject_id = {subject_id} "
        "AND icustays.intime = {intime} AND d_items.label = {label} AND chartevents.charttime BETWEEN "
        "icustays.intime AND icustays.intime + INTERVAL 24 HOUR", ["chartevents", "d_items", "icustays"], rel=True),
]

# Relative-time and multi-admission questions about one patient (issue 11) -----------------------

ANSWERABLE += [
    T("labs.mean_first_48h", [
        "What was the average {label} of patient {subject_id} within the first 48 hours of hospital admission {hadm_id}?",
        "In the first two days of the stay admitted on {admittime}, what was patient {subject_id}'s mean {label}?",
        "Patient {subject_id}, admission {hadm_id}: mean {label} over the first 2 days?",
        "Average the {label} results of patient {subject_id} drawn within 2 days of admission {hadm_id}.",
        "Within 48 hours of being admitted on {admittime}, what was the mean {label} value of patient {subject_id}?",
        "During the first two days of hospital stay {hadm_id}, what average {label} did patient {subject_id} have?",
    ], f"""SELECT DISTINCT s.subject_id, s.hadm_id, s.admittime, s.label FROM ({LAB_STATS}) s
           JOIN {LAB_JOIN} ON labevents.hadm_id = s.hadm_id AND d_labitems.label = s.label
           WHERE labevents.charttime BETWEEN s.admittime AND s.admittime + INTERVAL 48 HOUR""",
        f"SELECT avg(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 48 HOUR", ["labevents", "d_labitems", "admissions"], rel=True),
    T("labs.max_last_48h", [
        "What was the highest {label} of patient {subject_id} in the last 48 hours before discharge from admission {hadm_id}?",
        "In the final two days of the stay admitted on {admittime}, what was patient {subject_id}'s maximum {label}?",
        "Patient {subject_id}, admission {hadm_id}: peak {label} in the 2 days before discharge?",
        "How high did the {label} of patient {subject_id} get during the last 48 hours of hospital stay {hadm_id}?",
        "Within two days of leaving the hospitalisation that began on {admittime}, what was patient {subject_id}'s highest {label}?",
        "Give the maximum {label} result of patient {subject_id} drawn in the 48 hours preceding discharge from admission {hadm_id}.",
    ], f"""SELECT DISTINCT s.subject_id, s.hadm_id, s.admittime, s.label FROM ({LAB_STATS}) s
           JOIN admissions a2 ON a2.hadm_id = s.hadm_id
           JOIN {LAB_JOIN} ON labevents.hadm_id = s.hadm_id AND d_labitems.label = s.label
           WHERE labevents.charttime BETWEEN a2.dischtime - INTERVAL 48 HOUR AND a2.dischtime""",
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.dischtime "
        "- INTERVAL 48 HOUR AND admissions.dischtime", ["labevents", "d_labitems", "admissions"], rel=True),
    T("labs.count_last_72h", [
        "How many {label} results did patient {subject_id} have in the last 3 days before discharge from admission {hadm_id}?",
        "In the final 72 hours of the stay admitted on {admittime}, how many times was patient {subject_id}'s {label} measured?",
        "Patient {subject_id}, admission {hadm_id}: number of {label} tests in the 72 hours before discharge?",
        "Count the {label} values of patient {subject_id} drawn during the last three days of hospital stay {hadm_id}.",
        "Within 3 days of leaving the hospitalisation that began on {admittime}, how often was {label} checked for patient {subject_id}?",
        "How many {label} measurements fall in the 72 hours before patient {subject_id} was discharged from admission {hadm_id}?",
    ], LAB_STATS,
        f"SELECT count(*) FROM {LAB_JOIN} JOIN admissions ON labevents.hadm_id = admissions.hadm_id "
        "WHERE labevents.hadm_id = {hadm_id} AND d_labitems.label = {label} AND labevents.charttime "
        "BETWEEN admissions.dischtime - INTERVAL 72 HOUR AND admissions.dischtime",
        ["labevents", "d_labitems", "admissions"], rel=True),
    T("labs.abnormal_last_24h", [
        "Which lab tests of patient {subject_id} were flagged abnormal in the last 24 hours before discharge from admission {hadm_id}?",
        "List the abnormal lab results (test names) of patient {subject_id} in the final day of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: which labs were abnormal in the 24 hours before discharge?",
        "In the last day of hospital stay {hadm_id}, which tests of patient {subject_id} came back abnormal?",
        "Name the labs with an abnormal flag for patient {subject_id} within 24 hours of leaving the hospitalisation that began on {admittime}.",
        "What lab tests were still abnormal for patient {subject_id} during the final 24 hours of admission {hadm_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM labevents e
          JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.flag = 'abnormal'
          AND e.charttime BETWEEN a.dischtime - INTERVAL 24 HOUR AND a.dischtime""",
        f"SELECT DISTINCT d_labitems.label FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE labevents.hadm_id = {hadm_id} "
        "AND labevents.flag = 'abnormal' AND labevents.charttime BETWEEN admissions.dischtime "
        "- INTERVAL 24 HOUR AND admissions.dischtime", ["labevents", "d_labitems", "admissions"], rel=True),
    T("prescriptions.last_24h", [
        "Which drugs were started for patient {subject_id} in the last 24 hours before discharge from admission {hadm_id}?",
        "List the medications prescribed to patient {subject_id} during the final day of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: drugs started in the 24 hours before discharge?",
        "What was newly prescribed for patient {subject_id} within a day of leaving hospital stay {hadm_id}?",
        "Name the prescriptions with a start time in the last 24 hours of patient {subject_id}'s hospitalisation that began on {admittime}.",
        "During the final 24 hours of admission {hadm_id}, which drugs were started for patient {subject_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM prescriptions p
          JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.drug IS NOT NULL
          AND p.starttime BETWEEN a.dischtime - INTERVAL 24 HOUR AND a.dischtime""",
        "SELECT DISTINCT prescriptions.drug FROM prescriptions JOIN admissions ON "
        "prescriptions.hadm_id = admissions.hadm_id WHERE prescriptions.hadm_id = {hadm_id} "
        "AND prescriptions.starttime BETWEEN admissions.dischtime - INTERVAL 24 HOUR AND admissions.dischtime",
        ["prescriptions", "admissions"], rel=True),
    T("emar.first_24h", [
        "Which medications were administered to patient {subject_id} within the first 24 hours of admission {hadm_id}?",
        "List the drugs charted as given to patient {subject_id} in the first day of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: medications administered in the first 24 hours?",
        "According to the eMAR, what did patient {subject_id} receive during the first day of hospital stay {hadm_id}?",
        "Name the medications with an 'Administered' entry for patient {subject_id} within 24 hours of being admitted on {admittime}.",
        "During the first 24 hours after hospital admission {hadm_id}, which medications were given to patient {subject_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM emar e
          JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.medication IS NOT NULL
          AND e.event_txt = 'Administered' AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT DISTINCT emar.medication FROM emar JOIN admissions ON emar.hadm_id = admissions.hadm_id "
        "WHERE emar.hadm_id = {hadm_id} AND emar.event_txt = 'Administered' AND emar.medication IS NOT NULL "
        "AND emar.charttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR",
        ["emar", "admissions"], rel=True),
    T("emar.hours_to_first_dose", [
        "How many hours after hospital admission {hadm_id} was {medication} first administered to patient {subject_id}?",
        "After being admitted on {admittime}, how long in hours did it take until patient {subject_id} got the first dose of {medication}?",
        "Patient {subject_id}, admission {hadm_id}: hours from admission to the first {medication} administration?",
        "Compute the time in hours between the start of hospital stay {hadm_id} and patient {subject_id}'s first charted {medication} dose.",
        "How soon after the admission on {admittime}, in hours, was {medication} first given to patient {subject_id}?",
        "Within how many hours of admission {hadm_id} did patient {subject_id} receive {medication} for the first time?",
    ], f"SELECT * FROM ({EMAR}) WHERE n_given > 0",
        "SELECT date_diff('second', admissions.admittime, min(emar.charttime)) / 3600.0 FROM emar "
        "JOIN admissions ON emar.hadm_id = admissions.hadm_id WHERE emar.hadm_id = {hadm_id} "
        "AND emar.medication = {medication} AND emar.event_txt = 'Administered' GROUP BY admissions.admittime",
        ["emar", "admissions"], rel=True),
    T("microbiology.specimens_first_48h", [
        "Which specimen types were sent to microbiology for patient {subject_id} within 2 days of hospital admission {hadm_id}?",
        "List the microbiology specimens collected from patient {subject_id} in the first 48 hours of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: specimen types collected in the first 48 hours?",
        "What samples went to microbiology for patient {subject_id} during the first two days of hospital stay {hadm_id}?",
        "Name the specimen types of patient {subject_id} with a collection time within 48 hours of being admitted on {admittime}.",
        "During the first 2 days after admission {hadm_id}, which kinds of specimens were cultured for patient {subject_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM microbiologyevents m
          JOIN admissions a ON m.hadm_id = a.hadm_id WHERE m.spec_type_desc IS NOT NULL
          AND m.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 48 HOUR""",
        "SELECT DISTINCT microbiologyevents.spec_type_desc FROM microbiologyevents JOIN admissions ON "
        "microbiologyevents.hadm_id = admissions.hadm_id WHERE microbiologyevents.hadm_id = {hadm_id} "
        "AND microbiologyevents.charttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 48 HOUR",
        ["microbiologyevents", "admissions"], rel=True),
    T("transfers.units_first_24h", [
        "Which care units did patient {subject_id} enter within the first 24 hours of hospital admission {hadm_id}?",
        "List the units patient {subject_id} was transferred into during the first day of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: care units entered in the first 24 hours?",
        "In the first day of hospital stay {hadm_id}, which units did patient {subject_id} pass through?",
        "Name the care units with a transfer in-time within 24 hours of patient {subject_id}'s admission on {admittime}.",
        "During the first 24 hours after admission {hadm_id}, where in the hospital was patient {subject_id} placed?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM transfers t
          JOIN admissions a ON t.hadm_id = a.hadm_id WHERE t.careunit IS NOT NULL
          AND t.intime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT DISTINCT transfers.careunit FROM transfers JOIN admissions ON transfers.hadm_id = admissions.hadm_id "
        "WHERE transfers.hadm_id = {hadm_id} AND transfers.careunit IS NOT NULL AND transfers.intime "
        "BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR", ["transfers", "admissions"],
        rel=True),
    T("procedures.count_first_2d", [
        "How many procedures were performed on patient {subject_id} within 2 days of hospital admission {hadm_id}?",
        "Count the procedures of patient {subject_id} dated in the first two days of the stay admitted on {admittime}.",
        "Patient {subject_id}, admission {hadm_id}: number of procedures charted within 2 days of the admission date?",
        "In the first 2 days of hospital stay {hadm_id} (admission day included), how many procedures did patient {subject_id} have?",
        "How many ICD procedures of patient {subject_id} have a date no more than two days after the admission on {admittime}?",
        "Within two days of admission {hadm_id}, how many procedure codes were recorded for patient {subject_id}?",
    ], "SELECT DISTINCT p.subject_id, p.hadm_id, a.admittime FROM procedures_icd p "
       "JOIN admissions a ON p.hadm_id = a.hadm_id WHERE p.chartdate IS NOT NULL",
        "SELECT count(*) FROM procedures_icd JOIN admissions ON procedures_icd.hadm_id = admissions.hadm_id "
        "WHERE procedures_icd.hadm_id = {hadm_id} AND date_diff('day', CAST(admissions.admittime AS DATE), "
        "procedures_icd.chartdate) BETWEEN 0 AND 2", ["procedures_icd", "admissions"], rel=True),
    T("admissions.readmitted_30d", [
        "Was patient {subject_id} readmitted to the hospital within 30 days after discharge from admission {hadm_id}?",
        "Did patient {subject_id} come back to hospital within a month of leaving the stay admitted on {admittime}?",
        "Patient {subject_id}, admission {hadm_id}: another admission within 30 days of discharge?",
        "Within 30 days of discharge from hospital stay {hadm_id}, was patient {subject_id} admitted again?",
        "Is there a readmission of patient {subject_id} in the 30 days following the end of the hospitalisation that began on {admittime}?",
        "After discharge from admission {hadm_id}, did patient {subject_id} have a new hospital admission within 30 days?",
    ], f"{ADM} WHERE dischtime IS NOT NULL",
        "SELECT EXISTS (SELECT 1 FROM admissions b WHERE b.subject_id = {subject_id} AND b.hadm_id <> a.hadm_id "
        "AND b.admittime > a.dischtime AND b.admittime <= a.dischtime + INTERVAL 30 DAY) FROM admissions a "
        "WHERE a.hadm_id = {hadm_id}", ["admissions"], rel=True, multi=True),
    T("admissions.total_days", [
        "How many days in total has patient {subject_id} spent in hospital over all admissions?",
        "Summed over every hospital stay, how many days was patient {subject_id} an inpatient?",
        "Patient {subject_id}: total length of stay in days across all admissions?",
        "Add up the lengths of all hospital admissions of patient {subject_id}, in days.",
        "What is the cumulative number of hospital days of patient {subject_id}?",
        "Across all of patient {subject_id}'s hospitalisations, how many days in total were spent in hospital?",
    ], "SELECT subject_id FROM admissions GROUP BY subject_id HAVING count(dischtime) = count(*)",
        "SELECT sum(date_diff('second', admittime, dischtime)) / 86400.0 FROM admissions "
        "WHERE subject_id = {subject_id}", ["admissions"], multi=True),
    T("diagnoses.distinct_codes_all", [
        "How many distinct diagnosis codes has patient {subject_id} received across all hospital admissions?",
        "Over every stay of patient {subject_id}, how many different diagnoses were coded?",
        "Patient {subject_id}: number of unique ICD diagnosis codes over all admissions?",
        "Count the different diagnosis codes recorded for patient {subject_id} in any admission.",
        "Across all of patient {subject_id}'s hospitalisations, how many distinct diagnoses appear?",
        "What is the number of unique (code, version) diagnoses on patient {subject_id}'s whole record?",
    ], "SELECT DISTINCT subject_id FROM diagnoses_icd",
        "SELECT count(*) FROM (SELECT DISTINCT icd_code, icd_version FROM diagnoses_icd "
        "WHERE subject_id = {subject_id})", ["diagnoses_icd"], multi=True),
    T("diagnoses.new_in_admission", [
        "Which diagnoses of patient {subject_id} in admission {hadm_id} had not been recorded in any earlier admission?",
        "List the diagnoses first coded for patient {subject_id} in the stay admitted on {admittime} (absent from previous stays).",
        "Patient {subject_id}, admission {hadm_id}: which diagnoses are new compared with earlier admissions?",
        "What conditions were diagnosed in hospital stay {hadm_id} of patient {subject_id} that no prior admission had?",
        "Name the diagnoses of the hospitalisation that began on {admittime} that patient {subject_id} had never been coded with before.",
        "Compared with all earlier stays of patient {subject_id}, which diagnosis titles appear for the first time in admission {hadm_id}?",
    ], """SELECT DISTINCT a.subject_id, a.hadm_id, a.admittime FROM admissions a
           JOIN diagnoses_icd d ON d.hadm_id = a.hadm_id
           WHERE EXISTS (SELECT 1 FROM admissions b WHERE b.subject_id = a.subject_id AND b.admittime < a.admittime)
           AND NOT EXISTS (SELECT 1 FROM diagnoses_icd d2 JOIN admissions b2 ON d2.hadm_id = b2.hadm_id
             WHERE b2.subject_id = a.subject_id AND b2.admittime < a.admittime
             AND d2.icd_code = d.icd_code AND d2.icd_version = d.icd_version)""",
        f"SELECT DISTINCT d_icd_diagnoses.long_title FROM {DX_JOIN} JOIN admissions cur ON "
        "diagnoses_icd.hadm_id = cur.hadm_id WHERE diagnoses_icd.hadm_id = {hadm_id} AND NOT EXISTS "
        "(SELECT 1 FROM diagnoses_icd d2 JOIN admissions b2 ON d2.hadm_id = b2.hadm_id WHERE "
        "b2.subject_id = {subject_id} AND b2.admittime < cur.admittime AND d2.icd_code = diagnoses_icd.icd_code "
        "AND d2.icd_version = diagnoses_icd.icd_version)", ["diagnoses_icd", "d_icd_diagnoses", "admissions"],
        multi=True),
    T("labs.admissions_with_label", [
        "In how many hospital admissions was {label} measured for patient {subject_id}?",
        "How many of patient {subject_id}'s hospital stays include at least one {label} result?",
        "Patient {subject_id}: number of admissions with a {label} test?",
        "Count the admissions of patient {subject_id} during which {label} was drawn.",
        "Across all hospitalisations of patient {subject_id}, in how many was a {label} value recorded?",
        "For how many distinct admissions does patient {subject_id} have {label} results?",
    ], f"SELECT s.subject_id, s.label FROM ({LAB_SUBJECT}) s WHERE s.subject_id IN "
       "(SELECT subject_id FROM labevents WHERE hadm_id IS NOT NULL)",
        f"SELECT count(DISTINCT labevents.hadm_id) FROM {LAB_JOIN} WHERE labevents.subject_id = {{subject_id}} "
        "AND d_labitems.label = {label}", ["labevents", "d_labitems"], multi=True),
    T("prescriptions.admissions_with_drug", [
        "In how many hospital admissions was {drug} prescribed to patient {subject_id}?",
        "How many of patient {subject_id}'s hospital stays include a {drug} prescription?",
        "Patient {subject_id}: number of admissions with {drug} ordered?",
        "Count the admissions of patient {subject_id} during which {drug} was prescribed.",
        "Across all hospitalisations of patient {subject_id}, in how many was {drug} given a prescription?",
        "For how many distinct admissions does patient {subject_id} have a prescription of {drug}?",
    ], "SELECT DISTINCT subject_id, drug FROM prescriptions WHERE drug IS NOT NULL AND hadm_id IS NOT NULL",
        "SELECT count(DISTINCT hadm_id) FROM prescriptions WHERE subject_id = {subject_id} AND drug = {drug}",
        ["prescriptions"], multi=True),
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
        "Patient {subject_id}: ABO and Rh type?",
        "Is patient {subject_id} blood group A, B, AB or O?",
        "Which blood type should the blood bank use for patient {subject_id}?",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.attending_name", [
        "What is the name of the attending physician of patient {subject_id} during hospital admission {hadm_id}?",
        "Who was the attending doctor for patient {subject_id} in the stay admitted on {admittime}?",
        "Give the attending physician's name for patient {subject_id}'s admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: attending physician's name?",
        "Which doctor (full name) was in charge of patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Tell me the attending's name for hospital stay {hadm_id} of patient {subject_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.prescriber_name", [
        "What is the name of the doctor who prescribed {drug} to patient {subject_id} during admission {hadm_id}?",
        "Which physician, by name, ordered {drug} for patient {subject_id} in the stay admitted on {admittime}?",
        "Who (name) wrote the {drug} prescription of patient {subject_id} in hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: name of the prescriber of {drug}?",
        "Which doctor signed the {drug} order of patient {subject_id} in the hospitalisation that began on {admittime}? Give the name.",
        "Tell me the full name of the clinician who ordered {drug} for patient {subject_id} in hospital stay {hadm_id}.",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.home_address", [
        "What is the home address of patient {subject_id}?",
        "Where does patient {subject_id} live? Give the street address.",
        "Which city and street is patient {subject_id}'s residence on?",
        "Patient {subject_id}: street address?",
        "What is the postal address of patient {subject_id}?",
        "Tell me where patient {subject_id} lives (house number and street).",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.phone_number", [
        "What is the phone number of patient {subject_id}?",
        "Give the contact telephone number on file for patient {subject_id}.",
        "How can patient {subject_id} be reached by phone?",
        "Patient {subject_id}: telephone number?",
        "Which mobile number is on file for patient {subject_id}?",
        "Tell me the phone contact of patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.home_medications", [
        "Which medications was patient {subject_id} taking at home before hospital admission {hadm_id}?",
        "List patient {subject_id}'s home medications prior to the stay admitted on {admittime}.",
        "What drugs did patient {subject_id} take before being admitted for admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: pre-admission home medication list?",
        "What was patient {subject_id} on at home before the hospitalisation that began on {admittime}?",
        "Tell me the outpatient medications patient {subject_id} took before hospital stay {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.genetic_testing", [
        "What did genetic testing show about patient {subject_id}'s {title}?",
        "Which gene variant was found in patient {subject_id} to explain {title}?",
        "Was patient {subject_id}'s {title} confirmed by a genetic test, and with what result?",
        "Patient {subject_id}: genetic test result explaining {title}?",
        "Which mutation does patient {subject_id} carry that causes {title}?",
        "Tell me the genotype of patient {subject_id} relevant to {title}.",
    ], _U_DX, None, [], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("unanswerable.room_number", [
        "What room and bed number was patient {subject_id} in during hospital admission {hadm_id}?",
        "Which room was patient {subject_id} assigned to in the stay admitted on {admittime}?",
        "Give the bed number of patient {subject_id} during admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: room and bed?",
        "In which room did patient {subject_id} sleep during the hospitalisation that began on {admittime}?",
        "Tell me the bed assignment of patient {subject_id} in hospital stay {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.lab_now", [
        "What is patient {subject_id}'s {label} right now, after discharge from admission {hadm_id}?",
        "What is the current {label} of patient {subject_id} today, now that the stay admitted on {admittime} is over?",
        "Tell me patient {subject_id}'s {label} level as of today, after leaving hospital admission {hadm_id}.",
        "Patient {subject_id}, after admission {hadm_id}: {label} today?",
        "Now that patient {subject_id} has left the hospitalisation that began on {admittime}, what is their {label} at present?",
        "Tell me patient {subject_id}'s current {label}, as of this moment, after hospital stay {hadm_id}.",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"], _V_LATER_LAB),
    T("unanswerable.next_lab", [
        "What will patient {subject_id}'s next {label} value be after admission {hadm_id}?",
        "Predict the {label} of patient {subject_id} at the next blood draw following the stay admitted on {admittime}.",
        "What {label} result should we expect for patient {subject_id} next time after hospital admission {hadm_id}?",
        "Patient {subject_id}, after admission {hadm_id}: what will the next {label} be?",
        "Forecast patient {subject_id}'s upcoming {label} after the hospitalisation that began on {admittime}.",
        "Tell me the {label} patient {subject_id} will have at the next test after hospital stay {hadm_id}.",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"], _V_LATER_LAB),
    T("unanswerable.dose_increase", [
        "Should the {drug} dose of patient {subject_id} have been increased during admission {hadm_id}?",
        "Would it be appropriate to raise patient {subject_id}'s {drug} dose in the stay admitted on {admittime}?",
        "Is a higher dose of {drug} advisable for patient {subject_id} given hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: should {drug} have been up-titrated?",
        "Was the {drug} dose of patient {subject_id} too low in the hospitalisation that began on {admittime}?",
        "Tell me whether patient {subject_id} needed more {drug} during hospital stay {hadm_id}.",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.drug_reason", [
        "Why was {drug} prescribed to patient {subject_id} during hospital admission {hadm_id}?",
        "What was the indication for patient {subject_id}'s {drug} in the stay admitted on {admittime}?",
        "For what reason did patient {subject_id} receive {drug} during admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: indication for {drug}?",
        "What condition was {drug} meant to treat in patient {subject_id} during the hospitalisation that began on {admittime}?",
        "Tell me why the team started {drug} for patient {subject_id} in hospital stay {hadm_id}.",
    ], _U_DRUG, None, [], ["prescriptions", "admissions"]),
    T("unanswerable.allergies", [
        "What is patient {subject_id} allergic to?",
        "List the drug allergies of patient {subject_id}.",
        "Which allergies are documented for patient {subject_id}?",
        "Patient {subject_id}: known allergies?",
        "Does patient {subject_id} have a penicillin or other drug allergy?",
        "Tell me the allergy list of patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.nurse_name", [
        "What is the name of the nurse who administered {medication} to patient {subject_id} during admission {hadm_id}?",
        "Which nurse, by name, gave patient {subject_id} the {medication} in the stay admitted on {admittime}?",
        "Who was the nurse that charted {medication} for patient {subject_id} in hospital admission {hadm_id}? Give the name.",
        "Patient {subject_id}, admission {hadm_id}: name of the nurse who gave {medication}?",
        "Which nurse administered {medication} to patient {subject_id} in the hospitalisation that began on {admittime}? Full name, please.",
        "Tell me the nurse's name on the {medication} administration of patient {subject_id} in hospital stay {hadm_id}.",
    ], "SELECT DISTINCT e.subject_id, e.hadm_id, a.admittime, e.medication FROM emar e "
       "JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.medication IS NOT NULL AND e.event_txt = 'Administered'",
        None, [], ["emar", "admissions"]),
    T("unanswerable.readmission_risk", [
        "How likely is patient {subject_id} to be readmitted within 30 days after admission {hadm_id}?",
        "What is the 30-day readmission risk of patient {subject_id} following the stay admitted on {admittime}?",
        "Estimate the chance that patient {subject_id} returns to hospital within a month of admission {hadm_id}.",
        "Patient {subject_id}, admission {hadm_id}: predicted 30-day readmission probability?",
        "Will patient {subject_id} come back within 30 days of the hospitalisation that began on {admittime}?",
        "Tell me the risk of patient {subject_id} being readmitted within a month of hospital stay {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.treatment_advice", [
        "What treatment should patient {subject_id} receive for {title}?",
        "Which therapy would you recommend for patient {subject_id}'s {title}?",
        "How should {title} be managed in patient {subject_id} going forward?",
        "Patient {subject_id}: best treatment for {title}?",
        "What should the next step in treating patient {subject_id}'s {title} be?",
        "Tell me the recommended management of {title} for patient {subject_id}.",
    ], _U_DX, None, [], ["diagnoses_icd", "d_icd_diagnoses"]),
    T("unanswerable.occupation", [
        "What is the occupation of patient {subject_id}?",
        "Where does patient {subject_id} work?",
        "What job does patient {subject_id} have?",
        "Patient {subject_id}: profession?",
        "What does patient {subject_id} do for a living?",
        "Tell me patient {subject_id}'s employer.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.email", [
        "What is the email address of patient {subject_id}?",
        "Give the e-mail contact of patient {subject_id}.",
        "Which email address is registered for patient {subject_id}?",
        "Patient {subject_id}: email?",
        "How can patient {subject_id} be contacted by e-mail?",
        "Tell me the email address on file for patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.policy_number", [
        "What is the insurance policy number of patient {subject_id} for hospital admission {hadm_id}?",
        "Give patient {subject_id}'s insurance member ID used for the stay admitted on {admittime}.",
        "Which policy number billed admission {hadm_id} of patient {subject_id}?",
        "Patient {subject_id}, admission {hadm_id}: insurance policy number?",
        "What member number did the insurer use for patient {subject_id}'s hospitalisation that began on {admittime}?",
        "Tell me the policy ID billed for hospital stay {hadm_id} of patient {subject_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.religion", [
        "What is the religion of patient {subject_id}?",
        "Which religious affiliation is recorded for patient {subject_id}?",
        "Tell me patient {subject_id}'s religion.",
        "Patient {subject_id}: religious affiliation?",
        "Which faith does patient {subject_id} belong to?",
        "Tell me the religion on file for patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.followup_appointment", [
        "When is patient {subject_id}'s follow-up appointment after hospital admission {hadm_id}?",
        "What date was the clinic follow-up scheduled for patient {subject_id} after the stay admitted on {admittime}?",
        "Give the follow-up visit date arranged for patient {subject_id} at discharge from admission {hadm_id}.",
        "Patient {subject_id}, after admission {hadm_id}: follow-up appointment date?",
        "When is patient {subject_id} due back in clinic after the hospitalisation that began on {admittime}?",
        "Tell me the scheduled outpatient follow-up of patient {subject_id} after hospital stay {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.lab_order_reason", [
        "Why did the physician order the {label} test for patient {subject_id} during admission {hadm_id}?",
        "What was the clinical reason for checking patient {subject_id}'s {label} in the stay admitted on {admittime}?",
        "For what purpose was {label} ordered for patient {subject_id} in hospital admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: reason for ordering {label}?",
        "What was the clinician thinking when {label} was ordered for patient {subject_id} in the hospitalisation that began on {admittime}?",
        "Tell me the indication behind the {label} test of patient {subject_id} in hospital stay {hadm_id}.",
    ], _U_LAB, None, [], ["labevents", "d_labitems", "admissions"]),
    T("unanswerable.smoking", [
        "How many cigarettes per day does patient {subject_id} smoke?",
        "How many pack-years of smoking does patient {subject_id} have?",
        "What is the daily tobacco use of patient {subject_id}?",
        "Patient {subject_id}: smoking history in pack-years?",
        "Does patient {subject_id} smoke, and how much per day?",
        "Tell me the tobacco consumption of patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
    T("unanswerable.symptom_onset", [
        "When did patient {subject_id}'s symptoms begin before hospital admission {hadm_id}?",
        "How many days before the stay admitted on {admittime} did patient {subject_id} first feel unwell?",
        "What was the date of symptom onset for patient {subject_id} leading to admission {hadm_id}?",
        "Patient {subject_id}, admission {hadm_id}: when did symptoms start?",
        "How long before the hospitalisation that began on {admittime} had patient {subject_id} been feeling ill?",
        "Tell me the symptom onset date of patient {subject_id} for hospital stay {hadm_id}.",
    ], ADM, None, [], ["admissions"]),
    T("unanswerable.emergency_contact", [
        "Who is the emergency contact of patient {subject_id}?",
        "Give the name of patient {subject_id}'s next of kin.",
        "Whom should we call in an emergency for patient {subject_id}?",
        "Patient {subject_id}: emergency contact person?",
        "Who is patient {subject_id}'s next of kin, and how do we reach them?",
        "Tell me the name of the person to call in an emergency for patient {subject_id}.",
    ], _U_SUBJ, None, [], ["patients"]),
]

# Population-level questions (issue 11) ----------------------------------------------------------
# Counts, averages and rankings over all of the release's patients: no subject_id slot; the
# candidates and the gold read the whole release database (build.py: computed at full build and
# at merge-shards, never per shard). Rankings break ties by name so answers are deterministic.

#: labels of lab tests that name one item over the whole database and have numeric results
_POP_LAB = """
SELECT d.label FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid WHERE d.label IS NOT NULL
GROUP BY d.label HAVING count(DISTINCT e.itemid) = 1 AND count(e.valuenum) > 0
"""
_POP_DX = f"SELECT DISTINCT d_icd_diagnoses.long_title AS title FROM {DX_JOIN}"
_POP_PX = f"SELECT DISTINCT d_icd_procedures.long_title AS title FROM {PX_JOIN}"
_POP_DRUG = "SELECT DISTINCT drug FROM prescriptions WHERE drug IS NOT NULL"
_POP_MED = "SELECT DISTINCT medication FROM emar WHERE medication IS NOT NULL AND event_txt = 'Administered'"
_LOS_DAYS = "date_diff('second', admissions.admittime, admissions.dischtime) / 86400.0"


def P(name: str, phrasings: list[str], candidates: str, gold: str | None, tables: list[str],
      requires: list[str] | None = None, verify: str | None = None, **flags) -> Template:
    return T(name, phrasings, candidates, gold, tables, requires, verify, scope="population", **flags)


POPULATION: list[Template] = [
    # demographics
    P("demographics.pop_patient_count", [
        "How many patients are in the database?",
        "What is the total number of patients recorded?",
        "Count all patients in this dataset.",
        "How many distinct patients does the database contain?",
        "Give the number of patients with a record here.",
        "What is the size of the patient population in the database?",
    ], "SELECT count(*) AS n FROM patients", "SELECT count(*) FROM patients", ["patients"]),
    P("demographics.pop_gender_count", [
        "How many patients with gender {gender} are in the database?",
        "Count the patients whose recorded gender is {gender}.",
        "What number of patients are documented as gender {gender}?",
        "Among all patients, how many have gender {gender}?",
        "Give the count of patients with recorded gender {gender}.",
        "How many patients in this dataset are listed with gender '{gender}'?",
    ], "SELECT DISTINCT gender FROM patients WHERE gender IS NOT NULL",
        "SELECT count(*) FROM patients WHERE gender = {gender}", ["patients"]),
    P("demographics.pop_mean_age", [
        "What is the average anchor age of patients with gender {gender}?",
        "Among patients of gender {gender}, what is the mean anchor age?",
        "Compute the mean anchor_age over all patients whose gender is {gender}.",
        "On average, how old (anchor age) are the {gender} patients in the database?",
        "Give the average anchor age of the database's patients recorded as gender {gender}.",
        "For gender {gender}, what is the patients' mean anchor age?",
    ], "SELECT DISTINCT gender FROM patients WHERE gender IS NOT NULL AND anchor_age IS NOT NULL",
        "SELECT avg(anchor_age) FROM patients WHERE gender = {gender}", ["patients"]),
    P("demographics.pop_deaths", [
        "How many patients in the database have a recorded date of death?",
        "Count the patients who are known to have died.",
        "What number of patients have a date of death on file?",
        "Among all patients, how many have died according to the records?",
        "Give the count of deceased patients in the database.",
        "How many patients' records contain a dod?",
    ], "SELECT count(*) AS n FROM patients WHERE dod IS NOT NULL",
        "SELECT count(*) FROM patients WHERE dod IS NOT NULL", ["patients"]),
    P("demographics.pop_inhospital_deaths_by_insurance", [
        "How many patients with {insurance} insurance died in the hospital?",
        "Count the patients who died during a hospital admission covered by {insurance} insurance.",
        "Among admissions with insurance {insurance}, how many distinct patients died in hospital?",
        "What number of patients insured by {insurance} had an admission ending in in-hospital death?",
        "Give the count of in-hospital deaths (distinct patients) among {insurance}-insured admissions.",
        "How many distinct patients died in hospital during a stay whose insurance was {insurance}?",
    ], "SELECT DISTINCT insurance FROM admissions WHERE insurance IS NOT NULL AND hospital_expire_flag = 1",
        "SELECT count(DISTINCT subject_id) FROM admissions WHERE insurance = {insurance} "
        "AND hospital_expire_flag = 1", ["admissions"]),
    # admissions
    P("admissions.pop_count_by_type", [
        "How many hospital admissions of type {admission_type} are in the database?",
        "Count all admissions whose admission type is {admission_type}.",
        "What number of hospital stays were {admission_type} admissions?",
        "Across all patients, how many admissions have type {admission_type}?",
        "Give the total count of {admission_type} admissions.",
        "How many admissions in the database are recorded with the admission type {admission_type}?",
    ], "SELECT DISTINCT admission_type FROM admissions WHERE admission_type IS NOT NULL",
        "SELECT count(*) FROM admissions WHERE admission_type = {admission_type}", ["admissions"]),
    P("admissions.pop_mean_los_by_type", [
        "What is the average length of stay in days of {admission_type} admissions?",
        "On average, how many days do {admission_type} hospital admissions last?",
        "Compute the mean hospital length of stay (days) over all admissions of type {admission_type}.",
        "Across all patients, what is the mean duration in days of an {admission_type} admission?",
        "Give the average number of days from admission to discharge for admission type {admission_type}.",
        "For admissions with type {admission_type}, what is the mean length of stay in days?",
    ], "SELECT DISTINCT admission_type FROM admissions WHERE admission_type IS NOT NULL AND dischtime IS NOT NULL",
        f"SELECT avg({_LOS_DAYS}) FROM admissions WHERE admission_type = {{admission_type}}", ["admissions"]),
    P("admissions.pop_top_discharge_locations", [
        "Which 3 discharge locations are the most common across all admissions?",
        "What are the three most frequent discharge locations in the database?",
        "List the top 3 discharge destinations by number of admissions.",
        "Where are patients most often discharged to? Give the 3 most common locations.",
        "Name the three discharge locations with the most hospital admissions.",
        "Rank discharge locations by frequency and give the first three.",
    ], "SELECT count(*) AS n FROM admissions WHERE discharge_location IS NOT NULL",
        "SELECT discharge_location FROM admissions WHERE discharge_location IS NOT NULL "
        "GROUP BY discharge_location ORDER BY count(*) DESC, discharge_location LIMIT 3", ["admissions"]),
    P("admissions.pop_multi_admission_patients", [
        "How many patients have been admitted to the hospital more than once?",
        "Count the patients with two or more hospital admissions.",
        "What number of patients in the database have multiple hospital stays?",
        "Among all patients, how many have more than one admission?",
        "Give the count of patients who were hospitalised at least twice.",
        "How many patients have a repeat hospital admission on record?",
    ], "SELECT count(*) AS n FROM admissions",
        "SELECT count(*) FROM (SELECT subject_id FROM admissions GROUP BY subject_id HAVING count(*) > 1)",
        ["admissions"], multi=True),
    P("admissions.pop_readmit_30d", [
        "How many hospital admissions were followed by a readmission of the same patient within 30 days of discharge?",
        "Count the admissions after which the patient was admitted again within 30 days.",
        "What number of discharges led to a readmission within a month?",
        "Across all patients, how many admissions have a 30-day readmission?",
        "Give the count of hospital stays followed, within 30 days of discharge, by another stay of that patient.",
        "How many admissions in the database count as 30-day readmission index stays?",
    ], "SELECT count(*) AS n FROM admissions WHERE dischtime IS NOT NULL",
        "SELECT count(*) FROM admissions a WHERE EXISTS (SELECT 1 FROM admissions b WHERE "
        "b.subject_id = a.subject_id AND b.hadm_id <> a.hadm_id AND b.admittime > a.dischtime "
        "AND b.admittime <= a.dischtime + INTERVAL 30 DAY)", ["admissions"], rel=True, multi=True),
    # diagnoses
    P("diagnoses.pop_patient_count", [
        "How many patients in the database were diagnosed with {title}?",
        "Count the patients who have a diagnosis of {title}.",
        "What number of patients carry the diagnosis {title} in any admission?",
        "Across all patients, how many were ever coded with {title}?",
        "Give the number of distinct patients with {title} among their diagnoses.",
        "How many patients have {title} recorded as a diagnosis?",
    ], _POP_DX,
        f"SELECT count(DISTINCT diagnoses_icd.subject_id) FROM {DX_JOIN} WHERE d_icd_diagnoses.long_title = {{title}}",
        ["diagnoses_icd", "d_icd_diagnoses"]),
    P("diagnoses.pop_mean_los", [
        "What is the average length of stay in days of admissions with a diagnosis of {title}?",
        "On average, how many days do hospital stays coded with {title} last?",
        "Compute the mean length of stay (days) over all admissions that include the diagnosis {title}.",
        "For patients diagnosed with {title}, what is the mean duration in days of those admissions?",
        "Give the average hospital length of stay of admissions diagnosed with {title}.",
        "Across the database, how long in days is an admission with {title} on average?",
    ], _POP_DX,
        f"SELECT avg({_LOS_DAYS}) FROM admissions WHERE admissions.hadm_id IN (SELECT diagnoses_icd.hadm_id "
        f"FROM {DX_JOIN} WHERE d_icd_diagnoses.long_title = {{title}})",
        ["admissions", "diagnoses_icd", "d_icd_diagnoses"]),
    P("diagnoses.pop_top3", [
        "Which 3 diagnoses are coded most often in the database?",
        "What are the three most frequent diagnoses across all admissions?",
        "List the top 3 diagnoses by number of times coded.",
        "Name the three most common diagnosis titles.",
        "Rank diagnoses by how often they are recorded and give the top three.",
        "Which three conditions appear most frequently among the coded diagnoses?",
    ], "SELECT count(*) AS n FROM diagnoses_icd",
        f"SELECT d_icd_diagnoses.long_title FROM {DX_JOIN} GROUP BY d_icd_diagnoses.long_title "
        "ORDER BY count(*) DESC, d_icd_diagnoses.long_title LIMIT 3", ["diagnoses_icd", "d_icd_diagnoses"]),
    P("diagnoses.pop_top_primary", [
        "Which 3 primary diagnoses are the most common?",
        "What are the three most frequent first-listed diagnoses across all admissions?",
        "List the top 3 principal diagnoses by number of admissions.",
        "Name the three diagnoses most often coded with sequence number 1.",
        "Rank primary diagnoses by frequency and give the first three.",
        "Which three conditions are most often the main diagnosis of an admission?",
    ], "SELECT count(*) AS n FROM diagnoses_icd WHERE seq_num = 1",
        f"SELECT d_icd_diagnoses.long_title FROM {DX_JOIN} WHERE diagnoses_icd.seq_num = 1 "
        "GROUP BY d_icd_diagnoses.long_title ORDER BY count(*) DESC, d_icd_diagnoses.long_title LIMIT 3",
        ["diagnoses_icd", "d_icd_diagnoses"]),
    P("diagnoses.pop_died_with_title", [
        "How many patients diagnosed with {title} died in the hospital during that admission?",
        "Count the patients who died in hospital in an admission coded with {title}.",
        "What number of admissions with the diagnosis {title} ended in in-hospital death (distinct patients)?",
        "Among patients with {title}, how many died during the admission carrying that diagnosis?",
        "Give the count of distinct patients with in-hospital death in a stay diagnosed with {title}.",
        "How many patients died in hospital while admitted with {title}?",
    ], f"""SELECT DISTINCT d_icd_diagnoses.long_title AS title FROM {DX_JOIN}
           JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id WHERE a.hospital_expire_flag = 1""",
        f"SELECT count(DISTINCT admissions.subject_id) FROM {DX_JOIN} JOIN admissions ON "
        "diagnoses_icd.hadm_id = admissions.hadm_id WHERE d_icd_diagnoses.long_title = {title} "
        "AND admissions.hospital_expire_flag = 1", ["diagnoses_icd", "d_icd_diagnoses", "admissions"]),
    P("diagnoses.pop_readmit_30d", [
        "How many patients with an admission diagnosed with {title} were readmitted within 30 days of its discharge?",
        "Count the patients readmitted within a month after a hospital stay coded with {title}.",
        "Among admissions with the diagnosis {title}, how many distinct patients came back within 30 days of discharge?",
        "What number of patients had a new admission within 30 days after an admission with {title}?",
        "Give the count of distinct patients with a 30-day readmission following a stay diagnosed with {title}.",
        "How many patients diagnosed with {title} returned to hospital within 30 days after that discharge?",
    ], _POP_DX,
        f"SELECT count(DISTINCT a.subject_id) FROM {DX_JOIN} JOIN admissions a ON diagnoses_icd.hadm_id = a.hadm_id "
        "WHERE d_icd_diagnoses.long_title = {title} AND EXISTS (SELECT 1 FROM admissions b WHERE "
        "b.subject_id = a.subject_id AND b.hadm_id <> a.hadm_id AND b.admittime > a.dischtime "
        "AND b.admittime <= a.dischtime + INTERVAL 30 DAY)", ["diagnoses_icd", "d_icd_diagnoses", "admissions"],
        rel=True, multi=True),
    # procedures
    P("procedures.pop_patient_count", [
        "How many patients in the database underwent {title}?",
        "Count the patients who had the procedure {title}.",
        "What number of patients have {title} among their procedures?",
        "Across all patients, how many received {title}?",
        "Give the number of distinct patients with a recorded {title} procedure.",
        "How many patients had {title} performed at least once?",
    ], _POP_PX,
        f"SELECT count(DISTINCT procedures_icd.subject_id) FROM {PX_JOIN} WHERE d_icd_procedures.long_title = {{title}}",
        ["procedures_icd", "d_icd_procedures"]),
    P("procedures.pop_top3", [
        "Which 3 procedures are performed most often in the database?",
        "What are the three most frequent procedures across all admissions?",
        "List the top 3 procedures by number of times coded.",
        "Name the three most common procedure titles.",
        "Rank procedures by how often they are recorded and give the top three.",
        "Which three procedures appear most frequently among the coded procedures?",
    ], "SELECT count(*) AS n FROM procedures_icd",
        f"SELECT d_icd_procedures.long_title FROM {PX_JOIN} GROUP BY d_icd_procedures.long_title "
        "ORDER BY count(*) DESC, d_icd_procedures.long_title LIMIT 3", ["procedures_icd", "d_icd_procedures"]),
    P("procedures.pop_within_2d", [
        "How many patients underwent {title} within 2 days of a hospital admission?",
        "Count the patients who had {title} in the first two days of an admission.",
        "What number of patients received {title} no later than two days after the admission date?",
        "Across all patients, how many had {title} performed within 48 hours of being admitted (by date)?",
        "Give the number of distinct patients with {title} dated within 2 days of their admission.",
        "How many patients got {title} early in a stay, within two days of admission?",
    ], _POP_PX,
        f"SELECT count(DISTINCT procedures_icd.subject_id) FROM {PX_JOIN} JOIN admissions ON "
        "procedures_icd.hadm_id = admissions.hadm_id WHERE d_icd_procedures.long_title = {title} "
        "AND date_diff('day', CAST(admissions.admittime AS DATE), procedures_icd.chartdate) BETWEEN 0 AND 2",
        ["procedures_icd", "d_icd_procedures", "admissions"], rel=True),
    # labs
    P("labs.pop_patient_count", [
        "How many patients in the database had at least one {label} test?",
        "Count the patients with a {label} result.",
        "What number of patients were ever tested for {label}?",
        "Across all patients, how many have a {label} measurement?",
        "Give the number of distinct patients with {label} among their labs.",
        "How many patients had {label} measured at least once?",
    ], _POP_LAB,
        f"SELECT count(DISTINCT labevents.subject_id) FROM {LAB_JOIN} WHERE d_labitems.label = {{label}}",
        ["labevents", "d_labitems"]),
    P("labs.pop_mean", [
        "What is the average {label} value across all patients in the database?",
        "Compute the mean of every {label} result in the database.",
        "On average, what is the {label} over all recorded results?",
        "Across all patients and admissions, what is the mean {label}?",
        "Give the database-wide average of {label}.",
        "What mean {label} do all recorded lab results give?",
    ], _POP_LAB,
        f"SELECT avg(labevents.valuenum) FROM {LAB_JOIN} WHERE d_labitems.label = {{label}}",
        ["labevents", "d_labitems"]),
    P("labs.pop_max", [
        "What is the highest {label} value recorded for any patient?",
        "Across the whole database, what is the maximum {label}?",
        "Give the largest {label} result of all patients.",
        "Over all lab results, how high was the highest {label}?",
        "Which is the peak {label} value among all patients' results?",
        "What is the maximum {label} measurement in the database?",
    ], _POP_LAB,
        f"SELECT max(labevents.valuenum) FROM {LAB_JOIN} WHERE d_labitems.label = {{label}}",
        ["labevents", "d_labitems"]),
    P("labs.pop_top3_abnormal", [
        "Which 3 lab tests are flagged abnormal most often?",
        "What are the three lab tests with the most abnormal results in the database?",
        "List the top 3 labs by number of abnormal-flagged results.",
        "Name the three tests that come back abnormal most frequently.",
        "Rank lab tests by count of abnormal results and give the first three.",
        "Across all patients, which three laboratory tests have the most abnormal flags?",
    ], "SELECT count(*) AS n FROM labevents WHERE flag = 'abnormal'",
        f"SELECT d_labitems.label FROM {LAB_JOIN} WHERE labevents.flag = 'abnormal' AND d_labitems.label IS NOT NULL "
        "GROUP BY d_labitems.label ORDER BY count(*) DESC, d_labitems.label LIMIT 3", ["labevents", "d_labitems"]),
    P("labs.pop_abnormal_first_24h", [
        "How many patients had an abnormal {label} within the first 24 hours of a hospital admission?",
        "Count the patients with an abnormal-flagged {label} in the first day of an admission.",
        "What number of patients had {label} flagged abnormal within 24 hours of being admitted?",
        "Across all admissions, how many distinct patients had an abnormal {label} on the first day?",
        "Give the number of patients whose {label} was abnormal within a day of hospital admission.",
        "How many patients show an abnormal {label} in the first 24 hours of any stay?",
    ], f"""SELECT DISTINCT d.label FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
           JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.flag = 'abnormal' AND d.label IS NOT NULL
           AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR
           AND d.label IN ({_POP_LAB})""",
        f"SELECT count(DISTINCT labevents.subject_id) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE d_labitems.label = {label} AND labevents.flag = 'abnormal' "
        "AND labevents.charttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR",
        ["labevents", "d_labitems", "admissions"], rel=True),
    P("labs.pop_mean_first_24h", [
        "What is the average {label} measured within the first 24 hours of hospital admissions?",
        "Across all admissions, what is the mean {label} of results drawn in the first day?",
        "Compute the mean {label} over results taken within 24 hours of admission.",
        "On the first day of a hospital stay, what is the {label} on average?",
        "Give the database-wide average of {label} values from the first 24 hours of admissions.",
        "What mean {label} do results drawn within a day of admission give?",
    ], f"""SELECT DISTINCT d.label FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
           JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.valuenum IS NOT NULL
           AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR
           AND d.label IN ({_POP_LAB})""",
        f"SELECT avg(labevents.valuenum) FROM {LAB_JOIN} JOIN admissions ON labevents.hadm_id = admissions.hadm_id "
        "WHERE d_labitems.label = {label} AND labevents.charttime BETWEEN admissions.admittime "
        "AND admissions.admittime + INTERVAL 24 HOUR", ["labevents", "d_labitems", "admissions"], rel=True),
    P("labs.pop_high_last_24h", [
        "How many admissions had a {label} above the upper reference limit in the last 24 hours before discharge?",
        "Count the hospital stays with a high {label} (above reference) during the final day.",
        "In how many admissions was {label} still above its reference range within 24 hours of discharge?",
        "Across all patients, how many admissions show {label} over the upper limit of normal in the last day of the stay?",
        "Give the number of admissions with an above-range {label} in the 24 hours before discharge.",
        "How many stays ended with a {label} above the reference range at some point in their last 24 hours?",
    ], f"""SELECT DISTINCT d.label FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
           JOIN admissions a ON e.hadm_id = a.hadm_id WHERE e.valuenum > e.ref_range_upper
           AND e.charttime BETWEEN a.dischtime - INTERVAL 24 HOUR AND a.dischtime
           AND d.label IN ({_POP_LAB})""",
        f"SELECT count(DISTINCT labevents.hadm_id) FROM {LAB_JOIN} JOIN admissions ON "
        "labevents.hadm_id = admissions.hadm_id WHERE d_labitems.label = {label} AND labevents.valuenum > "
        "labevents.ref_range_upper AND labevents.charttime BETWEEN admissions.dischtime - INTERVAL 24 HOUR "
        "AND admissions.dischtime", ["labevents", "d_labitems", "admissions"], rel=True),
    # prescriptions
    P("prescriptions.pop_patient_count", [
        "How many patients in the database were prescribed {drug}?",
        "Count the patients who received a prescription of {drug}.",
        "What number of patients have {drug} among their prescriptions?",
        "Across all patients, how many were ever given {drug} on prescription?",
        "Give the number of distinct patients with an order for {drug}.",
        "How many patients had {drug} prescribed at least once?",
    ], _POP_DRUG, "SELECT count(DISTINCT subject_id) FROM prescriptions WHERE drug = {drug}", ["prescriptions"]),
    P("prescriptions.pop_top3", [
        "Which 3 drugs are prescribed most often?",
        "What are the three most frequently prescribed drugs in the database?",
        "List the top 3 drugs by number of prescriptions.",
        "Name the three medications with the most prescription orders.",
        "Rank drugs by prescription count and give the first three.",
        "Across all patients, which three drugs were ordered most often?",
    ], "SELECT count(*) AS n FROM prescriptions WHERE drug IS NOT NULL",
        "SELECT drug FROM prescriptions WHERE drug IS NOT NULL GROUP BY drug ORDER BY count(*) DESC, drug LIMIT 3",
        ["prescriptions"]),
    P("prescriptions.pop_top_routes", [
        "Which 3 administration routes are the most common among prescriptions?",
        "What are the three most frequent prescription routes?",
        "List the top 3 routes by number of prescriptions.",
        "Name the three routes drugs are most often prescribed by.",
        "Rank prescription routes by frequency and give the first three.",
        "Across all prescriptions, which three routes occur most often?",
    ], "SELECT count(*) AS n FROM prescriptions WHERE route IS NOT NULL",
        "SELECT route FROM prescriptions WHERE route IS NOT NULL GROUP BY route ORDER BY count(*) DESC, route LIMIT 3",
        ["prescriptions"]),
    P("prescriptions.pop_first_24h", [
        "How many patients were started on {drug} within 24 hours of a hospital admission?",
        "Count the patients with a {drug} prescription starting in the first day of an admission.",
        "What number of patients had {drug} prescribed within the first 24 hours of a stay?",
        "Across all admissions, how many distinct patients got {drug} started on the first day?",
        "Give the number of patients for whom {drug} was started within a day of admission.",
        "How many patients began {drug} during the first 24 hours after being admitted?",
    ], """SELECT DISTINCT p.drug FROM prescriptions p JOIN admissions a ON p.hadm_id = a.hadm_id
          WHERE p.drug IS NOT NULL AND p.starttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT count(DISTINCT prescriptions.subject_id) FROM prescriptions JOIN admissions ON "
        "prescriptions.hadm_id = admissions.hadm_id WHERE prescriptions.drug = {drug} AND prescriptions.starttime "
        "BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR", ["prescriptions", "admissions"],
        rel=True),
    P("prescriptions.pop_mean_drugs_first_48h", [
        "On average, how many distinct drugs are started within the first 2 days of a hospital admission (over all admissions)?",
        "Across all admissions, what is the mean number of different drugs prescribed in the first 48 hours?",
        "Compute the average count of distinct drugs started within 48 hours of admission, over every admission.",
        "How many different medications does an admission get in its first two days, on average over all admissions?",
        "Give the mean number of unique drugs started in the first 48 hours per hospital admission (admissions without any count as zero).",
        "What is the average, over all hospital stays, of the number of distinct drugs started within 2 days of admission?",
    ], "SELECT count(*) AS n FROM admissions",
        "SELECT avg(n) FROM (SELECT admissions.hadm_id, count(DISTINCT prescriptions.drug) AS n FROM admissions "
        "LEFT JOIN prescriptions ON prescriptions.hadm_id = admissions.hadm_id AND prescriptions.starttime "
        "BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 48 HOUR GROUP BY admissions.hadm_id)",
        ["prescriptions", "admissions"], rel=True),
    # eMAR
    P("emar.pop_admin_count", [
        "How many administrations of {medication} are charted in the whole database?",
        "Count all 'Administered' eMAR entries of {medication}.",
        "What is the total number of times {medication} was given, over all patients?",
        "Across all patients, how many doses of {medication} were charted as administered?",
        "Give the database-wide count of {medication} administrations.",
        "How often was {medication} administered in total according to the eMAR?",
    ], _POP_MED,
        "SELECT count(*) FROM emar WHERE medication = {medication} AND event_txt = 'Administered'", ["emar"]),
    P("emar.pop_top3_given", [
        "Which 3 medications are administered most often according to the eMAR?",
        "What are the three most frequently administered medications?",
        "List the top 3 medications by number of charted administrations.",
        "Name the three drugs with the most 'Administered' eMAR entries.",
        "Rank medications by administration count and give the first three.",
        "Across all patients, which three medications were given most often?",
    ], "SELECT count(*) AS n FROM emar WHERE event_txt = 'Administered'",
        "SELECT medication FROM emar WHERE event_txt = 'Administered' AND medication IS NOT NULL "
        "GROUP BY medication ORDER BY count(*) DESC, medication LIMIT 3", ["emar"]),
    P("emar.pop_last_24h", [
        "How many patients received {medication} in the last 24 hours before a hospital discharge?",
        "Count the patients given {medication} during the final day of an admission.",
        "What number of patients had {medication} administered within 24 hours of discharge?",
        "Across all admissions, how many distinct patients got {medication} in the last 24 hours of the stay?",
        "Give the number of patients with a charted {medication} administration in the 24 hours before discharge.",
        "How many patients were still receiving {medication} during the last day in hospital?",
    ], """SELECT DISTINCT e.medication FROM emar e JOIN admissions a ON e.hadm_id = a.hadm_id
          WHERE e.medication IS NOT NULL AND e.event_txt = 'Administered'
          AND e.charttime BETWEEN a.dischtime - INTERVAL 24 HOUR AND a.dischtime""",
        "SELECT count(DISTINCT emar.subject_id) FROM emar JOIN admissions ON emar.hadm_id = admissions.hadm_id "
        "WHERE emar.medication = {medication} AND emar.event_txt = 'Administered' AND emar.charttime BETWEEN "
        "admissions.dischtime - INTERVAL 24 HOUR AND admissions.dischtime", ["emar", "admissions"], rel=True),
    P("emar.pop_first_24h", [
        "How many patients received {medication} within the first 24 hours of a hospital admission?",
        "Count the patients given {medication} during the first day of an admission.",
        "What number of patients had {medication} administered within 24 hours of being admitted?",
        "Across all admissions, how many distinct patients got {medication} on the first day?",
        "Give the number of patients with a charted {medication} administration in the first 24 hours of a stay.",
        "How many patients were given {medication} early, within a day of admission?",
    ], """SELECT DISTINCT e.medication FROM emar e JOIN admissions a ON e.hadm_id = a.hadm_id
          WHERE e.medication IS NOT NULL AND e.event_txt = 'Administered'
          AND e.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 24 HOUR""",
        "SELECT count(DISTINCT emar.subject_id) FROM emar JOIN admissions ON emar.hadm_id = admissions.hadm_id "
        "WHERE emar.medication = {medication} AND emar.event_txt = 'Administered' AND emar.charttime BETWEEN "
        "admissions.admittime AND admissions.admittime + INTERVAL 24 HOUR", ["emar", "admissions"], rel=True),
    # microbiology
    P("microbiology.pop_top_organisms", [
        "Which 3 organisms were isolated from the most patients?",
        "What are the three organisms found in the largest number of patients?",
        "List the top 3 organisms by number of distinct patients with a positive culture.",
        "Name the three most widespread organisms across patients in the microbiology data.",
        "Rank organisms by how many patients grew them and give the first three.",
        "Across all patients, which three organisms were cultured from the most people?",
    ], "SELECT count(*) AS n FROM microbiologyevents WHERE org_name IS NOT NULL",
        "SELECT org_name FROM microbiologyevents WHERE org_name IS NOT NULL GROUP BY org_name "
        "ORDER BY count(DISTINCT subject_id) DESC, org_name LIMIT 3", ["microbiologyevents"]),
    P("microbiology.pop_patients_with_organism", [
        "How many patients had {organism} isolated in a microbiology culture?",
        "Count the patients from whom {organism} was grown.",
        "What number of patients have a culture positive for {organism}?",
        "Across all patients, how many grew {organism} in any specimen?",
        "Give the number of distinct patients with {organism} in their microbiology results.",
        "How many patients had at least one {organism} isolate?",
    ], "SELECT DISTINCT org_name AS organism FROM microbiologyevents WHERE org_name IS NOT NULL",
        "SELECT count(DISTINCT subject_id) FROM microbiologyevents WHERE org_name = {organism}",
        ["microbiologyevents"]),
    P("microbiology.pop_specimen_count", [
        "How many {specimen} specimens were sent to microbiology in total?",
        "Count all distinct microbiology specimens of type {specimen}.",
        "What is the total number of {specimen} samples in the microbiology data?",
        "Across all patients, how many {specimen} specimens were collected?",
        "Give the database-wide number of distinct {specimen} specimens.",
        "How many separate {specimen} specimens does the microbiology table hold?",
    ], "SELECT DISTINCT spec_type_desc AS specimen FROM microbiologyevents WHERE spec_type_desc IS NOT NULL",
        "SELECT count(DISTINCT micro_specimen_id) FROM microbiologyevents WHERE spec_type_desc = {specimen}",
        ["microbiologyevents"]),
    P("microbiology.pop_first_48h", [
        "How many patients had {organism} isolated from a specimen collected within 2 days of a hospital admission?",
        "Count the patients with {organism} grown from a specimen taken in the first 48 hours of an admission.",
        "What number of patients had a culture positive for {organism} collected within two days of being admitted?",
        "Across all admissions, how many distinct patients grew {organism} from an early specimen (first 48 hours)?",
        "Give the number of patients with {organism} in a specimen drawn within 48 hours of admission.",
        "How many patients had {organism} detected in specimens from the first two days of a stay?",
    ], """SELECT DISTINCT m.org_name AS organism FROM microbiologyevents m JOIN admissions a ON m.hadm_id = a.hadm_id
          WHERE m.org_name IS NOT NULL AND m.charttime BETWEEN a.admittime AND a.admittime + INTERVAL 48 HOUR""",
        "SELECT count(DISTINCT microbiologyevents.subject_id) FROM microbiologyevents JOIN admissions ON "
        "microbiologyevents.hadm_id = admissions.hadm_id WHERE microbiologyevents.org_name = {organism} AND "
        "microbiologyevents.charttime BETWEEN admissions.admittime AND admissions.admittime + INTERVAL 48 HOUR",
        ["microbiologyevents", "admissions"], rel=True),
    # ICU
    P("icu.pop_count", [
        "How many ICU stays are recorded in the database?",
        "Count all intensive care unit stays.",
        "What is the total number of ICU stays across all patients?",
        "How many ICU admissions does the database contain?",
        "Give the number of intensive care stays on record.",
        "Across all patients, how many ICU stays are there?",
    ], "SELECT count(*) AS n FROM icustays", "SELECT count(*) FROM icustays", ["icustays"]),
    P("icu.pop_mean_los_by_unit", [
        "What is the average ICU length of stay in days for stays that began in {careunit}?",
        "On average, how many days do ICU stays with first care unit {careunit} last?",
        "Compute the mean ICU los over stays whose first unit was {careunit}.",
        "Across all patients, what is the mean length in days of an ICU stay starting in {careunit}?",
        "Give the average length of stay of ICU stays with first_careunit {careunit}.",
        "For ICU stays first admitted to {careunit}, what is the mean duration in days?",
    ], "SELECT DISTINCT first_careunit AS careunit FROM icustays WHERE first_careunit IS NOT NULL AND los IS NOT NULL",
        "SELECT avg(los) FROM icustays WHERE first_careunit = {careunit}", ["icustays"]),
    P("icu.pop_within_24h", [
        "How many patients entered an ICU within 24 hours of a hospital admission?",
        "Count the patients with an ICU stay that began in the first day of an admission.",
        "What number of patients were moved to intensive care within 24 hours of being admitted?",
        "Across all admissions, how many distinct patients reached the ICU on the first day?",
        "Give the number of patients whose ICU stay started within a day of hospital admission.",
        "How many patients went to the ICU early, within 24 hours after admission?",
    ], "SELECT count(*) AS n FROM icustays",
        "SELECT count(DISTINCT icustays.subject_id) FROM icustays JOIN admissions ON icustays.hadm_id = "
        "admissions.hadm_id WHERE icustays.intime BETWEEN admissions.admittime AND admissions.admittime "
        "+ INTERVAL 24 HOUR", ["icustays", "admissions"], rel=True),
    # transfers
    P("transfers.pop_top_units", [
        "Which 3 care units receive the most transfers?",
        "What are the three care units with the most transfer records?",
        "List the top 3 hospital units by number of transfers into them.",
        "Name the three busiest care units by transfer count.",
        "Rank care units by number of transfers and give the first three.",
        "Across all admissions, which three units appear most often in the transfers?",
    ], "SELECT count(*) AS n FROM transfers WHERE careunit IS NOT NULL",
        "SELECT careunit FROM transfers WHERE careunit IS NOT NULL GROUP BY careunit "
        "ORDER BY count(*) DESC, careunit LIMIT 3", ["transfers"]),
    P("transfers.pop_patients_in_unit", [
        "How many patients stayed in {careunit} at some point?",
        "Count the patients with a transfer into {careunit}.",
        "What number of patients were cared for in {careunit}?",
        "Across all admissions, how many distinct patients passed through {careunit}?",
        "Give the number of patients with at least one stay in {careunit}.",
        "How many patients were ever placed in the {careunit} unit?",
    ], "SELECT DISTINCT careunit FROM transfers WHERE careunit IS NOT NULL",
        "SELECT count(DISTINCT subject_id) FROM transfers WHERE careunit = {careunit}", ["transfers"]),
    # DRG, OMR, vital signs
    P("drg.pop_top", [
        "Which 3 {drg_type} DRGs are assigned most often?",
        "What are the three most frequent {drg_type} DRG descriptions?",
        "List the top 3 {drg_type} diagnosis-related groups by number of admissions.",
        "Name the three {drg_type} DRG descriptions that occur most frequently.",
        "Rank {drg_type} DRGs by frequency and give the first three.",
        "Across all admissions, which three {drg_type} DRGs were coded most often?",
    ], "SELECT DISTINCT drg_type FROM drgcodes WHERE drg_type IS NOT NULL AND description IS NOT NULL",
        "SELECT description FROM drgcodes WHERE drg_type = {drg_type} AND description IS NOT NULL "
        "GROUP BY description ORDER BY count(*) DESC, description LIMIT 3", ["drgcodes"]),
    P("omr.pop_patient_count", [
        "How many patients have at least one {result_name} entry in the outpatient record?",
        "Count the patients with a recorded {result_name} in the OMR table.",
        "What number of patients had {result_name} documented as an outpatient measurement?",
        "Across all patients, how many have an OMR {result_name}?",
        "Give the number of distinct patients with {result_name} in their outpatient measurements.",
        "How many patients had {result_name} recorded in the online medical record?",
    ], "SELECT DISTINCT result_name FROM omr WHERE result_name IS NOT NULL",
        "SELECT count(DISTINCT subject_id) FROM omr WHERE result_name = {result_name}", ["omr"]),
    P("vitals.pop_mean", [
        "What is the average charted {label} across all patients?",
        "Compute the mean of every charted {label} value in the database.",
        "On average, what is the charted {label} over all patients and stays?",
        "Across all admissions, what is the mean recorded {label}?",
        "Give the database-wide average of the charted {label}.",
        "What mean {label} do all chart events give?",
    ], """SELECT d.label FROM chartevents c JOIN d_items d ON c.itemid = d.itemid WHERE d.label IS NOT NULL
          GROUP BY d.label HAVING count(DISTINCT c.itemid) = 1 AND count(c.valuenum) = count(*)""",
        "SELECT avg(chartevents.valuenum) FROM chartevents JOIN d_items ON chartevents.itemid = d_items.itemid "
        "WHERE d_items.label = {label}", ["chartevents", "d_items"]),
]

# Unanswerable questions added with the population-level and relative-time ones (issue 11); each
# has a verify query looking for the data it asks about in the release database.

#: a column whose name suggests the data exists (the release schema has none of these today)
_V_COLUMN = "SELECT count(*) FROM information_schema.columns WHERE lower(column_name) SIMILAR TO '{pattern}'"

UNANSWERABLE += [
    T("unanswerable.next_admission", [
        "When will patient {subject_id} next be admitted to the hospital after admission {hadm_id}?",
        "On what date will patient {subject_id} be readmitted following the stay admitted on {admittime}?",
        "Patient {subject_id}, after admission {hadm_id}: date of the next hospital admission?",
        "How many days after discharge from hospital stay {hadm_id} will patient {subject_id} come back?",
        "Predict the date of patient {subject_id}'s next hospitalisation after the one that began on {admittime}.",
        "Tell me when patient {subject_id}'s upcoming admission after hospital stay {hadm_id} will take place.",
    ], """SELECT a.subject_id, a.hadm_id, a.admittime FROM admissions a
          WHERE a.admittime = (SELECT max(b.admittime) FROM admissions b WHERE b.subject_id = a.subject_id)""",
        None, [], ["admissions"],
        """SELECT count(*) FROM admissions b WHERE b.subject_id = {subject_id}
           AND b.admittime > (SELECT a.admittime FROM admissions a WHERE a.hadm_id = {hadm_id})""", rel=True,
        multi=True),
    T("unanswerable.weight_today", [
        "How much does patient {subject_id} weigh today, after discharge from admission {hadm_id}?",
        "What is patient {subject_id}'s current body weight now that the stay admitted on {admittime} is over?",
        "Patient {subject_id}, after admission {hadm_id}: weight as of today?",
        "Tell me the present weight of patient {subject_id}, at this moment, after hospital stay {hadm_id}.",
        "Now that patient {subject_id} has left the hospitalisation that began on {admittime}, what do they weigh?",
        "What would patient {subject_id}'s weight be if measured right now, after admission {hadm_id}?",
    ], """SELECT a.subject_id, a.hadm_id, a.admittime FROM admissions a
          WHERE a.admittime = (SELECT max(b.admittime) FROM admissions b WHERE b.subject_id = a.subject_id)""",
        None, [], ["admissions", "omr"],
        """SELECT count(*) FROM omr WHERE subject_id = {subject_id} AND lower(result_name) LIKE 'weight%'
           AND chartdate > (SELECT CAST(max(coalesce(a.dischtime, a.admittime)) AS DATE) FROM admissions a
                            WHERE a.hadm_id = {hadm_id})""", rel=True),
    P("unanswerable.pop_blood_type", [
        "How many patients in the database have blood type O negative?",
        "Count the patients whose ABO blood group is A.",
        "What share of patients are Rh-negative?",
        "Across all patients, which blood type is the most common?",
        "Give the number of patients with blood group AB.",
        "How many patients in this dataset have blood type B positive?",
    ], "SELECT count(*) AS n FROM patients", None, [], ["patients", "labevents", "d_labitems"],
        f"SELECT count(*) FROM {LAB_JOIN} WHERE lower(d_labitems.label) SIMILAR TO '.*(blood type|abo group|rh type).*'"),
    P("unanswerable.pop_income", [
        "What is the average household income of patients diagnosed with {title}?",
        "Among patients with {title}, what is the median annual income?",
        "How does income differ between patients with and without {title}?",
        "Give the mean yearly salary of the database's patients coded with {title}.",
        "Across patients diagnosed with {title}, what is the typical household income?",
        "What share of patients with {title} earn below the poverty line?",
    ], _POP_DX, None, [], ["diagnoses_icd", "d_icd_diagnoses"],
        _V_COLUMN.format(pattern=".*(income|salary|earning).*")),
    P("unanswerable.pop_top_attendings", [
        "Which attending physician treated the most patients in the database? Give the name.",
        "Name the doctor with the most admissions as attending.",
        "Who are the three physicians (by name) that admitted the most patients?",
        "Across all admissions, which attending doctor's name appears most often?",
        "Give the name of the physician responsible for the largest number of hospital stays.",
        "Rank attending physicians by number of patients and give the top name.",
    ], "SELECT count(*) AS n FROM admissions", None, [], ["admissions"],
        _V_COLUMN.format(pattern=".*(physician|doctor|attending).*name.*")),
    P("unanswerable.pop_smokers", [
        "How many patients in the database are current smokers?",
        "Count the patients with a smoking history.",
        "What share of patients smoke cigarettes?",
        "Across all patients, how many have ever used tobacco?",
        "Give the number of patients recorded as former smokers.",
        "How many patients in this dataset smoke more than a pack a day?",
    ], "SELECT count(*) AS n FROM patients", None, [], ["patients", "omr"],
        "SELECT count(*) FROM omr WHERE lower(result_name) SIMILAR TO '.*(smok|tobacco|cigar).*'"),
    P("unanswerable.pop_satisfaction", [
        "What is the average patient satisfaction score of {careunit}?",
        "How satisfied were patients cared for in {careunit}, on average?",
        "Which rating did patients give {careunit} in satisfaction surveys?",
        "Across all stays in {careunit}, what is the mean patient-experience score?",
        "Give the share of patients in {careunit} who would recommend the unit.",
        "How do patients rate their care in {careunit}?",
    ], "SELECT DISTINCT careunit FROM transfers WHERE careunit IS NOT NULL", None, [], ["transfers"],
        _V_COLUMN.format(pattern=".*(satisf|survey|rating).*")),
]

ANSWERABLE += POPULATION

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
