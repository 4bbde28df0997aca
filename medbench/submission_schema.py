"""The submission file format: the single source of truth for its pydantic models and JSON Schema.

A submission is JSON Lines: line 1 is a `SubmissionHeader`, every further line a
`SubmissionLine` (one per item, each item at most once). The runner writes it, the scorer's
validator reads it, and `medbench schema submission` prints `submission_json_schema()`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, TypeAdapter, ValidationError

SCHEMA_VERSION = 1

#: What a prediction may be per task; `None` always means abstain (sql) or no usable output.
PREDICTION_TYPES: dict[str, Any] = {
    "sql": str | None,
    "icd": list[str] | None,
    "conversation": dict[str, Any] | None,
}


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


_ADAPTERS: dict[str, TypeAdapter] = {}  # built once per task: the validator runs per line


def prediction_error(task: str, prediction: Any) -> str | None:
    """Why `prediction` is not a valid prediction for `task` (None when it is, or task unknown)."""
    typ = PREDICTION_TYPES.get(task)
    if typ is None:
        return None
    adapter = _ADAPTERS.get(task)
    if adapter is None:
        adapter = _ADAPTERS[task] = TypeAdapter(typ)
    try:
        adapter.validate_python(prediction, strict=True)
    except ValidationError as e:
        first = e.errors()[0]
        return f"prediction: {first['msg']}"
    return None


#: Per-family caps on one prediction (docs/METRICS.md, "Limits"). A prediction over a cap is not a
#: rejected file: the item is scored as invalid (like a missing prediction) with the reason as its
#: error, so one hostile line costs the scorer no more than one ordinary line.
#: ICD: MIMIC-IV records at most 39 diagnosis codes per admission (`seq_num` ≤ 39, hosp and the
#: demo alike); a ranked list of more than 50 is not a coding answer but a spray, and on small
#: splits Edin's macro F1 rewards a constant spray (each listed gold code gets F1 = 2s/(n+s)).
PREDICTION_LIMITS: dict[str, dict[str, int]] = {
    "sql": {"chars": 20_000},
    "icd": {"codes": 50, "code_chars": 32},
    "conversation": {"turns": 500, "chars": 200_000},
}


def prediction_over_limit(task: str, prediction: Any) -> str | None:
    """Why a (well-typed) prediction exceeds its family's limits, or None."""
    lim = PREDICTION_LIMITS.get(task)
    if lim is None or prediction is None:
        return None
    if task == "sql" and isinstance(prediction, str) and len(prediction) > lim["chars"]:
        return f"prediction over limit: SQL of {len(prediction):,} characters (limit {lim['chars']:,})"
    if task == "icd" and isinstance(prediction, list):
        if len(prediction) > lim["codes"]:
            return f"prediction over limit: {len(prediction):,} codes (limit {lim['codes']})"
        longest = max((len(c) for c in prediction if isinstance(c, str)), default=0)
        if longest > lim["code_chars"]:
            return f"prediction over limit: a code of {longest:,} characters (limit {lim['code_chars']})"
    if task == "conversation" and isinstance(prediction, dict):
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
