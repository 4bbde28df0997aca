"""Every OS error is one line (`error: <path>: <reason>`, exit 2) with nothing published or half
written: a full disk (RLIMIT_FSIZE: writes past the limit fail with EFBIG, as a full disk fails
with ENOSPC), an unwritable MEDBENCH_HOME, a read-only leaderboard folder. And untrusted strings
(a model name with ESC sequences) reach the terminal escaped."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest
from _scoring_fixtures import HERE, MODULE, REPO, header, make_release, snapshot, write_submission
from conftest import assert_one_line_error


def _cli(*args, env=None, fsize=None, cwd=None):
    code = (f"import sys; import medbench.tasks as t; t.REGISTRY['sql'] = {MODULE!r}; "
            "from medbench.cli import main; main(sys.argv[1:])")
    e = dict(os.environ, MEDBENCH_NO_PROGRESS="1", **(env or {}))
    e["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), e.get("PYTHONPATH", "")])

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-c", code, *args], cwd=str(cwd or REPO), env=e, preexec_fn=limit,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def rel(tmp_path):
    return make_release(tmp_path)


def test_disk_full_while_publishing_is_one_line_and_publishes_nothing(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    lb = tmp_path / "lb"
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(lb), fsize=2000)
    assert_one_line_error(proc, "File too large")
    assert not [p for p in snapshot(lb) if not p.startswith(".")], snapshot(lb).keys()
    # and no temp copies are left beside it
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".lb") or p.name.endswith(".tmp")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_unwritable_home_is_one_line(rel, tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o500)
    sub = write_submission(tmp_path / "s.jsonl", rel)
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(tmp_path / "lb"),
                env={"MEDBENCH_HOME": str(home)})
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr


def test_home_under_a_file_is_one_line(rel, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    proc = _cli("synth", "--patients", "2", "--out", str(tmp_path / "synth"),
                env={"MEDBENCH_HOME": str(blocker / "home")})
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert_one_line_error(proc)


def test_model_name_with_escape_sequences_is_shown_escaped(rel, tmp_path):
    evil = "m\x1b]0;pwned\x07\x1b[2J\x1b]52;c;ZXZpbA==\x07"
    sub = write_submission(tmp_path / "s.jsonl", rel, hdr=header(rel, evil))
    lb = tmp_path / "lb"
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(lb))
    assert proc.returncode == 0, proc.stderr
    proc2 = _cli("leaderboard", "--dir", str(lb))
    assert proc2.returncode == 0, proc2.stderr
    for out in (proc.stdout + proc.stderr, proc2.stdout + proc2.stderr):
        assert "\x1b]" not in out and "\x07" not in out and "\x1b[2J" not in out
        assert "\\x1b" in out
    # JSON output stays exact (it is data, escaped by JSON itself)
    proc3 = _cli("score", str(sub), "--benchmark", str(rel), "--no-publish", "--json")
    assert proc3.returncode == 0, proc3.stderr
    assert json.loads(proc3.stdout)["model"] == evil


@pytest.fixture
def small_mount(tmp_path):
    """A 256 KiB tmpfs (root only; skipped where mounting is not possible: RLIMIT_FSIZE covers it)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root?)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_filesystem_and_read_only_filesystem_are_one_line(rel, tmp_path, small_mount):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    (small_mount / "filler").write_bytes(b"\0" * (250 << 10))  # leave ~6 KiB
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(small_mount / "lb"))
    assert_one_line_error(proc, "No space left on device")
    assert sorted(p.name for p in small_mount.iterdir()) == ["filler"]  # nothing half written
    (small_mount / "filler").unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(small_mount / "lb"))
    assert_one_line_error(proc, "Read-only file system")
    proc = _cli("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(tmp_path / "lb"),
                env={"MEDBENCH_HOME": str(small_mount / "home")})
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:
        assert_one_line_error(proc, "Read-only file system")
