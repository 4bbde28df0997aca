"""`medbench train --accelerate-config configs/cpu_ddp.yaml --num-processes 2`: two CPU processes
(gloo) run SFT + GRPO for a few steps through `accelerate launch -m medbench.train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _train_release import build_tiny_release
from conftest import assert_one_line_error, run_cli

pytest.importorskip("trl")
pytest.importorskip("accelerate")
# two training processes on 2 cores: `make test` runs this module in the serial pass (pyproject: serial)
pytestmark = [pytest.mark.slow, pytest.mark.train, pytest.mark.serial]

REPO = Path(__file__).resolve().parents[1]


def test_two_cpu_processes(tmp_path):
    release = build_tiny_release(tmp_path, patients=6)
    env = {"MEDBENCH_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    tiny = tmp_path / "tiny"
    proc = run_cli("make-tiny-model", "--benchmark", str(release), "--task", "sql", "--out", str(tiny),
                   "--hidden-size", "32", "--layers", "1", env=env)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "ddp"
    proc = run_cli("train", "--accelerate-config", str(REPO / "configs" / "cpu_ddp.yaml"), "--num-processes", "2",
                   "--benchmark", str(release), "--model", str(tiny), "--out", str(out), "--task", "sql",
                   "--sft-epochs", "0.5", "--train-limit", "8", "--grpo-steps", "3", "--eval-every", "2",
                   "--num-generations", "2", "--batch-size", "2", "--max-completion-length", "6",
                   "--dev-limit", "2", env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = sorted(out.iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("run_")  # both processes wrote one run folder
    out = runs[0]
    cfg = json.loads((out / "medbench_train_config.json").read_text())
    assert cfg["num_processes"] == 2
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    grpo = [r for r in rows if r["phase"] == "grpo" and "reward" in r]
    assert [r["step"] for r in grpo] == [1, 2, 3]
    summary = json.loads((out / "train_summary.json").read_text())
    assert set(summary["dev_scores"]) == {"sft", "grpo-2", "grpo-3"}
    assert summary["selected_checkpoint"] in summary["dev_scores"]
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()
    # only the main process wrote: one work folder swapped in, none left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".ddp")) == []


def test_missing_accelerate_config_is_one_line_error(tmp_path):
    proc = run_cli("train", "--accelerate-config", str(tmp_path / "nope.yaml"), "--benchmark", str(tmp_path),
                   "--task", "sql", "--model", str(tmp_path), "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "nope.yaml")
