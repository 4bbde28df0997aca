"""inspect_ai tasks over a medbench release (needs the `inspect` extra: pip install 'medbench[inspect]').

`medbench_task(release, task, split)`: the split's items as `Sample`s (id = item_id, input = the
chat messages `medbench run` sends, few-shot included), `generate()`, and `medbench_scorer`:
per sample, the family's parser and per-item scorer (`value` = the item's score); the
`medbench_headline` metric scores all samples' predictions with `medbench.scoring.score` (the
same code as `medbench score`), so the log's headline equals the leaderboard's.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import Score, Target, mean, metric, scorer
from inspect_ai.solver import TaskState, generate

from medbench.errors import UserError
from medbench.release import open_release
from medbench.tasks import get_family

_ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}


def _messages(messages: list[dict]) -> list[Any]:
    return [_ROLES[m["role"]](content=m["content"]) for m in messages]


def _ctx(release: Any, task: str, split: str):
    from medbench.scoring.score import ScoreContext

    return ScoreContext(release=release, task=task, split=split, show_progress=False)


def headline_from_predictions(release_path: str, task: str, split: str, lines: list[dict],
                              model: str = "inspect") -> dict:
    """The result `medbench score` computes for these submission lines (nothing published)."""
    import tempfile
    from pathlib import Path

    from medbench.export.inspect_import import write_submission
    from medbench.scoring.score import score
    from medbench.scoring.submission import validate_submission

    release = open_release(release_path)
    with tempfile.TemporaryDirectory(prefix="medbench-inspect-") as tmp:
        path = Path(tmp) / "submission.jsonl"
        write_submission(path, release, task, split, model, {"source": "inspect_ai"}, lines)
        return score(validate_submission(path, release.path), show_progress=False)


def medbench_headline(release_path: str, task: str, split: str):
    @metric(name=f"{get_family(task).headline_metric}")
    def _headline():
        def compute(scores: list[Any]) -> float:
            lines = []
            for s in scores:
                sc = getattr(s, "score", s)
                md = sc.metadata or {}
                lines.append({"item_id": md["item_id"], "prediction": md.get("prediction"),
                              "raw_output": sc.answer, "parse_error": md.get("parse_error")})
            result = headline_from_predictions(release_path, task, split, lines)
            value = result["headline"]["value"]
            return float("nan") if value is None else float(value)

        return compute

    return _headline()


def medbench_scorer(release_path: str, task: str, split: str):
    release = open_release(release_path)
    family = get_family(task)
    gold = release.gold(task, split)
    items = {it["item_id"]: it for it in release.items(task, split)}

    @scorer(metrics=[mean(), medbench_headline(release_path, task, split)], name=f"medbench_{task}")
    def _scorer():
        async def score(state: TaskState, target: Target) -> Score:
            iid = str(state.sample_id)
            raw = state.output.completion if state.output else None
            try:
                prediction, parse_error = family.parse(raw)
            except Exception as e:  # parsers never raise; if one does, the item is wrong, not lost
                prediction, parse_error = None, f"parser raised {type(e).__name__}"
            if isinstance(prediction, tuple):
                prediction = list(prediction)
            rec = family.score_items([items[iid]], {iid: gold[iid]}, {iid: prediction},
                                     _ctx(release, task, split))[0]
            value = rec.get("score")
            return Score(value=float(value) if value is not None else 0.0, answer=raw,
                         metadata={"item_id": iid, "prediction": prediction, "parse_error": parse_error})

        return score

    return _scorer()


def medbench_task(release_path: str, task: str, split: str = "dev", *, release_sha256: str | None = None,
                  limit: int | None = None, fewshot: int = 0, fewshot_seed: int = 0) -> Task:
    from medbench.prompting import apply_prompting

    release = open_release(release_path)
    if release_sha256 and release.sha256 != release_sha256:
        raise UserError(f"release {release_path} changed since the export (sha256 {release.sha256[:12]}, "
                        f"export names {release_sha256[:12]}); export it again")
    items = release.items(task, split)
    if limit is not None:
        items = items[:int(limit)]
    family, prompt_info = apply_prompting(get_family(task), release, task, items, int(fewshot), fewshot_seed)
    samples = [Sample(id=it["item_id"], input=_messages(family.render_prompt(it, release)),
                      metadata={"subject_id": it.get("subject_id")}) for it in items]
    meta = {"medbench": {"release": str(release.path.resolve()), "benchmark": {"name": release.name,
                                                                            "sha256": release.sha256},
                         "task": task, "split": split, "prompt": prompt_info}}
    return Task(dataset=MemoryDataset(samples, name=f"medbench-{release.name}-{task}-{split}"),
                solver=generate(), scorer=medbench_scorer(release_path, task, split), metadata=meta,
                name=f"medbench_{task}")
