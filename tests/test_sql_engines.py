"""SQL engines as objects (medbench.tasks.sql.engines) and the release's explicit `profile`:
the EHRSQL rules follow the profile a release declares, never the engine's name."""

from __future__ import annotations

import json
import pickle

import pytest

from medbench.errors import UserError
from medbench.release import SQL_PROFILES, infer_sql_profile, open_release
from medbench.tasks.sql.engines import (
    EHRSQL_NOW,
    DuckDBEngine,
    SQLiteEngine,
    as_engine,
    make_engine,
    release_engine,
)
from medbench.tasks.sql.execute import EMPTY_QUERY, prepare_sql, run_job

EHRSQL_ONLY = "SELECT 1 WHERE current_time < '2200-01-01' AND 80 > heart_rate_lower"


def _release(tmp_path, sql_info):
    root = tmp_path / "rel"
    root.mkdir()
    (root / "manifest.json").write_text(json.dumps({"name": "r", "tasks": {"sql": sql_info}, "files": {}}))
    return open_release(root)


@pytest.mark.parametrize("engine,expected", [("sqlite", "ehrsql-2024"), ("duckdb", "medbench")])
def test_old_manifest_gets_its_profile_inferred_once_on_read(tmp_path, engine, expected):
    rel = _release(tmp_path, {"engine": engine})
    assert rel.manifest["tasks"]["sql"]["profile"] == expected == infer_sql_profile(engine)
    assert release_engine(rel) == make_engine(engine, expected)


def test_declared_profile_decides_not_the_engine(tmp_path):
    # a SQLite release under medbench's own rules: queries run as written
    eng = release_engine(_release(tmp_path, {"engine": "sqlite", "profile": "medbench"}))
    assert isinstance(eng, SQLiteEngine) and not eng.ehrsql and eng.now is None
    assert prepare_sql(EHRSQL_ONLY, eng) == EHRSQL_ONLY
    # a DuckDB engine under the EHRSQL profile normalises as the shared task does
    ehr = DuckDBEngine("ehrsql-2024")
    assert prepare_sql(EHRSQL_ONLY, ehr) == SQLiteEngine("ehrsql-2024").normalise(EHRSQL_ONLY) != EHRSQL_ONLY
    assert ehr.now == EHRSQL_NOW and ehr.runs_empty_query


def test_unknown_profile_is_refused(tmp_path):
    with pytest.raises(UserError, match="unknown sql profile 'ehrsql-2099'") as ei:
        _release(tmp_path, {"engine": "sqlite", "profile": "ehrsql-2099"})
    assert "\n" not in str(ei.value) and all(p in str(ei.value) for p in SQL_PROFILES)
    with pytest.raises(ValueError, match="unknown SQL profile"):
        SQLiteEngine("nope")
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("postgres", "medbench")


def test_engines_are_values_the_workers_can_receive():
    for eng in (SQLiteEngine("ehrsql-2024"), DuckDBEngine("medbench")):
        assert pickle.loads(pickle.dumps(eng)) == eng and hash(eng) == hash(pickle.loads(pickle.dumps(eng)))
    assert SQLiteEngine("medbench") != DuckDBEngine("medbench")
    assert as_engine("duckdb") == DuckDBEngine("medbench") and as_engine("sqlite", "medbench") == SQLiteEngine("medbench")


def test_empty_query_rule_follows_the_profile(tmp_path):
    import sqlite3

    db = tmp_path / "d.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x INTEGER)")
    con.commit()
    con.close()
    for profile, refused in (("ehrsql-2024", False), ("medbench", True)):
        eng = SQLiteEngine(profile)
        sandbox = eng.connect(db)
        res = run_job(sandbox, eng, {"sql": "-- nothing"}, timeout_s=5, row_cap=10)
        sandbox.close()
        assert (res["error"] == f"refused: {EMPTY_QUERY}") is refused, (profile, res)
        assert refused or res["error"] is None, res


def test_compare_is_the_canonical_answer():
    eng = DuckDBEngine()
    assert eng.compare("[[1], [2]]", "[[1], [2]]") and not eng.compare(None, "[]")
    assert not eng.compare("[[1]]", "[[2]]")
