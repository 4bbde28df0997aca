"""`medbench train`: SFT warm-up (TRL SFTTrainer) then GRPO (TRL GRPOTrainer) on a release.

Data: the release's train split only (optionally restricted to some SQL templates); dev is used
for model selection and reported in the model card; test is never read. Rewards are the shaped
functions of `medbench.train.rewards` over the task scorers' per-item records (docs/METRICS.md,
"Training rewards"). Candidates are the SFT checkpoint and a GRPO checkpoint every `eval_every`
steps; the dev headline decides among those whose abstention and valid-output rates stay within
`max_abstention_increase` / `max_valid_drop` of SFT's (`medbench.train.selection`).

Runs unchanged under `accelerate launch` (DDP, DeepSpeed ZeRO-2/3, FSDP: configs/*.yaml): the
trainers take the process group from accelerate; only the main process writes the output.

Outputs: every run gets its own folder `--out/run_<UTC timestamp>/` (like EHR-R1's
`results/<model>/run_<timestamp>/`), kept whole, nothing deleted: the final model (loadable
as `hf:<that folder>`), `train_log.jsonl`, `dev_items.jsonl`, `medbench_train_config.json`,
`train_summary.json`, the model card, and per phase (`sft/`, `grpo/`) the trainer's state and,
with `--report-to`, its event files; `sft_model/` is the SFT checkpoint, `grpo-<step>/` the GRPO
candidates (and `adapter/` the LoRA adapter).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.io import atomic_write_json, atomic_write_jsonl, atomic_write_text
from medbench.release import Release, open_release
from medbench.tasks import get_family
from medbench.train.data import prompt_rows
from medbench.train.selection import (
    headline_ci,
    output_rates,
    paired_headline_ci,
    reward_curve,
    select_checkpoint,
)


def trainable_tasks() -> tuple[str, ...]:
    """The registered families with training hooks (gold completion and rewards)."""
    from medbench.tasks import FAMILIES

    return tuple(n for n in FAMILIES if getattr(get_family(n), "trainable", False))


def __getattr__(name: str):  # the old tables, now asked of the families
    if name == "TASKS":
        return trainable_tasks()
    if name == "REWARD_NAMES":
        return {t: tuple(get_family(t).reward_names) for t in trainable_tasks()}
    raise AttributeError(name)

VLLM_MODES = ("colocate", "server")


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
    sql_templates: list[str] | None = None  # restrict train and dev to these SQL templates
    eval_every: int | None = None  # GRPO candidate checkpoint every N steps (default: the last step only)
    max_abstention_increase: float = 0.10
    max_valid_drop: float = 0.10
    guard_sample: int = 32  # train items on which the SFT policy's reward is measured for the guard
    eval_base: bool = False  # also score the untrained model on dev (reported, never selected)
    vllm_mode: str = "colocate"
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_gpu_memory_utilization: float = 0.3
    gradient_checkpointing: bool = False
    # share of the train *patients* whose items only GRPO sees (SFT trains on the rest); 0: no
    # split, SFT and GRPO both use every train item (split_patients)
    rl_patient_fraction: float = 0.0
    sft_pass_k: int = 0  # >0: the SFT model's pass@1 / pass@k on the GRPO prompts, sampled (sft_pass_at_k)
    extra: dict = field(default_factory=dict)


def _require_train_extra() -> None:
    # find_spec, not import: the check stays instant (the imports come after the inputs are checked)
    import importlib.util

    for name in ("datasets", "torch", "transformers", "trl"):
        if importlib.util.find_spec(name) is None:
            raise UserError(
                f"training needs the 'train' extra ({name} is missing): "
                "pip install torch==2.13.0 && pip install -e '.[train]'"
            )


def _vllm_ready() -> tuple[bool, str]:
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (pip install -e '.[vllm]')"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU is available"
    return True, ""


def build_reward_funcs(task: str, release: Release, items: dict[str, dict], gold: dict[str, dict],
                       guard: dict | None = None):
    """TRL reward callables (prompts, completions, item_id, **kw) -> list[float]: the family's
    `reward_funcs` hook (SQL: outcome level + format + abstention-rate guard, `guard`: {target,
    lambda}; ICD: F1 + format + invalid codes + length guard)."""
    return get_family(task).reward_funcs(release, items, gold, guard)


def scoring_context(task: str, release: Release) -> Any:
    """The context the family's scorer needs (SQL: the release database, time limits)."""
    return get_family(task).train_scoring_context(release)


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
             max_new_tokens: int, batch_size: int = 8, item_ids: set[str] | None = None) -> dict:
    """Greedy generation on `split` (optionally only `item_ids`), parsed and scored by the family:
    {n, metrics, abstention_rate, valid_output_rate, records, parse_errors}."""
    import torch

    family = get_family(task)
    items = [it for it in release.items(task, split) if item_ids is None or it["item_id"] in item_ids]
    items = items[: limit or None]
    if not items:
        return {"n": 0, "metrics": {}, "abstention_rate": 0.0, "valid_output_rate": 0.0,
                "records": [], "parse_errors": {}}
    gold = release.gold(task, split)
    predictions, parse_errors = {}, {}
    synced = False
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled

        synced = bool(is_deepspeed_zero3_enabled())
    except ImportError:  # pragma: no cover - older transformers
        pass
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        texts = [tokenizer.apply_chat_template(family.render_prompt(it, release), tokenize=False,
                                               add_generation_prompt=True) for it in batch]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, synced_gpus=synced,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        for it, seq in zip(batch, out[:, enc["input_ids"].shape[1]:], strict=True):
            raw = tokenizer.decode(seq, skip_special_tokens=True)
            predictions[it["item_id"]], parse_errors[it["item_id"]] = family.parse(raw)
    if was_training:
        model.train()
    records = family.score_items(items, gold, predictions, scoring_context(task, release))
    return {"n": len(items), "metrics": family.aggregate(records), **output_rates(task, records, parse_errors),
            "headline": headline_ci(family, records), "records": records, "parse_errors": parse_errors}


