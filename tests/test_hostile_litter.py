"""No litter: scratch folders live in $MEDBENCH_HOME/tmp and are removed on error; what a killed
process left (scratch folders, `.<store>.<pid>.tmp` + `.wal`) is swept once its pid is gone."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from medbench.io import scratch_dir, sweep_stale

KILL_INSIDE = """
import os, signal
from medbench.io import scratch_dir
with scratch_dir("build") as d:
    (d / "half-written.parquet").write_bytes(b"x" * 100_000)
    print(d, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _dead_pid() -> int:
    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                       check=True)
    return int(p.stdout)


def test_killed_scratch_is_swept_and_errors_clean_up(isolated_home):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", KILL_INSIDE], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == -9
    left = isolated_home / "tmp"
    assert [p.name for p in left.iterdir()], "the kill should have left its scratch folder"
    with pytest.raises(RuntimeError), scratch_dir("build") as d:
        assert d.parent == left
        assert [p for p in left.iterdir() if p != d] == []  # the dead process's folder is gone
        raise RuntimeError("boom")
    assert list(left.iterdir()) == []  # and an error removes this one


def test_stale_store_temp_files_are_swept(tmp_path):
    dead, alive = _dead_pid(), os.getpid()
    names = [f".demo.duckdb.{dead}.tmp", f".demo.duckdb.{dead}.tmp.wal", f".demo.duckdb.{alive}.tmp", "demo.duckdb"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    sweep_stale(tmp_path, r"^\.demo\.duckdb\.(\d+)\.tmp(?:\.wal)?$")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f".demo.duckdb.{alive}.tmp", "demo.duckdb"])


def test_publish_sweeps_copies_a_killed_publish_left(tmp_path):
    import _scoring_fixtures
    from _scoring_fixtures import make_release, write_submission

    from medbench import tasks

    mp = pytest.MonkeyPatch()
    mp.setitem(tasks.REGISTRY, "sql", _scoring_fixtures.MODULE)
    try:
        from medbench.pipeline import score_file

        rel = make_release(tmp_path)
        stale = tmp_path / ".lb.abc123.tmp"
        stale.mkdir()
        (stale / "index.html").write_text("half")
        score_file(write_submission(tmp_path / "s.jsonl", rel), benchmark=rel, leaderboard=tmp_path / "lb",
                   show_progress=False)
        assert not stale.exists()
        assert (tmp_path / "lb" / "index.html").is_file()
    finally:
        mp.undo()


