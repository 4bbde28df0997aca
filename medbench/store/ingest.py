"""Ingest a MIMIC-IV copy in PhysioNet's layout into one typed DuckDB database, once.

The database records a fingerprint of its source (file names and sizes, plus the release's
SHA256SUMS.txt when present); every command reuses it while the fingerprint matches and
re-ingests when the source changed. The database is built in a temp file and renamed into
place, so a failed ingest never leaves a half-built store behind.

Verified before use: `<store>.check.json` beside it records, at build time, the file's size,
mtime, sha256 and the sha256 of its first and last MiB (`STORE_ENDS_BYTES`). An open compares
size and mtime (a stat) and the two ends (2 MiB read); only when size or mtime changed is the whole
file hashed again (equal: the record is refreshed; different: damaged). A damaged store (or one
DuckDB cannot open) is rebuilt from its source with one warning; when the source is gone, one
error line. Damage that keeps size and mtime and misses both ends is left to DuckDB's own block
checksums, which fail the read that touches it (docs/ARCHITECTURE.md, "Verified stores").
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import time
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from medbench import config
from medbench.errors import MissingFeatureData, UserError
from medbench.store.tables import SOURCE_SUFFIXES, TABLES, TableSpec, db_table_name

#: bytes at each end of a store hashed on every open (DuckDB's file headers at the start, the
#: last checkpoint's blocks at the end)
STORE_ENDS_BYTES = 1 << 20
#: Bump when ingest's output changes shape, so old stores are rebuilt.
STORE_FORMAT = 3  # 2: hadm_id-keyed tables stored sorted by hadm_id; 3: + EMAR_PRODUCT_TABLE
#: The modules a store may hold; `ingest --modules` keeps a subset (hosp is always needed).
MODULES = ("hosp", "icu", "note", "ed")
META_TABLE = "_medbench_meta"
#: Derived at ingest when emar and emar_detail are both present: per (hadm_id, emar_id) of emar,
#: the emar_id's first product line of emar_detail (what packets' eMAR rows show), sorted by
#: hadm_id, so a batch of admissions reads only its row groups instead of all of emar_detail.
EMAR_PRODUCT_TABLE = "_medbench_emar_product"
EMAR_PRODUCT_FIELDS = ("dose_given", "dose_given_unit", "product_description", "infusion_rate",
                       "infusion_rate_unit", "route", "administration_type")


@dataclass
class SourceFile:
    spec: TableSpec
    path: Path

    @property
    def table(self) -> str:
        return db_table_name(self.spec)


@dataclass
class Store:
    """A ready DuckDB store; open connections with `connect()` (read-only by default)."""

    path: Path
    source: Path
    fingerprint: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> row count
    ingested: bool = False  # True when this call built the database
    seconds: float = 0.0

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(str(self.path), read_only=read_only)
        config.apply_duckdb_settings(con)
        return con

    def has(self, table: str) -> bool:
        return table in self.tables

    def require(self, table: str, feature: str) -> None:
        if table not in self.tables:
            raise MissingFeatureData(
                f"{feature} needs table '{table}', which is not in the MIMIC copy at {self.source}"
            )


def resolve_mimic_dir(mimic_dir: str | os.PathLike | None) -> Path:
    """--mimic-dir, else $MEDBENCH_MIMIC_DIR, else the embedded synthetic dataset (made once)."""
    if mimic_dir:
        return Path(mimic_dir).expanduser()
    env = config.env_mimic_dir()
    if env:
        return env
    return ensure_default_synthetic()


def ensure_default_synthetic() -> Path:
    out = config.default_synth_dir()
    if (out / "SHA256SUMS.txt").exists():
        return out
    from medbench.store.synth import generate

    generate(out, patients=config.DEFAULT_SYNTH_PATIENTS, seed=config.DEFAULT_SYNTH_SEED)
    return out


def parse_modules(spec: str | None) -> tuple[str, ...] | None:
    """`--modules hosp,icu,note,ed` → the modules kept (hosp always); None = all."""
    if spec is None:
        return None
    names = {m.strip() for m in spec.split(",") if m.strip()}
    unknown = sorted(names - set(MODULES))
    if unknown:
        raise UserError(f"--modules: unknown module '{unknown[0]}' (known: {', '.join(MODULES)})")
    if "hosp" not in names:
        raise UserError("--modules: hosp is required (admissions, patients, diagnoses)")
    return tuple(m for m in MODULES if m in names)


def find_sources(mimic_dir: Path, modules: tuple[str, ...] | None = None
                 ) -> tuple[list[SourceFile], list[TableSpec]]:
    """Locate every known table's file (of `modules`, default all); return (found, missing)."""
    found, missing = [], []
    for spec in TABLES:
        if modules is not None and spec.module not in modules:
            continue
        for suffix in SOURCE_SUFFIXES:
            p = mimic_dir / spec.module / f"{spec.name}{suffix}"
            if p.is_file():
                found.append(SourceFile(spec, p))
                break
        else:
            missing.append(spec)
    return found, missing


