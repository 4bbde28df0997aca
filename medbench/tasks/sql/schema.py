"""The SQL task's release database: export, materialisation, Spider `tables.json`.

DuckDB database files are not byte-stable (two identical builds differ), so a release ships the
database as one Parquet file per table under `sql/db/<table>.parquet`, which is byte-stable:
rows are written in a total order (subject_id first) by a single-threaded private DuckDB. Callers
that need a database use `open_release_db(release)`, which materialises a read-only DuckDB file
once per release (cache key: the manifest's sha256) under `$MEDBENCH_HOME/sql-db/`.

What the database holds (for the tables the templates use):
- patient-level tables: exactly the rows of the released patients (filtered by subject_id);
- `d_labitems`, `d_items`: whole (small; label look-ups never depend on which patients are in);
- `d_icd_diagnoses`, `d_icd_procedures`: only the (icd_code, icd_version) pairs the released
  patients' diagnoses/procedures reference (the full dictionaries are ~200k rows).
A shard merge rebuilds the SQL task from the store (`medbench.build`), so no Parquet merge exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from medbench import config
from medbench.errors import UserError
from medbench.io import canonical_json, sha256_file

DB_DIR = "db"  # inside the release's sql/ folder
TABLES_JSON = "tables.json"
DB_ID = "mimic_iv"
PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000"

#: dictionaries shipped whole
WHOLE_DICTIONARIES = ("d_labitems", "d_items")
#: dictionaries restricted to the codes the released rows reference: table -> referencing tables
ICD_DICTIONARIES = {"d_icd_diagnoses": "diagnoses_icd", "d_icd_procedures": "procedures_icd"}

#: Spider primary keys (single-column where MIMIC has one; the ICD dictionaries' pair)
PRIMARY_KEYS = {
    "patients": ("subject_id",), "admissions": ("hadm_id",), "icustays": ("stay_id",),
    "d_labitems": ("itemid",), "d_items": ("itemid",), "labevents": ("labevent_id",),
    "transfers": ("transfer_id",), "microbiologyevents": ("microevent_id",),
    "d_icd_diagnoses": ("icd_code", "icd_version"), "d_icd_procedures": ("icd_code", "icd_version"),
}
#: column -> (referenced table, column), applied to every table that has the column
FOREIGN_KEYS = {
    "subject_id": ("patients", "subject_id"),
    "hadm_id": ("admissions", "hadm_id"),
    "stay_id": ("icustays", "stay_id"),
}
#: per-table foreign keys on other columns
TABLE_FOREIGN_KEYS = {
    "labevents": {"itemid": ("d_labitems", "itemid")},
    "chartevents": {"itemid": ("d_items", "itemid")},
    "diagnoses_icd": {"icd_code": ("d_icd_diagnoses", "icd_code")},
    "procedures_icd": {"icd_code": ("d_icd_procedures", "icd_code")},
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def _q(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"unexpected table name {name!r}")
    return f'"{name}"'


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _private_instance() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB of our own: single-threaded so Parquet bytes never depend on timing."""
    from medbench.config import apply_duckdb_settings

    con = duckdb.connect(":memory:")
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    apply_duckdb_settings(con, scratch=True)  # a small share: the sorts spill to disk (issue 12)
    return con


def _copy_sorted(con: duckdb.DuckDBPyConnection, select_sql: str, dest: Path) -> None:
    """Rows in a total order (every column), patient tables by subject_id first: the bytes are
    stable, and a patient's rows share few row groups, so `subject_id = N` filters skip the rest."""
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({select_sql})").fetchall()]
    order = (["subject_id"] if "subject_id" in cols else []) + cols
    keys = ", ".join(f'"{c}"' for c in order)
    con.execute(f"COPY (SELECT * FROM ({select_sql}) ORDER BY {keys}) TO {_lit(dest)} ({PARQUET_OPTIONS})")


