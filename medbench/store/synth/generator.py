"""Deterministic synthetic MIMIC-IV in PhysioNet's layout (hosp/, icu/, note/ as .csv.gz).

Each patient is generated from its own RNG, seeded from (seed, patient index), and every id is a
function of the patient index, so patients are independent: chunks of patients can be built in
worker processes and streamed to the gzip writers in index order with byte-identical results
(deflate's output does not depend on how its input is split across writes).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import datetime as dt
import gzip
import io
import itertools
import math
import os
import random
import re
import time
from bisect import bisect
from itertools import accumulate
from pathlib import Path

from medbench.errors import UserError
from medbench.io import atomic_dir, sha256_file
from medbench.store.synth import notes, tail_vocab, vocab
from medbench.store.tables import TABLES

MODULES = ("hosp", "icu", "note")
SPECS = tuple(t for t in TABLES if t.module in MODULES)
DICTIONARY_TABLES = ("d_icd_diagnoses", "d_icd_procedures", "d_labitems", "d_items")
EVENT_TABLES = tuple(t.name for t in SPECS if t.name not in DICTIONARY_TABLES)
MAX_PATIENTS = 300_000  # id spaces below are bijections for idx < 312,500
MAX_ADMISSIONS = 30
COMPRESSLEVEL = 6
CHUNK = 25  # patients per work unit

# ---------------------------------------------------------------------------------------------
# time: integer seconds since 2100-01-01, formatted through lookup tables (strftime is slow)
# ---------------------------------------------------------------------------------------------
_BASE = dt.date(2100, 1, 1)
_DAYS = [(_BASE + dt.timedelta(days=d)).isoformat() for d in range(366 * 105)]
_TOD = [f" {h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
DAY = 86400
HOUR = 3600


def ts(sec: int) -> str:
    d, r = divmod(sec, DAY)
    return _DAYS[d] + _TOD[r]


def date_str(sec: int) -> str:
    return _DAYS[sec // DAY]


def midnight(sec: int) -> str:
    return _DAYS[sec // DAY] + " 00:00:00"


def year_start(year: int) -> int:
    return (dt.date(year, 1, 1) - _BASE).days * DAY


# ---------------------------------------------------------------------------------------------
# ids: bijective scrambles so ids look like MIMIC's and never collide across patients
# ---------------------------------------------------------------------------------------------
def subject_id(idx: int) -> int:
    return 10_000_000 + (idx * 4_435_761) % 10_000_000


def hadm_id(idx: int, k: int) -> int:
    return 20_000_000 + ((idx * 32 + k) * 7_654_321) % 10_000_000


def stay_id(idx: int, k: int) -> int:
    return 30_000_000 + ((idx * 32 + k) * 3_987_653) % 10_000_000


class _Ids:
    """Per-patient counters inside disjoint per-patient blocks."""

    __slots__ = (
        "base",
        "ds",
        "emar",
        "lab",
        "micro",
        "mspec",
        "pharm",
        "poe",
        "rr",
        "spec",
        "transfer",
    )

    def __init__(self, idx: int):
        self.base = idx
        self.lab = idx * 100_000
        self.spec = idx * 20_000
        self.micro = idx * 5_000
        self.mspec = idx * 1_000
        self.pharm = 10_000_000 + idx * 5_000
        self.transfer = idx * 500
        self.emar = 0
        self.poe = 0
        self.rr = 0
        self.ds = 0


def _transfer_id(n: int) -> int:
    return 30_000_000 + (n * 7_777_777) % 60_000_000


def _cum(pairs):
    values = [v for v, _ in pairs]
    cum = list(accumulate(w for _, w in pairs))
    return values, cum


def _pick(rng: random.Random, table) -> object:
    values, cum = table
    return values[bisect(cum, rng.random() * cum[-1])]


_RACES = _cum(vocab.RACES)
_INSURANCE = _cum(vocab.INSURANCE)
_LANGUAGE = _cum(vocab.LANGUAGE)
_MARITAL = _cum(vocab.MARITAL)
_DISCH = _cum(vocab.DISCHARGE_LOCATIONS)
_EMAR_EVENTS = _cum(vocab.EMAR_EVENTS)
#: admissions per patient like the MIMIC-IV demo's (52% one, 20% two; mean 2.75, median 1, p90 7, max 20)
_N_ADM = _cum([(1, 0.59), (2, 0.15), (3, 0.08), (4, 0.035), (5, 0.03), (6, 0.03), (7, 0.03), (8, 0.015),
               (9, 0.012), (10, 0.013), (12, 0.01), (13, 0.006), (15, 0.008), (20, 0.008)])
_FMT = {0: "{:.0f}", 1: "{:.1f}", 2: "{:.2f}", 3: "{:.3f}"}
# per lab item, precomputed: itemid str, unit, lo str, hi str, lo, hi, mean, sd, format
_LAB = {
    item: (str(item), unit, "" if lo is None else f"{lo:g}", "" if hi is None else f"{hi:g}",
           lo, hi, mean, sd, _FMT[dec].format, dec)
    for item, (label, fluid, cat, unit, lo, hi, mean, sd, dec) in vocab.LABS.items()
}
_TEXT_LAB = {item: (str(item), v[3], v[4]) for item, v in vocab.TEXT_LABS.items()}
_ICD9_DX = vocab.ICD9_DIAGNOSES


# ---------------------------------------------------------------------------------------------
# long tails of procedures, drugs and lab items (tail_vocab.py, ordered most used first), drawn
# with Zipf-like weights 1/(rank + offset): a head recurs, most entries appear a few times
# ---------------------------------------------------------------------------------------------
def _zipf(values, offset: float):
    values = list(values)
    return values, list(accumulate(1.0 / (r + offset) for r in range(len(values))))


_PX_TITLES = {9: dict(vocab.ICD9_PROCEDURES), 10: dict(vocab.ICD10_PROCEDURES)}
for _c, _t in tail_vocab.PROCEDURES9:
    _PX_TITLES[9].setdefault(_c, _t)
for _c, _t in tail_vocab.PROCEDURES10:
    _PX_TITLES[10].setdefault(_c, _t)
_PX_TAIL = {9: _zipf((c for c, _ in tail_vocab.PROCEDURES9), 20),
            10: _zipf((c for c, _ in tail_vocab.PROCEDURES10), 20)}
_PER24 = {"DAILY": 1, "QHS": 1, "QPM": 1, "QAM": 1, "BID": 2, "Q12H": 2, "TID": 3, "Q8H": 3, "QID": 4,
          "Q6H": 4, "Q4H": 6, "ONCE": 0, "X1": 0}


def _tail_med(drug, route, dose, unit, form, freq, per24) -> tuple:
    """A vocab.MEDS-shaped entry for a tail drug (prescriptions' formulary code made from its name)."""
    base = freq.split(":")[0].split(" ")[0]
    per24 = _PER24.get(base, max(0, min(per24, 6)))
    proc_type = ("Continuous Med" if route == "IV DRIP" else
                 "IV Piggyback" if route == "IV" and form == "BAG" else "Unit Dose")
    code = (re.sub(r"[^A-Z]", "", drug.upper())[:4] + re.sub(r"[^0-9.]", "", dose)[:4]) or "TAIL"
    strength = f"{dose}{unit} {form}".strip() if dose else form
    return (drug, code, "", "0", strength, "", dose or "1", unit, "1", form, route or "PO",
            freq or "DAILY", per24, proc_type)


_MEDS = dict(vocab.MEDS)
_MEDS.update({f"tail:{i}": _tail_med(*d) for i, d in enumerate(tail_vocab.DRUGS)})
_DRUG_TAIL = _zipf((f"tail:{i}" for i in range(len(tail_vocab.DRUGS))), 15)
#: tail lab items: itemid -> (itemid str, unit, lo str, hi str, lo, hi, typical, spread, fmt) or
#: (itemid str, usual text value) for text items
_LAB_TAIL_ITEMS = {}
for _it, _label, _fluid, _cat, _unit, _lo, _hi, _med, _sd, _dec in tail_vocab.LABS:
    _LAB_TAIL_ITEMS[_it] = (str(_it), _unit, "" if _lo is None else f"{_lo:g}", "" if _hi is None else f"{_hi:g}",
                            _lo, _hi, _med, _sd, _FMT[_dec].format)
for _it, _label, _fluid, _cat, _value in tail_vocab.TEXT_LABS:
    _LAB_TAIL_ITEMS[_it] = (str(_it), _value)
_LAB_TAIL = _zipf(tail_vocab.LAB_ORDER, 25)


def _icd_description(code: str) -> str:
    import simple_icd_10_cm as icd

    return icd.get_description(code)


def _dx_titles() -> dict[str, str]:
    import simple_icd_10_cm as icd

    codes = {c for s in vocab.SCENARIOS for c in s.dx10} | {c for s in vocab.SCENARIOS for c, _ in s.sec10}
    codes |= {c[0] for c in vocab.CHRONIC.values()} | {c[0] for c in vocab.FILLER_DX} | {"J9601"}
    return {c: icd.get_description(c) for c in sorted(codes)}


_SEXED = re.compile(r"\b(?:male|female|prostat\w*|testi\w*|scrot\w*|penis|penile|uter\w*|ovar\w*|cervi\w*"
                    r"|vagin\w*|vulv\w*|breast|pregnan\w*|puerper\w*|newborn|maternal|menstrua\w*|spermat\w*)\b",
                    re.IGNORECASE)
_ENCOUNTER = re.compile(r"\b(?:initial|subsequent) encounter\b|\bsequela\b", re.IGNORECASE)
#: size of the long tail of rarely coded ICD-10-CM diagnoses (issue 11: vocabularies like MIMIC's)
TAIL_SIZE = 4000
#: share of the filler diagnoses of an ICD-10 admission drawn from the tail
TAIL_SHARE = 0.9


def _tail_codes() -> tuple[list[str], list[float]]:
    """A fixed long tail of billable ICD-10-CM codes, chosen by a stable hash and weighted
    1/(rank + 100): a few recur, most appear once or twice in a release. Left out, because a
    random draw of them is implausible: sex-specific, obstetric, perinatal and external-cause
    codes, injuries and poisonings (S, T: MIMIC codes them with an external cause, so only a
    scenario such as the hip fracture codes them), and codes with a 7th-character encounter or
    sequela extension or a coma-scale score (R40.2)."""
    import hashlib

    import simple_icd_10_cm as icd

    pool = []
    for code in dict.fromkeys(icd.get_all_codes(with_dots=False)):
        if code[:1] in "OPUVWXYZ" or not icd.is_leaf(code) or len(code) < 4:
            continue
        if code[:1] in "ST" or code.startswith("R402"):
            continue
        desc = icd.get_description(code)
        if code[:3] in _SEX_BLOCKS or _SEXED.search(desc) or _ENCOUNTER.search(desc):
            continue
        pool.append(code)
    pool.sort(key=lambda c: (hashlib.sha256(f"medbench-tail|{c}".encode()).hexdigest(), c))
    codes = pool[:TAIL_SIZE]
    return codes, list(itertools.accumulate(1.0 / (r + 100) for r in range(len(codes))))


_SEX_BLOCKS = {f"N{n}" for n in range(40, 54)} | {f"N{n}" for n in range(60, 99)} | \
    {f"C{n}" for n in range(50, 64)} | {f"D{n}" for n in range(25, 30)} | {"D06", "D07", "D39", "D40"} | \
    {f"Q{n}" for n in range(50, 57)} | {"R86", "R87", "E28", "E29"}
_TAIL10, _TAIL_CUM = _tail_codes()
_TITLES10 = _dx_titles()
_TITLES10.update({c: _icd_description(c) for c in _TAIL10})


#: codes only coded for one sex (prostate, breast)
SEX_SPECIFIC = {"N400": "M", "Z8546": "M", "Z853": "F", "600": "M", "V1046": "M", "V103": "F"}


def coherent_diagnoses(dx: list[tuple[str, int]], gender: str) -> list[tuple[str, int]]:
    """Clinical coding rules on an admission's (code, version) list, order kept: sex-specific
    codes only for that sex; no code together with a more specific combination code that already
    includes it (I10 with hypertensive heart/kidney disease I11-I13, ICD-9 4019 with 402-404;
    E11.9 "without complications" with another E11 code, ICD-9 25000 with another 250 code)."""
    codes = {c for c, _ in dx}
    drop = {c for c in codes if SEX_SPECIFIC.get(c, gender) != gender}
    if any(c[:3] in ("I11", "I12", "I13") for c in codes):
        drop.add("I10")
    if any(c[:3] in ("402", "403", "404") for c in codes):
        drop.add("4019")
    if any(c.startswith("E11") and c != "E119" for c in codes):
        drop.add("E119")
    if any(c.startswith("250") and c != "25000" for c in codes):
        drop.add("25000")
    kept = [(c, v) for c, v in dx if c not in drop]
    return kept if kept else dx[:1]


# ---------------------------------------------------------------------------------------------
# one patient
# ---------------------------------------------------------------------------------------------
class _Out:
    """Rows of one work unit, per table, in generation order."""

    def __init__(self):
        self.rows: dict[str, list] = {name: [] for name in EVENT_TABLES}


def _lab_value(rng, item: int, mult: float):
    _s, _u, _lo_s, _hi_s, lo, hi, mean, sd, fmt, _dec = _LAB[item]
    v = rng.gauss(mean * mult, sd * (mult if mult > 1 else 1.0) ** 0.5)
    if v < 0:
        v = abs(v) * 0.1
    if item == 50820:
        v = min(max(v, 6.9), 7.7)
    text = fmt(v)
    num = float(text)
    flag = ""
    if lo is not None and hi is not None and (num < lo or num > hi):
        flag = "abnormal"
    return text, num, flag


def _patient(seed: int, idx: int, out: _Out) -> None:
    rng = random.Random(f"medbench-synth:{seed}:{idx}")
    R = out.rows
    ids = _Ids(idx)
    sid = subject_id(idx)
    s_sid = str(sid)
    gender = "F" if rng.random() < 0.52 else "M"
    anchor_age = int(rng.triangular(18, 95, 66))
    anchor_year = rng.randint(2110, 2180)
    year_group = vocab.YEAR_GROUPS[min(4, int(rng.random() ** 1.3 * 5))]
    n_adm = min(MAX_ADMISSIONS, _pick(rng, _N_ADM))
    age_factor = min(1.6, max(0.3, anchor_age / 60))
    chronic = [k for k, v in vocab.CHRONIC.items() if rng.random() < v[3] * age_factor]
    lab_shift: dict[int, float] = {}
    for k in chronic:
        for item, m in vocab.CHRONIC[k][5].items():
            lab_shift[item] = lab_shift.get(item, 1.0) * m
    race = _pick(rng, _RACES)
    insurance = "Medicare" if anchor_age >= 65 and rng.random() < 0.8 else _pick(rng, _INSURANCE)
    language = _pick(rng, _LANGUAGE)
    marital = _pick(rng, _MARITAL)
    weight_kg = rng.gauss(78 if gender == "M" else 68, 14)
    height_in = rng.gauss(69 if gender == "M" else 64, 2.5)
    # ICD-9 era: early admissions of patients whose real dates fall before October 2015
    icd9_window = 3 if year_group == "2008 - 2010" and rng.random() < 0.35 else 0

    t = year_start(anchor_year) + rng.randint(0, 3 * 365) * DAY + rng.randint(0, DAY - 1)
    eligible = [s for s in vocab.SCENARIOS if s.min_age <= anchor_age]
    scen_table = _cum([(s, s.weight) for s in eligible])
    prev = None
    last_disch = t
    died_in_hospital = False
    for k in range(n_adm):
        scen = prev if prev is not None and rng.random() < 0.45 else _pick(rng, scen_table)
        prev = scen
        age = anchor_age + (t - year_start(anchor_year)) // (365 * DAY)
        _outpatient(rng, R, ids, s_sid, last_disch if k else t - 120 * DAY, t, lab_shift, weight_kg,
                    height_in)
        is_last = k == n_adm - 1
        icd9 = icd9_window and (t - year_start(anchor_year)) < icd9_window * 365 * DAY
        adm = _admission(rng, R, ids, idx, k, s_sid, gender, age, scen, chronic, lab_shift, t, icd9,
                         is_last, race, insurance, language, marital, weight_kg)
        last_disch = adm["disch"]
        died_in_hospital = adm["died"]
        gap = rng.expovariate(1 / (60 if n_adm > 4 else 240)) * DAY
        t = adm["disch"] + int(7 * DAY + gap) + rng.randint(0, DAY - 1)
    if not died_in_hospital:
        _outpatient(rng, R, ids, s_sid, last_disch, last_disch + 200 * DAY, lab_shift, weight_kg,
                    height_in)
    dod = ""
    if died_in_hospital:
        dod = date_str(last_disch)
    elif anchor_age > 70 and rng.random() < 0.12:
        dod = date_str(last_disch + rng.randint(10, 360) * DAY)
    R["patients"].append((s_sid, gender, min(anchor_age, 91), anchor_year, year_group, dod))


def _outpatient(rng, R, ids: _Ids, s_sid: str, start: int, end: int, lab_shift, weight_kg, height_in):
    """Clinic visits between admissions: OMR measurements, labs and imaging without hadm_id."""
    span = end - start
    if span < 10 * DAY:
        return
    n = min(12, int(rng.expovariate(1 / 3.6)) + 1)
    times = sorted(start + 3 * DAY + rng.randint(0, span - 6 * DAY) for _ in range(n))
    labs = R["labevents"]
    for tv in times:
        tv = tv - tv % DAY + rng.randint(8, 16) * HOUR + rng.randint(0, 59) * 60
        d = date_str(tv)
        sbp = int(rng.gauss(128, 14))
        w = weight_kg * 2.2046 + rng.gauss(0, 3)
        R["omr"].append((s_sid, d, 1, "Blood Pressure", f"{sbp}/{int(sbp * 0.6 + rng.gauss(0, 6))}"))
        R["omr"].append((s_sid, d, 1, "Weight (Lbs)", f"{w:.1f}"))
        R["omr"].append((s_sid, d, 1, "BMI (kg/m2)", f"{w * 703 / height_in ** 2:.1f}"))
        if rng.random() < 0.2:
            R["omr"].append((s_sid, d, 1, "Height (Inches)", f"{height_in:.0f}"))
        panels = ["bmp", "cbc"]
        if rng.random() < 0.3:
            panels.append(rng.choice(("lipids", "a1c", "tsh", "lfts", "ua")))
        _draw(rng, labs, ids, s_sid, "", tv, panels, lab_shift, None, 0, "ROUTINE")
        if rng.random() < 0.15:
            _draw_tail(rng, labs, ids, s_sid, "", tv, list(dict.fromkeys(
                rng.choices(_LAB_TAIL[0], cum_weights=_LAB_TAIL[1], k=rng.randint(1, 3)))), "ROUTINE")
        if rng.random() < 0.2:  # outpatient imaging: radiology reports without hadm_id
            key = rng.choice(("cxr", "le_us", "renal_us", "ct_abd", "ruq_us"))
            name, cpt, technique, findings, impression = vocab.IMAGING[key]
            ids.rr += 1
            note_id = f"{s_sid}-RR-{ids.rr}"
            R["radiology"].append((note_id, s_sid, "", "RR", ids.rr, ts(tv + HOUR),
                                   ts(tv + HOUR + rng.randint(30, 300) * 60),
                                   notes.radiology_report(name, "outpatient follow-up", technique,
                                                          findings, impression, 0, "F")))
            R["radiology_detail"].append((note_id, s_sid, "exam_name", name, 1))
            R["radiology_detail"].append((note_id, s_sid, "cpt_code", cpt, 1))


def _draw(rng, labs, ids: _Ids, s_sid, s_hadm, tv, panels, lab_shift, scen_labs, decay, priority):
    ids.spec += 1
    spec = str(ids.spec)
    ct = ts(tv)
    st = ts(tv + rng.randint(40, 180) * 60)
    for p in panels:
        for item in vocab.PANELS[p]:
            ids.lab += 1
            if item in _TEXT_LAB:
                s_item, normal, abnormal = _TEXT_LAB[item]
                bad = scen_labs is not None and decay > 0.3 and 51516 in scen_labs
                labs.append((ids.lab, s_sid, s_hadm, spec, s_item, "", ct, st, abnormal if bad else normal,
                             "", "", "", "", "abnormal" if bad and abnormal != normal else "",
                             priority, ""))
                continue
            mult = lab_shift.get(item, 1.0)
            if scen_labs is not None:
                m = scen_labs.get(item)
                if m is not None:
                    mult *= 1 + (m - 1) * decay
            text, _num, flag = _lab_value(rng, item, mult)
            e = _LAB[item]
            labs.append((ids.lab, s_sid, s_hadm, spec, e[0], "", ct, st, text, text, e[1], e[2], e[3],
                         flag, priority, ""))


def _draw_tail(rng, labs, ids: _Ids, s_sid, s_hadm, tv, items, priority):
    """One specimen of long-tail lab items: values around the item's typical value."""
    ids.spec += 1
    spec = str(ids.spec)
    ct = ts(tv)
    st = ts(tv + rng.randint(40, 600) * 60)
    for item in items:
        ids.lab += 1
        e = _LAB_TAIL_ITEMS[item]
        if len(e) == 2:
            labs.append((ids.lab, s_sid, s_hadm, spec, e[0], "", ct, st, e[1], "", "", "", "", "", priority, ""))
            continue
        s_item, unit, lo_s, hi_s, lo, hi, typical, spread, fmt = e
        v = rng.gauss(typical, spread)
        if v < 0 <= typical:
            v = abs(v) * 0.1
        text = fmt(v)
        num = float(text)
        flag = "abnormal" if lo is not None and hi is not None and (num < lo or num > hi) else ""
        labs.append((ids.lab, s_sid, s_hadm, spec, s_item, "", ct, st, text, text, unit, lo_s, hi_s, flag,
                     priority, ""))


def _provider(rng) -> str:
    return "P" + "".join(rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))


