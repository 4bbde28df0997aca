"""Paired-bootstrap ranks (a pure function) and the leaderboard's patients / too-few note."""

from __future__ import annotations

import pytest
from _scoring_fixtures import make_release, use_fake_family, write_submission

from medbench.scoring.stats import paired_bootstrap, paired_ranks
from medbench.tasks.sql import FAMILY as SQL


def _records(correct: list[bool], per_patient: int = 2) -> list[dict]:
    return [{"item_id": f"i{k}", "subject_id": k // per_patient, "score": 1 if ok else -1, "answerable": True,
             "abstained": False, "correct": ok, "executed": True, "em": ok, "token_f1": 1.0 if ok else 0.0}
            for k, ok in enumerate(correct)]


def test_paired_ranks_separate_only_when_the_paired_interval_excludes_zero():
    n = 120
    strong = _records([k % 10 != 0 for k in range(n)])  # 90% right
    near = _records([k % 10 not in (0, 1) or k >= 110 for k in range(n)])  # a few items worse
    weak = _records([k % 2 == 0 for k in range(n)])  # 50% right
    entries = [{"records": r, "complete": True} for r in (weak, strong, near)]
    ranks = paired_ranks(entries, SQL.item_sums, SQL.aggregate_sums, "rs10", True)
    d_near = paired_bootstrap(strong, near, SQL.item_sums, SQL.aggregate_sums, ["rs10"])["metrics"]["rs10"]
    d_weak = paired_bootstrap(strong, weak, SQL.item_sums, SQL.aggregate_sums, ["rs10"])["metrics"]["rs10"]
    assert d_weak["ci"][0] > 0 and d_weak["p_value"] < 0.05
    assert ranks[0] > ranks[1]  # weak below strong
    near_separated = d_near["ci"][0] > 0
    assert (ranks[2] > ranks[1]) == near_separated  # the rule, whichever way the test came out
    # incomplete entries are not ranked and push nobody down
    entries.append({"records": weak, "complete": False})
    assert paired_ranks(entries, SQL.item_sums, SQL.aggregate_sums, "rs10", True)[:3] == ranks
    assert paired_ranks(entries, SQL.item_sums, SQL.aggregate_sums, "rs10", True)[3] is None
    # deterministic, and symmetric in the pair's order
    assert paired_ranks(entries[:3][::-1], SQL.item_sums, SQL.aggregate_sums, "rs10", True) == ranks[::-1]
    pair = paired_bootstrap(strong, weak, SQL.item_sums, SQL.aggregate_sums)
    assert pair["n_patients"] == n // 2 and pair["n_items"] == n
    assert pair["metrics"]["rs0"]["diff"] == pytest.approx(SQL.aggregate(strong)["rs0"] - SQL.aggregate(weak)["rs0"])


def test_leaderboard_shows_patients_and_marks_too_few_to_rank(tmp_path, monkeypatch):
    from medbench.pipeline import score_file

    use_fake_family(monkeypatch)
    rel = make_release(tmp_path)  # 6 patients
    sub = write_submission(tmp_path / "a.jsonl", rel, model="model-a")
    out = score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb", show_progress=False)
    assert out.result["bootstrap"]["clusters"] == 6
    html = (tmp_path / "lb" / "index.html").read_text()
    assert "too few patients to rank (6 &lt; 30)" in html
    assert "95% CI (n patients)" in html and "n=6</span>" in html
