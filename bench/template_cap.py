"""CPU and peak RSS of one whole-release phase of the SQL builder — the size policy's
eligibility pass (`template_cap`, default) or the population-level items
(`build_population_items`, `--phase population`) — two source trees side by side, runs
interleaved (issue 12).

    git archive <old commit> | tar -x -C /tmp/old
    python bench/template_cap.py --a /tmp/old --b . --release REL --rounds 2
    python bench/template_cap.py --a /tmp/old --b . --release REL --rounds 2 --phase population

REL is a built release (its `sql/db/*.parquet` are materialised once into a scratch DuckDB file
under --work). Each run is a fresh interpreter (`nice -n 5`) that imports `medbench` from its
tree and calls `template_cap(con, answerable templates, every patient, held-out, seed 0, cap)` on
that file with the connection the SQL builder opens (threads=1, the usual memory share under
$MEDBENCH_MEMORY_LIMIT). Per run it records the load average, CPU seconds of the call and the
process's peak RSS (ru_maxrss); it prints min and median per tree, the B/A ratios, and whether
every run chose the same patients (a hash of the result). `--phase population` calls
`build_population_items(con, population templates, held-out, seed 0, 10 per template, the default
unanswerable ratio)` instead and hashes its items and gold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import hashlib, json, resource, sys, time
db, cap = sys.argv[1], int(sys.argv[2])
import duckdb
from medbench.config import duckdb_memory_settings
from medbench.tasks.sql import build as b
con = duckdb.connect(db, read_only=True, config={"threads": 1, **duckdb_memory_settings()})
con.execute("SET enable_progress_bar = false")
tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
templates = b.applicable_templates(tables)
answerable = [t for t in templates if t.scope == "patient" and t.answerable]
subjects = sorted(r[0] for r in con.execute("SELECT subject_id FROM patients").fetchall())
c0 = time.process_time()
if sys.argv[3] == "population":
    share = b.DEFAULT_UNANSWERABLE_SHARE
    pop = [t for t in templates if t.scope == "population"]
    items, gold, _, _ = b.build_population_items(con, pop, b.held_out_templates(templates), 0,
                                                 b.DEFAULT_POPULATION_PER_TEMPLATE, share / (1 - share))
    cpu = time.process_time() - c0
    count = len(items)
    digest = hashlib.sha256(json.dumps([items, gold], sort_keys=True, default=str).encode())
else:
    out = b.template_cap(con, answerable, subjects, b.held_out_templates(templates), 0, cap)
    cpu = time.process_time() - c0
    count = len(out)
    digest = hashlib.sha256(json.dumps(sorted((k[0], k[1], sorted(v)) for k, v in out.items())).encode())
print(json.dumps({"cpu_s": cpu, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "pairs": count, "patients": len(subjects), "sha": digest.hexdigest()[:16]}))
"""


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, required=True, help="tree A (before)")
    ap.add_argument("--b", type=Path, required=True, help="tree B (after)")
    ap.add_argument("--release", type=Path, required=True, help="a built release with an sql task")
    ap.add_argument("--work", type=Path, default=Path("/tmp/medbench-template-cap"))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cap", type=int, default=500, help="per-template, per-split cap (default: the build's)")
    ap.add_argument("--phase", choices=("template_cap", "population"), default="template_cap")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    db = args.work / f"{args.release.name}.duckdb"
    if not db.exists():
        sys.path.insert(0, str(args.b.resolve()))
        from medbench.tasks.sql.schema import materialise_db

        materialise_db(args.release / "sql" / "db", db)
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for name, tree in (("A", args.a), ("B", args.b)):
            la = load()
            env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
            p = subprocess.run(["nice", "-n", "5", sys.executable, "-c", _CHILD, str(db), str(args.cap), args.phase],
                               cwd=tree, env=env, capture_output=True, text=True, check=False)
            if p.returncode:
                raise SystemExit(f"{tree}: failed\n{p.stderr[-3000:]}")
            line = [x for x in p.stdout.splitlines() if x.startswith("{")][-1]
            res = {**json.loads(line), "load": la}
            runs[name].append(res)
            print(f"round {r + 1} {name}: CPU {res['cpu_s']:.2f} s, peak RSS {res['peak_rss_mib']:.0f} MiB, "
                  f"{res['pairs']} {'items' if args.phase == 'population' else 'capped pairs'}, sha {res['sha']}, load {la}", flush=True)

    def stat(name: str, key: str) -> tuple[float, float]:
        xs = [x[key] for x in runs[name]]
        return min(xs), statistics.median(xs)

    print(f"\n{runs['B'][0]['patients']} patients, " + (f"cap {args.cap}" if args.phase == "template_cap" else "population items"))
    print(f"{'':16} {'A min':>9} {'A median':>9} {'B min':>9} {'B median':>9} {'B/A min':>8}")
    for key, label in (("cpu_s", "CPU s"), ("peak_rss_mib", "peak RSS MiB")):
        (a_min, a_med), (b_min, b_med) = stat("A", key), stat("B", key)
        print(f"{label:16} {a_min:9.1f} {a_med:9.1f} {b_min:9.1f} {b_med:9.1f} {b_min / a_min:8.2f}")
    shas = {x["sha"] for v in runs.values() for x in v}
    print("same result in every run:", "yes" if len(shas) == 1 else f"NO ({sorted(shas)})")


if __name__ == "__main__":
    main()
