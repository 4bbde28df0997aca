"""The text-to-SQL task family (EHR question answering with abstention).

Modules: `templates`/`build`/`schema` (items from the store, by the SQL builder), `ehrsql` (EHRSQL
2024 import), `normalize` (EHRSQL query normalisation and the one canonical answer form),
`execute` (sandboxed, time-limited execution in worker processes), `metrics` (per-item
reliability score and the aggregate), `parse` (model output → SQL or abstention).

Predictions are a SQL string, or None to abstain. A missing prediction is scored as the empty
string: a wrong answer (−1 on every item), never an abstention.
"""

from __future__ import annotations

from typing import Any

from medbench.tasks.base import MetricsFromModule


class SqlFamily(MetricsFromModule):
    metrics_module = "medbench.tasks.sql.metrics"
    name = "sql"
    headline_metric = "rs10"
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics = [
        "rs10_seen",
        "rs10_unseen",
        "rs0",
        "rs5",
        "rsN",
        "ex",
        "valid_sql_rate",
        "abstention_precision",
        "abstention_recall",
        "em",
        "token_f1",
    ]
    higher_is_better = True
    #: what the scorer substitutes for an item with no submitted prediction: scored as wrong.
    missing_prediction = ""
    scorer_version = "3"

    def build(self, ctx: Any):
        from medbench.tasks.sql.build import build_sql_task

        return build_sql_task(ctx)

    def render_prompt(self, item: dict, release: Any) -> list[dict]:
        from medbench.tasks.sql.parse import render_prompt

        return render_prompt(item, release)

    def parse(self, raw_output: str | None) -> tuple[Any, str | None]:
        from medbench.tasks.sql.parse import parse_output

        return parse_output(raw_output)

    def score_items(
        self, items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any
    ) -> list[dict]:
        from medbench.tasks.sql.metrics import score_items

        return score_items(items, gold_by_id, predictions_by_id, ctx)

    def result_extras(self, records: list[dict], release: Any, split: str, **options: Any) -> dict:
        from medbench.tasks.sql.metrics import result_extras

        return result_extras(records, release, split, **options)

    def score_item(self, item: dict, gold: dict, prediction: Any, ctx: Any) -> dict:
        from medbench.tasks.sql.metrics import score_items

        return score_items([item], {item["item_id"]: gold}, {item["item_id"]: prediction}, ctx)[0]



FAMILY = SqlFamily()
