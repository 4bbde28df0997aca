"""EHRSQL 2024 query normalisation and the one canonical answer form every SQL item uses.

Query normalisation (`normalize_ehrsql`) applies the shared task's rules (written out in
`../shared/data/ehrsql-2024/README.md`) to every query — gold and predicted — of a SQLite
(EHRSQL) release before it runs:

1. newlines and runs of whitespace become one space; `> =`, `< =`, `! =` become `>=`, `<=`, `!=`;
2. `DATE_SUB(x, INTERVAL n UNIT)` / `DATE_ADD(...)` (UNIT in DAY, MONTH, YEAR) become
   `datetime(x, '-n units')` / `'+n units'` (singular unit when n is 1);
3. `current_time`, `'now'`, `NOW()` become `'2100-12-31 23:59:00'`; `current_date`, `CURDATE()`
   become `'2100-12-31'`; `CURTIME()` becomes `'23:59:00'`;
4. `<vital>_lower` / `<vital>_upper` placeholders become the fixed normal ranges;
5. strftime formats `%y` become `%Y` and `%j` become `%J`.

Rules 2-4 only touch text outside string literals (a drug called 'now' stays itself, apart from
the literal `'now'` of rule 3); rules 1 and 5 apply to the whole text, as the shared task does
(the formats live inside literals; LIKE patterns are case-insensitive in SQLite, so `%y` → `%Y`
cannot change what they match).

The canonical answer (`canonical_answer`) is the EHRSQL string form, for both engines: every
non-integral number (float, Decimal, or a text cell spelling a decimal such as '7.4200') is
rounded to 3 decimals (Python `round`), integers stay integers — answer.json writes an integer
count as '0', never '0.0', as Python's `round(0, 3)` does — every cell becomes `str()`, rows are
sorted, the first 100 rows kept, and the list's Python `str()` is the answer, e.g. `[['7.42']]`. Dates and timestamps from DuckDB print as `str()` of the Python
value (`2100-01-01 00:00:00`), which is what SQLite's text columns already hold. Answers compare
as strings. A query that fails has the answer "error"; an abstention has none (None).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

NOW = "2100-12-31 23:59:00"
TODAY = "2100-12-31"
TIME_NOW = "23:59:00"
ANSWER_ROWS = 100
ERROR_ANSWER = "error"

# Normal ranges of the shared task's vital-sign placeholders (name with '_' for ' ').
VITAL_RANGES = {
    "temperature": (35.5, 38.1),
    "sao2": (95.0, 100.0),
    "heart_rate": (60.0, 100.0),
    "respiration": (12.0, 18.0),
    "systolic_bp": (90.0, 120.0),
    "diastolic_bp": (60.0, 90.0),
    "mean_bp": (60.0, 110.0),
}

_STRING = re.compile(r"'(?:[^']|'')*'")
_VITAL = re.compile(r"\b(" + "|".join(VITAL_RANGES) + r")_(lower|upper)\b", re.IGNORECASE)
_KEYWORDS = [
    (re.compile(r"\bnow\s*\(\s*\)", re.IGNORECASE), f"'{NOW}'"),
    (re.compile(r"\bcurdate\s*\(\s*\)", re.IGNORECASE), f"'{TODAY}'"),
    (re.compile(r"\bcurtime\s*\(\s*\)", re.IGNORECASE), f"'{TIME_NOW}'"),
    (re.compile(r"\bcurrent_time\b", re.IGNORECASE), f"'{NOW}'"),
    (re.compile(r"\bcurrent_date\b", re.IGNORECASE), f"'{TODAY}'"),
]
_DATE_FN = re.compile(r"\b(date_sub|date_add)\s*\(", re.IGNORECASE)
_INTERVAL = re.compile(r"^\s*interval\s+'?([+-]?\d+)'?\s+(day|month|year)s?\s*$", re.IGNORECASE)


def _split_literals(sql: str) -> list[tuple[bool, str]]:
    """[(is_literal, text)] pieces; an unterminated quote leaves the rest as code."""
    out, pos = [], 0
    for m in _STRING.finditer(sql):
        if m.start() > pos:
            out.append((False, sql[pos:m.start()]))
        out.append((True, m.group(0)))
        pos = m.end()
    if pos < len(sql):
        out.append((False, sql[pos:]))
    return out


def _outside_literals(sql: str, fn) -> str:
    return "".join(text if lit else fn(text) for lit, text in _split_literals(sql))


def _matching_paren(sql: str, open_pos: int) -> int | None:
    """Index of the ')' closing the '(' at open_pos, skipping string literals; None if none."""
    depth, i, n = 0, open_pos, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            j = sql.find("'", i + 1)
            while j != -1 and j + 1 < n and sql[j + 1] == "'":
                j = sql.find("'", j + 2)
            if j == -1:
                return None
            i = j
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


def _top_level_comma(text: str) -> int | None:
    depth, i = 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            j = text.find("'", i + 1)
            if j == -1:
                return None
            i = j
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            return i
        i += 1
    return None


def _rewrite_date_fns(sql: str) -> str:
    """DATE_SUB/DATE_ADD(x, INTERVAL n UNIT) → datetime(x, '∓n unit[s]'), innermost last."""
    start = 0
    for _ in range(1000):  # bounded: hostile input cannot loop forever
        m = _DATE_FN.search(sql, start)
        if m is None:
            return sql
        if sql[: m.start()].count("'") % 2:  # odd quote count: inside a string literal
            start = m.end()
            continue
        close = _matching_paren(sql, m.end() - 1)
        inner = sql[m.end(): close] if close is not None else ""
        comma = _top_level_comma(inner)
        iv = _INTERVAL.match(inner[comma + 1:]) if comma is not None else None
        if close is None or iv is None:
            start = m.end()
            continue
        n, unit = int(iv.group(1)), iv.group(2).lower()
        sign = "-" if m.group(1).lower() == "date_sub" else "+"
        if n < 0:
            sign, n = ("+" if sign == "-" else "-"), -n
        modifier = f"'{sign}{n} {unit}{'' if n == 1 else 's'}'"
        sql = f"{sql[:m.start()]}datetime({inner[:comma].strip()}, {modifier}){sql[close + 1:]}"
        start = m.start()
    return sql


def _vital(m: re.Match) -> str:
    low, high = VITAL_RANGES[m.group(1).lower()]
    return str(low if m.group(2).lower() == "lower" else high)


def normalize_ehrsql(sql: str) -> str:
    """Apply the EHRSQL 2024 normalisation rules (module docstring) to one query."""
    sql = " ".join(sql.split())
    sql = re.sub(r"([<>!])\s+=", r"\1=", sql)
    sql = _rewrite_date_fns(sql)

    def code(text: str) -> str:
        for pattern, repl in _KEYWORDS:
            text = pattern.sub(repl, text)
        return _VITAL.sub(_vital, text)

    pieces = []
    for lit, text in _split_literals(sql):
        if lit:
            pieces.append(f"'{NOW}'" if text.lower() == "'now'" else text)
        else:
            pieces.append(code(text))
    sql = "".join(pieces)
    return sql.replace("%y", "%Y").replace("%j", "%J")


_DECIMAL = re.compile(r"^\s*[+-]?(?:\d+\.\d*|\.\d+|\d+(?=[eE]))(?:[eE][+-]?\d+)?\s*$")


def _cell(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)  # integers stay integers ('0', not '0.0'), as in answer.json
    if isinstance(value, str):
        if not _DECIMAL.match(value):
            return value
    try:
        number = float(value)  # float, Decimal, a decimal-looking string
    except (TypeError, ValueError, OverflowError):
        return str(value)
    if math.isfinite(number):
        return str(round(number, 3))
    return str(value)


def canonical_answer(rows: Iterable[Sequence[Any]]) -> str:
    """The EHRSQL answer string of a result set (module docstring): "[['7.42']]"."""
    cells = [[_cell(v) for v in row] for row in rows]
    return str(sorted(cells)[:ANSWER_ROWS])


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
