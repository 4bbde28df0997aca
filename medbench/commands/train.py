"""Training commands: `train` (SFT + GRPO reference baselines) and `make-tiny-model`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.progress import console


@click.command()
@click.option("--benchmark", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--task", required=True, type=click.Choice(["sql", "icd"]))
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
@click.option("--report-to", type=click.Choice(["none", "wandb", "tensorboard"]), default="none")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--max-completion-length", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=1.0, show_default=True)
@click.option("--beta", type=float, default=0.04, show_default=True, help="KL coefficient.")
@click.option("--lr-scheduler", type=click.Choice(["linear", "constant", "cosine"]), default="linear",
              show_default=True, help="Learning-rate schedule for both SFT and GRPO.")
@click.option("--train-limit", type=int, default=None, help="Use only the first N train items.")
@click.option("--dev-limit", type=int, default=64, show_default=True, help="Dev items for selection.")
def train(benchmark, task, model, out, sft_epochs, grpo_steps, num_generations, learning_rate,
          sft_learning_rate, batch_size, lora, use_vllm, report_to, seed, max_completion_length,
          temperature, beta, lr_scheduler, train_limit, dev_limit) -> None:
    """SFT warm-up then GRPO on a release's train split; rewards are the task's own scorer."""
    from medbench.train.trainer import TrainConfig
    from medbench.train.trainer import train as do_train

    cfg = TrainConfig(benchmark=benchmark, task=task, model=model, out=out, sft_epochs=sft_epochs,
                      grpo_steps=grpo_steps, num_generations=num_generations,
                      learning_rate=learning_rate, sft_learning_rate=sft_learning_rate,
                      per_device_batch_size=batch_size, lora=lora, use_vllm=use_vllm,
                      report_to=report_to, seed=seed, max_completion_length=max_completion_length,
                      temperature=temperature, beta=beta, lr_scheduler=lr_scheduler, train_limit=train_limit, dev_limit=dev_limit)
    summary = do_train(cfg, echo=lambda m: console.print(f"[yellow]{m}[/]"))
    table = Table(title=f"trained → {summary['out']} (selected: {summary['selected_checkpoint']})")
    for col in ("checkpoint", "dev items", summary["headline_metric"]):
        table.add_column(col)
    for name, res in summary["dev_scores"].items():
        value = res["metrics"].get(summary["headline_metric"])
        table.add_row(name, str(res["n"]), "-" if value is None else f"{value:.4f}")
    console.print(table)
    console.print(f"GRPO mean reward: first steps {summary['grpo_reward_first']}, "
                  f"last steps {summary['grpo_reward_last']}")


@click.command("make-tiny-model")
@click.option("--benchmark", required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("--task", required=True, type=click.Choice(["sql", "icd"]))
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
