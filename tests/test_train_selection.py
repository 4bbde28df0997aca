"""Dev checkpoint selection and run statistics (medbench/train/selection.py); no torch needed."""

from __future__ import annotations

import numpy as np
import pytest

from medbench.tasks import get_family
from medbench.train.selection import output_rates, paired_headline_ci, reward_curve, select_checkpoint


def _sql_records(kinds: list[str]) -> list[dict]:
    """SQL scorer-shaped records: c = correct, w = wrong, a = abstain on answerable,
    u = abstain on unanswerable, x = answers an unanswerable one; two items per patient."""
    from medbench.tasks.sql.metrics import make_record

    out = []
    for k, kind in enumerate(kinds):
        answerable = kind in "cwa"
        gold = {"sql": "SELECT 1" if answerable else None, "answerable": answerable, "template": "t"}
        pred = None if kind in "au" else "SELECT 1"
        execd = {"answer": "1" if kind in "c" else "2", "error": None}
        rec = make_record({"item_id": f"i{k:03d}", "subject_id": k // 2}, gold, pred,
                          None if pred is None else execd, {"answer": "1"} if answerable else None)
        out.append(rec)
    return out


def test_degenerate_abstainer_is_not_selected():
    """The issue's failure: SFT with wrong answers has RS(10) far below an always-abstain model."""
    sft_kinds = list("cwcwcxcuuu" * 3)
    sft = _sql_records(sft_kinds)
    abstain = _sql_records(["a" if k in "cw" else "u" for k in sft_kinds])
    family = get_family("sql")
    cands = {name: {"metrics": family.aggregate(recs), **output_rates("sql", recs)}
             for name, recs in (("sft", sft), ("grpo-10", abstain))}
    assert cands["grpo-10"]["metrics"]["rs10"] > cands["sft"]["metrics"]["rs10"]
    assert cands["grpo-10"]["abstention_rate"] == 1.0 and cands["grpo-10"]["valid_output_rate"] == 0.0
    selected, verdicts = select_checkpoint(cands, "rs10", True)
    assert selected == "sft"
    assert not verdicts["grpo-10"]["eligible"] and "abstention rate" in verdicts["grpo-10"]["reason"]
    # a genuinely better checkpoint within the bounds is selected
    better = _sql_records([("u" if k == "x" else ("c" if k == "w" and i % 3 else k))
                           for i, k in enumerate(sft_kinds)])
    cands["grpo-20"] = {"metrics": family.aggregate(better), **output_rates("sql", better)}
    selected, verdicts = select_checkpoint(cands, "rs10", True)
    assert selected == "grpo-20" and verdicts["grpo-20"]["eligible"]
    # a tighter abstention bound excludes it (it abstains on 3 more items of 30 = +0.10)
    selected, _ = select_checkpoint(cands, "rs10", True, max_abstention_increase=0.05)
    assert selected == "sft"


def test_paired_ci_matches_aggregate_and_detects_no_change():
    family = get_family("sql")
    a = _sql_records(list("cwcwcxcuuu" * 4))
    b = _sql_records(list("cccwcucuuu" * 4))
    res = paired_headline_ci(family, a, b, resamples=500, seed=1)
    assert res["diff"] == pytest.approx(family.aggregate(b)["rs10"] - family.aggregate(a)["rs10"])
    assert res["clusters"] == 20 and res["n_items"] == 40
    assert res["ci_low"] > 0
    same = paired_headline_ci(family, a, a, resamples=200)
    assert same["diff"] == 0 and same["ci_low"] == 0 and same["ci_high"] == 0
    # reversed: the interval is below 0
    rev = paired_headline_ci(family, b, a, resamples=500, seed=1)
    assert rev["ci_high"] < 0 and rev["diff"] == pytest.approx(-res["diff"])


def test_reward_curve_ci():
    rng = np.random.default_rng(0)
    flat = rng.normal(0, 0.1, size=40)
    c = reward_curve(flat, window=10, seed=0)
    assert c["ci_low"] < 0 < c["ci_high"] and len(c["window_means"]) == 4
    rising = flat + np.linspace(0, 1, 40)
    c = reward_curve(rising, window=10, seed=0)
    assert c["ci_low"] > 0 and c["diff"] == pytest.approx(rising[-10:].mean() - rising[:10].mean())
    assert reward_curve([0.1], window=5) is None


def test_headline_ci_brackets_the_value():
    from medbench.train.selection import headline_ci

    family = get_family("sql")
    recs = _sql_records(list("cwcwcxcuuu" * 4))
    h = headline_ci(family, recs, resamples=300)
    assert h["value"] == pytest.approx(family.aggregate(recs)["rs10"])
    assert h["ci_low"] < h["value"] < h["ci_high"]


def test_output_rates_are_the_family_s():
    """SQL: abstained / items and executed / answered; ICD: empty / items and parsed / items; a
    family without its own: `abstained` / items and parsed / items (the contract's default)."""
    recs = _sql_records(list("cwaux"))
    assert output_rates("sql", recs) == {"abstention_rate": 2 / 5, "valid_output_rate": 1.0}
    icd = [{"item_id": "a", "pred_codes": []}, {"item_id": "b", "pred_codes": ["I10"]},
           {"item_id": "c", "pred_codes": ["E11.9"]}]
    assert output_rates("icd", icd, {"a": None, "b": "not JSON", "c": None}) == \
        {"abstention_rate": pytest.approx(1 / 3), "valid_output_rate": pytest.approx(2 / 3)}
    qa = [{"item_id": "a", "abstained": True}, {"item_id": "b", "abstained": False}]
    assert output_rates("qa", qa, {"b": "unparsed"}) == {"abstention_rate": 0.5, "valid_output_rate": 0.5}
    assert output_rates("icd", []) == {"abstention_rate": 0.0, "valid_output_rate": 0.0}


def test_training_rows_and_template_filter_are_declared_by_the_family():
    from medbench.train.trainer import _item_rows, _restricted_ids

    recs = _sql_records(list("ca"))
    rows = _item_rows("sft", "sql", {"records": recs})
    assert [set(r) - {"checkpoint", "item_id", "subject_id", "score", "correct", "rs10"} for r in rows] == \
        [{"abstained", "executed", "answerable"}] * 2
    icd_rows = _item_rows("sft", "icd", {"records": [{"item_id": "a", "n_pred": 1, "tp": 1, "fp": 0, "fn": 2}]})
    assert icd_rows[0]["fn"] == 2 and "abstained" not in icd_rows[0]
    assert get_family("sql").train_template_field == "template"
    assert _restricted_ids(None, "icd", "train", ["t1"]) is None  # the flag does not apply to ICD


def test_sql_reward_guard_calibrates_on_the_sft_sample():
    from medbench.tasks import rewards

    golds = [{"sql": "SELECT 1", "answerable": True}] * 3 + [{"sql": None, "answerable": False}]
    calls = []

    def evaluate_train():
        calls.append(1)
        return {"records": _sql_records(list("cwau")), "n": 4}

    guard = get_family("sql").reward_guard(golds, evaluate_train)
    assert calls == [1] and guard["unanswerable_share"] == 0.25
    assert guard["target"] == pytest.approx(0.25 + rewards.GUARD_TOLERANCE) and guard["sft_train_items"] == 4
    assert get_family("icd").reward_guard(golds, evaluate_train) is None and calls == [1]


def test_eval_plan_default_tasks_are_the_families_that_ask_for_it():
    from medbench.evalplan import default_tasks

    assert default_tasks() == ["sql", "icd", "conversation"]


def test_patient_split_is_stable_disjoint_and_sized():
    """SFT / GRPO split of the train patients by sha256(subject_id): disjoint, covering, the
    requested share, independent of the order the ids come in, and nested as the share grows."""
    from medbench.train.trainer import split_patients

    ids = [str(10_000_000 + 7919 * k) for k in range(24)]
    sft, rl = split_patients(ids, 0.25)
    assert not sft & rl and sft | rl == set(ids) and len(rl) == 6
    assert split_patients(list(reversed(ids)), 0.25) == (sft, rl)
    assert split_patients(ids, 0.5)[1] > rl  # a larger share only adds GRPO patients
    assert split_patients(ids, 0.0) == (set(ids), set())
    # the hash, not the numeric order, decides: not simply the lowest or highest ids
    assert rl not in ({*sorted(ids)[:6]}, {*sorted(ids)[-6:]})
