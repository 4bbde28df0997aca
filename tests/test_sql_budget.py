"""Load-independent SQL outcomes: SQLite's deterministic work budget decides, the wall clock is a
safety net (a query that hits it is run again alone with a longer limit before it counts)."""

from __future__ import annotations

import sqlite3

import pytest

from medbench.tasks.sql import execute
from medbench.tasks.sql.cache import deterministic_error
from medbench.tasks.sql.execute import SqlPool, open_readonly, run_query

COUNT_TO = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT count(*) FROM c"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a INTEGER)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    con.commit()
    con.close()
    return path


def test_work_budget_is_deterministic_and_cached_as_resource_limit(db):
    con = open_readonly(db, "sqlite")
    sql = COUNT_TO.format(n=10_000_000)
    outs = [run_query(con, "sqlite", sql, timeout_s=600, vm_steps=200_000) for _ in range(3)]
    assert {o["error"] for o in outs} == {"resource_limit: query exceeded the work budget of 200000 SQLite VM steps"}
    assert deterministic_error(outs[0]["error"])  # a rescore reuses it from the cache
    ok = run_query(con, "sqlite", COUNT_TO.format(n=1000), timeout_s=600, vm_steps=200_000)
    assert ok["error"] is None and ok["answer"] == "[['1000.0']]"
    # the row cap is a resource limit too
    capped = run_query(con, "sqlite", "SELECT a FROM t", row_cap=5)
    assert capped["error"] == "resource_limit: result has more than 5 rows" and deterministic_error(capped["error"])


def test_a_query_over_the_wall_limit_is_run_again_alone_before_it_counts(db, monkeypatch):
    monkeypatch.setattr(execute, "RETRY_TIMEOUT_FACTOR", 3000.0)  # the re-run alone: 30 s
    sql = COUNT_TO.format(n=1_000_000)
    with SqlPool(db, "sqlite", workers=2, timeout_s=0.01) as pool:
        seen: list[int] = []
        res = pool.map([{"sql": sql, "check": False}, {"sql": "SELECT 1", "check": False}],
                       on_result=lambda i, r: seen.append(i))
    assert res[0]["error"] is None and res[0]["answer"] == "[['1000000.0']]", res[0]
    assert res[1]["answer"] == "[['1.0']]"
    assert sorted(seen) == [0, 1]  # one report per job, the final outcome


def test_still_over_the_wall_limit_alone_is_a_resource_limit_never_cached(db, monkeypatch):
    monkeypatch.setattr(execute, "RETRY_TIMEOUT_FACTOR", 2.0)
    sql = COUNT_TO.format(n=4_000_000)
    with SqlPool(db, "sqlite", workers=1, timeout_s=0.001) as pool:
        res = pool.map([{"sql": sql, "check": False, "vm_steps": None}])
    err = res[0]["error"]
    assert err.startswith("resource_limit: query exceeded the 0.001 s time limit, and 0.002 s when run again alone")
    assert not deterministic_error(err)  # load decided it: never cached


def test_invalid_utf8_text_is_decoded_as_the_ehrsql_scorer_does(tmp_path):
    path = tmp_path / "bytes.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (a TEXT)")
    con.execute("INSERT INTO t VALUES (CAST(x'61ff62' AS TEXT))")
    con.commit()
    con.close()
    ro = open_readonly(path, "sqlite")
    assert run_query(ro, "sqlite", "SELECT a FROM t")["answer"] == "[['ab']]"  # invalid byte dropped
    assert run_query(ro, "sqlite", "SELECT 'é', 7.4200, 1")["answer"] == "[['é', '7.42', '1.0']]"