def fingerprint(mimic_dir: Path, sources: list[SourceFile], modules: tuple[str, ...] | None = None) -> str:
    h = hashlib.sha256()
    h.update(f"medbench-store-format={STORE_FORMAT}\n".encode())
    if modules is not None:  # absent for all modules, so such stores keep their fingerprint
        h.update(f"modules={','.join(modules)}\n".encode())
    for sf in sorted(sources, key=lambda s: s.path.relative_to(mimic_dir).as_posix()):
        h.update(f"{sf.path.relative_to(mimic_dir).as_posix()}\t{sf.path.stat().st_size}\n".encode())
    sums = mimic_dir / "SHA256SUMS.txt"
    if sums.is_file():
        h.update(b"SHA256SUMS\n" + sums.read_bytes())
    return h.hexdigest()


def default_db_path(mimic_dir: Path) -> Path:
    key = hashlib.sha256(str(mimic_dir.resolve()).encode()).hexdigest()[:16]
    return config.medbench_home() / "stores" / f"{key}.duckdb"


def _read_header(path: Path) -> list[str]:
    """The header of a CSV/CSV.GZ file, or the column names of a parquet file."""
    try:
        if path.name.endswith(".parquet"):
            con = duckdb.connect()
            try:
                rel = con.sql(f"SELECT * FROM read_parquet({_sql_str(path)}) LIMIT 0")
                return [c.lower() for c in rel.columns]
            finally:
                con.close()
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            line = f.readline()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, duckdb.Error) as e:
        raise UserError(f"cannot read {path}: {_first_line(e)}") from e
    if not line.strip():
        raise UserError(f"cannot read {path}: the file is empty (no header line)")
    return [c.strip().strip('"').lower() for c in line.rstrip("\r\n").split(",")]


