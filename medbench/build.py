"""`medbench build` and `medbench merge-shards`: turn a store into a versioned release.

Orchestration only: resolve the store and the patient set (all patients, or a cohort CSV), keep
the patients of one shard when asked, run each task family's `build(ctx)` with a progress bar,
and write the release atomically through `medbench.release.write_release`.

Shards: `--shard K/N` keeps the patients whose shard hash (sha256 of "medbench-shard|<id>", a
different key from the split hash so shards cut across splits) falls in bucket K. A shard's
manifest holds the full build's params plus `params.shard = {"k", "n"}`. `merge_shards` checks
that all N shards of one build are present and compatible, then:
- families with `shard_mergeable = True` (items depend on one patient only: icd, conversation)
  are merged by concatenating items/gold and summing numeric manifest counters;
- any other family (sql, whose release database and global balancing cannot be concatenated
  byte-identically) is rebuilt from the store for the merged patient set through the same code
  path as a full build — so merge then needs the store (same source fingerprint) and, for a
  cohort build, the same cohort CSV.
The merged release is byte-identical to a full build (its params drop `shard`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orjson import loads as _loads  # packet lines: ~2x json.loads, the same values (issue 12)

from medbench.errors import UserError
from medbench.io import ZST, check_out_dir, scratch_dir
from medbench.release import RECORD_FILES, ContextSpool, RecordSpool, TaskOutput, open_release, write_release
from medbench.splits import SPLITS, split_for_subject, stable_bucket
from medbench.tasks import FAMILIES, get_family

#: every family registered in medbench/tasks/__init__.py, in registration order
DEFAULT_TASKS = tuple(FAMILIES)


def peak_rss_mb() -> float:
    """The process's peak resident set so far (MiB: ru_maxrss / 1024); 0 where `resource` is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    import sys

    # ru_maxrss is in kB on Linux, in bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024**2 if sys.platform == "darwin" else 1024)


class Timings:
    """Per-stage wall and CPU seconds of one build (`medbench build --timings`). A stage may be
    entered several times (packets: each extraction pass); its times add up. `peak_rss` holds
    the process's peak RSS (MiB) when each stage last ended: the stage where it first reaches the
    final peak is the one that set it (a high-water mark, so no sampling thread is needed)."""

    def __init__(self):
        self.stages: dict[str, list[float]] = {}
        self.peak_rss: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str):
        import time

        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            t = self.stages.setdefault(name, [0.0, 0.0])
            t[0] += time.perf_counter() - w0
            t[1] += time.process_time() - c0
            self.peak_rss[name] = peak_rss_mb()

    def add(self, name: str, wall: float, cpu: float) -> None:
        t = self.stages.setdefault(name, [0.0, 0.0])
        t[0] += wall
        t[1] += cpu
        self.peak_rss[name] = peak_rss_mb()

    def rows(self) -> list[tuple[str, float, float]]:
        return [(k, w, c) for k, (w, c) in self.stages.items()]


class TaskProgress:
    """What a family sees of the progress bar: set the total once, then advance."""

    def __init__(self, progress=None, task_id=None):
        self._p, self._id = progress, task_id

    def start(self, total: int | None) -> None:
        if self._p is not None:
            self._p.update(self._id, total=total)

    def advance(self, n: int = 1) -> None:
        if self._p is not None:
            self._p.advance(self._id, n)


