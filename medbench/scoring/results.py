"""The results store: `<leaderboard>/results/<result_id>.json`, the leaderboard's only input.

A result is written with canonical JSON (byte-identical for the same submission and release)
and validated against `RESULT_SCHEMA` when read back, so a hand-edited or truncated file is
reported by name rather than rendered wrongly.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema

from medbench.errors import UserError

RESULTS_DIR = "results"
RESULT_FORMAT = 1
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")

_NUM = {"type": ["number", "null"]}
_INTERVAL = {"anyOf": [{"type": "null"},
                       {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}]}

RESULT_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "medbench result",
    "description": "One scored submission: metrics, 95% patient-clustered bootstrap intervals, "
                   "per-item records. The leaderboard is rendered only from these files.",
    "type": "object",
    "required": ["result_format", "result_id", "header", "task", "split", "model", "benchmark",
                 "metrics", "headline", "intervals", "n_items", "n_missing", "complete", "usage",
                 "records", "scorer_version", "bootstrap", "submission_sha256"],
    "properties": {
        "result_format": {"const": RESULT_FORMAT},
        "result_id": {"type": "string", "pattern": _ID.pattern},
        "header": {"type": "object"},
        "task": {"type": "string"},
        "split": {"type": "string"},
        "model": {"type": "string"},
        "created": {"type": ["string", "null"]},
        "benchmark": {"type": "object", "required": ["name", "sha256"],
                      "properties": {"name": {"type": "string"}, "sha256": {"type": "string"}}},
        "metrics": {"type": "object", "additionalProperties": _NUM},
        "headline": {
            "type": "object",
            "required": ["name", "value", "ci_low", "ci_high", "higher_is_better"],
            "properties": {"name": {"type": "string"}, "value": _NUM, "ci_low": _NUM, "ci_high": _NUM,
                           "higher_is_better": {"type": "boolean"}},
        },
        "intervals": {"type": "object", "additionalProperties": _INTERVAL},
        "n_items": {"type": "integer", "minimum": 0},
        "n_missing": {"type": "integer", "minimum": 0},
        "complete": {"type": "boolean"},
        "usage": {"type": "object", "properties": {
            "prompt_tokens": {"type": ["integer", "null"]},
            "completion_tokens": {"type": ["integer", "null"]},
            "cost_usd": _NUM, "latency_s_mean": _NUM}},
        "bootstrap": {"type": "object", "required": ["resamples", "seed", "level", "unit"],
                      "properties": {"clusters": {"type": "integer", "minimum": 0,
                                                  "description": "patients (clusters) resampled"}}},
        "counts": {"type": "object", "description": "family counters, e.g. SQL items stopped by a "
                   "resource limit", "additionalProperties": {"type": "integer", "minimum": 0}},
        "excluded": {"type": "object", "description": "items of the source left out of the release",
                     "required": ["n_excluded", "reason"],
                     "properties": {"n_excluded": {"type": "integer", "minimum": 0},
                                    "reason": {"type": "string"}, "by_reason": {"type": "object"},
                                    "official_denominator": {"type": "object"}}},
        "submission_sha256": {"type": "string"},
        "scorer_version": {"type": "string"},
        "judge": {"type": ["object", "null"]},
        "source_licence": {"enum": ["synthetic", "odbl", "credentialed"]},
        "n_errored": {"type": "integer", "minimum": 0},
        "leading_error": {"type": ["string", "null"]},
        "records": {
            "type": "array",
            "items": {"type": "object", "required": ["item_id", "subject_id", "correct", "score",
                                                      "category"],
                      "properties": {"item_id": {"type": "string"},
                                     "correct": {"type": ["boolean", "null"]},
                                     "score": _NUM,
                                     "category": {"type": ["string", "null"]}}},
        },
    },
}


def result_json_schema() -> dict:
    return RESULT_SCHEMA


def result_identity(header: dict) -> str:
    """What makes two results the same entry: (model, release sha256, task, split, hash of the
    run params). Scoring a second submission of the same run replaces the first; the data-use
    decision and the start time are not part of it."""
    from medbench.io import canonical_json

    params = hashlib.sha256(canonical_json(header.get("params") or {}).encode()).hexdigest()
    bench = header.get("benchmark") or {}
    key = "|".join(str(x) for x in (header.get("model"), bench.get("sha256"), header.get("task"),
                                     header.get("split"), params))
    return hashlib.sha256(key.encode()).hexdigest()


def make_result_id(model: str, task: str, split: str, identity: str) -> str:
    """A filename-safe, stable id: a slug of the model (hostile names cannot escape the folder)
    plus a hash of `identity` (`result_identity(header)`), so re-scoring the same run replaces
    its own result."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")[:40].strip("-") or "model"
    digest = hashlib.sha256(f"{task}|{split}|{identity}".encode()).hexdigest()[:12]
    return f"{slug}-{task[:12]}-{digest}".lower()


def result_path(leaderboard: str | Path, result_id: str) -> Path:
    if not _ID.match(result_id):
        raise UserError(f"invalid result id {result_id!r}")
    return Path(leaderboard) / RESULTS_DIR / f"{result_id}.json"


_VALIDATOR: list = []


def _validate(data: object) -> None:
    """`jsonschema.validate` with the schema checked once per process, not once per result (the
    check cost more than validating a 200-record result)."""
    if not _VALIDATOR:
        cls = jsonschema.validators.validator_for(RESULT_SCHEMA)
        cls.check_schema(RESULT_SCHEMA)
        _VALIDATOR.append(cls(RESULT_SCHEMA))
    err = jsonschema.exceptions.best_match(_VALIDATOR[0].iter_errors(data))
    if err is not None:
        raise err


def load_result(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: unreadable result ({' '.join(str(e).split())[:120]})") from None
    try:
        _validate(data)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise UserError(f"{path}: not a medbench result: {where}: {e.message[:160]}") from None
    if path.stem != data["result_id"]:
        raise UserError(f"{path}: file name does not match its result_id {data['result_id']!r}")
    return data


def load_results(leaderboard: str | Path) -> list[dict]:
    """Every stored result, sorted by result_id (the render order is decided later)."""
    rdir = Path(leaderboard) / RESULTS_DIR
    if not rdir.is_dir():
        return []
    return [load_result(p) for p in sorted(rdir.glob("*.json"))]
