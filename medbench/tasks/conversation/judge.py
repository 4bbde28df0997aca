"""Optional LLM judge for conversations (`medbench score --judge MODEL`).

A fixed rubric (`prompts/conversation_judge.j2`) asks the judge for accuracy, completeness and plausibility (a plausible conversation),
each 1-5, through a `Model` from the one backend factory (`medbench.models.judge_model`: litellm
strings with structured output, `hf:`, `vllm:`, baselines; temperature 0). The scorer builds the
model and passes it in (`ctx.judge_model`), so this module never imports the model layer. Reported
beside the deterministic metrics, never instead of them. Conversations that are missing or
schema-invalid are not sent (they already score 0 deterministically); a failed judge call is
recorded per item and left out of the means.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, Field

from medbench.tasks.base import render_template

JUDGE_TEMPLATE = "conversation_judge.j2"
MAX_RECORD_CHARS = 60_000  # keeps the prompt inside common context windows


class JudgeScore(BaseModel):
    accuracy: int = Field(ge=1, le=5)
    completeness: int = Field(ge=1, le=5)
    plausibility: int = Field(ge=1, le=5, description="is this a plausible conversation")
    rationale: str = ""


def judge_messages(packet: dict, conversation: dict) -> list[dict]:
    from medbench.tasks.conversation.prompt import render_conversation_prompt

    record = render_conversation_prompt(packet)[-1]["content"].rstrip()
    lines = record.split("\n")
    if lines and lines[-1].startswith("Write the conversation"):  # the generator's instruction
        record = "\n".join(lines[:-1]).rstrip()
    if len(record) > MAX_RECORD_CHARS:
        record = record[:MAX_RECORD_CHARS] + "\n[record truncated]"
    content = render_template(JUDGE_TEMPLATE, record=record, turns=conversation["turns"])
    return [{"role": "user", "content": content}]


def _judgeable(prediction: Any, packet: dict) -> bool:
    from medbench.tasks.conversation.schema import validate_conversation

    if not isinstance(prediction, dict):
        return False
    return not any(p.startswith("schema:") for p in validate_conversation(prediction, packet))


async def ajudge_conversations(items: list[dict], predictions_by_id: dict, model: Any,
                               concurrency: int = 8) -> dict:
    """`model`: a `medbench.models.Model` (its `acall(messages, item, response_model=...)`)."""
    sem = asyncio.Semaphore(max(1, concurrency))
    per_item: dict[str, dict] = {}

    async def one(item: dict) -> None:
        pred = predictions_by_id.get(item["item_id"])
        if not _judgeable(pred, item["packet"]):
            per_item[item["item_id"]] = {"accuracy": None, "completeness": None, "plausibility": None,
                                         "error": "not judged: "
                                         "missing or schema-invalid conversation"}
            return
        async with sem:
            res = await model.acall(judge_messages(item["packet"], pred), item, response_model=JudgeScore)
        if res.error is None and res.parsed:
            per_item[item["item_id"]] = {"accuracy": res.parsed["accuracy"],
                                         "completeness": res.parsed["completeness"],
                                         "plausibility": res.parsed["plausibility"],
                                         "rationale": res.parsed.get("rationale", ""), "error": None}
        else:
            per_item[item["item_id"]] = {"accuracy": None, "completeness": None, "plausibility": None,
                                         "error": res.error}

    await asyncio.gather(*(one(it) for it in items))
    judged = [v for v in per_item.values() if v["accuracy"] is not None]
    n = len(judged)
    return {
        "judge_model": model.spec,
        "judge_accuracy": sum(v["accuracy"] for v in judged) / n if n else None,
        "judge_completeness": sum(v["completeness"] for v in judged) / n if n else None,
        "judge_plausibility": sum(v["plausibility"] for v in judged) / n if n else None,
        "judge_n": n,
        "judge_failed": sum(1 for v in per_item.values() if v["accuracy"] is None),
        "per_item": {k: per_item[k] for k in sorted(per_item)},
    }


def judge_conversations(items: list[dict], predictions_by_id: dict, model: Any, **kwargs: Any) -> dict:
    """Judge every item's conversation with `model` (a Model); returns means, counts and per-item
    scores. Synchronous wrapper; from inside a running event loop, await `ajudge_conversations`."""
    return asyncio.run(ajudge_conversations(items, predictions_by_id, model, **kwargs))
