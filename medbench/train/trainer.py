"""`medbench train`: SFT warm-up (TRL SFTTrainer) then GRPO (TRL GRPOTrainer) on a release.

Data: the release's train split only; dev is used for model selection (the better of the SFT
and GRPO checkpoints by the task's headline metric) and reported in the model card; test is
never read. Rewards are the plain functions of `medbench.train.rewards`.

Outputs: every run gets its own folder `--out/run_<UTC timestamp>/` (like EHR-R1's
`results/<model>/run_<timestamp>/`), kept whole, nothing deleted: the final model (loadable
as `hf:<that folder>`), `train_log.jsonl`, `medbench_train_config.json`, `train_summary.json`,
the model card, and per phase (`sft/`, `grpo/`) the trainer's state and, with `--report-to`,
its event files; `sft_model/` is the SFT checkpoint (and `adapter/` the LoRA adapter).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.io import atomic_write_json, atomic_write_jsonl, atomic_write_text
from medbench.release import Release, open_release
from medbench.tasks import get_family
from medbench.train import rewards
from medbench.train.data import prompt_rows

TASKS = ("sql", "icd")
REWARD_NAMES = {"sql": ("sql_correctness", "sql_format"),
                "icd": ("icd_f1", "icd_format", "icd_invalid_codes")}


@dataclass
class TrainConfig:
    benchmark: str
    task: str
    model: str
    out: str
    sft_epochs: float = 1.0
    grpo_steps: int = 50
    num_generations: int = 4
    learning_rate: float = 1e-5
    sft_learning_rate: float | None = None
    lora: bool = False
    use_vllm: bool = False
    report_to: str = "none"
    seed: int = 0
    max_completion_length: int = 128
    per_device_batch_size: int | None = None
    temperature: float = 1.0
    beta: float = 0.04
    lr_scheduler: str = "linear"
    train_limit: int | None = None
    dev_limit: int | None = 64
    extra: dict = field(default_factory=dict)


def _require_train_extra() -> None:
    try:
        import datasets  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as e:
        raise UserError(
            f"training needs the 'train' extra ({e.name} is missing): "
            "pip install torch==2.13.0 && pip install -e '.[train]'"
        ) from None


def _vllm_ready() -> tuple[bool, str]:
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (pip install -e '.[vllm]')"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is available"
    return True, ""


def build_reward_funcs(task: str, release: Release, items: dict[str, dict], gold: dict[str, dict]):
    """TRL reward callables (prompts, completions, item_id, **kw) -> list[float]."""
    ctx = scoring_context(task, release)

    if task == "sql":
        def sql_correctness(prompts, completions, item_id, **kwargs):
            return rewards.sql_correctness_rewards([rewards.completion_text(c) for c in completions],
                                                   [items[i] for i in item_id], [gold[i] for i in item_id],
                                                   ctx)

        def sql_format(prompts, completions, **kwargs):
            return [rewards.sql_format_reward(rewards.completion_text(c)) for c in completions]

        return [sql_correctness, sql_format]

    def icd_f1(prompts, completions, item_id, **kwargs):
        return [rewards.icd_f1_reward(rewards.completion_text(c), items[i], gold[i])
                for c, i in zip(completions, item_id, strict=True)]

    def icd_format(prompts, completions, **kwargs):
        return [rewards.icd_format_reward(rewards.completion_text(c)) for c in completions]

    def icd_invalid_codes(prompts, completions, **kwargs):
        return [rewards.icd_invalid_code_penalty(rewards.completion_text(c)) for c in completions]

    return [icd_f1, icd_format, icd_invalid_codes]


def scoring_context(task: str, release: Release) -> Any:
    """The context the family's scorer needs (SQL: the release database, time limits)."""
    if task == "sql":  # the release's own read-only database, one sandboxed worker
        return {"release": release, "workers": 1, "show_progress": False, "shared_pool": True}
    return None


