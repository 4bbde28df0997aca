"""Offline proof that `medbench train` learns: tiny local LM, SFT then GRPO on a synthetic release.

Everything is local (random-init model, tokenizer trained on the release's text). The GRPO reward
is the SQL scorer's own (medbench/train/rewards.py); the run is seeded, so the margin below is
reproducible on the same software stack.
"""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, run_cli

from medbench.train.recipes import EVAL_EVERY, GRPO_STEPS, TINY_SQL_TEMPLATES

pytest.importorskip("trl")
pytestmark = [pytest.mark.slow, pytest.mark.train]

#: The session's one training run: the learnable recipe (medbench/train/recipes.py) with
#: `--use-vllm` (tests/conftest.py: tiny_sql_training). Here: its artifacts, options and the
#: run -> evaluate path; that GRPO learns is tests/test_train_learning.py's claim on the same run.
CHECKPOINTS = {"sft", *(f"grpo-{s}" for s in range(EVAL_EVERY, GRPO_STEPS + 1, EVAL_EVERY))}


@pytest.fixture(scope="module")
def trained(tiny_sql_training, tmp_path_factory):
    # the run is shared (read-only): this module's commands keep their caches in a home of its own
    return {**tiny_sql_training, "env": {"MEDBENCH_HOME": str(tmp_path_factory.mktemp("train_home"))}}


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_grpo_log_and_summary(trained):
    rows = [r for r in _log(trained["out"]) if r["phase"] == "grpo" and "reward" in r]
    assert [r["step"] for r in rows] == list(range(1, GRPO_STEPS + 1))
    rewards = [r["reward"] for r in rows]
    summary = json.loads((trained["out"] / "train_summary.json").read_text())
    curve = summary["reward_curve"]
    # the summary is canonical JSON: floats rounded to 6 places
    assert curve["first"] == pytest.approx(sum(rewards[:curve["window"]]) / curve["window"], abs=1e-6)
    assert curve["last"] == pytest.approx(sum(rewards[-curve["window"]:]) / curve["window"], abs=1e-6)
    assert curve["ci_low"] <= curve["diff"] <= curve["ci_high"]
    # candidates: SFT and a GRPO checkpoint every EVAL_EVERY steps, each with rates, CI and a verdict
    assert set(summary["dev_scores"]) == CHECKPOINTS
    for name, res in summary["dev_scores"].items():
        assert {"abstention_rate", "valid_output_rate", "headline", "metrics"} <= set(res), name
        assert name in summary["selection"]["candidates"]
    assert set(summary["paired_vs_sft"]) == CHECKPOINTS - {"sft"}
    assert "abstention rate" in summary["selection"]["rule"]
    assert summary["selected_checkpoint"] in summary["dev_scores"]
    assert summary["selection"]["candidates"][summary["selected_checkpoint"]]["eligible"]
    items = [json.loads(x) for x in (trained["out"] / "dev_items.jsonl").read_text().splitlines()]
    assert {r["checkpoint"] for r in items} == CHECKPOINTS
    guard = summary["abstention_guard"]
    assert guard["always_abstain_train_reward"] < guard["sft_train_outcome_reward"]


def test_artifacts(trained):
    out = trained["out"]
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "train_log.jsonl", "medbench_train_config.json", "README.md", "train_summary.json",
                 "dev_items.jsonl", "sft/trainer_state.json", "grpo/trainer_state.json",
                 "sft_model/model.safetensors"):
        assert (out / name).is_file(), name
    rows = _log(out)
    assert any(r["phase"] == "sft" and "loss" in r for r in rows)
    grpo = [r for r in rows if r["phase"] == "grpo" and "reward" in r]
    for key in ("reward", "loss", "kl", "completions/mean_length", "rewards/sql_correctness/mean",
                "rewards/sql_format/mean", "rewards/sql_abstention_guard/mean"):
        assert all(key in r for r in grpo), key
    cfg = json.loads((out / "medbench_train_config.json").read_text())
    assert cfg["grpo_steps"] == GRPO_STEPS and cfg["task"] == "sql"
    assert cfg["use_vllm"] is True and cfg["use_vllm_effective"] is False
    assert cfg["benchmark_sha256"] and cfg["sql_templates"] == list(TINY_SQL_TEMPLATES)
    from medbench.release import open_release

    rel = open_release(trained["release"])
    n_train = sum(1 for g in rel.gold("sql", "train").values() if g["template"] in TINY_SQL_TEMPLATES)
    assert cfg["train_items"] == n_train > 0
    card = (out / "README.md").read_text()
    assert cfg["benchmark_name"] in card and f"GRPO steps: {GRPO_STEPS}" in card
    assert "| sft |" in card and f"| grpo-{GRPO_STEPS} |" in card and "rs10=" in card
    assert "Selection rule:" in card


