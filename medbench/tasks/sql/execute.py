"""Sandboxed execution of (hostile) SQL on a release's read-only database.

Layers, each sufficient on its own for the engine it guards:
1. statement check (sqlglot): exactly one statement, a SELECT / WITH … SELECT / set operation,
   with no DML, DDL, PRAGMA, ATTACH, COPY, INSTALL/LOAD, SELECT … INTO anywhere inside, and no
   file-reading table functions. DuckDB's own parser (`extract_statements`) must agree: one
   statement of type SELECT. SQL sqlglot cannot parse is left to the engine layers below, so a
   valid query in a corner of the dialect sqlglot lacks is still executed (and still safe).
2. the engine: SQLite opened `file:…?mode=ro` with an authorizer allowing only
   SELECT/READ/FUNCTION/RECURSIVE (so PRAGMA, ATTACH, writes are denied by SQLite itself, and
   Python's sqlite3 runs one statement per call); DuckDB opened read_only with external access
   (files, network), extension auto-install/auto-load disabled, one thread, a memory limit, and
   the configuration locked so a query cannot turn any of it back on.
3. limits: on SQLite a deterministic work budget (`DEFAULT_VM_STEPS` VM steps, counted by the
   progress handler) decides; a wall-clock limit (SQLite progress handler; DuckDB `interrupt()`
   from a timer) is only a safety net: a query that hits it (or whose worker is killed or runs
   out of memory) is run again alone with `RETRY_TIMEOUT_FACTOR` × the limit before its outcome
   counts (`SqlPool.map`). A query over the budget, the row cap (fetchmany(cap + 1)), or still
   over the wall limit alone fails with an error starting `resource_limit:`; a value-length cap
   for SQLite.
4. processes: queries run in worker processes (`SqlPool`), each with its own connection; a
   worker that misses the time limit by a margin is killed, a worker that dies takes only its
   current query with it (that item gets an error), and a fresh worker replaces it.

A query that fails has answer None and an `error` message (scored as the answer "error").
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

from medbench.tasks.sql.engines import SqlEngine, as_engine
from medbench.tasks.sql.normalize import canonical_answer

ENGINES = ("sqlite", "duckdb")
DIALECTS = {"sqlite": "sqlite", "duckdb": "duckdb"}
DEFAULT_TIMEOUT_S = 5.0
#: SQLite's deterministic work budget (VM steps counted by the progress handler): the judge of a
#: query's cost on SQLite, identical on an idle or a saturated machine. The EHRSQL 2024 valid gold
#: queries need at most ~1.3 M steps; 50 M take about 1 s on an idle core.
DEFAULT_VM_STEPS = 50_000_000
SQLITE_PROGRESS_STEP = 5_000
#: a query that hit the wall-clock limit (or whose worker was killed, or ran out of memory) is run
#: again alone, with the limit times this, before its outcome counts
RETRY_TIMEOUT_FACTOR = 4.0
RESOURCE_LIMIT = "resource_limit"
DEFAULT_ROW_CAP = 100_000
#: a worker still busy this long after the time limit is SIGKILLed (its result is "time limit" at
#: once; the dead process is reaped later), so the kill lands within limit + 1 s on a loaded machine
KILL_MARGIN_S = 0.75
MAX_SQL_CHARS = 100_000
#: the refusal of a text without a statement (empty, blank, comments, ';'): on DuckDB releases; on
#: SQLite (EHRSQL) releases such a text runs and answers `[]`, as in the shared task's scorer
EMPTY_QUERY = "empty query"
MAX_VALUE_BYTES = 10_000_000
DUCKDB_MEMORY_LIMIT = "1GB"
#: RLIMIT_AS of a worker: its address space once the connection is open plus this much (DuckDB's
#: memory_limit, SQLite's mmap window and allocator slack); an allocation past it fails in the
#: worker (an error or a crashed worker: that item's error), never in the scorer.
WORKER_EXTRA_ADDRESS_SPACE = 2 << 30

# Functions no layer lets through: file/URL readers and writers, extension loading, SQLite's
# fts3_tokenizer (leaks a pointer; its two-argument form overwrites one), query()/query_table()
# (SQL from a string, unseen by the checks), and settings/catalog functions that reveal host paths.
_DENIED_PREFIXES = ("read_", "parquet_", "sniff_csv", "glob", "iceberg_", "delta_", "sqlite_scan",
                    "sqlite_attach", "postgres_", "mysql_", "load_extension", "readfile", "writefile",
                    "edit", "fts3_tokenizer", "fts5", "pragma_", "duckdb_", "query", "current_setting",
                    "getenv", "which_secret", "http", "s3", "sqlite_compileoption", "checkpoint",
                    "force_checkpoint", "enable_", "disable_", "json_execute_serialized_sql",
                    "json_serialize", "json_deserialize", "arrow_scan")
#: Table functions a query may call (anything else in FROM is refused), per engine.
_TABLE_FUNCTIONS = {"duckdb": frozenset({"range", "generate_series", "unnest"}),
                    "sqlite": frozenset({"json_each", "json_tree"})}
_PATH_CHARS = ("/", "\\", ":", ".")


def denied_function(name: str) -> bool:
    """Whether a function name is on the deny list (case-insensitive; both engines)."""
    return name.lower().startswith(_DENIED_PREFIXES)


def _table_refusal(name: str) -> str | None:
    """Why a table name is refused: a path or URL (a replacement scan reads it) or a catalog view."""
    low = name.lower()
    if any(c in name for c in _PATH_CHARS) or low.startswith(("http", "s3")):
        return "reading files by path is not allowed"
    if low.startswith(("duckdb_", "pragma_", "sqlite_temp")):
        return f"table {low} is not allowed"
    return None


def _forbidden_types() -> tuple[type, ...]:
    from sqlglot import exp

    names = ("Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "Command", "Pragma",
             "Copy", "Attach", "Detach", "Set", "Use", "Into", "Install", "TruncateTable",
             "Transaction", "Commit", "Rollback", "Analyze", "Describe", "Grant")
    return tuple(getattr(exp, n) for n in names if hasattr(exp, n))


def prepare_sql(sql: str, engine: Any) -> str:
    """The text that runs: the engine's profile's normalisation (EHRSQL's under "ehrsql-2024",
    as written under "medbench"; `engines.SqlEngine.normalise`)."""
    return as_engine(engine).normalise(sql)


def _content(raw_tokens) -> list[str]:
    """Sorted identifier/literal tokens: equal sqlglot renderings need equal multisets of these."""
    from sqlglot.tokens import TokenType

    kinds = {TokenType.VAR, TokenType.IDENTIFIER, TokenType.STRING, TokenType.NUMBER}
    return sorted(t.text.lower() for t in raw_tokens if t.token_type in kinds)


def parse_select(sql: str, engine: str) -> tuple[Any, str | None, list[str], list[str] | None]:
    """(sqlglot expression or None when sqlglot cannot parse it, refusal reason or None, tokens,
    content tokens or None when the tokenizer failed).

    The query is tokenized once; the parse and the token-F1 tokens both come from that pass.
    """
    from sqlglot import exp
    from sqlglot.dialects import Dialect

    from medbench.tasks.sql.normalize import regex_tokens

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    if len(sql) > MAX_SQL_CHARS:
        return None, f"query longer than {MAX_SQL_CHARS} characters", [], None
    dialect = Dialect.get_or_raise(DIALECTS[engine])
    try:
        raw = dialect.tokenize(sql)
    except Exception:  # sqlglot's errors are many; any of them means "let the engine decide"
        return None, None, regex_tokens(sql), None
    tokens, content = [t.text.lower() for t in raw], _content(raw)
    try:
        statements = [s for s in dialect.parser().parse(raw, sql) if s is not None]
    except Exception:
        return None, None, tokens, content
    if len(statements) != 1:
        return None, "only a single SQL statement is allowed" if statements else EMPTY_QUERY, tokens, content
    stmt = statements[0]
    if not isinstance(stmt, (exp.Select, exp.SetOperation, exp.Subquery)):
        return stmt, f"only read-only SELECT/WITH queries are allowed (got {stmt.key.upper()})", tokens, content
    forbidden = _forbidden_types()
    for node in stmt.walk():
        if isinstance(node, forbidden):
            return stmt, f"only read-only SELECT/WITH queries are allowed ({node.key.upper()} inside)", tokens, content
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if denied_function(name) or (isinstance(node, exp.Anonymous) and denied_function(node.name or "")):
                return stmt, f"function {name}() is not allowed", tokens, content
            # a function in the FROM/JOIN position (not a JOIN's ON/USING condition, whose AND is a Func)
            if isinstance(node.parent, (exp.Table, exp.From, exp.Join)) and node.arg_key == "this" and \
                    name not in _TABLE_FUNCTIONS[engine] and not isinstance(node, exp.Explode):
                return stmt, f"table function {name}() is not allowed", tokens, content
        if isinstance(node, exp.Table):
            if isinstance(node.this, exp.Literal):
                return stmt, "reading files by path is not allowed", tokens, content
            why = _table_refusal(node.name or "") if isinstance(node.this, exp.Identifier) else None
            if why:
                return stmt, why, tokens, content
    return stmt, None, tokens, content


# ---------------------------------------------------------------------------------------------
# Connections (opened once per worker)

_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                   getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _sqlite_authorizer(action: int, *_args: Any) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_ALLOWED else sqlite3.SQLITE_DENY


def _decode_text(b: bytes) -> str:
    return b.decode(errors="ignore")


def _sqlite_function_allow_list(con) -> frozenset[str]:
    """The engine's own functions minus the deny list (read before the authorizer is set)."""
    try:
        names = {r[0].lower() for r in con.execute("SELECT name FROM pragma_function_list")}
    except sqlite3.Error:  # built without introspection pragmas: the deny list alone
        names = None
    if names is None:
        return frozenset()
    return frozenset(n for n in names if not denied_function(n))


