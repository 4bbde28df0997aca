"""Write medbench/store/synth/tail_vocab.py: the long-tail vocabularies of the synthetic generator.

    python bench/derive_synth_tail.py [--demo ../shared/data/mimic-iv-demo-2.2]
    ruff format medbench/store/synth/tail_vocab.py   # the committed file is ruff-formatted

Run once by hand (issue 11); the generator never reads the demo. From the open MIMIC-IV demo
(ODbL) it keeps only dictionary-level facts, never a patient's row: the procedure codes that occur
in procedures_icd with their d_icd_procedures titles, the prescription drug names with each one's
most common route, dose and frequency, and the lab items that occur in labevents with their
d_labitems label, most common unit and reference range, and the median and interquartile spread
of their values (text items: their most common value). Each list is ordered by how often the demo
uses the entry (ties by code), which is the rank the generator's Zipf-like weights use. Entries
the head vocabulary already has, and sex-specific or obstetric ones, are left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import duckdb

# vocab.py alone: the package imports the generator, which imports the module this script writes
_SPEC = importlib.util.spec_from_file_location(
    "synth_vocab", Path(__file__).resolve().parents[1] / "medbench" / "store" / "synth" / "vocab.py")
vocab = sys.modules["synth_vocab"] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(vocab)

DEMO = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "mimic-iv-demo-2.2"
OUT = Path(__file__).resolve().parents[1] / "medbench" / "store" / "synth" / "tail_vocab.py"
SEXED = re.compile(r"prostat|testi[cs]|scrot|penis|penile|uter|ovar|cervi[cx]|vagin|vulv|breast|mammar|pregnan"
                   r"|puerper|newborn|maternal|menstrua|sperm|obstet|fetal|fetus|placenta|products of conception"
                   r"|labor|delivery|cesarean|episiotomy|estradiol|estrogen|progest|prenatal|finasteride"
                   r"|tamsulosin|oxytocin|methylergonovine|hcg|chorionic|\bpsa\b|medroxyprogesterone|vas deferens"
                   r"|seminal|epididym|fallopian|oophor|hysterect|circumcis|orchi|mastect", re.IGNORECASE)


def _q(con, sql):
    return con.execute(sql).fetchall()


def procedures(con, hosp: str, version: int, head: set[str]) -> list[tuple[str, str]]:
    rows = _q(con, f"""SELECT p.icd_code, d.long_title, count(*) AS n FROM '{hosp}/procedures_icd.csv.gz' p
        JOIN '{hosp}/d_icd_procedures.csv.gz' d ON d.icd_code = p.icd_code AND d.icd_version = p.icd_version
        WHERE p.icd_version = {version} GROUP BY 1, 2 ORDER BY n DESC, 1""")
    obstetric = ("10",) if version == 10 else tuple(str(n) for n in range(60, 76))
    return [(str(c), t) for c, t, _n in rows
            if c not in head and not str(c).startswith(obstetric) and not SEXED.search(t)]


def drugs(con, hosp: str, head: set[str]) -> list[tuple]:
    rows = _q(con, f"""WITH p AS (SELECT r.drug, r.route, r.dose_val_rx, r.dose_unit_rx, r.form_unit_disp,
                coalesce(r.doses_per_24_hrs, 1) AS per24, coalesce(ph.frequency, '') AS freq
            FROM '{hosp}/prescriptions.csv.gz' r LEFT JOIN '{hosp}/pharmacy.csv.gz' ph USING (pharmacy_id)
            WHERE r.drug IS NOT NULL AND r.drug_type = 'MAIN')
        SELECT drug, count(*) AS n,
            mode(coalesce(route, '') ORDER BY coalesce(route, '')),
            mode(coalesce(dose_val_rx, '') ORDER BY coalesce(dose_val_rx, '')),
            mode(coalesce(dose_unit_rx, '') ORDER BY coalesce(dose_unit_rx, '')),
            mode(coalesce(form_unit_disp, '') ORDER BY coalesce(form_unit_disp, '')),
            mode(freq ORDER BY freq), mode(per24 ORDER BY per24)
        FROM p GROUP BY drug ORDER BY n DESC, drug""")
    base = {"0.9% Sodium Chloride (Mini Bag Plus)", "Iso-Osmotic Dextrose"}
    out = []
    for drug, _n, route, dose, unit, form, freq, per24 in rows:
        if drug in head or drug in base or SEXED.search(drug) or not drug.strip():
            continue
        out.append((drug, route, dose, unit, form, freq, int(min(max(per24, 0), 24))))
    return out


def _sig(x: float) -> float:
    return float(f"{x:.3g}")


def labs(con, hosp: str, head: set[int]) -> tuple[list[tuple], list[tuple]]:
    rows = _q(con, f"""SELECT l.itemid, d.label, d.fluid, d.category, count(*) AS n,
            avg(CASE WHEN l.valuenum IS NULL THEN 0.0 ELSE 1 END) AS numeric_share,
            mode(coalesce(l.valueuom, '') ORDER BY coalesce(l.valueuom, '')),
            mode(l.ref_range_lower ORDER BY l.ref_range_lower), mode(l.ref_range_upper ORDER BY l.ref_range_upper),
            median(l.valuenum), quantile_cont(l.valuenum, 0.25), quantile_cont(l.valuenum, 0.75),
            mode(CASE WHEN l.valuenum IS NOT NULL THEN length(split_part(l.value, '.', 2)) END
                 ORDER BY CASE WHEN l.valuenum IS NOT NULL THEN length(split_part(l.value, '.', 2)) END),
            mode(CASE WHEN l.valuenum IS NULL THEN l.value END ORDER BY CASE WHEN l.valuenum IS NULL THEN l.value END)
        FROM '{hosp}/labevents.csv.gz' l JOIN '{hosp}/d_labitems.csv.gz' d USING (itemid)
        GROUP BY 1, 2, 3, 4 ORDER BY n DESC, 1""")
    numeric, text, order = [], [], []
    for item, label, fluid, cat, _n, share, unit, lo, hi, med, q1, q3, dec, tval in rows:
        if item in head or SEXED.search(label or "") or not label:
            continue
        if share >= 0.5 and med is not None:
            spread = _sig(max((q3 - q1) / 1.35, abs(med) * 0.05, 10 ** -(min(dec or 0, 3))))
            numeric.append((int(item), label, fluid, cat, unit, lo, hi, _sig(med), spread, min(int(dec or 0), 3)))
        elif tval and tval != "___":
            text.append((int(item), label, fluid, cat, tval))
        else:
            continue
        order.append(int(item))
    return numeric, text, order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", type=Path, default=DEMO)
    args = ap.parse_args()
    hosp = str(args.demo / "hosp")
    con = duckdb.connect()
    head_px10 = set(vocab.ICD10_PROCEDURES)
    head_px9 = set(vocab.ICD9_PROCEDURES)
    p10 = procedures(con, hosp, 10, head_px10)
    p9 = procedures(con, hosp, 9, head_px9)
    dr = drugs(con, hosp, {m[0] for m in vocab.MEDS.values()})
    ln, lt, lo = labs(con, hosp, set(vocab.LABS) | set(vocab.TEXT_LABS))
    lines = [
        '"""Long-tail vocabularies of the synthetic generator (issue 11), written by',
        "bench/derive_synth_tail.py from the open MIMIC-IV demo 2.2 (ODbL): dictionary-level facts only",
        "(codes, titles, drug names with their usual route/dose/frequency, lab items with their label,",
        "usual unit, reference range and typical value), each list ordered by how often the demo uses",
        'the entry. No patient row is copied. Do not edit by hand; rerun the script."""',
        "",
        "# (icd_code, long_title)",
        f"PROCEDURES10: tuple[tuple[str, str], ...] = {tuple(p10)!r}",
        f"PROCEDURES9: tuple[tuple[str, str], ...] = {tuple(p9)!r}",
        "# (drug, route, dose_val_rx, dose_unit_rx, form_unit_disp, frequency, doses_per_24_hrs)",
        f"DRUGS: tuple[tuple, ...] = {tuple(dr)!r}",
        "# (itemid, label, fluid, category, unit, ref_lo, ref_hi, typical value, spread, decimals)",
        f"LABS: tuple[tuple, ...] = {tuple(ln)!r}",
        "# (itemid, label, fluid, category, usual value)",
        f"TEXT_LABS: tuple[tuple, ...] = {tuple(lt)!r}",
        "# every tail lab item, most used first",
        f"LAB_ORDER: tuple[int, ...] = {tuple(lo)!r}",
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"{OUT}: {len(p10)} ICD-10-PCS, {len(p9)} ICD-9 procedures, {len(dr)} drugs, "
          f"{len(ln)} numeric + {len(lt)} text lab items")


if __name__ == "__main__":
    main()
