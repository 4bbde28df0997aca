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

5. population-level templates (`scope="population"`: counts, averages, rankings over all of the
   release's patients) are computed over the whole release database after the patients: up to
   `sql_population_per_template` (default 10) slot fillings per answerable template, seeded by
   (seed, template), plus unanswerable population items at the same share. Their items have
   `subject_id`/`hadm_id` null and their own split (`population_split`: test for a held-out
   template, else 60/20/20 by a hash of the item id). A shard build (params.shard) has none:
   merge-shards rebuilds the SQL task over the merged patients, which computes them, so the
   merge stays byte-identical to the full build.

Hold-out (templates.held_out_templates / heldout_phrasings): ceil(25%) of the answerable and of
the unanswerable applicable templates, chosen by a stable hash of their names, are asked only of
test patients; of every template, 2 phrasings are used only by test items and the others only by
train and dev items. Every item records `template_seen_in_train`.
Optional param `sql_max_per_patient` caps a patient's answerable items (deterministic sample).
Size policy (`template_cap`): param `sql_max_per_template` (default DEFAULT_MAX_PER_TEMPLATE = 500,
0 = none) caps each answerable patient-level template's items per split, by a deterministic sample
of its eligible patients chosen before any gold query runs; while it binds, a patient's
unanswerable count ratio * n_ok is rounded stochastically (a stable hash of the patient) instead
of to the nearest integer, and the manifest's sql entry records `template_cap`. It never binds
below 500 patients per split, so smaller releases are byte-identical to those built without it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import functools
import hashlib
import heapq
import itertools
import math
import operator
import os
import pickle
import random
import string
from pathlib import Path
from typing import Any

import duckdb

from medbench.config import duckdb_memory_settings as memory_settings
from medbench.config import fetch_in_scan_share, release_cached_blocks, scan_share
from medbench.io import canonical_json
from medbench.release import TaskOutput
from medbench.tasks.base import make_item_id, split_for_subject, stable_bucket
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
#: slot fillings per answerable population-level template (param `sql_population_per_template`)
DEFAULT_POPULATION_PER_TEMPLATE = 10
#: size policy (issue 12): items per answerable patient-level template per split (param
#: `sql_max_per_template`, `--sql-per-template`; 0 = no cap). A template has at most one item
#: per patient, so below 500 patients in every split (the demo's 100, every test release) it
#: never binds; on full MIMIC-IV it bounds the answerable patient items to ~119 k (docs/BENCHMARKS.md)
DEFAULT_MAX_PER_TEMPLATE = 500

#: what the scorer's `release_database` looks for: the DuckDB file of a release folder.
release_db_path = open_release_db


@functools.cache
def slot_names(t: Template) -> list[str]:
    names = set()
    for text in (*t.phrasings, t.gold or ""):
        names.update(f for _, f, _, _ in string.Formatter().parse(text) if f)
    return sorted(names | ({"subject_id"} if t.scope == "patient" else set()))


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


#: Patients whose template candidates are held in memory at once ($MEDBENCH_SQL_PATIENT_BATCH
#: overrides): one per SQL_BATCH_BYTES_PER_PATIENT of the memory budget ($MEDBENCH_MEMORY_LIMIT),
#: within [SQL_PATIENT_BATCH_MIN, SQL_PATIENT_BATCH]. A patient's candidate slots of every
#: template take ~0.2-0.5 MB as Python tuples (synthetic data, 175 templates), so the default 4 GB
#: budget gives 512 patients (~250 MB). The items do not depend on the batch size.
SQL_PATIENT_BATCH = 2000
SQL_PATIENT_BATCH_MIN = 50
SQL_BATCH_BYTES_PER_PATIENT = 8 * 1024**2


def patient_batch() -> int:
    """Patients per candidate batch (see SQL_PATIENT_BATCH)."""
    env = os.environ.get("MEDBENCH_SQL_PATIENT_BATCH")
    if env:
        return max(1, int(env))
    from medbench.config import memory_limit_bytes

    return max(SQL_PATIENT_BATCH_MIN, min(SQL_PATIENT_BATCH, memory_limit_bytes() // SQL_BATCH_BYTES_PER_PATIENT))


#: `template_cap` reads eligibility in batches of this many times `patient_batch()` patients: it
#: holds no candidate tuples in Python, only DuckDB's hash tables, and fewer, larger batches cost
#: less per query (10k synthetic patients, 1,500 MB budget: 187 per batch 62 s CPU / 200 MiB,
#: 1,000 per batch 31 s / 256 MiB, one whole-release query per template 38 s / 830 MiB).
ELIGIBLE_BATCH_FACTOR = 5


def _candidates(con: duckdb.DuckDBPyConnection, t: Template, subjects: set[int]) -> dict[int, list[tuple]]:
    """subject_id -> sorted, distinct raw slot tuples (in `slot_names(t)` order) of template t.

    Raw values sort deterministically (each column has one type); only the chosen filling is
    converted (`_slots`), which keeps large builds fast.
    """
    names = slot_names(t)
    # Only this batch's patients (issue 12: candidates are computed per patient batch, so their
    # memory is bounded by the batch, not the release). The range filter is pushed down to the
    # tables' scans, whose rows are sorted by subject_id (schema._copy_sorted), so a batch reads
    # its own row groups only and the cost of all batches together stays linear in patients.
    ids = sorted(subjects)
    if not ids:
        return {}
    # DISTINCT, the null filter and the sort run inside DuckDB (issue 12: a Python set and sort of
    # every raw row cost ~60% of this function). DuckDB orders integers, timestamps, dates and
    # floats as Python does and VARCHAR by UTF-8 bytes, i.e. by code point as Python compares
    # str, so each patient's list is the one `sorted(set(...))` gave (tests/test_sql_build.py
    # checks it against that reference on every template).
    cols = ", ".join(_quote(n) for n in names)
    not_null = " AND ".join(f"{_quote(n)} IS NOT NULL" for n in names)
    try:
        # a batch is a contiguous run of the release database's patients, so the range alone
        # selects it (an IN list cost ~15% more); other subjects in the range are dropped below
        cur = con.execute(f"SELECT DISTINCT {cols} FROM ({t.candidates}) AS candidates "
                          f"WHERE subject_id BETWEEN ? AND ? AND {not_null} ORDER BY {_quote('subject_id')}, {cols}",
                          [ids[0], ids[-1]])
    except duckdb.BinderException as e:
        raise ValueError(f"template {t.name}: candidates lack a slot column of {names}: {e}") from e
    sid_at = names.index("subject_id")
    return {sid: list(rows) for sid, rows in itertools.groupby(cur.fetchall(), key=operator.itemgetter(sid_at))
            if sid in subjects}


def _batch_candidates(con: duckdb.DuckDBPyConnection, templates: list[Template],
                      subjects: set[int]) -> dict[str, dict[int, list[tuple]]]:
    """template name -> `_candidates` of these patients. Templates that share a candidate query
    and slot names share one result (123 patient-level templates have 89 distinct queries; the
    nine that ask about a patient's lab test by itemid share the costliest one)."""
    memo: dict[tuple, dict[int, list[tuple]]] = {}
    out = {}
    ids = sorted(subjects)
    if not ids:
        return {t.name: {} for t in templates}
    with _batch_views(con, ids[0], ids[-1]):
        for t in templates:
            key = (t.candidates, tuple(slot_names(t)))
            if key not in memo:
                memo[key] = _candidates(con, t, subjects)
            out[t.name] = memo[key]
    return out


@contextlib.contextmanager
def _batch_views(con: duckdb.DuckDBPyConnection, lo: int, hi: int):
    """While a batch's candidates run, every patient table of the release database is shadowed
    by a temporary view of the batch's subject_id range. The outer range filter of `_candidates`
    cannot pass a window or aggregate keyed by hadm_id (LAB_STATS), so those candidate queries
    computed their window over every patient for every batch: quadratic in patients (one
    187-patient batch cost 7.6 s of CPU at 2,000 patients, 29.3 s at 10,000). A patient-level
    template's candidates use that patient's rows only (and the dictionary tables, which are not
    shadowed), so the results are the same; the filter on a base table is pushed into its scan,
    whose rows are sorted by subject_id. Gold and verify queries never see the views (dropped
    before the batch's items are built)."""
    db = con.execute("SELECT current_database()").fetchone()[0]
    tables = [r[0] for r in con.execute(
        "SELECT DISTINCT c.table_name FROM duckdb_columns() c JOIN duckdb_tables() t "
        "ON c.database_name = t.database_name AND c.schema_name = t.schema_name AND c.table_name = t.table_name "
        "WHERE c.database_name = ? AND c.schema_name = 'main' AND c.column_name = 'subject_id' "
        "ORDER BY 1", [db]).fetchall()]
    try:
        for t in tables:
            con.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(t)} AS SELECT * FROM {_quote(db)}.main.{_quote(t)} "
                        f"WHERE subject_id BETWEEN {int(lo)} AND {int(hi)}")
        yield
    finally:
        for t in tables:
            con.execute(f"DROP VIEW IF EXISTS temp.main.{_quote(t)}")


def template_cap(con: duckdb.DuckDBPyConnection, answerable: list[Template], subjects: list[int],
                 held: frozenset[str], seed: int, cap: int) -> dict[tuple[str, str], frozenset[int]]:
    """The size policy: (template name, split) -> the patients it keeps, for each answerable
    patient-level template whose eligible patients in that split (a candidate filling in the
    release database; held-out templates: test patients only) exceed `cap`: the `cap` of them
    with the smallest sha256("medbench-sql-template-cap|<seed>|<template>|<subject_id>"), a
    deterministic sample independent of the build's batches. Pairs under the cap are absent (no
    restriction). No query runs when no split has more than `cap` patients.

    Eligibility is read in the build's patient batches (`_batch_views`, as the candidates are),
    and each pair keeps only its `cap` best patients so far (a bounded heap): one whole-release
    candidate query per template made DuckDB's hash tables grow with the release and set the
    build's peak (10k patients: 1,015 MiB, against ~570 MiB elsewhere; docs/BENCHMARKS.md, s27),
    and the eligible lists would be ~30 M Python ints at full MIMIC. Same patients either way: a
    patient-level template's candidates use that patient's rows only."""
    split_of = {sid: split_for_subject(sid) for sid in subjects}
    per_split: dict[str, int] = {}
    for s in split_of.values():
        per_split[s] = per_split.get(s, 0) + 1
    if max(per_split.values(), default=0) <= cap or not subjects:
        return {}
    groups: dict[tuple, list[Template]] = {}  # templates sharing a candidate query share its patients
    for t in answerable:
        groups.setdefault((t.candidates, tuple(slot_names(t))), []).append(t)
    eligible: dict[tuple[str, str], int] = {}
    # (name, split) -> max-heap (negated) of the `cap` smallest (hash, subject_id) seen so far
    best: dict[tuple[str, str], list[tuple[int, int]]] = {}
    batch = ELIGIBLE_BATCH_FACTOR * patient_batch()
    for start in range(0, len(subjects), batch):
        lo, hi = subjects[start], subjects[min(start + batch, len(subjects)) - 1]
        release_cached_blocks(con)
        with _batch_views(con, lo, hi):
            for (candidates, names), ts in groups.items():
                not_null = " AND ".join(f"{_quote(n)} IS NOT NULL" for n in names)
                sids = [r[0] for r in con.execute(
                    f"SELECT DISTINCT subject_id FROM ({candidates}) AS candidates "
                    f"WHERE subject_id BETWEEN ? AND ? AND {not_null} ORDER BY subject_id", [lo, hi]).fetchall()]
                for t in ts:
                    for sid in sids:
                        s = split_of.get(sid)
                        if s is None or (s != "test" and t.name in held):
                            continue
                        key = (t.name, s)
                        eligible[key] = eligible.get(key, 0) + 1
                        h = int.from_bytes(hashlib.sha256(
                            f"medbench-sql-template-cap|{seed}|{t.name}|{sid}".encode()).digest(), "big")
                        heap = best.setdefault(key, [])
                        if len(heap) < cap:
                            heapq.heappush(heap, (-h, -sid))
                        elif (h, sid) < (-heap[0][0], -heap[0][1]):
                            heapq.heapreplace(heap, (-h, -sid))
    return {key: frozenset(-x for _, x in best[key]) for key in sorted(eligible) if eligible[key] > cap}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
                stats: dict | None = None,
                population_per_template: int = DEFAULT_POPULATION_PER_TEMPLATE,
                items: Any = None, gold: Any = None, raw: Any = None,
                max_per_template: int | None = None) -> tuple[Any, Any, int]:
    """(items, gold, dropped_empty) over a release database connection (module docstring);
    `stats`, when given, receives `unanswerable_dropped_verified` and the population item counts.
    `population_per_template=0` builds no population-level items (a shard build).
    `items`/`gold`: where records go (lists by default, or `release.RecordSpool`s that stream
    them to disk); a patient's records are added together, patients in subject_id order, then
    the population-level ones. `raw` (a `GoldRows`), when given, receives one entry per gold
    record in the same order: the gold query's raw rows of an answerable item, else None.
    `max_per_template` (None or 0: none): the size policy's per-template, per-split cap
    (`template_cap`), applied before any gold query runs; `stats["template_cap"]` then says
    how many (template, split) pairs it bound."""
    subjects = sorted({int(s) for s in subject_ids})
    held = held_out_templates(templates)
    population = [t for t in templates if t.scope == "population"]
    templates = [t for t in templates if t.scope == "patient"]
    answerable = [t for t in templates if t.answerable]
    unanswerable = [t for t in templates if not t.answerable]
    ratio = unanswerable_share / (1.0 - unanswerable_share) if unanswerable_share < 1 else 0.0
    items = [] if items is None else items
    gold = [] if gold is None else gold
    add_item = items.append if isinstance(items, list) else items.add
    add_gold = gold.append if isinstance(gold, list) else gold.add
    add_raw = raw.add if raw is not None else (lambda rows: None)
    dropped, verified_dropped = 0, 0
    if progress is not None:
        progress.start(len(subjects))
    # size policy: which patients a capped (template, split) keeps, decided before any gold query
    selected = template_cap(con, answerable, subjects, held, seed, max_per_template) if max_per_template else {}
    batch = patient_batch()
    batch_starts = {subjects[i]: i for i in range(0, len(subjects), batch)}
    cands: dict[str, dict[int, list[tuple]]] = {}
    for sid in subjects:
        if sid in batch_starts:  # a new patient batch: its candidates only
            chunk = subjects[batch_starts[sid]:batch_starts[sid] + batch]
            cands = {}  # the previous batch's candidates are freed before the next are fetched
            release_cached_blocks(con)  # and the blocks DuckDB cached for them
            cands = _batch_candidates(con, templates, set(chunk))
        split = split_for_subject(sid)
        is_test = split == "test"
        order = [t for t in answerable if cands[t.name].get(sid) and (is_test or t.name not in held)
                 and sid in selected.get((t.name, split), (sid,))]
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
            add_item(it)
            add_gold(g)
            add_raw(rows)
            n_ok += 1
        pool = [t for t in unanswerable if cands[t.name].get(sid) and (is_test or t.name not in held)]
        _rng(seed, sid, "unanswerable").shuffle(pool)
        if selected:
            # a capped release leaves most patients 0-2 answerable items, and round(0.23 * n_ok)
            # is then 0: rounded up with a probability of the fraction instead (a stable hash of
            # the patient), so the release's unanswerable share stays the target in expectation
            u = int(hashlib.sha256(f"medbench-sql-unanswerable|{seed}|{sid}".encode()).hexdigest()[:8], 16) / 2**32
            want = math.floor(ratio * n_ok + u)
        else:
            want = round(ratio * n_ok)
        for t in pool:
            if want <= 0:
                break
            slots = _slots(t, _rng(seed, sid, t.name).choice(cands[t.name][sid]))
            if t.verify is not None and _data_exists(con, t, slots):
                verified_dropped += 1  # the "unanswerable" question can be answered: not asked
                continue
            it, g = _record(t, slots, None, None, t.name not in held)
            add_item(it)
            add_gold(g)
            add_raw(None)
            want -= 1
        if progress is not None:
            progress.advance(1)
    n_pop = n_pop_un = 0
    if population_per_template > 0 and population:
        pop_items, pop_gold, pop_dropped, pop_verified = build_population_items(
            con, population, held, seed, population_per_template, ratio)
        for it, g in zip(pop_items, pop_gold, strict=True):
            add_item(it)
            add_gold(g)
            add_raw(None)  # qa does not ask population-level questions
        dropped += pop_dropped
        verified_dropped += pop_verified
        n_pop_un = sum(1 for g in pop_gold if not g["answerable"])
        n_pop = len(pop_gold) - n_pop_un
    if stats is not None:
        if selected:  # recorded only when the cap binds: releases it does not touch keep their bytes
            stats["template_cap"] = {"max_per_template": int(max_per_template),
                                     "capped_template_splits": len(selected)}
        stats["unanswerable_dropped_verified"] = verified_dropped
        stats["population_items"] = n_pop
        stats["population_unanswerable_items"] = n_pop_un
    return items, gold, dropped


