"""The runner: one model over one task split of a release -> a submission JSONL file.

- Resume: the output file is the record of progress. A rerun reads it, checks its header is the
  same run (model, task, split, release sha256, params, medbench version; else UserError), drops
  a torn last line, and requests only items not yet written successfully: lines that carry an
  `error` are dropped from the file and their items requested again (`retry_errors=False`,
  `--no-retry-errors`, keeps them). Successful items are never requested again.
- Durability: lines go to a writer thread that appends, flushes and fsyncs; lines that arrive
  within `FLUSH_WINDOW_S` of the first unwritten one share one cache commit and one fsync
  (group commit), so fsync never blocks the event loop. When every item is in the file it is
  rewritten atomically in item order, so a finished file does not depend on completion order.
- Cache: for API models, a persistent sqlite cache under $MEDBENCH_HOME/cache/ keyed by the
  sha256 of (model, api_base, params, messages); only successful outputs are stored. A cached
  line keeps the usage/cost/latency of the call that produced it (the submission describes the
  output, not this rerun); the run summary counts cached items separately.
- Faults: an item whose call fails after the adapter's retries is written with its `error`
  ("<class>: <provider message>", see `adapter.ERROR_CLASSES`) and the run goes on;
  `RunSummary.failed` counts such lines in the whole file and `RunSummary.outcomes` breaks them
  down by class (the CLI exits 1). Early stop: when `stop_after` (5) items in a row fail with the
  same non-retryable class (auth, not found, bad request), no further item is requested; the
  lines written so far stay in the file and `execute` raises a UserError naming the cause and
  the fix (exit 2), e.g. "OPENAI_API_KEY is not set".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import os
import queue
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.config import medbench_home
from medbench.errors import UserError
from medbench.io import atomic_write_jsonl, atomic_write_text, canonical_json, check_output_path, sha256_bytes
from medbench.models import Generation, Model, load_model
from medbench.release import Release, open_release
from medbench.submission_schema import SCHEMA_VERSION
from medbench.tasks import get_family

SLUG_MAX = 80


def slug(text: str) -> str:
    """A file-name-safe slug for any string: [A-Za-z0-9._-] only, no leading dots, bounded."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    s = re.sub(r"-{2,}", "-", s).replace("..", ".")
    if not s or len(s) > SLUG_MAX:
        s = (s[:SLUG_MAX - 9] + "-" if s else "x-") + sha256_bytes(text.encode())[:8]
    return s


def default_out(model: str, release: Release, task: str, split: str) -> Path:
    return Path("submissions") / f"{slug(model)}__{slug(release.name)}__{task}__{split}.jsonl"


# --------------------------------------------------------------------------- cache
def cache_path() -> Path:
    return medbench_home() / "cache" / "responses.sqlite"


def cache_key(model: str, api_base: str | None, params: dict, messages: list[dict]) -> str:
    return sha256_bytes(canonical_json({"model": model, "api_base": api_base, "params": params,
                                        "messages": messages}).encode("utf-8"))


def _cache_connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(str(path), timeout=30)
    # WAL lets readers and a writer (another run) proceed together. The mode is stored in the
    # file, so only the first connection switches it; switching can report "locked" at once
    # (no busy handler) while another process holds the file, so retry briefly.
    for attempt in range(100):
        try:
            if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or attempt == 99:
                raise
            time.sleep(0.05)
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    return con


def cache_lookup(path: Path, keys: list[str]) -> dict[str, dict]:
    if not keys or not path.exists():
        return {}
    con = _cache_connect(path)
    out: dict[str, dict] = {}
    try:
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, value FROM responses WHERE key IN ({','.join('?' * len(chunk))})"
            for k, v in con.execute(q, chunk):
                with contextlib.suppress(json.JSONDecodeError):
                    out[k] = json.loads(v)
    finally:
        con.close()
    return out


# --------------------------------------------------------------------------- submission file
#: How long the writer gathers lines after the first one before it writes and fsyncs them.
FLUSH_WINDOW_S = 0.02