def test_use_vllm_falls_back_with_message(trained):
    out = trained["output"]
    assert "--use-vllm:" in out and "using plain transformers generation instead" in out, out[-2000:]


def test_medbench_run_evaluates_trained_model(trained, tmp_path):
    sub = tmp_path / "sub.jsonl"
    proc = run_cli("run", "--benchmark", str(trained["release"]), "--task", "sql", "--split", "dev",
                   "--model", f"hf:{trained['out']}", "--limit", "3", "--max-tokens", "8",
                   "--out", str(sub), env=trained["env"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [json.loads(x) for x in sub.read_text().splitlines() if x.strip()]
    assert len([r for r in lines if "item_id" in r]) == 3, lines


def test_lora_short_run(trained, tmp_path):
    out = tmp_path / "lora"
    proc = run_cli("train", "--benchmark", str(trained["release"]), "--model", str(trained["tiny"]),
                   "--out", str(out), "--task", "sql", "--lora", "--sft-epochs", "0.25", "--train-limit", "8",
                   "--grpo-steps", "2", "--num-generations", "2", "--batch-size", "2",
                   "--max-completion-length", "4", "--dev-limit", "2", "--report-to", "tensorboard",
                   env=trained["env"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = out.iterdir()
    # tensorboard event files stay in the run folder, one set per phase
    for phase in ("sft", "grpo"):
        assert list((out / phase).rglob("events.out.tfevents.*")), phase
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "model.safetensors").is_file()  # merged weights load as a plain model
    assert json.loads((out / "medbench_train_config.json").read_text())["lora"] is True


def test_report_to_wandb_without_wandb_is_one_line_error(trained, tmp_path):
    import importlib.util

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    proc = run_cli("train", "--benchmark", str(trained["release"]), "--task", "sql", "--model",
                   str(trained["tiny"]), "--out", str(tmp_path / "o"), "--report-to", "wandb", env=trained["env"])
    assert_one_line_error(proc, "--report-to wandb", "not installed")
    assert not (tmp_path / "o").exists()


def test_bad_input_is_one_line_error(trained, tmp_path):
    proc = run_cli("train", "--benchmark", str(trained["release"]), "--task", "sql",
                   "--model", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), env=trained["env"])
    assert_one_line_error(proc, "missing")
    assert not (tmp_path / "o").exists()


def test_patient_split_and_sft_pass_at_k(trained, tmp_path):
    """--rl-patient-fraction: SFT and GRPO items come from disjoint train patients, recorded in
    train_summary.json; --sft-pass-k: the SFT model's sampled pass@1 / pass@k on the GRPO prompts."""
    out = tmp_path / "split"
    proc = run_cli("train", "--benchmark", str(trained["release"]), "--model", str(trained["tiny"]),
                   "--out", str(out), "--task", "sql", "--sft-epochs", "0.25", "--train-limit", "24",
                   "--grpo-steps", "1", "--num-generations", "2", "--batch-size", "2",
                   "--max-completion-length", "4", "--dev-limit", "2", "--rl-patient-fraction", "0.5",
                   "--sft-pass-k", "2", env=trained["env"], timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = out.iterdir()
    summary = json.loads((out / "train_summary.json").read_text())
    cfg = json.loads((out / "medbench_train_config.json").read_text())
    split = summary["patient_split"]
    assert split["rl_patient_fraction"] == 0.5 and split["sft_patients"] >= 1 and split["rl_patients"] >= 1
    assert split["sft_items"] + split["rl_items"] == cfg["train_items"] == 24
    assert (cfg["sft_items"], cfg["grpo_prompt_items"]) == (split["sft_items"], split["rl_items"])
    from medbench.release import open_release

    rel = open_release(trained["release"])
    first = [it for it in rel.items("sql", "train")][:24]
    in_rl = [str(it["subject_id"]) in set(split["rl_subject_ids"]) for it in first]
    assert sum(in_rl) == split["rl_items"]
    pk = summary["sft_pass_at_k"]
    assert pk["k"] == 2 and pk["n"] == split["rl_items"]
    assert 0 <= pk["pass@1"] <= pk["pass@2"] <= 1 and 0 <= pk["mixed_groups"] <= 1


def test_rl_patient_fraction_out_of_range_is_one_line_error(trained, tmp_path):
    proc = run_cli("train", "--benchmark", str(trained["release"]), "--task", "sql", "--model",
                   str(trained["tiny"]), "--out", str(tmp_path / "o"), "--rl-patient-fraction", "1",
                   env=trained["env"])
    assert_one_line_error(proc, "--rl-patient-fraction")
    assert not (tmp_path / "o").exists()
