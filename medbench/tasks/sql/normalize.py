"""EHRSQL 2024 query normalisation and the one canonical answer form every SQL item uses.

Query normalisation (`normalize_ehrsql`) applies the shared task's rules (written out in
`../shared/data/ehrsql-2024/README.md`) to every query — gold and predicted — of a SQLite
(EHRSQL) release before it runs, exactly as the shared task's scorer does: plain, case-sensitive
text rules over the whole query (string literals included):

1. newlines become spaces, runs of spaces one space, the ends stripped; `> =`, `< =`, `! =`
   become `>=`, `<=`, `!=`;
2. `DATE_SUB(x, INTERVAL n UNIT)` / `DATE_ADD(...)` (upper case; x a call `f()` or a quoted
   literal; UNIT in DAY, MONTH, YEAR) become `datetime(x, '-n units')` / `'+n units'`
   (singular unit when n is 1); lower-case `date_sub` is left alone (SQLite then rejects it);
3. every occurrence of `current_time`, `'now'`, `NOW()` becomes `'2100-12-31 23:59:00'`; of
   `current_date`, `CURDATE()` `'2100-12-31'`; of `CURTIME()` `'23:59:00'` (lower-case
   `current_time`/`current_date` only: upper-case `CURRENT_TIME` stays SQLite's own clock);
4. `<vital>_lower` / `<vital>_upper` placeholders (the first of each after a space, the same
   vital) become the fixed normal ranges;
5. strftime formats `%y` become `%Y` and `%j` become `%J`.
Every rule is one left-to-right pass (no nested repetition in any pattern), so the cost is
linear in the text (tests/test_ehrsql_parity.py times a 100 KB query).

The only abstention is None or the string "null" (`is_abstention`).

The canonical answer (`canonical_answer`) is the EHRSQL string form, for both engines: every cell
that Python's `float()` accepts (numbers, numeric text) becomes `str(round(float(v), 3))` — so
`1`, `1.0` and '1.000' are all '1.0' — every other cell its `str()`, rows are sorted, the first
100 rows kept, and the list's Python `str()` is the answer, e.g. `[['7.42']]`. Dates and
timestamps from DuckDB print as `str()` of the Python value (`2100-01-01 00:00:00`), which is
what SQLite's text columns already hold. Answers compare as strings. A query that fails has the
answer "error"; an abstention has none (None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

NOW = "2100-12-31 23:59:00"
TODAY = "2100-12-31"
TIME_NOW = "23:59:00"
ANSWER_ROWS = 100
ERROR_ANSWER = "error"
ABSTAIN = "null"

# Normal ranges of the shared task's vital-sign placeholders (name with ' ' for '_').
VITAL_RANGES = {
    "temperature": (35.5, 38.1),
    "sao2": (95.0, 100.0),
    "heart rate": (60.0, 100.0),
    "respiration": (12.0, 18.0),
    "systolic bp": (90.0, 120.0),
    "diastolic bp": (60.0, 90.0),
    "mean bp": (60.0, 110.0),
}

_SPACES = re.compile(" +")
# DATE_SUB/DATE_ADD(x, INTERVAL n UNIT): x is a zero-argument call `name()` or a quoted literal
# without quotes inside; the separator is commas/spaces ending in one space. Case-sensitive. Each
# alternative is bounded by a fixed delimiter, so a scan costs O(length) (no nested repetition).
_DATE_FN = re.compile(r"(DATE_SUB|DATE_ADD)\((\w+\(\)|'[^']+')[, ]+ INTERVAL (\d+) (MONTH|YEAR|DAY)\)")
# Keyword rules, applied in this order to every occurrence (substring, case-sensitive).
_KEYWORDS = (("current_time", f"'{NOW}'"), ("current_date", f"'{TODAY}'"), ("'now'", f"'{NOW}'"),
             ("NOW()", f"'{NOW}'"), ("CURDATE()", f"'{TODAY}'"), ("CURTIME()", f"'{TIME_NOW}'"))
_WORD_AFTER_SPACE = re.compile(r" ([A-Za-z0-9_]+)")


def _date_fn(m: re.Match) -> str:
    fn, date, number, unit = m.group(1), m.group(2), m.group(3), m.group(4).lower()
    unit = unit if number == "1" else unit + "s"
    return f"datetime({date}, '{'-' if fn == 'DATE_SUB' else '+'}{number} {unit}')"


def _first_placeholder(sql: str, suffix: str) -> str | None:
    """The first `<name>{suffix}` placeholder after a space: within the first identifier run that
    follows a space and holds `suffix` after at least one character, its longest prefix ending
    in `suffix`. One pass over the text."""
    for m in _WORD_AFTER_SPACE.finditer(sql):
        word = m.group(1)
        at = word.rfind(suffix, 1)
        if at != -1:
            return word[:at + len(suffix)]
    return None


def normalize_ehrsql(sql: str) -> str:
    """Apply the EHRSQL 2024 normalisation rules (module docstring) to one query, exactly as the
    shared task's scorer applies them (case-sensitive substring rules). Linear in len(sql)."""
    sql = _SPACES.sub(" ", sql.replace("\n", " ")).strip()
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = _DATE_FN.sub(_date_fn, sql)
    for word, value in _KEYWORDS:
        if word in sql:
            sql = sql.replace(word, value)
    lower = _first_placeholder(sql, "_lower")
    upper = _first_placeholder(sql, "_upper") if lower is not None else None
    if lower is not None and upper is not None and lower[:-6] == upper[:-6]:
        rng = VITAL_RANGES.get(lower[:-6].replace("_", " "))
        if rng is not None:
            sql = sql.replace(lower, str(rng[0])).replace(upper, str(rng[1]))
    return sql.replace("%y", "%Y").replace("%j", "%J")


