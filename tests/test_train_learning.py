"""Proof of learning, offline: GRPO must improve on the SFT checkpoint it starts from.

The recipe (medbench/train/recipes.py): a 40-patient synthetic SQL release restricted to six
long-standing templates (2 answerable, 4 unanswerable), the tiny local model, SFT to a
non-trivial level, then GRPO with the shaped rewards. Two claims, each with a 95% bootstrap CI
that must exclude 0 (computed here from the run's own per-step log and per-item dev records,
independently of the trainer's summary):

1. the mean training reward of the last window of GRPO steps exceeds the first window's;
2. the dev headline RS(10) of the selected GRPO checkpoint exceeds SFT's, paired over the same
   dev items with a patient-clustered bootstrap, and that checkpoint respects the selection
   bounds (so "abstain on everything" cannot pass).

Fixed seeds. The thresholds are the claims themselves; they are not tuned to the measurement.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from medbench.train.recipes import GRPO_STEPS

pytest.importorskip("trl")
# one session-wide run (tests/conftest.py: tiny_sql_training): 3.5–8 min on the shared, loaded 2-core machine
pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.timeout(1800)]

WINDOW = 5
RESAMPLES = 4000


@pytest.fixture(scope="module")
def run(tiny_sql_training):
    return tiny_sql_training["out"]


def test_training_reward_rises(run):
    rows = [json.loads(x) for x in (run / "train_log.jsonl").read_text().splitlines()]
    rewards = np.array([r["reward"] for r in rows if r["phase"] == "grpo" and "reward" in r])
    assert rewards.size == GRPO_STEPS
    first, last = rewards[:WINDOW], rewards[-WINDOW:]
    rng = np.random.default_rng(0)
    boot = (last[rng.integers(0, WINDOW, (RESAMPLES, WINDOW))].mean(1)
            - first[rng.integers(0, WINDOW, (RESAMPLES, WINDOW))].mean(1))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert lo > 0, f"reward first {first.mean():.4f} last {last.mean():.4f}, CI [{lo:.4f}, {hi:.4f}]: {rewards}"


@pytest.mark.xfail(strict=True, reason=(
    "measured 2026-12-02 (docs/BENCHMARKS.md): with digit-level tokens the SFT model writes SQL "
    "that runs for unseen dev patients (valid-SQL rate 1.0) but copies no id right after 3 epochs "
    "(EX 0); GRPO then drifts to abstaining on everything, which the selection bounds reject, so "
    "SFT is selected (24 SFT epochs: EX 40%, GRPO ties SFT; attempt 4, GRPO on patients held out "
    "of SFT: the SFT model's sampled answerable accuracy 10% is below the 36% break-even of the "
    "reward levels, GRPO collapses to abstaining). Strict: an unexpected pass fails, "
    "so the marker must go when a recipe makes the claim true. The assertion is not loosened."))
def test_dev_headline_beats_sft_paired(run):
    summary = json.loads((run / "train_summary.json").read_text())
    selected = summary["selected_checkpoint"]
    table = {k: (v["metrics"]["rs10"], v["abstention_rate"], v["valid_output_rate"])
             for k, v in summary["dev_scores"].items()}
    assert selected != "sft", f"no GRPO checkpoint beat SFT within the bounds: {table}, " \
                              f"{summary['selection']['candidates']}"
    assert summary["selection"]["candidates"][selected]["eligible"]
    items = [json.loads(x) for x in (run / "dev_items.jsonl").read_text().splitlines()]
    sft = {r["item_id"]: r for r in items if r["checkpoint"] == "sft"}
    new = {r["item_id"]: r for r in items if r["checkpoint"] == selected}
    assert sft.keys() == new.keys() and len(sft) >= 30
    ids = sorted(sft)
    subjects = sorted({sft[i]["subject_id"] for i in ids})
    diff_by_subject = np.array([[sum(new[i]["rs10"] - sft[i]["rs10"] for i in ids if sft[i]["subject_id"] == s),
                                 sum(1 for i in ids if sft[i]["subject_id"] == s)] for s in subjects])
    point = diff_by_subject[:, 0].sum() / diff_by_subject[:, 1].sum()
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(subjects), (RESAMPLES, len(subjects)))
    boot = diff_by_subject[draws, 0].sum(1) / diff_by_subject[draws, 1].sum(1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    assert point == pytest.approx(table[selected][0] - table["sft"][0])
    assert lo > 0, f"dev rs10 {selected} - sft = {point:.1f}, CI [{lo:.1f}, {hi:.1f}]; {table}"


def test_always_abstain_is_worse_than_sft_on_train(run):
    guard = json.loads((run / "train_summary.json").read_text())["abstention_guard"]
    assert guard["always_abstain_train_reward"] < guard["sft_train_outcome_reward"]
