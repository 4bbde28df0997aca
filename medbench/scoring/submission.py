"""Submission validation: every problem, with its line number, before anything is scored.

A submission is JSONL: a header line, then one line per item (docs/ARCHITECTURE.md). The file is
untrusted: it is read in bounded chunks (no line over MAX_LINE_BYTES is ever held whole), decoded
strictly as UTF-8, parsed without NaN/Infinity, and checked against the release it names by
manifest sha256. Validation never raises on file content; it collects `Problem`s, and
`SubmissionInvalid` (a UserError) carries them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench.errors import UserError
from medbench.io import sha256_file

MAX_LINE_BYTES = 1 << 20  # 1 MiB per line
MAX_FILE_BYTES = 200 << 20  # 200 MiB per file
MAX_DEPTH = 64  # deeper JSON would overflow the recursion of later serialisation and rendering
MAX_LISTED = 20  # problems shown in a report before "and N more"
# A benchmark name becomes a path under benchmarks/: keep it to one plain path component.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")



@dataclass(frozen=True)
class Problem:
    line: int | None  # 1-based; None for file-level problems (size, missing file)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message

    def to_json(self) -> dict:
        return {"line": self.line, "message": self.message}


class SubmissionInvalid(UserError):
    """A submission with problems. The message is one line: a count and the first problem."""

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path = str(path)
        self.problems = list(problems)
        n = len(self.problems)
        noun = "problem" if n == 1 else "problems"
        super().__init__(f"{Path(path).name}: {n} {noun}; {self.problems[0]}")

    def report(self, limit: int = MAX_LISTED) -> list[str]:
        """Up to `limit` problems as text, then 'and N more'."""
        lines = [str(p) for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"and {len(self.problems) - limit} more")
        return lines

    def to_json(self) -> dict:
        return {"valid": False, "path": self.path, "n_problems": len(self.problems),
                "problems": [p.to_json() for p in self.problems]}


@dataclass
class Submission:
    """A validated submission: its header, its lines by item id, and the release it names."""

    path: Path
    sha256: str
    header: dict
    lines: dict[str, dict]  # item_id -> the item line (prediction, usage, errors...)
    release: Any  # medbench.release.Release
    items: list[dict]  # the release's items for (task, split), sorted by item_id
    missing: list[str] = field(default_factory=list)  # item ids with no line
    #: item ids whose prediction exceeds its family's limits -> the reason (scored as invalid)
    over_limit: dict[str, str] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return self.header["task"]

    @property
    def split(self) -> str:
        return self.header["split"]

    @property
    def complete(self) -> bool:
        return not self.missing


# ---------------------------------------------------------------- prediction types per task

def prediction_problem(task: str, value: Any, family: Any = None) -> str | None:
    """Why `value` is not a valid prediction for `task`, or None. The type is the family's
    `prediction_type` (checked by `medbench.submission_schema`); a family may add its own check
    (`check_prediction(value) -> str | None`)."""
    from medbench.submission_schema import prediction_error

    why = prediction_error(task, value, family)
    check = getattr(family, "check_prediction", None)
    return why or (check(value) if check is not None else None)


def _pydantic_problems(exc: Any, line: int, prefix: str, limit: int = 5) -> list[Problem]:
    """pydantic ValidationError -> Problems ('header: benchmark.sha256: String should match...')."""
    out = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(line)"
        msg = " ".join(str(err.get("msg", "invalid")).split())[:160]
        out.append(Problem(line, f"{prefix}{loc}: {msg}"))
    return out


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(v), type(v).__name__)


def _short(v: Any, n: int = 60) -> str:
    """A value quoted for a one-line message, bounded and free of control characters."""
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=True, default=str)
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return repr(s[:n] + "…") if len(s) > n else repr(s)


# ---------------------------------------------------------------- reading lines safely

def _read_lines(path: Path, problems: list[Problem]):
    """Yield (line_no, text) for each non-blank line; oversize or non-UTF-8 lines become problems."""
    with open(path, "rb") as f:
        line_no = 0
        while True:
            chunk = f.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            line_no += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                problems.append(Problem(line_no, f"line is longer than {MAX_LINE_BYTES:,} bytes"))
                while chunk and not chunk.endswith(b"\n"):  # skip the rest without holding it
                    chunk = f.readline(MAX_LINE_BYTES + 1)
                continue
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as e:
                problems.append(Problem(line_no, f"not valid UTF-8 (byte {e.start + 1} of the line)"))
                continue
            if line_no == 1 and text.startswith("\ufeff"):
                text = text[1:]  # tolerate a UTF-8 byte-order mark
            if text.strip():
                yield line_no, text


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _shape_problem(obj: Any) -> str | None:
    """Nesting deeper than MAX_DEPTH, or a lone surrogate (a '\\ud800' escape) that no UTF-8 file
    or page could hold."""
    stack = [(obj, 1)]
    while stack:  # iterative: a recursive walk would itself be the overflow we guard against
        v, d = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return "string with an unpaired surrogate escape (not representable in UTF-8)"
        elif isinstance(v, (dict, list)):
            if d > MAX_DEPTH:
                return f"JSON nested deeper than {MAX_DEPTH} levels"
            if isinstance(v, dict):
                stack.extend((k, d + 1) for k in v)
                stack.extend((c, d + 1) for c in v.values())
            else:
                stack.extend((c, d + 1) for c in v)
    return None


def _parse_json(text: str) -> tuple[Any, str | None]:
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
        why = _shape_problem(obj)
        return (None, why) if why else (obj, None)
    except json.JSONDecodeError as e:
        return None, f"not valid JSON ({e.msg} at column {e.colno})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as e:  # NaN/Infinity, or an integer too long to convert
        return None, f"not valid JSON ({' '.join(str(e).split())[:80]})"


# ---------------------------------------------------------------- header and item checks

def _check_header(obj: Any, line: int, problems: list[Problem]) -> dict | None:
    from pydantic import ValidationError

    from medbench.submission_schema import SubmissionHeader

    if not isinstance(obj, dict):
        problems.append(Problem(line, f"the header must be a JSON object, not {_type_name(obj)}"))
        return None
    if obj.get("type") != "header":
        problems.append(Problem(line, 'the first line must be the header ({"type": "header", ...})'))
        return None
    n = len(problems)
    try:
        SubmissionHeader.model_validate(obj)
    except ValidationError as e:
        problems.extend(_pydantic_problems(e, line, "header: "))
    # pydantic's Literal[1] would accept true
    if type(obj.get("schema_version")) is not int and not any("schema_version" in p.message
                                                              for p in problems[n:]):
        problems.append(Problem(line, "header: schema_version must be the integer 1"))
    name = (obj.get("benchmark") or {}).get("name") if isinstance(obj.get("benchmark"), dict) else None
    if isinstance(name, str) and not _SAFE_NAME.match(name):
        problems.append(Problem(line, f"header: benchmark.name {_short(name)} is not a release name "
                                      "(letters, digits, '.', '_', '-')"))
    if isinstance(obj.get("model"), str) and len(obj["model"]) > 300:
        problems.append(Problem(line, "header: model must be at most 300 characters"))
    return obj if len(problems) == n else None


def _check_item_line(obj: Any, line: int, task: str | None, family: Any,
                     problems: list[Problem]) -> str | None:
    """Check one item line's shape; returns its item_id when it has a usable one."""
    from pydantic import ValidationError

    from medbench.submission_schema import SubmissionLine

    if not isinstance(obj, dict):
        problems.append(Problem(line, f"an item line must be a JSON object, not {_type_name(obj)}"))
        return None
    if obj.get("type") == "header":
        problems.append(Problem(line, "a second header line"))
        return None
    try:
        SubmissionLine.model_validate(obj)
    except ValidationError as e:
        problems.extend(_pydantic_problems(e, line, ""))
    if task is not None:
        why = prediction_problem(task, obj.get("prediction"), family)
        if why:
            problems.append(Problem(line, f"{why} (got {_type_name(obj.get('prediction'))})"))
    item_id = obj.get("item_id")
    return item_id if isinstance(item_id, str) and item_id else None


