"""`medbench import-inspect LOG`: an inspect_ai log of a medbench task → a medbench submission.

The log's task metadata names the release, task and split (`medbench.export.inspect_tasks`);
each sample's completion is parsed by the family's own parser, as `medbench run` does.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.io import atomic_write_jsonl
from medbench.release import open_release
from medbench.submission_schema import SCHEMA_VERSION


def write_submission(path: Path, release: Any, task: str, split: str, model: str, params: dict,
                     lines: list[dict], created: str | None = None) -> None:
    header = {"type": "header", "schema_version": SCHEMA_VERSION, "model": model, "task": task, "split": split,
              "benchmark": {"name": release.name, "sha256": release.sha256}, "medbench_version": __version__,
              "params": params,
              "created": created or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    full = [{"item_id": ln["item_id"], "prediction": ln.get("prediction"), "raw_output": ln.get("raw_output"),
             "parse_error": ln.get("parse_error"), "error": ln.get("error"),
             "usage": ln.get("usage") or {"prompt_tokens": None, "completion_tokens": None},
             "cost_usd": None, "latency_s": None} for ln in sorted(lines, key=lambda x: x["item_id"])]
    atomic_write_jsonl(path, [header, *full])


def import_inspect_log(log_path: str | Path, *, out: str | Path | None = None,
                       benchmark: str | Path | None = None) -> tuple[Path, int]:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise UserError("import-inspect needs inspect_ai: pip install 'medbench[inspect]'") from None
    from medbench.run import default_out
    from medbench.tasks import get_family

    log_path = Path(log_path)
    if not log_path.is_file():
        raise UserError(f"inspect log not found: {log_path}")
    try:
        log = read_eval_log(str(log_path))
    except Exception as e:
        raise UserError(f"{log_path}: not an inspect log ({type(e).__name__}: {str(e).splitlines()[0][:200]})") from None
    meta = (log.eval.metadata or {}).get("medbench")
    if not isinstance(meta, dict):
        raise UserError(f"{log_path}: not a medbench task's log (no medbench task metadata; "
                        "run the task files of `medbench export --format inspect`)")
    release = open_release(benchmark or meta["release"])
    if release.sha256 != meta["benchmark"]["sha256"]:
        raise UserError(f"{log_path}: ran on release sha256 {meta['benchmark']['sha256'][:12]}, "
                        f"{release.path} is {release.sha256[:12]}")
    task, split = meta["task"], meta["split"]
    family = get_family(task)
    model = log.eval.model
    lines = []
    for s in log.samples or []:
        out_ = s.output
        raw = out_.completion if out_ is not None else None
        err = None
        if s.error is not None:
            err, raw = f"inspect: {getattr(s.error, 'message', s.error)}", None
        pred, perr = (getattr(family, "missing_prediction", None), None) if err else family.parse(raw)
        if isinstance(pred, tuple):
            pred = list(pred)
        usage = getattr(out_, "usage", None) if out_ is not None else None
        lines.append({"item_id": str(s.id), "prediction": pred, "raw_output": raw, "parse_error": perr,
                      "error": err, "usage": {"prompt_tokens": getattr(usage, "input_tokens", None),
                                              "completion_tokens": getattr(usage, "output_tokens", None)}})
    if not lines:
        raise UserError(f"{log_path}: the log has no samples")
    params = {"source": "inspect_ai", "inspect_log": log_path.name,
              "generate_config": log.eval.model_generate_config.model_dump(exclude_none=True)
              if getattr(log.eval, "model_generate_config", None) is not None else {},
              **(meta.get("prompt") or {})}
    path = Path(out) if out else default_out(model, release, task, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_submission(path, release, task, split, model, params, lines, created=str(log.eval.created)[:19] + "Z")
    return path, len(lines)