def is_abstention(prediction) -> bool:
    """The only abstentions: None (JSON null) and the string "null" (surrounding whitespace
    ignored, as the shared task's normalisation strips it). "NULL", "None", "" are answers."""
    return prediction is None or (isinstance(prediction, str) and prediction.strip() == ABSTAIN)


def _cell(value: Any) -> str:
    """One cell's answer string: a value that `float()` accepts (numbers, numeric text such as
    ' 7.4200', '1e3', 'nan') becomes `str(round(float(v), 3))` ('1' and 1.0 both give '1.0');
    anything else its `str()`."""
    try:
        return str(round(float(value), 3))
    except (TypeError, ValueError, OverflowError):
        return str(value)


def canonical_answer(rows: Iterable[Sequence[Any]]) -> str:
    """The EHRSQL answer string of a result set (module docstring): "[['7.42']]"."""
    cells = [[_cell(v) for v in row] for row in rows]
    return str(sorted(cells)[:ANSWER_ROWS])


def recanonical(text: str) -> str:
    """A stored answer string in today's canonical form (rows re-read, cells re-formatted): gold
    answers of releases built before the official rounding rule ('3' for an integer) compare
    equal to today's ('3.0'); answer.json entries too. Non-list text is returned unchanged."""
    import ast

    if not isinstance(text, str) or not text.startswith("["):
        return text
    try:
        rows = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return text
    if isinstance(rows, list) and all(isinstance(r, (list, tuple)) for r in rows):
        return canonical_answer(rows)
    return text


# ---------------------------------------------------------------------------------------------
# SQL text similarity: exact match after sqlglot normalisation, and token F1.

def _squash(sql: str) -> str:
    return " ".join(sql.lower().split()).rstrip(";").strip()


def sql_fingerprint(sql: str, dialect: str, parsed: Any = None) -> str:
    """sqlglot's canonical rendering (normalised identifiers, lower-case functions, one line);
    whitespace- and case-folded text when sqlglot cannot parse the query."""
    import sqlglot

    try:
        tree = parsed if parsed is not None else sqlglot.parse_one(sql, read=dialect)
        return tree.sql(dialect=dialect, normalize=True, normalize_functions="lower").lower()
    except Exception:  # unparseable SQL still gets a deterministic fingerprint
        return _squash(sql)


def regex_tokens(sql: str) -> list[str]:
    """Fallback tokens when sqlglot's tokenizer rejects the text."""
    return re.findall(r"\w+|[^\w\s]", sql.lower())


def token_f1(pred: Sequence[str], gold: Sequence[str]) -> float:
    """Multiset F1 between two token lists (1.0 when both are empty)."""
    from collections import Counter

    if not pred and not gold:
        return 1.0
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(gold)
    return 2 * p * r / (p + r)
