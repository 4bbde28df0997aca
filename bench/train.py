"""Training throughput of `medbench train` (generated tokens/s, GRPO steps/s, SFT steps/s).

CPU (always): a synthetic release (`medbench synth` + `build --tasks sql`), the tiny local model
(medbench/train/tiny.py), a short SFT + GRPO run through medbench.train.trainer.train; the
numbers come from the run's own training_log.jsonl (TRL's per-step completion lengths and
step times).
GPU (when torch.cuda.is_available() and --model DIR is given): the same run on a small local
instruct model (e.g. Qwen2.5-0.5B-Instruct), with plain transformers generation and with TRL's
vLLM generation (skipped with a message when vllm is not installed).

    .venv/bin/python bench/train.py [--patients 12] [--grpo-steps 8] [--model DIR]
Prints one JSON object (and a summary on stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cli(*args: str, env: dict) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *args], env={**os.environ, **env},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"medbench {args[0]} failed:\n{proc.stderr}")


def one_run(release: Path, model: str, out: Path, args, use_vllm: bool, lr: float) -> dict:
    from medbench.train.trainer import TrainConfig, train

    cfg = TrainConfig(benchmark=str(release), task="sql", model=model, out=str(out), seed=0,
                      sft_epochs=1, train_limit=args.train_limit, grpo_steps=args.grpo_steps,
                      num_generations=args.num_generations, per_device_batch_size=args.batch_size,
                      learning_rate=lr, max_completion_length=args.max_completion_length,
                      dev_limit=4, use_vllm=use_vllm)
    t0 = time.perf_counter()
    summary = train(cfg, echo=lambda m: print(m, file=sys.stderr))
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "training_log.jsonl").read_text().splitlines()]
    grpo = [r for r in rows if r["phase"] == "grpo" and "step_time" in r]
    sft_rt = [r for r in rows if r["phase"] == "sft" and "train_runtime" in r]
    sft_steps = max([r["step"] for r in rows if r["phase"] == "sft"] or [0])
    step_time = sum(r["step_time"] for r in grpo)
    gen_tokens = sum(r["completions/mean_length"] * args.batch_size for r in grpo)
    return {
        "grpo_steps": len(grpo),
        "grpo_steps_per_s": round(len(grpo) / step_time, 3) if step_time else None,
        "generated_tokens": int(gen_tokens),
        "generated_tokens_per_s": round(gen_tokens / step_time, 1) if step_time else None,
        "sft_steps_per_s": round(sft_steps / sft_rt[0]["train_runtime"], 3) if sft_rt else None,
        "wall_s_total": round(wall, 1),
        "vllm_effective": json.loads((out / "medbench_train_config.json").read_text())["use_vllm_effective"],
        "selected": summary["selected_checkpoint"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=12)
    ap.add_argument("--grpo-steps", type=int, default=8)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=8, help="completions per GRPO step")
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--train-limit", type=int, default=16)
    ap.add_argument("--model", default=None, help="small local instruct model dir (GPU path)")
    args = ap.parse_args()

    import torch

    result = {"hardware": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(),
                           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
              "settings": vars(args), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"MEDBENCH_HOME": str(tmp / "home"), "MEDBENCH_NO_PROGRESS": "1"}
        os.environ.update(env)
        cli("synth", "--patients", str(args.patients), "--out", str(tmp / "synth"), env=env)
        cli("build", "--mimic-dir", str(tmp / "synth"), "--tasks", "sql", "--out", str(tmp / "rel"), env=env)
        cli("make-tiny-model", "--benchmark", str(tmp / "rel"), "--task", "sql", "--out", str(tmp / "tiny"),
            env=env)
        result["runs"]["tiny_cpu"] = one_run(tmp / "rel", str(tmp / "tiny"), tmp / "o_tiny", args, False, 1e-3)
        if not torch.cuda.is_available():
            print("no CUDA GPU: skipping the instruct-model runs (plain and vLLM generation)", file=sys.stderr)
        elif not args.model:
            print("GPU present but no --model DIR: skipping the instruct-model runs", file=sys.stderr)
        else:
            result["runs"]["model_plain"] = one_run(tmp / "rel", args.model, tmp / "o_plain", args, False, 1e-6)
            if importlib.util.find_spec("vllm") is None:
                print("vllm is not installed: skipping the vLLM-generation run", file=sys.stderr)
            else:
                result["runs"]["model_vllm"] = one_run(tmp / "rel", args.model, tmp / "o_vllm", args, True, 1e-6)
    for name, r in result["runs"].items():
        print(f"{name}: {r['generated_tokens_per_s']} generated tok/s, {r['grpo_steps_per_s']} GRPO steps/s, "
              f"{r['sft_steps_per_s']} SFT steps/s", file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
