"""Hostile SQL: refused or stopped within the time limit, scoring continues, database unchanged.

Run for both engines: SQLite (the EHRSQL database) and DuckDB (a small database made here).
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import EHRSQL_DIR

from medbench.io import sha256_file

TIMEOUT_S = 1.0
MARGIN_S = 2.5  # interrupt granularity, process start-up and a loaded 2-core machine
# a query over the wall limit is run again alone with RETRY_TIMEOUT_FACTOR x the limit (issue 10)
from medbench.tasks.sql.execute import RETRY_TIMEOUT_FACTOR  # noqa: E402

WORST_S = TIMEOUT_S * (1 + RETRY_TIMEOUT_FACTOR) + 2 * MARGIN_S

COMMON = [
    "DROP TABLE {t}",
    "DELETE FROM {t}",
    "UPDATE {t} SET {c} = NULL",
    "INSERT INTO {t} SELECT * FROM {t}",
    "CREATE TABLE evil AS SELECT 1 AS x",
    "CREATE TEMP TABLE evil AS SELECT 1 AS x",
    "ATTACH '{tmp}/attached.db' AS evil",
    "PRAGMA table_info({t})",
    "SELECT 1; DROP TABLE {t}",
    "SELECT count(*) FROM {t}; SELECT 2",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    # 94 EHRSQL patients: a 4-way count finishes in ~0.6 s on a fast core; 5-way (7e9 rows) cannot
    "SELECT count(*) FROM {t} a, {t} b, {t} c, {t} d, {t} e",
    "SELECT * FROM {t} a, {t} b, {t} c",
]
DUCKDB_ONLY = [
    "COPY {t} TO '{tmp}/out.csv'",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "EXPORT DATABASE '{tmp}/exported'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_parquet('{tmp}/x.parquet')",
    "SELECT * FROM '/etc/passwd'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SELECT * FROM read_csv('https://example.com/x.csv')",
]
SQLITE_ONLY = [
    "SELECT load_extension('/tmp/evil')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "VACUUM INTO '{tmp}/copy.db'",
    "PRAGMA writable_schema = 1",
]


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory) -> Path:
    if not EHRSQL_DIR.is_dir():
        pytest.skip(f"shared data not available: {EHRSQL_DIR}")
    out = tmp_path_factory.mktemp("sqlite") / "mimic_iv.sqlite"
    with gzip.open(EHRSQL_DIR / "mimic_iv.sqlite.gz", "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


@pytest.fixture(scope="module")
def duckdb_db(tmp_path_factory) -> Path:
    import duckdb

    out = tmp_path_factory.mktemp("duckdb") / "small.duckdb"
    con = duckdb.connect(str(out))
    con.execute("CREATE TABLE patients AS SELECT range AS subject_id, 'p' || range AS gender FROM range(2000)")
    con.close()
    return out


def _cases(engine: str, tmp: Path) -> list[str]:
    extra = DUCKDB_ONLY if engine == "duckdb" else SQLITE_ONLY
    return [q.format(t="patients", c="gender", tmp=tmp) for q in COMMON + extra]


@pytest.mark.serial  # timed: run alone in `make test`'s serial pass
@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_hostile_queries_refused_or_stopped(engine, sqlite_db, duckdb_db, tmp_path):
    from medbench.tasks.sql import FAMILY
    from medbench.tasks.sql.normalize import canonical_answer

    db = sqlite_db if engine == "sqlite" else duckdb_db
    before = sha256_file(db)
    hostile = _cases(engine, tmp_path)
    good_sql = "SELECT count(*) FROM patients"
    import sqlite3

    import duckdb

    con = sqlite3.connect(db) if engine == "sqlite" else duckdb.connect(str(db), read_only=True)
    good_answer = canonical_answer(con.execute(good_sql).fetchall())
    con.close()
    queries = [good_sql] + hostile + [good_sql]  # good items around the hostile ones
    items = [{"item_id": f"i{k:03d}", "subject_id": None} for k in range(len(queries))]
    gold = {it["item_id"]: {"item_id": it["item_id"], "answerable": True, "sql": good_sql,
                            "answer": good_answer, "template": "patients"} for it in items}
    preds = {it["item_id"]: q for it, q in zip(items, queries)}
    start = time.monotonic()
    records = FAMILY.score_items(items, gold, preds, {"db_path": db, "engine": engine, "workers": 2,
                                                      "timeout_s": TIMEOUT_S})
    elapsed = time.monotonic() - start
    assert records[0]["correct"] and records[-1]["correct"]  # scoring went on around them
    for rec, q in zip(records[1:-1], hostile):
        assert not rec["correct"] and rec["score"] == -1, q
        assert not rec["executed"] and rec["error"], q
    slow = sum(1 for q in hostile if "RECURSIVE" in q or " d" in q or ", patients c" in q)
    assert elapsed < slow * WORST_S + 10
    assert sha256_file(db) == before
    assert not list(tmp_path.iterdir())  # nothing written: no COPY/EXPORT/ATTACH/VACUUM output


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_each_slow_query_stops_within_the_time_limit(engine, sqlite_db, duckdb_db):
    from medbench.tasks.sql.execute import SqlPool

    db = sqlite_db if engine == "sqlite" else duckdb_db
    slow = ["WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
            "SELECT count(*) FROM patients a, patients b, patients c, patients d, patients e"]
    with SqlPool(db, engine, workers=2, timeout_s=TIMEOUT_S) as pool:
        results = pool.map([{"sql": q} for q in slow])
    for res in results:
        # SQLite: the deterministic work budget; DuckDB: the wall limit, also when run again alone
        assert res["answer"] is None and res["error"].startswith("resource_limit:"), res["error"]
        assert ("work budget" if engine == "sqlite" else "when run again alone") in res["error"] or \
            "time limit" in res["error"]
        assert res["seconds"] <= TIMEOUT_S * RETRY_TIMEOUT_FACTOR + MARGIN_S


@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_engine_refuses_even_without_the_statement_check(engine, sqlite_db, duckdb_db, tmp_path):
    """The connection itself is locked down: the sqlglot check is not the only guard."""
    from medbench.tasks.sql.execute import open_readonly

    db = sqlite_db if engine == "sqlite" else duckdb_db
    before = sha256_file(db)
    con = open_readonly(db, engine)
    for q in _cases(engine, tmp_path):
        if "RECURSIVE" in q or "count(*) FROM patients a" in q or "FROM patients a," in q:
            continue  # the time limit, not the connection, stops these
        if engine == "duckdb" and (q.startswith("CREATE TEMP") or q.startswith("PRAGMA table_info")):
            continue  # harmless in DuckDB (in-memory temp table, catalog read); the check refuses them
        if q.startswith("SELECT 1; DROP") or q.startswith("SELECT count(*) FROM patients;"):
            if engine == "sqlite":  # sqlite3 runs one statement per call
                with pytest.raises(Exception):
                    con.execute(q)
            continue
        with pytest.raises(Exception):
            con.execute(q).fetchall()
    con.close()
    assert sha256_file(db) == before
    assert not list(tmp_path.iterdir())


@pytest.mark.serial  # timed: run alone in `make test`'s serial pass
def test_dead_or_hung_worker_costs_only_its_item(sqlite_db):
    from medbench.tasks.sql.execute import SqlPool

    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    good = "SELECT count(*) FROM patients"
    with SqlPool(sqlite_db, "sqlite", workers=1, timeout_s=TIMEOUT_S) as pool:
        pool.map([{"sql": good}])  # worker started and ready

        def when_busy(sig):  # signal the worker as soon as it holds the endless query
            def go():
                deadline = time.monotonic() + 10
                while pool._workers[0].job is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                os.kill(pool._workers[0].process.pid, sig)
            threading.Thread(target=go, daemon=True).start()

        # a hung worker: it ignores its own time limit, the pool must kill it

        when_busy(signal.SIGSTOP)
        start = time.monotonic()
        results = pool.map([{"sql": endless}, {"sql": good}])
        assert time.monotonic() - start < WORST_S + 5
        # killed, then run again alone (no signal this time): the endless query ends on a limit
        assert results[0]["answer"] is None and results[0]["error"].startswith("resource_limit:")
        assert results[1]["answer"] == "[['94.0']]"

        when_busy(signal.SIGKILL)
        results = pool.map([{"sql": endless}, {"sql": good}])
        assert results[0]["answer"] is None and results[0]["error"].startswith("resource_limit:")
        assert results[1]["answer"] == "[['94.0']]"
        assert pool.restarts == 2
