"""The ICD-10-CM coding task family: assign the admission's diagnosis codes from its text.

Modules: `build` (items from discharge notes or packet summaries; gold code sets), `parse`
(code normalisation/validation and the output parser), `metrics` (per-item records and the
aggregate). Predictions are a ranked list of code strings; a missing one scores as [].
"""

from __future__ import annotations

from typing import Any, ClassVar

from medbench.tasks.base import MetricsFromModule
from medbench.tasks.contract import TaskFamily
from medbench.tasks.icd.cards import CARD, METRIC_SPECS
from medbench.tasks.icd.records import IcdGold, IcdItem, IcdRecord


class IcdFamily(MetricsFromModule, TaskFamily):
    metrics_module = "medbench.tasks.icd.metrics"
    cards_module = "medbench.tasks.icd.cards"
    name = "icd"
    item_model = IcdItem
    gold_model = IcdGold
    record_model = IcdRecord
    #: a ranked list of code strings
    prediction_type = list[str] | None
    prompt_templates = ("icd_system.j2", "icd_user.j2")
    metric_specs = METRIC_SPECS
    card = CARD
    #: MIMIC-IV records at most 39 diagnosis codes per admission (`seq_num` ≤ 39, hosp and the
    #: demo alike); a ranked list of more than 50 is not a coding answer but a spray, and on small
    #: splits Edin's macro F1 rewards a constant spray (each listed gold code gets F1 = 2s/(n+s)).
    prediction_limits: ClassVar[dict] = {"codes": 50, "code_chars": 32}
    #: `correct` is an exact code-set match: the per-chapter view is the family's micro-F1 table
    hidden_breakdowns = ("category",)
    baselines: ClassVar[dict] = {"frequency": "medbench.models.baselines.icd:build_frequency",
                 "tfidf": "medbench.models.baselines.icd:build_tfidf"}
    reward_names = ("icd_f1", "icd_format", "icd_invalid_codes", "icd_length_guard")
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
    in_default_plan = True
    train_item_fields = ("n_pred", "tp", "fp", "fn")

    def output_rates(self, records: list[dict], parse_errors: dict | None = None) -> dict:
        """Empty predictions / items ("abstained"), and items parsed without error / items."""
        n = len(records)
        if not n:
            return {"abstention_rate": 0.0, "valid_output_rate": 0.0}
        errors = parse_errors or {}
        return {"abstention_rate": sum(1 for r in records if not r.get("pred_codes")) / n,
                "valid_output_rate": sum(1 for r in records if not errors.get(r["item_id"])) / n}

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

    def prediction_over_limit(self, prediction: Any) -> str | None:
        lim = self.prediction_limits
        if not isinstance(prediction, list):
            return None
        if len(prediction) > lim["codes"]:
            return f"prediction over limit: {len(prediction):,} codes (limit {lim['codes']})"
        longest = max((len(c) for c in prediction if isinstance(c, str)), default=0)
        if longest > lim["code_chars"]:
            return f"prediction over limit: a code of {longest:,} characters (limit {lim['code_chars']})"
        return None

    # ------------------------------------------------------------------ training hooks
    def gold_completion(self, gold: dict) -> str:
        import json

        return json.dumps(list(gold["codes"]))

    def reward_funcs(self, release: Any, items: dict, gold: dict, guard: dict | None = None) -> list:
        """F1 + format + invalid codes + length guard."""
        from medbench.tasks import rewards

        def icd_f1(prompts, completions, item_id, **kwargs):
            return [rewards.icd_f1_reward(rewards.completion_text(c), items[i], gold[i])
                    for c, i in zip(completions, item_id, strict=True)]

        def icd_format(prompts, completions, **kwargs):
            return [rewards.icd_format_reward(rewards.completion_text(c)) for c in completions]

        def icd_invalid_codes(prompts, completions, **kwargs):
            return [rewards.icd_invalid_code_penalty(rewards.completion_text(c)) for c in completions]

        def icd_length_guard(prompts, completions, item_id, **kwargs):
            return [rewards.icd_length_guard(rewards.completion_text(c), gold[i])
                    for c, i in zip(completions, item_id, strict=True)]

        return [icd_f1, icd_format, icd_invalid_codes, icd_length_guard]



FAMILY = IcdFamily()
