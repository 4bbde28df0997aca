"""`medbench download-demo` against an HTTP server on loopback serving the shared demo files."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli

from medbench.errors import UserError
from medbench.store import demo

SUBSET = ("hosp/admissions.csv.gz", "hosp/patients.csv.gz", "hosp/d_labitems.csv.gz",
          "icu/icustays.csv.gz")


class _Handler(http.server.BaseHTTPRequestHandler):
    """Static files with single-range `Range: bytes=N-` support, plus fault injection."""

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        rel = self.path.lstrip("/")
        srv.requests.append((rel, self.headers.get("Range")))
        path = srv.root / rel
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if rel in srv.corrupt:
            data = b"X" + data[1:]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if m:
            start = int(m.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if rel in srv.drop_once:
            srv.drop_once.discard(rel)
            self.wfile.write(body[: len(body) // 2])  # then hang up mid-file
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def serve():
    servers = []

    def start(root: Path):
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        srv.root, srv.requests, srv.corrupt, srv.drop_once = root, [], set(), set()
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        srv.url = f"http://127.0.0.1:{srv.server_address[1]}/"
        return srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(demo, "RETRY_BACKOFF_S", 0.0)


def _sums(root: Path) -> dict[str, str]:
    return {name: h for h, name in (ln.split(maxsplit=1) for ln in
                                    (root / "SHA256SUMS.txt").read_text().splitlines() if ln)}


@pytest.fixture
def subset(tmp_path, demo_dir) -> Path:
    """A release folder listing a few demo files (symlinked), with the demo's own hashes."""
    base = tmp_path / "server"
    sums = _sums(demo_dir)
    lines = []
    for rel in SUBSET:
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).symlink_to(demo_dir / rel)
        lines.append(f"{sums[rel]}  {rel}\n")
    (base / "SHA256SUMS.txt").write_text("".join(lines))
    return base


def _assert_verified(out: Path, root: Path, names) -> None:
    sums = _sums(root)
    for rel in names:
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == sums[rel], rel
        assert not (out / rel).with_name(Path(rel).name + ".part").exists()


def _data_gets(srv) -> list[tuple[str, str | None]]:
    return [r for r in srv.requests if r[0] != "SHA256SUMS.txt"]


def test_download_verifies_every_file_and_skips_present_ones(serve, subset, tmp_path):
    srv = serve(subset)
    out = tmp_path / "out"
    report = demo.download_demo(out, srv.url, show_progress=False)
    assert report["counts"] == {"downloaded": len(SUBSET)}
    _assert_verified(out, subset, SUBSET)
    assert (out / "SHA256SUMS.txt").read_bytes() == (subset / "SHA256SUMS.txt").read_bytes()

    srv.requests.clear()
    again = demo.download_demo(out, srv.url, show_progress=False)
    assert again["counts"] == {"present": len(SUBSET)}
    assert _data_gets(srv) == []  # verified locally, nothing re-fetched


def test_corrupted_local_file_is_detected_and_refetched(serve, subset, tmp_path):
    srv = serve(subset)
    out = tmp_path / "out"
    bad = out / "hosp/patients.csv.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the real file")
    report = demo.download_demo(out, srv.url, show_progress=False)
    assert report["files"]["hosp/patients.csv.gz"] == "re-fetched (corrupt)"
    _assert_verified(out, subset, SUBSET)


def test_partial_file_is_resumed_with_a_range_request(serve, subset, tmp_path, demo_dir):
    srv = serve(subset)
    out = tmp_path / "out"
    rel = "hosp/d_labitems.csv.gz"
    data = (demo_dir / rel).read_bytes()
    part = out / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:5000])
    report = demo.download_demo(out, srv.url, show_progress=False)
    assert report["files"][rel] == "resumed"
    assert (rel, "bytes=5000-") in srv.requests
    _assert_verified(out, subset, SUBSET)


def test_stale_partial_file_is_discarded_and_fetched_fresh(serve, subset, tmp_path, demo_dir):
    srv = serve(subset)
    out = tmp_path / "out"
    rel = "hosp/d_labitems.csv.gz"
    part = out / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage from another version" * 100)
    demo.download_demo(out, srv.url, show_progress=False)
    _assert_verified(out, subset, SUBSET)
    assert [r for r in srv.requests if r[0] == rel][-1] == (rel, None)  # last one from scratch


