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


_RESOURCE = ("time limit", "memory", "row cap", "too many rows", "killed", "out of memory")


def sql_outcome(rec: dict) -> str:
    if rec.get("correct") is True:
        return "correct"
    if rec.get("abstained"):
        return "abstained"
    err = str(rec.get("error") or "").lower()
    if err and any(k in err for k in _RESOURCE):
        return "resource limit"
    if err:
        return "invalid"
    return "wrong"


def outcome(task: str, rec: dict) -> str:
    if rec.get("missing"):
        return "missing"
    if task == "sql" and "answerable" in rec:
        return sql_outcome(rec)
    if task == "conversation" and rec.get("schema_valid") is False:
        return "invalid"
    if rec.get("correct") is True:
        return "correct"
    if rec.get("correct") is False:
        return "wrong"
    return "unscored"


def _seen(rec: dict, gold: dict) -> bool | None:
    for src in (rec, rec.get("input") if isinstance(rec.get("input"), dict) else {}, gold):
        if isinstance(src, dict) and isinstance(src.get("template_seen_in_train"), bool):
            return src["template_seen_in_train"]
    return None


def _chapter(code: str) -> str:
    from medbench.tasks.icd.parse import chapter

    return chapter(code)


def _code_title(code: str) -> str:
    from medbench.tasks.icd.parse import is_valid_code, title

    return title(code) if is_valid_code(code) else "not a valid ICD-10-CM code"


def drill_items(r: dict) -> list[dict]:
    task = r["task"]
    out = []
    for rec in r["records"]:
        gold = rec.get("gold") if isinstance(rec.get("gold"), dict) else {}
        inp = rec.get("input") if isinstance(rec.get("input"), dict) else {}
        it: dict[str, Any] = {
            "item_id": str(rec["item_id"]), "subject_id": rec.get("subject_id"),
            "category": str(rec.get("category") or "(none)"), "outcome": outcome(task, rec),
            "score": rec.get("score"), "error": _text(rec.get("error")), "seen": _seen(rec, gold),
            "kind": "generic",
        }
        if task == "sql" and "answerable" in rec:
            it.update(kind="sql", question=_text(inp.get("question") or inp),
                      gold_sql=_text(gold.get("sql") or gold.get("query")),
                      pred_sql=None if rec.get("abstained") else _text(rec.get("prediction")),
                      answerable=rec.get("answerable"),
                      gold_answer=_text(rec.get("gold_answer")) if rec.get("answerable") else None,
                      pred_answer=_text(rec.get("pred_answer")) if rec.get("executed") else None)
        elif task == "icd" and "gold_codes" in rec:
            gset, pred = set(rec.get("gold_codes") or []), [str(c) for c in rec.get("pred_codes") or []]
            chips = [{"code": c, "kind": "tp" if c in gset else "fp", "title": _code_title(c)} for c in pred]
            chips += [{"code": c, "kind": "fn", "title": _code_title(c)} for c in sorted(gset - set(pred))]
            it.update(kind="icd", chips=chips, note=_text(inp.get("text") or inp.get("note") or inp))
        elif task == "conversation" and "missed_facts" in rec:
            facts = {f.get("id"): f for f in gold.get("facts", []) if isinstance(f, dict)}
            missed = [{"id": str(fid), "type": str((facts.get(fid) or {}).get("type", "")),
                       "text": str((facts.get(fid) or {}).get("text") or
                                   ((facts.get(fid) or {}).get("surface_forms") or [fid])[0])}
                      for fid in rec.get("missed_facts") or []]
            pred = rec.get("prediction")
            turns = []
            if isinstance(pred, dict) and isinstance(pred.get("turns"), list):
                for t in pred["turns"][:200]:
                    if isinstance(t, dict):
                        turns.append({"speaker": str(t.get("speaker") or t.get("role") or ""),
                                      "text": _text(t.get("text") or t.get("content") or "")})
            it.update(kind="conversation", turns=turns, missed=missed,
                      invented=[str(e) for e in rec.get("invented_entities") or []],
                      problems=[str(p) for p in rec.get("problems") or []])
        else:
            it.update(input=_text(rec.get("input")), gold=_text(rec.get("gold")),
                      prediction=_text(rec.get("prediction")))
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
