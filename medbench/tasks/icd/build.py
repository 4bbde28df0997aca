"""ICD-10-CM coding items: one per admission with at least one valid ICD-10-CM diagnosis code.

Input text: the admission's discharge note(s) with the discharge-diagnosis section (and the
diagnosis lists under it) cut out, when the admission has a note; otherwise a clinical summary
rendered from the packet (`prompts/icd_summary.j2`) that leaves out diagnoses, DRG codes and
notes (radiology impressions name diagnoses). Free text from other tables can still name a
diagnosis (a prescription "Insulin (Regular) for Hyperkalemia"), so the summary also follows two
rules: an indication clause ("for <condition>", "(For ...)") is cut from drug names, and any entry
(or admission field) that mentions one of the admission's gold diagnosis titles - the whole title
or its head, the part before the first comma ("Anemia" of "Anemia, unspecified") - as words,
case-insensitively, is left out. Gold: the dotted codes, sorted, with their 3-character
categories and titles; ICD-9 and unknown codes are dropped and counted.
"""

from __future__ import annotations

import re
from typing import Any

from medbench.release import TaskOutput
from medbench.tasks.base import make_item_id, render_template, split_for_subject
from medbench.tasks.icd.parse import category, is_valid_code, normalize_code, title

TEMPLATE_VERSION = "icd-v1"
MAX_SUMMARY_MEDS = 40
MAX_SUMMARY_LABS = 40
MAX_SUMMARY_MICRO = 20

# A section heading in MIMIC-IV-Note discharge notes: a short line ending in ':' (text may follow).
_HEADING_RE = re.compile(r"^\s*([A-Za-z][A-Za-z /&'()-]{1,48}):")
_DX_HEADING_RE = re.compile(r"^\s*(?:primary |secondary |final |principal )?discharge\s+diagnos[ie]s\b",
                            re.IGNORECASE)
# Headings that belong to the diagnosis lists (Primary:, Secondary diagnoses:, ...).
_DX_SUBHEADING_RE = re.compile(r"^\s*(?:primary|secondary|principal|active|chronic|other|final|"
                               r"resolved)?\s*(?:diagnos[ie]s|problems?|issues?)?\s*$", re.IGNORECASE)


def strip_discharge_diagnosis(text: str) -> str:
    """Remove every 'Discharge Diagnosis' section, up to the next unrelated heading."""
    lines = text.split("\n")
    out: list[str] = []
    skipping = False
    for line in lines:
        if _DX_HEADING_RE.match(line):
            skipping = True
            continue
        if skipping:
            m = _HEADING_RE.match(line)
            if m and not _DX_SUBHEADING_RE.match(m.group(1)) and "diagnos" not in m.group(1).lower():
                skipping = False
            else:
                continue
        out.append(line)
    return "\n".join(out)


def _days(start: str | None, end: str | None) -> str:
    import datetime as dt

    try:
        d = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)  # type: ignore[arg-type]
        return f"{d.total_seconds() / 86400:.1f}"
    except (TypeError, ValueError):
        return "unknown"


def _distinct(values) -> list[str]:
    seen, out = set(), []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out


# An indication in a drug name: "Insulin (Regular) for Hyperkalemia", "Ketamine (For Intubation)".
_INDICATION_RE = re.compile(r"\s*\(\s*for\b[^)]*\)|\s+for\b.*$", re.IGNORECASE)
MIN_TITLE_HEAD = 4  # shorter heads are too generic to withhold


def strip_indication(drug: str | None) -> str | None:
    """A drug name without its indication clause (which may name the diagnosis)."""
    if not drug:
        return drug
    return _INDICATION_RE.sub("", drug).strip() or None


def title_matcher(titles) -> re.Pattern | None:
    """A case-insensitive, word-bounded pattern for each title and its head (before the first
    comma); None when there is nothing to withhold."""
    needles = set()
    for t in titles:
        t = " ".join((t or "").split())
        if not t:
            continue
        needles.add(t.lower())
        head = t.split(",", 1)[0].strip()
        if len(head) >= MIN_TITLE_HEAD:
            needles.add(head.lower())
    if not needles:
        return None
    alts = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in sorted(needles, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)", re.IGNORECASE)