class GoldRows:
    """The raw rows of each gold query, one entry per gold record in the records' order (None for
    an unanswerable or population item), pickled to a scratch file of the build: qa reads them
    instead of running the gold SQL a second time on a second copy of the release database
    (issue 12). Read back with `iter(...)`, as often as needed, after `close()`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        self.n = 0

    def add(self, rows: list[tuple] | None) -> None:
        pickle.dump(rows, self._f, protocol=pickle.HIGHEST_PROTOCOL)
        self.n += 1

    def close(self) -> None:
        self._f.close()

    def __iter__(self):
        with open(self.path, "rb") as f:
            for _ in range(self.n):
                yield pickle.load(f)


def _population_candidates(con: duckdb.DuckDBPyConnection, t: Template) -> list[tuple]:
    """Sorted, distinct slot tuples of population template t over the whole release database
    (one empty tuple for a template without slots when its candidate query returns a row)."""
    names = slot_names(t)
    cols, rows = fetch_in_scan_share(con, f"SELECT * FROM ({t.candidates}) AS candidates")
    missing = [n for n in names if n not in cols]
    if missing:
        raise ValueError(f"template {t.name}: candidates lack slot column(s) {missing}")
    idx = [cols.index(n) for n in names]
    return sorted({tuple(row[i] for i in idx) for row in rows
                   if None not in (row[i] for i in idx)})


def population_split(item_id: str, held: bool) -> str:
    """Split of a population item (it has no patient): test for a held-out template, else
    60/20/20 train/dev/test by a stable hash of the item id (its template and slot values)."""
    if held:
        return "test"
    bucket = stable_bucket("medbench-sql-population", item_id, 100)
    return "train" if bucket < 60 else "dev" if bucket < 80 else "test"


def build_population_items(con: duckdb.DuckDBPyConnection, population: list[Template],
                           held: frozenset[str], seed: int, per_template: int, ratio: float
                           ) -> tuple[list, list, int, int]:
    """(items, gold, dropped_empty, dropped_verified) of the population-level templates: questions
    about all of the release's patients (counts, averages, rankings), so `subject_id` and
    `hadm_id` are null. Per answerable template, up to `per_template` slot fillings drawn with an
    RNG seeded from (seed, template); then round(ratio * answerable population items)
    unanswerable population items, the unanswerable population templates taking turns (seeded
    order, each through its fillings in a seeded order; verified like the patient ones).
    Computed over the whole release database, so a shard build has none and merge-shards
    recomputes them when it rebuilds the SQL task (module docstring)."""
    # each population query scans whole tables of the release, and the blocks a scan reads stay
    # cached up to DuckDB's memory limit (40k patients: 603 MiB; docs/BENCHMARKS.md, s27-s28):
    # the queries run under a small cap (config.scan_share), each read through fetch_in_scan_share
    with scan_share(con):
        return _population_items(con, population, held, seed, per_template, ratio)


def _population_items(con: duckdb.DuckDBPyConnection, population: list[Template],
                      held: frozenset[str], seed: int, per_template: int, ratio: float
                      ) -> tuple[list, list, int, int]:
    items, gold, dropped, verified = [], [], 0, 0

    def draw(t: Template, k: int | None) -> list[dict]:
        """k slot fillings of t (all of them, in a seeded order, when k is None)."""
        cands = _population_candidates(con, t)
        if k is None:
            _rng(seed, "population", t.name).shuffle(cands)
        elif len(cands) > k:
            cands = sorted(_rng(seed, "population", t.name).sample(cands, k))
        return [{n: _slot_value(v) for n, v in zip(slot_names(t), c)} for c in cands]

    for t in [t for t in population if t.answerable]:
        for slots in draw(t, per_template):
            sql = t.gold.format(**{k: sql_literal(v) for k, v in slots.items()})
            rows = fetch_in_scan_share(con, sql)[1]
            if _is_empty(rows):
                dropped += 1
                continue
            it, g = _population_record(t, slots, sql, canonical_answer(rows), t.name in held)
            items.append(it)
            gold.append(g)
    want = round(ratio * len(items))
    # unanswerable: the templates take turns (seeded order), each through its own fillings
    queues = [(t, draw(t, None)) for t in population if not t.answerable]
    _rng(seed, "population", "unanswerable").shuffle(queues)
    pool = [(t, q[i]) for i in range(max((len(q) for _, q in queues), default=0))
            for t, q in queues if i < len(q)]
    for t, slots in pool:
        if want <= 0:
            break
        if t.verify is not None and _data_exists(con, t, slots, scan=True):
            verified += 1
            continue
        it, g = _population_record(t, slots, None, None, t.name in held)
        items.append(it)
        gold.append(g)
        want -= 1
    return items, gold, dropped, verified


def _population_record(t: Template, slots: dict, sql: str | None, answer: str | None,
                       held: bool) -> tuple[dict, dict]:
    item_id = make_item_id(TASK, None, None, t.name, canonical_json(slots))
    split = population_split(item_id, held)
    pool = _phrasing_pool(t, split == "test")
    pick = pool[int(hashlib.sha256(f"{item_id}|phrasing".encode()).hexdigest()[:8], 16) % len(pool)]
    question = t.phrasings[pick].format(**slots)
    item = {"item_id": item_id, "task": TASK, "split": split, "subject_id": None,
            "hadm_id": None, "question": question, "template_seen_in_train": not held}
    gold = {"item_id": item_id, "task": TASK, "answerable": sql is not None, "sql": sql,
            "answer": answer, "template": t.name, "family": t.family, "tables": list(t.tables),
            "slots": slots, "question": question}
    return item, gold


def _data_exists(con: duckdb.DuckDBPyConnection, t: Template, slots: dict, scan: bool = False) -> bool:
    """Whether the release database holds the data unanswerable template `t` asks about
    (`scan`: a whole-release query, inside `scan_share`)."""
    sql = t.verify.format(**{k: sql_literal(v) for k, v in slots.items()})
    if scan:
        rows = fetch_in_scan_share(con, sql)[1]
        row = rows[0] if rows else None
    else:
        row = con.execute(sql).fetchone()
    return bool(row and row[0])


def sql_info(gold, dropped_empty: int, tables: list[str], templates: list[Template],
             unanswerable_share: float, stats: dict | None = None) -> dict:
    """The manifest's sql entry; `gold`: the gold records (a list or a RecordSpool), read once."""
    n_all = n_un = 0
    used: set[str] = set()
    used_un: set[str] = set()
    for g in gold:
        n_all += 1
        if g["answerable"]:
            used.add(g["template"])
        else:
            n_un += 1
            used_un.add(g["template"])
    held = held_out_templates(templates)
    return {
        "held_out_templates": sorted(held),
        "template_holdout_share": TEMPLATE_HOLDOUT_SHARE,
        "test_only_phrasings": TEST_ONLY_PHRASINGS,
        "unanswerable_dropped_verified": int((stats or {}).get("unanswerable_dropped_verified", 0)),
        "population_items": int((stats or {}).get("population_items", 0)),
        "population_unanswerable_items": int((stats or {}).get("population_unanswerable_items", 0)),
        "population_templates_available": sum(1 for t in templates if t.scope == "population"),
        "engine": "duckdb",
        "profile": "medbench",
        "database": DB_DIR,
        "database_format": "parquet",
        "tables": tables,
        "templates_available": sum(1 for t in templates if t.answerable),
        "unanswerable_templates_available": sum(1 for t in templates if not t.answerable),
        "templates_used": len(used),
        "unanswerable_templates_used": len(used_un),
        "answerable": n_all - n_un,
        "unanswerable": n_un,
        "unanswerable_share": round(n_un / n_all, 4) if n_all else 0.0,
        "unanswerable_target": unanswerable_share,
        "dropped_empty": dropped_empty,
        **({"template_cap": (stats or {})["template_cap"]} if "template_cap" in (stats or {}) else {}),
    }


