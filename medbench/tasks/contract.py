"""The task-family contract: what one family declares, in one place.

A family is an object (normally a `TaskFamily` subclass instance, one per family folder) that the
registry (`medbench.tasks.FAMILIES`) validates when it is loaded. Everything else (`medbench
schema`, submission validation, `score`, the CLI's task choices, `train`, the leaderboard's
metric cards and breakdown titles, docs/METRICS.md's facts) asks the family through the registry;
no module keeps a per-task table of its own.

Required parts (`REQUIRED`; a family missing one is refused with one message naming them all):

- `name`                      the task name (`<task>/` in a release, `task` in items and headers)
- `item_model`, `gold_model`  pydantic models of a release's public item / private gold line
                              (extra fields forbidden: a gold field can never pass as public)
- `prediction_type`           what a submission line's `prediction` may be (checked strictly)
- `prompt_templates`          the `prompts/` templates `render_prompt` uses (system first)
- `metric_specs`              a `MetricSpec` per metric `aggregate` reports (name, display name,
                              scale, range, direction, formula, reference); the headline among them
- `headline_metric`, `higher_is_better`
- `build(ctx)`                → (item, gold) records, or a `release.TaskOutput` (a family that builds
                              on another's output reads it with `ctx.output_of(task)`)
- `render_prompt(item, release)` → chat messages; `parse(raw_output)` → (prediction, parse_error)
- `score_items(items, gold_by_id, predictions_by_id, ctx)` (or `score_item(...)`) → records
- `aggregate(records)`        → metric name → value

Optional parts (defaults below): `item_sums` + `aggregate_sums` (the bootstrap's vectorised path),
`mean_metrics`, `record_model` (the family's per-item record fields), `result_extras`,
`missing_prediction`, `prediction_limits` + `prediction_over_limit`, `card` (the leaderboard's task
card), `leaderboard_metrics`, `breakdown_titles`, `hidden_breakdowns`, `baselines` (name →
`"module:attr"` of a builder `(TrainView, seed) -> (predict(item) -> raw text, info)`),
training hooks (`gold_completion`, `reward_names`, `reward_funcs`, `train_scoring_context`),
`supports_judge`, `shard_mergeable`, `scorer_version`; `cards_module`, whose `item_outcome`,
`item_card` and `breakdown` are the leaderboard's per-item drill-down of a typed record; `in_default_plan` (`medbench eval`'s
default tasks); training's `output_rates`, `reward_guard`, `train_item_fields`, `train_template_field`; `paired_task` + `paired_difference` (the
leaderboard's paired comparison, per model, with another family asking the same questions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from medbench.errors import UserError

Split = Literal["train", "dev", "test"]

#: display scales: "pct" — a rate stored as 0..1, shown as a percent; "pct100" — already 0..100
#: (SQL); "points" — a 0..100 score that can go far below 0 (SQL reliability scores); "score5" — a
#: 1..5 rating; "num" — a plain number.
SCALES = ("pct", "pct100", "points", "score5", "num")
_DEFAULT_RANGE = {"pct": (0.0, 1.0), "pct100": (0.0, 100.0), "points": (None, 100.0),
                  "score5": (1.0, 5.0), "num": (0.0, None)}


class Record(BaseModel):
    """Base of every published record model (items, gold): extra fields forbidden."""

    model_config = ConfigDict(extra="forbid")


class ItemRecord(BaseModel):
    """Base of a family's `record_model`: the per-item record of a result (what every record
    holds; the scorer adds `input`, `gold`, `prediction`, `error`, `missing`, `over_limit`).
    A family's subclass declares the fields its aggregate, bootstrap sums and item card read;
    the record is checked against it when a result is written (`scoring.results.check_records`)
    and read through it by the leaderboard's drill-down."""

    model_config = ConfigDict(extra="allow")

    item_id: str
    subject_id: int | str | None = None
    correct: bool | None = None
    score: int | float | None = None  # an int stays an int (the item page prints 1, not 1.000)
    category: str | None = None
    categories: dict[str, str | list[str] | None] | None = None
    error: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class MetricSpec:
    """One metric's facts: the leaderboard's metric card and docs/METRICS.md's entry."""

    name: str
    label: str  # display name
    scale: str  # one of SCALES
    formula: str
    direction: Literal["higher", "lower", "none"] = "higher"
    range: tuple[float | None, float | None] | None = None  # None: the scale's range
    reference: str | None = None  # a paper or rule the formula follows

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"metric {self.name}: scale {self.scale!r} is not one of {SCALES}")

    @property
    def value_range(self) -> tuple[float | None, float | None]:
        return self.range if self.range is not None else _DEFAULT_RANGE[self.scale]

    def card(self) -> dict[str, str]:
        """What the leaderboard's metric card reads (publish.describe)."""
        return {"label": self.label, "scale": self.scale, "formula": self.formula}