@dataclass
class BuildContext:
    """Everything a task family's `build(ctx)` may use."""

    store: Any  # medbench.store.Store
    subject_ids: list[int]  # sorted; the patients of this build (or shard)
    params: dict  # the release's generation params (seed, tasks, patient selection)
    workdir: Path  # scratch folder for task files (e.g. the SQL database); removed afterwards
    seed: int = 0
    progress: TaskProgress = field(default_factory=TaskProgress)
    packets: PacketSpool | None = None  # shared by every family of one build
    #: task -> TaskOutput of the families built so far in this build (shared by its contexts)
    built: dict = field(default_factory=dict)
    building: set = field(default_factory=set)  # tasks being built now (a cycle is refused)

    def output_of(self, task: str) -> TaskOutput:
        """Another family's output over this same build (same store, patients, params, seed),
        for a family that builds on it (qa asks the sql family's questions): the one this build
        already made, else that family is built now, once, into a scratch folder beside this
        workdir and kept for the rest of the build (a release holds it only when it was asked
        for). Its files stay readable until the build's scratch folder is removed."""
        if task in self.built:
            return self.built[task]
        if task in self.building:
            raise ValueError(f"task families depend on each other in a cycle through '{task}'")
        workdir = Path(self.workdir).parent / f"{Path(self.workdir).name}.needs-{task}"
        workdir.mkdir()
        ctx = BuildContext(store=self.store, subject_ids=self.subject_ids, params=self.params,
                           workdir=workdir, seed=self.seed, packets=self.packets, built=self.built,
                           building=self.building)
        self.building.add(task)
        try:
            out = _as_output(task, get_family(task).build(ctx))
        finally:
            self.building.discard(task)
        self.built[task] = out
        return out

    def admissions(self) -> list[tuple]:
        """(subject_id, hadm_id, admittime, dischtime) of the build's patients, in a stable order."""
        from medbench.extract.packet import admissions_of

        return admissions_of(self.store, self.subject_ids) if self.subject_ids else []

    def spool(self, kind: str, task: str | None = None) -> RecordSpool:
        """A RecordSpool in the workdir for this family's items ("items", with `task` checked)
        or gold ("gold"): records stream to disk instead of staying in memory."""
        return RecordSpool(self.workdir / f"{kind}.spool.jsonl", task if kind == "items" else None)

    def context_spool(self) -> ContextSpool:
        """A ContextSpool in the workdir: a large item field stored once per key (release.py)."""
        return ContextSpool(self.workdir / "contexts.spool.jsonl")

    def iter_packet_dicts(self, hadm_ids: Iterable[int], with_text: bool = False) -> Iterator:
        """Packets (plain JSON data) of these admissions in ascending hadm_id order; with
        `with_text`, (canonical JSON text, data) pairs (`ContextSpool.add(raw=...)` takes the text)."""
        spool = self.packets or PacketSpool(self.store, self.workdir / "packets.jsonl")
        return spool.iter_dicts(hadm_ids, with_text)


class PacketSpool:
    """Packets extracted once per build (bulk extractor) and shared by the families that need
    them (icd, conversation): JSON lines in the build's scratch folder, indexed by hadm_id, so
    memory stays bounded and no admission is extracted twice."""

    def __init__(self, store, path: Path, timings: Timings | None = None):
        from medbench.io import IntKeyTable

        self.store, self.path = store, Path(path)
        # hadm_id -> the packet's offset in the spool, or NO_PACKET for a requested id without
        # one; flat arrays (io.IntKeyTable), not a dict: ~16 bytes an admission at any scale
        self.offsets = IntKeyTable(1)
        self.timings = timings

    NO_PACKET = -1

    def iter_dicts(self, hadm_ids: Iterable[int], with_text: bool = False) -> Iterator:
        from medbench.extract.packet import iter_packets, packet_json

        ids = sorted({int(h) for h in hadm_ids})
        missing = [h for h in ids if h not in self.offsets]
        if missing:
            import time

            with open(self.path, "ab") as f:
                gen = iter_packets(self.store, missing)
                while True:
                    w0, c0 = time.perf_counter(), time.process_time()
                    packet = next(gen, None)
                    if packet is not None:
                        line = packet_json(packet)
                        # indexed as written: a loop stopped early leaves the rest to a later call
                        self.offsets.add(int(packet.hadm_id), f.tell())
                        f.write(line.encode("utf-8") + b"\n")
                    if self.timings is not None:  # extraction only, not the family's own work
                        self.timings.add("packets", time.perf_counter() - w0, time.process_time() - c0)
                    if packet is None:
                        break
                    if len(missing) == len(ids):  # nothing spooled before: stream as we go
                        yield (line, _loads(line)) if with_text else _loads(line)
            for h in missing:  # requested, but the store has no packet for it
                if h not in self.offsets:
                    self.offsets.add(h, self.NO_PACKET)
            if len(missing) == len(ids):
                return
        with open(self.path, "rb") as f:
            for h in ids:
                (off,) = self.offsets[h]
                if off != self.NO_PACKET:
                    f.seek(off)
                    line = f.readline().decode("utf-8").rstrip("\n")
                    yield (line, _loads(line)) if with_text else _loads(line)


# ---------------------------------------------------------------------------------- inputs


