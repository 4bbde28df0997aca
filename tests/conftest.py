"""Shared fixtures: isolated MEDBENCH_HOME, real data from ../shared, CLI runners."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory) -> Path:
    """A MEDBENCH_HOME shared by a whole session, for expensive stores built once."""
    return tmp_path_factory.mktemp("shared_home")


@pytest.fixture(scope="session")
def demo_store(shared_home):
    """The demo ingested once per test session (read-only use only)."""
    if not DEMO_DIR.is_dir():
        pytest.skip(f"shared data not available: {DEMO_DIR} is absent")
    from medbench.store import ingest

    return ingest(DEMO_DIR, shared_home / "demo.duckdb", show_progress=False)


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
def tiny_sql_training(tmp_path_factory):
    """The learnable recipe trained once per session (the proof-of-learning test and the train
    command's artifact/option tests read the same run). `--use-vllm` on a machine without
    vllm/GPU: a clear message, then the same plain generation (tests/test_train.py checks it)."""
    pytest.importorskip("trl")
    from _train_release import train_tiny_sql_recipe

    return train_tiny_sql_recipe(tmp_path_factory.mktemp("learn"), "--use-vllm")


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
