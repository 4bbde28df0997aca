"""Deterministic serialisation and atomic file/directory writes.

Every file medbench writes goes through here so that (a) the same inputs give the same bytes
(sorted keys, fixed float formatting, '\n' line endings) and (b) a crash never leaves a
half-written file or folder where a good one was.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

FLOAT_DIGITS = 6


def normalise_float(x: float | None) -> float | None:
    """The one float rule: FLOAT_DIGITS places, NaN/inf as null, and -0.0 as 0.0 (so both
    serialise the same); integral floats stay floats (3.0)."""
    if x is None or math.isnan(x) or math.isinf(x):
        return None
    r = round(x, FLOAT_DIGITS)
    return 0.0 if r == 0 else r


def _normalise(obj: Any) -> Any:
    """Make a JSON-ready value machine-independent: fixed float precision, ISO timestamps."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return normalise_float(obj)
    if isinstance(obj, dict):
        return {str(k): _normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalise(v) for v in obj]
    if isinstance(obj, _dt.datetime):
        return obj.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if hasattr(obj, "model_dump"):
        return _normalise(obj.model_dump(mode="json"))
    try:  # Decimal and numpy scalars
        return _normalise(float(obj))
    except (TypeError, ValueError):
        return str(obj)


def canonical_json(obj: Any, indent: int | None = None) -> str:
    """Deterministic JSON: sorted keys, normalised floats, UTF-8 text kept readable."""
    if indent is None:
        return json.dumps(_normalise(obj), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return json.dumps(_normalise(obj), sort_keys=True, ensure_ascii=False, indent=indent)


def jsonl_lines(records: Iterable[Any]) -> Iterator[str]:
    for rec in records:
        yield canonical_json(rec) + "\n"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_sha256(root: str | os.PathLike) -> dict[str, str]:
    """{relative posix path: sha256} of every file under `root`, sorted (manifests)."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with files
# created by other threads (the runner's writer thread, sqlite) if done on every write.
_UMASK = _read_umask()


def _default_mode(is_dir: bool) -> int:
    """Permissions a plain open()/mkdir() would give; mkstemp/mkdtemp use 0600/0700."""
    return (0o777 if is_dir else 0o666) & ~_UMASK


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def check_output_path(path: str | os.PathLike, option: str | None = None) -> None:
    """Refuse to write over anything that exists and is not a regular file or a folder (a device
    such as /dev/full, a FIFO, a socket, a dangling link): a rename would replace it."""
    from medbench.errors import UserError

    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        if os.path.lexists(p):
            raise UserError(f"{option + ': ' if option else ''}{p}: is a dangling symbolic link; "
                            "refusing to write there") from None
        return
    except NotADirectoryError:
        return  # a file on the way: the write itself reports it
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    raise UserError(f"{option + ': ' if option else ''}{p}: exists and is {kind}, not a regular file or "
                    "folder; refusing to replace it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it over `path`, on error delete it."""
    path = Path(path)
    check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # the pid in the name: what a killed writer left is found by `sweep_atomic_temps`
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _default_mode(is_dir=False))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, canonical_json(obj, indent=indent) + "\n")


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            for line in jsonl_lines(records):
                f.write(line)
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a temp sibling, then swap it in for `path` in one rename step.

    If the body raises, the temp folder is removed and any existing `path` is untouched.
    """
    path = Path(path)
    check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, _default_mode(is_dir=True))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists() and _exchange(tmp, path):
        # One atomic step: `path` is now the new folder and `tmp` holds the old one.
        fsync_dir(path.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = None
    if path.exists():  # no atomic exchange here: a crash between the two renames leaves `.old`
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    import ctypes
    import ctypes.util
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # filesystem or kernel without it
        return False
    raise OSError(err, os.strerror(err), str(b))


def check_out_dir(path: str | os.PathLike, option: str = "--out") -> None:
    """Fail before any work if `path` cannot become a folder: it, or the nearest existing path
    above it, is not a folder (a file). Creates nothing."""
    from medbench.errors import UserError

    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    if p.exists() and not p.is_dir():
        raise UserError(f"{option}: {path}: {p} is not a folder")


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """The records of a JSON-lines file, plain or zstandard-compressed (name ending `.zst`)."""
    with open_text(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- zstandard (release files)

ZST = ".zst"
#: fixed compression level and no threads (zstd frames carry no timestamps or names), so the same
#: file gives the same compressed bytes on every machine
ZSTD_LEVEL = 10


@contextlib.contextmanager
def open_text(path: str | os.PathLike) -> Iterator[Any]:
    """A text (UTF-8) reader of `path`, decompressing a name ending `.zst` as it streams."""
    import io

    path = Path(path)
    if not path.name.endswith(ZST):
        with open(path, encoding="utf-8") as f:
            yield f
        return
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with io.TextIOWrapper(reader, encoding="utf-8", newline="") as f:
            try:
                yield f
            except zstandard.ZstdError as e:
                raise ValueError(f"{path}: not a valid zstandard file ({e})") from None


def zstd_compress_file(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Compress `src` to `dest` (one zstd frame, content size and checksum written; level
    ZSTD_LEVEL, single-threaded): byte-identical output for the same input."""
    import zstandard

    cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_checksum=True, write_content_size=True, threads=0)
    with open(src, "rb") as fi, open(dest, "wb") as fo:
        cctx.copy_stream(fi, fo, size=os.path.getsize(src))


# ---------------------------------------------------------------- scratch space, no litter

def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: str | os.PathLike, pattern: str) -> list[Path]:
    """Remove entries of `folder` whose name matches `pattern` (a regex with one group: the owning
    pid) when that process is gone: what a killed run left behind. Returns what was removed."""
    import re

    folder, rx, removed = Path(folder), re.compile(pattern), []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = rx.match(p.name)
        if not m or int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