def _kill_after(args, seconds, env):
    import signal
    import time

    p = subprocess.Popen([sys.executable, str(REPO / "main.py"), *args], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()


def _litter(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.endswith((".tmp", ".wal", ".old")) or (p.parent.name == "tmp" and p.is_dir()))


@pytest.mark.slow
def test_killed_ingest_and_build_leave_nothing_after_a_rerun(tmp_path):
    """`build` (which ingests first) killed at several points; the next good run sweeps everything
    the killed ones left: no scratch folders, no temp stores or WALs, no temp release copies."""
    home, synth, out = tmp_path / "home", tmp_path / "synth", tmp_path / "rel"
    env = dict(os.environ, MEDBENCH_HOME=str(home), MEDBENCH_NO_PROGRESS="1", PYTHONPATH=str(REPO))
    ok = subprocess.run([sys.executable, str(REPO / "main.py"), "synth", "--patients", "6", "--out", str(synth)],
                        env=env, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    build = ["build", "--mimic-dir", str(synth), "--tasks", "sql,icd", "--out", str(out)]
    for seconds in (1.5, 4.0, 8.0):
        _kill_after(build, seconds, env)
    ok = subprocess.run([sys.executable, str(REPO / "main.py"), *build], env=env, capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert _litter(home) == [] and _litter(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rel.")]

    # `score` killed while materialising the scoring DB, running queries, publishing
    import json

    from medbench.release import open_release

    rel = open_release(out)
    gold = rel.gold("sql", "train")
    sub = tmp_path / "s.jsonl"
    head = {"type": "header", "schema_version": 1, "model": "m", "task": "sql", "split": "train",
            "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "x", "params": {},
            "created": "2020-01-01T00:00:00Z"}
    sub.write_text("".join(json.dumps(x) + "\n" for x in
                           [head, *({"item_id": k, "prediction": g.get("sql")} for k, g in sorted(gold.items()))]))
    score = ["score", str(sub), "--benchmark", str(out), "--leaderboard", str(tmp_path / "lb"), "--workers", "2"]
    for seconds in (1.0, 3.0, 6.0):
        _kill_after(score, seconds, env)
    ok = subprocess.run([sys.executable, str(REPO / "main.py"), *score], env=env, capture_output=True, text=True,
                        check=False)
    assert ok.returncode == 0, ok.stderr
    assert _litter(home) == [] and _litter(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lb.")]


# Kill just before a rename: the moment a run has written something whole and not yet swapped it in
KILL_AT_RENAME = r"""
import os, signal, sys, runpy
import medbench.io as mio
target = os.environ["KILL_ON"]
real_replace, real_exchange = os.replace, mio._exchange
def point(dst):
    if os.path.basename(os.fspath(dst)).endswith(target):
        os.kill(os.getpid(), signal.SIGKILL)
def replace(src, dst, *a, **kw):
    point(dst)
    return real_replace(src, dst, *a, **kw)
def exchange(a, b):
    point(b)
    return real_exchange(a, b)
os.replace, mio._exchange = replace, exchange
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _tree(root):
    import hashlib

    if not root.exists():
        return None
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_score_and_publish_killed_at_every_rename_leave_only_the_previous_good_state(tmp_path):
    """`score --leaderboard` SIGKILLed just before each kind of rename it does (the scoring DB's
    sha256, the scoring DB, the gold and result caches, the published site — at the first publish
    and at a later one): after each kill the leaderboard is exactly the previous good one (absent
    before the first good publish), and the next good run leaves no litter (temp files of the
    killed writers are swept)."""
    import json

    from _train_release import build_tiny_release

    from medbench.release import open_release

    rel_dir = build_tiny_release(tmp_path / "build", patients=6, tasks="sql")
    rel = open_release(rel_dir)
    gold = sorted(rel.gold("sql", "train").items())[:12]
    home, lb = tmp_path / "home", tmp_path / "site" / "lb"
    env = dict(os.environ, MEDBENCH_HOME=str(home), MEDBENCH_NO_PROGRESS="1", PYTHONPATH=str(REPO))

    def sub(name, model, wrong):
        head = {"type": "header", "schema_version": 1, "model": model, "task": "sql", "split": "train",
                "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "x", "params": {},
                "created": "2020-01-01T00:00:00Z"}
        preds = [{"item_id": k, "prediction": wrong if n % 2 else g.get("sql")} for n, (k, g) in enumerate(gold)]
        path = tmp_path / name
        path.write_text("".join(json.dumps(x) + "\n" for x in [head, *preds]))
        return path

    def run(path, target):
        args = [sys.executable, "-c", KILL_AT_RENAME, str(REPO / "main.py"), "score", str(path), "--benchmark",
                str(rel_dir), "--leaderboard", str(lb), "--workers", "2"]
        return subprocess.run(args, env=dict(env, KILL_ON=target), capture_output=True, text=True,
                              timeout=300, check=False)

    first = (".duckdb.sha256", ".duckdb", f"{rel.sha256}.json", "lb")  # fresh home: every rename
    later = ("lb", f"{rel.sha256}.json")  # a publish over a site (renameat2 exchange) killed first
    for path, targets, want in ((sub("a.jsonl", "model-a", "SELECT count(*) FROM admissions"), first, 4),
                                (sub("b.jsonl", "model-b", "SELECT 42"), later, 1)):
        good = _tree(lb)
        killed = []
        for target in targets:
            proc = run(path, target)
            if proc.returncode == 0:  # this run writes no such file (already there and valid)
                good = _tree(lb)
                continue
            assert proc.returncode == -9, proc.stderr[-2000:]
            killed.append(target)
            assert _tree(lb) == good, target  # the previous good state, untouched
        assert len(killed) >= want, killed
        proc = run(path, "no-such-file")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert _litter(home) == [] and _litter(tmp_path / "site") == [], (_litter(home), _litter(tmp_path / "site"))
        assert not [p for p in lb.parent.iterdir() if p.name.startswith(".lb.")]
    results = {json.loads(p.read_text())["header"]["model"] for p in (lb / "results").glob("*.json")}
    assert results == {"model-a", "model-b"}
