"""The results store: `<leaderboard>/results/<result_id>.json`, the leaderboard's only input.

This module is the result file's one owner: `Result` (pydantic) is the format, with a
`format_version` field; `result_text` is the one writer (validates through the model, then
canonical JSON: byte-identical for the same submission and release) and `read_result` /
`load_result` the one reader (older formats are migrated on read, inspect_ai's `log/_log.py`
pattern; a newer format is refused in one line). Every record is checked against the base
`ResultRecord` fields and, when written, against its family's `record_model`, so a hand-edited,
truncated or malformed file is reported by name (and item) rather than rendered wrongly.

Format history (`MIGRATIONS` turns version n into n + 1):
- 1: the version field was `result_format: 1`.
- 2: `format_version: 2` replaces `result_format`; nothing else changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from medbench.errors import UserError

RESULTS_DIR = "results"
#: the result file format this medbench writes (and the newest it reads)
RESULT_FORMAT = 2
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")

#: a JSON number as stored (int stays int, float stays float: the written bytes never change), or null
Num = StrictInt | StrictFloat | None
Count = Annotated[StrictInt, Field(ge=0)]
Interval = Annotated[list[StrictInt | StrictFloat], Field(min_length=2, max_length=2)] | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Benchmark(_Open):
    name: StrictStr
    sha256: StrictStr


class Headline(_Strict):
    name: StrictStr
    value: Num
    ci_low: Num
    ci_high: Num
    higher_is_better: StrictBool


class Usage(_Strict):
    prompt_tokens: StrictInt | None = None
    completion_tokens: StrictInt | None = None
    cost_usd: Num = None
    latency_s_mean: Num = None


class Bootstrap(_Open):
    resamples: StrictInt
    seed: StrictInt
    level: StrictInt | StrictFloat
    unit: StrictStr
    clusters: Count | None = Field(None, description="patients (clusters) resampled")


class Excluded(_Strict):
    """Items of the source left out of the release (SQL's `result_extras`)."""

    n_excluded: Count
    reason: StrictStr
    by_reason: dict[str, Count] | None = None
    official_denominator: dict[str, Num] | None = None


class ResultRecord(_Open):
    """What every per-item record holds (the family's own fields are its `record_model`'s;
    `input`, `gold`, `prediction`, `error`, `missing`, `over_limit` are the scorer's)."""

    item_id: StrictStr
    subject_id: StrictInt | StrictStr | None
    correct: StrictBool | None
    score: Num
    category: StrictStr | None


class Result(_Strict):
    """One scored submission: metrics, 95% patient-clustered bootstrap intervals, per-item
    records. The leaderboard is rendered only from these files."""

    model_config = ConfigDict(extra="forbid", title="medbench result")

    format_version: Literal[2] = RESULT_FORMAT
    result_id: Annotated[StrictStr, Field(pattern=_ID.pattern)]
    header: dict[str, Any]
    task: StrictStr
    split: StrictStr
    model: StrictStr
    created: StrictStr | None = None
    benchmark: Benchmark
    metrics: dict[str, Num]
    headline: Headline
    intervals: dict[str, Interval]
    n_items: Count
    n_missing: Count
    complete: StrictBool
    usage: Usage
    bootstrap: Bootstrap
    submission_sha256: StrictStr
    scorer_version: StrictStr
    judge: dict[str, Any] | None = None
    source_licence: Literal["synthetic", "odbl", "credentialed"] | None = None
    release_counts: dict[str, Any] | None = None
    n_errored: Count | None = None
    leading_error: StrictStr | None = None
    counts: dict[str, Count] | None = Field(
        None, description="family counters, e.g. SQL items stopped by a resource limit")
    excluded: Excluded | None = None
    records: list[ResultRecord]

    def to_dict(self) -> dict:
        """The result as stored: exactly the fields that were read or set (a dump of what was
        validated is the same JSON, so writing it back changes no byte)."""
        return self.model_dump(exclude_unset=True)


def _v1_to_v2(data: dict) -> dict:
    out = {k: v for k, v in data.items() if k != "result_format"}
    out["format_version"] = 2
    return out


#: version n -> the function that turns a version-n result into version n + 1
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def _version(data: dict) -> Any:
    if "format_version" in data:
        return data["format_version"]
    return data.get("result_format")  # format 1 named its version field so


def migrate(data: dict, where: str = "result") -> dict:
    """A result dict of any known format, as the current format (older ones migrated step by
    step); a newer or unknown format is one UserError."""
    version = _version(data)
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(f"{where}: not a medbench result: no format_version")
    if version > RESULT_FORMAT:
        raise UserError(f"{where}: result format {version} is newer than this medbench reads "
                        f"(up to {RESULT_FORMAT}): upgrade medbench")
    if version < 1:
        raise UserError(f"{where}: not a medbench result: unknown format_version {version}")
    while version < RESULT_FORMAT:
        data = MIGRATIONS[version](data)
        version += 1
    return data


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = "/".join(str(p) for p in err["loc"]) or "(top level)"
    return f"{where}: {err['msg'][:160]}"


def parse_result(data: Any, where: str = "result") -> Result:
    """`data` (a result dict of any known format) migrated and validated as a `Result`."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: not a medbench result: not a JSON object")
    data = migrate(data, where)
    try:
        return Result.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{where}: not a medbench result: {_first_error(e)}") from None


def check_records(result: Result | dict, where: str | None = None) -> None:
    """Validate each record against its family's `record_model` (families without one: only the
    base `ResultRecord` fields); a broken record is one UserError naming the item."""
    from medbench.tasks import get_family

    task = result.task if isinstance(result, Result) else result["task"]
    records = result.records if isinstance(result, Result) else result["records"]
    model = getattr(get_family(task), "record_model", None)
    if model is None:
        return
    rid = result.result_id if isinstance(result, Result) else result.get("result_id")
    for rec in records:
        raw = rec.model_dump(exclude_unset=True) if isinstance(rec, BaseModel) else rec
        try:
            model.model_validate(raw)
        except ValidationError as e:
            raise UserError(f"{where or f'result {rid}'}: item {raw.get('item_id')!r}: "
                            f"{task} record {_first_error(e)}") from None


def result_text(result: dict | Result) -> str:
    """The one writer's bytes: `result` validated through `Result` (and its family's record
    model), then canonical JSON. Deterministic: the same result gives the same bytes."""
    from medbench.io import _normalise, canonical_json

    if isinstance(result, Result):
        model = result
    else:
        # validate the JSON form (floats normalised, numpy scalars and tuples gone: io.canonical_json's
        # own first step), so what is checked is what is written
        model = parse_result(_normalise(result), f"result {result.get('result_id')!r}")
    check_records(model)
    return canonical_json(model.to_dict(), indent=2) + "\n"


def write_result(leaderboard: str | Path, result: dict | Result) -> Path:
    """Write `result` into `<leaderboard>/results/` (a plain write: publishing swaps the whole
    folder in atomically)."""
    text = result_text(result)
    rid = result.result_id if isinstance(result, Result) else result["result_id"]
    path = result_path(leaderboard, rid)
    path.unlink(missing_ok=True)  # may be a hard link to the live site's file: never write through it
    path.write_bytes(text.encode("utf-8"))
    return path


def result_json_schema() -> dict:
    """The result file's JSON Schema, generated from `Result` (`medbench schema result`)."""
    return Result.model_json_schema()


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


def read_result(path: str | Path) -> Result:
    """A stored result file read through `Result` (older formats migrated on read)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: unreadable result ({' '.join(str(e).split())[:120]})") from None
    result = parse_result(data, str(path))
    if path.stem != result.result_id:
        raise UserError(f"{path}: file name does not match its result_id {result.result_id!r}")
    return result


def load_result(path: str | Path) -> dict:
    """`read_result(path)` as the plain dict the leaderboard renders from (current format)."""
    return read_result(path).to_dict()


def load_results(leaderboard: str | Path) -> list[dict]:
    """Every stored result, sorted by result_id (the render order is decided later)."""
    rdir = Path(leaderboard) / RESULTS_DIR
    if not rdir.is_dir():
        return []
    return [load_result(p) for p in sorted(rdir.glob("*.json"))]
