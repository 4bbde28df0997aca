"""Benchmark release layout: manifest, per-task public items / private gold, extra files.

    <release>/manifest.json
    <release>/<task>/items.jsonl     public: what a model sees
    <release>/<task>/gold.jsonl      private: what the scorer uses
    <release>/<task>/...             task files (e.g. sql/database.duckdb, sql/tables.json)

The manifest lists the sha256 of every other file, so a release is identified by the sha256 of
its manifest bytes; submissions name that hash. Writing is atomic (temp folder, then rename).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.io import atomic_dir, atomic_write_json, jsonl_lines, read_jsonl, sha256_bytes, sha256_file, tree_sha256
from medbench.splits import SPLITS, split_for_subject

MANIFEST = "manifest.json"
RELEASE_FORMAT = 1


class RecordSpool:
    """Records (items or gold) streamed to a scratch file as canonical JSON lines while a family
    builds, so a release's records never all sit in memory: only (item_id, offset, length, split)
    per record is kept, and `write_release` writes the lines in item_id order from the file.
    `add()` checks what `build._as_output` checks for lists (task, split of the subject)."""

    def __init__(self, path: str | Path, task: str | None = None):
        self.path, self.task = Path(path), task
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close()/lines())
        self._index: list[tuple[str, int, int]] = []
        self.counts = {s: 0 for s in SPLITS}

    def add(self, record: dict, raw: dict[str, str] | None = None) -> None:
        """Spool one record. `raw`: top-level fields given as their canonical JSON text already
        (a packet from the build's PacketSpool), spliced in verbatim instead of re-serialised:
        the same bytes as `canonical_json` of the record holding the parsed value, without
        walking it again (issue 12: that walk was most of the conversation family's time)."""
        from medbench.io import canonical_json
        sid = record.get("subject_id")
        if self.task is not None and "split" in record and (
                record.get("task") != self.task
                or (record["split"] not in SPLITS if sid is None else record["split"] != split_for_subject(sid))):
            raise ValueError(f"task {self.task}: item {record.get('item_id')} has a wrong task or split")
        if raw:
            marks = {k: f"\x00medbench-raw|{k}\x00" for k in raw}
            text = canonical_json({**record, **marks})
            for k, mark in marks.items():
                quoted = json.dumps(mark)
                if text.count(quoted) != 1:
                    raise ValueError(f"record {record.get('item_id')}: cannot splice field {k!r}")
                text = text.replace(quoted, raw[k], 1)
        else:
            text = canonical_json(record)
        line = (text + "\n").encode("utf-8")
        self._index.append((record["item_id"], self._f.tell(), len(line)))
        self._f.write(line)
        if "split" in record:
            self.counts[record["split"]] = self.counts.get(record["split"], 0) + 1

    def __len__(self) -> int:
        return len(self._index)

    def item_ids(self) -> list[str]:
        return sorted(i for i, _, _ in self._index)

    def lines(self):
        """The records' lines (bytes) in item_id order."""
        self._f.flush()
        with open(self.path, "rb") as f:
            for _, off, n in sorted(self._index):
                f.seek(off)
                yield f.read(n)

    def __iter__(self):
        """The records as dicts, in the order they were added (reads the scratch file)."""
        self._f.flush()
        with open(self.path, "rb") as f:
            for _, off, n in self._index:
                f.seek(off)
                yield json.loads(f.read(n))

    def __getitem__(self, i):
        return list(self)[i]

    def close(self) -> None:
        self._f.close()


@dataclass
class TaskOutput:
    """What one task family contributes to a release (records as lists, or RecordSpools)."""

    items: list[dict] | RecordSpool
    gold: list[dict] | RecordSpool
    info: dict[str, Any] = field(default_factory=dict)  # task-specific manifest fields
    files: dict[str, Path | bytes] = field(default_factory=dict)  # relpath (in task dir) -> source


def _sorted_records(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["item_id"])


def split_counts(items: list[dict]) -> dict[str, int]:
    counts = {s: 0 for s in SPLITS}
    for it in items:
        counts[it["split"]] = counts.get(it["split"], 0) + 1
    return counts


def write_release(out_dir: str | Path, name: str, tasks: dict[str, TaskOutput], params: dict,
                  source_fingerprint: str | None, source_licence: str | None = None,
                  timings: Any = None) -> dict:
    """Write a complete release atomically; returns the manifest. `timings` (build.Timings)
    receives the "write" and "hash" stages."""
    import contextlib

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
                with open(tdir / fname, "wb") as f:
                    for line in lines:
                        f.write(line)
            if ids[0] != ids[1]:
                raise ValueError(f"task {task}: items and gold do not list the same item ids")
            for rel, src in sorted(out.files.items()):
                dest = tdir / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(src, bytes):
                    dest.write_bytes(src)
                else:
                    shutil.copyfile(src, dest)
            task_info[task] = {**out.info, "counts": counts, "items": len(ids[0])}
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

    def items(self, task: str, split: str | None = None) -> list[dict]:
        rows = read_jsonl(self.task_dir(task) / "items.jsonl")
        return [r for r in rows if split is None or r["split"] == split]

    def gold(self, task: str, split: str | None = None) -> dict[str, dict]:
        """item_id -> gold record. Callers that are models/baselines may only ask for 'train'."""
        rows = read_jsonl(self.task_dir(task) / "gold.jsonl")
        if split is not None:
            ids = {i["item_id"] for i in self.items(task, split)}
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
    return Release(path, _read_manifest(manifest, mpath), sha256_bytes(data))
