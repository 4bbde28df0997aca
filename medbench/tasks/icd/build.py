"""ICD-10-CM coding items: one per admission with at least one valid ICD-10-CM diagnosis code.

Input text: the admission's discharge note(s) with the discharge-diagnosis section (and the
diagnosis lists under it) cut out, when the admission has a note; otherwise a clinical summary
rendered from the packet (`prompts/icd_summary.j2`) that leaves out diagnoses, DRG codes and
notes (radiology impressions name diagnoses). Gold: the dotted codes, sorted, with their
3-character categories and titles; ICD-9 and unknown codes are dropped and counted.
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


def summary_context(pk: dict) -> dict[str, Any]:
    """What icd_summary.j2 shows: no diagnoses, DRGs or notes, by construction."""
    adm, pat = pk["admission"], pk["patient"]
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
        "admission_type": (adm.get("admission_type") or "unknown").lower(),
        "admission_location": (adm.get("admission_location") or "unknown").lower(),
        "admittime": adm.get("admittime"), "dischtime": adm.get("dischtime"),
        "los_days": _days(adm.get("admittime"), adm.get("dischtime")),
        "discharge_location": (adm.get("discharge_location") or "not recorded").lower(),
        "services": _distinct(s.get("curr_service") for s in pk.get("services", [])),
        "careunits": _distinct(t.get("careunit") for t in pk.get("transfers", [])
                               if t.get("careunit") not in (None, "UNKNOWN")),
        "icu_stays": [f"{s.get('first_careunit')}, {s['los']:.1f} days" if s.get("los") is not None
                      else f"{s.get('first_careunit')}" for s in pk.get("icu_stays", [])],
        "procedures": _distinct(f"{p['title']} ({p.get('chartdate')})" for p in pk.get("procedures", [])
                                if p.get("title")),
        "medications": _distinct(r.get("drug") for r in pk.get("prescriptions", []))[:MAX_SUMMARY_MEDS],
        "labs": labs[:MAX_SUMMARY_LABS],
        "micro": micro[:MAX_SUMMARY_MICRO],
    }


def icd_text(pk: dict) -> tuple[str, str]:
    """(source, text) for one packet dict."""
    notes = [n["text"] for n in pk.get("discharge_notes", []) if n.get("text")]
    if notes:
        return "discharge_note", "\n\n".join(strip_discharge_diagnosis(t).strip() for t in notes)
    return "summary", render_template("icd_summary.j2", s=summary_context(pk)).strip()


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
    from medbench.extract.packet import packet_dict

    adms = ctx.admissions()
    ctx.progress.start(len(adms))
    counters = {"icd9": 0, "invalid": 0}
    sources = {"discharge_note": 0, "summary": 0}
    no_codes = 0
    items, gold = [], []
    for packet in ctx.iter_packets([a[1] for a in adms]):
        ctx.progress.advance()
        pk = packet_dict(packet)
        codes, primary, db_titles = gold_codes(pk, counters)
        if not codes:
            no_codes += 1
            continue
        source, text = icd_text(pk)
        sources[source] += 1
        item_id = make_item_id("icd", pk["hadm_id"], TEMPLATE_VERSION)
        items.append({"item_id": item_id, "task": "icd", "split": split_for_subject(pk["subject_id"]),
                      "subject_id": pk["subject_id"], "hadm_id": pk["hadm_id"], "source": source,
                      "text": text})
        gold.append({"item_id": item_id, "task": "icd", "codes": codes, "primary_code": primary,
                     "categories": sorted({category(c) for c in codes}),
                     "titles": [title(c) or db_titles.get(c, "") for c in codes]})
    info = {"dropped_codes": counters, "admissions_without_valid_codes": no_codes,
            "text_source": sources}
    return TaskOutput(items=items, gold=gold, info=info)
