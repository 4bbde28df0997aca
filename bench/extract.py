"""Packet extraction benchmark: bulk vs one-admission-at-a-time vs a bare scan of the tables read.

    python bench/extract.py [--patients 2000] [--seed 0] [--sample 150] [--json OUT.json]

Builds (once, cached under $MEDBENCH_HOME/bench/) a synthetic MIMIC-IV of N patients and its
DuckDB store, then runs each mode in its own subprocess so each one's peak memory (VmHWM of that
process) is its own:
- scan:   every table packets read, read once in full (sum of hash over all columns);
- bulk:   `iter_packets` over every admission (one DuckDB statement per batch assembles every
          packet's JSON text) + packet bytes;
- python: the Python/pydantic reference assembly (`iter_packet_models` + `packet_json`, the bulk
          path before issue 12) over every admission;
- write:  `write_packets` (bulk, streamed to disk with a manifest) — the `extract-packets` path;
- single: `extract_packet` per admission on an evenly spaced sample of admissions, extrapolated
          per admission to all of them (the full one-at-a-time run would take too long);
  the sample's bytes are checked against the bulk path's.
Modes run interleaved (scan bulk python single, scan bulk python single, ... `--repeat` rounds)
and each ratio is reported from the min and the median CPU time. Exits 1 (after printing every
number) when bulk is under 100x one-at-a-time or over 15x a bare scan (CPU, min), or the bytes
differ.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TABLES_READ = ("admissions", "patients", "transfers", "services", "icustays", "diagnoses_icd",
               "d_icd_diagnoses", "procedures_icd", "d_icd_procedures", "drgcodes", "labevents",
               "d_labitems", "microbiologyevents", "prescriptions", "pharmacy", "emar", "emar_detail",
               "chartevents", "omr", "discharge", "radiology")


MIN_SPEEDUP = 100.0  # issue 12: bulk at least 100x one admission at a time (CPU)
MAX_VS_SCAN = 15.0  # issue 12: bulk at most 15x a bare scan of the tables read (CPU)


def _store(patients: int, seed: int):
    from medbench import config
    from medbench.store import ingest
    from medbench.store.synth import generate

    base = config.medbench_home() / "bench" / f"synth-p{patients}-s{seed}"
    src = base / "mimic"
    if not (src / "SHA256SUMS.txt").exists():
        generate(src, patients=patients, seed=seed, show_progress=False)
    return ingest(src, base / "store.duckdb", show_progress=False)


def _cpu() -> float:
    """User + system CPU seconds of this process (all DuckDB threads): steadier than wall time
    on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _maxrss_mb() -> float:
    """Peak RSS of this (mode) process itself: VmHWM from /proc/self/status (ru_maxrss where there
    is no /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _mode(mode: str, patients: int, seed: int, sample: int) -> dict:
    from medbench.extract.packet import (
        admissions_of,
        extract_packet,
        iter_packet_models,
        iter_packets,
        packet_json,
        write_packets,
    )

    store = _store(patients, seed)
    ids = [a[1] for a in admissions_of(store)]
    rss0 = _maxrss_mb()
    t0 = time.perf_counter()
    c0 = _cpu()
    out: dict = {"mode": mode, "admissions": len(ids)}
    if mode == "scan":
        con = store.connect()
        rows = 0
        for t in TABLES_READ:
            if store.has(t):
                rows += con.execute(f'SELECT count(*), sum(hash(COLUMNS(*))) FROM "{t}"').fetchone()[0]
        con.close()
        out["rows"] = rows
    elif mode == "bulk":
        n_bytes = 0
        for p in iter_packets(store, ids):
            n_bytes += len(packet_json(p))
        out["packet_bytes"] = n_bytes
        out["bulk_seconds"] = time.perf_counter() - t0  # before the sample below is re-extracted
        out["bulk_cpu"] = _cpu() - c0
        picked = ids[:: max(1, len(ids) // sample)][:sample]
        out["sample_ids"] = picked
        out["sample_sha"] = {str(p.hadm_id): hashlib.sha256(packet_json(p).encode()).hexdigest()
                             for p in iter_packets(store, picked)}
    elif mode == "python":
        n_bytes = 0
        for p in iter_packet_models(store, ids):
            n_bytes += len(packet_json(p))
        out["packet_bytes"] = n_bytes
    elif mode == "write":
        with tempfile.TemporaryDirectory() as d:
            write_packets(store, ids, Path(d) / "packets", show_progress=False)
    elif mode == "single":
        picked = ids[:: max(1, len(ids) // sample)][:sample]
        shas = {}
        for h in picked:
            shas[str(h)] = hashlib.sha256(packet_json(extract_packet(store, h)).encode()).hexdigest()
        out["sample"] = len(picked)
        out["sample_sha"] = shas
    secs, cpu = time.perf_counter() - t0, _cpu() - c0
    if mode == "bulk":
        secs, cpu = out.pop("bulk_seconds"), out.pop("bulk_cpu")
    out["seconds"], out["cpu_seconds"] = secs, cpu
    out["peak_rss_mb"] = _maxrss_mb()
    out["rss_before_mb"] = rss0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample", type=int, default=150, help="admissions timed one at a time")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved rounds of every mode")
    ap.add_argument("--write", action="store_true", help="also time write_packets (extract-packets)")
    ap.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # internal: run one mode
    a = ap.parse_args()
    if a.mode:
        print(json.dumps(_mode(a.mode, a.patients, a.seed, a.sample)))
        return

    os.environ.setdefault("MEDBENCH_NO_PROGRESS", "1")
    t = time.perf_counter()
    store = _store(a.patients, a.seed)
    print(f"dataset: {a.patients} synthetic patients, store ready in {time.perf_counter() - t:.1f}s "
          f"({sum(store.tables.values()):,} rows)", file=sys.stderr)
    import statistics

    load_start = os.getloadavg()
    print(f"load average at start: {load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}",
          file=sys.stderr)
    runs: dict[str, list[dict]] = {}
    modes = ("scan", "bulk", "python", "single") + (("write",) if a.write else ())
    for rnd in range(a.repeat):
        for mode in modes:
            proc = subprocess.run([sys.executable, __file__, "--mode", mode, "--patients", str(a.patients),
                                   "--seed", str(a.seed), "--sample", str(a.sample)],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.exit(f"mode {mode} failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.setdefault(mode, []).append(r)
            print(f"  round {rnd + 1} {mode}: {r['seconds']:.2f}s wall, {r['cpu_seconds']:.2f}s CPU, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
    res = {m: rs[0] for m, rs in runs.items()}
    n = res["bulk"]["admissions"]

    def cpu(mode: str, how) -> float:
        vals = [r["cpu_seconds"] / (r["sample"] if mode == "single" else 1) for r in runs[mode]]
        return how(vals) * (n if mode == "single" else 1)

    def wall(mode: str, how) -> float:
        vals = [r["seconds"] / (r["sample"] if mode == "single" else 1) for r in runs[mode]]
        return how(vals) * (n if mode == "single" else 1)

    same = all(runs["bulk"][0]["sample_sha"].get(h) == s for r in runs["single"]
               for h, s in r["sample_sha"].items())
    same_python = runs["bulk"][0]["packet_bytes"] == runs["python"][0]["packet_bytes"]
    ratios = {}
    for label, how in (("min", min), ("median", statistics.median)):
        ratios[label] = {
            "bulk_vs_single_cpu": cpu("single", how) / cpu("bulk", how),
            "bulk_vs_single_wall": wall("single", how) / wall("bulk", how),
            "bulk_vs_scan_cpu": cpu("bulk", how) / cpu("scan", how),
            "bulk_vs_scan_wall": wall("bulk", how) / wall("scan", how),
            "python_vs_bulk_cpu": cpu("python", how) / cpu("bulk", how),
        }
    report = {
        "patients": a.patients, "admissions": n, "rounds": a.repeat,
        "load_average_start": load_start, "load_average": os.getloadavg(), "scan_rows": res["scan"]["rows"],
        "packet_bytes": res["bulk"]["packet_bytes"],
        "cpu_seconds": {m: [round(r["cpu_seconds"], 2) for r in rs] for m, rs in runs.items()},
        "wall_seconds": {m: [round(r["seconds"], 2) for r in rs] for m, rs in runs.items()},
        "single_sample": res["single"]["sample"],
        "single_per_admission_ms_cpu": 1000 * cpu("single", min) / n,
        "bulk_per_admission_ms_cpu": 1000 * cpu("bulk", min) / n,
        "ratios": ratios,
        "peak_rss_mb": {m: max(round(r["peak_rss_mb"], 1) for r in rs) for m, rs in runs.items()},
        "sample_bytes_identical": same, "python_reference_same_size": same_python,
    }
    checks = {
        f"bulk >= {MIN_SPEEDUP:g}x one-at-a-time by CPU (min)": ratios["min"]["bulk_vs_single_cpu"] >= MIN_SPEEDUP,
        f"bulk <= {MAX_VS_SCAN:g}x a bare scan by CPU (min)": ratios["min"]["bulk_vs_scan_cpu"] <= MAX_VS_SCAN,
        "bulk and single extraction give identical bytes on the sample": same,
        "bulk and the Python reference give the same number of bytes": same_python,
    }
    report["thresholds"] = {name: ok for name, ok in checks.items()}
    print(json.dumps(report, indent=2))
    if a.json:
        a.json.write_text(json.dumps(report, indent=2) + "\n")
    for name, ok in checks.items():
        print(f"{'met   ' if ok else 'MISSED'} {name}", file=sys.stderr)
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
