"""GRPO rewards, each a plain function of one completion and its gold, built on the scorers (each
family's `reward_funcs` hook, `medbench.tasks.contract`, assembles them for TRL).

No metric is implemented twice: correctness of SQL comes from the SQL family's own scoring
(sandboxed execution + canonical answer comparison), ICD F1 and invalid codes from the ICD
family's per-item records and aggregate.
"""

from __future__ import annotations

import json
import re
from typing import Any

from medbench.tasks import get_family

#: SQL reward levels, shaped for learning (docs/METRICS.md, "Training rewards"): the order is
#: correct > abstain on an unanswerable item > abstain on an answerable item > wrong answer
#: (including any answer to an unanswerable item) > invalid SQL (does not parse or execute).
#: Each comes from the SQL scorer's per-item record (`correct`, `abstained`, `executed`).
SQL_CORRECT = 1.0
SQL_ABSTAIN_UNANSWERABLE = 0.6
SQL_ABSTAIN_ANSWERABLE = 0.1
SQL_WRONG = -0.4
SQL_INVALID = -0.6
#: kept for old imports: the old names of the same levels
SQL_EXECUTES_WRONG = SQL_WRONG
SQL_FAILS = SQL_INVALID
SQL_ANSWER_UNANSWERABLE = SQL_WRONG
FORMAT_BONUS = 0.1
#: abstention-rate guard: every abstaining completion of a batch loses
#: lambda * max(0, batch abstention rate - target); the trainer sets target and lambda so that
#: "always abstain" earns strictly less on train than the SFT policy (see `abstention_guard_lambda`).
GUARD_LAMBDA = 1.0
GUARD_TOLERANCE = 0.05
ICD_INVALID_PENALTY = 0.05
#: ICD length guard: -ICD_LENGTH_PENALTY per predicted code beyond ICD_LENGTH_FACTOR x |gold|
#: (at least ICD_LENGTH_MIN allowed), so spraying codes to buy recall costs more than it earns.
ICD_LENGTH_PENALTY = 0.05
ICD_LENGTH_FACTOR = 2
ICD_LENGTH_MIN = 3

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
    """One completion's outcome reward (levels above) from the SQL scorer's record."""
    return sql_correctness_rewards([text], [item], [gold], ctx)[0]


def sql_records(texts: list[str], items: list[dict], golds: list[dict], ctx: Any) -> list[dict]:
    """The SQL scorer's per-item records for a batch (a GRPO step: several completions per
    item), with as few scorer calls as item ids allow (each call needs distinct ids)."""
    family = get_family("sql")
    out: list[dict] = [{}] * len(texts)
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
            out[k] = record
    return out


def sql_correctness_rewards(texts: list[str], items: list[dict], golds: list[dict], ctx: Any) -> list[float]:
    """`sql_correctness_reward` for a batch."""
    return [sql_outcome_reward(r) for r in sql_records(texts, items, golds, ctx)]


def sql_outcome_reward(record: dict) -> float:
    """Reward level of one SQL scorer record (`answerable`, `abstained`, `correct`, `executed`)."""
    if not record.get("answerable"):
        if record.get("abstained"):
            return SQL_ABSTAIN_UNANSWERABLE
        return SQL_WRONG if record.get("executed") else SQL_INVALID
    if record.get("abstained"):
        return SQL_ABSTAIN_ANSWERABLE
    if record.get("correct"):
        return SQL_CORRECT
    return SQL_WRONG if record.get("executed") else SQL_INVALID


def _sql_reward(record: dict, gold: dict) -> float:  # old name
    return sql_outcome_reward(record)


def is_sql_abstention(text: str) -> bool:
    """Whether the SQL scorer reads this completion as an abstention."""
    prediction = get_family("sql").parse(text)[0]
    return prediction is None or (isinstance(prediction, str) and prediction.strip().lower() == "null")


def abstention_guard_rewards(abstained: list[bool], target: float, lam: float = GUARD_LAMBDA) -> list[float]:
    """Each abstaining completion loses lam * max(0, rate - target), rate = the batch's abstention
    rate; answering completions get 0. A policy that abstains no more often than `target` (the
    share of unanswerable train items plus a tolerance) never pays."""
    if not abstained:
        return []
    rate = sum(abstained) / len(abstained)
    excess = max(0.0, rate - target)
    return [-lam * excess if a else 0.0 for a in abstained]


def always_abstain_reward(unanswerable_share: float, target: float, lam: float) -> float:
    """Mean train reward of the degenerate "always abstain" policy (outcome + format + guard)."""
    return (unanswerable_share * SQL_ABSTAIN_UNANSWERABLE + (1 - unanswerable_share) * SQL_ABSTAIN_ANSWERABLE
            + FORMAT_BONUS - lam * max(0.0, 1.0 - target))


def abstention_guard_lambda(unanswerable_share: float, target: float, reference_reward: float,
                            lam: float = GUARD_LAMBDA, margin: float = 0.1) -> float:
    """The guard weight: `lam`, raised where needed so that always-abstain earns at least
    `margin` less than `reference_reward` (the SFT policy's measured mean train reward)."""
    room = max(1e-6, 1.0 - target)
    needed = (always_abstain_reward(unanswerable_share, target, 0.0) - reference_reward + margin) / room
    return max(lam, needed)


def icd_f1_reward(text: str, item: dict, gold: dict) -> float:
    """F1 of the predicted code set against gold, from the ICD family's own aggregate."""
    family = get_family("icd")
    prediction, _ = family.parse(text)
    record = family.score_item(item, gold, prediction, None)
    return float(family.aggregate([record])["micro_f1"])


def icd_length_guard(text: str, gold: dict) -> float:
    """-ICD_LENGTH_PENALTY per predicted (deduplicated) code beyond
    max(ICD_LENGTH_MIN, ICD_LENGTH_FACTOR x |gold codes|), counted by the ICD scorer (`n_pred`)."""
    family = get_family("icd")
    prediction, _ = family.parse(text)
    record = family.score_item({"item_id": "_"}, {"codes": []}, prediction, None)
    allowed = max(ICD_LENGTH_MIN, ICD_LENGTH_FACTOR * len(gold.get("codes") or []))
    return -ICD_LENGTH_PENALTY * max(0, record["n_pred"] - allowed)


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
