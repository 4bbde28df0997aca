"""Project a full MIMIC-IV v3.1 + Note build from one measured `medbench build --timings` run.

    python bench/project_full_mimic.py BUILD_LOG --patients N --admissions A [--notes D]

BUILD_LOG is the terminal output of `medbench build ... --timings` (its item-count and
"build timings" tables). Each stage's CPU seconds are divided by the unit that drives it in
the measured run and multiplied by that unit's count in MIMIC-IV v3.1 (issue 12; the counts are
PhysioNet's: 364,627 patients, 546,028 admissions, 331,793 discharge notes):
packets per admission, conversation per item (one per discharge note), icd per item (items per
admission as measured), qa (which includes the sql build) and write + hash per patient.
Prints the table docs/BENCHMARKS.md records; arithmetic only, nothing is re-measured.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

MIMIC = {"patients": 364_627, "admissions": 546_028, "notes": 331_793}


def parse(log: str) -> tuple[dict[str, float], dict[str, int]]:
    cpu, items = {}, {}
    timing = False
    for line in log.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if "build timings" in line:
            timing = True
        if len(cells) == 5 and cells[1].isdigit():  # task | train | dev | test | total
            items[cells[0]] = int(cells[4])
        elif timing and len(cells) >= 3 and re.fullmatch(r"[\d.]+", cells[2]):
            cpu[cells[0]] = float(cells[2])
    return cpu, items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("--patients", type=int, required=True)
    ap.add_argument("--admissions", type=int, required=True)
    ap.add_argument("--notes", type=int, help="discharge notes (default: the conversation items)")
    a = ap.parse_args()
    cpu, items = parse(a.log.read_text(encoding="utf-8"))
    notes = a.notes or items.get("conversation", 0)
    icd_per_adm = items.get("icd", 0) / a.admissions
    rows = [  # stage, CPU s, measured units, unit name, full-MIMIC units
        ("packets", cpu.get("packets", 0.0), a.admissions, "admission", MIMIC["admissions"]),
        ("conversation", cpu.get("conversation", 0.0), notes, "item (discharge note)", MIMIC["notes"]),
        ("icd", cpu.get("icd", 0.0), items.get("icd", 0), f"item ({icd_per_adm:.3f} per admission)",
         round(MIMIC["admissions"] * icd_per_adm)),
        ("qa (incl. the sql build)", cpu.get("qa", 0.0), a.patients, "patient", MIMIC["patients"]),
        ("write + hash", cpu.get("write", 0.0) + cpu.get("hash", 0.0), a.patients, "patient", MIMIC["patients"]),
    ]
    print("| stage | measured CPU s | per unit (CPU) | full-MIMIC units | projected CPU s |")
    print("|---|---:|---:|---:|---:|")
    total = 0.0
    for stage, s, n, unit, full in rows:
        per = s / n if n else 0.0
        total += per * full
        print(f"| {stage} | {s:,.1f} | {per * 1000:.2f} ms per {unit} | {full:,} | {per * full:,.0f} |")
    print(f"| **total** (ingest not included) | {sum(r[1] for r in rows):,.1f} | | | "
          f"**{total:,.0f} ≈ {total / 3600:.1f} CPU-hours** |")


if __name__ == "__main__":
    main()
