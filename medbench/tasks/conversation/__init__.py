"""The conversation task family: write a grounded doctor-patient conversation for one admission.

Modules: `schema` (the Conversation model and validation), `prompt` (the packet prompt), `facts`
(gold facts, the entity lexicon and the item builder), `metrics` (deterministic scoring), `judge`
(optional LLM judge). Predictions are the conversation object, or None on failure.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from medbench.tasks.base import MetricsFromModule
from medbench.tasks.contract import TaskFamily
from medbench.tasks.conversation.cards import CARD, METRIC_SPECS
from medbench.tasks.conversation.records import ConversationGold, ConversationItem, ConversationRecord

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_output(raw: str | None) -> tuple[dict | None, str | None]:
    """Model output -> (conversation dict or None, parse_error). Never raises.

    A JSON object that fails the schema is kept (the scorer reports it as schema-invalid) and
    the first schema problem becomes the parse error."""
    if raw is None or not str(raw).strip():
        return None, "empty output"
    text = str(raw).strip()
    cands = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    i, j = text.find("{"), text.rfind("}")
    if 0 <= i < j:
        cands.append(text[i : j + 1])
    obj = None
    for c in cands:
        try:
            val = json.loads(c)
        except (ValueError, RecursionError):
            continue
        if isinstance(val, dict):
            obj = val
            break
    if obj is None:
        return None, "no JSON object found in the output"
    if isinstance(obj.get("conversation"), dict) and "turns" not in obj:  # a common wrapper
        obj = obj["conversation"]
    from pydantic import ValidationError

    from medbench.tasks.conversation.schema import Conversation

    try:
        Conversation.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        return obj, f"schema: {'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
    return obj, None


class ConversationFamily(MetricsFromModule, TaskFamily):
    metrics_module = "medbench.tasks.conversation.metrics"
    cards_module = "medbench.tasks.conversation.cards"
    name = "conversation"
    item_model = ConversationItem
    gold_model = ConversationGold
    record_model = ConversationRecord
    #: the conversation object, or None on failure
    prediction_type = dict[str, Any] | None
    prompt_templates = ("conversation_system.j2", "conversation_user.j2")
    metric_specs = METRIC_SPECS
    card = CARD
    prediction_limits: ClassVar[dict] = {"turns": 500, "chars": 200_000}
    baselines: ClassVar[dict] = {"template": "medbench.models.baselines.template_conversation:build_template"}
    #: fact-F1 × form score (docs/METRICS.md "Conversation headline")
    headline_metric = "conversation_score"
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics = [
        "fact_f1",
        "form_score",
        "copy_rate",
        "fact_recall",
        "invented_entity_rate",
        "schema_validity",
        "chronology",
        "judge_accuracy",
        "judge_completeness",
        "judge_plausibility",
    ]
    higher_is_better = True
    #: "2": the pass rate at CORRECT_F1 is named `items_passing` (was `accuracy`)
    #: "3": headline conversation_score = fact-F1 × form score; items pass on that product
    scorer_version = "3"
    in_default_plan = True
    missing_prediction = None
    supports_judge = True
    #: items depend on one admission (the lexicon on the whole store), so shards concatenate.
    shard_mergeable = True

    def build(self, ctx: Any):
        from medbench.tasks.conversation.facts import build_conversation_task

        return build_conversation_task(ctx)

    def render_prompt(self, item: dict, release: Any = None) -> list[dict]:
        from medbench.tasks.conversation.prompt import render_conversation_prompt

        return render_conversation_prompt(item["packet"])

    def parse(self, raw_output: str | None) -> tuple[Any, str | None]:
        return parse_output(raw_output)

    def score_items(
        self, items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None
    ) -> list[dict]:
        from medbench.tasks.conversation.metrics import score_items

        records = score_items(items, gold_by_id, predictions_by_id, ctx)
        judge = getattr(ctx, "judge_model", None) if ctx is not None else None
        if judge is not None:  # a Model, built by the scorer from `--judge` (medbench.models.judge_model)
            res = _run_judge(items, predictions_by_id, judge)
            for rec in records:
                j = res["per_item"].get(rec["item_id"], {})
                rec["judge_accuracy"] = j.get("accuracy")
                rec["judge_completeness"] = j.get("completeness")
                rec["judge_plausibility"] = j.get("plausibility")
                rec["judge_error"] = j.get("error")
        return records

    def score_item(self, item: dict, gold: dict, prediction: Any, ctx: Any = None) -> dict:
        return self.score_items([item], {item["item_id"]: gold}, {item["item_id"]: prediction}, ctx)[0]

    def prediction_over_limit(self, prediction: Any) -> str | None:
        lim = self.prediction_limits
        if not isinstance(prediction, dict):
            return None
        turns = prediction.get("turns")
        if isinstance(turns, list) and len(turns) > lim["turns"]:
            return f"prediction over limit: {len(turns):,} turns (limit {lim['turns']})"
        chars = _text_chars(prediction)
        if chars > lim["chars"]:
            return f"prediction over limit: {chars:,} characters of text (limit {lim['chars']:,})"
        return None


def _text_chars(value: Any) -> int:
    """Characters in every string of a JSON value (iterative; depth is bounded by validation)."""
    total, stack = 0, [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return total



def _run_judge(items, predictions_by_id, model) -> dict:
    import asyncio
    import concurrent.futures

    from medbench.tasks.conversation.judge import judge_conversations

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return judge_conversations(items, predictions_by_id, model)
    # Called from inside an event loop: run the judge's own loop in a worker thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(judge_conversations, items, predictions_by_id, model).result()


FAMILY = ConversationFamily()
