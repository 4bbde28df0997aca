"""Benchmark release layout: manifest, per-task public items / private gold, extra files.

    <release>/manifest.json
    <release>/<task>/items.jsonl     public: what a model sees
    <release>/<task>/gold.jsonl      private: what the scorer uses
    <release>/<task>/contexts.jsonl  public: large text shared by items, once per key (format 2)
    <release>/<task>/...             task files (e.g. sql/database.duckdb, sql/tables.json)

Any of the three .jsonl files larger than `config.compress_over_bytes()` (default 8 MiB) is
written as `<name>.jsonl.zst` instead (zstandard, fixed level: byte-identical rebuilds); readers
take either name.

Release format 2 (context references): a family whose items embed a large text (conversation:
the packet; qa: the rendered record) hands `write_release` that text once per key
(`TaskOutput.contexts`, key -> value) and items without the field; the manifest's
`tasks.<task>.context_ref` says how an item gets it back — `{"field", "key", "join", "end"}`: the
item's `key` field names one key (or a list of keys, whose values are joined by `join` and
followed by `end`) of `contexts.jsonl`, whose lines are `{"key": ..., "value": ...}` in key order.
`Release.items` is the one reader that resolves the reference, so everything downstream (runner,
prompts, scoring, exports, training) sees the same full item as a format-1 release with inline
text, which is still read as it is.

The manifest lists the sha256 of every other file, so a release is identified by the sha256 of
its manifest bytes; submissions name that hash. Writing is atomic (temp folder, then rename).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.io import (
    ZST,
    IntKeyTable,
    StrKeyLog,
    atomic_dir,
    atomic_write_json,
    canonical_json,
    jsonl_lines,
    read_jsonl,
    sha256_bytes,
    sha256_file,
    tree_sha256,
    zstd_compress_file,
)
from medbench.splits import SPLITS, split_for_subject

MANIFEST = "manifest.json"
#: 2: per-task `contexts.jsonl` referenced by items (`tasks.<task>.context_ref`), files over the
#: compression threshold as `.jsonl.zst`. Format 1 releases (inline text, plain files) still read.
RELEASE_FORMAT = 2
CONTEXTS = "contexts.jsonl"
RECORD_FILES = ("items.jsonl", "gold.jsonl", CONTEXTS)


class RecordSpool:
    """Records (items or gold) streamed to a scratch file as canonical JSON lines while a family
    builds, so a release's records never all sit in memory: only (item_id, offset, length, split)
    per record is kept, and `write_release` writes the lines in item_id order from the file.
    `add()` checks what `build._as_output` checks for lists (task, split of the subject)."""

    def __init__(self, path: str | Path, task: str | None = None):
        self.path, self.task = Path(path), task
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close()/lines())
        # (item_id, offset) per record, flat (io.StrKeyLog): a record's length is the next
        # record's offset minus its own (records are written one after another)
        self._index = StrKeyLog()
        self._end = 0  # bytes written so far: the next record's offset
        self.counts = {s: 0 for s in SPLITS}

    def add(self, record: dict) -> None:
        from medbench.io import canonical_json
        sid = record.get("subject_id")
        if self.task is not None and "split" in record and (
                record.get("task") != self.task
                or (record["split"] not in SPLITS if sid is None else record["split"] != split_for_subject(sid))):
            raise ValueError(f"task {self.task}: item {record.get('item_id')} has a wrong task or split")
        text = canonical_json(record)
        line = (text + "\n").encode("utf-8")
        self._index.append(record["item_id"], self._end)
        self._f.write(line)
        self._end += len(line)
        if "split" in record:
            self.counts[record["split"]] = self.counts.get(record["split"], 0) + 1

    def __len__(self) -> int:
        return len(self._index)

    def item_ids(self) -> list[str]:
        return sorted(self._index.key(i) for i in range(len(self._index)))

    def _spans(self, positions) -> Iterator[tuple[int, int]]:
        n = len(self._index)
        for i in positions:
            off = self._index.value(i)
            yield off, (self._index.value(i + 1) if i + 1 < n else self._end) - off

    def lines(self):
        """The records' lines (bytes) in item_id order."""
        self._f.flush()
        with open(self.path, "rb") as f:
            for off, n in self._spans(self._index.sorted_positions()):
                f.seek(off)
                yield f.read(n)

    def __iter__(self):
        """The records as dicts, in the order they were added (reads the scratch file)."""
        self._f.flush()
        with open(self.path, "rb") as f:
            for off, n in self._spans(range(len(self._index))):
                f.seek(off)
                yield json.loads(f.read(n))

    def __getitem__(self, i):
        return list(self)[i]

    def close(self) -> None:
        self._f.close()


