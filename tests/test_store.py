"""The store: demo ingest (counts, types), reuse/rebuild, input formats, ED, bad input."""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
from pathlib import Path

import duckdb
import pytest
from conftest import ED_DEMO_DIR, assert_one_line_error, run_cli

from medbench.io import sha256_file
from medbench.store import ingest
from medbench.store.tables import REQUIRED_TABLES, TABLES

ROWS_PER_TABLE = 25

# The small layouts hold only the required tables; the optional-table warnings are expected.
pytestmark = pytest.mark.filterwarnings("ignore:optional table")


def _readme_counts(readme: Path) -> dict[str, int]:
    """`module/name` -> rows, from the data README's table (counted there with a CSV parser)."""
    counts = {}
    for m in re.finditer(r"^\| `(\w+)/(\w+)\.csv\.gz` \| ([\d,]+) \|", readme.read_text(), re.MULTILINE):
        counts[f"{m.group(1)}/{m.group(2)}"] = int(m.group(3).replace(",", ""))
    return counts


def _first_records(path: Path, n: int) -> list[list[str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        return [row for _, row in zip(range(n + 1), reader)]


def _write_csv_gz(path: Path, records: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(records)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue().encode())


@pytest.fixture
def small_layout(tmp_path, demo_dir) -> Path:
    """The required tables only, each the demo's header plus its first rows, as .csv.gz."""
    root = tmp_path / "mimic"
    for spec in REQUIRED_TABLES:
        _write_csv_gz(root / spec.module / f"{spec.name}.csv.gz",
                      _first_records(demo_dir / spec.module / f"{spec.name}.csv.gz", ROWS_PER_TABLE))
    return root


def _column_types(db: Path, table: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0]: r[1] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    finally:
        con.close()


def _dir_state(path: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file()}


# --- the real demo -----------------------------------------------------------------------------

def test_demo_tables_and_row_counts_match_the_readme(demo_store, demo_dir):
    expected = _readme_counts(demo_dir / "README.md")
    assert expected["hosp/admissions"] == 275 and expected["hosp/labevents"] == 107_727
    known = {f"{t.module}/{t.name}": t.name for t in TABLES}
    checked = 0
    for relpath, rows in expected.items():
        if relpath in known and (demo_dir / f"{relpath}.csv.gz").exists():
            assert demo_store.tables[known[relpath]] == rows, relpath
            checked += 1
    assert checked >= 20
    assert "chartevents" not in demo_store.tables  # absent from the shared copy
    assert demo_store.seconds < 60  # "takes seconds"


def test_demo_types_timestamps_and_integer_ids(demo_store):
    adm = _column_types(demo_store.path, "admissions")
    assert adm["subject_id"] == "BIGINT" and adm["hadm_id"] == "BIGINT"
    assert adm["admittime"] == "TIMESTAMP" and adm["dischtime"] == "TIMESTAMP"
    lab = _column_types(demo_store.path, "labevents")
    assert lab["itemid"] == "BIGINT" and lab["charttime"] == "TIMESTAMP"
    assert lab["valuenum"] == "DOUBLE"
    assert _column_types(demo_store.path, "diagnoses_icd")["icd_code"] == "VARCHAR"
    con = demo_store.connect()
    try:
        # ICD codes keep their text form (leading zeros and letters are meaningful).
        assert con.execute("SELECT count(*) FROM d_icd_diagnoses WHERE icd_code LIKE '0%'").fetchone()[0] > 0
        assert con.execute("SELECT min(admittime) < max(admittime) FROM admissions").fetchone()[0]
    finally:
        con.close()


# --- reuse and rebuild -------------------------------------------------------------------------

def test_store_is_reused_while_unchanged_and_rebuilt_when_the_source_changes(small_layout, tmp_path):
    db = tmp_path / "store.duckdb"
    first = ingest(small_layout, db, show_progress=False)
    assert first.ingested and first.tables["admissions"] == ROWS_PER_TABLE
    second = ingest(small_layout, db, show_progress=False)
    assert not second.ingested
    assert second.fingerprint == first.fingerprint and second.tables == first.tables

    adm = small_layout / "hosp" / "admissions.csv.gz"
    records = _first_records(adm, ROWS_PER_TABLE)
    _write_csv_gz(adm, records + [records[-1]])  # one more row
    third = ingest(small_layout, db, show_progress=False)
    assert third.ingested and third.fingerprint != first.fingerprint
    assert third.tables["admissions"] == ROWS_PER_TABLE + 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- input formats -----------------------------------------------------------------------------

def _table_rows(db: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
    finally:
        con.close()


def test_plain_csv_and_parquet_inputs_give_the_same_store(small_layout, tmp_path):
    ref = ingest(small_layout, tmp_path / "gz.duckdb", show_progress=False)
    plain, parq = tmp_path / "plain", tmp_path / "parquet"
    con = duckdb.connect(str(ref.path), read_only=True)
    try:
        for spec in REQUIRED_TABLES:
            src = small_layout / spec.module / f"{spec.name}.csv.gz"
            for root in (plain, parq):
                (root / spec.module).mkdir(parents=True, exist_ok=True)
            (plain / spec.module / f"{spec.name}.csv").write_bytes(gzip.decompress(src.read_bytes()))
            # A typed parquet file, as a user converting MIMIC with DuckDB/pandas would have.
            con.execute(f"COPY \"{spec.name}\" TO '{parq / spec.module / (spec.name + '.parquet')}' "
                        "(FORMAT parquet)")
    finally:
        con.close()
    for root in (plain, parq):
        store = ingest(root, tmp_path / f"{root.name}.duckdb", show_progress=False)
        assert store.tables == ref.tables, root.name
        for spec in REQUIRED_TABLES:
            assert _column_types(store.path, spec.name) == _column_types(ref.path, spec.name)
            assert _table_rows(store.path, spec.name) == _table_rows(ref.path, spec.name)


def test_ed_module_becomes_ed_prefixed_tables(small_layout, tmp_path):
    if not ED_DEMO_DIR.is_dir():
        pytest.skip(f"shared data not available: {ED_DEMO_DIR} is absent")
    (small_layout / "ed").symlink_to(ED_DEMO_DIR / "ed")
    store = ingest(small_layout, tmp_path / "ed.duckdb", show_progress=False)
    expected = _readme_counts(ED_DEMO_DIR / "README.md")
    assert expected
    for relpath, rows in expected.items():
        assert store.tables[f"ed_{relpath.split('/')[1]}"] == rows, relpath
    assert "diagnosis" not in store.tables and "edstays" not in store.tables
    assert _column_types(store.path, "ed_edstays")["intime"] == "TIMESTAMP"


# --- bad input: exit 2, one line, existing database untouched ----------------------------------

@pytest.fixture
def built(small_layout, tmp_path):
    """A good store at tmp/db/store.duckdb built from small_layout; returns (layout, db)."""
    db = tmp_path / "db" / "store.duckdb"
    ingest(small_layout, db, show_progress=False)
    return small_layout, db


def _ingest_fails_leaving_db_untouched(layout: Path, db: Path, *needles: str) -> None:
    before = _dir_state(db.parent)
    proc = run_cli("ingest", "--mimic-dir", str(layout), "--db", str(db))
    assert_one_line_error(proc, *needles)
    assert _dir_state(db.parent) == before  # same bytes, no temp files left behind


def test_missing_required_tables_are_each_named(built):
    layout, db = built
    (layout / "hosp" / "labevents.csv.gz").unlink()
    (layout / "hosp" / "d_labitems.csv.gz").unlink()
    _ingest_fails_leaving_db_untouched(layout, db, "missing required tables", "hosp/labevents",
                                       "hosp/d_labitems")


def test_garbage_gzip_names_the_file(built):
    layout, db = built
    bad = layout / "hosp" / "admissions.csv.gz"
    bad.write_bytes(b"this is not gzip data at all\n" * 10)
    _ingest_fails_leaving_db_untouched(layout, db, str(bad))


def test_truncated_gzip_names_the_file(built, demo_dir):
    layout, db = built
    bad = layout / "hosp" / "labevents.csv.gz"
    # A larger file cut short: the header decompresses, the body does not.
    data = (demo_dir / "hosp" / "labevents.csv.gz").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    _ingest_fails_leaving_db_untouched(layout, db, str(bad))


def test_missing_column_names_file_and_column(built):
    layout, db = built
    path = layout / "hosp" / "admissions.csv.gz"
    records = _first_records(path, ROWS_PER_TABLE)
    drop = records[0].index("admittime")
    _write_csv_gz(path, [r[:drop] + r[drop + 1:] for r in records])
    _ingest_fails_leaving_db_untouched(layout, db, str(path), "admittime")


def test_unreadable_file_names_it(built):
    layout, db = built
    path = layout / "hosp" / "patients.csv.gz"
    if os.geteuid() == 0 and Path("/proc/self/mem").is_file():
        # root reads mode-000 files; /proc/self/mem is a regular file whose read fails (EIO).
        path.unlink()
        path.symlink_to("/proc/self/mem")
    else:
        path.chmod(0)
    try:
        _ingest_fails_leaving_db_untouched(layout, db, str(path))
    finally:
        if not path.is_symlink():
            path.chmod(0o644)


def test_non_text_csv_names_the_file(built):
    layout, db = built
    (layout / "hosp" / "patients.csv.gz").unlink()
    path = layout / "hosp" / "patients.csv"
    path.write_bytes(b"\xff\xfe\x00\x81 binary \x00\x9f" * 50)
    _ingest_fails_leaving_db_untouched(layout, db, str(path))


def test_bad_value_in_a_typed_column_names_the_file(built):
    layout, db = built
    path = layout / "hosp" / "admissions.csv.gz"
    records = _first_records(path, ROWS_PER_TABLE)
    records[3][records[0].index("admittime")] = "not a time"
    _write_csv_gz(path, records)
    _ingest_fails_leaving_db_untouched(layout, db, str(path))


def test_nonexistent_dir(tmp_path):
    missing = tmp_path / "nope"
    proc = run_cli("ingest", "--mimic-dir", str(missing), "--db", str(tmp_path / "x.duckdb"))
    assert_one_line_error(proc, "not found", str(missing))
    assert not (tmp_path / "x.duckdb").exists()


def test_failed_first_ingest_leaves_no_database(small_layout, tmp_path):
    (small_layout / "hosp" / "patients.csv.gz").write_bytes(b"\x1f\x8b broken")
    db = tmp_path / "fresh" / "store.duckdb"
    proc = run_cli("ingest", "--mimic-dir", str(small_layout), "--db", str(db))
    assert_one_line_error(proc, "patients.csv.gz")
    leftovers = [p.name for p in db.parent.iterdir()] if db.parent.exists() else []
    assert [n for n in leftovers if not n.endswith(".lock")] == []


def test_cli_ingest_reports_reuse(small_layout, tmp_path):
    db = tmp_path / "s.duckdb"
    first = run_cli("ingest", "--mimic-dir", str(small_layout), "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert "ingested in" in first.stderr
    second = run_cli("ingest", "--mimic-dir", str(small_layout), "--db", str(db))
    assert second.returncode == 0, second.stderr
    assert "up to date (reused)" in second.stderr
    assert os.path.getsize(db) > 0


def test_ingest_modules_subset_is_reused_and_sorted(demo_dir, tmp_path):
    """`--modules hosp` keeps only hosp tables; a later open without --modules reuses that store
    (no re-ingest); hadm_id-keyed tables are stored sorted by hadm_id; bad lists are one-line errors."""
    import duckdb

    from medbench.store import ingest as do_ingest
    from medbench.errors import UserError
    from medbench.store.ingest import parse_modules

    db = tmp_path / "s.duckdb"
    s1 = do_ingest(demo_dir, db, show_progress=False, modules="hosp")
    assert s1.ingested and s1.has("labevents") and not s1.has("icustays")
    s2 = do_ingest(demo_dir, db, show_progress=False)
    assert not s2.ingested and s2.fingerprint == s1.fingerprint and not s2.has("icustays")
    con = duckdb.connect(str(db), read_only=True)
    h = [r[0] for r in con.execute("SELECT hadm_id FROM labevents").fetchall()]
    con.close()
    assert h == sorted(h, key=lambda x: (x is None, x or 0))
    for bad, msg in (("hosp,xyz", "unknown module 'xyz'"), ("icu", "hosp is required")):
        with pytest.raises(UserError, match=msg):
            parse_modules(bad)
