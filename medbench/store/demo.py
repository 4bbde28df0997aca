"""`medbench download-demo`: fetch the open MIMIC-IV demo, verified and resumable.

Behaviour, in order:
- `SHA256SUMS.txt` is fetched first; it names every file of the release and its hash.
- A file already in place with the right hash is kept ("present"); one with a wrong hash is
  fetched again ("re-fetched (corrupt)") and only replaced once the new copy verifies.
- Downloads go to `<file>.part`; an interrupted download (crash, dropped connection) resumes
  from the bytes already there with an HTTP Range request. A finished `.part` is verified and
  then renamed into place, so a final file name always holds verified bytes.
- Transient failures (dropped connections, timeouts, 5xx, 429) are retried with backoff.
- A copy that still fails verification after a fresh download is an error naming the file.
- A file the server does not have (404/410) is reported as "missing on server": every other
  file is still downloaded, then the command fails naming the missing ones, unless each was
  accepted with `--allow-missing PATH`.
- `SHA256SUMS.txt` is written last, so its presence marks a complete, verified folder.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from medbench import __version__, config
from medbench.errors import UserError
from medbench.io import atomic_write_bytes, fsync_dir, sha256_file

DEFAULT_BASE_URL = "https://physionet.org/files/mimic-iv-demo/2.2/"
DEFAULT_DIR_NAME = "mimic-iv-demo-2.2"
SUMS_NAME = "SHA256SUMS.txt"

#: Attempts per request before a transient failure becomes an error; the counter restarts
#: whenever an attempt made progress, so a slow, flaky link still finishes.
MAX_ATTEMPTS = 5
#: First retry delay in seconds (doubled per consecutive failure). Tests set it to 0.
RETRY_BACKOFF_S = 0.5
TIMEOUT_S = 60
CHUNK = 1 << 16

STATUS_PRESENT = "present"
STATUS_DOWNLOADED = "downloaded"
STATUS_RESUMED = "resumed"
STATUS_REFETCHED = "re-fetched (corrupt)"
STATUS_MISSING = "missing on server"

_SUM_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *]?(.+)$")


class _Missing(Exception):
    """The server answered 404/410 for this file."""


class _Transient(Exception):
    """Worth retrying: the connection dropped, timed out, or the server is busy."""


def default_out() -> Path:
    return config.medbench_home() / DEFAULT_DIR_NAME


def parse_sums(text: str, source: str) -> list[tuple[str, str]]:
    """(relative path, sha256) per line of a `sha256sum` listing; rejects paths that would
    escape the destination folder (the listing comes from the network)."""
    entries: list[tuple[str, str]] = []
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        m = _SUM_LINE.match(line)
        if not m:
            raise UserError(f"{source}:{lineno}: not a 'sha256  path' line: {line[:80]!r}")
        digest, name = m.group(1).lower(), m.group(2).strip()
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts or "\\" in name or not p.parts:
            raise UserError(f"{source}:{lineno}: unsafe path {name!r}")
        rel = p.as_posix()
        if rel == SUMS_NAME or rel in seen:
            continue
        seen.add(rel)
        entries.append((rel, digest))
    if not entries:
        raise UserError(f"{source}: lists no files")
    return entries


def _url(base_url: str, rel: str) -> str:
    base = base_url if base_url.endswith("/") else base_url + "/"
    return urllib.parse.urljoin(base, urllib.parse.quote(rel))


def _open(url: str, start: int = 0):
    headers = {"User-Agent": f"medbench/{__version__}", "Accept-Encoding": "identity"}
    if start:
        headers["Range"] = f"bytes={start}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code in (404, 410):
            raise _Missing(url) from None
        if e.code == 416:
            return None  # range not satisfiable: the .part already holds at least the whole file
        if e.code >= 500 or e.code in (408, 429):
            raise _Transient(f"HTTP {e.code}") from None
        raise UserError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (OSError, socket.timeout)):
            raise _Transient(str(e.reason)) from None
        raise UserError(f"{url}: {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:
        raise _Transient(str(e) or type(e).__name__) from None


def _retrying(what: str, fn):
    """Call fn(); retry _Transient failures with backoff. fn returns (result, made_progress)."""
    failures = 0
    while True:
        try:
            return fn()
        except _Transient as e:
            progressed = getattr(e, "progressed", False)
            failures = 1 if progressed else failures + 1
            if failures >= MAX_ATTEMPTS:
                raise UserError(f"{what}: download failed after {MAX_ATTEMPTS} attempts: {e}") from None
            time.sleep(RETRY_BACKOFF_S * (2 ** (failures - 1)))


def _fetch_bytes(url: str) -> bytes:
    def once() -> bytes:
        resp = _open(url)
        if resp is None:
            raise UserError(f"{url}: HTTP 416")
        try:
            with resp:
                return resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise _Transient(str(e) or type(e).__name__) from None

    return _retrying(url, once)


def _fetch_to_part(url: str, part: Path, on_bytes=None) -> bool:
    """Bring `part` up to the full remote file, resuming what is there. True if it resumed."""
    resumed = False

    def once() -> None:
        nonlocal resumed
        start = part.stat().st_size if part.exists() else 0
        resp = _open(url, start)
        if resp is None:
            resumed = True
            return  # 416: nothing more to fetch; verification decides if the bytes are right
        received = 0
        try:
            with resp:
                if start and resp.status == 206:
                    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != start:
                        raise _Transient("server answered a different byte range")
                    mode, resumed = "ab", True
                else:  # 200: the server sent the whole file (it ignored or lacks Range support)
                    mode, start, resumed = "wb", 0, False
                length = resp.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                if on_bytes:
                    on_bytes(start, None if expected is None else start + expected)
                with open(part, mode) as f:
                    while chunk := resp.read(CHUNK):
                        f.write(chunk)
                        received += len(chunk)
                        if on_bytes:
                            on_bytes(start + received, None)
                    f.flush()
                    os.fsync(f.fileno())
                # urllib returns a short body silently when the peer closes early.
                if expected is not None and received < expected:
                    raise _Transient(f"connection closed after {received} of {expected} bytes")
        except (OSError, http.client.HTTPException) as e:
            err = _Transient(str(e) or type(e).__name__)
            err.progressed = received > 0
            raise err from None
        except _Transient as e:
            e.progressed = received > 0
            raise

    _retrying(url, once)
    return resumed


def download_demo(out: Path | None = None, base_url: str = DEFAULT_BASE_URL,
                  allow_missing: Iterable[str] = (), show_progress: bool = True) -> dict:
    """Download and verify every file of the release at `base_url` into `out`.

    Returns {"out", "counts" (status -> number of files), "files" (path -> status),
    "missing" (paths the server lacks)}.
    """
    out = Path(out).expanduser() if out else default_out()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    # A failed run leaves no folder behind that it made and left empty (downloaded bytes stay,
    # for the next run to resume from).
    had_dirs = {out, *(d for d in out.rglob("*") if d.is_dir())} if out.is_dir() else set()
    made = [d for d in (out, *out.parents) if not d.exists()]  # this run's new folders, deepest first
    try:
        return _download_into(out, base_url, allow_missing, show_progress)
    except BaseException:
        _prune_new_empty_dirs(out, had_dirs, made)
        raise


def _prune_new_empty_dirs(out: Path, had_dirs: set[Path], made: list[Path]) -> None:
    new = [d for d in out.rglob("*") if d.is_dir() and d not in had_dirs] if out.is_dir() else []
    for d in sorted(new, key=lambda p: len(p.parts), reverse=True) + made:
        with contextlib.suppress(OSError):  # not empty (or already gone): keep it
            d.rmdir()


def _download_into(out: Path, base_url: str, allow_missing: Iterable[str], show_progress: bool) -> dict:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {out}: {e.strerror}") from e

    sums_url = _url(base_url, SUMS_NAME)
    try:
        sums_bytes = _fetch_bytes(sums_url)
    except _Missing:
        raise UserError(f"{sums_url}: not found (--base-url must be the release folder that "
                        f"holds {SUMS_NAME})") from None
    try:
        sums_text = sums_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{sums_url}: not UTF-8 text") from None
    entries = parse_sums(sums_text, sums_url)
    allowed = {PurePosixPath(p).as_posix() for p in allow_missing}

    files: dict[str, str] = {}
    from medbench.progress import progress_bar

    ctx = progress_bar() if show_progress else contextlib.nullcontext()
    with ctx as progress:
        overall = progress.add_task("download-demo", total=len(entries)) if progress else None
        current = progress.add_task("", total=None, visible=False) if progress else None
        for rel, digest in entries:
            if progress:
                progress.update(overall, description=f"download-demo {rel}")
                progress.reset(current, total=None, visible=True, description=f"  {rel}")

            def on_bytes(done: int, total: int | None, _p=progress, _t=current) -> None:
                if _p:
                    if total is not None:
                        _p.update(_t, total=total)
                    _p.update(_t, completed=done)

            files[rel] = _download_one(base_url, out, rel, digest, on_bytes)
            if progress:
                progress.advance(overall)
        if progress:
            progress.update(current, visible=False)

    missing = sorted(rel for rel, status in files.items() if status == STATUS_MISSING)
    refused = [rel for rel in missing if rel not in allowed]
    if refused:
        flags = " ".join(f"--allow-missing {rel}" for rel in refused)
        raise UserError(
            f"missing on server: {', '.join(refused)} (listed in {SUMS_NAME} but absent at "
            f"{base_url}; every other file is verified in {out}; rerun with {flags} to accept)"
        )
    # Written last: a folder with SHA256SUMS.txt is complete and verified.
    atomic_write_bytes(out / SUMS_NAME, sums_bytes)
    counts = dict(sorted(Counter(files.values()).items()))
    return {"out": str(out), "counts": counts, "files": files, "missing": missing}


def _download_one(base_url: str, out: Path, rel: str, digest: str, on_bytes) -> str:
    dest = out / rel
    part = dest.with_name(dest.name + ".part")
    corrupt = False
    if dest.is_file():
        if sha256_file(dest) == digest:
            part.unlink(missing_ok=True)  # a leftover from an older interrupted run
            return STATUS_PRESENT
        corrupt = True  # keep the bad copy until a good one replaces it
    dest.parent.mkdir(parents=True, exist_ok=True)
    url = _url(base_url, rel)
    resumed = False
    for fresh in (False, True):
        if fresh:
            part.unlink(missing_ok=True)  # the resumed bytes were wrong: start over once
        try:
            resumed = _fetch_to_part(url, part, on_bytes) and not fresh
        except _Missing:
            part.unlink(missing_ok=True)
            return STATUS_MISSING
        got = _sha256_or_none(part)
        if got == digest:
            os.replace(part, dest)
            fsync_dir(dest.parent)
            if corrupt:
                return STATUS_REFETCHED
            return STATUS_RESUMED if resumed else STATUS_DOWNLOADED
    part.unlink(missing_ok=True)
    raise UserError(f"{rel}: sha256 mismatch after a fresh download from {url} "
                    f"(expected {digest}, got {got})")


def _sha256_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None