@dataclass
class Breakdown:
    """A family's own error breakdown on the submission page (`TaskFamily.breakdown`): per group,
    `n` items, the set of `patients`, and the counters named in `counters` (summed when the page
    merges small groups); `value(group)` is the measure; `cols` titles the counters."""

    title: str
    group: str
    measure: str
    cols: list[str]
    counters: tuple[str, ...]
    groups: dict[str, dict]
    value: Callable[[dict], float | None]
    #: sort groups without a value after the valued ones of equal rank (ICD)
    none_apart: bool = False


class TaskFamily:
    """Base class of a task family: the optional parts' defaults. The required parts (`REQUIRED`)
    are declared by each family; `validate_family` checks them when the family is registered."""

    # ---- required (declared by the family; listed for readers and type checkers)
    name: ClassVar[str]
    item_model: ClassVar[type[BaseModel]]
    gold_model: ClassVar[type[BaseModel]]
    prediction_type: ClassVar[Any]
    prompt_templates: ClassVar[tuple[str, ...]]
    metric_specs: ClassVar[tuple[MetricSpec, ...]]
    headline_metric: ClassVar[str]
    higher_is_better: ClassVar[bool]

    # ---- optional
    #: what the scorer substitutes for an item with no (usable) prediction
    missing_prediction: ClassVar[Any] = None
    scorer_version: ClassVar[str] = "1"
    #: columns of the leaderboard's index table (the submission page shows every metric)
    leaderboard_metrics: ClassVar[tuple[str, ...] | list[str]] = ()
    #: pydantic model (an `ItemRecord` subclass) of this family's per-item result records:
    #: checked when a result is written, read through by the leaderboard's drill-down
    record_model: ClassVar[type[BaseModel] | None] = None
    #: caps on one prediction (docs/METRICS.md "Limits"); enforced by `prediction_over_limit`
    prediction_limits: ClassVar[dict[str, int]] = {}
    #: the leaderboard's task card: title, asks, input, output, headline
    card: ClassVar[dict[str, str] | None] = None
    #: result `categories` dimension -> breakdown title on the submission page
    breakdown_titles: ClassVar[dict[str, str]] = {}
    #: breakdowns the submission page leaves out (e.g. ICD's `category`: its own table shows it)
    hidden_breakdowns: ClassVar[tuple[str, ...]] = ()
    #: baseline name -> "module:attr" of builder(view: TrainView, seed) -> (predict, info)
    baselines: ClassVar[dict[str, str]] = {}
    #: training: the names of `reward_funcs`' callables, in order (empty: not trainable)
    reward_names: ClassVar[tuple[str, ...]] = ()
    supports_judge: ClassVar[bool] = False
    #: training: `medbench train --sft-pass-k` can score sampled completions by an item outcome
    #: (success = right answer / right abstention; SQL's outcome-reward levels)
    supports_pass_at_k: ClassVar[bool] = False
    #: items depend on one admission only, so shard releases merge by concatenation
    shard_mergeable: ClassVar[bool] = False
    #: another family whose items this one pairs with (same questions): the leaderboard shows,
    #: per model that did both on one release and split, `paired_difference` of the two results
    paired_task: ClassVar[str | None] = None

    def paired_difference(self, records: list[dict], other_records: list[dict]) -> dict | None:
        """This family's per-item records against `paired_task`'s of the same model: a dict with
        `n`, `metric`, this family's and the other's value, `difference` and its 95% `interval`
        (or `{"n": 0}`); None when the family pairs with nothing."""
        return None

    #: the family's cards module (`medbench.tasks.<family>.cards`): its `item_outcome`,
    #: `item_card` and `breakdown` functions, where it defines them, are the three drill-down
    #: hooks below (one lookup here, not a forwarding method per family)
    cards_module: ClassVar[str | None] = None

    def _card_hook(self, name: str) -> Any:
        if self.cards_module is None:
            return None
        import importlib

        return getattr(importlib.import_module(self.cards_module), name, None)

    def item_outcome(self, record: Any) -> str:
        """The drill-down's outcome label of one typed record (`record_model`; a missing item is
        labelled "missing" before this is asked)."""
        hook = self._card_hook("item_outcome")
        if hook is not None:
            return hook(record)
        if record.correct is True:
            return "correct"
        if record.correct is False:
            return "wrong"
        return "unscored"

    def item_card(self, record: Any, text: Any) -> dict | None:
        """The drill-down's family card of one typed record: `kind` (the template's card) and
        its fields, every value a plain string or list (`text(v)` clips a value to show), or
        None for the generic card (input, gold, prediction)."""
        hook = self._card_hook("item_card")
        return hook(record, text) if hook is not None else None

    def breakdown(self, records: list[dict]) -> Breakdown | None:
        """The family's own error breakdown of a result's records, or None."""
        hook = self._card_hook("breakdown")
        return hook(records) if hook is not None else None

    def prediction_over_limit(self, prediction: Any) -> str | None:
        """Why a well-typed prediction exceeds the family's limits, or None."""
        return None

    #: in `medbench eval`'s default task list (a plan without `tasks`)
    in_default_plan: ClassVar[bool] = False
    #: training: the per-item record fields the dev item rows (`dev_items.jsonl`) carry
    train_item_fields: ClassVar[tuple[str, ...]] = ()
    #: training: the gold field `train --sql-templates` restricts train and dev items by (None: the
    #: flag does not apply to this family)
    train_template_field: ClassVar[str | None] = None

    def output_rates(self, records: list[dict], parse_errors: dict | None = None) -> dict:
        """{abstention_rate, valid_output_rate} (fractions) of one checkpoint's dev records (train's
        checkpoint selection). Default: records marked `abstained` / items, and items parsed
        without error / items."""
        n = len(records)
        if not n:
            return {"abstention_rate": 0.0, "valid_output_rate": 0.0}
        errors = parse_errors or {}
        return {"abstention_rate": sum(1 for r in records if r.get("abstained")) / n,
                "valid_output_rate": sum(1 for r in records if not errors.get(r["item_id"])) / n}

    def reward_guard(self, train_gold: list[dict], evaluate_train: Any) -> dict | None:
        """Training: the reward guard calibrated before GRPO (passed to `reward_funcs`), or None.
        `evaluate_train(n)` scores the SFT policy on the first n train items (the trainer's
        `evaluate` result: `records`, `n`)."""
        return None

    def gold_completion(self, gold: dict) -> str | None:
        """The answer text a perfect model would write (train's SFT target, --fewshot's
        exemplars), in the format `parse` reads; None: the family has none."""
        return None

    def reward_funcs(self, release: Any, items: dict, gold: dict, guard: dict | None = None) -> list:
        """TRL reward callables for GRPO, named as `reward_names`."""
        raise UserError(f"task '{self.name}' has no training rewards")

    def train_scoring_context(self, release: Any) -> Any:
        """The ctx this family's scorer needs during training (e.g. the SQL release database)."""
        return None

    @property
    def trainable(self) -> bool:
        return bool(self.reward_names) and type(self).gold_completion is not TaskFamily.gold_completion