def parse_tasks(spec: str | Iterable[str] | None) -> list[str]:
    if spec is None:
        return list(DEFAULT_TASKS)
    names = [t.strip() for t in (spec.split(",") if isinstance(spec, str) else spec) if t.strip()]
    if not names:
        raise UserError("--tasks: no task named; available: " + ", ".join(FAMILIES.names()))
    unknown = [t for t in names if t not in FAMILIES]
    if unknown:
        raise UserError(f"--tasks: {FAMILIES.unknown(unknown[0])}")
    # Canonical order so `--tasks icd,sql` and `--tasks sql,icd` give the same release.
    return sorted(set(names))


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", spec)
    if not m:
        raise UserError(f"--shard: expected K/N such as 1/4, got {spec!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UserError(f"--shard: K must be between 1 and N (got {k}/{n})")
    return k, n


def shard_of(subject_id: int, n: int) -> int:
    """1-based shard of a patient among n (stable, independent of the train/dev/test split)."""
    return stable_bucket("medbench-shard", int(subject_id), n) + 1


def _ids_digest(ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in ids).encode()).hexdigest()


def resolve_patients(store, cohort: str | Path | None) -> tuple[list[int], dict]:
    """(sorted subject_ids, the params entry describing the selection)."""
    con = store.connect()
    try:
        known = [r[0] for r in con.execute(
            "SELECT DISTINCT subject_id FROM patients ORDER BY subject_id").fetchall()]
    finally:
        con.close()
    if cohort is None:
        ids, selection = known, "all"
    else:
        from medbench.extract.cohort import read_cohort

        wanted = sorted(set(read_cohort(cohort)))
        if not wanted:
            raise UserError(f"cohort {cohort}: no patients listed")
        missing = sorted(set(wanted) - set(known))
        if missing:
            raise UserError(f"cohort {cohort}: {len(missing)} subject_id(s) are not in the store "
                            f"(first: {missing[0]})")
        ids, selection = wanted, "cohort"
    return ids, {"selection": selection, "count": len(ids), "sha256": _ids_digest(ids)}


def default_name(fingerprint: str) -> str:
    return f"medbench-{fingerprint[:8]}"


# ---------------------------------------------------------------------------------- build


@dataclass
class BuildResult:
    out: Path
    manifest: dict

    def counts(self) -> dict[str, dict[str, int]]:
        return {t: info["counts"] for t, info in self.manifest["tasks"].items()}


def _as_output(task: str, result: Any) -> TaskOutput:
    if isinstance(result, TaskOutput):
        out = result
    else:  # the protocol also allows an iterable of (item, gold) pairs
        pairs = list(result)
        out = TaskOutput(items=[p[0] for p in pairs], gold=[p[1] for p in pairs])
    if isinstance(out.items, RecordSpool):  # checked record by record as it was spooled
        return out
    for it in out.items:
        # A family bug here would silently leak a patient into two splits: fail loudly.
        # (an item about no single patient, e.g. a population-level SQL question, has a null
        # subject_id and a split of its own)
        sid = it.get("subject_id")
        split_ok = it.get("split") in SPLITS if sid is None else it.get("split") == split_for_subject(sid)
        if it.get("task") != task or not split_ok:
            raise ValueError(f"task {task}: item {it.get('item_id')} has a wrong task or split")
    return out


def build_tasks(store, subject_ids: list[int], params: dict, tasks: list[str], seed: int,
                scratch: Path, show_progress: bool = True, timings: Timings | None = None
                ) -> dict[str, TaskOutput]:
    """Run each family's builder over `subject_ids`, one progress bar per task."""
    from medbench.progress import progress_bar

    outputs: dict[str, TaskOutput] = {}
    bar = progress_bar() if show_progress else contextlib.nullcontext()
    with bar as prog:
        tmp = Path(scratch)
        packets = PacketSpool(store, tmp / "packets.jsonl", timings)
        timings = timings if timings is not None else Timings()
        built: dict[str, TaskOutput] = {}  # what ctx.output_of hands a family that needs another
        building: set[str] = set()
        for task in tasks:
            if task in built:  # already built because an earlier family needed it
                outputs[task] = built[task]
                continue
            tid = prog.add_task(task, total=None) if show_progress else None
            workdir = Path(tmp) / task
            workdir.mkdir()
            ctx = BuildContext(store=store, subject_ids=subject_ids, params=params, workdir=workdir,
                               seed=seed, progress=TaskProgress(prog if show_progress else None, tid),
                               packets=packets, built=built, building=building)
            # Task files may live in workdir: the caller keeps `scratch` until the release is written.
            before = list(timings.stages.get("packets", [0.0, 0.0]))
            building.add(task)
            with timings.stage(task):
                outputs[task] = built[task] = _as_output(task, get_family(task).build(ctx))
            building.discard(task)
            # a family's time excludes the packet extraction it triggered (counted under packets)
            after = timings.stages.get("packets", [0.0, 0.0])
            timings.add(task, before[0] - after[0], before[1] - after[1])
            if show_progress:
                prog.update(tid, completed=prog.tasks[tid].total or 1, total=prog.tasks[tid].total or 1)
    return outputs


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UserError(f"--name: use letters, digits, '.', '_' or '-' (got {name!r})")


