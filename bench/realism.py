"""Benchmark: how much the synthetic MIMIC-IV looks like the real demo (issue 11).

    python bench/realism.py [--demo ../shared/data/mimic-iv-demo-2.2] [--seed 0]

Ingests the MIMIC-IV demo and a synthetic dataset with the same number of patients, then prints,
side by side, the distinct counts of the vocabularies (diagnosis codes, procedure codes, drugs,
lab items), the per-admission distributions (mean, median, p90) of diagnoses, procedures,
prescriptions and lab events, admissions per patient, and the synthetic/demo ratio of each. Also
prints wall time, load average and peak RSS. A quality report, not a speed benchmark.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medbench.store import ingest
from medbench.store.synth import generate

DEMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mimic-iv-demo-2.2"

DISTINCT = {
    "diagnosis codes": "SELECT count(DISTINCT (icd_code, icd_version)) FROM diagnoses_icd",
    "procedure codes": "SELECT count(DISTINCT (icd_code, icd_version)) FROM procedures_icd",
    "drugs": "SELECT count(DISTINCT drug) FROM prescriptions",
    "lab items": "SELECT count(DISTINCT itemid) FROM labevents",
}
#: per-admission counts: (name, table, key) — admissions without a row count as 0
PER_ADMISSION = (("diagnoses", "diagnoses_icd"), ("procedures", "procedures_icd"),
                 ("prescriptions", "prescriptions"), ("lab events", "labevents"))


def _dist(con, sql: str) -> tuple[float, float, float]:
    return con.execute(f"SELECT avg(n), median(n), quantile_cont(n, 0.9) FROM ({sql})").fetchone()


def stats(store) -> dict[str, object]:
    con = store.connect()
    try:
        out: dict[str, object] = {name: con.execute(sql).fetchone()[0] for name, sql in DISTINCT.items()}
        out["codes seen once (share of distinct dx codes)"] = con.execute(
            "SELECT avg(CASE WHEN n = 1 THEN 1.0 ELSE 0 END) FROM (SELECT count(*) AS n FROM diagnoses_icd "
            "GROUP BY icd_code, icd_version)").fetchone()[0]
        for name, table in PER_ADMISSION:
            out[f"{name} / admission"] = _dist(con, f"""SELECT count(t.hadm_id) AS n FROM admissions a
                LEFT JOIN {table} t ON t.hadm_id = a.hadm_id GROUP BY a.hadm_id""")
        out["admissions / patient"] = _dist(con, "SELECT count(*) AS n FROM admissions GROUP BY subject_id")
        out["patients"] = con.execute("SELECT count(*) FROM patients").fetchone()[0]
    finally:
        con.close()
    return out


def _fmt(v) -> str:
    if isinstance(v, tuple):
        return " / ".join(f"{x:.3g}" for x in v)
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def _ratio(s, d) -> str:
    if isinstance(s, tuple):
        return " / ".join(f"{a / b:.2f}" if b else "-" for a, b in zip(s, d))
    return f"{s / d:.2f}" if d else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=DEMO)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="medbench-bench-realism-") as tmp:
        demo = stats(ingest(args.demo, Path(tmp) / "demo.duckdb", show_progress=False))
        generate(Path(tmp) / "synth", patients=int(demo["patients"]), seed=args.seed, show_progress=False)
        synth = stats(ingest(Path(tmp) / "synth", Path(tmp) / "synth.duckdb", show_progress=False))
    wall = time.perf_counter() - t0
    print(f"| measure ({demo['patients']} patients each; distributions: mean / median / p90) "
          "| demo | synthetic | synthetic / demo |")
    print("|---|---:|---:|---:|")
    for key in demo:
        if key == "patients":
            continue
        print(f"| {key} | {_fmt(demo[key])} | {_fmt(synth[key])} | {_ratio(synth[key], demo[key])} |")
    rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"\nwall {wall:.1f} s, peak RSS {rss:.0f} MiB, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