class _Writer:
    """Appends submission lines (and cache rows) from one thread: write, flush, fsync per batch."""

    def __init__(self, path: Path, cache: Path | None):
        self.path, self.cache = path, cache
        self.q: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="submission-writer", daemon=True)
        self.thread.start()

    def put(self, line: str, cache_row: tuple[str, str] | None = None) -> None:
        if self.error is not None:
            raise self.error
        self.q.put((line, cache_row))

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        con = None
        try:
            con = _cache_connect(self.cache) if self.cache is not None else None
            stop = False
            while not stop:
                batch = [self.q.get()]
                # Group commit: everything that arrives within FLUSH_WINDOW_S of the first line
                # shares one cache commit, one write and one fsync. A kill inside the window loses
                # only lines not yet fsynced, whose items a rerun requests again (as before).
                deadline = time.monotonic() + FLUSH_WINDOW_S
                while batch[-1] is not None:
                    left = deadline - time.monotonic()
                    try:
                        batch.append(self.q.get(timeout=left) if left > 0 else self.q.get_nowait())
                    except queue.Empty:
                        break
                stop = batch[-1] is None
                entries = [e for e in batch if e is not None]
                if not entries:
                    continue
                rows = [e[1] for e in entries if e[1] is not None]
                if con is not None and rows:
                    con.executemany("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", rows)
                    con.commit()
                os.write(fd, "".join(e[0] for e in entries).encode("utf-8"))
                os.fsync(fd)
        except BaseException as e:  # surfaced to the event loop on the next put/close
            self.error = e
        finally:
            os.close(fd)
            if con is not None:
                con.close()


def read_submission(path: Path) -> tuple[dict | None, list[dict]]:
    """(header, lines) of an existing submission; repairs a torn last line in place."""
    if not path.exists() or path.stat().st_size == 0:
        return None, []
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        # A crash mid-append leaves a partial last line: cut back to the last complete line.
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        data = data[:cut]
    header, lines = None, []
    for n, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            raise UserError(f"{path}:{n}: not valid JSON; the file is not a medbench submission "
                            "(move it away to start over)") from None
        if n == 1:
            if not isinstance(rec, dict) or rec.get("type") != "header":
                raise UserError(f"{path}:1: no submission header; refusing to append to this file")
            header = rec
        elif not isinstance(rec, dict) or not isinstance(rec.get("item_id"), str):
            raise UserError(f"{path}:{n}: item_id: missing")
        else:
            lines.append(rec)
    return header, lines


_RESUME_KEYS = ("schema_version", "model", "task", "split", "benchmark", "medbench_version", "params")


def _check_resume(path: Path, old: dict, new: dict) -> None:
    for k in _RESUME_KEYS:
        if old.get(k) != new.get(k):
            raise UserError(f"{path}: header {k} is {json.dumps(old.get(k), sort_keys=True)[:120]}, this run has "
                            f"{json.dumps(new.get(k), sort_keys=True)[:120]}; use another --out or delete the file")


# --------------------------------------------------------------------------- the run
@dataclass
class RunSummary:
    out: Path
    total: int = 0  # items in the (limited) split
    skipped: int = 0  # already in the file (resume)
    done: int = 0  # written this run
    failed: int = 0  # lines with an error, whole file
    retried: int = 0  # lines with an error from an earlier run, requested again
    outcomes: dict = field(default_factory=dict)  # "ok" / "parse error" / "failed: <class>" -> lines, whole file
    stopped: tuple | None = None  # (error class, error message) when the run stopped early
    parse_errors: int = 0  # lines with a parse error, whole file
    cached: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    seconds: float = 0.0
    model_info: dict = field(default_factory=dict)

    @property
    def items_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def add_usage(self, gen: Generation) -> None:
        """Count one generation's tokens and cost (an unknown cost stays unknown)."""
        self.prompt_tokens += gen.prompt_tokens or 0
        self.completion_tokens += gen.completion_tokens or 0
        if gen.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + gen.cost_usd