def _admission(rng, R, ids: _Ids, idx, k, s_sid, gender, age, scen: vocab.Scenario, chronic,
               lab_shift, t0, icd9, is_last, race, insurance, language, marital, weight_kg) -> dict:
    hadm = hadm_id(idx, k)
    s_hadm = str(hadm)
    via_ed = rng.random() < 0.85
    if via_ed:
        edreg = t0
        edout = edreg + rng.randint(3 * 60, 12 * 60) * 60
        admit = edreg + int((edout - edreg) * rng.uniform(0.4, 0.9))
        adm_type = _pick(rng, _cum([("EW EMER.", 0.6), ("URGENT", 0.15), ("OBSERVATION ADMIT", 0.15),
                                    ("EU OBSERVATION", 0.1)]))
        adm_loc = "EMERGENCY ROOM" if adm_type != "URGENT" else "TRANSFER FROM HOSPITAL"
        first_unit_time = edout
    else:
        edreg = edout = None
        admit = t0
        adm_type = rng.choice(("DIRECT EMER.", "URGENT", "DIRECT OBSERVATION"))
        adm_loc = rng.choice(("PHYSICIAN REFERRAL", "TRANSFER FROM HOSPITAL", "WALK-IN/SELF REFERRAL",
                              "CLINIC REFERRAL"))
        first_unit_time = admit
    los_days = min(40.0, max(0.8, rng.lognormvariate(math.log(scen.los), 0.55)))
    disch = first_unit_time + int(los_days * DAY)
    disch -= disch % 60
    died = is_last and rng.random() < scen.mortality * min(2.5, max(0.3, age / 60))
    icu = rng.random() < scen.icu_p
    icu_unit = vocab.CAREUNITS_ICU[vocab.ICU_FOR_SERVICE.get(scen.service, 0)]
    intubated = icu and scen.key in ("sepsis_uti", "pneumonia", "copd", "stroke") and rng.random() < 0.3
    pressors = icu and scen.key == "sepsis_uti" and rng.random() < 0.6

    # transfers and ICU stay
    trans = R["transfers"]

    def transfer(event, unit, tin, tout):
        ids.transfer += 1
        trans.append((s_sid, s_hadm, _transfer_id(ids.transfer), event, unit, ts(tin),
                      ts(tout) if tout is not None else ""))

    if via_ed:
        transfer("ED", "Emergency Department", edreg, edout)
    icu_in = icu_out = None
    if icu:
        icu_in = first_unit_time if rng.random() < 0.7 else first_unit_time + rng.randint(4, 30) * HOUR
        icu_in = min(icu_in, disch - 6 * HOUR)
        icu_len = min(disch - icu_in - 2 * HOUR, int(rng.lognormvariate(math.log(2.2), 0.6) * DAY))
        icu_out = icu_in + max(4 * HOUR, icu_len) + rng.randint(0, 59) * 60 + rng.randint(0, 59)
        if died:
            icu_out = disch
        if icu_in > first_unit_time:
            transfer("admit", scen.ward, first_unit_time, icu_in)
            transfer("transfer", icu_unit, icu_in, icu_out)
        else:
            transfer("admit", icu_unit, icu_in, icu_out)
        if icu_out < disch:
            transfer("transfer", scen.ward, icu_out, disch)
        sid_icu = stay_id(idx, k)
        R["icustays"].append((s_sid, s_hadm, sid_icu, icu_unit, icu_unit, ts(icu_in), ts(icu_out),
                              f"{(icu_out - icu_in) / DAY:.4f}"))
    else:
        transfer("admit", scen.ward, first_unit_time, disch)
    if not died:
        transfer("discharge", "", disch, None)
    R["services"].append((s_sid, s_hadm, ts(admit + rng.randint(0, 3600)), "", scen.service))

    disch_loc = "DIED" if died else _pick(rng, _DISCH)
    if not died and scen.key == "hip_fracture" and rng.random() < 0.6:
        disch_loc = rng.choice(("SKILLED NURSING FACILITY", "REHAB"))
    R["admissions"].append((s_sid, s_hadm, ts(admit - admit % 60), ts(disch), ts(disch) if died else "",
                            adm_type, _provider(rng), adm_loc, disch_loc, insurance, language, marital,
                            race, ts(edreg) if via_ed else "", ts(edout) if via_ed else "",
                            1 if died else 0))
    start = admit - admit % 60 + 60  # events strictly after admittime
    end = disch - 60

    # labs: admission draw, then daily morning draws (twice daily in the ICU)
    labs = R["labevents"]
    first_labs: dict[int, str] = {}
    lab_seen: dict[int, list[float]] = {}
    n_labs0 = len(labs)
    _draw(rng, labs, ids, s_sid, s_hadm, start + rng.randint(5, 50) * 60,
          ("bmp", "cbc", "mgcaphos", "diff", "coags") + scen.panels, lab_shift, scen.labs, 1.0, "STAT")
    day = 1
    tday = start - start % DAY + DAY + 5 * HOUR
    while tday < end:
        decay = 0.6 ** day
        panels = ["bmp", "cbc"]
        if rng.random() < 0.85:
            panels.append("mgcaphos")
        if rng.random() < 0.3:
            panels.append("coags")
        if rng.random() < 0.25:
            panels.append("lfts")
        if scen.panels and rng.random() < 0.3:
            panels.append(scen.panels[0])
        in_icu = icu and icu_in <= tday < icu_out
        if in_icu:
            panels.append("abg")
            if "vancomycin" in scen.meds and rng.random() < 0.5:
                panels.append("vanco")
        _draw(rng, labs, ids, s_sid, s_hadm, min(end, tday + rng.randint(0, 150) * 60), panels, lab_shift,
              scen.labs, decay, "ROUTINE")
        if in_icu and tday + 12 * HOUR < end:
            _draw(rng, labs, ids, s_sid, s_hadm, min(end, tday + 12 * HOUR + rng.randint(0, 120) * 60),
                  ("bmp", "abg"), lab_shift, scen.labs, decay, "STAT")
        day += 1
        tday += DAY
    for row in labs[n_labs0:]:
        if row[9]:
            item = int(row[4])
            lab_seen.setdefault(item, []).append(float(row[9]))
            first_labs.setdefault(item, row[8])
    # the long tail of less common tests (fluid studies, special chemistry), in a few draws
    n_tail = min(40, int(rng.expovariate(1 / 9)))
    if n_tail:
        items = rng.choices(_LAB_TAIL[0], cum_weights=_LAB_TAIL[1], k=n_tail)
        n_draws = 1 + min(3, n_tail // 6)
        for j in range(n_draws):
            _draw_tail(rng, labs, ids, s_sid, s_hadm, start + int(rng.random() * (end - start)),
                       list(dict.fromkeys(items[j::n_draws])), "ROUTINE")

    # diagnoses
    dx: list[tuple[str, int]] = []
    seen = set()

    def add(code, version):
        if code and code not in seen:
            seen.add(code)
            dx.append((code, version))

    if icd9:
        add(scen.dx9, 9)
        for c in scen.sec9:
            if rng.random() < 0.7:
                add(c, 9)
        if intubated:
            add("51881", 9)
        if scen.dx9[:1] in "89" and not any(c.startswith("E") for c, _ in dx):
            add("E8859", 9)  # an injury is coded with its external cause
        for c in chronic:
            add(vocab.CHRONIC[c][1], 9)
        target = max(3, int(rng.gauss(9, 3)))
        fillers = [f[1] for f in vocab.FILLER_DX if f[1]]
    else:
        add(rng.choice(scen.dx10), 10)
        for c, p in scen.sec10:
            if rng.random() < p:
                add(c, 10)
        if intubated:
            add("J9601", 10)
        if dx[0][0][:1] in "ST" and not any(c[:1] in "VWX" for c, _ in dx):
            add("W19XXXA", 10)  # an injury is coded with its external cause (unspecified fall)
        for c in chronic:
            add(vocab.CHRONIC[c][0], 10)
        target = max(3, int(rng.gauss(12.5, 4.5)))
        fillers = [f[0] for f in vocab.FILLER_DX]
    weights = [f[2] for f in vocab.FILLER_DX if (f[1] if icd9 else True)]
    tries = 0
    while len(dx) < target and tries < 60:
        if not icd9 and rng.random() < TAIL_SHARE:  # the long tail of rarely coded conditions
            add(rng.choices(_TAIL10, cum_weights=_TAIL_CUM)[0], 10)
        else:
            add(rng.choices(fillers, weights)[0], 9 if icd9 else 10)
        tries += 1
    dx = coherent_diagnoses(dx, gender)
    for i, (code, version) in enumerate(dx, 1):
        R["diagnoses_icd"].append((s_sid, s_hadm, i, code, version))

    # procedures
    procs: list[tuple[str, int, int]] = []
    if icd9:
        for c in scen.proc9:
            if rng.random() < 0.6:
                procs.append((c, 9, start + rng.randint(2, 30) * HOUR))
        if intubated:
            procs += [("9604", 9, icu_in), ("9671", 9, icu_in)]
    else:
        for c, p in scen.proc10:
            if rng.random() < p:
                procs.append((c, 10, min(end, start + rng.randint(2, 30) * HOUR)))
        if intubated:
            vent_hours = (icu_out - icu_in) / HOUR
            vent = "5A1935Z" if vent_hours < 24 else "5A1945Z" if vent_hours < 96 else "5A1955Z"
            procs += [("0BH17EZ", 10, icu_in), (vent, 10, icu_in)]
        if pressors:
            procs.append(("02HV33Z", 10, icu_in))
    # the long tail: about half the admissions have further, rarer procedures (MIMIC: median 1,
    # p90 7 per admission)
    if rng.random() < 0.5:
        version = 9 if icd9 else 10
        for _ in range(1 + min(15, int(rng.expovariate(1 / 3.0)))):
            code = rng.choices(_PX_TAIL[version][0], cum_weights=_PX_TAIL[version][1])[0]
            procs.append((code, version, start + int(rng.random() * (end - start))))
    seen_p = set()
    procs = [p for p in sorted(procs, key=lambda p: p[2]) if not (p[0] in seen_p or seen_p.add(p[0]))]
    for i, (code, version, tp) in enumerate(procs, 1):
        R["procedures_icd"].append((s_sid, s_hadm, i, date_str(min(max(tp, start), end)), code, version))
    if scen.key == "nstemi" and procs:
        R["hcpcsevents"].append((s_sid, s_hadm, date_str(procs[0][2]), "92928", 1, "Cardiovascular"))

    # DRG
    sev = min(4, 1 + len(dx) // 5 + (1 if icu else 0))
    R["drgcodes"].append((s_sid, s_hadm, "HCFA", scen.drg[0], scen.drg[1], "", ""))
    R["drgcodes"].append((s_sid, s_hadm, "APR", scen.apr[0], scen.apr[1], sev,
                          min(4, max(1, sev - 1 + (1 if died else 0)))))

    # medications: orders -> poe, prescriptions, pharmacy; administrations -> emar, emar_detail
    home = [m for c in chronic for m in vocab.CHRONIC[c][4]]
    meds = [m for m in vocab.STANDARD_MEDS if rng.random() < 0.85]
    meds += [("insulin_ss" if m == "metformin" else m) for m in home if rng.random() < 0.8]
    for m in scen.meds:
        if m == "norepinephrine" and not pressors:
            continue
        meds.append(m)
    meds += ["kcl_po"] * int(rng.expovariate(1 / 1.2)) + ["mag_iv"] * int(rng.expovariate(1 / 1.0))
    # the long tail of less common drugs, more of them in longer stays
    n_tail = min(40, int(rng.expovariate(1 / (4 + 1.6 * min(20.0, (end - start) / DAY)))))
    tail_meds = rng.choices(_DRUG_TAIL[0], cum_weights=_DRUG_TAIL[1], k=n_tail)
    orders = []
    for m in tail_meds:
        o_start = start + int(rng.random() * max(HOUR, end - start - HOUR))
        o_start -= o_start % 60
        orders.append([m, o_start, min(end, o_start + int(rng.uniform(0.1, 3.0) * DAY))])
    for m in meds:
        o_start = start + rng.randint(1, 8) * HOUR
        if m in ("kcl_po", "mag_iv", "kcl_iv"):
            o_start = start + rng.randint(2, max(3, (end - start) // HOUR - 1)) * HOUR
            orders.append([m, o_start, min(end, o_start + HOUR)])
            continue
        o_start = min(o_start, end - HOUR)
        o_end = end
        if m in ("piptazo", "vancomycin", "norepinephrine", "insulin_drip", "methylpred",
                 "heparin_drip", "metoprolol_iv", "octreotide"):
            o_end = min(end, o_start + int(rng.uniform(1.0, 3.0) * DAY))
        # long orders get re-entered (dose changes, renewals), as in the real order stream
        n_seg = 1 + int(rng.expovariate(1 / max(0.2, (o_end - o_start) / DAY / 2.4)))
        seg = (o_end - o_start) // n_seg
        for j in range(n_seg):
            s0 = o_start + j * seg
            s0 -= s0 % HOUR
            orders.append([m, max(start, s0), o_start + (j + 1) * seg if j < n_seg - 1 else o_end])
    orders.sort(key=lambda o: (o[1], o[0]))
    poe_rows = []
    for o in orders:
        poe_rows.append((o[1] - rng.randint(5, 40) * 60, "Medications", "", o))
    poe_rows.append((start, "ADT orders", "Admit", None))
    for sub in ("Vitals/Monitoring", "Activity", "Diet Order", "IV access"):
        poe_rows.append((start + rng.randint(10, 120) * 60,
                         "Nutrition" if sub == "Diet Order" else "IV therapy" if sub == "IV access"
                         else "General Care", sub, None))
    poe_rows.append((end - rng.randint(1, 5) * HOUR, "ADT orders", "Discharge", None))
    poe_rows.sort(key=lambda p: p[0])
    provider = _provider(rng)
    for when, otype, sub, o in poe_rows:
        ids.poe += 1
        poe_id = f"{s_sid}-{ids.poe}"
        when = max(start, when)
        R["poe"].append((poe_id, ids.poe, s_sid, s_hadm, ts(when), otype, sub, "New", "", "", provider,
                         "Inactive"))
        if o is not None:
            o.append(poe_id)
            o.append(ids.poe)
    admin_rows = []
    med_names = []
    for m, o_start, o_end, poe_id, poe_seq in orders:
        (drug, fcd, gsn, ndc, strength, form_rx, dose, unit, fval, funit, route, freq, per24,
         proc_type) = _MEDS[m]
        ids.pharm += 1
        pid = ids.pharm
        st, sp = ts(o_start), ts(o_end)
        R["prescriptions"].append((s_sid, s_hadm, pid, poe_id, poe_seq, provider, st, sp, "MAIN", drug,
                                   fcd, gsn, ndc, strength, form_rx, dose, unit, fval, funit,
                                   per24 or "", route))
        if proc_type in ("IV Piggyback", "Continuous Med"):
            base = "0.9% Sodium Chloride (Mini Bag Plus)" if rng.random() < 0.6 else "Iso-Osmotic Dextrose"
            R["prescriptions"].append((s_sid, s_hadm, pid, poe_id, poe_seq, provider, st, sp, "BASE",
                                       base, "", "", "0", "50 mL Bag", "", "50", "mL", "1", "BAG", "",
                                       route))
        enter = o_start - rng.randint(2, 40) * 60
        status = "Discontinued via patient discharge" if o_end >= end - 60 else "Discontinued"
        R["pharmacy"].append((s_sid, s_hadm, pid, poe_id, st, sp, drug, proc_type, status, ts(enter),
                              ts(enter + rng.randint(1, 30) * 60), route, freq,
                              "08, 20" if per24 == 2 else "", "", "", "", "", "", per24 or "", "",
                              "Ongoing", "36", "Hours", "", "Omnicell", ""))
        med_names.append(drug)
        # administrations
        if per24 == 0:
            times = [o_start + 15 * 60]
        else:
            step = DAY // per24
            n_doses = max(1, (o_end - o_start) // step)
            prn = "PRN" in freq
            times = [o_start + i * step for i in range(n_doses)
                     if not prn or rng.random() < 0.25]
        charted_p = 0.97
        for tt in times:
            if tt >= end or rng.random() > charted_p:
                continue
            admin_rows.append((tt, m, drug, dose, unit, strength, route, pid, poe_id, fcd))
    admin_rows.sort(key=lambda a: (a[0], a[1]))
    for tt, m, drug, dose, unit, strength, route, pid, poe_id, fcd in admin_rows:
        ids.emar += 1
        emar_id = f"{s_sid}-{ids.emar}"
        event = _pick(rng, _EMAR_EVENTS)
        chart = tt + rng.randint(-20, 40) * 60
        chart = min(max(chart, start), end)
        R["emar"].append((s_sid, s_hadm, emar_id, ids.emar, poe_id, pid, "", ts(chart), drug, event,
                          ts(tt), ts(chart + rng.randint(0, 20) * 60)))
        given = dose if event in ("Administered", "Confirmed", "Started") else "0"
        R["emar_detail"].append((s_sid, emar_id, ids.emar, "1.1", "", pid, "", "", "", "", "", given,
                                 unit, "", given, unit, fcd, f"{drug} {strength}", "", "", "", "", "",
                                 "", route, "", "", "", "", "", "", "", ""))

    # microbiology
    micro_lines = []
    mrows = R["microbiologyevents"]
    specimens = list(scen.micro) + (["mrsa"] if icu else [])
    positive_org = rng.choice(scen.organisms) if scen.organisms and rng.random() < 0.6 else None
    for n_spec, key in enumerate(specimens):
        spec_itemid, spec_desc, test_itemid, test_name, negative = vocab.SPECIMENS[key]
        ids.mspec += 1
        tm = start + rng.randint(0, 180) * 60
        stored = tm + rng.randint(36, 96) * HOUR
        head = (s_sid, s_hadm, ids.mspec, "", midnight(tm), ts(tm), spec_itemid, spec_desc, 1,
                midnight(stored), ts(stored), test_itemid, test_name)
        grows = positive_org is not None and key in ("urine", "sputum", "wound") or (
            positive_org is not None and key == "blood" and n_spec == 0 and rng.random() < 0.5)
        if key == "wound" and positive_org is None:
            grows = False
        if not grows:
            ids.micro += 1
            mrows.append((ids.micro,) + head + ("", "", "", "", "", "", "", "", "", "", negative))
            micro_lines.append(f"{spec_desc.title()}: {negative.rstrip('.').lower()}")
            continue
        org_itemid, org_name, org_label, panel = vocab.ORGANISMS[positive_org]
        qty = "10,000-100,000 CFU/mL" if key == "urine" else ""
        for ab in vocab.SUSCEPTIBILITY_PANELS[panel]:
            name, s_txt, r_txt = vocab.ANTIBIOTICS[ab]
            resistant = rng.random() < (0.45 if name in ("AMPICILLIN", "OXACILLIN") else 0.1)
            dil = r_txt if resistant else s_txt
            comp = dil[:2] if dil[:2] in ("<=", "=>") else "="
            val = dil.lstrip("<=>")
            ids.micro += 1
            mrows.append((ids.micro,) + head + (org_itemid, org_name, 1, qty, ab, name, dil,
                                                f"{comp:<10}", val, "R" if resistant else "S", ""))
        micro_lines.append(f"{spec_desc.title()}: {org_label}")

    # imaging + radiology notes
    studies = list(scen.imaging)
    if icu:
        ndays = max(0, (icu_out - icu_in) // DAY)
        studies += [("cxr_port", "", "")] * min(6, int(ndays * 0.7))
    extra = int(rng.expovariate(1 / 2.2))
    studies += [(rng.choice(("cxr", "cxr_port", "ct_head", "le_us", "ct_abd", "renal_us",
                             "echo_ct_chest")), "", "")] * min(extra, 5)
    imaging_reports = []
    tm = start + rng.randint(0, 90) * 60
    side = rng.choice(("right", "left"))
    for j, (key, findings, impression) in enumerate(studies):
        tm = min(end - HOUR, tm + (0 if j == 0 else rng.randint(3, 30) * HOUR))
        name, cpt, technique, nfind, nimp = vocab.IMAGING[key]
        findings = (findings or nfind).replace("{side}", side)
        impression = (impression or nimp).replace("{Side}", side.title()).replace("{side}", side)
        ids.rr += 1
        note_id = f"{s_sid}-RR-{ids.rr}"
        # MIMIC has radiology reports whose hadm_id is missing although they fall in a stay
        r_hadm = "" if rng.random() < 0.04 else s_hadm
        text = notes.radiology_report(name, scen.complaint, technique, findings, impression, age,
                                      gender)
        R["radiology"].append((note_id, s_sid, r_hadm, "RR", ids.rr, ts(tm),
                               ts(tm + rng.randint(30, 300) * 60), text))
        R["radiology_detail"].append((note_id, s_sid, "exam_name", name, 1))
        R["radiology_detail"].append((note_id, s_sid, "cpt_code", cpt, 1))
        imaging_reports.append((name, impression))

    # ICU charting
    if icu:
        _icu_events(rng, R, s_sid, s_hadm, stay_id(idx, k), icu_in, icu_out, scen, weight_kg,
                    intubated, pressors)

    # discharge summary (about 60% of admissions have one in MIMIC-IV-Note)
    if not died and rng.random() < 0.6:
        ids.ds += 1
        note_id = f"{s_sid}-DS-{ids.ds}"
        # diagnoses as clinicians write them (abbreviations, synonyms; a share unmentioned),
        # drawn from an RNG of the note's own so the admission's other rows never change
        nrng = random.Random(f"medbench-note|{note_id}")
        dx_titles = [notes.dx_phrase(nrng, c, _ICD9_DX[c] if v == 9 else _TITLES10[c]) for i, (c, v) in enumerate(dx)
                     if nrng.random() < notes.mention_probability(c, v, i == 0)]
        dx_titles = [t for t in dx_titles if t] or [scen.complaint.lower()]
        chronic_names = [notes.dx_phrase(nrng, vocab.CHRONIC[c][1 if icd9 else 0], vocab.CHRONIC[c][2])
                         for c in chronic]
        proc_titles = [_PX_TITLES[v][c] for c, v, _ in procs]
        home_meds = [vocab.MEDS[m] for m in dict.fromkeys(home)]
        dis_meds = [vocab.MEDS[m] for m in dict.fromkeys(
            [m for m in home if m != "metformin" or scen.key != "dka"] + list(scen.discharge_meds))]
        text = notes.discharge_summary(
            rng, scen=scen, gender=gender, age=age, chronic=chronic_names,
            dx_titles=dx_titles, proc_titles=proc_titles, labs_first=first_labs, lab_series=lab_seen,
            micro=micro_lines, imaging=imaging_reports, home_meds=home_meds, discharge_meds=dis_meds,
            disch_loc=disch_loc, los_days=(disch - admit) / DAY, icu=icu, intubated=intubated,
        )
        R["discharge"].append((note_id, s_sid, s_hadm, "DS", ids.ds, midnight(disch),
                               ts(disch + rng.randint(2, 40) * HOUR), text))
        R["discharge_detail"].append((note_id, s_sid, "author", "___", 1))
    return {"disch": disch, "died": died}


def _icu_events(rng, R, s_sid, s_hadm, stay, icu_in, icu_out, scen, weight_kg, intubated, pressors):
    ce = R["chartevents"]
    s_stay = str(stay)
    cg = str(rng.randint(1000, 99999))
    t = icu_in - icu_in % HOUR + HOUR
    ce.append((s_sid, s_hadm, s_stay, cg, ts(icu_in + 600), ts(icu_in + 900), "226512",
               f"{weight_kg:.1f}", f"{weight_kg:.1f}", "kg", "0"))
    hour = 0
    gauss = rng.gauss
    vit_mult = scen.vitals
    while t < icu_out:
        decay = 0.97 ** hour
        charted = ts(t)
        stored = ts(t + 300 + rng.randint(0, 1500))
        vals = {}
        for item, mean, sd, _dec, unit in vocab.VITALS:
            m = vit_mult.get(item)
            mu = mean * (1 + (m - 1) * decay) if m else mean
            v = gauss(mu, sd)
            if item == 220277:
                v = min(100.0, v)
            v = round(v)
            vals[item] = v
            ce.append((s_sid, s_hadm, s_stay, cg, charted, stored, str(item), str(v), str(v), unit, "0"))
        mbp = round((vals[220179] + 2 * vals[220180]) / 3)
        ce.append((s_sid, s_hadm, s_stay, cg, charted, stored, "220181", str(mbp), str(mbp), "mmHg", "0"))
        if hour % 4 == 0:
            fever = scen.key in ("sepsis_uti", "pneumonia", "cellulitis", "cholecystitis")
            temp = gauss(98.6 + (2.5 * decay if fever else 0), 0.6)
            ce.append((s_sid, s_hadm, s_stay, cg, charted, stored, "223761", f"{temp:.1f}", f"{temp:.1f}",
                       "°F", "0"))
            ce.append((s_sid, s_hadm, s_stay, cg, charted, stored, "220048",
                       "AF (Atrial Fibrillation)" if scen.key == "afib_rvr" and decay > 0.5
                       else "SR (Sinus Rhythm)", "", "", "0"))
            verbal = "No Response-ETT" if intubated and decay > 0.6 else "Oriented"
            for item, val, num in (("220739", "Spontaneously", "4"), ("223900", verbal,
                                   "1" if verbal != "Oriented" else "5"), ("223901", "Obeys Commands", "6")):
                ce.append((s_sid, s_hadm, s_stay, cg, charted, stored, item, val, num, "", "0"))
        if hour % 2 == 1:
            uo = max(5, int(gauss(70, 30)))
            R["outputevents"].append((s_sid, s_hadm, s_stay, cg, charted, ts(t + 600), "226559", uo, "ml"))
        hour += 1
        t += HOUR
    weight = f"{weight_kg:.1f}"
    order = 1_000_000 + rng.randint(0, 8_999_999)
    for j in range(rng.randint(1, 3)):  # fluid boluses
        st = icu_in + j * 4 * HOUR
        if st + HOUR >= icu_out:
            break
        R["inputevents"].append((s_sid, s_hadm, s_stay, cg, ts(st), ts(st + HOUR), ts(st + HOUR + 300),
                                 "225158", "500", "ml", "500", "mL/hour", order + j, order + j,
                                 "03-IV Fluid Bolus", "", "Main order parameter", "Bolus", weight, "500",
                                 "ml", "0", "0", "FinishedRunning", "500", "500"))
    if pressors:
        st, en = icu_in + HOUR, min(icu_out, icu_in + int(rng.uniform(12, 48)) * HOUR)
        R["inputevents"].append((s_sid, s_hadm, s_stay, cg, ts(st), ts(en), ts(en), "221906",
                                 f"{0.06 * weight_kg * (en - st) / 60 / 1000:.4f}", "mg", "0.06",
                                 "mcg/kg/min", order + 10, order + 10, "01-Drips", "02-Fluids (Crystalloids)",
                                 "Main order parameter", "Continuous Med", weight, "250", "ml", "1", "0",
                                 "FinishedRunning", "4", "0.06"))
    proc = R["procedureevents"]
    minutes = (icu_out - icu_in) // 60
    proc.append((s_sid, s_hadm, s_stay, cg, ts(icu_in), ts(icu_out), ts(icu_out), "224275", minutes,
                 "min", "Left Antecubital", "Peripheral", order + 20, order + 20, "Peripheral Lines",
                 "ContinuousProcess", weight, "1", "0", "FinishedRunning", minutes, "1"))
    if pressors:
        proc.append((s_sid, s_hadm, s_stay, cg, ts(icu_in + 1800), ts(icu_out), ts(icu_out), "224263",
                     minutes - 30, "min", "Right IJ", "Invasive Venous", order + 21, order + 21,
                     "Invasive Lines", "ContinuousProcess", weight, "1", "0", "FinishedRunning",
                     minutes - 30, "1"))
    if intubated:
        proc.append((s_sid, s_hadm, s_stay, cg, ts(icu_in), ts(icu_out - HOUR), ts(icu_out - HOUR), "225792",
                     minutes - 60, "min", "", "", order + 22, order + 22, "Ventilation", "ContinuousProcess",
                     weight, "1", "0", "FinishedRunning", minutes - 60, "1"))


# ---------------------------------------------------------------------------------------------
# chunks, dictionaries, writers
# ---------------------------------------------------------------------------------------------
def _render_chunk(args: tuple[int, int, int]) -> dict[str, tuple[bytes, int]]:
    """Rows of patients [start, stop) as CSV bytes per table (no header)."""
    seed, start, stop = args
    out = _Out()
    for idx in range(start, stop):
        _patient(seed, idx, out)
    rendered = {}
    for name, rows in out.rows.items():
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        rendered[name] = (buf.getvalue().encode("utf-8"), len(rows))
    return rendered


def _dictionary_rows() -> dict[str, list]:
    import simple_icd_10_cm as icd

    dx = [(c, 9, t) for c, t in sorted(vocab.ICD9_DIAGNOSES.items())]
    # some codes are both a block and a category (e.g. Z66) and are listed twice
    for code in dict.fromkeys(icd.get_all_codes(with_dots=False)):
        if not icd.is_chapter(code) and (not icd.is_block(code) or icd.is_category(code)):
            dx.append((code, 10, icd.get_description(code)))
    dx.sort(key=lambda r: (r[0], r[1]))
    px = [(c, v, t) for v, titles in _PX_TITLES.items() for c, t in titles.items()]
    px.sort(key=lambda r: (r[0], r[1]))
    labitems = [(item, v[0], v[1], v[2]) for item, v in vocab.LABS.items()]
    labitems += [(item, v[0], v[1], v[2]) for item, v in vocab.TEXT_LABS.items()]
    labitems += [(r[0], r[1], r[2], r[3]) for r in tail_vocab.LABS + tail_vocab.TEXT_LABS]
    labitems.sort()
    items = sorted((item,) + v for item, v in vocab.D_ITEMS.items())
    return {"d_icd_diagnoses": dx, "d_icd_procedures": px, "d_labitems": labitems, "d_items": items}


def _open_gz(path: Path):
    raw = open(path, "wb")  # noqa: SIM115 - closed by generate() after the gzip stream
    # filename='' and mtime=0 keep the gzip header free of names and timestamps
    return raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=COMPRESSLEVEL, mtime=0)


def _header(spec) -> bytes:
    return (",".join(spec.columns) + "\n").encode("utf-8")


def default_workers() -> int:
    """Generator processes; the main process compresses and writes while they generate."""
    cpus = os.cpu_count() or 1
    return 1 if cpus < 2 else min(4, cpus)


def generate(out: str | os.PathLike, patients: int, seed: int = 0, show_progress: bool = True,
             workers: int | None = None, chunk: int = CHUNK) -> dict:
    """Write a synthetic MIMIC-IV of `patients` patients to `out` (built aside, renamed in place).

    Returns {"rows": {relpath: row count}, "seconds": float, "out": str}.
    """
    if patients < 1:
        raise UserError(f"--patients must be at least 1 (got {patients})")
    if patients > MAX_PATIENTS:
        raise UserError(f"--patients must be at most {MAX_PATIENTS:,} (got {patients:,})")
    out = Path(out).expanduser()
    workers = default_workers() if workers is None else max(1, workers)
    started = time.perf_counter()
    counts: dict[str, int] = {}
    with atomic_dir(out) as tmp:
        for module in MODULES:
            (tmp / module).mkdir()
        files = {}
        try:
            for spec in SPECS:
                if spec.name in DICTIONARY_TABLES:
                    continue
                raw, gz = _open_gz(tmp / spec.module / f"{spec.name}.csv.gz")
                gz.write(_header(spec))
                files[spec.name] = (raw, gz, spec)
                counts[spec.relpath] = 0
            jobs = [(seed, s, min(patients, s + chunk)) for s in range(0, patients, chunk)]
            with _progress(show_progress) as progress:
                task = progress.add_task("synth patients", total=patients) if progress else None
                for (_seed, s, e), rendered in zip(jobs, _run(jobs, workers)):
                    for name, (data, n) in rendered.items():
                        raw, gz, spec = files[name]
                        gz.write(data)
                        counts[spec.relpath] += n
                    if progress:
                        progress.advance(task, e - s)
        finally:
            for raw, gz, _spec in files.values():
                gz.close()
                raw.close()
        for name, rows in _dictionary_rows().items():
            spec = next(s for s in SPECS if s.name == name)
            raw, gz = _open_gz(tmp / spec.module / f"{name}.csv.gz")
            with raw, gz:
                gz.write(_header(spec))
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows(rows)
                gz.write(buf.getvalue().encode("utf-8"))
            counts[spec.relpath] = len(rows)
        rel = sorted(f"{spec.relpath}.csv.gz" for spec in SPECS)
        sums = "".join(f"{sha256_file(tmp / r)} {r}\n" for r in rel)
        (tmp / "SHA256SUMS.txt").write_text(sums, encoding="utf-8")
        (tmp / "MEDBENCH_SYNTHETIC").write_text("synthetic MIMIC-IV made by medbench\n", encoding="utf-8")
    return {"rows": dict(sorted(counts.items())), "seconds": time.perf_counter() - started,
            "out": str(out)}


def _run(jobs, workers: int):
    """Rendered chunks in job order; a bounded window of work in flight keeps memory flat."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _render_chunk(job)
        return
    window = workers * 2
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        pending = []
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(_render_chunk, job))
            if len(pending) >= window:
                break
        while pending:
            result = pending.pop(0).result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_render_chunk, nxt))
            yield result


def _progress(show: bool):
    if not show:
        return contextlib.nullcontext()
    from medbench.progress import progress_bar

    return progress_bar()
