"""`baseline:qa-lookup`: regex look-ups on the rendered record, abstaining when no rule applies.

Each rule recognises a question by its wording (the SQL family's phrasings), finds the lines of
the context (`prompts/qa_context.j2`) it needs and computes the answer: patient and admission
fields, length of stay, admission count and first admission, lab first/last/max/min/mean/count for
a test named in the question, diagnoses (all, primary), care units (all, first), services, ICU
stay count, prescription count and routes of a drug named in the question. Questions about "now",
"next", opinions and the like match no rule: the baseline answers `null`.

Tuning reads train gold only (through `TrainView`): a rule whose answers are right on fewer than
`MIN_TRAIN_ACCURACY` of the (at least `MIN_TRAIN_ITEMS`) train questions it answers is switched
off (it abstains instead): abstaining scores 0, a wrong answer −10 under RS(10).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Callable
from typing import Any

from medbench.tasks.qa.answer import answer_matches

MIN_TRAIN_ACCURACY = 0.5
MIN_TRAIN_ITEMS = 3

_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
_BLOCK = re.compile(r"^=== ADMISSION (\d+) \(patient (\d+)\) ===$", re.MULTILINE)
_PATIENT = re.compile(r"^PATIENT: gender (.*?); age (\d*) at admission(?:; date of death (\S+))?\.$", re.MULTILINE)
_ADMISSION = re.compile(rf"^ADMISSION: type (.*?); admitted ({_TS})? from (.*?); discharged ({_TS})? to (.*?)"
                        r"(?:; died .*)?\.$", re.MULTILINE)
_DIED = re.compile(r"^DIED IN HOSPITAL: (yes|no)\.$", re.MULTILINE)
_SOCIAL = re.compile(r"^INSURANCE: (.*?)\. LANGUAGE: (.*?)\. MARITAL STATUS: (.*?)\. RACE: (.*?)\.$", re.MULTILINE)
_LAB = re.compile(rf"^- ({_TS}) (.+?) \(([^()]*)\): (-?\d+(?:\.\d+)?) ", re.MULTILINE)
_TRANSFER = re.compile(rf"^- ({_TS})? to (?:{_TS})? \S+ (.+)$", re.MULTILINE)
_SERVICE = re.compile(rf"^- {_TS} (\S+)$", re.MULTILINE)
_DX = re.compile(r"^- (\d+)\. (.+) \(ICD-\d+ [^()]*\)$", re.MULTILINE)
_RX = re.compile(rf"^- ({_TS}) (.+)$", re.MULTILINE)


def _section(block: str, title: str) -> str:
    """The lines of one section (after its heading line, up to the next blank line)."""
    at = block.find(f"\n{title}")
    if at < 0:
        return ""
    rest = block[at + 1:]
    rest = rest[rest.find("\n") + 1:]
    end = rest.find("\n\n")
    return rest if end < 0 else rest[:end]


def _blocks(context: str) -> list[str]:
    starts = [m.start() for m in _BLOCK.finditer(context)]
    return [context[a:b] for a, b in zip(starts, [*starts[1:], len(context)])]


def _ts(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.3f}".rstrip("0").rstrip(".")


def _named(question: str, names: list[str]) -> str | None:
    """The longest of `names` that the question mentions (case-sensitive, as the slots are)."""
    hits = [n for n in set(names) if n and n in question]
    return max(hits, key=lambda n: (len(n), n)) if hits else None


def _labs(block: str) -> list[tuple[str, str, float]]:
    sec = _section(block, "LAB RESULTS")
    return [(m.group(1), m.group(2), float(m.group(4))) for m in _LAB.finditer(sec)]


def _lab_rule(q: str, block: str) -> tuple[str, str] | None:
    if re.search(r"hours|first day|final day|last day|discharge|abnormal|reference|limit|since|change|differ|"
                 r"by how much|between|higher|lower than|when|what time|time of|now|next|why|order|ever",
                 q, re.IGNORECASE):
        return None
    labs = _labs(block)
    label = _named(q, [lab[1] for lab in labs])
    if label is None:
        return None
    vals = [v for _, lab, v in sorted(labs) if lab == label]
    ql = q.lower()
    if re.search(r"how many|count|number of", ql):
        return "lab_count", _num(len(vals))
    if re.search(r"\blast\b|final|most recent|latest", ql):
        return "lab_last", _num(vals[-1])
    if re.search(r"\bfirst\b|earliest|initial", ql):
        return "lab_first", _num(vals[0])
    if re.search(r"highest|maximum|peak", ql):
        return "lab_max", _num(max(vals))
    if re.search(r"lowest|minimum", ql):
        return "lab_min", _num(min(vals))
    if re.search(r"average|mean", ql):
        return "lab_mean", _num(statistics.fmean(vals))
    return None


def _rx_rule(q: str, block: str) -> tuple[str, str] | None:
    lines = [m.group(2) for m in _RX.finditer(_section(block, "PRESCRIPTIONS"))]
    ql = q.lower()
    if re.search(r"doctor|name|why|should|reason|dose|first|hours|after|different|distinct|administration|"
                 r"doses|medication record|charted|not given", ql):
        return None
    # a drug named in the question: the longest prefix of a prescription line found in the question
    drugs = []
    for line in lines:
        words = line.split(" ")
        drugs += [" ".join(words[:k]) for k in range(1, len(words) + 1)]
    drug = _named(q, drugs)
    if drug is None or len(drug) < 3:
        return None
    mine = [line for line in lines if line == drug or line.startswith(drug + " ")]
    if "route" in ql:
        routes = sorted({line.rsplit(" ", 1)[-1] for line in mine})
        return ("rx_route", "\n".join(routes)) if routes else None
    if re.search(r"how many|count|number of", ql):
        return "rx_count", _num(len(mine))
    return None


#: the answer type each rule produces: a rule never answers a question of another type
RULE_TYPES = {"admission_count": "number", "first_admission": "date", "gender": "string",
              "date_of_death": "date", "age": "number", "insurance": "string", "language": "string",
              "marital_status": "string", "race": "string", "died": "yesno", "admission_type": "string",
              "admission_location": "string", "discharge_location": "string", "length_of_stay": "number",
              "primary_diagnosis": "string", "diagnoses": "list", "careunits": "list",
              "first_careunit": "string", "services": "list", "icu_count": "number",
              "lab_count": "number", "lab_last": "number", "lab_first": "number", "lab_max": "number",
              "lab_min": "number", "lab_mean": "number", "rx_route": "list", "rx_count": "number"}


def lookup(item: dict) -> tuple[str, str] | None:
    """(rule, answer text) for one item, or None (abstain)."""
    found = _lookup(item)
    if found is None or RULE_TYPES[found[0]] != item.get("answer_type"):
        return None
    return found


def _lookup(item: dict) -> tuple[str, str] | None:
    q, context = item["question"], item["context"]
    ql = q.lower()
    blocks = _blocks(context)
    if not blocks:
        return None
    if re.search(r"\bnow\b|\bnext\b|should|why|likely|name of|address|phone|email|blood type|allerg|"
                 r"occupation|religion|room|genetic|home|policy|follow-up|contact|cigarette|symptom", ql):
        return None
    first = blocks[0]
    if item.get("hadm_id") is None:  # patient-level questions
        if re.search(r"how many times has .* been admitted|count the hospital admissions|number of hospital stays", ql):
            return "admission_count", str(len(blocks))
        if re.search(r"first admitted|earliest hospital admission|first hospital stay", ql) and "diagnos" not in ql:
            times = sorted(m.group(2) for b in blocks for m in _ADMISSION.finditer(b) if m.group(2))
            return ("first_admission", times[0]) if times else None
        if re.search(r"gender|male or female|\bsex\b", ql):
            m = _PATIENT.search(first)
            return ("gender", m.group(1)) if m and m.group(1) else None
        if re.search(r"date of death|what date did .* die", ql):
            m = _PATIENT.search(first)
            return ("date_of_death", m.group(3)) if m and m.group(3) else None
        return None
    pm, am, sm, dm = _PATIENT.search(first), _ADMISSION.search(first), _SOCIAL.search(first), _DIED.search(first)
    rules: list[tuple[str, Callable[[], str | None]]] = [
        (r"how old|age in years|age of patient", lambda: pm and pm.group(2)),
        (r"insurance", lambda: sm and sm.group(1)),
        (r"language", lambda: sm and sm.group(2)),
        (r"marital", lambda: sm and sm.group(3)),
        (r"\brace\b", lambda: sm and sm.group(4)),
        (r"die in the hospital|in-hospital death|end with the patient's death", lambda: dm and dm.group(1)),
        (r"admission type|type of admission", lambda: am and am.group(1)),
        (r"admitted from|admission location|arrive for", lambda: am and am.group(3)),
        (r"discharged to|discharge location|go at the end", lambda: am and am.group(5)),
    ]
    for name, (pattern, fn) in zip(("age", "insurance", "language", "marital_status", "race", "died",
                                    "admission_type", "admission_location", "discharge_location"), rules):
        if re.search(pattern, ql):
            value = fn()
            return (name, value) if value else None
    if re.search(r"how many days did hospital admission|length of stay, in days|how long in days was hospital stay", ql):
        if am and am.group(2) and am.group(4):
            return "length_of_stay", _num(round((_ts(am.group(4)) - _ts(am.group(2))).total_seconds() / 86400.0, 3))
        return None
    if re.search(r"primary diagnosis|listed first|principal diagnosis", ql):
        dx = [m.group(2) for m in _DX.finditer(_section(first, "DIAGNOSES")) if m.group(1) == "1"]
        return ("primary_diagnosis", dx[0]) if len(dx) == 1 else None
    if re.search(r"what diagnoses were recorded|list the diagnoses|conditions was .* diagnosed", ql):
        dx = sorted({m.group(2) for m in _DX.finditer(_section(first, "DIAGNOSES"))})
        return ("diagnoses", "\n".join(dx)) if dx else None
    if re.search(r"care units|hospital units", ql):
        units = sorted({m.group(2).strip() for m in _TRANSFER.finditer(_section(first, "TRANSFERS")) if m.group(2).strip()})
        return ("careunits", "\n".join(units)) if units else None
    if re.search(r"first care unit|start the hospital stay|earliest care unit", ql):
        units = [(m.group(1), m.group(2).strip()) for m in _TRANSFER.finditer(_section(first, "TRANSFERS"))
                 if m.group(1) and m.group(2).strip()]
        return ("first_careunit", min(units)[1]) if units else None
    if re.search(r"clinical services|services patient|hospital services", ql):
        svc = sorted({m.group(1) for m in _SERVICE.finditer(_section(first, "SERVICES"))})
        return ("services", "\n".join(svc)) if svc else None
    if re.search(r"how many icu stays|count the intensive care unit stays|admitted to the icu during", ql):
        return "icu_count", str(len([ln for ln in _section(first, "ICU STAYS").splitlines() if ln.startswith("- ")]))
    return _lab_rule(q, first) or _rx_rule(q, first)


def answer_text(found: tuple[str, str] | None) -> str:
    return "null" if found is None else f"Answer: {found[1]}"


def build_qa_lookup(view: Any, seed: int = 0) -> tuple[Callable[[dict], str], dict]:
    """(predict, info): the look-up with the rules that are reliable on train switched on."""
    tally: dict[str, list[int]] = {}
    for item, gold in view.train_pairs():
        found = lookup(item)
        if found is None:
            continue
        ok = bool(gold.get("answerable")) and answer_matches(found[1], gold.get("answer") or [], gold["answer_type"])
        tally.setdefault(found[0], [0, 0])[int(ok)] += 1
    off = sorted(r for r, (bad, good) in tally.items()
                 if bad + good >= MIN_TRAIN_ITEMS and good / (bad + good) < MIN_TRAIN_ACCURACY)

    def predict(item: dict) -> str:
        found = lookup(item)
        return answer_text(None if found is None or found[0] in off else found)

    train = {r: {"right": good, "wrong": bad} for r, (bad, good) in sorted(tally.items())}
    return predict, {"name": "qa-lookup", "rules_off": off, "train": train,
                     "min_train_accuracy": MIN_TRAIN_ACCURACY}
