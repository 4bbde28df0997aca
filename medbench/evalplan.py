"""`medbench eval PLAN.toml`: many models × tasks × splits in one command.

    release = "benchmarks/demo"        # paths are relative to the current folder
    tasks = ["sql", "icd"]             # default tasks of every model
    splits = ["dev"]
    leaderboard = "leaderboard"        # optional
    submissions = "submissions"        # optional: where the submission files go
    [[models]]
    model = "openai/gpt-4.1-mini"      # any `medbench run --model` string
    api_base = "http://localhost:8000/v1"   # optional, as are the rest
    concurrency = 16
    temperature = 0.0
    max_tokens = 512
    seed = 0
    fewshot = 0
    tasks = ["sql"]                    # overrides the plan's tasks for this model

Every (model, task, split) runs through the ordinary runner (same response cache, same resume:
a rerun requests only what its submission file lacks), is scored, and all results are
published in one `publish_results` call. A pair that fails (bad model string, endpoint down,
a scoring error) is reported in its table cell and does not stop the others.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.errors import UserError

_MODEL_KEYS = {"model", "api_base", "concurrency", "temperature", "max_tokens", "seed", "fewshot",
               "fewshot_seed", "tasks", "splits", "limit", "timeout", "retry_limit"}
_PLAN_KEYS = {"release", "tasks", "splits", "leaderboard", "submissions", "models", "limit"}


@dataclass
class Plan:
    path: Path
    release: Path
    models: list[dict]
    tasks: list[str]
    splits: list[str]
    leaderboard: Path
    submissions: Path
    limit: int | None = None


@dataclass
class Row:
    model: str
    task: str
    split: str
    submission: Path | None = None
    result: dict | None = None
    error: str | None = None

    def cell(self) -> str:
        if self.error:
            return f"failed: {self.error[:60]}"
        h = (self.result or {}).get("headline") or {}
        v, lo, hi = h.get("value"), h.get("ci_low"), h.get("ci_high")
        if v is None:
            return "n/a"
        ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
        return f"{h.get('name')} {v:.3f}{ci}"


@dataclass
class PlanOutcome:
    rows: list[Row] = field(default_factory=list)
    leaderboard: Path | None = None

    @property
    def failed(self) -> int:
        return sum(1 for r in self.rows if r.error)


def _strs(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise UserError(f"{where}: expected a non-empty list of strings")
    return value


def default_tasks() -> list[str]:
    """A plan without `tasks`: the families that declare `in_default_plan`, in registration order."""
    from medbench.tasks import FAMILIES, get_family

    return [n for n in FAMILIES.targets if getattr(get_family(n), "in_default_plan", False)]


def load_plan(path: str | Path) -> Plan:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"plan not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML ({e})") from None
    unknown = sorted(set(data) - _PLAN_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_PLAN_KEYS))})")
    if not isinstance(data.get("release"), str):
        raise UserError(f"{path}: release: missing (the release folder)")
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise UserError(f"{path}: models: add at least one [[models]] table")
    for n, m in enumerate(models, 1):
        if not isinstance(m, dict) or not isinstance(m.get("model"), str):
            raise UserError(f"{path}: models[{n}]: model: missing")
        bad = sorted(set(m) - _MODEL_KEYS)
        if bad:
            raise UserError(f"{path}: models[{n}]: unknown key {bad[0]!r} (known: {', '.join(sorted(_MODEL_KEYS))})")
        if "tasks" in m:
            _strs(m["tasks"], f"{path}: models[{n}].tasks")
    tasks = _strs(data.get("tasks", default_tasks()), f"{path}: tasks")
    splits = _strs(data.get("splits", ["dev"]), f"{path}: splits")
    for s in splits:
        if s not in ("train", "dev", "test"):
            raise UserError(f"{path}: splits: '{s}' is not one of train, dev, test")
    return Plan(path=path, release=Path(data["release"]), models=models, tasks=tasks, splits=splits,
                leaderboard=Path(data.get("leaderboard", "leaderboard")),
                submissions=Path(data.get("submissions", "submissions")), limit=data.get("limit"))


def run_plan(plan: Plan, *, publish: bool = True, log: Callable[[str], None] | None = None) -> PlanOutcome:
    from medbench.release import open_release
    from medbench.run import default_out, prepare_run
    from medbench.scoring.score import score
    from medbench.scoring.submission import validate_submission

    say = log or (lambda _m: None)
    release = open_release(plan.release)  # a missing release fails the whole plan, once
    if publish:
        from medbench.io import check_out_dir

        check_out_dir(plan.leaderboard, "leaderboard")
    outcome = PlanOutcome()
    for m in plan.models:
        spec = m["model"]
        for task in _strs(m.get("tasks", plan.tasks), "tasks"):
            for split in _strs(m.get("splits", plan.splits), "splits"):
                row = Row(spec, task, split)
                outcome.rows.append(row)
                out = plan.submissions / default_out(spec, release, task, split).name
                try:
                    prepared = prepare_run(plan.release, task, spec, split=split,
                                           concurrency=int(m.get("concurrency", 8)),
                                           limit=m.get("limit", plan.limit), out=out, api_base=m.get("api_base"),
                                           temperature=float(m.get("temperature", 0.0)),
                                           max_tokens=m.get("max_tokens"), seed=m.get("seed"),
                                           retry_limit=int(m.get("retry_limit", 3)),
                                           timeout_s=float(m.get("timeout", 60.0)),
                                           fewshot=int(m.get("fewshot", 0)),
                                           fewshot_seed=int(m.get("fewshot_seed", 0)))
                    summary = prepared.execute()
                    row.submission = out
                    say(f"{spec} {task}/{split}: {summary.done} new, {summary.skipped} resumed, "
                        f"{summary.failed} failed → {out}")
                    sub = validate_submission(out, plan.release)
                    row.result = score(sub, show_progress=False)
                except Exception as e:  # one failed pair never stops the others
                    msg = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
                    row.error = " ".join(msg.split()) or type(e).__name__
                    say(f"{spec} {task}/{split}: failed: {row.error}")
    results = [r.result for r in outcome.rows if r.result is not None]
    if publish and results:
        from medbench.publish import publish_results

        publish_results(plan.leaderboard, results, show_progress=False)
        outcome.leaderboard = plan.leaderboard
    return outcome