def _sql_str(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _select_sql(sf: SourceFile, header: list[str]) -> str:
    """The typed SELECT of a source file; tables with a hadm_id are sorted by it (then by every
    column, so the stored order is total and thread-independent): a batch of admissions then reads
    only the row groups whose hadm_id zone map overlaps it (linear bulk extraction)."""
    sql = _typed_select_sql(sf, header)
    cols = list(sf.spec.columns) + [c for c in header if c not in {k.lower() for k in sf.spec.columns}]
    if "hadm_id" in sf.spec.columns and sf.spec.name != "admissions":
        order = ", ".join(f'"{c.lower()}" NULLS LAST' for c in ["hadm_id"] + [c for c in cols if c != "hadm_id"])
        sql = f"SELECT * FROM ({sql}) ORDER BY {order}"
    return sql


def _emar_product_sql() -> str:
    """The first product line of every emar_id (ordinal '1.1' first; every column of the line breaks
    ties), with administration_type the least over all its lines, for each (hadm_id, emar_id) of emar."""
    prod = [f for f in EMAR_PRODUCT_FIELDS if f != "administration_type"]
    order = ", ".join(f"d.{c}" for c in ["parent_field_ordinal", "dose_given", "product_description",
                                         "route", "infusion_rate", "dose_given_unit", "infusion_rate_unit"])
    prod_struct = ", ".join(f"{c} := d.{c}" for c in prod)
    return (f"CREATE TABLE {EMAR_PRODUCT_TABLE} AS SELECT e.hadm_id, e.emar_id, "
            f"{', '.join('ed.prod.' + c + ' AS ' + c for c in prod)}, ed.administration_type "
            "FROM (SELECT DISTINCT hadm_id, emar_id FROM emar WHERE hadm_id IS NOT NULL) e "
            f"JOIN (SELECT d.emar_id, first(struct_pack({prod_struct}) ORDER BY {order}) "
            "FILTER (WHERE d.parent_field_ordinal IS NOT NULL) AS prod, "
            "min(d.administration_type) AS administration_type "
            "FROM emar_detail d GROUP BY d.emar_id) ed ON ed.emar_id = e.emar_id "
            "ORDER BY e.hadm_id, e.emar_id")


def _typed_select_sql(sf: SourceFile, header: list[str]) -> str:
    if sf.path.name.endswith(".parquet"):
        source = f"read_parquet({_sql_str(sf.path)})"
    else:
        source = (
            f"read_csv({_sql_str(sf.path)}, header=true, all_varchar=true, delim=',', quote='\"', "
            f"escape='\"', auto_detect=false, "
            "columns={" + ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in header) + "})"
        )
    exprs = []
    known = {c.lower() for c in sf.spec.columns}
    for col in list(sf.spec.columns) + [c for c in header if c not in known]:
        name = col.lower()
        exprs.append(f'CAST("{name}" AS {sf.spec.sql_type(name)}) AS "{name}"')
    return f"SELECT {', '.join(exprs)} FROM {source}"


def _progress():
    from medbench.progress import progress_bar

    return progress_bar()


