"""Reference baselines (`baseline:NAME`): offline, deterministic, so the leaderboard is never empty.

Baselines read gold only through `TrainView`, which loads the train split's gold and nothing
else, and keeps no reference to the release. Thresholds the issue says are "chosen on dev" are
chosen on a held-out fold of *train* (20% of train subjects, by a stable hash), not on the dev
split: the rule that baselines never read dev or test gold wins, and dev scores stay honest.

Each baseline emits raw text in the format a model would (SQL in a ```sql fence or `null`, ICD a
JSON list, conversation JSON), and the runner parses it with the task family's own parser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from medbench.errors import UserError
from medbench.models import Generation, Model
from medbench.registry import Registry
from medbench.splits import stable_bucket


class TrainView:
    """What a baseline may see: public items of any split, gold of the train split only."""

    __slots__ = ("_items", "_train_gold", "task")

    def __init__(self, release: Any, task: str):
        self.task = task
        self._items = {s: release.items(task, s) for s in ("train", "dev", "test")}
        self._train_gold = release.gold(task, "train")

    def items(self, split: str) -> list[dict]:
        return list(self._items.get(split, []))

    def train_gold(self) -> dict[str, dict]:
        """item_id -> gold record, train split only."""
        return dict(self._train_gold)

    def train_pairs(self) -> list[tuple[dict, dict]]:
        """(item, gold) for every train item, in item_id order."""
        return [(it, self._train_gold[it["item_id"]]) for it in self._items["train"]
                if it["item_id"] in self._train_gold]


def tuning_fold(subject_id: Any) -> bool:
    """True for the ~20% of train subjects held out to tune thresholds (stable hash)."""
    return stable_bucket("medbench-tune", subject_id, 5) == 0


def split_train(pairs: list[tuple[dict, dict]]) -> tuple[list, list]:
    fit = [p for p in pairs if not tuning_fold(p[0].get("subject_id"))]
    tune = [p for p in pairs if tuning_fold(p[0].get("subject_id"))]
    return fit, tune


class BaselineModel(Model):
    """Wraps a `predict(item) -> raw text` function as a Model."""

    kind = "baseline"
    batch_size = 64

    def __init__(self, spec: str, predict: Callable[[dict], str], info: dict | None = None):
        self.spec, self._predict, self._info = spec, predict, info or {}

    def info(self) -> dict[str, Any]:
        return {"baseline": self._info}

    def generate_batch(self, batch: list[tuple[list[dict], dict]]) -> list[Generation]:
        out = []
        for _messages, item in batch:
            t0 = time.perf_counter()
            try:
                text, err = self._predict(item), None
            except Exception as e:  # one bad item must not end the run
                text, err = None, f"baseline failed: {type(e).__name__}: {e}"
            out.append(Generation(text=text, error=err, prompt_tokens=0, completion_tokens=0,
                                  cost_usd=0.0, latency_s=time.perf_counter() - t0))
        return out


def baselines_of(task: str, family: Any = None) -> Registry:
    """The task family's baselines (its `baselines`: name -> "module:attr" of a builder
    `(view: TrainView, seed) -> (predict(item) -> raw text, info)`), as a registry."""
    if family is None:
        from medbench.tasks import get_family

        family = get_family(task)
    reg: Registry = Registry("baseline", where=f" for task {task}", display=lambda n: f"baseline:{n}")
    for name, target in sorted(getattr(family, "baselines", {}).items()):
        reg.register(name, target)
    return reg


def load_baseline(name: str, *, task: str, release: Any, seed: int = 0) -> BaselineModel:
    known = baselines_of(task)
    if name not in known:
        raise known.unknown(name)
    try:
        build = known.get(name)
    except ImportError as e:
        raise UserError(f"baseline:{name} is not available ({e})") from None
    if release is None and getattr(build, "needs_release", True):
        raise UserError(f"model 'baseline:{name}': baselines need a task and a release")
    view = TrainView(release, task) if release is not None else None
    predict, info = build(view, seed)
    return BaselineModel(f"baseline:{name}", predict, info)