class ContextSpool:
    """Large values shared by items (a packet, a rendered record), kept once per key (an int or
    a str) in a scratch file while a family builds; `write_release` writes them in key order as
    the task's contexts.jsonl. Adding a key twice keeps the first value (it must be the same)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        # int keys (hadm_ids): (offset, length) in flat arrays (io.IntKeyTable); str keys: a dict
        self._ints = IntKeyTable(2)
        self._strs: dict[str, tuple[int, int]] = {}

    def add(self, key: int | str, value: Any, raw: str | None = None) -> None:
        """`raw`: `value` given as its canonical JSON text already (a packet from the build's
        PacketSpool), spliced in verbatim: the same bytes without walking the value again (issue
        12: that walk was most of the conversation family's time)."""
        if key in self:
            return
        if raw is None:
            line = (canonical_json({"key": key, "value": value}) + "\n").encode("utf-8")
        else:
            head = canonical_json({"key": key, "value": None})
            assert head.endswith("null}")
            line = (head[: -len("null}")] + raw + "}\n").encode("utf-8")
        if isinstance(key, str):
            self._strs[key] = (self._f.tell(), len(line))
        else:
            self._ints.add(key, self._f.tell(), len(line))
        self._f.write(line)

    def __contains__(self, key) -> bool:
        return key in self._strs if isinstance(key, str) else key in self._ints

    def __len__(self) -> int:
        return len(self._ints) + len(self._strs)

    def lines(self):
        """The values' lines in key order (int and str keys together are not ordered: an error)."""
        if self._strs and len(self._ints):
            raise TypeError("ContextSpool: int and str keys cannot be sorted together")
        self._f.flush()
        spans = (row for _, row in sorted(self._strs.items())) if self._strs else \
            (row for _, row in self._ints.items())
        with open(self.path, "rb") as f:
            for off, n in spans:
                f.seek(off)
                yield f.read(n)

    def close(self) -> None:
        self._f.close()


@dataclass
class TaskOutput:
    """What one task family contributes to a release (records as lists, or RecordSpools).

    `contexts` (key -> value, or a ContextSpool) with `context` (the reference rule: "field",
    "key", optional "join" and "end"; module docstring) store a large item field once per key;
    the items then leave that field out."""

    items: list[dict] | RecordSpool
    gold: list[dict] | RecordSpool
    info: dict[str, Any] = field(default_factory=dict)  # task-specific manifest fields
    files: dict[str, Path | bytes] = field(default_factory=dict)  # relpath (in task dir) -> source
    contexts: dict | ContextSpool | None = None
    context: dict | None = None
    #: what another family of the same build may reuse and the release does not hold (e.g. the
    #: sql family's raw gold rows for qa, `ctx.output_of`); never written
    internal: dict[str, Any] = field(default_factory=dict)


def _write_lines(tdir: Path, fname: str, lines, compress_over: int) -> str:
    """Write `lines` (bytes) to tdir/fname; over `compress_over` bytes the file becomes
    fname + '.zst' (the plain one removed). Returns the name written."""
    path = tdir / fname
    with open(path, "wb") as f:
        f.writelines(lines)
    if path.stat().st_size <= compress_over:
        return fname
    zstd_compress_file(path, tdir / (fname + ZST))
    path.unlink()
    return fname + ZST


def _check_context_rule(task: str, rule: Any) -> dict:
    ok = (isinstance(rule, dict) and isinstance(rule.get("field"), str) and isinstance(rule.get("key"), str)
          and set(rule) <= {"field", "key", "join", "end", "file"}
          and all(isinstance(rule.get(k, ""), str) for k in ("join", "end", "file")))
    if not ok:
        raise UserError(f"task {task}: invalid context reference rule in the manifest: {rule!r}")
    return rule


def _sorted_records(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["item_id"])


def split_counts(items: list[dict]) -> dict[str, int]:
    counts = {s: 0 for s in SPLITS}
    for it in items:
        counts[it["split"]] = counts.get(it["split"], 0) + 1
    return counts


def write_release(out_dir: str | Path, name: str, tasks: dict[str, TaskOutput], params: dict,
                  source_fingerprint: str | None, source_licence: str | None = None,
                  timings: Any = None, compress_over: int | None = None) -> dict:
    """Write a complete release atomically; returns the manifest. `timings` (build.Timings)
    receives the "write" and "hash" stages. Record files over `compress_over` bytes (default
    `config.compress_over_bytes()`) are written zstandard-compressed."""
    import contextlib

    if compress_over is None:
        from medbench.config import compress_over_bytes

        compress_over = compress_over_bytes()

    def stage(n: str):
        return timings.stage(n) if timings is not None else contextlib.nullcontext()

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp, stage("write"):
        task_info: dict[str, dict] = {}
        for task, out in sorted(tasks.items()):
            tdir = tmp / task
            tdir.mkdir(parents=True)
            ids, counts = [], {}
            for fname, records in (("items.jsonl", out.items), ("gold.jsonl", out.gold)):
                if isinstance(records, RecordSpool):
                    ids.append(records.item_ids())
                    lines = records.lines()
                    if fname == "items.jsonl":
                        counts = dict(records.counts)
                else:
                    records = _sorted_records(records)
                    ids.append([r["item_id"] for r in records])
                    lines = (line.encode("utf-8") for line in jsonl_lines(records))
                    if fname == "items.jsonl":
                        counts = split_counts(records)
                _write_lines(tdir, fname, lines, compress_over)
            if ids[0] != ids[1]:
                raise ValueError(f"task {task}: items and gold do not list the same item ids")
            context_rule = None
            if out.contexts is not None:
                if out.context is None:
                    raise ValueError(f"task {task}: contexts given without a reference rule")
                rule = _check_context_rule(task, {k: v for k, v in out.context.items() if k != "file"})
                if isinstance(out.contexts, ContextSpool):
                    clines = out.contexts.lines()
                else:
                    clines = ((canonical_json({"key": k, "value": v}) + "\n").encode("utf-8")
                              for k, v in sorted(out.contexts.items()))
                context_rule = {**rule, "file": _write_lines(tdir, CONTEXTS, clines, compress_over)}
            for rel, src in sorted(out.files.items()):
                dest = tdir / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                else:
                    shutil.copyfile(src, dest)
            task_info[task] = {**out.info, "counts": counts, "items": len(ids[0]),
                               **({"context_ref": context_rule} if context_rule else {})}
        with stage("hash"):
            files = tree_sha256(tmp)
        manifest = {
            "name": name,
            "release_format": RELEASE_FORMAT,
            "medbench_version": __version__,
            "source_fingerprint": source_fingerprint,
            "params": params,
            **({"source": {"licence": source_licence}} if source_licence else {}),
            "tasks": task_info,
            "files": files,
        }
        atomic_write_json(tmp / MANIFEST, manifest)
    return manifest


@dataclass
class Release:
    """A release on disk, opened for reading (run, score, train)."""

    path: Path
    manifest: dict
    sha256: str

    @property
    def name(self) -> str:
        return self.manifest["name"]

    def tasks(self) -> list[str]:
        return sorted(self.manifest["tasks"])

    def task_dir(self, task: str) -> Path:
        if task not in self.manifest["tasks"]:
            raise UserError(f"release {self.path} has no task '{task}' (it has: {', '.join(self.tasks())})")
        return self.path / task

    def record_file(self, task: str, fname: str) -> Path | None:
        """The file of `task`'s items.jsonl / gold.jsonl / contexts.jsonl as written: plain or
        `.zst` (None when neither is there)."""
        tdir = self.task_dir(task)
        found = [p for p in (tdir / fname, tdir / (fname + ZST)) if p.is_file()]
        if len(found) > 1:
            raise UserError(f"release {self.path}: {task}/ holds both {fname} and {fname}{ZST}")
        return found[0] if found else None

    def records(self, task: str, kind: str) -> list[dict]:
        """The lines of `task`'s items or gold file as stored (items not resolved)."""
        path = self.record_file(task, f"{kind}.jsonl")
        if path is None:
            raise UserError(f"release {self.path}: {task}/{kind}.jsonl is missing")
        try:
            return read_jsonl(path)
        except (OSError, ValueError) as e:
            raise UserError(f"release {self.path}: cannot read {path.relative_to(self.path)}: {e}") from None

    def context_rule(self, task: str) -> dict | None:
        if self.manifest.get("release_format", 1) < 2:  # format 1: text inline, no references
            return None
        rule = self.manifest["tasks"][task].get("context_ref")
        return None if rule is None else _check_context_rule(task, rule)

    def contexts(self, task: str) -> dict:
        """key -> value of `task`'s contexts file ({} when the task has none)."""
        if self.context_rule(task) is None:
            return {}
        path = self.record_file(task, CONTEXTS)
        if path is None:
            raise UserError(f"release {self.path}: {task}/{CONTEXTS} is missing")
        try:
            return {r["key"]: r["value"] for r in read_jsonl(path)}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"release {self.path}: cannot read {path.relative_to(self.path)}: {e}") from None

    def items(self, task: str, split: str | None = None) -> list[dict]:
        """The task's items (of `split`), references resolved: each item whole, as a model sees it."""
        rows = [r for r in self.records(task, "items") if split is None or r["split"] == split]
        rule = self.context_rule(task)
        if rule is None:
            return rows
        ctx, fld, key = self.contexts(task), rule["field"], rule["key"]
        join, end = rule.get("join", ""), rule.get("end", "")
        for r in rows:
            ref = r.get(key)
            try:
                if isinstance(ref, list):
                    r[fld] = join.join(ctx[k] for k in ref) + end
                else:
                    r[fld] = ctx[ref]
            except (KeyError, TypeError):
                raise UserError(f"release {self.path}: {task} item {r.get('item_id')}: {key} {ref!r} "
                                f"names no entry of {task}/{CONTEXTS}") from None
        return rows

    def gold(self, task: str, split: str | None = None) -> dict[str, dict]:
        """item_id -> gold record. Callers that are models/baselines may only ask for 'train'."""
        rows = self.records(task, "gold")
        if split is not None:
            ids = {i["item_id"] for i in self.records(task, "items") if i["split"] == split}
            rows = [r for r in rows if r["item_id"] in ids]
        return {r["item_id"]: r for r in rows}

    def verify(self) -> None:
        """Check every file against the manifest's sha256 (tampered or partial copies)."""
        for rel, digest in self.manifest["files"].items():
            p = self.path / rel
            if not p.is_file():
                raise UserError(f"release {self.path}: file {rel} listed in the manifest is missing")
            if sha256_file(p) != digest:
                raise UserError(f"release {self.path}: file {rel} does not match its manifest sha256")



