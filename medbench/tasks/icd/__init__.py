"""The ICD-10-CM coding task family: assign the admission's diagnosis codes from its text.

Modules: `build` (items from discharge notes or packet summaries; gold code sets), `parse`
(code normalisation/validation and the output parser), `metrics` (per-item records and the
aggregate). Predictions are a ranked list of code strings; a missing one scores as [].
"""

from __future__ import annotations

from typing import Any

from medbench.tasks.base import MetricsFromModule


class IcdFamily(MetricsFromModule):
    metrics_module = "medbench.tasks.icd.metrics"
    name = "icd"
    headline_metric = "micro_f1"
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics = [
        "macro_f1",
        "macro_f1_all",
        "micro_precision",
        "micro_recall",
        "p_at_5",
        "p_at_8",
        "r_at_10",
        "r_at_15",
        "category_micro_f1",
        "exact_match",
        "invalid_code_rate",
    ]
    higher_is_better = True
    #: the scorer's stand-in for an item with no submitted prediction: nothing predicted.
    missing_prediction: tuple = ()  # an empty ranked list (immutable: shared by every call)
    #: items depend on one admission only, so shard releases merge by concatenation.
    shard_mergeable = True
    scorer_version = "2"  # 2: macro_f1 over gold codes (Edin et al. 2023), macro_f1_all

    def build(self, ctx: Any):
        from medbench.tasks.icd.build import build_icd_task

        return build_icd_task(ctx)

    def render_prompt(self, item: dict, release: Any = None) -> list[dict]:
        from medbench.tasks.base import render_template

        return [
            {"role": "system", "content": render_template("icd_system.j2")},
            {"role": "user", "content": render_template("icd_user.j2", item=item)},
        ]

    def parse(self, raw_output: str | None) -> tuple[Any, str | None]:
        from medbench.tasks.icd.parse import parse_output

        return parse_output(raw_output)

    def score_items(
        self, items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None
    ) -> list[dict]:
        from medbench.tasks.icd.metrics import score_items

        return score_items(items, gold_by_id, predictions_by_id, ctx)

    def score_item(self, item: dict, gold: dict, prediction: Any, ctx: Any = None) -> dict:
        from medbench.tasks.icd.metrics import score_item

        return score_item(item, gold, prediction)



FAMILY = IcdFamily()
