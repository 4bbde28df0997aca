"""Training data from a release: the same prompts `medbench run` sends, gold as completions."""

from __future__ import annotations

from medbench.release import Release
from medbench.tasks import get_family


def gold_completion(task: str, gold: dict) -> str:
    """The answer text a perfect model would write, in the format the task's parser reads (the
    family's `gold_completion` hook)."""
    text = get_family(task).gold_completion(gold) if hasattr(get_family(task), "gold_completion") else None
    if text is None:
        raise ValueError(f"no gold completion for task {task!r}")
    return text


def prompt_rows(release: Release, task: str, split: str, limit: int | None = None) -> list[dict]:
    """Rows {item_id, prompt (chat messages), completion (assistant message)} for one split."""
    family = get_family(task)
    items = release.items(task, split)
    if limit is not None:
        items = items[:limit]
    gold = release.gold(task, split)
    rows = []
    for item in items:
        rows.append({
            "item_id": item["item_id"],
            "prompt": family.render_prompt(item, release),
            "completion": [{"role": "assistant", "content": gold_completion(task, gold[item["item_id"]])}],
        })
    return rows
