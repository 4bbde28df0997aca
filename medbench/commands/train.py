"""Training commands: `train` (SFT + GRPO reference baselines) and `make-tiny-model`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.progress import console


def _trainable() -> list[str]:
    """Task choices: the registered families with training hooks (registration order)."""
    from medbench.errors import UserError
    from medbench.tasks import FAMILIES

    out = []
    for name in FAMILIES:
        try:
            if getattr(FAMILIES.get(name), "trainable", False):
                out.append(name)
        except (ImportError, UserError):  # a family that cannot load is not offered
            continue
    return out


@click.command()
@click.option("--benchmark", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--task", required=True, type=click.Choice(_trainable()))
@click.option("--model", required=True, help="Local Hugging Face model directory (nothing is downloaded).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--sft-epochs", type=float, default=1.0, show_default=True)
@click.option("--grpo-steps", type=int, default=50, show_default=True)
@click.option("--num-generations", type=int, default=4, show_default=True)
@click.option("--learning-rate", type=float, default=1e-5, show_default=True)
@click.option("--sft-learning-rate", type=float, default=None, help="Default: --learning-rate.")
@click.option("--batch-size", type=int, default=None, help="Per-device batch (default: num generations).")
@click.option("--lora", is_flag=True, help="Train a LoRA adapter (merged into the saved model).")
@click.option("--use-vllm", is_flag=True, help="TRL's vLLM generation (needs the vllm extra and a GPU).")
@click.option("--vllm-mode", type=click.Choice(["colocate", "server"]), default="colocate", show_default=True,
              help="colocate: vLLM inside the training processes; server: a separate `trl vllm-serve`.")
@click.option("--vllm-server-host", default="0.0.0.0", show_default=True, help="Server mode: vllm-serve host.")
@click.option("--vllm-server-port", type=int, default=8000, show_default=True, help="Server mode: its port.")
@click.option("--vllm-gpu-memory-utilization", type=float, default=0.3, show_default=True,
              help="Colocate mode: GPU memory share vLLM may take.")
@click.option("--report-to", type=click.Choice(["none", "wandb", "tensorboard"]), default="none")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-completion-length", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--beta", type=float, default=0.04, show_default=True, help="KL coefficient.")
@click.option("--lr-scheduler", type=click.Choice(["linear", "constant", "cosine"]), default="linear",
              show_default=True, help="Learning-rate schedule for both SFT and GRPO.")
@click.option("--train-limit", type=int, default=None, help="Use only the first N train items.")
@click.option("--dev-limit", type=int, default=64, show_default=True, help="Dev items for selection.")
@click.option("--sql-templates", default=None,
              help="Comma-separated SQL template names: train and select on these templates only.")
@click.option("--eval-every", type=int, default=None,
              help="A GRPO candidate checkpoint (dev-scored) every N steps (default: the last step only).")
@click.option("--max-abstention-increase", type=float, default=0.10, show_default=True,
              help="Selection bound: a candidate's dev abstention rate may exceed SFT's by at most this.")
@click.option("--max-valid-drop", type=float, default=0.10, show_default=True,
              help="Selection bound: a candidate's dev valid-output rate may fall below SFT's by at most this.")
@click.option("--rl-patient-fraction", type=float, default=0.0, show_default=True,
              help="Share of the train patients (ranked by sha256 of subject_id) whose items are GRPO "
                   "prompts only; SFT trains on the other patients. 0: SFT and GRPO both use every item.")
@click.option("--sft-pass-k", type=int, default=0, show_default=True,
              help="Before GRPO, sample K completions per GRPO prompt from the SFT model at --temperature "
                   "and record pass@1 / pass@K in train_summary.json (0: off).")
@click.option("--eval-base", is_flag=True, help="Also score the untrained model on dev (reported only).")
@click.option("--gradient-checkpointing", is_flag=True)
@click.option("--accelerate-config", type=click.Path(dir_okay=False, exists=True, path_type=str), default=None,
              help="Re-run this command under `accelerate launch --config_file FILE` (DDP, ZeRO, FSDP; "
                   "see configs/).")
@click.option("--num-processes", type=int, default=None,
              help="With --accelerate-config: override its num_processes.")
def train(benchmark, task, model, out, sft_epochs, grpo_steps, num_generations, learning_rate,
          sft_learning_rate, batch_size, lora, use_vllm, vllm_mode, vllm_server_host, vllm_server_port,
          vllm_gpu_memory_utilization, report_to, seed, max_completion_length, temperature, beta,
          lr_scheduler, train_limit, dev_limit, sql_templates, eval_every, max_abstention_increase,
          max_valid_drop, rl_patient_fraction, sft_pass_k, eval_base, gradient_checkpointing, accelerate_config,
          num_processes) -> None:
    """SFT warm-up then GRPO on a release's train split; rewards are shaped from the task's scorer."""
    if accelerate_config:
        _relaunch(accelerate_config, num_processes, out)
        return
    from medbench.train.trainer import TrainConfig, _dist_state
    from medbench.train.trainer import train as do_train

    cfg = TrainConfig(benchmark=benchmark, task=task, model=model, out=out, sft_epochs=sft_epochs,
                      grpo_steps=grpo_steps, num_generations=num_generations,
                      learning_rate=learning_rate, sft_learning_rate=sft_learning_rate,
                      per_device_batch_size=batch_size, lora=lora, use_vllm=use_vllm,
                      vllm_mode=vllm_mode, vllm_server_host=vllm_server_host,
                      vllm_server_port=vllm_server_port, vllm_gpu_memory_utilization=vllm_gpu_memory_utilization,
                      report_to=report_to, seed=seed, max_completion_length=max_completion_length,
                      temperature=temperature, beta=beta, lr_scheduler=lr_scheduler, train_limit=train_limit,
                      dev_limit=dev_limit,
                      sql_templates=[t.strip() for t in sql_templates.split(",") if t.strip()] if sql_templates else None,
                      eval_every=eval_every, max_abstention_increase=max_abstention_increase,
                      max_valid_drop=max_valid_drop, eval_base=eval_base,
                      rl_patient_fraction=rl_patient_fraction, sft_pass_k=sft_pass_k,
                      gradient_checkpointing=gradient_checkpointing)
    summary = do_train(cfg, echo=lambda m: console.print(f"[yellow]{m}[/]"))
    if not _dist_state().is_main_process:
        return
    table = Table(title=f"trained → {summary['out']} (selected: {summary['selected_checkpoint']})")
    for col in ("checkpoint", "dev items", summary["headline_metric"], "abstention", "valid output", "eligible"):
        table.add_column(col)
    verdicts = summary["selection"]["candidates"]
    for name, res in summary["dev_scores"].items():
        value = res["metrics"].get(summary["headline_metric"])
        v = verdicts.get(name)
        table.add_row(name, str(res["n"]), "-" if value is None else f"{value:.4f}",
                      f"{res['abstention_rate']:.3f}", f"{res['valid_output_rate']:.3f}",
                      "-" if v is None else ("yes" if v["eligible"] else "no"))
    console.print(table)
    curve = summary["reward_curve"]
    if curve:
        console.print(f"GRPO mean reward: first {curve['window']} steps {curve['first']:.4f}, last "
                      f"{curve['window']} steps {curve['last']:.4f} (difference {curve['diff']:+.4f}, "
                      f"95% CI {curve['ci_low']:+.4f} to {curve['ci_high']:+.4f})")


def _relaunch(config_file: str, num_processes: int | None, out) -> None:
    """`accelerate launch --config_file FILE -m medbench.train <the same options>`."""
    import subprocess
    import sys

    from medbench.errors import UserError

    argv = sys.argv[sys.argv.index("train") + 1:] if "train" in sys.argv else []
    args, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--accelerate-config", "--num-processes"):
            skip = True
            continue
        if a.startswith(("--accelerate-config=", "--num-processes=")):
            continue
        args.append(a)
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file]
    if num_processes:
        cmd += ["--num_processes", str(num_processes)]
    cmd += ["-m", "medbench.train", *args]
    import os

    from medbench.train.trainer import RUN_DIR_ENV, run_dir_for

    # every process writes into the one run folder chosen here
    rc = subprocess.call(cmd, env={**os.environ, RUN_DIR_ENV: str(run_dir_for(out))})
    if rc:
        raise UserError(f"accelerate launch exited with status {rc} (config {config_file})")


@click.command("make-tiny-model")
@click.option("--benchmark", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--task", required=True, type=click.Choice(_trainable()))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--vocab-size", type=int, default=2000, show_default=True)
@click.option("--hidden-size", type=int, default=64, show_default=True)
@click.option("--layers", type=int, default=2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def make_tiny_model(benchmark, task, out, vocab_size, hidden_size, layers, seed) -> None:
    """A random-init causal LM + a tokenizer trained on the release's train text (offline)."""
    from medbench.release import open_release
    from medbench.train.data import prompt_rows
    from medbench.train.tiny import build_tiny_model

    rows = prompt_rows(open_release(benchmark), task, "train")
    texts = [m["content"] for r in rows for m in r["prompt"] + r["completion"]]
    build_tiny_model(texts, out, seed=seed, vocab_size=vocab_size, hidden_size=hidden_size, layers=layers)
    console.print(f"tiny model written to {out}")


COMMANDS = [train, make_tiny_model]