def _line(item_id: str, family: Any, gen: Generation) -> dict:
    # A failed call gets the family's "missing" prediction (sql: "" = scored wrong, not an abstention).
    prediction, parse_error = getattr(family, "missing_prediction", None), None
    if gen.error is None:
        try:
            prediction, parse_error = family.parse(gen.text)
        except Exception as e:  # parsers must not raise; if one does, record it, never drop the item
            prediction, parse_error = None, f"parser raised {type(e).__name__}: {e}"
    return {
        "item_id": item_id,
        "prediction": prediction,
        "raw_output": gen.text,
        "parse_error": parse_error,
        "error": gen.error,
        "usage": {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens},
        "cost_usd": gen.cost_usd,
        "latency_s": gen.latency_s,
    }


@dataclass
class PreparedRun:
    """A run whose inputs are all resolved and checked (release, task, items, model, output file,
    resume header): what `prepare_run` returns. `execute` does the work; it raises no UserError
    for bad input, so a CLI can open its progress bar between the two."""

    release: Release
    family: Any
    items: list[dict]
    mdl: Model
    header: dict
    out_path: Path
    old_header: dict | None
    old_lines: list[dict]
    concurrency: int
    api_base: str | None
    gen_params: dict
    use_cache: bool
    retry_errors: bool = True
    stop_after: int = 5

    @property
    def total(self) -> int:
        return len(self.items)

    def _keep(self) -> set[str]:
        """Item ids whose line in the file stands (not requested again)."""
        last = {ln["item_id"]: ln for ln in self.old_lines}
        return {i for i, ln in last.items() if not (self.retry_errors and ln.get("error"))}

    @property
    def already_written(self) -> int:
        written = self._keep()
        return sum(1 for it in self.items if it["item_id"] in written)

    def execute(self, progress: Any = None) -> RunSummary:
        """Request every item not yet in the file; `progress(summary, generation)` after each."""
        out_path, items, mdl = self.out_path, self.items, self.mdl
        header = self.header
        summary = RunSummary(out=out_path, total=len(items), model_info=mdl.info())
        if self.old_header is None:
            atomic_write_text(out_path, canonical_json(header) + "\n")
        elif self.retry_errors:
            # Lines with an error are dropped (atomically) before their items are requested
            # again, so the file never holds two lines for one item.
            by_id = {ln["item_id"]: ln for ln in self.old_lines}
            kept = [ln for ln in by_id.values() if not ln.get("error")]
            if len(kept) != len(self.old_lines):
                summary.retried = len(by_id) - len(kept)
                atomic_write_jsonl(out_path, [header, *kept])
                self.old_lines = kept
        written = {ln["item_id"] for ln in self.old_lines}
        pending = [it for it in items if it["item_id"] not in written]
        summary.skipped = len(items) - len(pending)

        started = time.perf_counter()
        cache = cache_path() if (self.use_cache and mdl.kind == "api") else None
        writer = _Writer(out_path, cache)
        try:
            asyncio.run(_drive(mdl, self.family, self.release, pending, self.concurrency, self.api_base,
                               self.gen_params, cache, self.use_cache, writer, summary, progress,
                               stop_after=self.stop_after))
        finally:
            writer.close()
        summary.seconds = time.perf_counter() - started

        _, lines = read_submission(out_path)
        by_id = {ln["item_id"]: ln for ln in lines}
        summary.failed = sum(1 for ln in by_id.values() if ln.get("error"))
        summary.parse_errors = sum(1 for ln in by_id.values() if ln.get("parse_error"))
        summary.outcomes = outcome_counts(by_id.values())
        if summary.stopped is not None:
            from medbench.models.adapter import explain_failure

            cls, message = summary.stopped
            why = explain_failure(getattr(mdl, "spec", "") or str(header.get("model")),
                                  getattr(mdl, "api_base", None), getattr(mdl, "api_key", None), cls, message)
            raise UserError(f"run stopped: {self.stop_after} items in a row failed with '{cls}': {why}; the "
                            f"{len(by_id)} items written so far are kept in {out_path} (fix it and rerun "
                            "the same command)")
        if all(it["item_id"] in by_id for it in items):
            # Complete: rewrite in item order (plus any extra ids from a longer earlier run, sorted).
            order = [it["item_id"] for it in items] + sorted(set(by_id) - {it["item_id"] for it in items})
            atomic_write_jsonl(out_path, [header, *(by_id[i] for i in order)])
        return summary