def _make_sqlite_authorizer(allowed_functions: frozenset[str]):
    """SQLite layer: only SELECT/READ/RECURSIVE and allow-listed SQLITE_FUNCTION calls."""
    def authorize(action: int, arg1: Any, arg2: Any, *_rest: Any) -> int:
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if denied_function(name) or (allowed_functions and name not in allowed_functions):
                return sqlite3.SQLITE_DENY
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and _table_refusal(arg1 or ""):
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK if action in _SQLITE_ALLOWED else sqlite3.SQLITE_DENY
    return authorize


class DuckdbChecker:
    """DuckDB layer independent of sqlglot: DuckDB's own parser (`json_serialize_sql`, on a
    separate in-memory connection) names every function, table function and table; each must be
    on the engine's allow-list (its scalar/aggregate/window/macro functions minus the deny list,
    `_TABLE_FUNCTIONS`, the database's own tables and views, CTE names)."""

    def __init__(self, con):
        import duckdb

        self._parser = duckdb.connect(":memory:", config={
            "enable_external_access": False, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False, "threads": 1})
        self._parser.execute("SET enable_progress_bar = false")
        self._parser.execute("SET lock_configuration = true")
        rows = self._parser.execute(
            "SELECT DISTINCT lower(function_name), function_type FROM duckdb_functions()").fetchall()
        self.functions = frozenset(n for n, t in rows if t in ("scalar", "aggregate", "window", "macro")
                                   and not denied_function(n))
        self.tables = frozenset(r[0].lower() for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall())

    def refusal(self, sql: str) -> str | None:
        import json

        try:
            raw = self._parser.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0]
            tree = json.loads(raw)
        except Exception as e:  # the parser itself failed: let the engine report the error
            return None if "Parser" in type(e).__name__ else f"cannot be checked ({_first_line(e)})"
        if tree.get("error"):
            return None  # a syntax error: the engine reports it when executing
        ctes: set[str] = set()
        stack: list[Any] = [tree]
        found: list[tuple[str, Any]] = []
        while stack:
            v = stack.pop()
            if isinstance(v, dict):
                if isinstance(v.get("cte_map"), dict):
                    for entry in v["cte_map"].get("map") or []:
                        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                            ctes.add(entry["key"].lower())
                found.append(("node", v))
                stack.extend(v.values())
            elif isinstance(v, list):
                stack.extend(v)
        for _, node in found:
            typ = node.get("type")
            if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
                name = node["function_name"].lower()
                if denied_function(name) or (not node.get("is_operator") and name not in self.functions):
                    return f"function {name}() is not allowed"
            elif typ == "TABLE_FUNCTION":
                fn = (node.get("function") or {}).get("function_name", "")
                if str(fn).lower() not in _TABLE_FUNCTIONS["duckdb"]:
                    return f"table function {str(fn).lower()}() is not allowed"
            elif typ == "BASE_TABLE":
                name = str(node.get("table_name", ""))
                schema = str(node.get("schema_name", "")).lower()
                why = _table_refusal(name)
                if why:
                    return why
                if schema != "information_schema" and name.lower() not in self.tables | ctes:
                    return f"table {name.lower()} is not allowed"
        return None


