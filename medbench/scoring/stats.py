"""Honest statistics: patient-clustered bootstrap intervals and interval-overlap ranks.

Items of one patient are correlated (same record, same clinicians' notes), so resampling items
independently understates uncertainty. We resample *patients*: each bootstrap replicate draws
patients with replacement and takes all of a drawn patient's items together. An item whose
`subject_id` is null is resampled with the items sharing its record's `cluster` key (a medbench
population-level SQL question: the slot fillings of one template, all computed over the same
database, move together), or alone when it has none (EHRSQL imports).

Metrics that are a plain mean of a per-item field are computed for all replicates at once with
numpy (per-cluster sums → matrix product with the replicate's draw counts). So are metrics that
are any function of sums of per-item statistics (ratios of sums such as micro precision, recall
and F1, rates, harmonic means of such, macro averages over per-label counts): the family gives
`item_sums(record) -> {statistic: number}` and `aggregate_sums(sums, n) -> {metric: array}`
(`medbench.tasks.sums.SumTable`), computed on every replicate's summed statistics at once. The
built-in families define `aggregate()` as that same formula on one sample, so a reported metric
and its interval share one implementation. Any other metric (a family without sums) goes
through the family's own `aggregate()` on the resampled records; a vectorised metric whose value
on the full sample does not equal `aggregate()`'s is also sent down that path.

When the statistics are integers (counts) or dyadic fractions, every sum is exact in float64 in
any order, so the vectorised replicates equal the slow path's exactly (tests/test_stats.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from medbench.tasks.sums import SumTable, distinct_keys, item_statistics

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Clusters:
    """Records grouped by patient, in a deterministic order (first appearance)."""

    members: list[list[int]]  # cluster -> indices into the record list

    @property
    def n(self) -> int:
        return len(self.members)


def make_clusters(records: Sequence[dict]) -> Clusters:
    by_subject: dict[object, int] = {}
    members: list[list[int]] = []
    for i, rec in enumerate(records):
        sid = rec.get("subject_id")
        if sid is None:
            if rec.get("cluster") is None:  # unknown patient, no group: its own cluster
                members.append([i])
                continue
            key = ("c", rec["cluster"])
        else:
            key = ("s", sid)
        if key not in by_subject:
            by_subject[key] = len(members)
            members.append([])
        members[by_subject[key]].append(i)
    return Clusters(members)


def draw_counts(n_clusters: int, n_resamples: int, seed: int) -> np.ndarray:
    """(n_resamples, n_clusters) matrix: how often each cluster is drawn in each replicate."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_clusters, size=(n_resamples, n_clusters))
    flat = (np.arange(n_resamples)[:, None] * n_clusters + draws).ravel()
    return np.bincount(flat, minlength=n_resamples * n_clusters).reshape(n_resamples, n_clusters)


def _percentile_interval(values: np.ndarray, point: float | None, level: float) -> list[float] | None:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = (float(x) for x in np.percentile(values, [tail, 100.0 - tail]))
    if point is not None and math.isfinite(point):
        # A percentile interval of a skewed bootstrap can miss the estimate itself; widening to
        # include it keeps the interval honest (never narrower than claimed).
        low, high = min(low, point), max(high, point)
    return [low, high]


