"""Issue 12: DuckDB's cache of table blocks is released between a build's batches, so the peak
RSS does not grow with the store (docs/BENCHMARKS.md, "the block cache")."""

from __future__ import annotations

import duckdb

from medbench.config import duckdb_settings, release_cached_blocks


def _cached_mb(con) -> float:
    (mb,) = con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) / 2^20 FROM duckdb_memory() "
                        "WHERE tag = 'BASE_TABLE'").fetchone()
    return mb


def test_release_cached_blocks_empties_the_block_cache_and_keeps_the_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(2000000)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(f"SET memory_limit = '{duckdb_settings()['memory_limit']}'")
        before_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        total = con.execute("SELECT sum(length(s)) FROM t").fetchone()[0]
        assert _cached_mb(con) > 30  # the scan left the table's blocks in the buffer pool
        release_cached_blocks(con)
        assert _cached_mb(con) <= 16
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before_limit
        assert con.execute("SELECT sum(length(s)) FROM t").fetchone()[0] == total  # reads again
        # a pinned block (an open cursor mid-scan) is kept, not an error
        cur = con.cursor()
        cur.execute("SELECT s FROM t")
        cur.fetchmany(10)
        release_cached_blocks(con)
        assert len(cur.fetchmany(10)) == 10
        cur.close()
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before_limit
    finally:
        con.close()