class _LogCollector:
    """Collects TRL's per-step logs (loss, rewards, KL, completion length) for train_log.jsonl."""

    def __init__(self, phase: str):
        from transformers import TrainerCallback

        collector = self
        self.phase = phase
        self.rows: list[dict] = []

        class _CB(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs:
                    collector.rows.append({"phase": collector.phase, "step": state.global_step,
                                           **{k: v for k, v in logs.items() if isinstance(v, (int, float))}})

        self.callback = _CB()


def evaluate(model, tokenizer, release: Release, task: str, split: str, limit: int | None,
             max_new_tokens: int, batch_size: int = 8) -> dict:
    """Greedy generation on `split`, parsed and scored by the family: {metrics, n}."""
    import torch

    family = get_family(task)
    items = release.items(task, split)[: limit or None]
    if not items:
        return {"n": 0, "metrics": {}}
    gold = release.gold(task, split)
    predictions = {}
    tokenizer.padding_side = "left"
    model.eval()
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        texts = [tokenizer.apply_chat_template(family.render_prompt(it, release), tokenize=False,
                                               add_generation_prompt=True) for it in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        for it, seq in zip(batch, out[:, enc["input_ids"].shape[1]:], strict=True):
            raw = tokenizer.decode(seq, skip_special_tokens=True)
            predictions[it["item_id"]] = family.parse(raw)[0]
    records = family.score_items(items, gold, predictions, scoring_context(task, release))
    return {"n": len(items), "metrics": family.aggregate(records)}


def _require_reporter(report_to: str) -> None:
    """`--report-to X` needs package X; say so in one line rather than fail inside transformers."""
    import importlib.util

    if report_to != "none" and importlib.util.find_spec(report_to) is None:
        hint = "it is in the train extra: pip install -e '.[train]'" if report_to == "tensorboard" else \
            f"pip install {report_to}, or use --report-to tensorboard / none"
        raise UserError(f"--report-to {report_to}: the {report_to} package is not installed ({hint})")


def run_dir_for(out: str | os.PathLike) -> Path:
    """A new, unused `out/run_<UTC timestamp>` folder name (a suffix when two start in one second)."""
    stamp = time.strftime("run_%Y%m%d_%H%M%S", time.gmtime())
    base = Path(out)
    path, n = base / stamp, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = base / f"{stamp}_{n}"
    return path


def train(cfg: TrainConfig, echo=print) -> dict:
    """Run SFT then GRPO; write model, tokenizer, log, config and model card to cfg.out/run_<ts>/."""
    if cfg.task not in TASKS:
        raise UserError(f"--task must be one of {', '.join(TASKS)} (got {cfg.task!r})")
    _require_train_extra()
    _require_reporter(cfg.report_to)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    release = open_release(cfg.benchmark)
    family = get_family(cfg.task)
    out = Path(cfg.out)
    if not Path(cfg.model).exists():
        raise UserError(f"--model {cfg.model}: no such local model directory (nothing is downloaded)")
    train_rows = prompt_rows(release, cfg.task, "train", cfg.train_limit)
    if not train_rows:
        raise UserError(f"release {release.path} has no train items for task {cfg.task}")
    use_vllm = False
    if cfg.use_vllm:
        use_vllm, why = _vllm_ready()
        if not use_vllm:
            echo(f"--use-vllm: {why}; using plain transformers generation instead")
    torch.manual_seed(cfg.seed)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} exists and is not a folder")
    work = run_dir_for(out)
    work.mkdir(parents=True)
    started = time.time()
    cpu = not torch.cuda.is_available()
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(cfg.model)
    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                 task_type="CAUSAL_LM")
    batch = cfg.per_device_batch_size or max(cfg.num_generations, 2)
    common = dict(seed=cfg.seed, data_seed=cfg.seed, report_to=[] if cfg.report_to == "none" else [cfg.report_to],
                  logging_steps=1, save_strategy="no", lr_scheduler_type=cfg.lr_scheduler, use_cpu=cpu, bf16=False, fp16=False,
                  disable_tqdm=True, dataloader_num_workers=0)
    log_rows: list[dict] = []
    dev_scores: dict[str, dict] = {}

    # 1. SFT warm-up: prompt -> gold completion, the same prompts `medbench run` sends.
    if cfg.sft_epochs > 0:
        sft_log = _LogCollector("sft")
        sft_args = SFTConfig(output_dir=str(work / "sft"), num_train_epochs=cfg.sft_epochs,
                             learning_rate=cfg.sft_learning_rate or cfg.learning_rate,
                             per_device_train_batch_size=batch, completion_only_loss=True,
                             max_length=None, **common)
        sft = SFTTrainer(model=model, args=sft_args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list([{k: r[k] for k in ("prompt", "completion")}
                                                          for r in train_rows]),
                         peft_config=peft_config, callbacks=[sft_log.callback])
        sft.train()
        sft.save_state()  # trainer_state.json beside the phase's event files
        model = sft.model
        if cfg.lora:  # GRPO trains a fresh adapter on top of the merged SFT weights
            model = model.merge_and_unload()
        log_rows += sft_log.rows
    dev_scores["sft"] = evaluate(model, tokenizer, release, cfg.task, "dev", cfg.dev_limit,
                                 cfg.max_completion_length)
    sft_dir = work / "sft_model"
    model.save_pretrained(sft_dir)
    tokenizer.save_pretrained(sft_dir)
    # GRPO starts from (and its KL reference is) the SFT checkpoint: TRL builds the reference
    # model from the policy's config path, which must therefore be the SFT weights, not the base.
    model = AutoModelForCausalLM.from_pretrained(sft_dir)

    # 2. GRPO with the task's own scorer as reward.
    items = {it["item_id"]: it for it in release.items(cfg.task, "train")}
    gold = release.gold(cfg.task, "train")
    grpo_log = _LogCollector("grpo")
    tokenizer.padding_side = "left"
    grpo_args = GRPOConfig(
        output_dir=str(work / "grpo"), max_steps=cfg.grpo_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=batch, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        beta=cfg.beta, use_vllm=use_vllm, **({"vllm_mode": "colocate"} if use_vllm else {}),
        shuffle_dataset=True, **common,
    )
    grpo = GRPOTrainer(
        model=model, reward_funcs=build_reward_funcs(cfg.task, release, items, gold), args=grpo_args,
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "item_id": r["item_id"]} for r in train_rows]),
        processing_class=tokenizer, peft_config=peft_config, callbacks=[grpo_log.callback],
    )
    if cfg.grpo_steps > 0:
        grpo.train()
        grpo.save_state()
    model = grpo.model
    if cfg.lora and hasattr(model, "merge_and_unload"):
        model.save_pretrained(work / "adapter")
        model = model.merge_and_unload()
    log_rows += grpo_log.rows
    dev_scores["grpo"] = evaluate(model, tokenizer, release, cfg.task, "dev", cfg.dev_limit,
                                  cfg.max_completion_length)

    # 3. Model selection on dev by the family's headline metric.
    head = family.headline_metric
    sign = 1 if family.higher_is_better else -1
    grpo_score = dev_scores["grpo"]["metrics"].get(head)
    sft_score = dev_scores["sft"]["metrics"].get(head)
    selected = "grpo"
    if grpo_score is not None and sft_score is not None and sign * sft_score > sign * grpo_score:
        selected = "sft"
        model = AutoModelForCausalLM.from_pretrained(sft_dir)
    final = work  # the run folder is the model folder
    model.save_pretrained(final)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(final)
    atomic_write_jsonl(final / "train_log.jsonl", log_rows)
    config = {**asdict(cfg), "use_vllm_effective": use_vllm, "medbench_version": __version__,
              "benchmark_name": release.name, "benchmark_sha256": release.sha256,
              "train_items": len(train_rows), "selected_checkpoint": selected, "run_dir": str(work),
              "device": "cpu" if cpu else torch.cuda.get_device_name(0)}
    atomic_write_json(final / "medbench_train_config.json", config)
    summary = {"dev_scores": dev_scores, "selected_checkpoint": selected, "headline_metric": head,
               "seconds": round(time.time() - started, 1),
               "grpo_reward_first": _mean_reward(log_rows, first=True),
               "grpo_reward_last": _mean_reward(log_rows, first=False)}
    atomic_write_json(final / "train_summary.json", summary)
    atomic_write_text(final / "README.md", _model_card(cfg, config, summary, release))
    return {**summary, "out": str(work)}