def open_readonly(db_path: str | os.PathLike, engine: str):
    """A read-only, locked-down connection (see the module docstring)."""
    path = Path(db_path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"database not found: {path}")
    if engine == "sqlite":
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None,
                              check_same_thread=False)
        con.execute("PRAGMA query_only = ON")  # before the authorizer, which then forbids PRAGMA
        con.execute("PRAGMA cache_size = -65536")  # 64 MiB page cache: the demo databases fit
        con.execute("PRAGMA mmap_size = 268435456")
        con.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        con.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        con.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS * 4)
        con.set_authorizer(_make_sqlite_authorizer(_sqlite_function_allow_list(con)))
        return con
    if engine == "duckdb":
        import duckdb

        con = duckdb.connect(str(path), read_only=True, config={
            "enable_external_access": False,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "threads": 1,  # parallelism comes from worker processes
            "memory_limit": DUCKDB_MEMORY_LIMIT,
        })
        # A local option (not settable in config): never print a bar into the scorer's stdout.
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute("SET lock_configuration = true")
        except duckdb.InvalidInputException:
            pass  # a second connection to the same database instance: already locked by the first
        if not con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
            con.close()
            raise RuntimeError(f"{path}: the DuckDB configuration could not be locked")
        return con
    raise ValueError(f"unknown engine {engine!r} (expected one of {', '.join(ENGINES)})")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


