"""The package as a user gets it: a wheel installed into a fresh venv away from the source tree,
and `make demo` run twice from a clean copy of the repository.

Both start from a clean copy: the repository's files as git sees them (tracked, plus untracked
files that are not ignored), so no build output, venv, release or submission comes along. No
network: the wheel is built without build isolation, installed with `--no-index`, and the fresh
venv sees this interpreter's installed dependencies through a `.pth` line (which adds their
folder without running its `.pth` hooks, so the editable install of the source tree stays
invisible there).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO
from fake_openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow


def clean_copy(dest: Path) -> Path:
    if not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to know the repository's files")
    names = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard"],
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MEDBENCH_", "PYTHON", "VIRTUAL_ENV", "OPENAI_", "HOSTED_VLLM_"))}
    env.update(MEDBENCH_HOME=str(home), MEDBENCH_NO_PROGRESS="1")
    return env


def test_wheel_in_a_fresh_venv_runs_the_pipeline(tmp_path):
    src = clean_copy(tmp_path / "src")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(wheels), str(src)], check=True, timeout=600, env=clean_env(tmp_path / "h0"))
    shutil.rmtree(src)  # nothing below can read the source tree: it is gone
    (wheel,) = wheels.glob("medbench-*.whl")

    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "_medbench_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    env = clean_env(tmp_path / "home")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    str(wheel)], check=True, timeout=600, env=env)
    where = subprocess.run([str(py), "-c", "import medbench; print(medbench.__file__)"], capture_output=True,
                           text=True, check=True, env=env, cwd=tmp_path).stdout.strip()
    assert where.startswith(purelib), where  # the installed wheel, not a source checkout

    mb = venv / "bin" / "medbench"
    work = tmp_path / "work"
    work.mkdir()

    def medbench(*args: str) -> str:
        proc = subprocess.run([str(mb), *args], capture_output=True, text=True, timeout=900, env=env, cwd=work,
                              check=False)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-3000:])
        return proc.stdout

    medbench("synth", "--patients", "12", "--out", "data")
    medbench("build-cohort", "--mimic-dir", "data", "--limit", "4", "--out", "cohort.csv")
    medbench("build", "--mimic-dir", "data", "--name", "w", "--out", "benchmarks/w")
    medbench("run", "--benchmark", "benchmarks/w", "--task", "icd", "--model", "baseline:frequency",
             "--split", "test", "--out", "subs/freq.jsonl")
    # an API model renders the packaged prompt templates (a missing template was a crash)
    with FakeOpenAIServer(responder=lambda body: "I20.9") as srv:
        medbench("run", "--benchmark", "benchmarks/w", "--task", "icd", "--model", "hosted_vllm/m",
                 "--api-base", srv.url, "--split", "train", "--limit", "2", "--out", "subs/api.jsonl")
        assert srv.n_requests == 2
        system, user = srv.requests[0]["messages"]
        assert "ICD-10" in system["content"] and user["content"].strip()
    subject = (work / "cohort.csv").read_text().splitlines()[1].split(",")[0]
    medbench("generate-patient", "--mimic-dir", "data", "--subject-id", subject, "--out-dir", "conv")
    assert list((work / "conv" / subject).iterdir())
    out = json.loads(medbench("score", "subs/freq.jsonl", "--benchmark", "benchmarks/w", "--leaderboard", "lb",
                              "--json"))
    assert "micro_f1" in json.dumps(out)
    assert list((work / "lb" / "results").glob("*.json"))


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_make_demo_twice_keeps_user_files_and_publishes_each_result_once(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    clone = clean_copy(tmp_path / "clone")
    # the user's own work, including a file named like the old demo's glob
    user = {"submissions/my-model__demo__sql__test.jsonl": '{"type": "header"}\n',
            "submissions/notes/keep.txt": "mine\n", "benchmarks/mine/manifest.json": "{}\n",
            "output/mine.txt": "mine\n", "leaderboard/results/x.json": "{}\n"}
    for name, text in user.items():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        (clone / name).write_text(text)
    before = _tree_digest(clone)
    # this interpreter's environment stands in for the venv `make` would build (-o: never rebuilt)
    venv = Path(sys.prefix)
    cmd = ["make", "-s", "-o", str(venv / ".medbench-installed"), "demo", f"VENV={venv}",
           f"PY={sys.executable}", "DEMO_PATIENTS=8"]
    env = {**clean_env(tmp_path / "home"), "PYTHONDONTWRITEBYTECODE": "1"}
    results = []
    for _ in range(2):
        proc = subprocess.run(cmd, cwd=clone, capture_output=True, text=True, timeout=1200, env=env, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        results.append(sorted(p.name for p in (clone / "output/demo/leaderboard/results").iterdir()))
        if len(results) == 1:
            subs = _tree_digest(clone / "submissions/demo")
    import tomllib

    plan = tomllib.loads((REPO / "plans" / "demo.toml").read_text())
    expected = len(plan["splits"]) * sum(len(m["tasks"]) for m in plan["models"])  # one entry per run
    assert len(results[0]) == expected and results[1] == results[0]  # the same entries, once each
    assert _tree_digest(clone / "submissions/demo") == subs  # resumed: nothing requested or rewritten
    after = _tree_digest(clone)
    for name, digest in before.items():  # every file that was there is still there, unchanged
        assert after.get(name) == digest, name
    new = {n.split("/")[0] + "/" + n.split("/")[1] if "/" in n else n for n in set(after) - set(before)}
    allowed = ("benchmarks/demo", "submissions/demo", "output/demo")
    assert all(n.startswith(allowed) for n in new), sorted(new)
