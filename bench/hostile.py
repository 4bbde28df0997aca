"""Hostile inputs: wall time, parent peak RSS and outcome of `medbench score` per case.

    PYTHONPATH=. python bench/hostile.py RELEASE_DIR   # a release with sql and icd (train split)

Each case runs `main.py score --no-publish --json` in a fresh process under /usr/bin/time (parent
peak RSS; the SQL workers are separate processes, bounded by RLIMIT_AS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from medbench.release import open_release


def main(release_dir: str) -> None:
    r = open_release(release_dir)
    work = Path(tempfile.mkdtemp(prefix="medbench-hostile-"))

    def sub(name, task, preds, **extra):
        head = {"type": "header", "schema_version": 1, "model": "m", "task": task, "split": "train",
                "benchmark": {"name": r.name, "sha256": r.sha256}, "medbench_version": "x", "params": {},
                "created": "2020-01-01T00:00:00Z"}
        path = work / f"{name}.jsonl"
        with open(path, "w") as f:
            f.write(json.dumps(head) + "\n")
            f.writelines(json.dumps({"item_id": k, "prediction": v, **extra}) + "\n" for k, v in preds.items())
        return path

    icd, sql = sorted(r.gold("icd", "train")), sorted(r.gold("sql", "train"))
    cases = {
        "icd: one item with 85,000 junk codes (1 MB line)":
            sub("icd85k", "icd", {icd[0]: [f"Z{n:06d}" for n in range(85000)], **{i: ["I10"] for i in icd[1:]}}),
        "sql: three 800 KB predictions":
            sub("sql800k", "sql", {i: "SELECT " + " + ".join(["1"] * 200000) for i in sql[:3]}),
        "sql: a query past DuckDB's 2 s progress-bar delay, --json":
            sub("slow", "sql", {sql[0]: "SELECT count(*) FROM range(3000000000) a"}),
        'usage: "cost_usd": true': sub("cost", "icd", {icd[0]: ["I10"]}, cost_usd=True),
    }
    env = dict(os.environ, PYTHONPATH=str(REPO), MEDBENCH_HOME=str(work / "home"), MEDBENCH_NO_PROGRESS="1")
    for name, path in cases.items():
        t = time.monotonic()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, str(REPO / "main.py"), "score", str(path),
                            "--benchmark", release_dir, "--no-publish", "--json", "--timeout", "4",
                            "--workers", "2", "--resamples", "1000"], capture_output=True, text=True, env=env,
                           check=False)
        wall = time.monotonic() - t
        rss_mb = int(p.stderr.strip().splitlines()[-1]) / 1024
        try:
            json.loads(p.stdout)
            out = "stdout is one JSON document"
        except ValueError:
            out = "stdout is not JSON"
        err = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
        print(f"{name}: exit {p.returncode}, {wall:.1f} s, parent peak RSS {rss_mb:.0f} MB, "
              f"{out if p.returncode == 0 else err[0][:120] if err else ''}")
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main(sys.argv[1])
