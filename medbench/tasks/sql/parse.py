"""Model output → SQL prediction (or abstention), and the SQL prompt.

`parse_output(raw) -> (prediction, parse_error)` never raises:
- the last ```sql (or bare ```) fenced block wins (models often draft, then answer); its content
  `null` / `NULL` / `None` (or an empty block) is an abstention;
- without a fence: a bare `null` / `None` answer, or a principled refusal ("cannot be answered",
  "not available in the database", …) with no query in it, is an abstention (None);
- otherwise the text from the first SELECT/WITH keyword up to the first `;` is the query;
- nothing usable → prediction "" with parse_error set: scored as a wrong answer, never as an
  abstention (an empty or garbled output must not earn the abstention credit).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from medbench.tasks.base import render_template

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)```", re.DOTALL)
_NULL = re.compile(r"^[\s`'\"]*(null|none|nil)[\s`'\".;]*$", re.IGNORECASE)
_SQL_START = re.compile(r"\b(select|with)\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"(can ?not|can't|unable to|impossible to|not possible to)\s+(be\s+)?(answer|determine|provide|find)"
    r"|unanswerable|not answerable|(is|are)\s+not\s+(available|recorded|stored|contained|present)"
    r"|no (such )?(information|data|column|table)\b|does not (contain|include|store|record|have)"
    r"|outside (of )?the (scope|schema)|out of scope|i don'?t know|insufficient (information|data)",
    re.IGNORECASE,
)
DIALECT_NAMES = {"sqlite": "SQLite", "duckdb": "DuckDB"}


def _clean(sql: str) -> str:
    sql = sql.strip()
    if ";" in sql:  # one statement: keep what precedes the first semicolon outside quotes
        sql = _before_semicolon(sql)
    return sql.strip()


def _before_semicolon(sql: str) -> str:
    quote = None
    for i, ch in enumerate(sql):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            return sql[:i]
    return sql


def parse_output(raw: Any) -> tuple[str | None, str | None]:
    """(SQL string | None for abstention, parse error or None). Never raises."""
    try:
        return _parse(raw)
    except Exception as e:  # defensive: model output must never crash a run
        return "", f"unparseable output ({type(e).__name__})"


def _parse(raw: Any) -> tuple[str | None, str | None]:
    if raw is None or not isinstance(raw, str):
        return "", "empty output"
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        return "", "empty output"
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    sql_blocks = [b for lang, b in blocks if lang in ("sql", "sqlite", "duckdb", "")]
    if sql_blocks:
        body = sql_blocks[-1].strip()
        if not body or _NULL.match(body):
            return None, None
        m = _SQL_START.search(body)
        if m is None:
            return "", "the fenced block holds no SELECT/WITH query"
        return _clean(body[m.start():]), None
    if _NULL.match(text):
        return None, None
    try:  # {"sql": null} / {"sql": "..."} answers
        obj = json.loads(text)
        if isinstance(obj, dict) and "sql" in obj:
            value = obj["sql"]
            if value is None or (isinstance(value, str) and _NULL.match(value)):
                return None, None
            if isinstance(value, str) and value.strip():
                return _clean(value), None
    except (ValueError, TypeError):
        pass
    m = _SQL_START.search(text)
    if m is not None and re.match(r"\s*(distinct\b|\*|\w+\s*(,|\.|\bfrom\b|\(|\bas\b)|\w+\s*$|[\w.]+\s+from\b|"
                                  r"\w+\s+as\s*\(|count|avg|sum|min|max|recursive)",
                                  text[m.end():], re.IGNORECASE):
        return _clean(text[m.start():]), None
    if _REFUSAL.search(text):
        return None, None
    return "", "no SQL query found in the output"


# ---------------------------------------------------------------------------------------------
# Prompt

def schema_from_tables_json(tables: Any) -> tuple[list[dict], list[str]]:
    """Compact schema from a Spider tables.json: [{name, columns: ["col type"]}], foreign keys."""
    db = tables[0] if isinstance(tables, list) else tables
    names = db.get("table_names_original") or db.get("table_names") or []
    cols = db.get("column_names_original") or db.get("column_names") or []
    types = db.get("column_types") or []
    out = [{"name": n, "columns": []} for n in names]
    for k, (ti, col) in enumerate(cols):
        if ti is None or ti < 0 or ti >= len(out):
            continue
        ctype = types[k] if k < len(types) else ""
        out[ti]["columns"].append(f"{col} {ctype}".strip())
    fks = []
    for a, b in db.get("foreign_keys") or []:
        try:
            (ta, ca), (tb, cb) = cols[a], cols[b]
            fks.append(f"{names[ta]}.{ca} = {names[tb]}.{cb}")
        except (IndexError, TypeError, ValueError):
            continue
    return out, fks


_SCHEMA_CACHE: dict[str, tuple] = {}


def _release_schema(release: Any) -> tuple[list[dict], list[str], str, str | None]:
    path = Path(release.path) / "sql" / "tables.json"
    key = f"{path}:{getattr(release, 'sha256', '')}"
    if key not in _SCHEMA_CACHE:
        from medbench.tasks.sql.engines import release_engine

        info = release.manifest["tasks"]["sql"]
        engine = release_engine(release)
        tables, fks = schema_from_tables_json(json.loads(path.read_text(encoding="utf-8")))
        now = info.get("now") or engine.now
        _SCHEMA_CACHE[key] = (tables, fks, DIALECT_NAMES.get(engine.name, engine.name), now)
    return _SCHEMA_CACHE[key]


def render_prompt(item: dict, release: Any) -> list[dict]:
    tables, fks, dialect, now = _release_schema(release)
    system = render_template("sql_system.j2", tables=tables, foreign_keys=fks, dialect=dialect, now=now)
    user = render_template("sql_user.j2", item=item)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
