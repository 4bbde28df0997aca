"""Paths and defaults, overridable through environment variables."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Size and seed of the embedded synthetic dataset used when no MIMIC copy is named.
DEFAULT_SYNTH_PATIENTS = 300
DEFAULT_SYNTH_SEED = 0


def medbench_home() -> Path:
    """Cache root: `$MEDBENCH_HOME`, default `~/.cache/medbench`."""
    env = os.environ.get("MEDBENCH_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "medbench"


def env_mimic_dir() -> Path | None:
    env = os.environ.get("MEDBENCH_MIMIC_DIR")
    return Path(env).expanduser() if env else None


def default_synth_dir() -> Path:
    return medbench_home() / "synthetic" / f"p{DEFAULT_SYNTH_PATIENTS}-s{DEFAULT_SYNTH_SEED}"


#: Default memory budget of one medbench process (build, extract, ingest): DuckDB gets half of it
#: (its `memory_limit`, spilling to `temp_directory` beyond), Python's batches the rest.
DEFAULT_MEMORY_LIMIT = "4GB"


def _parse_bytes(text: str, what: str = "memory limit") -> int:
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*", text, re.I)
    if not m:
        from medbench.errors import UserError

        raise UserError(f"{what}: expected a size such as 4GB or 1500MB, got {text!r}")
    unit = (m.group(2) or "B").upper().replace("I", "").rstrip("B") or "B"
    mult = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}[unit]
    return int(float(m.group(1)) * mult)


def memory_limit_bytes() -> int:
    """`$MEDBENCH_MEMORY_LIMIT` (e.g. 4GB, 1500MB), default DEFAULT_MEMORY_LIMIT."""
    return _parse_bytes(os.environ.get("MEDBENCH_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT)


#: A release's items, gold and context files larger than this are written zstandard-compressed
#: (`<name>.jsonl.zst`, medbench.io.ZSTD_LEVEL); smaller ones stay plain `.jsonl`.
DEFAULT_COMPRESS_OVER = "8MiB"


def compress_over_bytes() -> int:
    """`$MEDBENCH_COMPRESS_OVER` (e.g. 8MiB, 0 = compress every file), default DEFAULT_COMPRESS_OVER."""
    return _parse_bytes(os.environ.get("MEDBENCH_COMPRESS_OVER") or DEFAULT_COMPRESS_OVER, "MEDBENCH_COMPRESS_OVER")


def duckdb_threads() -> int | None:
    """`$MEDBENCH_THREADS`: DuckDB threads (default: DuckDB's, one per core)."""
    env = os.environ.get("MEDBENCH_THREADS")
    return int(env) if env else None


def duckdb_settings() -> dict[str, str]:
    """Settings every medbench DuckDB connection gets: memory_limit (half the budget),
    temp_directory under MEDBENCH_HOME (spill), threads when set. Results do not depend on them."""
    out = {"memory_limit": f"{max(64, memory_limit_bytes() // 2 // 1024**2)}MB",
           "temp_directory": str(medbench_home() / "duckdb-tmp")}
    if duckdb_threads():
        out["threads"] = str(duckdb_threads())
    return out


def duckdb_memory_settings() -> dict[str, str]:
    """The memory part of `duckdb_settings` (memory_limit, temp_directory), for connections whose
    thread count is fixed for determinism (the SQL builder's threads=1): a `duckdb.connect`
    config, or `apply_duckdb_settings(con, threads=False)`."""
    return {k: v for k, v in duckdb_settings().items() if k != "threads"}


#: DuckDB memory (MB) of the build's scratch instances (the SQL export's sorts, materialising a
#: release database), which run beside the store's own connection: beyond it they spill to
#: temp_directory, so they no longer fill a whole share each as the released tables grow
#: (40k patients: export peak 880 -> 396 MiB for 1.23x its CPU, same bytes; docs/BENCHMARKS.md, s25).
SCRATCH_MEMORY_MB = 256


def duckdb_scratch_settings() -> dict[str, str]:
    """`duckdb_memory_settings` with memory_limit lowered to SCRATCH_MEMORY_MB (never raised)."""
    out = duckdb_memory_settings()
    share_mb = int(out["memory_limit"].removesuffix("MB"))
    out["memory_limit"] = f"{min(share_mb, SCRATCH_MEMORY_MB)}MB"
    return out


def apply_duckdb_settings(con, threads: bool = True, scratch: bool = False) -> None:
    """SET every `duckdb_settings` on `con`; `threads=False`: the memory ones only; `scratch`:
    the memory ones with the scratch limit (`duckdb_scratch_settings`). Creates MEDBENCH_HOME,
    since DuckDB creates only the last level of temp_directory when it first spills."""
    settings = duckdb_scratch_settings() if scratch else duckdb_settings() if threads else duckdb_memory_settings()
    Path(settings["temp_directory"]).parent.mkdir(parents=True, exist_ok=True)
    for k, v in settings.items():
        con.execute(f"SET {k} = '{v}'" if k != "threads" else f"SET threads = {int(v)}")


#: DuckDB memory (MB) while a connection runs whole-release scans that read each block once (the
#: SQL family's population-level queries): the blocks a scan reads stay in DuckDB's buffer pool up
#: to the memory limit, so one query over the 40k release's labevents left 250 MB cached; capped,
#: +32-46 MiB, the same rows and CPU (docs/BENCHMARKS.md, s28). A query that needs more working
#: memory than this and cannot spill is run again at the full share (`fetch_in_scan_share`).
SCAN_MEMORY_MB = 64


def _scan_limit() -> str:
    return f"{min(SCAN_MEMORY_MB, int(duckdb_settings()['memory_limit'].removesuffix('MB')))}MB"


@contextlib.contextmanager
def scan_share(con):
    """Lower `con`'s memory_limit to SCAN_MEMORY_MB (never raised) for the block, then restore the
    limit `duckdb_settings` gives every medbench connection. Results do not depend on it."""
    full = duckdb_settings()["memory_limit"]
    con.execute(f"SET memory_limit = '{_scan_limit()}'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{full}'")


def fetch_in_scan_share(con, sql: str) -> tuple[list[str], list[tuple]]:
    """(column names, rows) of `sql`, inside `scan_share`: on DuckDB's out-of-memory error the
    query runs again at the full share (read-only queries: nothing to undo), then the cap returns."""
    import duckdb

    try:
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()
    except duckdb.OutOfMemoryException:
        con.execute(f"SET memory_limit = '{duckdb_settings()['memory_limit']}'")
        try:
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
        finally:
            con.execute(f"SET memory_limit = '{_scan_limit()}'")


#: What `release_cached_blocks` shrinks DuckDB's buffer pool to between batches (MB).
CACHE_RELEASE_FLOOR_MB = 16


def release_cached_blocks(con) -> None:
    """Evict the table blocks DuckDB keeps cached after a batch, then restore `memory_limit`.

    DuckDB keeps every block it reads from a database file in its buffer pool until the
    memory limit forces eviction (lowering the limit is the documented way to release them,
    duckdb/duckdb#5455). A batched build reads each batch's rows once, so the cache only grows
    with the store — up to DuckDB's whole share — and the process's peak with it; dropping it
    between batches keeps the cache from growing with the dataset (docs/BENCHMARKS.md, s24).
    Results do not depend on it; a block still pinned (an open cursor) just stays, so this never
    fails. The limit restored is the one `duckdb_settings` gives every medbench connection."""
    import duckdb

    limit = duckdb_settings()["memory_limit"]
    try:
        con.execute(f"SET memory_limit = '{CACHE_RELEASE_FLOOR_MB}MB'")
    except duckdb.Error:  # could not free enough (pinned blocks): keep what is pinned
        pass
    finally:
        con.execute(f"SET memory_limit = '{limit}'")
