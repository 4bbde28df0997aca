"""ICD-10 coding metrics.

Each per-item record carries its sufficient statistics (the normalised predicted and gold code
lists, hits@k, invalid count), so `aggregate` works on any subset — the bootstrap calls it once
per resample. Definitions:

- micro P/R/F1 over all (item, code) pairs;
- macro P/R/F1 (Edin et al. 2023, "Automated medical coding on MIMIC-III and MIMIC-IV: a critical
  review and replicability study"): per-code P/R/F1 averaged over the codes present in the
  sample's gold (a code only ever predicted cannot raise or lower it);
- macro_f1_all: the earlier variant, averaged over every code in any gold or prediction of the
  sample (scikit-learn's `average="macro"` over the union): spraying codes lowers it;
- P@k = mean over items of hits@k / k; R@k = mean of hits@k / |gold|; F1@k = harmonic mean of
  those two averages (k = 1..15; a list shorter than k counts as padded with misses);
- exact_match = share of items whose valid predicted set equals the gold set;
- category_micro_f1 = micro F1 on 3-character categories;
- invalid_code_rate = predicted codes unknown to simple-icd-10-cm / all predicted codes.

Every metric is a function of sums of per-item counts (`item_sums`), so the bootstrap computes
all replicates at once with `aggregate_sums`, which mirrors `aggregate` op for op: sums of counts
are exact in any order, R@k sums hits per gold-set size (then divides once per size, in size
order) and macro averages use `math.fsum`, so both give bit-identical values.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from medbench.tasks.sums import aggregate_from_sums
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
    """Records in item order; each also lists its predicted codes that no gold of this batch (the
    split) holds (`foreign_codes`): they count only as distinct codes for `macro_f1_all`, so the
    bootstrap's cost does not grow with how many junk codes a submission sprays."""
    records = [score_item(it, gold_by_id[it["item_id"]], predictions_by_id.get(it["item_id"])) for it in items]
    split_gold = {c for it in items for c in gold_by_id[it["item_id"]]["codes"]}
    for r in records:
        r["foreign_codes"] = sorted(c for c in set(r["pred_codes"]) if c not in split_gold)
    return records


def _category_counts(r: dict) -> tuple[int, int, int]:
    gc, pc = {category(c) for c in r["gold_codes"]}, {category(c) for c in r["pred_codes"]}
    return len(gc & pc), len(pc - gc), len(gc - pc)


def aggregate(records: list[dict]) -> dict[str, float]:
    """Every metric of the sample: `aggregate_sums` on the summed `item_sums` (one formula per
    metric, shared with the bootstrap; medbench.tasks.sums)."""
    return aggregate_from_sums(records, item_sums, aggregate_sums)


# ---------------------------------------------------------------------------------------------
# The bootstrap's vectorised path: per-item statistics, and every metric from their sums

def item_sums(r: dict) -> dict[str, float]:
    """One record's additive statistics (what `aggregate_sums` needs)."""
    ctp, cfp, cfn = _category_counts(r)
    g, p = set(r["gold_codes"]), set(r["pred_codes"])
    foreign = set(r.get("foreign_codes") or ())
    p_known = p - foreign
    out: dict[str, Any] = {"tp": r["tp"], "fp": r["fp"], "fn": r["fn"], "ctp": ctp, "cfp": cfp,
                             "cfn": cfn, "n_pred": r["n_pred"], "n_invalid": r["n_invalid"],
                             "correct": 1 if r["correct"] else 0}
    if foreign:  # codes in no gold of the split: one distinct-count group, not 3 columns each
        out["__distinct__"] = {"foreign_code": foreign}
    for c in g | p_known:  # all three per code that occurs, so the per-code groups align
        out[f"code_tp:{c}"] = 1 if (c in g and c in p) else 0
        out[f"code_fp:{c}"] = 1 if (c in p and c not in g) else 0
        out[f"code_fn:{c}"] = 1 if (c in g and c not in p) else 0
    size = len(r["gold_codes"])
    for k in range(MAX_K):
        out[f"hits:{k}"] = r["hits_at_k"][k]
        if size:
            out[f"hits_size:{k}:{size:06d}"] = r["hits_at_k"][k]
    return out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b where b != 0, else 0.0 (Python's `a / b if b else 0.0`, elementwise)."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b != 0)


def _prf_v(tp, fp, fn):
    p = _div(tp, tp + fp)
    r = _div(tp, tp + fn)
    return p, r, _f1_v(p, r)


def _f1_v(p, r):
    return _div(2 * p * r, p + r)


def _fsum_rows(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.array([math.fsum(row[m].tolist()) for row, m in zip(values, mask)], dtype=np.float64)


def aggregate_sums(S: Any, n: np.ndarray) -> dict[str, np.ndarray]:
    """`aggregate` on summed statistics, for a batch of bootstrap replicates at once."""
    mp, mr, mf = _prf_v(S["tp"], S["fp"], S["fn"])
    codes, ctp = S.group("code_tp:")
    codes_fp, cfp = S.group("code_fp:")
    codes_fn, cfn = S.group("code_fn:")
    assert codes == codes_fp == codes_fn
    present = (ctp + cfp + cfn) > 0
    in_gold = (ctp + cfn) > 0  # Edin et al. 2023: codes present in the sample's gold
    L_all = np.maximum(present.sum(axis=1) + S.distinct("foreign_code"), 1).astype(np.float64)
    L = np.maximum(in_gold.sum(axis=1), 1).astype(np.float64)
    cp, cr, cf = _prf_v(ctp, cfp, cfn)
    n_pred = S["n_pred"]
    out = {
        "micro_f1": mf, "micro_precision": mp, "micro_recall": mr,
        "macro_f1": _fsum_rows(cf, in_gold) / L,
        "macro_precision": _fsum_rows(cp, in_gold) / L,
        "macro_recall": _fsum_rows(cr, in_gold) / L,
        "macro_f1_all": _fsum_rows(cf, present) / L_all,
        "exact_match": S["correct"] / n,
        "category_micro_f1": _prf_v(S["ctp"], S["cfp"], S["cfn"])[2],
        "invalid_code_rate": _div(S["n_invalid"], n_pred),
        "mean_codes_predicted": n_pred / n,
    }
    for k in range(1, MAX_K + 1):
        pk = S[f"hits:{k - 1}"] / k / n
        sizes, h = S.group(f"hits_size:{k - 1}:")
        rk = np.zeros_like(pk)
        for j, size in enumerate(sizes):  # ascending size (zero-padded names sort numerically)
            rk = rk + h[:, j] / int(size)
        rk = rk / n
        out[f"f1_at_{k}"] = _f1_v(pk, rk)
        if k in (5, 8, 15):
            out[f"p_at_{k}"] = pk
        if k in (10, 15):
            out[f"r_at_{k}"] = rk
    return out