def export_release_tables(store_path: Path, tables: Iterable[str], subject_ids: list[int],
                          out_dir: Path) -> dict[str, Path]:
    """Write `<out_dir>/<table>.parquet` for each table (module docstring); returns table -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = sorted(set(tables))
    con = _private_instance()
    try:
        con.execute(f"ATTACH {_lit(store_path)} AS src (READ_ONLY)")
        con.execute("CREATE TEMP TABLE released AS SELECT unnest($ids::BIGINT[]) AS subject_id",
                    {"ids": [int(s) for s in subject_ids]})
        out: dict[str, Path] = {}
        for t in tables:
            dest = out_dir / f"{t}.parquet"
            if t in WHOLE_DICTIONARIES:
                sql = f"SELECT * FROM src.{_q(t)}"
            elif t in ICD_DICTIONARIES:
                ref = _q(ICD_DICTIONARIES[t])
                sql = (f"SELECT d.* FROM src.{_q(t)} d WHERE EXISTS (SELECT 1 FROM src.{ref} r "
                       "WHERE r.icd_code = d.icd_code AND r.icd_version = d.icd_version "
                       "AND r.subject_id IN (SELECT subject_id FROM released))")
            else:
                sql = f"SELECT * FROM src.{_q(t)} WHERE subject_id IN (SELECT subject_id FROM released)"
            _copy_sorted(con, sql, dest)
            out[t] = dest
        return out
    finally:
        con.close()


def materialise_db(db_dir: Path, dest: Path) -> Path:
    """Build a read-only DuckDB file at `dest` from `db_dir/*.parquet` (temp file, then rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    from medbench.io import sweep_stale

    sweep_stale(dest.parent, rf"^\.{re.escape(dest.name)}\.(\d+)\.tmp(?:\.wal)?$")
    _remove(tmp)
    try:
        from medbench.config import apply_duckdb_settings

        con = duckdb.connect(str(tmp))
        try:
            con.execute("SET preserve_insertion_order = true")
            apply_duckdb_settings(con, scratch=True)  # spills beyond it (issue 12)
            for p in sorted(Path(db_dir).glob("*.parquet")):
                con.execute(f"CREATE TABLE {_q(p.stem)} AS SELECT * FROM read_parquet({_lit(p)})")
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # nobody writes to gold's DB
        # The file's own sha256 beside it: a damaged copy is found (and rebuilt) before use.
        from medbench.io import atomic_write_text, sweep_atomic_temps

        sweep_atomic_temps(_hash_path(dest))
        atomic_write_text(_hash_path(dest), sha256_file(tmp) + "\n")
        os.replace(tmp, dest)
        _VERIFIED[str(dest)] = _stat_key(dest)
    except BaseException:
        _remove(tmp)
        raise
    return dest


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


_VERIFIED: dict[str, tuple] = {}  # materialised DB path -> (size, mtime_ns, inode) checked in this process


def _hash_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _verified(dest: Path) -> bool:
    """Whether the materialised DB matches the sha256 stored beside it (checked once per process
    while its size, mtime and inode stay the same)."""
    try:
        key = _stat_key(dest)
        if _VERIFIED.get(str(dest)) == key:
            return True
        ok = _hash_path(dest).read_text().strip() == sha256_file(dest)
    except (OSError, ValueError):
        return False
    if ok:
        _VERIFIED[str(dest)] = key
    return ok


def _drop_damaged(dest: Path) -> None:
    import warnings

    warnings.warn(f"{dest}: the scoring database does not match its stored sha256; rebuilding it",
                  stacklevel=3)
    _VERIFIED.pop(str(dest), None)
    _remove(dest)


def open_release_db(release: Any) -> Path:
    """Path of a read-only DuckDB database holding a release's SQL tables.

    `release`: a release folder or a `medbench.release.Release`. An EHRSQL import ships its own
    `sql/database.sqlite` (returned as is). Otherwise the Parquet tables are checked against the
    manifest and materialised once under `$MEDBENCH_HOME/sql-db/<manifest sha256>.duckdb`; later
    calls reuse it. Open it with `duckdb.connect(str(path), read_only=True)`.
    """
    from medbench.release import Release, open_release

    rel = release if isinstance(release, Release) else open_release(release)
    sql_dir = rel.task_dir("sql")
    for name in ("database.sqlite", "database.duckdb"):
        if (sql_dir / name).is_file():  # checked against the manifest: a damaged copy is refused
            from medbench.tasks.sql.cache import verified_release_file

            return verified_release_file(rel, sql_dir / name)
    db_dir = sql_dir / DB_DIR
    files = {rel_: digest for rel_, digest in rel.manifest.get("files", {}).items()
             if rel_.startswith(f"sql/{DB_DIR}/") and rel_.endswith(".parquet")}
    if not files:
        raise UserError(f"release {rel.path} has no SQL database (no sql/{DB_DIR}/*.parquet)")
    dest = config.medbench_home() / "sql-db" / f"{rel.sha256}.duckdb"
    if dest.is_file() and _verified(dest):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.with_name(f".{dest.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if dest.is_file():  # another process built it while we waited, or it is damaged
                if _verified(dest):
                    return dest
                _drop_damaged(dest)
            for rel_, digest in sorted(files.items()):
                p = rel.path / rel_
                if not p.is_file() or sha256_file(p) != digest:
                    raise UserError(f"release {rel.path}: {rel_} is missing or does not match its "
                                    "manifest sha256")
            return materialise_db(db_dir, dest)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# Spider tables.json ------------------------------------------------------------------------------

def _spider_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith(("TIMESTAMP", "DATE", "TIME")):
        return "time"
    if t.startswith(("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "DOUBLE", "FLOAT",
                     "DECIMAL", "REAL", "UBIGINT", "UINTEGER")):
        return "number"
    if t == "BOOLEAN":
        return "boolean"
    return "text"


def spider_tables(con: duckdb.DuckDBPyConnection, db_id: str = DB_ID) -> dict:
    """The database's schema in Spider's `tables.json` format (one database object)."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position").fetchall()
    tables: list[str] = []
    columns: list[tuple[int, str, str]] = []
    for table, column, dtype in rows:
        if not tables or tables[-1] != table:
            tables.append(table)
        columns.append((len(tables) - 1, column, dtype))
    index = {(tables[t], c): i + 1 for i, (t, c, _) in enumerate(columns)}  # 0 is '*'
    primary = [index[(t, c)] for t in tables for c in PRIMARY_KEYS.get(t, ()) if (t, c) in index]
    foreign = []
    for i, (t_idx, col, _) in enumerate(columns, start=1):
        t = tables[t_idx]
        ref = TABLE_FOREIGN_KEYS.get(t, {}).get(col) or FOREIGN_KEYS.get(col)
        if ref and ref[0] != t and ref in index:
            foreign.append([i, index[ref]])
    return {
        "db_id": db_id,
        "table_names_original": tables,
        "table_names": [t.replace("_", " ") for t in tables],
        "column_names_original": [[-1, "*"]] + [[t, c] for t, c, _ in columns],
        "column_names": [[-1, "*"]] + [[t, c.replace("_", " ")] for t, c, _ in columns],
        "column_types": ["text"] + [_spider_type(d) for _, _, d in columns],
        "primary_keys": primary,
        "foreign_keys": foreign,
    }


def tables_json_bytes(con: duckdb.DuckDBPyConnection, db_id: str = DB_ID) -> bytes:
    """`tables.json` as Spider ships it (a list holding one database), deterministic bytes."""
    return (canonical_json([spider_tables(con, db_id)], indent=1) + "\n").encode("utf-8")

