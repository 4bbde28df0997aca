"""Checkpoint selection on dev and the statistics of a training run.

- `output_rates`: a checkpoint's abstention rate and valid-output rate on dev, from the scorer's
  records, as the family defines them (`TaskFamily.output_rates`; SQL: abstained / items and
  executed / answered; ICD: empty prediction / items and parsed-without-error / items).
- `select_checkpoint`: the benchmark's headline decides, but only among checkpoints whose
  abstention rate is at most SFT's + `max_abstention_increase` and whose valid-output rate is at
  least SFT's - `max_valid_drop` (SFT itself is always eligible). A degenerate "always abstain"
  checkpoint can therefore never be selected over SFT, whatever its RS(c).
- `paired_headline_ci`: the headline difference of two checkpoints on the same dev items, with a
  patient-clustered paired bootstrap (both checkpoints resampled with the same draws), computed
  with the family's own `item_sums` / `aggregate_sums` (one formula per metric).
- `reward_curve`: mean GRPO reward of the first and last window of steps and a bootstrap CI of
  their difference (steps resampled within each window).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medbench.scoring.stats import draw_counts, make_clusters
from medbench.tasks.sums import SumTable, item_statistics

MAX_ABSTENTION_INCREASE = 0.10
MAX_VALID_DROP = 0.10
RESAMPLES = 2000


def output_rates(task: str, records: Sequence[dict], parse_errors: dict[str, str | None] | None = None) -> dict:
    """{abstention_rate, valid_output_rate} (fractions) of one checkpoint's dev records: the
    family's `output_rates`."""
    from medbench.tasks import get_family

    return get_family(task).output_rates(list(records), parse_errors)


def eligible(candidate: dict, sft: dict, max_abstention_increase: float = MAX_ABSTENTION_INCREASE,
             max_valid_drop: float = MAX_VALID_DROP) -> tuple[bool, str]:
    """Whether a candidate's rates stay within the bounds of SFT's, and why not."""
    why = []
    if candidate["abstention_rate"] > sft["abstention_rate"] + max_abstention_increase + 1e-12:
        why.append(f"abstention rate {candidate['abstention_rate']:.3f} > SFT {sft['abstention_rate']:.3f}"
                   f" + {max_abstention_increase}")
    if candidate["valid_output_rate"] < sft["valid_output_rate"] - max_valid_drop - 1e-12:
        why.append(f"valid-output rate {candidate['valid_output_rate']:.3f} < SFT "
                   f"{sft['valid_output_rate']:.3f} - {max_valid_drop}")
    return (not why), "; ".join(why)


def select_checkpoint(candidates: dict[str, dict], headline: str, higher_is_better: bool,
                      max_abstention_increase: float = MAX_ABSTENTION_INCREASE,
                      max_valid_drop: float = MAX_VALID_DROP) -> tuple[str, dict[str, dict]]:
    """(selected name, per-candidate {eligible, reason}); `candidates` maps name -> dev result
    {metrics, abstention_rate, valid_output_rate}, "sft" among them; ties keep the earlier one."""
    sft = candidates["sft"]
    sign = 1.0 if higher_is_better else -1.0
    verdicts: dict[str, dict] = {}
    best, best_value = "sft", sign * float(sft["metrics"].get(headline, float("-inf")))
    for name, cand in candidates.items():
        ok, why = (True, "") if name == "sft" else eligible(cand, sft, max_abstention_increase, max_valid_drop)
        verdicts[name] = {"eligible": ok, "reason": why}
        value = cand["metrics"].get(headline)
        if ok and value is not None and sign * float(value) > best_value:
            best, best_value = name, sign * float(value)
    return best, verdicts


def _cluster_sums(family, records: Sequence[dict], clusters, columns: dict[str, int] | None = None):
    cols, per_item = item_statistics(records, family.item_sums)
    if columns is None:
        columns = cols
    sums = np.zeros((clusters.n, len(columns)))
    for c, members in enumerate(clusters.members):
        for i in members:
            for name, v in per_item[i].items():
                sums[c, columns[name]] += v
    return sums, columns