def build_release(mimic_dir: str | Path | None = None, db: str | Path | None = None,
                  out: str | Path | None = None, name: str | None = None,
                  tasks: str | Iterable[str] | None = None, cohort: str | Path | None = None,
                  shard: str | tuple[int, int] | None = None, seed: int = 0,
                  show_progress: bool = True, store=None,
                  sql_max_per_patient: int | None = None, sql_max_per_template: int | None = None,
                  source_licence: str | None = None, timings: Timings | None = None) -> BuildResult:
    """Build a release (or one shard of it). Returns where it went and its manifest.
    `source_licence` overrides the licence detected from the store (`medbench.datause`).
    `timings` (a Timings) receives per-stage wall/CPU seconds: ingest, cohort, packets, each
    family, write, hash."""
    from medbench.datause import check_licence, detect_licence
    from medbench.store import open_store

    check_licence(source_licence)
    timings = timings if timings is not None else Timings()
    # Everything that does not need the store is checked before it is opened (an ingest shows a
    # progress bar), so bad input is one line on stderr.
    task_names = parse_tasks(tasks)
    if sql_max_per_patient is not None and sql_max_per_patient < 1:
        raise UserError(f"--sql-per-patient must be at least 1 (got {sql_max_per_patient})")
    if sql_max_per_template is not None and sql_max_per_template < 0:
        raise UserError(f"--sql-per-template must be 0 (no cap) or more (got {sql_max_per_template})")
    shard_kn = parse_shard(shard) if isinstance(shard, str) or shard is None else tuple(shard)
    if name is not None:
        _check_name(name)
    if out is not None:
        check_out_dir(out)
    if cohort is not None:
        from medbench.extract.cohort import read_cohort

        if not read_cohort(cohort):
            raise UserError(f"cohort {cohort}: no patients listed")
    with timings.stage("ingest"):
        if store is None:
            store = open_store(mimic_dir, db)
    with timings.stage("cohort"):
        ids, selection = resolve_patients(store, cohort)
    params: dict[str, Any] = {"seed": int(seed), "tasks": task_names, "patients": selection}
    if sql_max_per_patient is not None:  # absent by default, so default releases keep their bytes
        params["sql_max_per_patient"] = int(sql_max_per_patient)
    if sql_max_per_template is not None:  # likewise (the default cap is the sql family's)
        params["sql_max_per_template"] = int(sql_max_per_template)
    name = name or default_name(store.fingerprint)
    _check_name(name)
    if shard_kn is not None:
        k, n = shard_kn
        ids = [s for s in ids if shard_of(s, n) == k]
        params["shard"] = {"k": k, "n": n}
    if out is None:
        suffix = f".shard-{shard_kn[0]}-of-{shard_kn[1]}" if shard_kn else ""
        out = Path("benchmarks") / f"{name}{suffix}"
    check_out_dir(out)
    with scratch_dir("build") as scratch:  # $MEDBENCH_HOME/tmp, swept when its pid is gone
        outputs = build_tasks(store, ids, params, task_names, seed, Path(scratch), show_progress,
                              timings)
        licence = source_licence or detect_licence(store.source)
        manifest = write_release(out, name, outputs, params, store.fingerprint, licence, timings=timings)
    return BuildResult(Path(out), manifest)


# ---------------------------------------------------------------------------------- merge


def _merge_info(task: str, infos: list[dict]) -> dict:
    """Sum numbers (recursively in dicts); anything else must agree across shards."""
    def merge(vals: list[Any], path: str) -> Any:
        if all(isinstance(v, dict) for v in vals):
            keys = sorted(set().union(*vals))
            return {k: merge([v[k] for v in vals if k in v], f"{path}.{k}") for k in keys}
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            return sum(vals)
        if any(v != vals[0] for v in vals):
            raise UserError(f"shards disagree on manifest field tasks.{task}{path}")
        return vals[0]

    stripped = [{k: v for k, v in i.items() if k not in ("counts", "items", "context_ref")} for i in infos]
    return merge(stripped, "") if stripped else {}


