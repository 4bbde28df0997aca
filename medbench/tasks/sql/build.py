"""Text-to-SQL items from the store: release database, slot filling, gold execution.

`build_sql_task(ctx)` (ctx: `medbench.build.BuildContext` — store, subject_ids, params, workdir,
progress):
1. exports the tables the applicable templates use, restricted to the build's patients, as
   byte-stable Parquet (`schema.export_release_tables`), and materialises them into a scratch
   DuckDB file — the same way `open_release_db` does for users — so gold answers are computed on
   exactly the database a release ships;
2. for each patient and each answerable template with candidates, picks one slot filling with an
   RNG seeded from (params["seed"], subject_id, template): a patient's items never depend on the
   other patients of the build, so sharded builds merge to the same items;
3. runs the gold SQL, drops (and counts) items whose answer is empty, stores the answer in the
   scorer's canonical form (`normalize.canonical_answer`);
4. adds round(share / (1 - share) * answerable) unanswerable items per patient (default share
   0.19, param `sql_unanswerable_share`), drawn without replacement from the unanswerable
   templates; a candidate whose template has a `verify` query finding the data it asks about in
   the release database (e.g. a later lab of that patient for "now"/"next") is dropped (counted
   as `unanswerable_dropped_verified`).

Hold-out (templates.held_out_templates / heldout_phrasings): ceil(25%) of the answerable and of
the unanswerable applicable templates, chosen by a stable hash of their names, are asked only of
test patients; of every template, 2 phrasings are used only by test items and the others only by
train and dev items. Every item records `template_seen_in_train`.
Optional param `sql_max_per_patient` caps a patient's answerable items (deterministic sample).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import hashlib
import os
import random
import string
from pathlib import Path
from typing import Any

import duckdb

from medbench.io import canonical_json
from medbench.release import TaskOutput
from medbench.tasks.base import make_item_id, split_for_subject
from medbench.tasks.sql.normalize import canonical_answer
from medbench.tasks.sql.schema import (
    DB_DIR,
    TABLES_JSON,
    export_release_tables,
    materialise_db,
    open_release_db,
    tables_json_bytes,
)
from medbench.tasks.sql.templates import (
    TEMPLATE_HOLDOUT_SHARE,
    TEMPLATES,
    TEST_ONLY_PHRASINGS,
    Template,
    held_out_templates,
    heldout_phrasings,
)

__all__ = ["applicable_templates", "build_sql_task", "open_release_db", "release_db_path"]

TASK = "sql"
DEFAULT_UNANSWERABLE_SHARE = 0.19

#: what the scorer's `release_database` looks for: the DuckDB file of a release folder.
release_db_path = open_release_db


@functools.cache
def slot_names(t: Template) -> list[str]:
    names = set()
    for text in (*t.phrasings, t.gold or ""):
        names.update(f for _, f, _, _ in string.Formatter().parse(text) if f)
    return sorted(names | {"subject_id"})


def applicable_templates(available_tables: set[str]) -> list[Template]:
    """Templates whose required tables exist (vital signs only with chartevents, ...)."""
    return [t for t in TEMPLATES if set(t.requires) <= available_tables]


def _needed_tables(templates: list[Template]) -> list[str]:
    return sorted({x for t in templates for x in (*t.requires, *t.tables)})


def _slot_value(v: Any) -> Any:
    """Slot values as JSON-ready, SQL-literal-ready scalars (timestamps to the second)."""
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    return v


def sql_literal(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        raise ValueError(f"unsupported slot value {v!r}")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def _rng(seed: int, *parts: Any) -> random.Random:
    key = "|".join(["medbench-sql", str(seed), *(str(p) for p in parts)])
    return random.Random(int(hashlib.sha256(key.encode()).hexdigest()[:16], 16))


#: Patients whose template candidates are held in memory at once ($MEDBENCH_SQL_PATIENT_BATCH).
SQL_PATIENT_BATCH = 2000


def _candidates(con: duckdb.DuckDBPyConnection, t: Template, subjects: set[int]) -> dict[int, list[tuple]]:
    """subject_id -> sorted, distinct raw slot tuples (in `slot_names(t)` order) of template t.

    Raw values sort deterministically (each column has one type); only the chosen filling is
    converted (`_slots`), which keeps large builds fast.
    """
    names = slot_names(t)
    # Only this batch's patients (issue 12: candidates are computed per patient batch, so their
    # memory is bounded by the batch, not the release).
    cur = con.execute(f"SELECT * FROM ({t.candidates}) AS candidates "
                      "WHERE subject_id IN (SELECT unnest(?::BIGINT[]))", [sorted(subjects)])
    cols = [d[0] for d in cur.description]
    missing = [n for n in names if n not in cols]
    if missing:
        raise ValueError(f"template {t.name}: candidates lack slot column(s) {missing}")
    idx = [cols.index(n) for n in names]
    sid_at = names.index("subject_id")
    out: dict[int, set[tuple]] = {}
    for row in cur.fetchall():
        values = tuple(row[i] for i in idx)
        if values[sid_at] in subjects and None not in values:
            out.setdefault(values[sid_at], set()).add(values)
    return {sid: sorted(v) for sid, v in out.items()}


def _slots(t: Template, values: tuple) -> dict:
    return {n: _slot_value(v) for n, v in zip(slot_names(t), values)}


def _is_empty(rows: list[tuple]) -> bool:
    return not rows or all(v is None for r in rows for v in r)


@functools.cache
def _phrasing_pool(t: Template, test: bool) -> tuple[int, ...]:
    held = heldout_phrasings(t)
    return held if test else tuple(i for i in range(len(t.phrasings)) if i not in held)


def _record(t: Template, slots: dict, sql: str | None, answer: str | None,
            seen: bool = True) -> tuple[dict, dict]:
    sid = int(slots["subject_id"])
    hadm = slots.get("hadm_id")
    split = split_for_subject(sid)
    item_id = make_item_id(TASK, sid, hadm, t.name, canonical_json(slots))
    pool = _phrasing_pool(t, split == "test")
    pick = pool[int(hashlib.sha256(f"{item_id}|phrasing".encode()).hexdigest()[:8], 16) % len(pool)]
    question = t.phrasings[pick].format(**slots)
    item = {"item_id": item_id, "task": TASK, "split": split, "subject_id": sid,
            "hadm_id": hadm, "question": question, "template_seen_in_train": seen}
    gold = {"item_id": item_id, "task": TASK, "answerable": sql is not None, "sql": sql,
            "answer": answer, "template": t.name, "family": t.family, "tables": list(t.tables),
            "slots": slots, "question": question}
    return item, gold


def build_items(con: duckdb.DuckDBPyConnection, templates: list[Template], subject_ids: list[int],
                seed: int, unanswerable_share: float = DEFAULT_UNANSWERABLE_SHARE,
                max_per_patient: int | None = None, progress: Any = None,
                stats: dict | None = None) -> tuple[list, list, int]:
    """(items, gold, dropped_empty) over a release database connection (module docstring);
    `stats`, when given, receives `unanswerable_dropped_verified`."""
    subjects = sorted({int(s) for s in subject_ids})
    answerable = [t for t in templates if t.answerable]
    unanswerable = [t for t in templates if not t.answerable]
    held = held_out_templates(templates)
    ratio = unanswerable_share / (1.0 - unanswerable_share) if unanswerable_share < 1 else 0.0
    items, gold, dropped, verified_dropped = [], [], 0, 0
    if progress is not None:
        progress.start(len(subjects))
    batch = int(os.environ.get("MEDBENCH_SQL_PATIENT_BATCH") or SQL_PATIENT_BATCH)
    batch_starts = {subjects[i]: i for i in range(0, len(subjects), batch)}
    cands: dict[str, dict[int, list[tuple]]] = {}
    for sid in subjects:
        if sid in batch_starts:  # a new patient batch: its candidates only
            chunk = subjects[batch_starts[sid]:batch_starts[sid] + batch]
            cands = {t.name: _candidates(con, t, set(chunk)) for t in templates}
        is_test = split_for_subject(sid) == "test"
        order = [t for t in answerable if cands[t.name].get(sid) and (is_test or t.name not in held)]
        if max_per_patient is not None:
            _rng(seed, sid, "order").shuffle(order)
        n_ok = 0
        for t in order:
            if max_per_patient is not None and n_ok >= max_per_patient:
                break
            slots = _slots(t, _rng(seed, sid, t.name).choice(cands[t.name][sid]))
            sql = t.gold.format(**{k: sql_literal(v) for k, v in slots.items()})
            rows = con.execute(sql).fetchall()
            if _is_empty(rows):
                dropped += 1
                continue
            it, g = _record(t, slots, sql, canonical_answer(rows), t.name not in held)
            items.append(it)
            gold.append(g)
            n_ok += 1
        pool = [t for t in unanswerable if cands[t.name].get(sid) and (is_test or t.name not in held)]
        _rng(seed, sid, "unanswerable").shuffle(pool)
        want = round(ratio * n_ok)
        for t in pool:
            if want <= 0:
                break
            slots = _slots(t, _rng(seed, sid, t.name).choice(cands[t.name][sid]))
            if t.verify is not None and _data_exists(con, t, slots):
                verified_dropped += 1  # the "unanswerable" question can be answered: not asked
                continue
            it, g = _record(t, slots, None, None, t.name not in held)
            items.append(it)
            gold.append(g)
            want -= 1
        if progress is not None:
            progress.advance(1)
    if stats is not None:
        stats["unanswerable_dropped_verified"] = verified_dropped
    return items, gold, dropped


def _data_exists(con: duckdb.DuckDBPyConnection, t: Template, slots: dict) -> bool:
    """Whether the release database holds the data unanswerable template `t` asks about."""
    sql = t.verify.format(**{k: sql_literal(v) for k, v in slots.items()})
    row = con.execute(sql).fetchone()
    return bool(row and row[0])


def sql_info(gold: list[dict], dropped_empty: int, tables: list[str], templates: list[Template],
             unanswerable_share: float, stats: dict | None = None) -> dict:
    n_un = sum(1 for g in gold if not g["answerable"])
    held = held_out_templates(templates)
    return {
        "held_out_templates": sorted(held),
        "template_holdout_share": TEMPLATE_HOLDOUT_SHARE,
        "test_only_phrasings": TEST_ONLY_PHRASINGS,
        "unanswerable_dropped_verified": int((stats or {}).get("unanswerable_dropped_verified", 0)),
        "engine": "duckdb",
        "database": DB_DIR,
        "database_format": "parquet",
        "tables": tables,
        "templates_available": sum(1 for t in templates if t.answerable),
        "unanswerable_templates_available": sum(1 for t in templates if not t.answerable),
        "templates_used": len({g["template"] for g in gold if g["answerable"]}),
        "unanswerable_templates_used": len({g["template"] for g in gold if not g["answerable"]}),
        "answerable": len(gold) - n_un,
        "unanswerable": n_un,
        "unanswerable_share": round(n_un / len(gold), 4) if gold else 0.0,
        "unanswerable_target": unanswerable_share,
        "dropped_empty": dropped_empty,
    }


def build_sql_task(ctx: Any) -> TaskOutput:
    """The SQL task's items, gold, release database (Parquet) and tables.json (module docstring)."""
    params = dict(getattr(ctx, "params", None) or {})
    seed = int(params.get("seed", getattr(ctx, "seed", 0)))
    share = float(params.get("sql_unanswerable_share", DEFAULT_UNANSWERABLE_SHARE))
    cap = params.get("sql_max_per_patient")
    store = ctx.store
    subjects = sorted({int(s) for s in ctx.subject_ids})
    work = Path(ctx.workdir)

    candidates = {t for t in _needed_tables(list(TEMPLATES)) if store.has(t)}
    templates = applicable_templates(candidates)
    tables = _needed_tables(templates)
    db_dir = work / DB_DIR
    export_release_tables(Path(store.path), tables, subjects, db_dir)
    db_path = materialise_db(db_dir, work / "release.duckdb")
    # threads=1 as the scorer's sandbox runs, so float aggregates sum in the same order
    con = duckdb.connect(str(db_path), read_only=True, config={"threads": 1})
    try:
        stats: dict = {}
        items, gold, dropped = build_items(con, templates, subjects, seed, share,
                                           int(cap) if cap is not None else None,
                                           getattr(ctx, "progress", None), stats)
        tables_json = tables_json_bytes(con)
    finally:
        con.close()
    files: dict[str, Path | bytes] = {f"{DB_DIR}/{t}.parquet": db_dir / f"{t}.parquet" for t in tables}
    files[TABLES_JSON] = tables_json
    info = sql_info(gold, dropped, tables, templates, share, stats)
    return TaskOutput(items=items, gold=gold, info=info, files=files)
