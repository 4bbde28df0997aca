"""Every sandbox layer complete on its own: each attack is refused by the sqlglot statement check
alone, and by the engine's own layer alone (SQLite: the authorizer with its SQLITE_FUNCTION
allow-list; DuckDB: the allow-list checked on DuckDB's own parse tree); file and URL reads are also
stopped by DuckDB's configuration alone (enable_external_access=false, locked). Ordinary queries
pass every layer (so the allow-lists are not simply "refuse everything")."""

from __future__ import annotations

import os
import sqlite3

import pytest

from medbench.tasks.sql.execute import open_readonly, parse_select, run_query

DUCKDB_ATTACKS = [
    "SELECT * FROM '/etc/passwd'",
    'SELECT * FROM "/etc/passwd"',
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM query('SELECT * FROM read_text(''/etc/passwd'')')",
    "SELECT * FROM query_table('t')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM pragma_database_list",
    "SELECT * FROM pragma_database_list()",
    "SELECT * FROM duckdb_settings()",
    "SELECT * FROM duckdb_databases",
    "SELECT * FROM duckdb_databases()",
    "SELECT current_setting('home_directory')",
    "SELECT * FROM duckdb_extensions()",
    "SELECT x FROM t WHERE x IN (SELECT 1 FROM duckdb_settings())",
]
DUCKDB_FILE_ATTACKS = DUCKDB_ATTACKS[:6]  # the ones DuckDB's configuration stops by itself too
SQLITE_ATTACKS = [
    "SELECT hex(fts3_tokenizer('simple'))",
    "SELECT fts3_tokenizer('simple', x'0000000000000000')",
    "SELECT load_extension('/tmp/evil')",
    "SELECT readfile('/etc/passwd')",
    "SELECT * FROM pragma_database_list",
    "SELECT name FROM pragma_table_info('t')",
    "SELECT x FROM t WHERE x = (SELECT hex(fts3_tokenizer('simple')))",
]
BENIGN = {
    "duckdb": ["SELECT count(*) FROM t", "SELECT x, row_number() OVER (ORDER BY x) FROM t",
               "WITH c AS (SELECT x FROM t) SELECT max(x) FROM c",
               "SELECT strftime(DATE '2020-01-02', '%Y'), upper('a') || 'b'",
               "SELECT * FROM range(3)", "SELECT table_name FROM information_schema.tables"],
    "sqlite": ["SELECT count(*) FROM t", "SELECT strftime('%Y', '2020-01-02'), upper('a') || 'b'",
               "WITH c AS (SELECT x FROM t) SELECT max(x) FROM c", "SELECT julianday('2020-01-02')"],
}


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    import duckdb

    root = tmp_path_factory.mktemp("layers")
    d = duckdb.connect(str(root / "t.duckdb"))
    d.execute("CREATE TABLE t AS SELECT range AS x FROM range(5)")
    d.close()
    s = sqlite3.connect(root / "t.sqlite")
    s.execute("CREATE TABLE t (x INTEGER)")
    s.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(5)])
    s.commit()
    s.close()
    return {"duckdb": root / "t.duckdb", "sqlite": root / "t.sqlite"}


def _attacks(engine):
    return DUCKDB_ATTACKS if engine == "duckdb" else SQLITE_ATTACKS


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_statement_check_alone_refuses_every_attack(engine):
    for sql in _attacks(engine):
        assert parse_select(sql, engine)[1], f"sqlglot check let through: {sql}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_engine_layer_alone_refuses_every_attack(engine, dbs):
    con = open_readonly(dbs[engine], engine)
    for sql in _attacks(engine):
        out = run_query(con, engine, sql, timeout_s=5, check=False, engine_check=True)
        assert out["answer"] is None and out["error"], f"engine layer let through: {sql} -> {out}"
        assert "/tmp/" not in (out["error"] or "") or "evil" in sql


def test_duckdb_configuration_alone_stops_file_and_url_reads(dbs):
    con = open_readonly(dbs["duckdb"], "duckdb")
    for sql in DUCKDB_FILE_ATTACKS:
        out = run_query(con, "duckdb", sql, timeout_s=5, check=False, engine_check=False)
        assert out["answer"] is None and out["error"], f"configuration let through: {sql}"
    # and the configuration cannot be turned back on from inside a query's connection
    import duckdb

    with pytest.raises(duckdb.Error):
        con.execute("SET enable_external_access = true")


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_ordinary_queries_pass_every_layer(engine, dbs):
    con = open_readonly(dbs[engine], engine)
    for sql in BENIGN[engine]:
        assert parse_select(sql, engine)[1] is None, sql
        out = run_query(con, engine, sql, timeout_s=5, check=True)
        assert out["error"] is None and out["answer"] is not None, (sql, out)


def test_workers_run_under_an_address_space_limit_and_keep_output_off_stdout(dbs):
    from medbench.tasks.sql.execute import WORKER_EXTRA_ADDRESS_SPACE, SqlPool

    with SqlPool(dbs["duckdb"], "duckdb", workers=1, timeout_s=5) as pool:
        assert pool.map([{"sql": "SELECT count(*) FROM t"}])[0]["answer"] == "[['5.0']]"
        pid = pool._workers[0].process.pid
        with open(f"/proc/{pid}/limits") as f:
            limits = f.read()
        line = next(ln for ln in limits.splitlines() if ln.startswith("Max address space"))
        soft = line.split()[3]
        assert soft != "unlimited" and int(soft) >= WORKER_EXTRA_ADDRESS_SPACE
        assert os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
        assert os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"
