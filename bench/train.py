"""Training benchmark of `medbench train`: throughput, reward curve, base / SFT / GRPO on dev.

CPU (default): the learnable recipe of medbench/train/recipes.py (a 40-patient synthetic SQL
release restricted to six templates, the tiny local model, SFT then GRPO), the same run as
tests/test_train_learning.py. Prints GRPO steps/s, generated tokens/s (TRL's per-step
completion lengths and step times), the reward curve (first vs last window, bootstrap CI), and
the dev table base -> SFT -> GRPO candidates with patient-clustered CIs and the paired CI of each
candidate's difference to SFT.

GPU: `--model DIR --device cuda [--use-vllm]` trains a real local instruct model (e.g.
Qwen2.5-0.5B-Instruct) on the same release, briefly, once with plain transformers generation and
once with TRL's vLLM generation (colocate mode), each in its own subprocess (peak GPU memory per
run), and prints them side by side: generated tokens/s, GRPO steps/s, peak GPU memory, dev
headline. Sized to finish in under 8 minutes on one H100/H200-class GPU.

    .venv/bin/python bench/train.py                                  # CPU, tiny model
    .venv/bin/python bench/train.py --model /models/Qwen2.5-0.5B-Instruct --device cuda --use-vllm
Prints one JSON object on stdout (and tables on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cli(*args: str, env: dict) -> None:
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *args], env={**os.environ, **env}, check=False,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"medbench {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def run_dir(out: Path) -> Path:
    """`medbench train --out OUT` writes OUT/run_<timestamp>/; the newest one."""
    runs = sorted(p for p in Path(out).glob("run_*") if p.is_dir())
    return runs[-1] if runs else Path(out)


def throughput(out: Path) -> dict:
    out = run_dir(out)
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    grpo = [r for r in rows if r["phase"] == "grpo" and "step_time" in r]
    cfg = json.loads((out / "medbench_train_config.json").read_text())
    per_step = cfg["per_device_batch_size"] or max(cfg["num_generations"], 2)
    per_step *= cfg.get("num_processes", 1)
    step_time = sum(r["step_time"] for r in grpo)
    gen_tokens = sum(r["completions/mean_length"] * per_step for r in grpo)
    sft_rt = [r for r in rows if r["phase"] == "sft" and "train_runtime" in r]
    sft_steps = max([r["step"] for r in rows if r["phase"] == "sft"] or [0])
    return {
        "grpo_steps": len(grpo),
        "grpo_steps_per_s": round(len(grpo) / step_time, 4) if step_time else None,
        "generated_tokens": int(gen_tokens),
        "generated_tokens_per_s": round(gen_tokens / step_time, 1) if step_time else None,
        "sft_steps_per_s": round(sft_steps / sft_rt[0]["train_runtime"], 3) if sft_rt else None,
        "vllm_effective": cfg["use_vllm_effective"],
    }


def dev_table(summary: dict) -> list[dict]:
    rows = []

    def order(name: str) -> tuple:  # base, sft, then GRPO checkpoints by step
        return (0, 0) if name == "base" else (1, 0) if name == "sft" else (2, int(name.rsplit("-", 1)[-1]))

    for name, res in sorted(summary["dev_scores"].items(), key=lambda kv: order(kv[0])):
        h = res.get("headline") or {}
        p = summary["paired_vs_sft"].get(name)
        v = summary["selection"]["candidates"].get(name)
        value = h.get("value", res["metrics"].get(summary["headline_metric"]))
        rows.append({"checkpoint": name, "n": res["n"], "headline": value, "ci": [h.get("ci_low"), h.get("ci_high")],
                     "abstention_rate": res["abstention_rate"], "valid_output_rate": res["valid_output_rate"],
                     "ex": res["metrics"].get("ex"),
                     "diff_vs_sft": None if p is None else p["diff"],
                     "diff_ci": None if p is None else [p["ci_low"], p["ci_high"]],
                     "eligible": None if v is None else v["eligible"],
                     "selected": name == summary["selected_checkpoint"]})
    return rows


def print_dev_table(title: str, summary: dict) -> None:
    head = summary["headline_metric"]
    print(f"\n{title}: dev {head} (95% patient-clustered bootstrap CIs)", file=sys.stderr)
    print(f"{'checkpoint':<10} {'n':>4} {head:>9} {'CI':>20} {'abst':>6} {'valid':>6} {'EX':>6} "
          f"{'diff vs SFT':>12} {'paired CI':>20} eligible", file=sys.stderr)
    for r in dev_table(summary):
        ci = f"[{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]" if r["ci"][0] is not None else "-"
        d = "-" if r["diff_vs_sft"] is None else f"{r['diff_vs_sft']:+.1f}"
        dci = "-" if r["diff_ci"] is None else f"[{r['diff_ci'][0]:+.1f}, {r['diff_ci'][1]:+.1f}]"
        ex = "-" if r["ex"] is None else f"{r['ex']:.1f}"
        hv = "-" if r["headline"] is None else f"{r['headline']:.2f}"
        print(f"{r['checkpoint']:<10} {r['n']:>4} {hv:>9} {ci:>20} {r['abstention_rate']:>6.3f} "
              f"{r['valid_output_rate']:>6.3f} {ex:>6} {d:>12} {dci:>20} "
              f"{'-' if r['eligible'] is None else r['eligible']}{' (selected)' if r['selected'] else ''}",
              file=sys.stderr)
    c = summary.get("reward_curve")
    if c:
        print(f"reward: first {c['window']} steps {c['first']:+.4f}, last {c['window']} {c['last']:+.4f}, "
              f"difference {c['diff']:+.4f} [{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]; window means "
              + " ".join(f"{m:+.3f}" for m in c["window_means"]), file=sys.stderr)


def one_gpu_run(args) -> None:
    """Child process: one GPU training run; prints {throughput, peak memory, summary} as JSON."""
    import torch

    from medbench.train.trainer import TrainConfig, train

    torch.cuda.reset_peak_memory_stats()
    cfg = TrainConfig(benchmark=args.release, task="sql", model=args.model, out=args.out, seed=0,
                      sql_templates=None, sft_epochs=args.sft_epochs, train_limit=args.train_limit,
                      grpo_steps=args.grpo_steps, eval_every=args.grpo_steps, num_generations=args.num_generations,
                      per_device_batch_size=args.batch_size, learning_rate=1e-6, sft_learning_rate=1e-5,
                      max_completion_length=args.max_completion_length, dev_limit=args.dev_limit,
                      use_vllm=args.use_vllm, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3,
                      eval_base=True)
    t0 = time.perf_counter()
    summary = train(cfg, echo=lambda m: print(m, file=sys.stderr))
    wall = time.perf_counter() - t0
    free, total = torch.cuda.mem_get_info()
    res = {"wall_s": round(wall, 1), **throughput(Path(args.out)),
           "peak_gpu_mem_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
           # vLLM may allocate outside torch's caching allocator: the device's own count too
           "device_mem_used_gib_end": round((total - free) / 2**30, 2),
           "summary": summary}
    print("RESULT " + json.dumps(res))


def gpu_runs(args, release: Path, tmp: Path, env: dict) -> dict:
    import importlib.util

    modes = ["plain"]
    if args.use_vllm:
        if importlib.util.find_spec("vllm") is None:
            print("vllm is not installed: the vLLM run is skipped (pip install -e '.[vllm]')", file=sys.stderr)
        else:
            modes.append("vllm")
    runs: dict[str, list] = {m: [] for m in modes}
    for rnd in range(args.rounds):  # interleaved A B A B
        for mode in modes:
            out = tmp / f"gpu_{mode}_{rnd}"
            cmd = [sys.executable, __file__, "--_child", "--release", str(release), "--model", args.model,
                   "--out", str(out), "--grpo-steps", str(args.grpo_steps), "--sft-epochs", str(args.sft_epochs),
                   "--train-limit", str(args.train_limit), "--dev-limit", str(args.dev_limit),
                   "--num-generations", str(args.num_generations), "--batch-size", str(args.batch_size),
                   "--max-completion-length", str(args.max_completion_length)]
            if mode == "vllm":
                cmd.append("--use-vllm")
            proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=False)
            line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                print(f"GPU run {mode} failed:\n{proc.stderr[-4000:]}", file=sys.stderr)
                runs[mode].append({"error": proc.stderr[-1000:]})
                continue
            runs[mode].append(json.loads(line[len("RESULT "):]))
    print(f"\nGPU ({args.model}), {args.rounds} round(s), interleaved", file=sys.stderr)
    print(f"{'generation':<10} {'gen tok/s (min/med)':>22} {'GRPO steps/s':>14} {'peak GPU GiB':>13} "
          f"{'dev rs10 sft→grpo':>20}", file=sys.stderr)
    table = {}
    for mode, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            continue
        tps = sorted(r["generated_tokens_per_s"] for r in ok)
        sps = sorted(r["grpo_steps_per_s"] for r in ok)
        mem = max(r["peak_gpu_mem_gib"] for r in ok)
        d = ok[-1]["summary"]["dev_scores"]
        last = f"grpo-{args.grpo_steps}"
        table[mode] = {"generated_tokens_per_s_min": tps[0], "generated_tokens_per_s_median": tps[len(tps) // 2],
                       "grpo_steps_per_s_median": sps[len(sps) // 2], "peak_gpu_mem_gib": mem,
                       "dev_sft": d["sft"]["metrics"].get("rs10"), "dev_grpo": d.get(last, {}).get("metrics", {}).get("rs10")}
        t = table[mode]
        print(f"{mode:<10} {t['generated_tokens_per_s_min']:>10.1f}/{t['generated_tokens_per_s_median']:<11.1f} "
              f"{t['grpo_steps_per_s_median']:>14.3f} {mem:>13.2f} {t['dev_sft']!s:>9}→{t['dev_grpo']!s:<9}",
              file=sys.stderr)
        print_dev_table(f"GPU {mode}", ok[-1]["summary"])
    if "plain" in table and "vllm" in table:
        table["vllm_vs_plain_tokens_per_s"] = round(table["vllm"]["generated_tokens_per_s_median"]
                                                   / table["plain"]["generated_tokens_per_s_median"], 3)
        print(f"vLLM / plain generated tokens/s: {table['vllm_vs_plain_tokens_per_s']}×", file=sys.stderr)
    return {"runs": {m: [{k: v for k, v in r.items() if k != "summary"} for r in rs] for m, rs in runs.items()},
            "table": table}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="a local instruct model dir (GPU runs)")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--use-vllm", action="store_true", help="GPU: also run with TRL's vLLM generation")
    ap.add_argument("--rounds", type=int, default=1, help="GPU: interleaved rounds of plain / vLLM")
    ap.add_argument("--grpo-steps", type=int, default=8)
    ap.add_argument("--sft-epochs", type=float, default=0.5)
    ap.add_argument("--train-limit", type=int, default=64)
    ap.add_argument("--dev-limit", type=int, default=32)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-completion-length", type=int, default=128)
    ap.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--release", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        one_gpu_run(args)
        return

    import torch

    from medbench.train.recipes import TINY_SQL_PATIENTS, TINY_SQL_SEED, TINY_SQL_TRAIN_ARGS

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: no CUDA GPU is available")
    if args.device == "cuda" and not args.model:
        sys.exit("error: --device cuda needs --model DIR (a local instruct model)")
    result = {"hardware": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "torch_threads": torch.get_num_threads(),
                           "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
              "load_average_before": os.getloadavg(), "settings": vars(args), "runs": {}}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"MEDBENCH_HOME": str(tmp / "home"), "MEDBENCH_NO_PROGRESS": "1"}
        os.environ.update(env)
        cli("synth", "--patients", str(TINY_SQL_PATIENTS), "--seed", str(TINY_SQL_SEED), "--out", str(tmp / "synth"),
            env=env)
        cli("build", "--mimic-dir", str(tmp / "synth"), "--tasks", "sql", "--seed", str(TINY_SQL_SEED),
            "--out", str(tmp / "rel"), env=env)
        if args.device == "cpu":  # the GPU mode spends its time budget on the instruct model
            cli("make-tiny-model", "--benchmark", str(tmp / "rel"), "--task", "sql", "--out", str(tmp / "tiny"),
                "--seed", "0", env=env)
            out = tmp / "o_tiny"
            t0 = time.perf_counter()
            cli("train", "--benchmark", str(tmp / "rel"), "--model", str(tmp / "tiny"), "--out", str(out),
                *TINY_SQL_TRAIN_ARGS, "--eval-base", env=env)
            wall = time.perf_counter() - t0
            summary = json.loads((run_dir(out) / "train_summary.json").read_text())
            result["runs"]["tiny_cpu"] = {"wall_s": round(wall, 1), **throughput(out),
                                          "reward_curve": summary["reward_curve"],
                                          "abstention_guard": summary["abstention_guard"],
                                          "dev": dev_table(summary), "selected": summary["selected_checkpoint"]}
            r = result["runs"]["tiny_cpu"]
            print(f"tiny CPU: {r['generated_tokens_per_s']} generated tok/s, {r['grpo_steps_per_s']} GRPO steps/s, "
                  f"{r['sft_steps_per_s']} SFT steps/s, wall {r['wall_s']} s", file=sys.stderr)
            print_dev_table("tiny CPU model", summary)
        if args.device == "cuda":
            result["gpu"] = gpu_runs(args, tmp / "rel", tmp, env)
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    result["load_average_after"] = os.getloadavg()
    result["peak_rss_mib_children"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(f"load average before {result['load_average_before']}, after {result['load_average_after']}; "
          f"peak RSS (largest child) {result['peak_rss_mib_children']} MiB", file=sys.stderr)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