def _resolve_release(header: dict, benchmark_dir: str | Path | None, problems: list[Problem]):
    from medbench.release import open_release

    name = header["benchmark"]["name"]
    path = Path(benchmark_dir) if benchmark_dir is not None else Path("benchmarks") / name
    try:
        release = open_release(path)
    except UserError as e:
        hint = "" if benchmark_dir is not None else " (pass --benchmark DIR)"
        problems.append(Problem(1, f"benchmark {name!r}: {e}{hint}"))
        return None
    if release.sha256 != header["benchmark"]["sha256"]:
        problems.append(Problem(1, f"benchmark.sha256 {header['benchmark']['sha256'][:12]}… does not match "
                                   f"the release at {path} ({release.sha256[:12]}…): scored against "
                                   "a different release"))
        return None
    return release


def validate_submission(path: str | Path, benchmark_dir: str | Path | None = None) -> Submission:
    """Validate `path` completely; returns a `Submission` or raises `SubmissionInvalid`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"submission not found: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SubmissionInvalid(path, [Problem(None, f"file is {size:,} bytes; the limit is "
                                                     f"{MAX_FILE_BYTES:,}")])
    problems: list[Problem] = []
    header: dict | None = None
    release = family = None
    items_by_id: dict[str, dict] = {}
    all_ids: dict[str, str] = {}  # item_id -> split, across the task's whole release
    lines: dict[str, dict] = {}
    first_line: dict[str, int] = {}
    seen_header_line = False
    type_task: str | None = None  # the header's task, kept for type checks even if unbound

    for line_no, text in _read_lines(path, problems):
        obj, err = _parse_json(text)
        if not seen_header_line:
            seen_header_line = True
            if err:
                problems.append(Problem(line_no, f"header: {err}"))
                continue
            header = _check_header(obj, line_no, problems)
            if header is not None:
                type_task = header["task"]
                header, release, family, items_by_id, all_ids = _bind_release(
                    header, benchmark_dir, problems)
            continue
        if err:
            problems.append(Problem(line_no, err))
            continue
        task = header["task"] if header is not None else type_task
        item_id = _check_item_line(obj, line_no, task, family, problems)
        if item_id is None:
            continue
        if item_id in first_line:
            problems.append(Problem(line_no, f"duplicate item_id {_short(item_id)} "
                                             f"(first on line {first_line[item_id]})"))
            continue
        first_line[item_id] = line_no
        if release is not None and item_id not in items_by_id:
            if item_id in all_ids:
                problems.append(Problem(line_no, f"item_id {_short(item_id)} is in split "
                                                 f"'{all_ids[item_id]}', not '{header['split']}'"))
            else:
                problems.append(Problem(line_no, f"item_id {_short(item_id)} is not in the release"))
            continue
        lines[item_id] = obj
    if not seen_header_line:
        problems.append(Problem(None, "empty submission: no header line"))
    if problems:
        raise SubmissionInvalid(path, problems)
    items = [items_by_id[k] for k in sorted(items_by_id)]
    missing = [k for k in sorted(items_by_id) if k not in lines]
    from medbench.submission_schema import prediction_over_limit

    over_limit = {k: why for k in sorted(lines)
                  if (why := prediction_over_limit(header["task"], lines[k].get("prediction"), family))}
    return Submission(path=path, sha256=sha256_file(path), header=header, lines=lines,
                      release=release, items=items, missing=missing, over_limit=over_limit)


def _bind_release(header: dict, benchmark_dir, problems: list[Problem]):
    """Resolve the header's release, task family and items; on any problem the header is unbound."""
    from medbench.splits import SPLITS
    from medbench.tasks import FAMILIES, get_family

    task, split = header["task"], header["split"]
    bad = False
    if task not in FAMILIES:
        problems.append(Problem(1, f"header: unknown task {_short(task)}; available: {', '.join(FAMILIES.names())}"))
        bad = True
    if split not in SPLITS:
        problems.append(Problem(1, f"header: split {_short(split)} is not one of {', '.join(SPLITS)}"))
        bad = True
    if bad:
        return None, None, None, {}, {}
    release = _resolve_release(header, benchmark_dir, problems)
    if release is None:
        return None, None, None, {}, {}
    if task not in release.manifest.get("tasks", {}):
        problems.append(Problem(1, f"header: task '{task}' is not in release {release.name!r} "
                                   f"(it has: {', '.join(release.tasks()) or 'none'})"))
        return None, None, None, {}, {}
    try:
        family = get_family(task)
    except ImportError as e:
        raise UserError(f"task family '{task}' is not available: {e}") from None
    try:
        all_items = release.items(task)
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"release {release.path}: cannot read {task}/items.jsonl: {e}") from None
    all_ids = {it["item_id"]: it["split"] for it in all_items}
    items_by_id = {it["item_id"]: it for it in all_items if it["split"] == split}
    if not items_by_id:
        problems.append(Problem(1, f"header: release {release.name!r} has no '{task}' items in split '{split}'"))
        return None, None, None, {}, {}
    return header, release, family, items_by_id, all_ids