def _grpo_rewards(rows: list[dict]) -> list[float]:
    return [r["reward"] for r in rows if r["phase"] == "grpo" and "reward" in r]


def _mean_reward(rows: list[dict], first: bool, k: int = 5) -> float | None:
    vals = _grpo_rewards(rows)
    if not vals:
        return None
    part = vals[:k] if first else vals[-k:]
    return sum(part) / len(part)



def _model_card(cfg: TrainConfig, config: dict, summary: dict, release: Release) -> str:
    dev = summary["dev_scores"]
    lines = [
        f"# medbench reference baseline: {cfg.task} (SFT + GRPO)",
        "",
        f"- Base model: `{cfg.model}`",
        f"- Data: release `{release.name}` (manifest sha256 `{release.sha256}`), task `{cfg.task}`, "
        f"train split only ({config['train_items']} items); dev used for checkpoint selection.",
        f"- SFT epochs: {cfg.sft_epochs}; GRPO steps: {cfg.grpo_steps}; generations per prompt: "
        f"{cfg.num_generations}; learning rate: {cfg.learning_rate}; LoRA: {cfg.lora}; "
        f"vLLM generation: {config['use_vllm_effective']}; seed: {cfg.seed}.",
        f"- Rewards: {', '.join(REWARD_NAMES[cfg.task])} (the task scorer's own code; "
        "see medbench/train/rewards.py).",
        f"- Selected checkpoint (dev {summary['headline_metric']}): {summary['selected_checkpoint']}",
        "",
        "## Dev scores",
        "",
        "| checkpoint | items | metrics |",
        "|---|---:|---|",
    ]
    for name, res in dev.items():
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(res["metrics"].items())
                            if isinstance(v, (int, float)))
        lines.append(f"| {name} | {res['n']} | {metrics} |")
    lines += ["", f"GRPO mean reward, first 5 steps: {summary['grpo_reward_first']}; "
              f"last 5 steps: {summary['grpo_reward_last']}.", "",
              f"Evaluate: `medbench run --benchmark {cfg.benchmark} --task {cfg.task} --model hf:{config.get('run_dir', cfg.out)}`", ""]
    return "\n".join(lines)

