"""The submission page's drill-down (one readable card per item) and the family's own error
breakdown (SQL per-family accuracy, ICD per-chapter micro-F1, conversation per-fact-type recall).

Every value here comes from a result file and is untrusted: it is returned as plain strings and
lists for the autoescaping templates, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

MAX_CHARS = 3000


def _text(v: Any) -> str:
    if v is None:
        return ""
    t = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, indent=1)
    return t if len(t) <= MAX_CHARS else t[:MAX_CHARS] + f"\n… [{len(t) - MAX_CHARS} more characters in the result file]"


def _family(task: str) -> Any:
    """The result's family, or the contract's defaults for a task this install does not know."""
    from medbench.errors import UserError
    from medbench.tasks import get_family
    from medbench.tasks.contract import TaskFamily

    try:
        return get_family(task)
    except UserError:
        return TaskFamily()


def typed_records(r: dict) -> list[Any]:
    """The result's records read through its family's `record_model` (the contract's
    `ItemRecord` for a family without one): a broken record is one UserError naming the item."""
    from pydantic import ValidationError

    from medbench.errors import UserError
    from medbench.tasks.contract import ItemRecord

    model = getattr(_family(r["task"]), "record_model", None) or ItemRecord
    out = []
    for rec in r["records"]:
        try:
            out.append(model.model_validate(rec))
        except ValidationError as e:
            err = e.errors()[0]
            where = "/".join(str(p) for p in err["loc"]) or "(record)"
            raise UserError(f"result {r.get('result_id')}: item {rec.get('item_id')!r}: {r['task']} record "
                            f"{where}: {err['msg'][:160]}") from None
    return out


def outcome(family: Any, rec: Any) -> str:
    """One typed record's outcome label: "missing", else what its family says."""
    return "missing" if rec.missing else family.item_outcome(rec)


def _seen(rec: Any, gold: dict) -> bool | None:
    inp = getattr(rec, "input", None)
    for src in ({"template_seen_in_train": getattr(rec, "template_seen_in_train", None)},
                inp if isinstance(inp, dict) else {}, gold):
        if isinstance(src, dict) and isinstance(src.get("template_seen_in_train"), bool):
            return src["template_seen_in_train"]
    return None


def _chapter(code: str) -> str:
    from medbench.tasks.icd.parse import chapter

    return chapter(code)


def drill_items(r: dict) -> list[dict]:
    """One card per item: the common fields, then the family's own card (`item_card`) or the
    generic one (input, gold, prediction)."""
    family = _family(r["task"])
    out = []
    for rec in typed_records(r):
        gold = getattr(rec, "gold", None)
        gold = gold if isinstance(gold, dict) else {}
        it: dict[str, Any] = {
            "item_id": str(rec.item_id), "subject_id": rec.subject_id,
            "category": str(rec.category or "(none)"), "outcome": outcome(family, rec),
            "score": rec.score, "error": _text(rec.error), "seen": _seen(rec, gold),
            "kind": "generic",
        }
        card = family.item_card(rec, _text)
        if card is not None:
            it.update(card)
        else:
            it.update(input=_text(getattr(rec, "input", None)), gold=_text(getattr(rec, "gold", None)),
                      prediction=_text(getattr(rec, "prediction", None)))
        out.append(it)
    return out


def _merge(groups: dict[str, dict], merge_small: bool) -> dict[str, dict]:
    if not merge_small:
        return groups
    from medbench.publish.site import MIN_CATEGORY_ITEMS, MIN_CATEGORY_PATIENTS

    out: dict[str, dict] = {}
    for name, g in groups.items():
        small = g["n"] < MIN_CATEGORY_ITEMS or len(g["patients"]) < MIN_CATEGORY_PATIENTS
        tgt = out.setdefault("other" if small else name, {k: (set() if k == "patients" else 0) for k in g})
        for k, v in g.items():
            tgt[k] = tgt[k] | v if k == "patients" else tgt[k] + v
    return out


def family_breakdown(r: dict, merge_small: bool = False) -> dict | None:
    """The family's own measure per group, or None for a family without one."""
    task, recs = r["task"], r["records"]
    if task == "icd" and recs and "gold_codes" in recs[0]:
        groups: dict[str, dict] = {}
        for rec in recs:
            g, p = set(rec.get("gold_codes") or []), set(rec.get("pred_codes") or [])
            for c in g | p:
                ch = _chapter(c)
                d = groups.setdefault(ch, {"n": 0, "patients": set(), "tp": 0, "fp": 0, "fn": 0})
                d["tp"] += c in g and c in p
                d["fp"] += c in p and c not in g
                d["fn"] += c in g and c not in p
            for ch in {_chapter(c) for c in g | p}:
                groups[ch]["n"] += 1
                groups[ch]["patients"].add(rec.get("subject_id"))
        rows = []
        for ch, d in _merge(groups, merge_small).items():
            den = 2 * d["tp"] + d["fp"] + d["fn"]
            rows.append({"group": ch, "n": d["n"], "patients": len(d["patients"]),
                         "cols": [d["tp"], d["fp"], d["fn"]], "value": 2 * d["tp"] / den if den else None})
        return {"title": "Micro F1 per ICD-10 chapter", "group": "chapter", "measure": "micro F1",
                "cols": ["true positives", "false positives", "missed"],
                "rows": sorted(rows, key=lambda x: (x["group"] == "other", x["value"] is None, x["value"] or 0, x["group"]))}
    if task == "conversation" and recs and "facts_total" in recs[0]:
        groups = {}
        for rec in recs:
            for t, n in (rec.get("facts_total") or {}).items():
                if not n:
                    continue
                d = groups.setdefault(str(t), {"n": 0, "patients": set(), "hit": 0, "total": 0})
                d["n"] += 1
                d["patients"].add(rec.get("subject_id"))
                d["hit"] += (rec.get("facts_hit") or {}).get(t, 0)
                d["total"] += n
        rows = [{"group": t, "n": d["n"], "patients": len(d["patients"]), "cols": [d["hit"], d["total"]],
                 "value": d["hit"] / d["total"] if d["total"] else None}
                for t, d in _merge(groups, merge_small).items()]
        return {"title": "Recall per fact type", "group": "fact type", "measure": "recall",
                "cols": ["facts mentioned", "gold facts"],
                "rows": sorted(rows, key=lambda x: (x["group"] == "other", x["value"] or 0, x["group"]))}
    if task == "sql" and any(isinstance(rec.get("categories"), dict) and rec["categories"].get("family")
                             for rec in recs):
        groups = {}
        for rec in recs:
            fam = str((rec.get("categories") or {}).get("family") or "(none)")
            d = groups.setdefault(fam, {"n": 0, "patients": set(), "correct": 0, "abstained": 0})
            d["n"] += 1
            d["patients"].add(rec.get("subject_id"))
            d["correct"] += rec.get("correct") is True
            d["abstained"] += bool(rec.get("abstained"))
        rows = [{"group": f, "n": d["n"], "patients": len(d["patients"]), "cols": [d["correct"], d["abstained"]],
                 "value": d["correct"] / d["n"] if d["n"] else None} for f, d in _merge(groups, merge_small).items()]
        return {"title": "Accuracy per SQL template family", "group": "template family", "measure": "accuracy",
                "cols": ["correct", "abstained"],
                "rows": sorted(rows, key=lambda x: (x["group"] == "other", x["value"] or 0, x["group"]))}
    return None
