"""GRPO rewards, each a plain function of one completion and its gold, built on the scorers.

No metric is implemented twice: correctness of SQL comes from the SQL family's own scoring
(sandboxed execution + canonical answer comparison), ICD F1 and invalid codes from the ICD
family's per-item records and aggregate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from medbench.tasks import get_family

#: SQL reward levels (the reliability score's logic: abstaining on unanswerable is right,
#: answering it is the costly error).
SQL_CORRECT = 1.0
SQL_EXECUTES_WRONG = 0.1
SQL_FAILS = 0.0
SQL_ABSTAIN_ANSWERABLE = 0.0
SQL_ABSTAIN_UNANSWERABLE = 1.0
SQL_ANSWER_UNANSWERABLE = -1.0
FORMAT_BONUS = 0.1
ICD_INVALID_PENALTY = 0.05

_SQL_BLOCK = re.compile(r"^\s*```sql[ \t]*\n(?:(?!```).)*\S(?:(?!```).)*\n\s*```\s*$", re.DOTALL | re.IGNORECASE)
_NULL_ANSWER = re.compile(r"^\s*(```(?:sql)?\s*)?null\s*(```)?\s*$", re.IGNORECASE)


def completion_text(completion: Any) -> str:
    """TRL passes either a string or a list of chat messages; return the assistant text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return ""


def sql_format_reward(text: str) -> float:
    """A well-formed answer block: exactly one ```sql fenced query, or a bare `null`."""
    return FORMAT_BONUS if (_SQL_BLOCK.match(text) or _NULL_ANSWER.match(text)) else 0.0


def sql_correctness_reward(text: str, item: dict, gold: dict, ctx: Any) -> float:
    """1.0 right answer, 0.1 executes but wrong, 0 fails; unanswerable: abstain 1.0, answer −1."""
    return sql_correctness_rewards([text], [item], [gold], ctx)[0]


def sql_correctness_rewards(texts: list[str], items: list[dict], golds: list[dict], ctx: Any) -> list[float]:
    """`sql_correctness_reward` for a batch (a GRPO step: several completions per item), scored
    with as few calls of the SQL scorer as item ids allow (each call needs distinct ids)."""
    family = get_family("sql")
    out: list[float] = [0.0] * len(texts)
    rounds: list[list[int]] = []  # round r holds each item's r-th completion
    seen: dict[str, int] = {}
    for k, item in enumerate(items):
        r = seen.get(item["item_id"], 0)
        seen[item["item_id"]] = r + 1
        if r == len(rounds):
            rounds.append([])
        rounds[r].append(k)
    for ks in rounds:
        preds = {items[k]["item_id"]: family.parse(texts[k])[0] for k in ks}
        records = family.score_items([items[k] for k in ks], {items[k]["item_id"]: golds[k] for k in ks},
                                     preds, ctx)
        for k, record in zip(ks, records, strict=True):
            out[k] = _sql_reward(record, golds[k])
    return out


def _sql_reward(record: dict, gold: dict) -> float:
    if not gold.get("answerable", gold.get("sql") is not None):
        return SQL_ABSTAIN_UNANSWERABLE if record.get("abstained") else SQL_ANSWER_UNANSWERABLE
    if record.get("abstained"):
        return SQL_ABSTAIN_ANSWERABLE
    if record.get("correct"):
        return SQL_CORRECT
    return SQL_EXECUTES_WRONG if record.get("executed") else SQL_FAILS


def icd_f1_reward(text: str, item: dict, gold: dict) -> float:
    """F1 of the predicted code set against gold, from the ICD family's own aggregate."""
    family = get_family("icd")
    prediction, _ = family.parse(text)
    record = family.score_item(item, gold, prediction, None)
    return float(family.aggregate([record])["micro_f1"])


def icd_format_reward(text: str) -> float:
    """Valid JSON list of strings (optionally fenced)."""
    body = re.sub(r"^\s*```(?:json)?\s*|\s*```\s*$", "", text.strip())
    try:
        value = json.loads(body)
    except (ValueError, TypeError):
        return 0.0
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return FORMAT_BONUS if ok else 0.0


def icd_invalid_code_penalty(text: str) -> float:
    """−0.05 per predicted code the ICD scorer counts as invalid (its own `n_invalid`)."""
    family = get_family("icd")
    prediction, _ = family.parse(text)
    record = family.score_item({"item_id": "_"}, {"codes": []}, prediction, None)
    return -ICD_INVALID_PENALTY * record["n_invalid"]