def sweep_atomic_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files `atomic_path` made for `path` in processes that no longer exist (a
    write killed before its rename). Callers that rewrite one file often (caches, check records)
    call it before writing; it lists the folder once."""
    import re

    path = Path(path)
    return sweep_stale(path.parent, rf"^\.{re.escape(path.name)}\.(\d+)\.[^.]+\.tmp$")


SCRATCH_PATTERN = r"^[a-z]+-(\d+)-"


@contextlib.contextmanager
def scratch_dir(kind: str) -> Iterator[Path]:
    """A scratch folder `$MEDBENCH_HOME/tmp/<kind>-<pid>-XXXX`, removed on exit (also on error);
    folders of processes that no longer exist are swept first."""
    from medbench.config import medbench_home

    root = medbench_home() / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    sweep_stale(root, SCRATCH_PATTERN)
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ------------------------------------------------------------ scratch-file indexes (issue 12)


class IntKeyTable:
    """int key -> a fixed-width row of ints (a scratch file's offset and length, a count), kept
    flat in sorted `array('q')`s: 8 bytes a field, against ~200 bytes a key for a dict of tuples —
    at full-MIMIC scale (millions of records and admissions) such dicts were whole-release
    structures in Python. New keys wait in a small dict and are merged into the arrays in chunks
    (`CHUNK`, or 1/16 of the table when larger; numpy does each O(n) merge), lookups bisect the
    array (~0.5 µs).

    Insert-only: `add` of a key already present is an error (the callers dedupe first)."""

    CHUNK = 1 << 13

    def __init__(self, width: int):
        from array import array

        self.width = int(width)
        self._keys = array("q")
        self._rows = array("q")  # row i is _rows[i * width:(i + 1) * width]
        self._pending: dict[int, tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self._keys) + len(self._pending)

    def _position(self, key: int) -> int:
        from bisect import bisect_left

        i = bisect_left(self._keys, key)
        return i if i < len(self._keys) and self._keys[i] == key else -1

    def __contains__(self, key: int) -> bool:
        key = int(key)
        return key in self._pending or self._position(key) >= 0

    def get(self, key: int, default: Any = None) -> Any:
        key = int(key)
        row = self._pending.get(key)
        if row is not None:
            return row
        i = self._position(key)
        return default if i < 0 else tuple(self._rows[i * self.width:(i + 1) * self.width])

    def __getitem__(self, key: int) -> tuple[int, ...]:
        row = self.get(key)
        if row is None:
            raise KeyError(key)
        return row

    def add(self, key: int, *row: int) -> None:
        key = int(key)
        if len(row) != self.width:
            raise ValueError(f"IntKeyTable: a row has {self.width} fields, got {len(row)}")
        if key in self._pending or self._position(key) >= 0:
            raise KeyError(f"IntKeyTable: key {key} is already present")
        self._pending[key] = tuple(map(int, row))
        # a chunk grows with the table (1/16 of it), so merging stays O(n log n) in all
        if len(self._pending) >= max(self.CHUNK, len(self._keys) >> 4):
            self._merge()

    def _merge(self) -> None:
        from array import array

        import numpy as np

        if not self._pending:
            return
        new_keys = sorted(self._pending)
        keys = np.array(new_keys, dtype=np.int64)
        rows = np.array([self._pending[k] for k in new_keys], dtype=np.int64).reshape(len(keys), self.width)
        old_keys = np.frombuffer(self._keys, dtype=np.int64) if self._keys else np.empty(0, np.int64)
        old_rows = (np.frombuffer(self._rows, dtype=np.int64) if self._rows else np.empty(0, np.int64)
                    ).reshape(len(old_keys), self.width)
        at = np.searchsorted(old_keys, keys)  # one O(n) insert per chunk, no re-sort
        merged_keys = np.insert(old_keys, at, keys)
        merged_rows = np.insert(old_rows, at, rows, axis=0)
        del old_keys, old_rows  # views of the old arrays' buffers
        self._keys, self._rows = array("q", merged_keys.tobytes()), array("q", merged_rows.tobytes())
        self._pending = {}

    def items(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        """(key, row) in ascending key order."""
        self._merge()
        w = self.width
        for i, k in enumerate(self._keys):
            yield k, tuple(self._rows[i * w:(i + 1) * w])


class StrKeyLog:
    """str keys in insertion order, each with an int (a scratch file's offset), kept flat: the
    keys' UTF-8 bytes in one bytearray and the ints in arrays (~1 byte a character + 16 bytes a
    key, against ~200 bytes for a list of (str, int, int) tuples). `sorted_positions()` gives
    the insertion positions in key order — UTF-8 byte order is code-point order, so it is
    `sorted()` of the str keys — with ties in insertion order."""

    def __init__(self):
        from array import array

        self._blob = bytearray()
        self._ends = array("q")
        self._values = array("q")

    def __len__(self) -> int:
        return len(self._ends)

    def append(self, key: str, value: int) -> None:
        self._blob += key.encode("utf-8")
        self._ends.append(len(self._blob))
        self._values.append(int(value))

    def key(self, i: int) -> str:
        start = self._ends[i - 1] if i else 0
        return self._blob[start:self._ends[i]].decode("utf-8")

    def value(self, i: int) -> int:
        return self._values[i]

    def sorted_positions(self) -> list[int]:
        blob, ends = bytes(self._blob), self._ends
        keys = [blob[(ends[i - 1] if i else 0):ends[i]] for i in range(len(ends))]
        return sorted(range(len(keys)), key=keys.__getitem__)