def _item_success(record: dict) -> bool:
    """An item answered as a perfect model would: SQL: the right answer on an answerable item,
    an abstention on an unanswerable one (the top two reward levels)."""
    if record["answerable"]:
        return bool(record.get("correct")) and not record.get("abstained")
    return bool(record.get("abstained"))


def _sample_batch(model, tokenizer, family, release: Release, batch: list[dict], k: int, temperature: float,
                  max_new_tokens: int) -> list[list[str]]:
    """k sampled completions per item, as GRPO samples them (TRL: top_p 1, top_k 0)."""
    import torch

    texts = [tokenizer.apply_chat_template(family.render_prompt(it, release), tokenize=False,
                                           add_generation_prompt=True) for it in batch]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                             top_p=1.0, top_k=0, num_return_sequences=k,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    seqs = out[:, enc["input_ids"].shape[1]:]
    return [[tokenizer.decode(seqs[j * k + i], skip_special_tokens=True) for i in range(k)]
            for j in range(len(batch))]


def sft_pass_at_k(model, tokenizer, release: Release, task: str, rows: list[dict], k: int, temperature: float,
                  max_new_tokens: int, seed: int, batch_size: int = 8) -> dict:
    """k completions per prompt sampled at `temperature` (GRPO's own sampling), scored by the
    family: pass@1 (mean success over all samples), pass@k (prompts with >= 1 success among k),
    greedy success, the same for the answerable items alone, and `mixed_groups`, the share of
    prompts whose k samples do not all earn the same outcome reward: only those give GRPO a
    non-zero advantage. Seeded (torch.manual_seed(seed)), so the numbers are reproducible. SQL only
    (success = the right answer on an answerable item, an abstention on an unanswerable one)."""
    import torch

    from medbench.tasks import rewards

    family = get_family(task)
    by_id = {it["item_id"]: it for it in release.items(task, "train")}
    gold = release.gold(task, "train")
    items = [by_id[r["item_id"]] for r in rows]
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    samples: list[list[str]] = []
    # a forked RNG: GRPO's own sampling afterwards is the same with or without this diagnostic
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, len(items), batch_size):
            samples += _sample_batch(model, tokenizer, family, release, items[start:start + batch_size], k,
                                     temperature, max_new_tokens)
    if was_training:
        model.train()
    ctx = scoring_context(task, release)
    succ, levels = [], []
    for i in range(k):  # one scoring pass per sample index: item ids stay unique within a pass
        preds = {it["item_id"]: family.parse(s[i])[0] for it, s in zip(items, samples, strict=True)}
        recs = {r["item_id"]: r for r in family.score_items(items, gold, preds, ctx)}
        succ.append([_item_success(recs[it["item_id"]]) for it in items])
        levels.append([rewards.sql_outcome_reward(recs[it["item_id"]]) for it in items])
    greedy = evaluate(model, tokenizer, release, task, "train", None, max_new_tokens,
                      item_ids={it["item_id"] for it in items})["records"]
    greedy_ok = {r["item_id"]: _item_success(r) for r in greedy}
    answerable = [j for j, it in enumerate(items) if gold[it["item_id"]].get("answerable")]

    def rates(idx: list[int]) -> dict:
        if not idx:
            return {"n": 0}
        return {"n": len(idx), "greedy": sum(greedy_ok[items[j]["item_id"]] for j in idx) / len(idx),
                "pass@1": sum(succ[i][j] for i in range(k) for j in idx) / (k * len(idx)),
                f"pass@{k}": sum(any(succ[i][j] for i in range(k)) for j in idx) / len(idx),
                "mixed_groups": sum(len({levels[i][j] for i in range(k)}) > 1 for j in idx) / len(idx)}

    return {"k": k, "temperature": temperature, **rates(list(range(len(items)))),
            "answerable": rates(answerable)}