def run_query(con, engine: str, sql: str, timeout_s: float = DEFAULT_TIMEOUT_S,
              row_cap: int = DEFAULT_ROW_CAP, check: bool = True, vm_steps: int = DEFAULT_VM_STEPS,
              engine_check: bool | None = None) -> dict:
    """Run one already-prepared query; {"answer": str|None, "error": str|None, "rows", "seconds"}."""
    start = time.monotonic()
    out: dict[str, Any] = {"answer": None, "error": None, "rows": 0, "seconds": 0.0}
    try:
        if check:
            refusal = parse_select(sql, engine)[1]
            if refusal:
                out["error"] = f"refused: {refusal}"
                return out
        rows = _execute(con, engine, sql, timeout_s, row_cap, vm_steps,
                        engine_check=check if engine_check is None else engine_check)
        out["rows"] = len(rows)
        out["answer"] = canonical_answer(rows)
    except _Refused as e:
        out["error"] = f"refused: {e}"
    except _ResourceLimit as e:
        out["error"] = f"{RESOURCE_LIMIT}: {e}"
    except Exception as e:  # any engine error (syntax, denied, interrupted) is the item's error
        out["error"] = _first_line(e)
    finally:
        out["seconds"] = round(time.monotonic() - start, 4)
    return out


class _Refused(Exception):
    pass


class _ResourceLimit(Exception):
    """A deterministic limit: the SQLite work budget or the row cap."""


def is_resource_limit(error: Any) -> bool:
    return isinstance(error, str) and error.startswith(f"{RESOURCE_LIMIT}:")


def hit_wall_limit(error: Any) -> bool:
    """Did the query fail for a reason that depends on machine load (wall-clock limit, killed or
    crashed worker, memory)? Such a query is run again alone before its outcome counts."""
    if not isinstance(error, str) or is_resource_limit(error):
        return False
    low = error.lower()
    return error.startswith("TimeoutError:") or "time limit" in low or "worker" in low \
        or "outofmemory" in low.replace(" ", "") or "out of memory" in low



_CHECKERS: dict[int, tuple[Any, DuckdbChecker]] = {}  # id(connection) -> (connection, its checker)


def duckdb_checker(con) -> DuckdbChecker:
    """The DuckDB allow-list checker of a connection (built once per connection)."""
    entry = _CHECKERS.get(id(con))
    if entry is None or entry[0] is not con:
        entry = _CHECKERS[id(con)] = (con, DuckdbChecker(con))
    return entry[1]