def merge_shards(shard_dirs: list[str | Path], out: str | Path, mimic_dir: str | Path | None = None,
                 db: str | Path | None = None, cohort: str | Path | None = None,
                 show_progress: bool = True, store=None) -> BuildResult:
    """Merge the N shard releases of one build into exactly the bytes of the full build."""
    if not shard_dirs:
        raise UserError("merge-shards: name the shard releases to merge")
    check_out_dir(out)
    rels = [open_release(d) for d in shard_dirs]
    for r in rels:
        r.verify()
        if "shard" not in r.manifest.get("params", {}):
            raise UserError(f"{r.path}: not a shard release (its params have no 'shard')")
    first = rels[0].manifest
    n = first["params"]["shard"]["n"]
    base_params = {k: v for k, v in first["params"].items() if k != "shard"}
    seen: dict[int, Path] = {}
    for r in rels:
        m = r.manifest
        for key in ("name", "medbench_version", "source_fingerprint", "release_format", "source"):
            if m.get(key) != first.get(key):
                raise UserError(f"{r.path}: {key} {m.get(key)!r} differs from {rels[0].path}'s "
                                f"{first.get(key)!r}")
        if {k: v for k, v in m["params"].items() if k != "shard"} != base_params:
            raise UserError(f"{r.path}: generation params differ from {rels[0].path}'s")
        if m["params"]["shard"]["n"] != n:
            raise UserError(f"{r.path}: shard of {m['params']['shard']['n']}, expected of {n}")
        k = m["params"]["shard"]["k"]
        if k in seen:
            raise UserError(f"shard {k}/{n} given twice: {seen[k]} and {r.path}")
        seen[k] = r.path
    missing = [k for k in range(1, n + 1) if k not in seen]
    if missing:
        raise UserError(f"merge-shards: shard {missing[0]}/{n} is missing ({len(seen)} of {n} given)")

    outputs: dict[str, TaskOutput] = {}
    rebuild: list[str] = []
    for task in sorted(first["tasks"]):
        if not get_family(task).shard_mergeable:
            rebuild.append(task)
            continue
        items, gold, files, contexts = [], [], {}, {}
        def rule_of(r, task=task):
            rule = r.context_rule(task)
            return {k: v for k, v in rule.items() if k != "file"} if rule is not None else None

        rule = rule_of(rels[0])
        records = {f"{task}/{f}{z}" for f in RECORD_FILES for z in ("", ZST)}
        for r in rels:
            if rule_of(r) != rule:
                raise UserError(f"shards disagree on how {task} items reference their contexts "
                                f"({r.path} against {rels[0].path})")
            items += r.records(task, "items")  # as stored: references stay references
            gold += r.records(task, "gold")
            for k, v in r.contexts(task).items():
                if contexts.setdefault(k, v) != v:
                    raise UserError(f"shards disagree on the {task} context {k!r}")
            for rel in r.manifest["files"]:
                if rel.startswith(f"{task}/") and rel not in records:
                    data = (r.path / rel).read_bytes()
                    sub = rel[len(task) + 1:]
                    if files.setdefault(sub, data) != data:
                        raise UserError(f"shards disagree on task file {rel}")
        info = _merge_info(task, [r.manifest["tasks"][task] for r in rels])
        outputs[task] = TaskOutput(items=items, gold=gold, info=info, files=files,
                                   contexts=contexts if rule is not None else None,
                                   context=rule)
    if rebuild:
        from medbench.store import open_store

        if store is None:
            store = open_store(mimic_dir, db)
        if store.fingerprint != first["source_fingerprint"]:
            raise UserError(f"merge-shards: task(s) {', '.join(rebuild)} are rebuilt from the store, "
                            "but this store's fingerprint differs from the shards' source")
        ids, selection = resolve_patients(store, cohort)
        if selection != base_params.get("patients"):
            raise UserError("merge-shards: the patient selection differs from the shards' "
                            "(pass the same --cohort CSV the shards were built with)")
    with scratch_dir("build") as scratch:  # $MEDBENCH_HOME/tmp, swept when its pid is gone
        if rebuild:
            outputs.update(build_tasks(store, ids, base_params, rebuild, int(base_params.get("seed", 0)),
                                       Path(scratch), show_progress))
        manifest = write_release(out, first["name"], outputs, base_params, first["source_fingerprint"],
                                 (first.get("source") or {}).get("licence"))
    return BuildResult(Path(out), manifest)


def summary_rows(manifest: dict) -> list[list[str]]:
    """Rows (task, train, dev, test, total) for the summary table."""
    rows = []
    for task, info in sorted(manifest["tasks"].items()):
        counts = info.get("counts", {})
        rows.append([task, *(str(counts.get(s, 0)) for s in SPLITS), str(info.get("items", 0))])
    return rows

