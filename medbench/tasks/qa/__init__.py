"""The EHR record question-answering family (`qa`): the SQL family's patient-level questions,
answered by reading the patient's rendered record instead of writing SQL.

Modules: `build` (items from the sql family's output over the same build, `ctx.output_of("sql")`;
contexts from packets), `answer` (expected answer types, gold values, the normalised answer match),
`parse` (model output → answer or abstention; the prompt), `metrics` (per-item reliability score,
RS(c) as the SQL family's formula, accuracy, abstention, by context length; `paired_with_sql`),
`records` (item and gold models), `cards` (metric specs, task card), `baseline`
(`baseline:qa-lookup`).

Predictions are an answer string, or None (or "null") to abstain. A missing prediction is scored
as the empty string: a wrong answer (−1), never an abstention.
"""

from __future__ import annotations

from typing import Any, ClassVar

from medbench.tasks.base import MetricsFromModule
from medbench.tasks.contract import TaskFamily
from medbench.tasks.qa.answer import MAX_ANSWER_CHARS
from medbench.tasks.qa.cards import CARD, METRIC_SPECS
from medbench.tasks.qa.records import QaGold, QaItem, QaRecord
from medbench.tasks.sql.cards import ABSTENTION_COLUMNS, RS_COLUMNS, ReliabilityScored


class QaFamily(MetricsFromModule, ReliabilityScored, TaskFamily):
    metrics_module = "medbench.tasks.qa.metrics"
    cards_module = "medbench.tasks.qa.cards"
    name = "qa"
    item_model = QaItem
    gold_model = QaGold
    record_model = QaRecord
    #: the answer text, or None to abstain
    prediction_type = str | None
    prompt_templates = ("qa_system.j2", "qa_user.j2")
    metric_specs = METRIC_SPECS
    card = CARD
    #: answers are read up to this many characters; a longer one is not an answer (a copied record)
    prediction_limits: ClassVar[dict] = {"chars": MAX_ANSWER_CHARS}
    over_limit_noun = "an answer"
    breakdown_titles: ClassVar[dict] = {"family": "template family", "answer_type": "expected answer type",
                                        "context_length": "context length (regex tokens)",
                                        "answer_in_context": "gold literally in the record",
                                        "template_seen_in_train": "template seen in train"}
    baselines: ClassVar[dict] = {"qa-lookup": "medbench.tasks.qa.baseline:build_qa_lookup"}
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics = (*RS_COLUMNS, "answer_accuracy", "answer_accuracy_in_context", *ABSTENTION_COLUMNS,
                           "rs10_ctx_le2k", "rs10_ctx_2k_8k")
    #: the same questions written as SQL: the leaderboard shows the paired qa − sql difference
    paired_task = "sql"
    scorer_version = "1"

    def build(self, ctx: Any):
        from medbench.tasks.qa.build import build_qa_task

        return build_qa_task(ctx)

    def render_prompt(self, item: dict, release: Any = None) -> list[dict]:
        from medbench.tasks.qa.parse import render_prompt

        return render_prompt(item, release)

    def parse(self, raw_output: str | None) -> tuple[Any, str | None]:
        from medbench.tasks.qa.parse import parse_output

        return parse_output(raw_output)

    def score_items(self, items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None) -> list[dict]:
        from medbench.tasks.qa.metrics import score_items

        return score_items(items, gold_by_id, predictions_by_id, ctx)

    def score_item(self, item: dict, gold: dict, prediction: Any, ctx: Any = None) -> dict:
        from medbench.tasks.qa.metrics import score_item

        return score_item(item, gold, prediction)

    def paired_difference(self, records: list[dict], other_records: list[dict]) -> dict:
        from medbench.tasks.qa.metrics import paired_with_sql

        return paired_with_sql(records, other_records)

    def gold_completion(self, gold: dict) -> str:
        """The answer a perfect reader writes (--fewshot's exemplars), in the format `parse` reads."""
        return f"Answer: {gold['answer_text']}" if gold.get("answerable") and gold.get("answer_text") else "null"


FAMILY = QaFamily()
