"""Cohorts: the top-N patients by admission count (ties by subject_id ascending)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from medbench.errors import UserError
from medbench.io import atomic_write_text
from medbench.store import Store

COHORT_COLUMNS = ("subject_id", "admission_count", "first_admittime", "last_dischtime",
                  "discharge_note_count")


def build_cohort(store: Store, limit: int) -> list[dict]:
    if limit < 1:
        raise UserError(f"--limit must be at least 1 (got {limit})")
    notes = (
        "(SELECT count(*) FROM discharge d WHERE d.subject_id = a.subject_id)"
        if store.has("discharge") else "0"
    )
    sql = f"""
        SELECT a.subject_id, count(*) AS admission_count,
               min(a.admittime) AS first_admittime, max(a.dischtime) AS last_dischtime,
               {notes} AS discharge_note_count
        FROM admissions a
        GROUP BY a.subject_id
        ORDER BY admission_count DESC, a.subject_id ASC
        LIMIT {int(limit)}
    """
    con = store.connect()
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.close()
    return [dict(zip(COHORT_COLUMNS, r, strict=True)) for r in rows]


def cohort_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COHORT_COLUMNS)
    for r in rows:
        w.writerow([_fmt(r[c]) for c in COHORT_COLUMNS])
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None:
        return ""
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v)


def write_cohort(rows: list[dict], out: Path) -> None:
    atomic_write_text(out, cohort_csv(rows))


def read_cohort(path: str | Path) -> list[int]:
    """subject_ids of a cohort CSV (any CSV with a subject_id column), in file order."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "subject_id" not in reader.fieldnames:
                raise UserError(f"{path}: no subject_id column in the header")
            ids = []
            for lineno, row in enumerate(reader, start=2):
                try:
                    ids.append(int(row["subject_id"]))
                except (TypeError, ValueError):
                    raise UserError(f"{path}:{lineno}: subject_id {row['subject_id']!r} is not an integer") from None
    except OSError as e:
        raise UserError(f"cannot read cohort {path}: {e.strerror}") from e
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    return ids