def _public(res: dict) -> dict:
    """A dev result without its per-item records (what train_summary.json holds)."""
    return {k: v for k, v in res.items() if k not in ("records", "parse_errors")}


def _item_rows(name: str, task: str, res: dict) -> list[dict]:
    head = get_family(task).headline_metric
    rows = []
    for r in res["records"]:
        row = {"checkpoint": name, "item_id": r["item_id"], "subject_id": r.get("subject_id"),
               "score": r.get("score"), "correct": r.get("correct")}
        if head in r:
            row[head] = r[head]
        row.update({k: r.get(k) for k in get_family(task).train_item_fields})
        rows.append(row)
    return rows


def _restricted_ids(release: Release, task: str, split: str, templates: list[str] | None) -> set[str] | None:
    field = get_family(task).train_template_field
    if field is None or not templates:
        return None
    gold = release.gold(task, split)
    wanted = set(templates)
    unknown = wanted - {g.get(field) for g in release.gold(task, "train").values()}
    if unknown:
        raise UserError(f"--sql-templates: no train item of template(s) {', '.join(sorted(unknown))} "
                        f"in release {release.path}")
    return {i for i, g in gold.items() if g.get(field) in wanted}


def split_patients(subject_ids, fraction: float) -> tuple[set, set]:
    """(SFT patients, GRPO patients): the train patients ranked by sha256 of their subject_id
    (a stable hash: the same split on every machine, run and Python version, independent of the
    seed and of the item order), the first round(fraction * n) going to GRPO. Disjoint patients,
    so the GRPO prompts carry ids the SFT model has never been trained on, as dev's do."""
    import hashlib

    ranked = sorted({str(s) for s in subject_ids}, key=lambda s: (hashlib.sha256(s.encode()).hexdigest(), s))
    n_rl = round(fraction * len(ranked))
    return set(ranked[n_rl:]), set(ranked[:n_rl])