def paired_headline_ci(family, base: Sequence[dict], new: Sequence[dict], resamples: int = RESAMPLES,
                       seed: int = 0, level: float = 0.95) -> dict:
    """Headline(new) - headline(base) on the same items, with a paired patient-clustered bootstrap CI."""
    by_id = {r["item_id"]: r for r in new}
    base = sorted(base, key=lambda r: r["item_id"])
    new = [by_id[r["item_id"]] for r in base]
    clusters = make_clusters(base)
    columns: dict[str, int] = {}
    for r in list(base) + list(new):
        for name in family.item_sums(r):
            columns.setdefault(name, len(columns))
    sa, _ = _cluster_sums(family, base, clusters, columns)
    sb, _ = _cluster_sums(family, new, clusters, columns)
    sizes = np.array([len(m) for m in clusters.members], dtype=np.float64)
    counts = draw_counts(clusters.n, resamples, seed).astype(np.float64)
    counts = np.vstack([np.ones((1, clusters.n)), counts])  # row 0: the sample itself
    head = family.headline_metric
    with np.errstate(invalid="ignore", divide="ignore"):
        va = np.asarray(family.aggregate_sums(SumTable(counts @ sa, columns), counts @ sizes)[head], dtype=float)
        vb = np.asarray(family.aggregate_sums(SumTable(counts @ sb, columns), counts @ sizes)[head], dtype=float)
    diff = vb - va
    reps = diff[1:][np.isfinite(diff[1:])]
    alpha = (1 - level) / 2
    lo, hi = (np.quantile(reps, [alpha, 1 - alpha]) if reps.size else (float("nan"), float("nan")))
    return {"metric": head, "base": float(va[0]), "new": float(vb[0]), "diff": float(diff[0]),
            "ci_low": float(lo), "ci_high": float(hi), "resamples": resamples, "seed": seed,
            "clusters": clusters.n, "n_items": len(base)}


def reward_curve(rewards: Sequence[float], window: int, resamples: int = RESAMPLES, seed: int = 0,
                 level: float = 0.95) -> dict | None:
    """First vs last window of per-step mean rewards; bootstrap CI of (last - first)."""
    vals = np.asarray(list(rewards), dtype=float)
    if vals.size < 2:
        return None
    w = max(1, min(window, vals.size // 2))
    first, last = vals[:w], vals[-w:]
    rng = np.random.default_rng(seed)
    bf = first[rng.integers(0, w, size=(resamples, w))].mean(axis=1)
    bl = last[rng.integers(0, w, size=(resamples, w))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(bl - bf, [alpha, 1 - alpha])
    n_windows = vals.size // w
    return {"window": w, "steps": int(vals.size), "first": float(first.mean()), "last": float(last.mean()),
            "diff": float(last.mean() - first.mean()), "ci_low": float(lo), "ci_high": float(hi),
            "window_means": [float(vals[i * w:(i + 1) * w].mean()) for i in range(n_windows)],
            "resamples": resamples, "seed": seed}


def headline_ci(family, records: Sequence[dict], resamples: int = RESAMPLES, seed: int = 0,
                level: float = 0.95) -> dict:
    """One checkpoint's dev headline with its patient-clustered bootstrap CI."""
    if not records:
        return {"metric": family.headline_metric, "value": None, "ci_low": None, "ci_high": None}
    clusters = make_clusters(records)
    sums, columns = _cluster_sums(family, records, clusters)
    sizes = np.array([len(m) for m in clusters.members], dtype=np.float64)
    counts = np.vstack([np.ones((1, clusters.n)), draw_counts(clusters.n, resamples, seed).astype(np.float64)])
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.asarray(family.aggregate_sums(SumTable(counts @ sums, columns), counts @ sizes)[family.headline_metric],
                       dtype=float)
    reps = v[1:][np.isfinite(v[1:])]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(reps, [alpha, 1 - alpha]) if reps.size else (float("nan"), float("nan"))
    return {"metric": family.headline_metric, "value": float(v[0]), "ci_low": float(lo), "ci_high": float(hi)}
