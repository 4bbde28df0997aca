"""ICD-10 coding metrics.

Each per-item record carries its sufficient statistics (the normalised predicted and gold code
lists, hits@k, invalid count), so `aggregate` works on any subset — the bootstrap calls it once
per resample. Definitions:

- micro P/R/F1 over all (item, code) pairs; macro P/R/F1 averaged over every code that appears in
  any gold or prediction of the subset (as scikit-learn's `average="macro"` over the union);
- P@k = mean over items of hits@k / k; R@k = mean of hits@k / |gold|; F1@k = harmonic mean of
  those two averages (k = 1..15; a list shorter than k counts as padded with misses);
- exact_match = share of items whose valid predicted set equals the gold set;
- category_micro_f1 = micro F1 on 3-character categories;
- invalid_code_rate = predicted codes unknown to simple-icd-10-cm / all predicted codes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from medbench.tasks.icd.parse import category, chapter, dedupe_ranked, is_valid_code

MAX_K = 15


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, _f1(p, r)


def score_item(item: dict, gold: dict, prediction: Any) -> dict:
    gold_codes = list(gold["codes"])
    if isinstance(prediction, (list, tuple)):
        pred = dedupe_ranked([p for p in prediction if isinstance(p, str)])
    else:  # missing or malformed prediction: nothing predicted
        pred = []
    gset, pset = set(gold_codes), set(pred)
    tp, fp, fn = len(gset & pset), len(pset - gset), len(gset - pset)
    hits, h = [], 0
    for k in range(MAX_K):
        if k < len(pred) and pred[k] in gset:
            h += 1
        hits.append(h)
    invalid = sum(1 for c in pred if not is_valid_code(c))
    valid_set = {c for c in pset if is_valid_code(c)}
    primary = gold.get("primary_code") or (gold_codes[0] if gold_codes else "")
    return {
        "item_id": item["item_id"],
        "subject_id": item.get("subject_id"),
        "correct": valid_set == gset,
        "score": _prf(tp, fp, fn)[2],
        "category": chapter(primary) if primary else "unknown",
        "tp": tp, "fp": fp, "fn": fn,
        "hits_at_k": hits,
        "n_pred": len(pred),
        "n_invalid": invalid,
        "gold_codes": sorted(gset),
        "pred_codes": pred,
    }


def score_items(items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None) -> list[dict]:
    return [score_item(it, gold_by_id[it["item_id"]], predictions_by_id.get(it["item_id"]))
            for it in items]


def aggregate(records: list[dict]) -> dict[str, float]:
    n = len(records)
    if n == 0:
        return {}
    tp = sum(r["tp"] for r in records)
    fp = sum(r["fp"] for r in records)
    fn = sum(r["fn"] for r in records)
    mp, mr, mf = _prf(tp, fp, fn)
    # Per-code counts for macro averages and per-category counts for the hierarchical F1.
    code_tp, code_fp, code_fn = Counter(), Counter(), Counter()
    ctp = cfp = cfn = 0
    for r in records:
        g, p = set(r["gold_codes"]), set(r["pred_codes"])
        for c in g & p:
            code_tp[c] += 1
        for c in p - g:
            code_fp[c] += 1
        for c in g - p:
            code_fn[c] += 1
        gc, pc = {category(c) for c in g}, {category(c) for c in p}
        ctp += len(gc & pc)
        cfp += len(pc - gc)
        cfn += len(gc - pc)
    labels = set(code_tp) | set(code_fp) | set(code_fn)
    per = [_prf(code_tp[c], code_fp[c], code_fn[c]) for c in labels]
    L = len(per) or 1
    n_pred = sum(r["n_pred"] for r in records)
    out = {
        "micro_f1": mf, "micro_precision": mp, "micro_recall": mr,
        "macro_f1": sum(x[2] for x in per) / L,
        "macro_precision": sum(x[0] for x in per) / L,
        "macro_recall": sum(x[1] for x in per) / L,
        "exact_match": sum(1 for r in records if r["correct"]) / n,
        "category_micro_f1": _prf(ctp, cfp, cfn)[2],
        "invalid_code_rate": (sum(r["n_invalid"] for r in records) / n_pred) if n_pred else 0.0,
        "mean_codes_predicted": n_pred / n,
    }
    for k in range(1, MAX_K + 1):
        pk = sum(r["hits_at_k"][k - 1] / k for r in records) / n
        rk = sum(r["hits_at_k"][k - 1] / len(r["gold_codes"]) for r in records if r["gold_codes"]) / n
        out[f"f1_at_{k}"] = _f1(pk, rk)
        if k in (5, 8, 15):
            out[f"p_at_{k}"] = pk
        if k in (10, 15):
            out[f"r_at_{k}"] = rk
    return out