def _execute(con, engine: str, sql: str, timeout_s: float, row_cap: int,
             vm_steps: int = DEFAULT_VM_STEPS, engine_check: bool = True) -> list:
    deadline = time.monotonic() + timeout_s
    if engine == "sqlite":
        stopped: list[str] = []
        calls = [0]
        max_calls = max(1, int(vm_steps) // SQLITE_PROGRESS_STEP)

        def progress() -> int:
            calls[0] += 1
            if calls[0] >= max_calls:
                stopped.append("budget")
                return 1
            if time.monotonic() > deadline:
                stopped.append("wall")
                return 1
            return 0

        con.set_progress_handler(progress, SQLITE_PROGRESS_STEP)
        try:
            try:
                cur = con.execute(sql)
                rows = cur.fetchmany(row_cap + 1)
            except sqlite3.OperationalError as e:
                if "decode" not in str(e) or stopped:
                    raise
                # text that is not UTF-8: decoded as the EHRSQL scorer does (invalid bytes
                # dropped); the C decoder serves every other query at full speed
                calls[0] = 0
                con.text_factory = _decode_text
                try:
                    cur = con.execute(sql)
                    rows = cur.fetchmany(row_cap + 1)
                finally:
                    con.text_factory = str
        except sqlite3.OperationalError as e:
            if stopped and stopped[0] == "budget":
                raise _ResourceLimit(f"query exceeded the work budget of {int(vm_steps)} SQLite VM steps") from None
            if stopped:
                raise TimeoutError(f"query exceeded the {timeout_s:g} s time limit") from None
            raise e
        finally:
            con.set_progress_handler(None, 0)
    else:
        statements = con.extract_statements(sql)
        import duckdb

        if len(statements) != 1:
            raise _Refused("only a single SQL statement is allowed")
        if statements[0].type != duckdb.StatementType.SELECT:
            raise _Refused(f"only read-only SELECT/WITH queries are allowed (got {statements[0].type.name})")
        if engine_check:
            refusal = duckdb_checker(con).refusal(sql)
            if refusal:
                raise _Refused(refusal)
        timer = threading.Timer(timeout_s, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            cur = con.execute(sql)
            rows = cur.fetchmany(row_cap + 1)
        except duckdb.InterruptException:
            raise TimeoutError(f"query exceeded the {timeout_s:g} s time limit") from None
        finally:
            timer.cancel()
        if time.monotonic() > deadline:
            raise TimeoutError(f"query exceeded the {timeout_s:g} s time limit")
        if len(rows) <= row_cap:
            _check_value_sizes(rows)
    if len(rows) > row_cap:
        raise _ResourceLimit(f"result has more than {row_cap} rows")
    return rows


def _check_value_sizes(rows: list) -> None:
    """DuckDB's counterpart of SQLite's SQLITE_LIMIT_LENGTH: a text or blob value over
    MAX_VALUE_BYTES is a deterministic resource limit (so no answer of hundreds of MB is formed,
    sorted and hashed in the worker, where it would only run into the time limit)."""
    for row in rows:
        for v in row:
            if isinstance(v, (str, bytes, bytearray)) and len(v) > MAX_VALUE_BYTES:
                raise _ResourceLimit(f"a result value is over {MAX_VALUE_BYTES:,} bytes")


# ---------------------------------------------------------------------------------------------
# Jobs: what a worker does for one item (execution plus the sqlglot features for EM / token F1)

def gold_tokens(sql: str, engine: Any) -> dict:
    """The token list the gold side caches (same preparation and tokenizer as predictions)."""
    from sqlglot.dialects import Dialect

    from medbench.tasks.sql.normalize import regex_tokens

    eng = as_engine(engine)
    sql = eng.normalise(sql)
    try:
        raw = Dialect.get_or_raise(eng.dialect).tokenize(sql)
    except Exception:
        return {"tokens": regex_tokens(sql), "content": None}
    return {"tokens": [t.text.lower() for t in raw], "content": _content(raw)}


def gold_fingerprint(sql: str, engine: Any) -> str:
    from medbench.tasks.sql.normalize import sql_fingerprint

    eng = as_engine(engine)
    prepared = eng.normalise(sql)
    return sql_fingerprint(prepared, eng.dialect, parse_select(prepared, eng.name)[0])


#: An untrusted query's answer longer than this leaves its worker as a prefix plus its sha256 (the
#: scorer compares `compact_answer` of both sides), so the parent holds O(one clipped answer).
ANSWER_DIGEST_CHARS = 1 << 16
_ANSWER_PREFIX = 1800


def compact_answer(answer: str | None) -> str | None:
    """`answer` itself when short; else its first characters, its length and its sha256."""
    if answer is None or len(answer) <= ANSWER_DIGEST_CHARS:
        return answer
    import hashlib

    digest = hashlib.sha256(answer.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{answer[:_ANSWER_PREFIX]}… [{len(answer) - _ANSWER_PREFIX} more characters; sha256 {digest}]"


def run_job(con, engine: Any, job: dict, timeout_s: float, row_cap: int) -> dict:
    """Execute one query and, given the gold side, its exact match and token F1.

    job: {"sql", "execute": bool = True, "check": bool = True,
          "gold": {"sql", "tokens", "fingerprint" (may be None)} | None,
          "golds": [gold as above, with "tokens" None to compute them here | None, ...] | None}
    With "golds" (one query compared with several items' gold SQL; the scorer deduplicates
    predictions), the result also carries the query's own "tokens", "content", "parsed" and
    "fingerprint" (when computed), and "golds": per gold {"em", "token_f1"} plus what was computed
    for it here ("gold_tokens", "gold_content", "gold_fingerprint"), for the scorer's caches.
    Exact match: equal sqlglot token streams (case-folded; whitespace and comments ignored), else
    equal sqlglot renderings of the two parse trees (normalised identifiers and functions).
    """
    eng = as_engine(engine)
    engine = eng.name
    sql = eng.normalise(job["sql"])
    timeout_s = float(job.get("timeout_s") or timeout_s)  # a re-run alone gets a longer limit
    # jobs come from the scorer, never from a submission: a larger budget lets the kill tests
    # hold a SQLite worker past its wall limit
    vm_steps = int(job.get("vm_steps") or DEFAULT_VM_STEPS)
    out: dict[str, Any] = {"answer": None, "error": None, "rows": 0, "seconds": 0.0}
    if not job.get("check", True) and job.get("gold") is None and job.get("golds") is None:
        # trusted SQL (a release's gold), answer only: no sqlglot pass needed
        if job.get("execute", True):
            out.update(run_query(con, engine, sql, timeout_s, row_cap, check=False, engine_check=False,
                                 vm_steps=vm_steps))
        return out
    parsed, refusal, tokens, content = parse_select(sql, engine)
    if refusal == EMPTY_QUERY and eng.runs_empty_query:
        # EHRSQL parity: the shared task's scorer runs an empty query (or only comments or ';')
        # and gets no rows, the answer `[]`, right when the gold answer is empty; SQLite decides
        refusal = None
    if refusal and job.get("check", True):
        out["error"] = f"refused: {refusal}"
    if job.get("execute", True) and out["error"] is None:
        out.update(run_query(con, engine, sql, timeout_s, row_cap, check=False,
                             engine_check=job.get("check", True), vm_steps=vm_steps))
        out["answer"] = compact_answer(out["answer"])
    own_fp: list[str] = []  # this query's fingerprint, computed at most once

    def fingerprint() -> str:
        from medbench.tasks.sql.normalize import sql_fingerprint

        if not own_fp:
            own_fp.append(sql_fingerprint(sql, DIALECTS[engine], parsed))
        return own_fp[0]

    gold = job.get("gold")
    if gold is not None:
        out.update(compare_with_gold(tokens, content, parsed is not None, fingerprint, gold, eng))
    golds = job.get("golds")
    if golds is not None:
        results = []
        for g in golds:
            if g is None:
                results.append(None)
                continue
            extra = {}
            if g.get("tokens") is None:
                gt = gold_tokens(g["sql"], eng)
                g = {**g, **gt}
                extra = {"gold_tokens": gt["tokens"], "gold_content": gt["content"]}
            results.append({**compare_with_gold(tokens, content, parsed is not None, fingerprint, g, eng),
                            **extra})
        out.update({"golds": results, "tokens": tokens, "content": content, "parsed": parsed is not None,
                    "fingerprint": own_fp[0] if own_fp else None})
    return out


def compare_with_gold(tokens: list[str], content: list[str] | None, parsed: bool, fingerprint: Callable[[], str | None],
                      gold: dict, engine: Any) -> dict:
    """{"em", "token_f1"} of a query (its tokens, content tokens, whether sqlglot parsed it, and
    its fingerprint on demand) against one gold; "gold_fingerprint" when it had to be computed.
    `fingerprint()` may return None (not known here): then "em" is None, to be decided elsewhere."""
    from medbench.tasks.sql.normalize import token_f1

    out: dict[str, Any] = {"token_f1": token_f1(tokens, gold["tokens"])}
    if tokens == gold["tokens"]:
        out["em"] = True
    elif not parsed or content is None or content != gold.get("content"):
        out["em"] = False  # different identifiers/literals: the renderings cannot be equal
    else:
        own = fingerprint()
        if own is None:
            out["em"] = None
            return out
        gfp = gold.get("fingerprint")
        if gfp is None:
            gfp = out["gold_fingerprint"] = gold_fingerprint(gold["sql"], engine)
        out["em"] = own == gfp
    return out


def _isolate_worker() -> None:
    """Worker output never reaches the scorer's stdout/stderr (a DuckDB progress bar, a library
    warning), and the worker's memory is bounded by the OS, not only by the engine's setting."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        import resource

        with open("/proc/self/statm") as f:
            vm_bytes = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = vm_bytes + WORKER_EXTRA_ADDRESS_SPACE
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no RLIMIT_AS (not Linux): the engine's memory limit alone


def _worker_main(conn, db_path: str, sql_engine: Any, timeout_s: float, row_cap: int) -> None:
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    engine = sql_engine.name
    try:
        con = sql_engine.connect(db_path)
        if engine == "duckdb":
            duckdb_checker(con)
        _isolate_worker()
    except Exception as e:
        conn.send({"fatal": _first_line(e)})
        return
    conn.send({"ready": True})
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            result = run_job(con, sql_engine, job, timeout_s, row_cap)
        except Exception as e:  # never let one item end the worker
            result = {"answer": None, "error": _first_line(e), "rows": 0, "seconds": 0.0}
        conn.send(result)


# ---------------------------------------------------------------------------------------------
# The pool

def _context():
    """forkserver: cheap, thread-safe worker starts (no fork of a threaded parent)."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["medbench.tasks.sql.execute", "medbench.tasks.sql.normalize",
                                    "sqlglot", "duckdb"])
        return ctx
    return mp.get_context("spawn")


class _Worker:
    def __init__(self, ctx, db_path: str, engine: Any, timeout_s: float, row_cap: int):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, db_path, engine, timeout_s, row_cap),
                                   daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None
        self.deadline = math.inf
        self.ready = False

    def kill(self, wait: bool = True) -> None:
        """SIGKILL the worker; `wait=False` does not wait for it to exit (a DuckDB worker holding
        gigabytes takes a few tenths of a second to die): the caller reaps it later."""
        try:
            self.process.kill()
            if wait:
                self.process.join(5)
        finally:
            self.conn.close()


