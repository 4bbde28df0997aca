"""Issue 12: `medbench build`'s memory is flat in dataset size (a CI scale test).

The same build at two sizes (SMALL and LARGE synthetic patients, 4× apart) with a low
MEDBENCH_MEMORY_LIMIT; each build runs in a fresh interpreter that writes its own VmHWM (peak
RSS of that process, reset at exec, so not the pytest parent's) from /proc/self/status at exit.
The larger build's peak must be within RATIO × the smaller's + SLACK_MB: records kept in Python
lists until the release is written (the whole release's items, contexts or candidate slots)
grow with the patients and fail it (docs/BENCHMARKS.md, "Issue 12: memory and cost at scale").
Families: sql (candidate slots, items and gold), qa (rendered contexts: the largest items) and
conversation (a packet per item); `--sql-per-patient 3` keeps the CPU time in budget.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# slow; a generous limit: on a quiet 2-core machine the whole test should take a few minutes
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
SMALL, LARGE = 100, 400
RATIO, SLACK_MB = 1.25, 40
MEMORY_LIMIT = "1500MB"
TASKS = "sql,qa,conversation"

_CHILD = """\
import atexit, sys
def _report(path=sys.argv[1]):
    with open('/proc/self/status') as f:
        hwm = [line.split()[1] for line in f if line.startswith('VmHWM:')][0]
    with open(path, 'w') as f:
        f.write(hwm)
atexit.register(_report)
sys.argv = ['medbench', *sys.argv[2:]]
from medbench.cli import main
main()
"""


def _medbench(env: dict, *args: str, hwm: Path | None = None) -> None:
    report = str(hwm) if hwm else os.devnull
    p = subprocess.run([sys.executable, "-c", _CHILD, report, *args], env=env, cwd=ROOT,
                       capture_output=True, text=True, timeout=1500, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    if "--timings" in args:
        print(p.stdout[-1500:])


def peak_rss_mb(tmp: Path, patients: int) -> float:
    """VmHWM (MB) of one `medbench build` over `patients` synthetic patients (store ingested
    by an earlier process, so the build's own peak is measured)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MEDBENCH_HOME": str(tmp / f"home{patients}"),
           "MEDBENCH_MEMORY_LIMIT": MEMORY_LIMIT, "MEDBENCH_THREADS": "1"}
    data = tmp / f"synth{patients}"
    _medbench(env, "synth", "--patients", str(patients), "--seed", "0", "--out", str(data))
    _medbench(env, "ingest", "--mimic-dir", str(data))
    hwm = tmp / f"hwm{patients}"
    _medbench(env, "build", "--mimic-dir", str(data), "--out", str(tmp / f"rel{patients}"),
              "--tasks", TASKS, "--sql-per-patient", "3", "--timings", hwm=hwm)
    return int(hwm.read_text()) / 1024


def test_build_peak_rss_is_flat_in_patients(tmp_path):
    small = peak_rss_mb(tmp_path, SMALL)
    large = peak_rss_mb(tmp_path, LARGE)
    print(f"peak RSS: {SMALL} patients {small:.0f} MB, {LARGE} patients {large:.0f} MB "
          f"(ratio {large / small:.2f})")
    assert large <= RATIO * small + SLACK_MB, (small, large)
