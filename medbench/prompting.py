"""Prompting options that change results, and their record in the submission header.

- `prompt_params(family, release, items)`: the sha256 of each prompt template the family renders
  and the rendered system prompt (of the first item: the sql and icd system prompts are the same
  for every item of a release). They go into the header's `params`, so two runs with different
  prompts never resume into one file and score as different leaderboard entries.
- `--fewshot K`: `FewshotFamily` wraps a family so that every prompt gets K exemplars drawn from
  the release's **train** split only (a seeded, sorted draw: the same K for every run with the
  same seed), rendered through the family's own templates, with the gold answer as the
  assistant turn. The exemplar ids are recorded in the header.
"""

from __future__ import annotations

import random
from typing import Any

from medbench.errors import UserError
from medbench.tasks.base import template_sha256
from medbench.tasks.contract import TaskFamily


def _gold_answer(task: str, gold: dict | None) -> str:
    """The assistant turn of an exemplar: the family's `gold_completion`, in the answer format
    the task's prompt asks for (`gold=None`: only check that the family has one)."""
    from medbench.tasks import FAMILIES, get_family

    family = get_family(task)
    if not _has_gold_completion(family):
        supported = [n for n in FAMILIES if _has_gold_completion(get_family(n))]  # registration order
        raise UserError(f"--fewshot: task '{task}' has no gold answer to show as an exemplar "
                        f"(supported: {', '.join(supported)})")
    return "" if gold is None else family.gold_completion(gold)


def _has_gold_completion(family: Any) -> bool:
    if isinstance(family, TaskFamily):
        return type(family).gold_completion is not TaskFamily.gold_completion
    return hasattr(family, "gold_completion")


def draw_exemplars(release: Any, task: str, k: int, seed: int) -> list[dict]:
    """K train items (with their gold) drawn by a seeded RNG from the sorted train ids."""
    if k <= 0:
        return []
    _gold_answer(task, None)  # refuse unsupported tasks before reading gold
    train = release.items(task, "train")
    if len(train) < k:
        raise UserError(f"--fewshot {k}: the release's {task} train split has only {len(train)} items")
    ids = sorted(it["item_id"] for it in train)
    chosen = sorted(random.Random(f"medbench-fewshot|{seed}").sample(ids, k))
    gold = release.gold(task, "train")
    by_id = {it["item_id"]: it for it in train}
    return [{"item": by_id[i], "answer": _gold_answer(task, gold[i])} for i in chosen]


class FewshotFamily:
    """A task family whose prompts carry few-shot exemplars; everything else is the family's."""

    def __init__(self, family: Any, exemplars: list[dict]):
        self._family, self._exemplars = family, exemplars
        self._shots: list[dict] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._family, name)

    def render_prompt(self, item: dict, release: Any = None) -> list[dict]:
        messages = self._family.render_prompt(item, release)
        if self._shots is None:
            shots: list[dict] = []
            for ex in self._exemplars:
                user = [m for m in self._family.render_prompt(ex["item"], release) if m["role"] == "user"]
                shots += [*user, {"role": "assistant", "content": ex["answer"]}]
            self._shots = shots
        head = [m for m in messages if m["role"] == "system"]
        rest = [m for m in messages if m["role"] != "system"]
        return [*head, *self._shots, *rest]


def prompt_params(family: Any, release: Any, items: list[dict]) -> dict:
    """Header params describing the prompt: template sha256s and the rendered system prompt."""
    names = tuple(getattr(family, "prompt_templates", ()))
    out: dict[str, Any] = {}
    if names:
        out["prompt_templates"] = {n: template_sha256(n) for n in names}
    if items:
        try:
            messages = family.render_prompt(items[0], release)
        except Exception:  # a family without templates (tests' fake families): nothing to record
            messages = []
        system = "".join(m["content"] for m in messages if m.get("role") == "system")
        if system:
            out["system_prompt"] = system
    return out


def apply_prompting(family: Any, release: Any, task: str, items: list[dict], fewshot: int,
                    fewshot_seed: int) -> tuple[Any, dict]:
    """(family to render with, header params to add). `fewshot=0` leaves the family unchanged."""
    params: dict[str, Any] = {}
    if fewshot:
        exemplars = draw_exemplars(release, task, fewshot, fewshot_seed)
        family = FewshotFamily(family, exemplars)
        params["fewshot"] = {"k": fewshot, "seed": fewshot_seed, "split": "train",
                             "item_ids": [e["item"]["item_id"] for e in exemplars]}
    params.update(prompt_params(family, release, items))
    return family, params