#: the SQL scoring rules a release declares in `tasks.sql.profile` (medbench.tasks.sql.engines):
#: "ehrsql-2024" (the EHRSQL 2024 shared task's normalisation, "now" and empty-query rule) or
#: "medbench" (queries run as written)
SQL_PROFILES = ("ehrsql-2024", "medbench")


def infer_sql_profile(engine: str | None) -> str:
    """The profile of a manifest written before `profile` existed: its SQLite releases were all
    EHRSQL 2024 imports, its DuckDB releases medbench's own builds. The one place the engine
    name stands for the profile."""
    return "ehrsql-2024" if engine == "sqlite" else "medbench"


def _read_manifest(manifest: Any, where: Path) -> dict:
    """The manifest as read: an old one's sql task gets its inferred `profile` (once, here)."""
    tasks = manifest.get("tasks") if isinstance(manifest, dict) else None
    sql = tasks.get("sql") if isinstance(tasks, dict) else None
    if isinstance(sql, dict):
        if "profile" not in sql:
            sql["profile"] = infer_sql_profile(sql.get("engine", "duckdb"))
        elif sql["profile"] not in SQL_PROFILES:
            raise UserError(f"{where}: unknown sql profile {sql['profile']!r} (expected one of "
                            f"{', '.join(SQL_PROFILES)})")
    return manifest


def open_release(path: str | Path) -> Release:
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise UserError(f"not a medbench release (no {MANIFEST}): {path}")
    data = mpath.read_bytes()
    try:
        manifest = json.loads(data)
    except json.JSONDecodeError as e:
        raise UserError(f"{mpath}: invalid JSON at line {e.lineno}") from None
    fmt = manifest.get("release_format", 1) if isinstance(manifest, dict) else 1
    if not isinstance(fmt, int) or fmt > RELEASE_FORMAT:
        raise UserError(f"{mpath}: release format {fmt!r} is newer than this medbench reads "
                        f"(up to {RELEASE_FORMAT}); upgrade medbench")
    return Release(path, _read_manifest(manifest, mpath), sha256_bytes(data))