def outcome_counts(lines: Any) -> dict[str, int]:
    """Submission lines -> {"ok", "parse error", "failed: <error class>"} -> count (sorted keys)."""
    from medbench.models.adapter import error_class

    counts: dict[str, int] = {}
    for ln in lines:
        key = (f"failed: {error_class(ln['error'])}" if ln.get("error")
               else "parse error" if ln.get("parse_error") else "ok")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def prepare_run(benchmark: str | Path, task: str, model: str, *, split: str = "dev", concurrency: int = 8,
                limit: int | None = None, out: str | Path | None = None, api_base: str | None = None,
                api_key: str | None = None, temperature: float = 0.0, max_tokens: int | None = None,
                seed: int | None = None, use_cache: bool = True, retry_limit: int = 3,
                timeout_s: float = 60.0, model_obj: Model | None = None, retry_errors: bool = True,
                stop_after: int = 5, allow_providers: tuple[str, ...] = (),
                fewshot: int = 0, fewshot_seed: int = 0) -> PreparedRun:
    """Resolve and check every input of a run (UserError on anything wrong); writes nothing but
    the output file's parent folder."""
    if split not in ("train", "dev", "test"):
        raise UserError(f"--split: '{split}' is not one of train, dev, test")
    if concurrency < 1:
        raise UserError("--concurrency: must be at least 1")
    if out is not None:
        check_output_path(out, "--out")  # a device or FIFO is refused, never read or replaced
    release = open_release(benchmark)
    family = get_family(task)
    items = release.items(task, split)
    if limit is not None:
        items = items[:max(0, limit)]
    mdl = model_obj or load_model(model, task=task, release=release, api_base=api_base, api_key=api_key,
                                  temperature=temperature, seed=seed, max_tokens=max_tokens,
                                  retry_limit=retry_limit, timeout_s=timeout_s, batch_size=concurrency)
    gen_params = {"temperature": temperature, "seed": seed, "max_tokens": max_tokens}
    from medbench.prompting import apply_prompting  # prompt hashes, system prompt, few-shot (issue 17)

    family, prompt_info = apply_prompting(family, release, task, items, fewshot, fewshot_seed)
    header = {
        "type": "header", "schema_version": SCHEMA_VERSION, "model": model, "task": task, "split": split,
        "benchmark": {"name": release.name, "sha256": release.sha256}, "medbench_version": __version__,
        "params": {**gen_params, **mdl.info(), **prompt_info},
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out_path = Path(out) if out is not None else default_out(model, release, task, split)
    check_output_path(out_path, "--out")
    if out_path.exists() and out_path.is_dir():
        raise UserError(f"--out: {out_path} is a folder")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    old_header, old_lines = read_submission(out_path)
    if old_header is not None:
        _check_resume(out_path, old_header, header)
        header = old_header  # keep the original created time
    from medbench.datause import check_data_use

    # before any item is sent: a credentialed release goes to allow-listed hosted providers only
    header = {**header, "data_use": check_data_use(model, release.manifest, api_base=api_base,
                                                   allow_providers=allow_providers)}
    return PreparedRun(release=release, family=family, items=items, mdl=mdl, header=header, out_path=out_path,
                       old_header=old_header, old_lines=old_lines, concurrency=concurrency, api_base=api_base,
                       gen_params=gen_params, use_cache=use_cache, retry_errors=retry_errors,
                       stop_after=stop_after)


def run(benchmark: str | Path, task: str, model: str, *, split: str = "dev", concurrency: int = 8,
        limit: int | None = None, out: str | Path | None = None, api_base: str | None = None,
        api_key: str | None = None, temperature: float = 0.0, max_tokens: int | None = None,
        seed: int | None = None, use_cache: bool = True, retry_limit: int = 3, timeout_s: float = 60.0,
        progress: Any = None, model_obj: Model | None = None, retry_errors: bool = True,
        fewshot: int = 0, fewshot_seed: int = 0) -> RunSummary:
    """Run `model` on `task`/`split` of the release at `benchmark`; see the module docstring."""
    return prepare_run(benchmark, task, model, split=split, concurrency=concurrency, limit=limit, out=out,
                       api_base=api_base, api_key=api_key, temperature=temperature, max_tokens=max_tokens,
                       seed=seed, use_cache=use_cache, retry_limit=retry_limit, timeout_s=timeout_s,
                       model_obj=model_obj, retry_errors=retry_errors, fewshot=fewshot,
                       fewshot_seed=fewshot_seed).execute(progress)


async def _drive(mdl: Model, family: Any, release: Release, pending: list[dict], concurrency: int,
                 api_base: str | None, gen_params: dict, cache: Path | None, use_cache: bool,
                 writer: _Writer, summary: RunSummary, progress: Any, stop_after: int = 5) -> None:
    from medbench.models.adapter import NON_RETRYABLE

    streak: list = [None, 0]  # (error class, items in a row failing with it)

    def record(item: dict, gen: Generation, cache_row: tuple[str, str] | None = None) -> None:
        writer.put(canonical_json(_line(item["item_id"], family, gen)) + "\n", cache_row)
        cls = gen.error_class if gen.error else None
        if cls in NON_RETRYABLE:
            streak[:] = [cls, streak[1] + 1 if streak[0] == cls else 1]
            if streak[1] >= stop_after > 0 and summary.stopped is None:
                summary.stopped = (cls, gen.error)
        else:
            streak[:] = [None, 0]
        summary.done += 1
        summary.cached += gen.cached
        summary.requests += gen.requests
        if not gen.cached:
            summary.add_usage(gen)
        if progress is not None:
            progress(summary, gen)

    # Baselines read the item itself, not a prompt: rendering would only cost time.
    work = [(item, [] if mdl.kind == "baseline" else family.render_prompt(item, release)) for item in pending]
    if mdl.kind == "api":
        keys = [cache_key(mdl.spec, api_base, gen_params, m) for _, m in work]
        hits = cache_lookup(cache, keys) if (cache is not None and use_cache) else {}
        todo: list[tuple[dict, list[dict], str]] = []
        for (item, messages), key in zip(work, keys):
            hit = hits.get(key)
            if hit is not None:
                record(item, Generation(text=hit.get("text"), prompt_tokens=hit.get("prompt_tokens"),
                                        completion_tokens=hit.get("completion_tokens"),
                                        cost_usd=hit.get("cost_usd"), latency_s=hit.get("latency_s"),
                                        cached=True))
            else:
                todo.append((item, messages, key))
        it = iter(todo)

        async def worker() -> None:
            for item, messages, key in it:  # a shared iterator: each item taken by one worker
                if summary.stopped is not None:
                    return
                try:
                    gen = await mdl.agenerate(messages, item)
                except Exception as e:  # the adapter does not raise; anything else is a bug, kept per item
                    gen = Generation(text=None, error=f"{type(e).__name__}: {e}")
                row = None
                if cache is not None and gen.error is None:
                    row = (key, canonical_json({"text": gen.text, "prompt_tokens": gen.prompt_tokens,
                                                "completion_tokens": gen.completion_tokens,
                                                "cost_usd": gen.cost_usd, "latency_s": gen.latency_s}))
                record(item, gen, row)

        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(todo))))))
    else:
        size = max(1, mdl.batch_size)
        for i in range(0, len(work), size):
            chunk = work[i:i + size]
            # Local inference is blocking; a thread keeps the loop (and progress) responsive.
            gens = await asyncio.to_thread(mdl.generate_batch, [(m, item) for item, m in chunk])
            for (item, _), gen in zip(chunk, gens):
                record(item, gen)
