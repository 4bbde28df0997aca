"""Expected answer types, gold values and the normalised answer match of the qa family.

Every question template of the SQL family (`medbench.tasks.sql.templates`) has one expected answer
type here (`ANSWER_TYPES`, unanswerable templates included, so the type never tells whether a
question is answerable):

- `number`: the answer is one number, optionally followed by a unit (at most three short words:
  letters, `%`, `°`, `/`), e.g. `7.4`, `-2`, `1,234 mg/dL`, `~37.5 hours`. The unit is ignored
  (unit-free); the number matches the gold within a relative tolerance of `REL_TOL` = 1% or an
  absolute one of `ABS_TOL` = 0.0005 (gold numbers are rounded to 3 decimals), whichever is larger.
  Anything else in the answer (a sentence, two numbers) is not a number answer: wrong.
- `date`: one date or date-time (`YYYY-MM-DD`, optionally ` HH:MM[:SS]` or `T...`; also
  `MM/DD/YYYY`, `March 3, 2150`, `3 March 2150`): matches when the calendar day equals the gold's.
- `yesno`: the answer starts with yes/no (or true/false) and has at most `YESNO_WORDS` words; gold
  1/true is yes, 0/false is no.
- `string`: case-, whitespace- and edge-punctuation-insensitive equality (`norm_text`); a numeric
  gold cell (an OMR value "23.4") also matches the same number as for `number`.
- `list`: a set of values, order-free, without duplicates: a JSON list, or one value per line, or
  values separated by `;` or `|` — or, when that yields one value, by `,` (ICD titles hold commas,
  so both readings are tried). Matches when the predicted set equals the gold set, element by
  element under the `string` rule.

Gold values (`gold_values`) come from the raw rows of the template's gold SQL as executed by the SQL
family's builder (the same execution, not a second one): timestamps as `YYYY-MM-DD HH:MM:SS`, dates
ISO, numbers as JSON numbers, booleans as `yes`/`no`. A question with several gold columns (the
first dose: value and unit) is answered by its first column (`number`: unit-free).

Every function here is linear in its input and never raises on hostile text; answers are read up
to `MAX_ANSWER_CHARS` (longer ones are wrong: a copied record is never an answer).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import math
import re
from typing import Any, Literal

AnswerType = Literal["number", "date", "string", "list", "yesno"]
REL_TOL = 0.01
ABS_TOL = 0.0005
YESNO_WORDS = 12
MAX_ANSWER_CHARS = 20_000

_NUMBER = ("admissions.count", "admissions.length_of_stay", "admissions.count_since",
           "admissions.days_since_previous", "admissions.ed_hours", "demographics.age_at_admission",
           "transfers.count_unit", "transfers.hours_in_unit", "diagnoses.admissions_with_title",
           "diagnoses.icd_version", "procedures.count", "labs.last_value", "labs.first_value",
           "labs.max_value", "labs.min_value_ever", "labs.mean_value", "labs.count",
           "labs.change_first_to_last", "labs.abnormal_count", "labs.max_first_24h", "labs.min_last_24h",
           "labs.count_first_48h", "prescriptions.count_first_48h", "labs.count_since",
           "labs.above_reference", "prescriptions.first_dose", "prescriptions.count",
           "prescriptions.after_procedure", "emar.administered_count", "emar.given_last_24h",
           "emar.not_given_count", "icu.count", "icu.length_of_stay", "icu.total_days", "icu.hours_to_icu",
           "omr.count_since", "vitals.max_value", "vitals.last_value", "vitals.min_first_24h_icu",
           "drg.severity",
           # unanswerable questions, typed by what they ask for
           "unanswerable.lab_now", "unanswerable.next_lab", "unanswerable.readmission_risk",
           "unanswerable.smoking")
_DATE = ("demographics.date_of_death", "admissions.first_admission_time", "diagnoses.first_time",
         "procedures.date_by_title", "labs.last_time", "prescriptions.first_start",
         "emar.last_administered", "microbiology.first_specimen_date",
         "unanswerable.followup_appointment", "unanswerable.symptom_onset")
_YESNO = ("demographics.died_in_hospital", "labs.last_higher_than_first", "unanswerable.dose_increase")
_LIST = ("admissions.services", "transfers.careunits", "diagnoses.list", "procedures.list",
         "labs.abnormal_first_24h", "prescriptions.first_24h", "prescriptions.route",
         "prescriptions.by_route", "emar.event_types", "microbiology.specimens", "microbiology.organisms",
         "microbiology.tests", "microbiology.resistant_antibiotics", "diagnoses.code_by_title",
         "procedures.code_by_title", "drg.description",
         "unanswerable.home_medications", "unanswerable.allergies")
_STRING = ("demographics.gender", "demographics.insurance", "demographics.language",
           "demographics.marital_status", "demographics.race", "admissions.admission_type",
           "admissions.admission_location", "admissions.discharge_location", "transfers.first_careunit",
           "diagnoses.primary", "diagnoses.title_by_code", "procedures.title_by_code", "icu.first_careunit",
           "omr.last_value",
           "unanswerable.blood_type", "unanswerable.attending_name", "unanswerable.prescriber_name",
           "unanswerable.home_address", "unanswerable.phone_number", "unanswerable.genetic_testing",
           "unanswerable.room_number", "unanswerable.drug_reason", "unanswerable.nurse_name",
           "unanswerable.treatment_advice", "unanswerable.occupation", "unanswerable.email",
           "unanswerable.policy_number", "unanswerable.religion", "unanswerable.lab_order_reason",
           "unanswerable.emergency_contact")

#: template name -> declared expected answer type; a template not named here (the bank grows) gets
#: one inferred from its gold SQL or wording (`infer_answer_type`); tests check every template has one
ANSWER_TYPES: dict[str, AnswerType] = {
    **{t: "number" for t in _NUMBER}, **{t: "date" for t in _DATE}, **{t: "yesno" for t in _YESNO},
    **{t: "list" for t in _LIST}, **{t: "string" for t in _STRING},
}

_TIME_WORDS = re.compile(r"\b\w*(?:time|date|dod|deathtime)\b")
_NUMERIC_FN = re.compile(r"^(?:count|sum|avg|mean|median|stddev\w*|round|date_diff|datediff|date_sub|epoch|"
                         r"extract|abs|greatest|least|ceil|floor|cast\s*\(.*\bas\s+(?:int|integer|double|"
                         r"float|decimal|bigint)\b)")
_NUMERIC_COL = re.compile(r"\b(?:valuenum|value_num|amount|dose_val\w*|rate|seq_num|anchor_age|age|los|"
                          r"count|n|num\w*|total\w*|days|hours|minutes|icd_version|drg_severity|"
                          r"drg_mortality)\b")
_YESNO_START = re.compile(r"^(?:is|was|were|are|does|did|do|has|had|have|will|would|should|can|could)\b")


def _top_level(sql: str, word: str) -> list[int]:
    """Offsets of `word` (lower-case, whole word) at parenthesis depth 0 of `sql` (lower-cased)."""
    out, depth, quote = [], 0, False
    n = len(word)
    for i, ch in enumerate(sql):
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and sql.startswith(word, i) and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")) \
                and (i + n >= len(sql) or not (sql[i + n].isalnum() or sql[i + n] == "_")):
            out.append(i)
    return out


def bare_name(col: str) -> str:
    return col.split(".")[-1].strip('"')


def _depth0(expr: str) -> str:
    """`expr` with every parenthesised part dropped (what is left at depth 0)."""
    out, depth = [], 0
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def _first_column(select_list: str) -> str:
    depth = 0
    for i, ch in enumerate(select_list):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            return select_list[:i]
    return select_list


def infer_answer_type(gold_sql: str | None, phrasing: str) -> AnswerType:
    """An expected answer type from a template's metadata, for a template `ANSWER_TYPES` does not
    declare: the first column of the outermost SELECT of its gold SQL — a CASE/comparison is
    yes/no; an aggregate or arithmetic is a number, except MIN/MAX of a time column (a date); a
    bare time column is a date, a numeric column a number; other columns a string when the query
    is a list when the query asks DISTINCT values (or aggregates them into one), else a string (a
    string question whose gold has several values is still matched as a set). An unanswerable template (no gold SQL) is typed by its
    first phrasing's wording (how many/much → number, when/what date → date, is/does/… → yes/no,
    list/which …s → list, else string)."""
    if gold_sql:
        sql = " ".join(gold_sql.lower().split())
        selects = _top_level(sql, "select")
        if selects:
            body = sql[selects[-1] + len("select"):]
            froms = _top_level(body, "from")
            select_list = body[:froms[0]] if froms else body
            distinct = select_list.strip().startswith("distinct")
            col = _first_column(select_list).strip()
            col = re.sub(r"^distinct\s+", "", col)
            col = re.sub(r"\s+as\s+\"?\w+\"?$", "", col).strip()
            if col.startswith(("case ", "exists", "not exists")) or bare_name(col).endswith("_flag"):
                return "yesno"
            if re.match(r"^(?:min|max|arg_min|arg_max|first|last)\s*\(", col):
                inner = col[col.index("(") + 1:]
                return "date" if _TIME_WORDS.search(inner.split(",")[0]) and not _NUMERIC_FN.match(inner) else "number"
            if _NUMERIC_FN.match(col):
                return "number"
            flat = _depth0(col)
            if re.search(r"[<>]=?|<>|!=|\s=\s|\bin\s*\(", flat):
                return "yesno"
            if re.search(r"[-+*/]", re.sub(r"'[^']*'", "", flat)):
                return "number"
            bare = bare_name(col)
            if _TIME_WORDS.search(bare) or re.match(r"^(?:cast\s*\(.*\bas\s+date|date_trunc|strftime|date\s*\()", col):
                return "date"
            if _NUMERIC_COL.search(bare):
                return "number"
            many = distinct or re.match(r"^(?:string_agg|list|array_agg|group_concat)\s*\(", col)
            return "list" if many else "string"
    q = " ".join(phrasing.lower().split())
    q = re.sub(r"^(?:for|in|during|on|about)\b[^,]*,\s*", "", q)  # "for patient 7, ..." -> the question
    if re.match(r"^(?:how many|how much|how long|how old|how likely|what (?:is|was|will) (?:the )?(?:\w+ )*(?:value|"
                r"level|count|number of (?!patient)|dose|score|rate|amount|weight|height|bmi|risk|probability))\b", q) \
            or ("{label}" in q and not re.search(r"\b(?:why|reason|ordered)\b", q)):
        return "number"
    if re.match(r"^(?:when|what date|what day|on what date|what time)\b", q) or " what date" in q:
        return "date"
    if _YESNO_START.match(q):
        return "yesno"
    if re.match(r"^(?:list|name all|name every|what are|which \w+s\b)", q) or "allergic" in q:
        return "list"
    return "string"


@functools.cache
def _templates() -> dict[str, Any]:
    from medbench.tasks.sql.templates import TEMPLATES

    return {t.name: t for t in TEMPLATES}


def answer_type(template: str) -> AnswerType:
    """The template's expected answer type: declared (`ANSWER_TYPES`), else inferred from the SQL
    family's template metadata (`infer_answer_type`)."""
    if template in ANSWER_TYPES:
        return ANSWER_TYPES[template]
    t = _templates().get(template)
    if t is None:
        raise ValueError(f"qa: template {template!r} is not in the SQL family's bank")
    return infer_answer_type(t.gold, t.phrasings[0])


