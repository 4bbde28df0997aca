"""The submission file format: the single source of truth for its pydantic models and JSON Schema.

A submission is JSON Lines: line 1 is a `SubmissionHeader`, every further line a
`SubmissionLine` (one per item, each item at most once). The runner writes it, the scorer's
validator reads it, and `medbench schema submission` prints `submission_json_schema()`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, TypeAdapter, ValidationError

SCHEMA_VERSION = 1

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchmarkRef(_Strict):
    name: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the release's manifest.json bytes")


class SubmissionHeader(_Strict):
    """Line 1 of every submission."""

    type: Literal["header"]
    schema_version: Literal[1]
    model: str = Field(min_length=1)
    task: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    split: Literal["train", "dev", "test"]
    benchmark: BenchmarkRef
    medbench_version: str
    params: dict[str, Any] = Field(description="generation parameters (temperature, seed, max_tokens, ...)")
    created: str = Field(description="UTC time the submission was started, ISO 8601")
    data_use: dict[str, Any] | None = Field(default=None, description="the data-use guard's decision "
                                            "(medbench.datause): licence, allowed, reason")


class Usage(_Strict):
    # Strict: JSON true/false or "12" are not token counts (lax pydantic would read true as 1).
    prompt_tokens: StrictInt | None = Field(default=None, ge=0)
    completion_tokens: StrictInt | None = Field(default=None, ge=0)


class SubmissionLine(_Strict):
    """One item's output. `error` is set when the model call failed (after retries);
    `parse_error` when the call succeeded but the output could not be parsed."""

    item_id: str = Field(min_length=1)
    prediction: Any = None
    raw_output: str | None = None
    parse_error: str | None = None
    error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # Strict numbers: an integer or a float (read as float), never a boolean or a numeric string.
    cost_usd: StrictFloat | None = Field(default=None, ge=0)
    latency_s: StrictFloat | None = Field(default=None, ge=0)


def submission_json_schema() -> dict:
    """JSON Schema (2020-12) for one line of a submission: the header or an item line."""
    schema = TypeAdapter(SubmissionHeader | SubmissionLine).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "medbench submission line"
    schema["description"] = (
        f"A medbench submission (schema_version {SCHEMA_VERSION}) is JSON Lines: the first line is "
        "a SubmissionHeader, each further line a SubmissionLine for one item (each item_id at most once). "
        "prediction: sql - SQL string or null (abstain); icd - ranked list of ICD-10-CM code strings; "
        "conversation - the conversation object, or null on failure."
    )
    return schema


_ADAPTERS: dict[Any, TypeAdapter] = {}  # built once per prediction type: the validator runs per line


def _family(task: str, family: Any = None) -> Any:
    if family is not None:
        return family
    from medbench.tasks import FAMILIES

    return FAMILIES.get(task) if task in FAMILIES else None


def prediction_error(task: str, prediction: Any, family: Any = None) -> str | None:
    """Why `prediction` is not a valid prediction for `task` (its family's `prediction_type`);
    None when it is, or the task is unknown."""
    family = _family(task, family)
    if family is None or not hasattr(family, "prediction_type"):
        return None
    typ = family.prediction_type
    try:
        adapter = _ADAPTERS.get(typ)
    except TypeError:  # an unhashable type expression: no cache
        adapter = None
    if adapter is None:
        adapter = TypeAdapter(typ)
        try:
            _ADAPTERS[typ] = adapter
        except TypeError:
            pass
    try:
        adapter.validate_python(prediction, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        return f"prediction: {first['msg']}"
    return None


def prediction_over_limit(task: str, prediction: Any, family: Any = None) -> str | None:
    """Why a (well-typed) prediction exceeds its family's limits (docs/METRICS.md, "Limits"), or
    None. A prediction over a cap is not a rejected file: the item is scored as invalid (like a
    missing prediction) with the reason as its error, so one hostile line costs the scorer no
    more than one ordinary line."""
    family = _family(task, family)
    if family is None or prediction is None or not hasattr(family, "prediction_over_limit"):
        return None
    return family.prediction_over_limit(prediction)


def __getattr__(name: str):  # the old per-task tables, now asked of the registry
    if name in ("PREDICTION_TYPES", "PREDICTION_LIMITS"):
        from medbench.tasks import families

        part = "prediction_type" if name == "PREDICTION_TYPES" else "prediction_limits"
        return {f.name: getattr(f, part) for f in families()}
    raise AttributeError(name)
