"""The text-to-SQL task family (EHR question answering with abstention).

Modules: `templates`/`build`/`schema` (items from the store, by the SQL builder), `ehrsql` (EHRSQL
2024 import), `normalize` (EHRSQL query normalisation and the one canonical answer form),
`execute` (sandboxed, time-limited execution in worker processes), `metrics` (per-item
reliability score and the aggregate), `parse` (model output → SQL or abstention).

Predictions are a SQL string, or None to abstain. A missing prediction is scored as the empty
string: a wrong answer (−1 on every item), never an abstention.
"""

from __future__ import annotations

from typing import Any, ClassVar

from medbench.tasks.base import MetricsFromModule
from medbench.tasks.contract import TaskFamily
from medbench.tasks.sql.cards import ABSTENTION_COLUMNS, CARD, METRIC_SPECS, RS_COLUMNS, ReliabilityScored
from medbench.tasks.sql.records import SqlGold, SqlItem, SqlRecord


class SqlFamily(MetricsFromModule, ReliabilityScored, TaskFamily):
    metrics_module = "medbench.tasks.sql.metrics"
    cards_module = "medbench.tasks.sql.cards"
    name = "sql"
    item_model = SqlItem
    gold_model = SqlGold
    record_model = SqlRecord
    #: a SQL string, or None to abstain
    prediction_type = str | None
    prompt_templates = ("sql_system.j2", "sql_user.j2")
    metric_specs = METRIC_SPECS
    card = CARD
    prediction_limits: ClassVar[dict] = {"chars": 20_000}
    supports_pass_at_k = True
    over_limit_noun = "SQL"
    breakdown_titles: ClassVar[dict] = {"family": "template family", "table": "table"}
    baselines: ClassVar[dict] = {"abstain": "medbench.models.baselines.sql:build_abstain",
                 "retrieval": "medbench.models.baselines.sql:build_retrieval"}
    reward_names = ("sql_correctness", "sql_format", "sql_abstention_guard")
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics = (*RS_COLUMNS, "ex", "valid_sql_rate", *ABSTENTION_COLUMNS, "em", "token_f1")
    scorer_version = "3"
    in_default_plan = True
    train_item_fields = ("abstained", "executed", "answerable")
    train_template_field = "template"

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

    # ------------------------------------------------------------------ training hooks
    def output_rates(self, records: list[dict], parse_errors: dict | None = None) -> dict:
        """Abstained / items, and executed / answered."""
        n = len(records)
        if not n:
            return {"abstention_rate": 0.0, "valid_output_rate": 0.0}
        abstained = sum(1 for r in records if r.get("abstained"))
        answered = n - abstained
        executed = sum(1 for r in records if not r.get("abstained") and r.get("executed"))
        return {"abstention_rate": abstained / n, "valid_output_rate": executed / answered if answered else 0.0}

    def reward_guard(self, train_gold: list[dict], evaluate_train: Any) -> dict:
        """The abstention-rate guard: target = the train unanswerable share + tolerance; lambda so
        that always abstaining earns less than the SFT policy's outcome reward on a train sample."""
        from medbench.tasks import rewards

        share = unanswerable_share(train_gold)
        target = min(1.0, share + rewards.GUARD_TOLERANCE)
        sft_train = evaluate_train()
        # SFT's outcome reward without its format bonus (a lower bound of its reward) against
        # always-abstain's outcome + full format bonus + guard: the comparison is conservative.
        sft_reward = sum(rewards.sql_outcome_reward(r) for r in sft_train["records"]) / max(1, sft_train["n"])
        lam = rewards.abstention_guard_lambda(share, target, sft_reward)
        return {"target": target, "lambda": lam, "unanswerable_share": share,
                "sft_train_outcome_reward": sft_reward, "sft_train_items": sft_train["n"],
                "always_abstain_train_reward": rewards.always_abstain_reward(share, target, lam)}

    def gold_completion(self, gold: dict) -> str:
        return f"```sql\n{gold['sql']}\n```" if gold.get("sql") else "null"

    def train_scoring_context(self, release: Any) -> Any:
        # the release's own read-only database, one sandboxed worker
        return {"release": release, "workers": 1, "show_progress": False, "shared_pool": True}

    def reward_funcs(self, release: Any, items: dict, gold: dict, guard: dict | None = None) -> list:
        """Outcome level + format + abstention-rate guard (`guard`: {target, lambda}; default
        target = the unanswerable share of `gold` + GUARD_TOLERANCE)."""
        from medbench.tasks import rewards

        ctx = self.train_scoring_context(release)
        if guard is None:
            guard = {"target": unanswerable_share(gold.values()) + rewards.GUARD_TOLERANCE,
                     "lambda": rewards.GUARD_LAMBDA}

        def sql_correctness(prompts, completions, item_id, **kwargs):
            return rewards.sql_correctness_rewards([rewards.completion_text(c) for c in completions],
                                                   [items[i] for i in item_id], [gold[i] for i in item_id],
                                                   ctx)

        def sql_format(prompts, completions, **kwargs):
            return [rewards.sql_format_reward(rewards.completion_text(c)) for c in completions]

        def sql_abstention_guard(prompts, completions, **kwargs):
            flags = [rewards.is_sql_abstention(rewards.completion_text(c)) for c in completions]
            return rewards.abstention_guard_rewards(flags, guard["target"], guard["lambda"])

        return [sql_correctness, sql_format, sql_abstention_guard]


def unanswerable_share(golds) -> float:
    golds = list(golds)
    if not golds:
        return 0.0
    return sum(1 for g in golds if not g.get("answerable", g.get("sql") is not None)) / len(golds)


FAMILY = SqlFamily()