def _dist_state():
    """accelerate's process state (a single process when not launched by accelerate)."""
    import torch
    from accelerate import PartialState

    # cpu=True where there is no CUDA device: DDP-launched CPU processes then form a gloo group
    return PartialState(cpu=not torch.cuda.is_available())


def _require_reporter(report_to: str) -> None:
    """`--report-to X` needs package X; say so in one line rather than fail inside transformers."""
    import importlib.util

    if report_to != "none" and importlib.util.find_spec(report_to) is None:
        hint = "it is in the train extra: pip install -e '.[train]'" if report_to == "tensorboard" else \
            f"pip install {report_to}, or use --report-to tensorboard / none"
        raise UserError(f"--report-to {report_to}: the {report_to} package is not installed ({hint})")


RUN_DIR_ENV = "MEDBENCH_TRAIN_RUN_DIR"  # set by the accelerate relaunch: every process, one folder


def run_dir_for(out: str | os.PathLike) -> Path:
    """A new, unused `out/run_<UTC timestamp>` folder name (a suffix when two start in one second)."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    stamp = time.strftime("run_%Y%m%d_%H%M%S", time.gmtime())
    base = Path(out)
    path, n = base / stamp, 1
    while path.exists() or path.is_symlink():
        n += 1
        path = base / f"{stamp}_{n}"
    return path


def train(cfg: TrainConfig, echo=print) -> dict:
    """Run SFT then GRPO; write model, tokenizer, log, config and model card to cfg.out/run_<ts>/."""
    if cfg.task not in trainable_tasks():
        raise UserError(f"--task must be one of {', '.join(trainable_tasks())} (got {cfg.task!r})")
    if cfg.vllm_mode not in VLLM_MODES:
        raise UserError(f"--vllm-mode must be one of {', '.join(VLLM_MODES)} (got {cfg.vllm_mode!r})")
    _require_train_extra()
    _require_reporter(cfg.report_to)
    # inputs first: a bad path is one line in a second, not after torch/trl's ~10 s import
    release = open_release(cfg.benchmark)
    family = get_family(cfg.task)
    out = Path(cfg.out)
    if not Path(cfg.model).exists():
        raise UserError(f"--model {cfg.model}: no such local model directory (nothing is downloaded)")
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    train_ids = _restricted_ids(release, cfg.task, "train", cfg.sql_templates)
    dev_ids = _restricted_ids(release, cfg.task, "dev", cfg.sql_templates)
    train_rows = [r for r in prompt_rows(release, cfg.task, "train")
                  if train_ids is None or r["item_id"] in train_ids][: cfg.train_limit or None]
    if not train_rows:
        raise UserError(f"release {release.path} has no train items for task {cfg.task}")
    if cfg.sft_pass_k > 0 and not get_family(cfg.task).supports_pass_at_k:
        raise UserError(f"--sft-pass-k is not available for task {cfg.task} (its family declares no "
                        "item outcome for sampled completions; sql does)")
    if not 0.0 <= cfg.rl_patient_fraction < 1.0:
        raise UserError(f"--rl-patient-fraction must be in [0, 1) (got {cfg.rl_patient_fraction})")
    sft_rows, rl_rows, patient_split = train_rows, train_rows, None
    if cfg.rl_patient_fraction > 0:
        subject = {it["item_id"]: str(it.get("subject_id")) for it in release.items(cfg.task, "train")}
        sft_patients, rl_patients = split_patients({subject[r["item_id"]] for r in train_rows},
                                                   cfg.rl_patient_fraction)
        sft_rows = [r for r in train_rows if subject[r["item_id"]] in sft_patients]
        rl_rows = [r for r in train_rows if subject[r["item_id"]] in rl_patients]
        if not sft_rows or not rl_rows:
            raise UserError(f"--rl-patient-fraction {cfg.rl_patient_fraction}: the split of "
                            f"{len(sft_patients) + len(rl_patients)} train patients leaves "
                            f"{'SFT' if not sft_rows else 'GRPO'} no items")
        patient_split = {"rl_patient_fraction": cfg.rl_patient_fraction,
                         "rule": "train patients ranked by sha256(subject_id); the first "
                                 "round(fraction * n) are GRPO prompts only, the rest SFT data only",
                         "sft_patients": len(sft_patients), "rl_patients": len(rl_patients),
                         "sft_items": len(sft_rows), "rl_items": len(rl_rows),
                         "rl_subject_ids": sorted(rl_patients)}
    state = _dist_state()
    main = state.is_main_process
    use_vllm = False
    if cfg.use_vllm:
        use_vllm, why = _vllm_ready()
        if not use_vllm and main:
            echo(f"--use-vllm: {why}; using plain transformers generation instead")
    torch.manual_seed(cfg.seed)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} exists and is not a folder")
    work = run_dir_for(out)
    if main:
        work.mkdir(parents=True, exist_ok=bool(os.environ.get(RUN_DIR_ENV)))
    state.wait_for_everyone()
    started = time.time()
    cpu = not torch.cuda.is_available()
    bf16 = (not cpu) and torch.cuda.is_bf16_supported()
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
                  logging_steps=1, save_strategy="no", lr_scheduler_type=cfg.lr_scheduler, use_cpu=cpu,
                  bf16=bf16, fp16=False, disable_tqdm=True, dataloader_num_workers=0,
                  gradient_checkpointing=cfg.gradient_checkpointing)
    log_rows: list[dict] = []
    dev_results: dict[str, dict] = {}

    def dev_eval(m) -> dict:
        return evaluate(m, tokenizer, release, cfg.task, "dev", cfg.dev_limit, cfg.max_completion_length,
                        item_ids=dev_ids)

    if cfg.eval_base:
        dev_results["base"] = dev_eval(model)

    # 1. SFT warm-up: prompt -> gold completion, the same prompts `medbench run` sends.
    if cfg.sft_epochs > 0:
        sft_log = _LogCollector("sft")
        sft_args = SFTConfig(output_dir=str(work / "sft"), num_train_epochs=cfg.sft_epochs,
                             learning_rate=cfg.sft_learning_rate or cfg.learning_rate,
                             per_device_train_batch_size=batch, completion_only_loss=True,
                             max_length=None, **common)
        sft = SFTTrainer(model=model, args=sft_args, processing_class=tokenizer,
                         train_dataset=Dataset.from_list([{k: r[k] for k in ("prompt", "completion")}
                                                          for r in sft_rows]),
                         peft_config=peft_config, callbacks=[sft_log.callback])
        sft.train()
        if main:
            sft.save_state()  # trainer_state.json beside the phase's event files
        model = sft.model
        if cfg.lora:  # GRPO trains a fresh adapter on top of the merged SFT weights
            model = model.merge_and_unload()
        log_rows += sft_log.rows
        sft_dir = work / "sft_model"
        if cfg.lora:  # the merged weights (full copies on every rank)
            if main:
                model.save_pretrained(sft_dir)
        else:
            sft.save_model(str(sft_dir))  # gathers ZeRO-3 / FSDP shards; writes on the main process
        if main:
            tokenizer.save_pretrained(sft_dir)
        state.wait_for_everyone()
        del sft
    else:
        sft_dir = work / "sft_model"
        if main:
            model.save_pretrained(sft_dir)
            tokenizer.save_pretrained(sft_dir)
        state.wait_for_everyone()
    # GRPO starts from (and its KL reference is) the SFT checkpoint: TRL builds the reference
    # model from the policy's config path, which must therefore be the SFT weights, not the base.
    model = AutoModelForCausalLM.from_pretrained(sft_dir)
    dev_results["sft"] = dev_eval(model)

    # 2. GRPO with shaped rewards over the task's own scorer.
    items = {it["item_id"]: it for it in release.items(cfg.task, "train")}
    gold = release.gold(cfg.task, "train")
    # the family's reward guard (SQL: the abstention-rate guard), calibrated on a sample of the
    # prompts GRPO trains on (with a patient split: patients the SFT model has not seen)
    train_gold = [gold[r["item_id"]] for r in rl_rows]
    sample = {r["item_id"] for r in rl_rows[: cfg.guard_sample]}
    guard = get_family(cfg.task).reward_guard(
        train_gold, lambda: evaluate(model, tokenizer, release, cfg.task, "train", None, cfg.max_completion_length,
                                     item_ids=sample))
    pass_k = None
    if cfg.sft_pass_k > 0:  # GRPO learns only where pass@1 is well below pass@k (mixed groups)
        pass_k = sft_pass_at_k(model, tokenizer, release, cfg.task, rl_rows, cfg.sft_pass_k, cfg.temperature,
                               cfg.max_completion_length, cfg.seed)
        if main:
            echo(f"SFT on the GRPO prompts: pass@1 {pass_k['pass@1']:.3f}, pass@{cfg.sft_pass_k} "
                 f"{pass_k[f'pass@{cfg.sft_pass_k}']:.3f}, groups with a reward spread "
                 f"{pass_k['mixed_groups']:.3f}")
    grpo_log = _LogCollector("grpo")
    tokenizer.padding_side = "left"
    vllm_kw = {}
    if use_vllm:
        vllm_kw = {"vllm_mode": cfg.vllm_mode}
        if cfg.vllm_mode == "server":
            vllm_kw.update(vllm_server_host=cfg.vllm_server_host, vllm_server_port=cfg.vllm_server_port)
        else:
            vllm_kw.update(vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization)
    grpo_args = GRPOConfig(
        output_dir=str(work / "grpo"), max_steps=cfg.grpo_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=batch, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature,
        beta=cfg.beta, use_vllm=use_vllm, **vllm_kw, shuffle_dataset=True, **common,
    )
    every = cfg.eval_every or max(1, cfg.grpo_steps)
    candidate_dirs: dict[str, Path] = {}

    class _Candidates(TrainerCallback):
        """Dev scores (and saved weights) of a GRPO checkpoint every `every` steps and at the end."""

        trainer = None

        def on_step_end(self, args, st, control, model=None, **kwargs):
            step = st.global_step
            if step % every and step != st.max_steps:
                return
            name = f"grpo-{step}"
            if name in dev_results:
                return
            m = self.trainer.model if self.trainer is not None else model
            if cfg.lora and hasattr(m, "merge_and_unload"):
                return  # adapters: the final merged model is the one GRPO candidate
            dev_results[name] = dev_eval(m)
            d = work / name
            self.trainer.save_model(str(d))
            candidate_dirs[name] = d

    cands = _Candidates()
    grpo = GRPOTrainer(
        model=model, reward_funcs=build_reward_funcs(cfg.task, release, items, gold, guard), args=grpo_args,
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "item_id": r["item_id"]} for r in rl_rows]),
        processing_class=tokenizer, peft_config=peft_config, callbacks=[grpo_log.callback, cands],
    )
    cands.trainer = grpo
    if cfg.grpo_steps > 0:
        grpo.train()
        if main:
            grpo.save_state()
    model = grpo.model
    if cfg.lora and hasattr(model, "merge_and_unload"):
        if main:
            model.save_pretrained(work / "adapter")
        model = model.merge_and_unload()
        name = f"grpo-{cfg.grpo_steps}"
        dev_results[name] = dev_eval(model)
        if main:
            model.save_pretrained(work / name)
        candidate_dirs[name] = work / name
    log_rows += grpo_log.rows
    state.wait_for_everyone()

    # 3. Model selection on dev: the headline among checkpoints within the bounds of SFT's rates.
    head = family.headline_metric
    candidates = {k: v for k, v in dev_results.items() if k != "base"}
    selected, verdicts = select_checkpoint(candidates, head, family.higher_is_better,
                                           cfg.max_abstention_increase, cfg.max_valid_drop)
    paired = {name: paired_headline_ci(family, dev_results["sft"]["records"], res["records"], seed=cfg.seed)
              for name, res in dev_results.items() if name != "sft" and res["n"]}
    curve = reward_curve(_grpo_rewards(log_rows), window=max(1, min(5, cfg.grpo_steps // 4 or 1)), seed=cfg.seed)
    summary = {
        "dev_scores": {k: _public(v) for k, v in dev_results.items()},
        "selected_checkpoint": selected, "headline_metric": head,
        "selection": {"rule": (f"highest dev {head} among the SFT checkpoint and the GRPO checkpoints "
                               f"(every {every} steps) whose dev abstention rate <= SFT's + "
                               f"{cfg.max_abstention_increase} and valid-output rate >= SFT's - "
                               f"{cfg.max_valid_drop}; ties keep the earlier checkpoint"),
                      "max_abstention_increase": cfg.max_abstention_increase,
                      "max_valid_drop": cfg.max_valid_drop, "candidates": verdicts},
        "paired_vs_sft": paired,
        "abstention_guard": guard,
        "patient_split": patient_split,
        "sft_pass_at_k": pass_k,
        "reward_curve": curve,
        "seconds": round(time.time() - started, 1),
        "grpo_reward_first": _mean_reward(log_rows, first=True),
        "grpo_reward_last": _mean_reward(log_rows, first=False),
    }
    config = {**asdict(cfg), "use_vllm_effective": use_vllm, "medbench_version": __version__,
              "benchmark_name": release.name, "benchmark_sha256": release.sha256,
              "train_items": len(train_rows), "sft_items": len(sft_rows), "grpo_prompt_items": len(rl_rows),
              "selected_checkpoint": selected,
              "num_processes": state.num_processes, "run_dir": str(work),
              "device": "cpu" if cpu else torch.cuda.get_device_name(0)}
    if main:
        final = work  # the run folder is the model folder; nothing is deleted
        src = sft_dir if selected == "sft" else candidate_dirs[selected]
        for p in sorted(Path(src).iterdir()):
            if p.is_file():
                shutil.copy2(p, final / p.name)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(final)
        atomic_write_jsonl(final / "train_log.jsonl", log_rows)
        atomic_write_jsonl(final / "dev_items.jsonl",
                           [row for name, res in dev_results.items() for row in _item_rows(name, cfg.task, res)])
        atomic_write_json(final / "medbench_train_config.json", config)
        atomic_write_json(final / "train_summary.json", summary)
        atomic_write_text(final / "README.md", _model_card(cfg, config, summary, release))
    state.wait_for_everyone()
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
        f"- Rewards: {', '.join(get_family(cfg.task).reward_names)} (the task scorer's own code; "
        "see medbench/train/rewards.py).",
        f"- Selected checkpoint (dev {summary['headline_metric']}): {summary['selected_checkpoint']}",
        f"- Selection rule: {summary['selection']['rule']}.",
        "",
        "## Dev scores",
        "",
        "| checkpoint | items | eligible | abstention | valid output | metrics |",
        "|---|---:|---|---:|---:|---|",
    ]
    verdicts = summary["selection"]["candidates"]
    for name, res in dev.items():
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(res["metrics"].items())
                            if isinstance(v, (int, float)))
        v = verdicts.get(name)
        ok = "-" if v is None else ("yes" if v["eligible"] else f"no ({v['reason']})")
        lines.append(f"| {name} | {res['n']} | {ok} | {res['abstention_rate']:.3f} | "
                     f"{res['valid_output_rate']:.3f} | {metrics} |")
    lines += ["", f"GRPO mean reward, first 5 steps: {summary['grpo_reward_first']}; "
              f"last 5 steps: {summary['grpo_reward_last']}.", "",
              f"Evaluate: `medbench run --benchmark {cfg.benchmark} --task {cfg.task} --model hf:{config.get('run_dir', cfg.out)}`", ""]
    return "\n".join(lines)

