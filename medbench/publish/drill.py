"""The submission page's drill-down (one readable card per item) and the family's own error
breakdown (SQL per-family accuracy, ICD per-chapter micro-F1, conversation per-fact-type recall):
what is shown per family is the family's (`item_outcome`, `item_card`, `breakdown`); this module
lays it out.

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
    """The family's own measure per group (`TaskFamily.breakdown`), or None for a family without one."""
    b = _family(r["task"]).breakdown(r["records"])
    if b is None:
        return None
    rows = [{"group": name, "n": d["n"], "patients": len(d["patients"]), "cols": [d[c] for c in b.counters],
             "value": b.value(d)} for name, d in _merge(b.groups, merge_small).items()]
    if b.none_apart:
        rows.sort(key=lambda x: (x["group"] == "other", x["value"] is None, x["value"] or 0, x["group"]))
    else:
        rows.sort(key=lambda x: (x["group"] == "other", x["value"] or 0, x["group"]))
    return {"title": b.title, "group": b.group, "measure": b.measure, "cols": b.cols, "rows": rows}