class SqlPool:
    """Worker processes, each holding one locked-down connection to `db_path`.

    `map(jobs)` returns one result dict per job, in order; it never raises for a job's SQL.
    """

    def __init__(self, db_path: str | os.PathLike, engine: Any, workers: int | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, row_cap: int = DEFAULT_ROW_CAP):
        if not isinstance(engine, SqlEngine) and engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}")
        #: the engine object (dialect + profile) the workers run; `engine` stays its dialect name
        self.sql_engine = as_engine(engine)
        engine = self.sql_engine.name
        self.db_path = str(Path(db_path).resolve())
        if not Path(self.db_path).is_file():
            raise FileNotFoundError(f"database not found: {self.db_path}")
        self.engine, self.timeout_s, self.row_cap = engine, float(timeout_s), int(row_cap)
        self.n = max(1, int(workers or os.cpu_count() or 1))
        self._ctx = _context()
        self._workers: list[_Worker] = []
        self._dying: list[_Worker] = []  # killed, not yet reaped
        self.restarts = 0

    def __enter__(self) -> SqlPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.db_path, self.sql_engine, self.timeout_s, self.row_cap)

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._workers:
            w.process.join(1)
            if w.process.is_alive():
                w.kill()
            else:
                w.conn.close()
        self._workers = []
        self._reap(wait=True)

    def _reap(self, wait: bool = False) -> None:
        """Collect killed workers that have exited (all of them with `wait`)."""
        for w in list(self._dying):
            w.process.join(5 if wait else 0)
            if not w.process.is_alive():
                self._dying.remove(w)

    def start(self, n_jobs: int | None = None) -> SqlPool:
        """Start the workers now (they open the database while the caller does other work)."""
        while len(self._workers) < min(self.n, max(1, n_jobs if n_jobs is not None else self.n)):
            self._workers.append(self._spawn())
        return self

    def map(self, jobs: Sequence[dict], on_result: Callable[[int, dict], None] | None = None,
            retry: bool = True) -> list[dict]:
        """One result per job, in order. A job that hit the wall-clock limit, lost its worker or
        ran out of memory (`hit_wall_limit`) is run again alone (one worker busy) with
        `RETRY_TIMEOUT_FACTOR` × the limit; if that fails the same way its error is
        `resource_limit: …`. So machine load decides no outcome a re-run alone would change.
        `retry=False`: one attempt each (a wall-limit hit is returned as it is)."""
        results: list[dict | None] = [None] * len(jobs)

        def first(i: int, res: dict) -> None:
            results[i] = res
            if on_result is not None and not hit_wall_limit(res.get("error")):
                on_result(i, res)

        self._map(jobs, range(len(jobs)), first, self.n, self.timeout_s)
        again_ids = [i for i, r in enumerate(results) if r is not None and hit_wall_limit(r.get("error"))]
        if again_ids and not retry:
            for i in again_ids:
                if on_result is not None:
                    on_result(i, results[i])
        elif again_ids:
            long_s = self.timeout_s * RETRY_TIMEOUT_FACTOR
            rjobs = {i: {**jobs[i], "timeout_s": long_s} for i in again_ids}

            def again(i: int, res: dict) -> None:
                if hit_wall_limit(res.get("error")):
                    res = {**res, "answer": None, "error": f"{RESOURCE_LIMIT}: query exceeded the {self.timeout_s:g} s "
                                                          f"time limit, and {long_s:g} s when run again alone"}
                results[i] = res
                if on_result is not None:
                    on_result(i, res)

            self._map(rjobs, again_ids, again, 1, long_s)
        return [r for r in results]  # type: ignore[misc]

    def _map(self, jobs, order, finish: Callable[[int, dict], None], concurrency: int, timeout_s: float) -> None:
        pending = deque(order)
        self.start(len(pending))
        hard_limit = timeout_s + KILL_MARGIN_S
        restarts_at_start = self.restarts  # a long-lived pool: only this call's restarts count
        n_jobs = len(pending)

        def replace(w: _Worker, reason: str) -> None:
            if w.job is not None:
                finish(w.job, {"answer": None, "error": reason, "rows": 0, "seconds": hard_limit})
            w.kill(wait=False)  # the result is known now; the process is reaped on a later pass
            self._dying.append(w)
            self.restarts += 1
            self._workers[self._workers.index(w)] = self._spawn()

        while pending or any(w.job is not None for w in self._workers):
            if self.restarts - restarts_at_start > 3 * self.n + n_jobs:  # workers keep dying on start: give up
                self.close()
                raise RuntimeError(f"SQL workers for {self.db_path} keep crashing")
            for w in self._workers:
                if w.ready and w.job is None and pending and \
                        sum(1 for x in self._workers if x.job is not None) < concurrency:
                    i = pending.popleft()
                    try:
                        w.conn.send(jobs[i])
                    except OSError:
                        pending.appendleft(i)
                        replace(w, "worker died")
                        continue
                    w.job, w.deadline = i, time.monotonic() + hard_limit
            busy_deadlines = [w.deadline for w in self._workers if w.job is not None]
            wait_s = max(0.0, min(busy_deadlines) - time.monotonic()) if busy_deadlines else 1.0
            ready = mp_wait([w.conn for w in self._workers] + [w.process.sentinel for w in self._workers],
                            timeout=min(wait_s, 1.0))
            for w in list(self._workers):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        replace(w, "worker crashed while running this query")
                        continue
                    if "fatal" in msg:
                        self.close()
                        raise RuntimeError(f"cannot open {self.db_path}: {msg['fatal']}")
                    if msg.get("ready"):
                        w.ready = True
                        continue
                    i, w.job, w.deadline = w.job, None, math.inf
                    if i is not None:
                        finish(i, msg)
                elif w.process.sentinel in ready and not w.process.is_alive():
                    replace(w, "worker crashed while running this query")
            now = time.monotonic()
            for w in list(self._workers):
                if w.job is not None and now > w.deadline:
                    replace(w, f"query exceeded the {timeout_s:g} s time limit (worker killed)")
            self._reap()

