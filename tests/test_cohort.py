"""`medbench build-cohort`: top-N patients by admission count on the real demo."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, assert_one_line_error, run_cli

from medbench.extract.cohort import COHORT_COLUMNS

# From the issue: the demo's top five, in order.
TOP5 = [(10014354, 20), (10015860, 13), (10002930, 12), (10037928, 10), (10039708, 10)]

pytestmark = pytest.mark.filterwarnings("ignore:optional table")


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _raw_admissions(demo_dir: Path) -> list[dict]:
    with gzip.open(demo_dir / "hosp" / "admissions.csv.gz", "rt", newline="") as f:
        return list(csv.DictReader(f))


def _cohort(demo_dir, demo_store, *args, cwd=None):
    # --db names the session's demo store, so each run reuses it instead of re-ingesting.
    return run_cli("build-cohort", "--mimic-dir", str(demo_dir), "--db", str(demo_store.path),
                   *args, cwd=cwd)


def test_demo_top5_in_order_with_columns(demo_dir, demo_store, tmp_path):
    out = tmp_path / "top5.csv"
    proc = _cohort(demo_dir, demo_store, "--limit", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    with open(out, newline="") as f:
        assert next(csv.reader(f)) == list(COHORT_COLUMNS)
    rows = _read(out)
    assert [(int(r["subject_id"]), int(r["admission_count"])) for r in rows] == TOP5
    # Times agree with the raw CSV (computed here independently of DuckDB).
    raw = _raw_admissions(demo_dir)
    for r in rows:
        mine = [a for a in raw if a["subject_id"] == r["subject_id"]]
        assert r["first_admittime"] == min(a["admittime"] for a in mine)
        assert r["last_dischtime"] == max(a["dischtime"] for a in mine)
        assert r["discharge_note_count"] == "0"  # the demo has no notes


def test_default_output_is_relative_to_cwd_and_covers_every_patient(demo_dir, demo_store, tmp_path):
    proc = _cohort(demo_dir, demo_store, cwd=tmp_path)  # default --limit 1000
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "cohorts" / "top1000_by_admission_count.csv"
    assert out.is_file()
    assert not (REPO / "cohorts" / "top1000_by_admission_count.csv").exists()
    rows = _read(out)
    counts = Counter(int(a["subject_id"]) for a in _raw_admissions(demo_dir))
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))  # ties: subject_id asc
    assert [(int(r["subject_id"]), int(r["admission_count"])) for r in rows] == expected
    # Deterministic: a second run gives the same bytes.
    first = out.read_bytes()
    assert _cohort(demo_dir, demo_store, cwd=tmp_path).returncode == 0
    assert out.read_bytes() == first


def test_limit_zero_is_one_line_and_leaves_output_untouched(demo_dir, demo_store, tmp_path):
    out = tmp_path / "cohort.csv"
    out.write_text("keep me\n")
    proc = _cohort(demo_dir, demo_store, "--limit", "0", "--out", str(out))
    assert_one_line_error(proc, "--limit")
    assert out.read_text() == "keep me\n"


def test_failed_ingest_leaves_existing_output_untouched(tmp_path):
    out = tmp_path / "cohort.csv"
    out.write_text("keep me\n")
    proc = run_cli("build-cohort", "--mimic-dir", str(tmp_path / "absent"), "--limit", "5",
                   "--out", str(out))
    assert_one_line_error(proc, str(tmp_path / "absent"))
    assert out.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.csv"]


def test_discharge_note_count_comes_from_notes(demo_dir, tmp_path):
    """A layout with note/discharge: the count column reflects each patient's notes."""
    root = tmp_path / "mimic"
    (root / "hosp").mkdir(parents=True)
    for name in ("patients", "admissions", "diagnoses_icd", "d_icd_diagnoses", "labevents",
                 "d_labitems", "prescriptions"):
        (root / "hosp" / f"{name}.csv.gz").symlink_to(demo_dir / "hosp" / f"{name}.csv.gz")
    (root / "note").mkdir()
    header = "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n"
    notes = [f"{TOP5[1][0]}-DS-{i},{TOP5[1][0]},,DS,{i},2190-01-01 00:00:00,,\"note {i}\"\n"
             for i in range(3)]
    (root / "note" / "discharge.csv").write_text(header + "".join(notes))
    out = tmp_path / "c.csv"
    proc = run_cli("build-cohort", "--mimic-dir", str(root), "--limit", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [(int(r["subject_id"]), int(r["discharge_note_count"])) for r in _read(out)] == [
        (TOP5[0][0], 0), (TOP5[1][0], 3)]


def test_unwritable_output_is_one_line(demo_dir, demo_store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder\n")
    proc = _cohort(demo_dir, demo_store, "--limit", "5", "--out", str(blocker / "c.csv"))
    assert_one_line_error(proc, str(blocker))
    assert blocker.read_text() == "a file, not a folder\n"