def ingest(mimic_dir: str | os.PathLike, db_path: str | os.PathLike | None = None,
           force: bool = False, show_progress: bool = True,
           modules: str | tuple[str, ...] | None = None) -> Store:
    """Ingest `mimic_dir` into `db_path` unless an up-to-date store is already there.

    `modules` (e.g. "hosp,icu,note") keeps only those modules' tables; without it an existing
    store made with a module subset is reused while that subset's files are unchanged."""
    mimic_dir = Path(mimic_dir).expanduser()
    db_path = Path(db_path).expanduser() if db_path else default_db_path(mimic_dir)
    if not mimic_dir.is_dir():
        why = store_damage(db_path) if db_path.is_file() else None
        if why is not None:
            raise UserError(f"{db_path}: damaged store ({why}) cannot be rebuilt: MIMIC directory not found: "
                            f"{mimic_dir}")
        raise UserError(f"MIMIC directory not found: {mimic_dir}")
    if isinstance(modules, str):
        modules = parse_modules(modules)
    if modules is None and not force:
        prior = _stored_modules(db_path)
        if prior is not None:
            sources, _ = find_sources(mimic_dir, prior)
            existing = _load_existing(db_path, fingerprint(mimic_dir, sources, prior), mimic_dir)
            if existing is not None:
                return existing
    sources, missing = find_sources(mimic_dir, modules)
    missing_required = [s for s in missing if s.required]
    if missing_required:
        names = ", ".join(s.relpath for s in missing_required)
        raise UserError(
            f"{mimic_dir}: missing required tables: {names} (looked for .csv.gz, .csv, .parquet)"
        )
    fp = fingerprint(mimic_dir, sources, modules)
    db_path.parent.mkdir(parents=True, exist_ok=True)

    with _lock(db_path):
        if not force:
            existing = _load_existing(db_path, fp, mimic_dir)
            if existing is not None:
                return existing
        for spec in missing:
            if spec.module in ("hosp", "icu") or spec.name in ("discharge", "radiology"):
                warnings.warn(f"optional table {spec.relpath} not found in {mimic_dir}; "
                              "features that need it are unavailable", stacklevel=2)
        headers = {}
        for sf in sources:  # validate every header before doing any work
            header = _read_header(sf.path)
            absent = [c for c in sf.spec.columns if c.lower() not in header]
            if absent:
                raise UserError(f"{sf.path}: missing column(s) {', '.join(absent)}")
            headers[sf.table] = header
        start = time.perf_counter()
        tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
        # what killed ingests left (`.<db>.<pid>.tmp` and its `.wal`): swept when the pid is gone
        from medbench.io import sweep_stale

        sweep_stale(db_path.parent, rf"^\.{re.escape(db_path.name)}\.(\d+)\.tmp(?:\.wal)?$")
        _remove_db(tmp)
        counts: dict[str, int] = {}
        try:
            con = duckdb.connect(str(tmp))
            try:
                con.execute("SET preserve_insertion_order = true")
                config.apply_duckdb_settings(con)  # bounded memory: big sorts spill to disk
                ctx = _progress() if show_progress else contextlib.nullcontext()
                with ctx as progress:
                    task = progress.add_task("ingest", total=len(sources)) if progress else None
                    for sf in sources:
                        if progress:
                            progress.update(task, description=f"ingest {sf.spec.relpath}")
                        try:
                            con.execute(f'CREATE TABLE "{sf.table}" AS {_select_sql(sf, headers[sf.table])}')
                        except duckdb.Error as e:
                            raise UserError(f"{sf.path}: {_first_line(e)}") from e
                        counts[sf.table] = con.execute(f'SELECT count(*) FROM "{sf.table}"').fetchone()[0]
                        if progress:
                            progress.advance(task)
                if "emar" in counts and "emar_detail" in counts:
                    con.execute(_emar_product_sql())
                meta = {
                    "fingerprint": fp,
                    "source": str(mimic_dir.resolve()),
                    "tables": counts,
                    "store_format": STORE_FORMAT,
                    "modules": list(modules) if modules is not None else None,
                }
                con.execute(f"CREATE TABLE {META_TABLE} (key VARCHAR, value VARCHAR)")
                con.executemany(f"INSERT INTO {META_TABLE} VALUES (?, ?)",
                                [(k, json.dumps(v, sort_keys=True)) for k, v in meta.items()])
                con.execute("CHECKPOINT")
            finally:
                con.close()
            # the record the next open checks (written first: a kill between the two leaves an old
            # store that fails it and is rebuilt, never a new store without its record)
            record = _check_record(tmp)
            from medbench.io import atomic_write_text, sweep_atomic_temps

            sweep_atomic_temps(_check_path(db_path))
            atomic_write_text(_check_path(db_path), json.dumps(record, sort_keys=True) + "\n")
            # os.replace swaps the file atomically; only a stale WAL of the old one must go.
            with contextlib.suppress(FileNotFoundError):
                db_path.with_name(db_path.name + ".wal").unlink()
            os.replace(tmp, db_path)
            _VERIFIED[str(db_path)] = _stat_key(db_path)
        except BaseException:
            _remove_db(tmp)
            raise
        seconds = time.perf_counter() - start
    return Store(db_path, mimic_dir, fp, counts, ingested=True, seconds=seconds)


def _remove_db(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _stored_modules(db_path: Path) -> tuple[str, ...] | None:
    """The module subset an existing store was ingested with (None: all, or no store)."""
    if not db_path.is_file():
        return None
    try:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            row = con.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'modules'").fetchone()
        finally:
            con.close()
    except duckdb.Error:
        return None
    mods = json.loads(row[0]) if row else None
    return tuple(mods) if mods else None


def _load_existing(db_path: Path, fp: str, mimic_dir: Path) -> Store | None:
    if not db_path.is_file():
        return None
    why = store_damage(db_path)
    if why is not None:
        _warn_damaged(db_path, why)
        return None
    try:
        rows = _read_meta(db_path)
    except (duckdb.Error, ValueError) as e:
        _warn_damaged(db_path, f"DuckDB cannot read it: {_first_line(e)}")
        return None
    if json.loads(rows.get("fingerprint", "null")) != fp:
        return None
    return Store(db_path, mimic_dir, fp, json.loads(rows["tables"]))


def _read_meta(db_path: Path) -> dict:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return dict(con.execute(f"SELECT key, value FROM {META_TABLE}").fetchall())
    finally:
        con.close()


# Verified stores -------------------------------------------------------------------------------

_VERIFIED: dict[str, tuple] = {}  # store path -> (size, mtime_ns, inode) verified in this process
_WARNED: set[tuple] = set()  # (path, identity) warned about: one warning per damaged file


def _check_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".check.json")


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _ends_sha256(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read(STORE_ENDS_BYTES))
        if size > STORE_ENDS_BYTES:
            f.seek(max(STORE_ENDS_BYTES, size - STORE_ENDS_BYTES))
            h.update(f.read(STORE_ENDS_BYTES))
    return h.hexdigest()


