"""A small MIMIC-shaped copy with notes and chartevents: the demo's hosp/icu files (symlinked)
plus hand-written note/discharge, note/radiology and icu/chartevents rows for one patient, so the
discharge-note path, unlinked radiology and vital-sign summaries have known answers."""

from __future__ import annotations

import csv
from pathlib import Path

from medbench.store.tables import TABLES_BY_NAME

SUBJECT = 10014354
NOTED = 22741225  # admitted 2146-10-08 23:47, discharged 2146-10-12 18:20
OTHER = 26722126  # admitted 2146-11-09 01:53 (no discharge note)
CHIEF = "Left-sided weakness"


def _write(path: Path, table: str, rows: list[dict]) -> None:
    cols = TABLES_BY_NAME[table].columns
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in cols])


def make_notes_dataset(demo_dir: Path, out: Path) -> Path:
    for module in ("hosp", "icu"):
        (out / module).mkdir(parents=True, exist_ok=True)
        for f in (demo_dir / module).iterdir():
            (out / module / f.name).symlink_to(f)
    note = {"subject_id": SUBJECT, "note_seq": 1, "storetime": None}
    _write(out / "note" / "discharge.csv", "discharge", [
        {**note, "note_id": f"{SUBJECT}-DS-1", "hadm_id": NOTED, "note_type": "DS",
         "charttime": "2146-10-12 00:00:00",
         "text": f"Name: ___\n\nChief Complaint:\n{CHIEF}\n\nDischarge Diagnosis:\nStroke\n"}])
    _write(out / "note" / "radiology.csv", "radiology", [
        {**note, "note_id": f"{SUBJECT}-RR-1", "hadm_id": NOTED, "note_type": "RR",
         "charttime": "2146-10-09 10:00:00", "text": "CT HEAD\n\nIMPRESSION: No acute hemorrhage.\n"},
        {**note, "note_id": f"{SUBJECT}-RR-2", "hadm_id": None, "note_type": "RR", "note_seq": 2,
         "charttime": "2146-10-10 12:00:00", "text": "CHEST X-RAY\n\nIMPRESSION: Clear lungs.\n"},
        {**note, "note_id": f"{SUBJECT}-RR-3", "hadm_id": None, "note_type": "RR", "note_seq": 3,
         "charttime": "2146-10-20 12:00:00", "text": "Outside every admission window.\n"}])
    ce = {"subject_id": SUBJECT, "hadm_id": NOTED, "stay_id": 1, "valueuom": "bpm"}
    _write(out / "icu" / "chartevents.csv", "chartevents", [
        {**ce, "itemid": 220045, "charttime": "2146-10-09 02:00:00", "value": "90", "valuenum": 90},
        {**ce, "itemid": 220045, "charttime": "2146-10-09 01:00:00", "value": "110", "valuenum": 110},
        {**ce, "itemid": 220045, "charttime": "2146-10-10 01:00:00", "value": "70", "valuenum": 70},
        {**ce, "itemid": 999999, "charttime": "2146-10-10 01:00:00", "value": "1", "valuenum": 1}])
    return out
