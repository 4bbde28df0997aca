"""bench/project_full_mimic.py: the full-MIMIC projection in docs/BENCHMARKS.md is arithmetic on a
`build --timings` log; this checks it reads the tables a real build prints and divides by the
right units."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOG = """\
               benchmark m1
┏━━━━━━━━━━━━━━┳━━━━━━━┳━━━━━━┳━━━━━━┳━━━━━━━┓
┃ task         ┃ train ┃  dev ┃ test ┃ total ┃
┡━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━╇━━━━━━╇━━━━━━━┩
│ conversation │    60 │   20 │   20 │   100 │
│ icd          │   100 │   50 │   50 │   200 │
└──────────────┴───────┴──────┴──────┴───────┘
                     build timings
┏━━━━━━━━━━━━━━┳━━━━━━━━┳━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┓
┃ stage        ┃ wall s ┃  CPU s ┃ peak RSS MiB so far ┃
┡━━━━━━━━━━━━━━╇━━━━━━━━╇━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━┩
│ packets      │   9.00 │   4.00 │                469 │
│ conversation │   2.00 │   1.00 │                469 │
│ icd          │   3.00 │   2.00 │                469 │
│ qa           │  66.26 │  10.00 │                609 │
│ hash         │   0.06 │   0.50 │                609 │
│ write        │  13.76 │   1.50 │                609 │
│ total        │ 132.56 │  19.00 │                609 │
└──────────────┴────────┴────────┴────────────────────┘
"""


def test_projection_divides_each_stage_by_its_unit(tmp_path):
    log = tmp_path / "build.log"
    log.write_text(LOG, encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "project_full_mimic.py"), str(log),
                          "--patients", "100", "--admissions", "200"],
                         capture_output=True, text=True, check=True).stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    # packets: 4 s / 200 admissions = 20 ms x 546,028; icd: 1 item per admission here
    assert "20.00 ms per admission" in rows["packets"] and "| 10,921 |" in rows["packets"]
    assert "10.00 ms per item (discharge note)" in rows["conversation"] and "| 3,318 |" in rows["conversation"]
    assert "10.00 ms per item (1.000 per admission)" in rows["icd"] and "| 546,028 | 5,460 |" in rows["icd"]
    assert "100.00 ms per patient" in rows["qa (incl. the sql build)"]
    assert "20.00 ms per patient" in rows["write + hash"]  # write + hash = 2.0 s / 100
    # total = sum of the projected stages, not the measured total
    assert "≈" in rows["**total** (ingest not included)"]
    total = 0.020 * 546_028 + 0.010 * 331_793 + 0.010 * 546_028 + 0.100 * 364_627 + 0.020 * 364_627
    assert f"**{total:,.0f} ≈" in out
