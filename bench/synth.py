"""Benchmark: generate a synthetic MIMIC-IV, then ingest it into DuckDB.

    python bench/synth.py [--patients 10000] [--seed 0] [--workers N] [--keep DIR]

Prints wall time and peak memory (ru_maxrss of this process and of its worker processes) for
generation, then the ingest time and database size. Times on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medbench.store import ingest
from medbench.store.synth import generate
from medbench.store.synth.generator import default_workers


def _maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help=f"default {default_workers()}")
    ap.add_argument("--keep", type=Path, default=None, help="write the dataset here and keep it")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="medbench-bench-synth-") as tmp:
        out = args.keep or Path(tmp) / "mimic"
        t0 = time.perf_counter()
        summary = generate(out, patients=args.patients, seed=args.seed, workers=args.workers)
        gen_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        rss_main = _maxrss_mib(resource.RUSAGE_SELF)
        rss_children = _maxrss_mib(resource.RUSAGE_CHILDREN)

        db = Path(tmp) / "synth.duckdb"
        t1 = time.perf_counter()
        store = ingest(out, db, force=True)
        ingest_s = time.perf_counter() - t1
        rows = summary["rows"]
        adm = rows["hosp/admissions"]
        report = {
            "patients": args.patients,
            "workers": args.workers or default_workers(),
            "cpu_count": os.cpu_count(),
            "generate_seconds": round(gen_s, 1),
            "generate_peak_rss_mib_main": round(rss_main, 1),
            "generate_peak_rss_mib_largest_worker": round(rss_children, 1),
            "dataset_mib": round(size / 2**20, 1),
            "total_rows": sum(rows.values()),
            "per_admission": {t: round(rows[t] / adm, 2) for t in (
                "hosp/labevents", "hosp/prescriptions", "hosp/emar", "hosp/diagnoses_icd",
                "note/discharge", "note/radiology", "icu/chartevents")},
            "admissions_per_patient": round(adm / args.patients, 2),
            "ingest_seconds": round(ingest_s, 1),
            "database_mib": round(db.stat().st_size / 2**20, 1),
            "tables": len(store.tables),
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
