"""Patient-clustered bootstrap intervals and interval-overlap ranks."""

from __future__ import annotations

import numpy as np
import pytest

from medbench.scoring.stats import assign_ranks, bootstrap_intervals, draw_counts, make_clusters


def _mean_agg(records):
    n = len(records)
    return {"acc": sum(r["score"] for r in records) / n if n else 0.0}


def _records(n_patients: int, per_patient: int, seed: int = 1, clustered: bool = True):
    """When clustered, a patient's items are all right or all wrong (maximal within-patient correlation)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_patients):
        patient_ok = rng.random() < 0.5
        for j in range(per_patient):
            ok = patient_ok if clustered else rng.random() < 0.5
            out.append({"item_id": f"i{p}-{j}", "subject_id": p, "score": float(ok), "correct": ok})
    return out


def test_seeded_determinism_and_seed_matters():
    rng = np.random.default_rng(0)
    recs = [{"subject_id": i // 3, "score": float(rng.random())} for i in range(90)]
    a = bootstrap_intervals(recs, _mean_agg, ["acc"], n_resamples=1000, seed=7)
    b = bootstrap_intervals(recs, _mean_agg, ["acc"], n_resamples=1000, seed=7)
    c = bootstrap_intervals(recs, _mean_agg, ["acc"], n_resamples=1000, seed=8)
    assert a == b
    assert a != c


@pytest.mark.parametrize("n_patients,per_patient", [(1, 1), (2, 5), (40, 3), (7, 1)])
def test_interval_contains_point_estimate(n_patients, per_patient):
    recs = _records(n_patients, per_patient, seed=n_patients)
    point = _mean_agg(recs)["acc"]
    for fast in (None, {"acc": "score"}):
        lo, hi = bootstrap_intervals(recs, _mean_agg, ["acc"], mean_fields=fast, seed=3)["acc"]
        assert lo <= point <= hi
        assert 0.0 <= lo <= hi <= 1.0


def test_vectorised_path_equals_aggregate_path():
    """The numpy fast path must give exactly the interval that aggregate() on resamples gives."""
    recs = _records(25, 3, seed=4, clustered=False)
    slow = bootstrap_intervals(recs, _mean_agg, ["acc"], seed=11)
    fast = bootstrap_intervals(recs, _mean_agg, ["acc"], mean_fields={"acc": "score"}, seed=11)
    assert slow["acc"] == pytest.approx(fast["acc"], abs=1e-12)


def test_resampling_keeps_a_patients_items_together():
    recs = [{"subject_id": s, "score": 0.0} for s in (5, 5, 5, 6, None, None, 6)]
    clusters = make_clusters(recs)
    assert clusters.members == [[0, 1, 2], [3, 6], [4], [5]]  # null subject_id: own cluster
    seen_sizes = set()

    def agg(sample):
        # every replicate holds whole patients: patient 5 appears in multiples of 3 items
        n5 = sum(1 for r in sample if r["subject_id"] == 5)
        n6 = sum(1 for r in sample if r["subject_id"] == 6)
        assert n5 % 3 == 0 and n6 % 2 == 0
        seen_sizes.add(n5)
        return {"acc": 0.0}

    bootstrap_intervals(recs, agg, ["acc"], n_resamples=1000, seed=0, point={"acc": 0.0})
    assert {0, 3, 6} <= seen_sizes


def test_clustering_widens_the_interval_versus_item_level():
    clustered = _records(20, 10, seed=2)
    # the same records, each item treated as its own patient: the item-level bootstrap
    item_level = [{**r, "subject_id": None} for r in clustered]
    lo_c, hi_c = bootstrap_intervals(clustered, _mean_agg, ["acc"], seed=0)["acc"]
    lo_i, hi_i = bootstrap_intervals(item_level, _mean_agg, ["acc"], seed=0)["acc"]
    assert (hi_c - lo_c) > 2 * (hi_i - lo_i)


def test_draw_counts_shape_and_totals():
    counts = draw_counts(9, 1000, seed=1)
    assert counts.shape == (1000, 9)
    assert (counts.sum(axis=1) == 9).all()


def test_non_mean_metric_uses_aggregate_and_nan_replicates_are_ignored():
    recs = [{"subject_id": i, "score": float(i % 2), "abst": i % 3 == 0} for i in range(30)]

    def agg(rs):
        abst = [r for r in rs if r["abst"]]
        return {"prec": (sum(r["score"] for r in abst) / len(abst)) if abst else float("nan")}

    (lo, hi), = bootstrap_intervals(recs, agg, ["prec"], seed=0).values()
    assert 0.0 <= lo <= agg(recs)["prec"] <= hi <= 1.0


def test_empty_records_give_no_interval():
    assert bootstrap_intervals([], _mean_agg, ["acc"]) == {"acc": None}


def _e(v, lo, hi, complete=True, higher=True):
    return {"value": v, "ci_low": lo, "ci_high": hi, "complete": complete, "higher_is_better": higher}


def test_ranks_ties_share_a_rank():
    entries = [_e(0.9, 0.85, 0.95), _e(0.88, 0.80, 0.90), _e(0.5, 0.45, 0.55), _e(0.52, 0.40, 0.60),
               _e(0.1, 0.0, 0.2)]
    assert assign_ranks(entries) == [1, 1, 3, 3, 5]


def test_ranks_chain_of_overlaps_is_not_transitive():
    # A overlaps B, B overlaps C, but A lies entirely above C: C is ranked below A only.
    entries = [_e(0.9, 0.8, 1.0), _e(0.75, 0.6, 0.85), _e(0.5, 0.4, 0.7)]
    assert assign_ranks(entries) == [1, 1, 2]


def test_ranks_lower_is_better_and_incomplete_excluded():
    entries = [_e(0.1, 0.05, 0.15, higher=False), _e(0.5, 0.4, 0.6, higher=False),
               _e(0.01, 0.0, 0.02, complete=False, higher=False)]
    assert assign_ranks(entries) == [1, 2, None]


def test_ranks_identical_intervals_tie():
    assert assign_ranks([_e(0.5, 0.4, 0.6), _e(0.5, 0.4, 0.6)]) == [1, 1]


def test_parallel_replicates_equal_serial(monkeypatch):
    from medbench.scoring import stats

    recs = _records(15, 2, seed=5, clustered=False)
    serial = bootstrap_intervals(recs, _mean_agg, ["acc"], seed=2, workers=1)
    monkeypatch.setattr(stats, "PARALLEL_MIN_WORK", 0)
    assert bootstrap_intervals(recs, _mean_agg, ["acc"], seed=2, workers=2) == serial


# ---------------------------------------------------------------------------------------------
# The sum path (item_sums + aggregate_sums): intervals identical to aggregate() on resamples


def _icd_records(n_patients=12, seed=0):
    from medbench.tasks.icd.metrics import score_item

    rng = np.random.default_rng(seed)
    pool = ["I10", "E11.9", "N17.9", "J18.9", "I50.9", "K21.9", "E78.5", "F32.9", "Z79.4", "D64.9",
            "S030XXA", "R69"]  # the last two: retired / invalid codes
    recs, k = [], 0
    for p in range(n_patients):
        for _ in range(int(rng.integers(1, 4))):
            gold = sorted(rng.choice(pool[:10], size=int(rng.integers(0, 5)), replace=False).tolist())
            pred = rng.choice(pool, size=int(rng.integers(0, 8)), replace=False).tolist()
            recs.append(score_item({"item_id": f"i{k}", "subject_id": p}, {"codes": gold}, pred))
            k += 1
    return recs


def _sql_records(n_patients=15, seed=0):
    from medbench.tasks.sql.metrics import make_record

    rng = np.random.default_rng(seed)
    recs, k = [], 0
    for p in range(n_patients):
        for _ in range(int(rng.integers(1, 4))):
            answerable = rng.random() < 0.7
            gold = {"answerable": bool(answerable), "sql": "SELECT 1" if answerable else None, "template": "t"}
            r = rng.random()
            if r < 0.25:
                prediction, pred = None, None
            else:
                ok = rng.random() < 0.5
                failed = rng.random() < 0.2
                pred = {"answer": None if failed else ("x" if ok else "y"), "error": "boom" if failed else None,
                        "em": bool(ok and rng.random() < 0.5), "token_f1": float(rng.random())}
                prediction = "SELECT 2"
            recs.append(make_record({"item_id": f"s{k}", "subject_id": p}, gold, prediction, pred,
                                    {"answer": "x"} if answerable else None))
            k += 1
    return recs


def _conversation_records(n_patients=14, seed=0):
    from medbench.tasks.conversation.facts import FACT_TYPES

    rng = np.random.default_rng(seed)
    recs = []
    for p in range(n_patients):
        for j in range(int(rng.integers(1, 3))):
            total = {t: int(rng.integers(0, 4)) if t != "microbiology" or p % 5 == 0 else 0 for t in FACT_TYPES}
            hit = {t: int(rng.integers(0, total[t] + 1)) for t in FACT_TYPES}
            valid = rng.random() < 0.85
            rec = {"item_id": f"c{p}-{j}", "subject_id": p, "facts_total": total, "facts_hit": hit,
                   "invented": int(rng.integers(0, 4)), "grounded": int(rng.integers(0, 6)),
                   "schema_valid": valid, "chronology_ok": valid and rng.random() < 0.8,
                   "turns": int(rng.integers(0, 20)) if valid else 0, "correct": bool(rng.random() < 0.5)}
            # form parts and the headline's per-item product on the 2^-24 grid the scorer uses
            form = {k: float(rng.integers(0, 1 << 24)) / (1 << 24) if valid else 0.0
                    for k in ("dialogue_form", "phase_coverage", "form_score")}
            form["copy_rate"] = float(rng.integers(0, 1 << 24)) / (1 << 24) if valid else None
            rec["form"] = form
            rec["score"] = float(rng.integers(0, 1 << 24)) / (1 << 24) if valid else 0.0
            if rng.random() < 0.6:
                rec["judge_accuracy"] = int(rng.integers(1, 6))
                rec["judge_completeness"] = int(rng.integers(1, 6))
                rec["judge_plausibility"] = int(rng.integers(1, 6))
            recs.append(rec)
    return recs


@pytest.mark.parametrize("family_name,make", [("icd", _icd_records), ("sql", _sql_records),
                                              ("conversation", _conversation_records)])
def test_sum_path_equals_aggregate_path_exactly(family_name, make):
    from medbench.tasks import get_family

    fam = get_family(family_name)
    recs = make()
    point = fam.aggregate(recs)
    metrics = sorted(m for m, v in point.items() if v is not None)
    slow = bootstrap_intervals(recs, fam.aggregate, metrics, seed=5, point=point)
    calls = []

    def counting(sample):
        calls.append(1)
        return fam.aggregate(sample)

    fast = bootstrap_intervals(recs, counting, metrics, seed=5, point=point,
                               mean_fields=getattr(fam, "mean_metrics", None),
                               sum_fields=(fam.item_sums, fam.aggregate_sums))
    assert calls == []  # every metric took the vectorised path: no aggregate() per replicate
    assert fast == slow  # bit for bit, every metric
    assert all(slow[m] is not None for m in metrics)


def test_sum_path_distrusts_a_metric_that_disagrees_with_aggregate():
    recs = _records(10, 2, seed=3, clustered=False)

    def item_sums(r):
        return {"s": r["score"]}

    def wrong_sums(S, n):  # claims 'acc' but computes something else: must not be used
        return {"acc": S["s"] / n / 2}

    calls = []

    def agg(sample):
        calls.append(1)
        return _mean_agg(sample)

    fast = bootstrap_intervals(recs, agg, ["acc"], seed=1, sum_fields=(item_sums, wrong_sums))
    assert len(calls) == 1 + 1000  # point estimate + every replicate through aggregate()
    assert fast == bootstrap_intervals(recs, _mean_agg, ["acc"], seed=1)


def test_population_items_move_with_their_template_and_do_not_make_a_split_rankable():
    """Items without a patient: grouped by their `cluster` key (a population-level SQL template's
    slot fillings, computed over the same database), alone without one (EHRSQL imports); the
    leaderboard's "too few patients to rank" counts patients, not these groups."""
    from medbench.publish.site import n_patients, n_real_patients

    recs = ([{"subject_id": s, "x": 1} for s in (1, 1, 2)]
            + [{"subject_id": None, "cluster": f"template:t{i % 3}", "x": 0} for i in range(40)]
            + [{"subject_id": None, "x": 0}, {"subject_id": None, "cluster": None, "x": 1}])
    clusters = make_clusters(recs)
    assert clusters.n == 2 + 3 + 2
    assert sorted(len(m) for m in clusters.members) == [1, 1, 1, 2, 13, 13, 14]
    r = {"records": recs}
    assert n_patients(r) == 7 and n_real_patients(r) == 2
    assert n_real_patients({"records": [{"subject_id": None}]}) is None  # EHRSQL import: clusters count
