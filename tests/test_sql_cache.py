"""Per-release SQL scoring caches: what is kept, what is never trusted, and the size bound."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from medbench.tasks.sql import cache
from medbench.tasks.sql.cache import GoldCache, ResultCache, cacheable, result_key

SHA_A, SHA_B = "a" * 64, "b" * 64


def _ok(answer="[['1']]", tokens=("select", "1"), **over):
    return {"answer": answer, "error": None, "tokens": list(tokens), "content": ["1"], "parsed": True,
            "fingerprint": None, **over}


@pytest.fixture(autouse=True)
def _fresh_memo():
    cache.clear_memo()
    yield
    cache.clear_memo()


def _read(path):
    """A cache file's body ("<sha256>\n<body>")."""
    return json.loads(path.read_text().split("\n", 1)[1])


def _write(path, data):
    import hashlib

    body = json.dumps(data)
    path.write_text(hashlib.sha256(body.encode()).hexdigest() + "\n" + body)


def test_round_trip_and_identity_checks(isolated_home):
    rel = SimpleNamespace(sha256=SHA_A)
    rc = ResultCache(rel, "sqlite")
    key = result_key("SELECT 1", "sqlite", 5.0, 100_000)
    rc.put(key, _ok())
    rc.save()
    path = isolated_home / "cache" / "sql-results" / f"{SHA_A}.json"
    assert _read(path)["release"] == SHA_A
    cache.clear_memo()
    assert ResultCache(rel, "sqlite").get(key)["answer"] == "[['1']]"
    # another engine, another release, another format, a damaged file: ignored, never trusted
    cache.clear_memo()
    assert ResultCache(rel, "duckdb").get(key) is None
    other = isolated_home / "cache" / "sql-results" / f"{SHA_B}.json"
    other.write_bytes(path.read_bytes())  # B's path, A's content
    assert ResultCache(SimpleNamespace(sha256=SHA_B), "sqlite").get(key) is None
    data = _read(path)
    _write(path, {**data, "format": -1})
    cache.clear_memo()
    assert ResultCache(rel, "sqlite").get(key) is None
    path.write_text('{"format": 3, "rel')
    cache.clear_memo()
    with pytest.warns(UserWarning, match="damaged scoring cache"):
        assert ResultCache(rel, "sqlite").get(key) is None
    # no release (a bare database path): nothing is read or written
    none = ResultCache(None, "sqlite")
    none.put(key, _ok())
    none.save()
    assert none.path is None
    # atomic writes leave no temp files behind
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, other.name])


def test_keys_depend_on_engine_limits_and_text():
    k = result_key("SELECT 1", "sqlite", 5.0, 100_000)
    assert k != result_key("SELECT 1", "duckdb", 5.0, 100_000)
    # SQLite: the deterministic work budget decides, not the wall-clock limit (a query that hits
    # the wall limit is re-run alone and never cached), so a rescore with another --timeout
    # reuses the outcome; DuckDB's outcome depends on its time limit
    assert k == result_key("SELECT 1", "sqlite", 1.0, 100_000)
    assert k != result_key("SELECT 1", "sqlite", 5.0, 100_000, vm_steps=1000)
    assert result_key("SELECT 1", "duckdb", 5.0, 100_000) != result_key("SELECT 1", "duckdb", 1.0, 100_000)
    assert k != result_key("SELECT 1", "sqlite", 5.0, 10)
    assert k != result_key("SELECT 2", "sqlite", 5.0, 100_000)


@pytest.mark.parametrize("result,keep", [
    (_ok(), True),
    (_ok(answer="x" * (cache.MAX_ANSWER_CHARS + 1)), False),
    (_ok(answer=None, error="OperationalError: near \"FORM\": syntax error"), True),
    (_ok(answer=None, error="refused: only read-only SELECT/WITH queries are allowed (got DELETE)"), True),
    (_ok(answer=None, error="OverflowError: result has more than 10 rows"), True),
    (_ok(answer=None, error="TimeoutError: query exceeded the 5 s time limit"), False),
    (_ok(answer=None, error="query exceeded the 5 s time limit (worker killed)"), False),
    (_ok(answer=None, error="worker crashed while running this query"), False),
    (_ok(answer=None, error="OperationalError: interrupted"), False),
    (_ok(answer=None, error="OutOfMemoryException: could not allocate"), False),
    (_ok(tokens=("select", "random", "(", ")")), False),
    (_ok(tokens=("select", "now", "(", ")")), False),
    ({"answer": "[['1']]", "error": None}, False),  # no features: a gold-answer job, not a prediction
])
def test_only_repeatable_outcomes_are_kept(result, keep):
    assert cacheable(result) is keep


def test_least_recently_used_entries_go_first(isolated_home):
    rel = SimpleNamespace(sha256=SHA_A)
    rc = ResultCache(rel, "sqlite", max_entries=3)
    keys = [result_key(f"SELECT {i}", "sqlite", 5.0, 100_000) for i in range(5)]
    for k in keys[:3]:
        rc.put(k, _ok())
    rc.get(keys[0])  # used: kept
    for k in keys[3:]:
        rc.put(k, _ok())
    rc.save()
    cache.clear_memo()
    kept = ResultCache(rel, "sqlite")
    assert [k for k in keys if kept.get(k) is not None] == [keys[0], keys[3], keys[4]]
    big = ResultCache(SimpleNamespace(sha256=SHA_B), "sqlite", max_bytes=3000)
    for k in keys:
        big.put(k, _ok(answer="y" * 1000))
    big.save()
    assert len(_read(big.path)["entries"]) == 2


def test_gold_cache_merges_lazily_filled_fields(isolated_home):
    rel = SimpleNamespace(sha256=SHA_A)
    gc = GoldCache(rel, "sqlite")
    gc.update("i1", tokens=["select", "1"], content=None)
    gc.update("i1", fingerprint="select 1")
    gc.save()
    cache.clear_memo()
    assert GoldCache(rel, "sqlite").get("i1") == {"tokens": ["select", "1"], "fingerprint": "select 1"}
    assert GoldCache(rel, "duckdb").get("i1") == {}
    unchanged = GoldCache(rel, "sqlite")
    unchanged.update("i1", fingerprint="select 1")
    assert not unchanged.dirty
