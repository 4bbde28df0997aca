"""Shared fixtures: isolated MEDBENCH_HOME, real data from ../shared, CLI runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DEMO_DIR = SHARED / "mimic-iv-demo-2.2"
ED_DEMO_DIR = SHARED / "mimic-iv-ed-demo-2.2"
EHRSQL_DIR = SHARED / "ehrsql-2024"


def _need(path: Path) -> Path:
    if not path.is_dir():
        pytest.skip(f"shared data not available: {path} is absent")
    return path


@pytest.fixture
def demo_dir() -> Path:
    return _need(DEMO_DIR)


@pytest.fixture
def ehrsql_dir() -> Path:
    return _need(EHRSQL_DIR)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own MEDBENCH_HOME so caches never leak between tests."""
    home = tmp_path_factory.mktemp("medbench_home")
    monkeypatch.setenv("MEDBENCH_HOME", str(home))
    monkeypatch.delenv("MEDBENCH_MIMIC_DIR", raising=False)
    monkeypatch.setenv("MEDBENCH_NO_PROGRESS", "1")
    return home


def _shared_root(tmp_path_factory) -> Path:
    """Where builds shared by every test process live: $MEDBENCH_TEST_SHARED (`make test` sets one
    folder for its two pytest passes), else the session's base temp folder — under pytest-xdist
    its parent, which every worker of the run shares (each worker's own base is a child of it)."""
    if os.environ.get("MEDBENCH_TEST_SHARED"):
        return Path(os.environ["MEDBENCH_TEST_SHARED"])
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared_builds"


@pytest.fixture(scope="session")
def shared_build(tmp_path_factory) -> Callable[[str, Callable[[Path], object]], Path]:
    """shared_build(name, build) -> folder: `build(folder)` runs once for the whole test run (every
    xdist worker, both passes of `make test`), under a file lock; later callers wait for it and get
    the same folder. Build only from fixed inputs (deterministic), and treat the folder as
    read-only: a test that changes files works on `copy_tree(folder, its_tmp)`."""
    root = _shared_root(tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)

    def get(name: str, build: Callable[[Path], object]) -> Path:
        dest, done = root / name, root / f"{name}.done"
        with FileLock(str(root / f"{name}.lock")):
            if not done.exists():
                if dest.exists():  # a build that failed part-way: start again
                    shutil.rmtree(dest)
                dest.mkdir()
                with pytest.MonkeyPatch.context() as mp:  # its caches in a temp folder of its own
                    mp.setenv("MEDBENCH_HOME", str(root / f"{name}.home"))
                    mp.setenv("MEDBENCH_NO_PROGRESS", "1")
                    build(dest)
                done.touch()
        return dest

    return get


