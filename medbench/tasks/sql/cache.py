"""Per-release caches for SQL scoring, under `$MEDBENCH_HOME/cache/`.

- `gold/<release sha256>.json`: per item, the gold side's derived data — sqlglot tokens and
  content tokens of the gold SQL, its sqlglot fingerprint (for exact match), and its answer when
  the gold record had none and it had to be executed. Filled lazily: only what some prediction
  needed is computed (in the sandbox workers, in parallel), then kept for every later submission.
- `sql-results/<release sha256>.json`: per distinct *prepared* predicted query (after the
  EHRSQL normalisation on SQLite releases; keyed with the engine, the SQLite work budget or the
  DuckDB time limit, and the row cap), what
  executing it in the sandbox gave — the answer or a deterministic error — plus its tokens,
  content tokens and fingerprint. A later submission predicting the same query (for the same or
  any other item) reuses it without executing anything. Only outcomes that executing again would
  reproduce are kept: answers up to `MAX_ANSWER_CHARS`, refusals, engine errors (syntax,
  unknown table, …) and deterministic `resource_limit` outcomes (SQLite work budget, row cap);
  never time-limit hits (a query still over the wall limit when run again alone), killed or crashed workers, or memory errors, and
  never a query calling a function whose value can change between runs (`NONDETERMINISTIC_TOKENS`:
  random, the clock, sampling).
  Bounded: at most `MAX_RESULT_ENTRIES` entries and about `MAX_RESULT_BYTES`, least recently
  used dropped first.

Both files are written atomically (temp file + rename), carry the release's sha256, the scorer's
cache format and (results) the engine, and are ignored — never trusted — when any of these
differs or the file does not parse. The database is read-only and part of the release (its hash
is in the manifest the sha256 covers), so a query's outcome is a function of the release and the
query text. Two scorers writing at once: the last rename wins; the other's new entries are just
recomputed next time.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

from medbench.config import medbench_home
from medbench.io import atomic_write_text, sweep_atomic_temps

CACHE_FORMAT = 6  # 5: official EHRSQL answer form, SQLite work budget, resource_limit, "<sha256>\n<body>" files; 6: an empty query answers [] on SQLite
MAX_RESULT_ENTRIES = 20_000
MAX_RESULT_BYTES = 32 * 1024 * 1024
MAX_ANSWER_CHARS = 4000  # larger answers are not cached (the query runs again)
MAX_TOKENS = 2000  # queries with more sqlglot tokens are not cached
#: error classes whose message is a property of the query text and the data (engine errors,
#: refusals, the row cap); anything else (time limits, killed workers, memory) may not repeat
DETERMINISTIC_ERRORS = (
    "refused:", "resource_limit:", "OperationalError:", "ProgrammingError:", "Warning:", "DataError:", "IntegrityError:",
    "OverflowError:", "ParserException:", "BinderException:", "CatalogException:", "ConversionException:",
    "InvalidInputException:", "NotImplementedException:", "OutOfRangeException:", "SyntaxException:",
    "TypeMismatchException:", "SequenceException:",
)
#: tokens of functions (and clauses) whose result can change between runs: such queries are never
#: cached (EHRSQL's normalisation already pins `current_time`/'now' on SQLite releases)
NONDETERMINISTIC_TOKENS = frozenset((
    "random", "randomblob", "random_uuid", "gen_random_uuid", "uuid", "setseed", "now", "current_time",
    "current_date", "current_timestamp", "localtime", "localtimestamp", "current_localtime",
    "current_localtimestamp", "today", "get_current_time", "get_current_timestamp", "transaction_timestamp",
    "statement_timestamp", "sample", "tablesample", "reservoir", "changes", "total_changes",
    "last_insert_rowid", "current_setting", "current_query", "txid_current",
))
_TRANSIENT_WORDS = ("interrupt", "time limit", "timeout", "memory", "worker", "killed", "crash", "locked",
                    "disk i/o", "unable to open")

# In-process copies (per-item callers must not re-read the file), checked against the file's
# identity so a file another process replaced is read again.
_MEMO: dict[str, tuple[tuple, dict]] = {}


def clear_memo() -> None:
    """Forget the in-process copies (the next load reads the files, as a fresh process would)."""
    _MEMO.clear()


def _identity(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _release_sha(release: Any) -> str | None:
    sha = getattr(release, "sha256", None) if release is not None else None
    return sha if isinstance(sha, str) and sha and all(c in "0123456789abcdef" for c in sha) else None


class _JsonCache:
    kind = ""

    def __init__(self, release: Any, **identity: Any):
        self.sha = _release_sha(release)
        self.identity = {"format": CACHE_FORMAT, "release": self.sha, **identity}
        self.path = medbench_home() / "cache" / self.kind / f"{self.sha}.json" if self.sha else None
        self.entries: OrderedDict[str, dict] = OrderedDict()
        self.dirty = False
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        ident = _identity(self.path)
        memo = _MEMO.get(str(self.path))
        if ident is not None and memo is not None and memo[0] == ident and memo[1].get("identity") == self.identity:
            self.entries = OrderedDict(memo[1]["entries"])
            return
        if ident is None:
            return
        try:
            raw = self.path.read_bytes()
        except OSError:
            return
        # The file is "<sha256 of the body>\n<body>": a truncated, flipped, emptied or random file
        # fails the check and is dropped (one warning), never trusted.
        digest, _, body = raw.partition(b"\n")
        try:
            if hashlib.sha256(body).hexdigest().encode() != digest:
                raise ValueError("sha256 mismatch")
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            import warnings

            warnings.warn(f"{self.path}: damaged scoring cache (does not match its sha256); ignored",
                          stacklevel=2)
            return
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in self.identity.items()):
            return  # another release, engine, limit or format: not ours
        entries = data.get("entries")
        if not isinstance(entries, dict):
            return
        self.entries = OrderedDict((k, v) for k, v in entries.items() if isinstance(v, dict))
        _MEMO[str(self.path)] = (ident, {"identity": self.identity, "entries": dict(self.entries)})

    def _bound(self) -> None:
        pass

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self._bound()
        body = json.dumps({**self.identity, "entries": self.entries}, ensure_ascii=False,
                          separators=(",", ":"))
        text = hashlib.sha256(body.encode("utf-8")).hexdigest() + "\n" + body
        try:
            sweep_atomic_temps(self.path)  # what a scorer killed while writing this file left
            atomic_write_text(self.path, text)
        except OSError:
            return  # a cache that cannot be written is only a slower next run
        self.dirty = False
        ident = _identity(self.path)
        if ident is not None:
            _MEMO[str(self.path)] = (ident, {"identity": self.identity, "entries": dict(self.entries)})


class GoldCache(_JsonCache):
    """item_id -> {"tokens", "content", "fingerprint", "answer"} (any subset, filled lazily)."""

    kind = "gold"

    def __init__(self, release: Any, engine: str):
        super().__init__(release, engine=engine)

    def get(self, item_id: str) -> dict:
        return self.entries.get(item_id) or {}

    def update(self, item_id: str, **values: Any) -> None:
        values = {k: v for k, v in values.items() if v is not None}
        entry = self.entries.get(item_id) or {}
        if any(entry.get(k) != v for k, v in values.items()):
            self.entries[item_id] = {**entry, **values}
            self.dirty = True


def result_key(prepared_sql: str, engine: str, timeout_s: float, row_cap: int, vm_steps: int | None = None) -> str:
    """The cache key of one prepared query's outcome: everything that decides it. On SQLite the
    deterministic work budget decides (the wall-clock limit only triggers a re-run alone, and a
    query that still misses it is never cached), so the key names the budget, not the time limit;
    on DuckDB the time limit."""
    from medbench.tasks.sql.execute import DEFAULT_VM_STEPS

    limit = f"steps={int(vm_steps or DEFAULT_VM_STEPS)}" if engine == "sqlite" else f"{float(timeout_s)!r}"
    raw = f"{engine}\x00{limit}\x00{int(row_cap)}\x00{prepared_sql}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:40]


def deterministic_error(error: Any) -> bool:
    """Would running the query again fail the same way? (engine errors and refusals, not time
    limits, killed workers or memory)"""
    if not isinstance(error, str) or not error.startswith(DETERMINISTIC_ERRORS):
        return False
    low = error.lower()
    return not any(w in low for w in _TRANSIENT_WORDS)


def cacheable(result: dict) -> bool:
    """Would executing the query again give this outcome? (see the module docstring)"""
    tokens = result.get("tokens")
    if not isinstance(tokens, list) or len(tokens) > MAX_TOKENS or not isinstance(result.get("parsed"), bool):
        return False
    if not NONDETERMINISTIC_TOKENS.isdisjoint(tokens):
        return False
    error, answer = result.get("error"), result.get("answer")
    if error is None:
        return isinstance(answer, str) and len(answer) <= MAX_ANSWER_CHARS
    return deterministic_error(error)


def _entry_bytes(entry: dict) -> int:
    size = 120 + len(entry.get("answer") or "") + len(entry.get("error") or "") + len(entry.get("fingerprint") or "")
    for key in ("tokens", "content"):
        size += sum(len(t) + 3 for t in entry.get(key) or ())
    return size


class ResultCache(_JsonCache):
    """Executed predicted queries of one release, keyed by `result_key` (least recently used
    entries dropped beyond the bounds)."""

    kind = "sql-results"

    def __init__(self, release: Any, engine: str, max_entries: int = MAX_RESULT_ENTRIES,
                 max_bytes: int = MAX_RESULT_BYTES):
        super().__init__(release, engine=engine)
        self.max_entries, self.max_bytes = max_entries, max_bytes

    def get(self, key: str) -> dict | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)  # recently used: evicted last
        return entry

    def put(self, key: str, result: dict) -> None:
        if not cacheable(result):
            return
        entry = {k: result.get(k) for k in ("answer", "error", "tokens", "content", "parsed", "fingerprint")}
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.entries.move_to_end(key)
            self.dirty = True

    def set_fingerprint(self, key: str, fingerprint: str | None) -> None:
        entry = self.entries.get(key)
        if entry is not None and fingerprint is not None and entry.get("fingerprint") != fingerprint:
            entry["fingerprint"] = fingerprint
            self.dirty = True

    def _bound(self) -> None:
        total = sum(_entry_bytes(e) for e in self.entries.values())
        while self.entries and (len(self.entries) > self.max_entries or total > self.max_bytes):
            _, dropped = self.entries.popitem(last=False)
            total -= _entry_bytes(dropped)


# ---------------------------------------------------------------------------------------------
# The database file a release ships (an EHRSQL import's `sql/database.sqlite`)

_FILE_VERIFIED: dict[str, tuple] = {}  # path -> (size, mtime_ns, inode) that matched the manifest in this process


def verified_release_file(release: Any, path: Path) -> Path:
    """`path` (a file of `release`) after checking it against the release manifest's sha256 —
    once per process while its size, mtime and inode stay the same (an EHRSQL database is ~32 MB:
    about 0.1 s). A damaged copy (truncated, flipped, emptied, random) is refused with one error
    line: the release is the only copy, so it must be copied (or imported) again. A file the
    manifest does not list is checked with SQLite's own `PRAGMA quick_check`."""
    from medbench.errors import UserError
    from medbench.io import sha256_file

    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        raise UserError(f"{path}: {e.strerror or 'cannot be read'}") from None
    key = (st.st_size, st.st_mtime_ns, st.st_ino)
    if _FILE_VERIFIED.get(str(path)) == key:
        return path
    root = Path(getattr(release, "path", path.parent))
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = None
    manifest = getattr(release, "manifest", None) or {}
    digest = (manifest.get("files") or {}).get(rel) if rel else None
    try:
        if digest is not None:
            ok = sha256_file(path) == digest
            why = "does not match its manifest sha256"
        else:
            ok, why = _sqlite_quick_check(path), "fails SQLite's PRAGMA quick_check"
    except OSError as e:
        raise UserError(f"{path}: {e.strerror or 'cannot be read'}") from None
    if not ok:
        raise UserError(f"{path}: the release's database {why} (a damaged copy); copy the release again "
                        "or re-run import-ehrsql")
    _FILE_VERIFIED[str(path)] = key
    return path


def _sqlite_quick_check(path: Path) -> bool:
    import sqlite3

    if path.suffix != ".sqlite":
        return True  # DuckDB files check their own blocks when read
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return con.execute("PRAGMA quick_check").fetchone() == ("ok",)
        finally:
            con.close()
    except sqlite3.Error:
        return False