REQUIRED = ("name", "item_model", "gold_model", "prediction_type", "prompt_templates", "metric_specs",
            "headline_metric", "higher_is_better", "build", "render_prompt", "parse", "aggregate")


def validate_family(name: str, family: Any) -> Any:
    """The family, if it declares every required part consistently; else one UserError naming
    what is missing or wrong."""
    missing = [p for p in REQUIRED if not hasattr(family, p)]
    if not (hasattr(family, "score_items") or hasattr(family, "score_item")):
        missing.append("score_items (or score_item)")
    problems = []
    for p in ("build", "render_prompt", "parse", "aggregate"):
        if hasattr(family, p) and not callable(getattr(family, p)):
            problems.append(f"{p} is not callable")
    if hasattr(family, "name") and family.name != name:
        problems.append(f"name is {family.name!r}, registered as {name!r}")
    for p in ("item_model", "gold_model"):
        m = getattr(family, p, None)
        if hasattr(family, p) and not (isinstance(m, type) and issubclass(m, BaseModel)):
            problems.append(f"{p} is not a pydantic model")
    rm = getattr(family, "record_model", None)
    if rm is not None and not (isinstance(rm, type) and issubclass(rm, ItemRecord)):
        problems.append("record_model is not a contract.ItemRecord model")
    specs = getattr(family, "metric_specs", ())
    if hasattr(family, "metric_specs"):
        if not all(isinstance(s, MetricSpec) for s in specs):
            problems.append("metric_specs holds something that is not a MetricSpec")
        elif hasattr(family, "headline_metric") and family.headline_metric not in {s.name for s in specs}:
            problems.append(f"headline metric {family.headline_metric!r} has no MetricSpec")
    templates = getattr(family, "prompt_templates", ())
    if hasattr(family, "prompt_templates") and not (isinstance(templates, tuple)
                                                     and all(isinstance(t, str) for t in templates)):
        problems.append("prompt_templates is not a tuple of template names")
    if hasattr(family, "item_sums") != hasattr(family, "aggregate_sums"):
        problems.append("item_sums and aggregate_sums come together")
    if missing or problems:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + problems
        raise UserError(f"task family '{name}' is incomplete: {'; '.join(parts)}")
    return family


def metric_specs_by_name(families: Iterable[Any]) -> dict[str, MetricSpec]:
    """Every family's metric descriptors by name (a name two families declare must agree)."""
    out: dict[str, MetricSpec] = {}
    for fam in families:
        for spec in fam.metric_specs:
            if spec.name in out and out[spec.name] != spec:
                raise ValueError(f"metric {spec.name!r} is declared differently by two families")
            out[spec.name] = spec
    return out
