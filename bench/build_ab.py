"""Before/after CPU of `medbench build`, two source trees side by side, runs interleaved (issue 12).

    git archive <old commit> | tar -x -C /tmp/old          # tree A (no git metadata needed)
    python bench/build_ab.py --a /tmp/old --b . --mimic-dir <synth> --rounds 2 \\
        --work /tmp/ab -- --tasks sql,qa --sql-per-patient 3

Each round builds A then B (A B A B ...) with `python main.py build ... --timings` in that tree
(so each imports its own `medbench`), under `nice -n 5`, recording `uptime`'s load average
before every run, the CPU seconds of each `--timings` stage and of the whole process
(getrusage of the child). Prints min and median per tree and stage, and whether the releases
of A and B are byte-identical (`diff -r` of the first round's two releases).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: a row of the `--timings` table: stage, wall s, CPU s (exactly three cells: not the item counts)
STAGE = re.compile(r"^[│|]\s*(\w+)\s*[│|]\s*([\d.]+)\s*[│|]\s*([\d.]+)\s*[│|]$")


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(tree: Path, out: Path, args: argparse.Namespace, extra: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "MEDBENCH_HOME": str(args.work / "home"), "PYTHONPATH": str(tree)}
    cmd = ["nice", "-n", "5", sys.executable, "main.py", "build", "--mimic-dir", str(args.mimic_dir),
           "--out", str(out), "--timings", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    la, w0 = load(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{tree}: build failed\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    stages = {m.group(1): float(m.group(3)) for line in (proc.stdout + proc.stderr).splitlines()
              if (m := STAGE.match(line.strip()))}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"load": la, "wall": wall, "process_cpu": cpu, **{f"cpu_{k}": v for k, v in stages.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, required=True, help="tree A (before)")
    ap.add_argument("--b", type=Path, required=True, help="tree B (after)")
    ap.add_argument("--mimic-dir", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (releases, MEDBENCH_HOME)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("extra", nargs="*", help="more `build` arguments (after --)")
    args = ap.parse_args()
    args.a, args.b, args.work = args.a.resolve(), args.b.resolve(), args.work.resolve()
    args.mimic_dir = args.mimic_dir.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for label, tree in (("A", args.a), ("B", args.b)):
            res = run(tree, args.work / f"rel_{label}{r}", args, args.extra)
            runs[label].append(res)
            print(f"round {r} {label}: load {res['load']}  " + "  ".join(
                f"{k}={v:.2f}" for k, v in res.items() if k != "load"), flush=True)
    same = subprocess.run(["diff", "-r", "-q", str(args.work / "rel_A0"), str(args.work / "rel_B0")],
                          capture_output=True, text=True, check=False)
    print("releases A and B byte-identical:", same.returncode == 0, same.stdout[:2000])
    keys = sorted({k for rs in runs.values() for res in rs for k in res if k != "load"})
    print(f"{'measure':<16}{'A min':>10}{'A median':>10}{'B min':>10}{'B median':>10}{'A/B (min)':>11}")
    for k in keys:
        a = [res[k] for res in runs["A"] if k in res]
        b = [res[k] for res in runs["B"] if k in res]
        if a and b:
            ratio = min(a) / min(b) if min(b) else float("nan")
            print(f"{k:<16}{min(a):>10.2f}{statistics.median(a):>10.2f}{min(b):>10.2f}"
                  f"{statistics.median(b):>10.2f}{ratio:>11.2f}")


if __name__ == "__main__":
    main()