def summary_context(pk: dict, withhold: re.Pattern | None = None) -> dict[str, Any]:
    """What icd_summary.j2 shows: no diagnoses, DRGs or notes, by construction; no drug
    indications; and no entry matching `withhold` (the gold titles, see `title_matcher`)."""
    adm, pat = pk["admission"], pk["patient"]

    def ok(text: Any) -> bool:
        return withhold is None or not withhold.search(str(text))

    def keep(values) -> list[str]:
        return [v for v in values if ok(v)]

    def scalar(value: str | None, missing: str) -> str:
        return (value or missing).lower() if ok(value or "") else "not shown"

    labs = []
    seen_labs: set[str] = set()
    for lab in pk.get("labs", []):
        if not lab.get("flag") or not lab.get("label") or lab["label"] in seen_labs:
            continue
        seen_labs.add(lab["label"])
        val = lab.get("value") or ("" if lab.get("valuenum") is None else f"{lab['valuenum']:g}")
        labs.append(f"{lab['label']}: {val} {lab.get('unit') or ''}".rstrip() + f" ({lab['flag']})")
    micro = _distinct(
        f"{m.get('spec_type_desc') or 'specimen'}: {m.get('org_name') or 'no organism reported'}"
        for m in pk.get("microbiology", []))
    return {
        "gender": {"F": "female", "M": "male"}.get(pat.get("gender") or "", "unknown sex"),
        "age": pat.get("age_at_admission") if pat.get("age_at_admission") is not None else "unknown",
        "admission_type": scalar(adm.get("admission_type"), "unknown"),
        "admission_location": scalar(adm.get("admission_location"), "unknown"),
        "admittime": adm.get("admittime"), "dischtime": adm.get("dischtime"),
        "los_days": _days(adm.get("admittime"), adm.get("dischtime")),
        "discharge_location": scalar(adm.get("discharge_location"), "not recorded"),
        "services": keep(_distinct(s.get("curr_service") for s in pk.get("services", []))),
        "careunits": keep(_distinct(t.get("careunit") for t in pk.get("transfers", [])
                                    if t.get("careunit") not in (None, "UNKNOWN"))),
        "icu_stays": keep(f"{s.get('first_careunit')}, {s['los']:.1f} days" if s.get("los") is not None
                          else f"{s.get('first_careunit')}" for s in pk.get("icu_stays", [])),
        "procedures": keep(_distinct(f"{p['title']} ({p.get('chartdate')})" for p in pk.get("procedures", [])
                                     if p.get("title"))),
        "medications": keep(_distinct(strip_indication(r.get("drug"))
                                      for r in pk.get("prescriptions", [])))[:MAX_SUMMARY_MEDS],
        "labs": keep(labs)[:MAX_SUMMARY_LABS],
        "micro": keep(micro)[:MAX_SUMMARY_MICRO],
    }


def icd_text(pk: dict, gold_titles=()) -> tuple[str, str]:
    """(source, text) for one packet dict; `gold_titles` are withheld from a summary."""
    notes = [n["text"] for n in pk.get("discharge_notes", []) if n.get("text")]
    if notes:
        return "discharge_note", "\n\n".join(strip_discharge_diagnosis(t).strip() for t in notes)
    ctx = summary_context(pk, title_matcher(gold_titles))
    return "summary", render_template("icd_summary.j2", s=ctx).strip()


def gold_codes(pk: dict, counters: dict[str, int]) -> tuple[list[str], str | None, dict[str, str]]:
    """Valid dotted codes (sorted), the primary (lowest seq_num) valid code, and titles."""
    valid: dict[str, int] = {}
    db_titles: dict[str, str] = {}
    for d in pk.get("diagnoses", []):
        if d.get("icd_version") != 10:
            counters["icd9"] += 1
            continue
        code = normalize_code(d.get("icd_code"))
        if not is_valid_code(code):
            counters["invalid"] += 1
            continue
        seq = d.get("seq_num") if d.get("seq_num") is not None else 10**6
        if code not in valid or seq < valid[code]:
            valid[code] = seq
        if d.get("title"):
            db_titles.setdefault(code, d["title"])
    primary = min(valid, key=lambda c: (valid[c], c)) if valid else None
    return sorted(valid), primary, db_titles


def build_icd_task(ctx) -> TaskOutput:

    adms = ctx.admissions()
    ctx.progress.start(len(adms))
    counters = {"icd9": 0, "invalid": 0}
    sources = {"discharge_note": 0, "summary": 0}
    no_codes = 0
    items, gold = ctx.spool("items", "icd"), ctx.spool("gold")  # streamed to disk
    for pk in ctx.iter_packet_dicts([a[1] for a in adms]):
        ctx.progress.advance()
        codes, primary, db_titles = gold_codes(pk, counters)
        if not codes:
            no_codes += 1
            continue
        titles = [title(c) or db_titles.get(c, "") for c in codes]
        source, text = icd_text(pk, [*titles, *db_titles.values()])
        sources[source] += 1
        item_id = make_item_id("icd", pk["hadm_id"], TEMPLATE_VERSION)
        items.add({"item_id": item_id, "task": "icd", "split": split_for_subject(pk["subject_id"]),
                      "subject_id": pk["subject_id"], "hadm_id": pk["hadm_id"], "source": source,
                      "text": text})
        gold.add({"item_id": item_id, "task": "icd", "codes": codes, "primary_code": primary,
                     "categories": sorted({category(c) for c in codes}),
                     "titles": titles})
    info = {"dropped_codes": counters, "admissions_without_valid_codes": no_codes,
            "text_source": sources}
    return TaskOutput(items=items, gold=gold, info=info)