def _as_float(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def mean_metric_intervals(records: Sequence[dict], fields: dict[str, str], clusters: Clusters,
                          counts: np.ndarray, level: float) -> dict[str, list[float] | None]:
    """Intervals for metrics that are the mean of a per-item numeric field (vectorised)."""
    out: dict[str, list[float] | None] = {}
    sizes = np.array([len(m) for m in clusters.members], dtype=np.float64)
    n_items = counts @ sizes
    for metric, fld in sorted(fields.items()):
        vals = np.array([_as_float(r.get(fld)) for r in records], dtype=np.float64)
        if not np.isfinite(vals).all():
            out[metric] = None  # not a plain mean over every item: leave to the generic path
            continue
        sums = np.array([vals[m].sum() for m in clusters.members], dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = (counts @ sums) / n_items
        point = float(vals.mean()) if len(vals) else None
        out[metric] = _percentile_interval(reps, point, level)
    return out


SUM_PATH_MAX_CELLS = 40_000_000  # clusters × statistics above which the sum path is skipped
SUM_PATH_CHUNK_CELLS = 4_000_000  # replicates × statistics per aggregate_sums call (memory bound)


def sum_metric_intervals(records: Sequence[dict], item_sums: Callable[[dict], dict],
                         aggregate_sums: Callable[[SumTable, np.ndarray], dict], metrics: Sequence[str],
                         clusters: Clusters, counts: np.ndarray, level: float,
                         point: dict) -> dict[str, list[float] | None]:
    """Intervals for metrics that are functions of summed per-item statistics (vectorised).

    Returns only the metrics it could do: those `aggregate_sums` returns whose full-sample value
    equals `point` (the aggregate() value); the caller sends the rest down the generic path.
    """
    columns, per_item = item_statistics(records, item_sums)
    if not columns or clusters.n * len(columns) > SUM_PATH_MAX_CELLS:
        return {}
    cluster_sums, full_distinct = _cluster_sums(records, item_sums, clusters, columns, per_item)
    # The full sample first: only metrics that reproduce aggregate()'s value are trusted.
    full = aggregate_sums(SumTable(cluster_sums.sum(axis=0, keepdims=True), columns, full_distinct),
                          np.array([float(len(records))]))
    wanted = []
    for m in metrics:
        if m not in full:
            continue
        got, want = float(np.asarray(full[m])[0]), _as_float(point.get(m))
        if (math.isnan(got) and math.isnan(want)) or got == want or \
                (math.isfinite(got) and math.isfinite(want) and abs(got - want) <= 1e-9 * max(1.0, abs(want))):
            wanted.append(m)
    if not wanted:
        return {}
    reps = _sum_path_replicates(records, item_sums, aggregate_sums, clusters, counts, columns, cluster_sums,
                                wanted)
    return {m: _percentile_interval(reps[m], _as_float(point.get(m)), level) for m in wanted}


def _distinct_replicates(records, item_sums, clusters: Clusters, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per `"__distinct__"` group, the number of distinct keys in every replicate. Keys held by
    the same set of clusters are present together, so they are counted by cluster signature: the
    cost grows with the number of (key, cluster) pairs' signatures, not with the number of keys
    (one item listing 85,000 codes is one signature)."""
    groups = distinct_keys(records, item_sums)
    if not groups:
        return {}
    cluster_of = np.empty(len(records), dtype=np.int64)
    for c, members in enumerate(clusters.members):
        cluster_of[members] = c
    drawn = counts > 0
    out = {}
    for group, sets in groups.items():
        holders: dict[object, set[int]] = {}
        for k, keys in enumerate(sets):
            c = int(cluster_of[k])
            for key in keys:
                holders.setdefault(key, set()).add(c)
        weight: dict[tuple[int, ...], int] = {}
        for cs in holders.values():
            sig = tuple(sorted(cs))
            weight[sig] = weight.get(sig, 0) + 1
        single = np.zeros(clusters.n, dtype=np.float64)
        total = np.zeros(counts.shape[0], dtype=np.float64)
        for sig, w in weight.items():
            if len(sig) == 1:
                single[sig[0]] += w
            else:
                total += w * drawn[:, list(sig)].any(axis=1)
        out[group] = total + drawn.astype(np.float64) @ single
    return out


def bootstrap_intervals(
    records: Sequence[dict],
    aggregate: Callable[[list[dict]], dict],
    metrics: Sequence[str],
    *,
    mean_fields: dict[str, str] | None = None,
    sum_fields: tuple[Callable[[dict], dict], Callable[[SumTable, np.ndarray], dict]] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = DEFAULT_LEVEL,
    point: dict[str, float] | None = None,
    workers: int | None = 1,
) -> dict[str, list[float] | None]:
    """Patient-clustered percentile bootstrap intervals for `metrics`.

    `mean_fields` maps a metric to the per-item field it is the mean of (fast path);
    `sum_fields` = (item_sums, aggregate_sums) covers metrics that are functions of summed per-item
    statistics (fast path, `sum_metric_intervals`); every other metric is recomputed with
    `aggregate` on each replicate. Deterministic for a given seed (the draws are fixed up front,
    so `workers` only changes speed, never the result).
    """
    if n_resamples < 1:
        raise ValueError("n_resamples must be at least 1")
    records = list(records)
    metrics = sorted(set(metrics))
    if not records:
        return {m: None for m in metrics}
    clusters = make_clusters(records)
    counts = draw_counts(clusters.n, n_resamples, seed)
    point = point if point is not None else aggregate(records)
    fast = {m: f for m, f in (mean_fields or {}).items() if m in metrics}
    out = {m: iv for m, iv in mean_metric_intervals(records, fast, clusters, counts, level).items()
           if iv is not None}  # None: not a plain mean over every item after all
    todo = [m for m in metrics if m not in out]
    if sum_fields is not None and todo:
        out.update(sum_metric_intervals(records, sum_fields[0], sum_fields[1], todo, clusters, counts,
                                        level, point))
    slow = [m for m in metrics if m not in out]
    if slow:
        job = (records, clusters, counts, aggregate, slow)
        n_workers = _worker_count(workers, len(records) * n_resamples)
        if n_workers > 1:
            reps = _replicates_parallel(job, n_workers)
        else:
            reps = _replicates(job, 0, n_resamples)
        for k, m in enumerate(slow):
            out[m] = _percentile_interval(reps[:, k], _as_float(point.get(m)), level)
    return {m: out[m] for m in metrics}


PARALLEL_MIN_WORK = 300_000  # records × resamples below which forking costs more than it saves
_JOB = None  # the slow-path job, inherited by forked workers (never pickled)


def _replicates(job, start: int, stop: int) -> np.ndarray:
    records, clusters, counts, aggregate, slow = job
    reps = np.empty((stop - start, len(slow)), dtype=np.float64)
    arange = np.arange(clusters.n)
    for b in range(start, stop):
        sample = [records[i] for c in np.repeat(arange, counts[b]) for i in clusters.members[c]]
        agg = aggregate(sample)
        reps[b - start] = [_as_float(agg.get(m)) for m in slow]
    return reps


def _chunk(bounds: tuple[int, int]) -> np.ndarray:
    return _replicates(_JOB, *bounds)


def _worker_count(workers: int | None, work: int) -> int:
    import os

    if work < PARALLEL_MIN_WORK or os.name != "posix":
        return 1
    return max(1, min(workers or os.cpu_count() or 1, os.cpu_count() or 1, 16))


def _replicates_parallel(job, n_workers: int) -> np.ndarray:
    """Replicates split over forked processes: aggregate() is plain Python and the slow part."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    global _JOB
    n = job[2].shape[0]
    edges = np.linspace(0, n, n_workers * 4 + 1).astype(int)
    bounds = [(int(a), int(b)) for a, b in itertools.pairwise(edges) if b > a]
    _JOB = job
    try:
        with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("fork")) as pool:
            parts = list(pool.map(_chunk, bounds))
    except (OSError, RuntimeError):  # no fork available (sandbox): same result, one process
        parts = [_replicates(job, a, b) for a, b in bounds]
    finally:
        _JOB = None
    return np.concatenate(parts, axis=0)


def _interval(entry: dict) -> tuple[float, float] | None:
    lo, hi, v = entry.get("ci_low"), entry.get("ci_high"), entry.get("value")
    if lo is None or hi is None:
        lo = hi = v
    if lo is None:
        return None
    return float(lo), float(hi)


def assign_ranks(entries: Sequence[dict]) -> list[int | None]:
    """Rank = 1 + the number of complete entries whose interval lies entirely better than this one.

    Each entry: `value`, `ci_low`, `ci_high`, `higher_is_better`, `complete`. Statistically tied
    entries (overlapping intervals) share a rank. Incomplete entries get None (not ranked) and do
    not push anyone down. All entries are assumed comparable (same task, release, split).
    """
    ivs = [(_interval(e) if e.get("complete") else None) for e in entries]
    ranks: list[int | None] = []
    for k, (e, iv) in enumerate(zip(entries, ivs)):
        if iv is None:
            ranks.append(None)
            continue
        higher = e.get("higher_is_better", True)
        better = 0
        for j, other in enumerate(ivs):
            if other is None or j == k:
                continue
            better += (other[0] > iv[1]) if higher else (other[1] < iv[0])
        ranks.append(1 + better)
    return ranks


# ---------------------------------------------------------------------------------------------
# Paired comparison: the same patient resamples for both systems, on their shared items

MIN_PATIENTS_TO_RANK = 30



def _cluster_sums(records: Sequence[dict], item_sums, clusters: Clusters, columns: dict, per_item: list[dict]
                  ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per-cluster sums of every statistic column, and each distinct-count group's full-sample size."""
    cluster_sums = np.zeros((clusters.n, max(len(columns), 1)), dtype=np.float64)
    for c, members in enumerate(clusters.members):
        row = cluster_sums[c]
        for i in members:
            for name, v in per_item[i].items():
                row[columns[name]] += v
    full_distinct = {g: np.array([float(len(set().union(*sets)))])
                     for g, sets in distinct_keys(records, item_sums).items()}
    return cluster_sums, full_distinct

def _sum_path_replicates(records: Sequence[dict], item_sums, aggregate_sums, clusters: Clusters,
                         counts: np.ndarray, columns: dict, cluster_sums: np.ndarray, names) -> dict[str, np.ndarray]:
    """Each named metric on every bootstrap replicate (rows of `counts`), in memory-bounded chunks."""
    sizes = np.array([len(m) for m in clusters.members], dtype=np.float64)
    counts_f = counts.astype(np.float64)
    n_items = counts_f @ sizes
    distinct = _distinct_replicates(records, item_sums, clusters, counts)
    step = max(1, SUM_PATH_CHUNK_CELLS // max(len(columns), 1))
    reps = {m: np.empty(counts.shape[0], dtype=np.float64) for m in names}
    for a in range(0, counts.shape[0], step):
        b = min(a + step, counts.shape[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            vals = aggregate_sums(SumTable(counts_f[a:b] @ cluster_sums, columns,
                                           {g: v[a:b] for g, v in distinct.items()}), n_items[a:b])
        for m, arr in reps.items():
            arr[a:b] = np.asarray(vals[m], dtype=np.float64)
    return reps


def _sample_replicates(records: Sequence[dict], item_sums, aggregate_sums, clusters: Clusters,
                       counts: np.ndarray) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(every metric on the full sample, every metric on each replicate) via the sum path."""
    columns, per_item = item_statistics(records, item_sums)
    cluster_sums, full_distinct = _cluster_sums(records, item_sums, clusters, columns, per_item)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = aggregate_sums(SumTable(cluster_sums.sum(axis=0, keepdims=True), columns, full_distinct),
                              np.array([float(len(records))]))
    point = {m: float(np.asarray(v)[0]) for m, v in full.items()}
    return point, _sum_path_replicates(records, item_sums, aggregate_sums, clusters, counts, columns,
                                       cluster_sums, point)


def paired_bootstrap(records_a: Sequence[dict], records_b: Sequence[dict], item_sums, aggregate_sums,
                     metrics: Sequence[str] | None = None, *, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = DEFAULT_SEED, level: float = DEFAULT_LEVEL) -> dict:
    """Paired, patient-clustered bootstrap of A − B on the items both scored (a pure function).

    Both systems' metrics are computed on the same resampled patients in every replicate, so the
    difference's interval reflects only how the systems differ on the same items. Returns
    {"n_items", "n_patients", "metrics": {metric: {"a", "b", "diff", "ci": [low, high] | None,
    "p_value"}}}; the two-sided p-value is 2·min(P*(d ≤ 0), P*(d ≥ 0)) over the replicates
    (bootstrap percentile test; at least 1/resamples).
    """
    by_b = {r["item_id"]: r for r in records_b}
    shared_a = [r for r in records_a if r["item_id"] in by_b]
    shared_b = [by_b[r["item_id"]] for r in shared_a]
    out: dict = {"n_items": len(shared_a), "n_patients": 0, "metrics": {}}
    if not shared_a:
        return out
    clusters = make_clusters(shared_a)
    out["n_patients"] = clusters.n
    counts = draw_counts(clusters.n, n_resamples, seed)
    pa, ra = _sample_replicates(shared_a, item_sums, aggregate_sums, clusters, counts)
    pb, rb = _sample_replicates(shared_b, item_sums, aggregate_sums, clusters, counts)
    for m in sorted(set(pa) & set(pb) if metrics is None else metrics):
        if m not in pa or m not in pb or not (math.isfinite(pa[m]) and math.isfinite(pb[m])):
            continue
        d = ra[m] - rb[m]
        d = d[np.isfinite(d)]
        point = pa[m] - pb[m]
        ci = _percentile_interval(d, point, level) if d.size else None
        p = min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0)))) if d.size else None
        if p is not None:
            p = max(p, 1.0 / max(d.size, 1))
        out["metrics"][m] = {"a": pa[m], "b": pb[m], "diff": point, "ci": ci, "p_value": p}
    return out


def paired_ranks(entries: Sequence[dict], item_sums, aggregate_sums, metric: str, higher_is_better: bool = True,
                 *, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                 level: float = DEFAULT_LEVEL, memo: dict | None = None,
                 memo_keys: Sequence[str] | None = None) -> list[int | None]:
    """Rank = 1 + the number of complete entries significantly better than this one, where "better"
    means the paired bootstrap's 95% interval of the headline difference (`paired_bootstrap`, on
    the shared items) lies entirely on the better side of 0. Entries no test separates share a
    rank; incomplete entries (`complete` false) get None and push nobody down. A pure function of
    `entries` (each: `records`, `complete`) — the leaderboard calls it per table.

    `memo` (with `memo_keys`, one string per entry naming its content and the comparison's
    settings): each pair's interval is looked up there by "key_j|key_k" and stored after it is
    computed, so adding an entry to a table of m costs m - 1 comparisons, not m(m+1)/2."""
    ok = [k for k, e in enumerate(entries) if e.get("complete") and e.get("records")]
    better = {k: 0 for k in ok}
    for x, j in enumerate(ok):
        for k in ok[x + 1:]:
            mk = f"{memo_keys[j]}|{memo_keys[k]}" if memo is not None and memo_keys is not None else None
            if mk is not None and mk in memo:
                ci = memo[mk]
            else:
                res = paired_bootstrap(entries[j]["records"], entries[k]["records"], item_sums, aggregate_sums,
                                       [metric], n_resamples=n_resamples, seed=seed, level=level)
                ci = (res["metrics"].get(metric) or {}).get("ci")
                if mk is not None:
                    memo[mk] = None if ci is None else [float(ci[0]), float(ci[1])]
            if ci is None:
                continue
            lo, hi = ci
            j_better = lo > 0 if higher_is_better else hi < 0
            k_better = hi < 0 if higher_is_better else lo > 0
            if j_better:
                better[k] += 1
            elif k_better:
                better[j] += 1
    return [1 + better[k] if k in better else None for k in range(len(entries))]