# ---------------------------------------------------------------------------------- gold values


def _value(v: Any) -> Any:
    """One raw gold cell as a JSON value."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else str(v)
    if isinstance(v, int):
        return v
    return str(v)


def gold_values(rows: list[tuple], typ: AnswerType) -> list:
    """The gold answer as a list of JSON values (sorted, distinct), from the gold SQL's raw rows:
    the first column of every row whose first cell is not null."""
    vals = [_value(r[0]) for r in rows if r and r[0] is not None]
    if typ == "yesno":
        vals = [("yes" if float(v) else "no") if isinstance(v, (int, float)) else v for v in vals]
    out: dict[str, Any] = {}
    for v in vals:
        out.setdefault(json.dumps(v, sort_keys=True), v)
    return [out[k] for k in sorted(out)]


def display(values: list) -> str:
    """The gold values as the answer a reader would write (one per line for several)."""
    return "\n".join(str(v) for v in values)


# ---------------------------------------------------------------------------------- matching

_WS = re.compile(r"\s+")
_EDGE = re.compile(r"^[\s\"'`*.,;:!?()\[\]{}]+|[\s\"'`*.,;:!?()\[\]{}]+$")
_NUM = re.compile(r"^[~≈]?\s*([-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+−]?\.\d+)"
                  r"(?:\s*[A-Za-z%°µ/][A-Za-z%°µ/0-9^.]{0,15}){0,3}$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_DATE_FORMATS = ("%m/%d/%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%d %b %Y", "%B %d %Y")


#: what _EDGE strips once whitespace is collapsed to single spaces
_EDGE_CHARS = " \"'`*.,;:!?()[]{}"


def norm_text(s: Any) -> str:
    """Case-folded, whitespace-collapsed, edge punctuation and quotes removed (a value that is
    only punctuation, such as MIMIC's unknown language "?", keeps it).

    The same as `_WS.sub(" ", s).strip()` then `_EDGE.sub("", ...)`, in str methods (issue 12: the
    regexes took seconds on the qa family's whole-record contexts): str.split() splits on what
    the regex \\s matches (both are Py_UNICODE_ISSPACE) and after the join the only whitespace left
    is " " (tests/test_qa.py compares the two on every code point)."""
    text = " ".join(str(s).split())
    return (text.strip(_EDGE_CHARS) or text).casefold()


def parse_number(s: str) -> float | None:
    """The number of a number answer (module docstring), or None when `s` is not one."""
    m = _NUM.match(_EDGE.sub("", s.strip()) if len(s) <= 200 else "")
    if not m:
        return None
    try:
        x = float(m.group(1).replace(",", "").replace("−", "-"))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def number_match(pred: float, gold: float) -> bool:
    return abs(pred - gold) <= max(REL_TOL * abs(gold), ABS_TOL)


def parse_date(s: str) -> dt.date | None:
    t = _EDGE.sub("", s.strip()) if len(s) <= 100 else ""
    m = _ISO.match(t)
    try:
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for fmt in _DATE_FORMATS:
            try:
                return dt.datetime.strptime(t, fmt).date()
            except ValueError:
                continue
    except ValueError:
        return None
    return None


def _gold_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return parse_number(str(v)) if isinstance(v, str) and re.fullmatch(r"\s*[-+]?[\d.,eE]+\s*", v) else None


def _yesno(s: str) -> str | None:
    words = norm_text(s).split()
    if not words or len(words) > YESNO_WORDS:
        return None
    first = words[0].strip(".,;:!")
    return {"yes": "yes", "true": "yes", "no": "no", "false": "no"}.get(first)


def _string_match(pred: str, gold: Any) -> bool:
    if norm_text(pred) == norm_text(gold):
        return True
    g = _gold_number(gold)
    p = parse_number(pred)
    return g is not None and p is not None and number_match(p, g)


def split_list(pred: str) -> list[list[str]]:
    """Readings of a list answer (module docstring), each a list of non-empty elements."""
    text = pred.strip()
    if text.startswith("["):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, list) and all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                          for x in data):
            return [[str(x) for x in data]]
    parts = [re.sub(r"^(?:[-*•]|\d+[.)])\s+", "", p.strip()) for p in re.split(r"[\n;|]+", text)]
    parts = [p for p in parts if norm_text(p)]
    readings = [parts]
    if len(parts) == 1 and "," in parts[0]:
        readings.append([p.strip() for p in parts[0].split(",") if norm_text(p)])
    return readings


def _set_match(elements: list[str], gold: list) -> bool:
    # as many distinct elements as gold values (a repeated element counts once)
    if len({norm_text(e) for e in elements}) != len(gold):
        return False
    unmatched = list(gold)
    for e in dict.fromkeys(norm_text(e) for e in elements):
        hit = next((k for k, g in enumerate(unmatched) if _string_match(e, g)), None)
        if hit is None:
            return False
        unmatched.pop(hit)
    return not unmatched


def answer_matches(pred: str, gold: list, typ: AnswerType) -> bool:
    """Whether answer text `pred` matches the gold values under the type's rule (docstring)."""
    if not isinstance(pred, str) or not gold or len(pred) > MAX_ANSWER_CHARS or not pred.strip():
        return False
    if typ == "list" or len(gold) > 1:
        return any(_set_match(r, gold) for r in split_list(pred))
    g = gold[0]
    if typ == "number":
        p, gn = parse_number(pred), _gold_number(g)
        if gn is None:  # a text cell where a number was expected: compare as text
            return _string_match(pred, g)
        return p is not None and number_match(p, gn)
    if typ == "date":
        p, gd = parse_date(pred), parse_date(str(g))
        return p is not None and gd is not None and p == gd
    if typ == "yesno":
        return _yesno(pred) is not None and _yesno(pred) == _yesno(str(g))
    return _string_match(pred, g)


def answer_in_context(gold: list, typ: AnswerType, context_norm: str) -> bool:
    """Heuristic: whether every gold value appears in the (norm_text-ed) context — a number as its
    shortest decimal text between non-digits (so 14 is not found in 140; a small count is still
    found almost anywhere: a weak signal for counts), a date by its `YYYY-MM-DD` day, text after
    `norm_text`. Yes/no answers are never literal in a record: always False."""
    if typ == "yesno" or not gold:
        return False
    for g in gold:
        if isinstance(g, (int, float)) and not isinstance(g, bool):
            text = str(int(g)) if float(g).is_integer() else repr(float(g))
            if not re.search(rf"(?<![\d.]){re.escape(text)}(?![\d])", context_norm):
                return False
            continue
        text = str(g)[:10] if typ == "date" else norm_text(g)
        if not text or text not in context_norm:
            return False
    return True