def build_sql_task(ctx: Any) -> TaskOutput:
    """The SQL task's items, gold, release database (Parquet) and tables.json (module docstring)."""
    params = dict(getattr(ctx, "params", None) or {})
    seed = int(params.get("seed", getattr(ctx, "seed", 0)))
    share = float(params.get("sql_unanswerable_share", DEFAULT_UNANSWERABLE_SHARE))
    cap = params.get("sql_max_per_patient")
    per_template = int(params.get("sql_max_per_template", DEFAULT_MAX_PER_TEMPLATE))
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
    con = duckdb.connect(str(db_path), read_only=True, config={"threads": 1, **memory_settings()})
    try:
        stats: dict = {}
        # population-level items are computed over the whole release: a shard has none (its SQL
        # task is rebuilt over the merged patients by merge-shards, which computes them)
        per_pop = 0 if params.get("shard") else int(params.get("sql_population_per_template",
                                                                DEFAULT_POPULATION_PER_TEMPLATE))
        # records stream to disk (issue 12: no whole-release lists in memory)
        spool = getattr(ctx, "spool", None)
        raw = GoldRows(work / "gold_rows.pickle")
        items, gold, dropped = build_items(con, templates, subjects, seed, share,
                                           int(cap) if cap is not None else None,
                                           getattr(ctx, "progress", None), stats, per_pop,
                                           items=spool("items", TASK) if spool else None,
                                           gold=spool("gold") if spool else None, raw=raw,
                                           max_per_template=per_template or None)
        raw.close()
        tables_json = tables_json_bytes(con)
    finally:
        con.close()
    files: dict[str, Path | bytes] = {f"{DB_DIR}/{t}.parquet": db_dir / f"{t}.parquet" for t in tables}
    files[TABLES_JSON] = tables_json
    info = sql_info(gold, dropped, tables, templates, share, stats)
    return TaskOutput(items=items, gold=gold, info=info, files=files, internal={"gold_rows": raw})