def test_connection_dropped_mid_file_is_resumed(serve, subset, tmp_path, demo_dir):
    srv = serve(subset)
    rel = "hosp/admissions.csv.gz"
    srv.drop_once.add(rel)
    out = tmp_path / "out"
    demo.download_demo(out, srv.url, show_progress=False)
    half = (demo_dir / rel).stat().st_size // 2
    gets = [r for r in srv.requests if r[0] == rel]
    assert gets == [(rel, None), (rel, f"bytes={half}-")]
    _assert_verified(out, subset, SUBSET)


def test_file_failing_verification_names_it_and_keeps_nothing(serve, subset, tmp_path):
    srv = serve(subset)
    rel = "hosp/patients.csv.gz"
    srv.corrupt.add(rel)
    out = tmp_path / "out"
    with pytest.raises(UserError, match=re.escape(rel)):
        demo.download_demo(out, srv.url, show_progress=False)
    assert not (out / rel).exists()
    assert not (out / (rel + ".part")).exists()
    assert not (out / "SHA256SUMS.txt").exists()  # the folder is not marked complete


def test_unsafe_path_in_sums_is_rejected(serve, tmp_path):
    base = tmp_path / "server"
    base.mkdir()
    (base / "SHA256SUMS.txt").write_text("0" * 64 + "  ../escape.txt\n")
    srv = serve(base)
    with pytest.raises(UserError, match="unsafe path"):
        demo.download_demo(tmp_path / "out", srv.url, show_progress=False)
    assert not (tmp_path / "escape.txt").exists()


def test_cli_bad_base_url_is_one_line(serve, tmp_path):
    srv = serve(tmp_path / "empty")
    proc = run_cli("download-demo", "--out", str(tmp_path / "out"), "--base-url", srv.url)
    assert_one_line_error(proc, "SHA256SUMS.txt", "not found")


def test_cli_real_demo_end_to_end_with_missing_chartevents(serve, demo_dir, tmp_path):
    """The demo's SHA256SUMS lists icu/chartevents.csv.gz, which the shared copy lacks."""
    srv = serve(demo_dir)
    out = tmp_path / "demo"
    proc = run_cli("download-demo", "--out", str(out), "--base-url", srv.url)
    assert_one_line_error(proc, "missing on server", "icu/chartevents.csv.gz",
                          "--allow-missing icu/chartevents.csv.gz")
    assert not (out / "SHA256SUMS.txt").exists()

    srv.requests.clear()
    proc = run_cli("download-demo", "--out", str(out), "--base-url", srv.url,
                   "--allow-missing", "icu/chartevents.csv.gz")
    assert proc.returncode == 0, proc.stderr
    names = [n for n in _sums(demo_dir) if n != "icu/chartevents.csv.gz"]
    _assert_verified(out, demo_dir, names)
    # Only the missing file is asked for again; everything else was verified on disk.
    assert [r[0] for r in _data_gets(srv)] == ["icu/chartevents.csv.gz"]
    assert "missing on server" in proc.stdout + proc.stderr


def test_unreachable_server_retries_then_fails_naming_the_url(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(UserError, match=f"{re.escape(url)}SHA256SUMS.txt: download failed after"):
        demo.download_demo(tmp_path / "out", url, show_progress=False)


def test_failed_download_leaves_no_folder_it_created(serve, tmp_path):
    """Nothing stored changes on failure: folders this run made and left empty are removed; a
    folder that was there before stays."""
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    with pytest.raises(UserError, match="download failed"):
        demo.download_demo(tmp_path / "a" / "b" / "out", url, show_progress=False)
    assert not (tmp_path / "a").exists()
    before = tmp_path / "existing"
    before.mkdir()
    with pytest.raises(UserError, match="download failed"):
        demo.download_demo(before, url, show_progress=False)
    assert before.is_dir() and not any(before.iterdir())
    # A failure after the listing arrived (the only file fails verification) keeps no empty
    # subfolder either.
    base = tmp_path / "server"
    (base / "hosp").mkdir(parents=True)
    (base / "hosp" / "x.csv").write_text("a,b\n")
    (base / "SHA256SUMS.txt").write_text(f"{'0' * 64}  hosp/x.csv\n")
    srv = serve(base)
    with pytest.raises(UserError, match="hosp/x.csv: sha256 mismatch"):
        demo.download_demo(tmp_path / "c" / "out", srv.url, show_progress=False)
    assert not (tmp_path / "c").exists()
