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


def _limit_as_duckdb_reports(limit: str) -> str:
    probe = duckdb.connect(":memory:")
    try:
        probe.execute(f"SET memory_limit = '{limit}'")
        return probe.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        probe.close()


def test_scratch_instances_get_a_small_share_never_a_larger_one(tmp_path, monkeypatch):
    """The SQL export's private instance (and materialise_db) run beside the store's connection:
    they get SCRATCH_MEMORY_MB, not a whole DuckDB share each, and never more than the share."""
    from medbench.config import SCRATCH_MEMORY_MB
    from medbench.tasks.sql.schema import _private_instance

    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "not" / "yet" / "home"))
    for budget, expect in (("4GB", f"{SCRATCH_MEMORY_MB}MB"), ("200MB", "100MB")):
        monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", budget)
        con = _private_instance()
        try:
            got = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            assert got == _limit_as_duckdb_reports(expect), (budget, got)
        finally:
            con.close()
    assert (tmp_path / "not" / "yet" / "home").is_dir()  # DuckDB can create its spill folder there


def test_sorted_export_bytes_do_not_depend_on_spilling(tmp_path, monkeypatch):
    """A release table sorted under a limit that forces the sort to disk has the same Parquet
    bytes as one sorted in memory (the scratch limit changes cost, never a release)."""
    from medbench.tasks.sql.schema import _copy_sorted, _private_instance

    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "4GB")
    con = _private_instance()
    try:
        con.execute("CREATE TABLE t AS SELECT (hash(range) % 5000)::BIGINT AS subject_id, "
                    "md5(range::VARCHAR) AS s, range % 7 AS k FROM range(3000000)")
        out = {}
        for limit in ("64MB", "2GB"):
            con.execute(f"SET memory_limit = '{limit}'")
            out[limit] = tmp_path / f"t_{limit}.parquet"
            _copy_sorted(con, "SELECT * FROM t", out[limit])
        assert out["64MB"].read_bytes() == out["2GB"].read_bytes()
        first = con.execute(f"SELECT subject_id FROM read_parquet('{out['64MB']}') LIMIT 3").fetchall()
        assert first == sorted(first)
    finally:
        con.close()


def test_scan_share_caps_the_block_cache_of_a_whole_table_scan(tmp_path, monkeypatch):
    """Population-level SQL queries scan whole tables once; under `scan_share` the blocks they read
    stay within SCAN_MEMORY_MB (at 40k patients one such query had left 250 MB cached), the same
    answer comes back and the connection's usual limit is restored."""
    from medbench import config
    from medbench.config import fetch_in_scan_share, scan_share

    cap = 16  # below the ~50 MB the scan leaves cached without a cap
    monkeypatch.setattr(config, "SCAN_MEMORY_MB", cap)
    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(3000000)")
    con = duckdb.connect(str(db), read_only=True, config={"threads": 1})
    try:
        con.execute(f"SET memory_limit = '{duckdb_settings()['memory_limit']}'")
        full = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        query = "SELECT count(DISTINCT s), sum(length(s)) FROM t"
        with scan_share(con):
            cols, rows = fetch_in_scan_share(con, query)
            capped = _cached_mb(con)
        assert len(cols) == 2 and capped <= cap
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == full
        release_cached_blocks(con)
        assert con.execute(query).fetchall() == rows
        assert _cached_mb(con) > 2 * cap  # uncapped, the same scan keeps far more
    finally:
        con.close()


def test_a_query_out_of_memory_in_the_scan_share_runs_again_at_the_full_share(monkeypatch):
    """A query that cannot spill within the cap is not an error: it runs at the usual limit, and
    the cap is back for the next query."""
    from medbench import config

    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "1GB")

    class Con:  # DuckDB's behaviour here: the query fails under the cap, runs above it
        def __init__(self):
            self.limit, self.log = None, []

        def execute(self, sql):
            if sql.startswith("SET memory_limit"):
                self.limit = sql.split("'")[1]
                self.log.append(self.limit)
                return self
            if self.limit == f"{config.SCAN_MEMORY_MB}MB":
                raise duckdb.OutOfMemoryException("could not allocate")
            self.description = [("n",)]
            return self

        def fetchall(self):
            return [(7,)]

    con = Con()
    full = config.duckdb_settings()["memory_limit"]
    with config.scan_share(con):
        assert config.fetch_in_scan_share(con, "SELECT 7 AS n") == (["n"], [(7,)])
        assert con.limit == f"{config.SCAN_MEMORY_MB}MB"
    assert con.log == [f"{config.SCAN_MEMORY_MB}MB", full, f"{config.SCAN_MEMORY_MB}MB", full]