def copy_tree(src: Path, dest: Path) -> Path:
    """A private copy of a shared build (real copies: a test may rewrite files in place)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def shared_home(shared_build) -> Path:
    """A MEDBENCH_HOME shared by a whole session, for expensive stores built once."""
    return shared_build("shared_home", lambda _d: None)


@pytest.fixture(scope="session")
def demo_store(shared_build):
    """The demo ingested once per test run, shared by every worker (read-only use only: every
    connection medbench opens on a store is read-only)."""
    if not DEMO_DIR.is_dir():
        pytest.skip(f"shared data not available: {DEMO_DIR} is absent")
    from medbench.store import ingest

    db = shared_build("demo_store", lambda d: ingest(DEMO_DIR, d / "demo.duckdb", show_progress=False))
    return ingest(DEMO_DIR, db / "demo.duckdb", show_progress=False)  # reopened: up to date, nothing rebuilt


@pytest.fixture(scope="session")
def synth30_store(shared_build):
    """`generate(patients=30, seed=3)` ingested once per test run (read-only use only): the
    synthetic store that test_build, test_sql_build and test_qa build their releases from."""
    from medbench.store import ingest
    from medbench.store.synth import generate

    def build(d: Path) -> None:
        generate(d / "mimic", patients=30, seed=3, show_progress=False)
        ingest(d / "mimic", d / "store.duckdb", show_progress=False)

    root = shared_build("synth30", build)
    return ingest(root / "mimic", root / "store.duckdb", show_progress=False)


@pytest.fixture(scope="session")
def tiny_release_dir(shared_build) -> Path:
    """`build_tiny_release` with its defaults (12 synthetic patients, seed 0, sql + icd), built once
    per test run. Read-only: fixtures that hand it to tests copy it (copy_tree)."""
    from _train_release import build_tiny_release

    return shared_build("tiny_release", build_tiny_release) / "release"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600,
            input: str | None = None) -> subprocess.CompletedProcess:
    """Run `python main.py ARGS` in a subprocess, as a user would; returns the completed process."""
    full_env = dict(os.environ)
    full_env["MEDBENCH_NO_PROGRESS"] = "1"
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, str(REPO / "main.py"), *args],
        cwd=str(cwd or REPO), env=full_env, capture_output=True, text=True, timeout=timeout,
        input=input,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Bad input: exit 2, one line on stderr (warnings aside), no traceback, naming the problem."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="session")
def tiny_sql_training(shared_build):
    """The learnable recipe trained once per test run, whichever worker asks first (the
    proof-of-learning test and the train command's artifact/option tests read the same run).
    `--use-vllm` on a machine without vllm/GPU: a clear message, then the same plain generation
    (tests/test_train.py checks it). Read-only: tests write their own files in their tmp_path."""
    pytest.importorskip("trl")
    import json

    from _train_release import train_tiny_sql_recipe

    def build(d: Path) -> None:
        got = train_tiny_sql_recipe(d, "--use-vllm")
        (d / "training.json").write_text(json.dumps({k: v if isinstance(v, (str, dict)) else str(v)
                                                     for k, v in got.items()}))

    got = json.loads((shared_build("tiny_sql_training", build) / "training.json").read_text())
    return {k: v if k in ("env", "output") else Path(v) for k, v in got.items()}


def import_ehrsql_valid(root: Path, n: int) -> Path:
    """A release of the first n EHRSQL 2024 valid items (by id) that do not read the empty
    chartevents table, imported with `medbench import-ehrsql` on the real database."""
    import json
    import shutil

    data = json.loads((EHRSQL_DIR / "valid" / "data.json").read_text())
    labels = json.loads((EHRSQL_DIR / "valid" / "label.json").read_text())
    chart = set(json.loads((EHRSQL_DIR / "valid" / "needs_chartevents.json").read_text()))
    rows = [r for r in sorted(data["data"], key=lambda r: r["id"]) if r["id"] not in chart][:n]
    src = root / "ehrsql"
    (src / "valid").mkdir(parents=True)
    (src / "valid" / "data.json").write_text(json.dumps({"version": data.get("version"), "data": rows}))
    (src / "valid" / "label.json").write_text(json.dumps({r["id"]: labels[r["id"]] for r in rows}))
    shutil.copy(EHRSQL_DIR / "tables.json", src / "tables.json")
    out = root / "ehrsql_release"
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(src), "--db", str(EHRSQL_DIR / "mimic_iv.sqlite.gz"),
                   "--split", "valid", "--out", str(out), "--workers", "2", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def inspect_mock_model(reply):
    """An inspect_ai `mockllm/model` whose answer to a conversation is `reply(last user message's
    text)`, with usage counted from the lengths (no tiktoken download). The exports' tests share it."""
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    def answer(messages, tools, tool_choice, config):
        user = messages[-1].text
        content = reply(user)
        out = ModelOutput.from_content("mockllm/model", content)
        out.usage = ModelUsage(input_tokens=len(user) // 4, output_tokens=len(content) // 4,
                               total_tokens=(len(user) + len(content)) // 4)
        return out

    return get_model("mockllm/model", custom_outputs=answer)
