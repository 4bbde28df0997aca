"""Helpers every task family shares: item ids, the Jinja2 prompt environment, `MetricsFromModule`.

The contract a family declares (the unit of extension) is `medbench.tasks.contract.TaskFamily`;
the split rule lives below the release layer in `medbench.splits` (re-exported here).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FunctionLoader, StrictUndefined

from medbench.splits import SPLITS, split_for_subject, stable_bucket  # noqa: F401 (re-exported)
from medbench.tasks.contract import TaskFamily  # noqa: F401 (re-exported: the contract)

#: The repository's `prompts/` folder, the one copy of the templates. The wheel installs the
#: same files as the package data folder `medbench/prompts/` (setup.py maps one onto the other).
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"


@lru_cache(maxsize=1)
def prompt_files() -> Any:
    """The prompt templates' folder as an importlib.resources Traversable: the installed
    package's `medbench/prompts/`, or in a source checkout (editable install, PYTHONPATH) the
    repository's `prompts/`."""
    packaged = importlib.resources.files("medbench") / "prompts"
    return packaged if packaged.is_dir() else PROMPTS_DIR


@lru_cache(maxsize=1)
def _prompt_snapshot() -> dict[str, bytes]:
    """Every prompt template's bytes, read once per process on first use. Rendering and the
    hashes recorded in manifests both read this copy, so a long build that sees `prompts/`
    edited under it (a checkout, a merge) keeps rendering — and hashing — what it started with,
    never a mix of old and new templates."""
    return {f.name: f.read_bytes() for f in prompt_files().iterdir() if f.is_file()}


def _load_prompt(name: str) -> str | None:
    data = _prompt_snapshot().get(name)
    return None if data is None else data.decode("utf-8")  # None: jinja2's TemplateNotFound


def make_item_id(task: str, *parts: Any) -> str:
    """Stable id from the task, the source ids and the template: `<task>-<16 hex>`."""
    key = "|".join([task, *(str(p) for p in parts)])
    return f"{task}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


_ENV: Environment | None = None


def prompt_env() -> Environment:
    """Jinja2 environment over `prompts/` (strict: a missing variable is an error, not '')."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(
            loader=FunctionLoader(_load_prompt),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,  # prompts are plain text, never HTML
        )
    return _ENV


def render_template(name: str, **context: Any) -> str:
    return prompt_env().get_template(name).render(**context)


def template_sha256(name: str) -> str:
    data = _prompt_snapshot().get(name)
    if data is None:
        raise FileNotFoundError(f"prompt template {name!r} not found in {prompt_files()}")
    return hashlib.sha256(data).hexdigest()


class MetricsFromModule:
    """Mixin: `aggregate`, `item_sums`, `aggregate_sums` from the family's metrics module,
    imported on first use (scoring code stays out of the import path of build and run)."""

    metrics_module: str

    def _metrics(self):
        import importlib

        return importlib.import_module(self.metrics_module)

    def aggregate(self, records: list[dict]) -> dict[str, float]:
        return self._metrics().aggregate(records)

    # The bootstrap's vectorised path (medbench.scoring.stats.sum_metric_intervals): every
    # metric is a function of sums of per-item statistics.
    def item_sums(self, record: dict) -> dict[str, float]:
        return self._metrics().item_sums(record)

    def aggregate_sums(self, sums: Any, n: Any) -> dict[str, Any]:
        return self._metrics().aggregate_sums(sums, n)