def _check_record(path: Path, sha256: str | None = None) -> dict:
    from medbench.io import sha256_file

    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256 or sha256_file(path),
            "ends_sha256": _ends_sha256(path, st.st_size), "store_format": STORE_FORMAT}


def store_damage(db_path: Path) -> str | None:
    """Why the store at `db_path` cannot be trusted, or None. Cheap while size and mtime are
    those recorded at build time (a stat and 2 MiB read); the whole file is hashed only when they
    changed. A store without a record (older medbench) is trusted if DuckDB reads its metadata,
    and the record is written then."""
    try:
        key = _stat_key(db_path)
    except OSError as e:
        return f"cannot stat it: {e.strerror}"
    if _VERIFIED.get(str(db_path)) == key:
        return None
    size, mtime_ns = key[0], key[1]
    rec_path = _check_path(db_path)
    try:
        record = json.loads(rec_path.read_text())
    except FileNotFoundError:
        record = None
    except (OSError, ValueError, UnicodeDecodeError):
        record = {}
    if record is not None and (not isinstance(record, dict) or not isinstance(record.get("sha256"), str)):
        record = None  # a damaged record: verified again from scratch below
        with contextlib.suppress(OSError):
            rec_path.unlink()
    try:
        if record is None:
            if size == 0:
                return "the file is empty"
            try:
                _read_meta(db_path)
            except (duckdb.Error, ValueError) as e:
                return f"DuckDB cannot read it: {_first_line(e)}"
            from medbench.io import atomic_write_text

            with contextlib.suppress(OSError):
                atomic_write_text(rec_path, json.dumps(_check_record(db_path), sort_keys=True) + "\n")
        elif record.get("size") == size and record.get("mtime_ns") == mtime_ns:
            if _ends_sha256(db_path, size) != record.get("ends_sha256"):
                return "its first or last MiB does not match the sha256 recorded at build time"
        else:
            from medbench.io import sha256_file

            digest = sha256_file(db_path)
            if digest != record["sha256"]:
                return "it does not match the sha256 recorded at build time"
            from medbench.io import atomic_write_text

            with contextlib.suppress(OSError):  # the same bytes (copied, touched): new size/mtime
                atomic_write_text(rec_path, json.dumps(_check_record(db_path, digest), sort_keys=True) + "\n")
    except OSError as e:
        return f"cannot read it: {e.strerror}"
    _VERIFIED[str(db_path)] = key
    return None


def _warn_damaged(db_path: Path, why: str) -> None:
    try:
        ident = (str(db_path), _stat_key(db_path))
    except OSError:
        ident = (str(db_path), None)
    _VERIFIED.pop(str(db_path), None)
    if ident in _WARNED:
        return
    _WARNED.add(ident)
    warnings.warn(f"{db_path}: damaged store ({why}); rebuilding it from its source", stacklevel=3)


@contextlib.contextmanager
def _lock(db_path: Path):
    """Serialise ingests of one database across processes."""
    with open(db_path.with_name(f".{db_path.name}.lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def open_store(mimic_dir: str | os.PathLike | None = None, db_path: str | os.PathLike | None = None,
               show_progress: bool = True, modules: str | tuple[str, ...] | None = None) -> Store:
    """The store for --mimic-dir (or its defaults), ingesting it first if needed."""
    return ingest(resolve_mimic_dir(mimic_dir), db_path, show_progress=show_progress, modules=modules)
