"""`medbench run`: faults, resume after SIGKILL, cache, torn lines, header checks, hf: models.

A tiny fake task family ("fake", this module's FAMILY) keeps these tests independent of the real
families; the OpenAI-compatible server is real HTTP on loopback (tests/fake_openai_server.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ConfigDict

from medbench.errors import UserError
from medbench.release import TaskOutput, write_release
from medbench.submission_schema import SubmissionHeader, SubmissionLine
from medbench.tasks.contract import MetricSpec, Record, TaskFamily

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO, assert_one_line_error
from fake_openai_server import FakeOpenAIServer, prompt_hash

TESTS = Path(__file__).parent


class _Item(Record):
    model_config = ConfigDict(extra="allow")


class FakeFamily(TaskFamily):
    """Declares the contract's required parts (medbench.tasks.contract); runs only."""

    name = "fake"
    item_model = _Item
    gold_model = _Item
    prediction_type = str | None
    prompt_templates = ()
    metric_specs = (MetricSpec("acc", "acc", "num", "acc"),)
    headline_metric = "acc"
    higher_is_better = True

    def build(self, ctx):
        raise NotImplementedError

    def score_items(self, items, gold_by_id, predictions_by_id, ctx):
        raise NotImplementedError

    def aggregate(self, records):
        raise NotImplementedError

    def render_prompt(self, item: dict, release) -> list[dict]:
        return [{"role": "user", "content": item["question"]}]

    def parse(self, raw):
        if not raw:
            return None, "empty output"
        return raw.strip(), None


FAMILY = FakeFamily()


def responder(body: dict) -> str:
    return "ans:" + body["messages"][-1]["content"]


@pytest.fixture(autouse=True)
def fake_family(monkeypatch):
    from medbench import tasks

    monkeypatch.setitem(tasks.REGISTRY, "fake", "test_run")
    monkeypatch.setenv("MEDBENCH_RETRY_BASE_S", "0.01")


def make_release(root: Path, n: int = 30, name: str = "tiny") -> Path:
    items, gold = [], []
    for i in range(n):
        iid = f"fake-{i:04d}"
        items.append({"item_id": iid, "task": "fake", "split": "dev", "subject_id": 1000 + i,
                      "question": f"question number {i}"})
        gold.append({"item_id": iid, "task": "fake", "answer": f"ans:question number {i}"})
    out = root / name
    write_release(out, name, {"fake": TaskOutput(items, gold)}, params={}, source_fingerprint=None)
    return out


def read(path: Path) -> tuple[dict, list[dict]]:
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    return lines[0], lines[1:]


def messages_for(i: int) -> list[dict]:
    return [{"role": "user", "content": f"question number {i}"}]


def strip_timing(lines: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in ln.items() if k != "latency_s"} for ln in lines),
                  key=lambda r: r["item_id"])


def test_faults_every_item_exactly_once(tmp_path):
    from medbench.run import run

    rel = make_release(tmp_path, 40)
    out = tmp_path / "sub.jsonl"
    faults = ("429", "500", "timeout", "truncated", "invalid_json", "drop")
    # The script makes sure every kind of fault is served at least once; then 35% at random.
    with FakeOpenAIServer(responder=responder, fault_rate=0.35, faults=faults, script=list(faults), hang_s=3,
                          seed=1) as srv:
        s = run(rel, "fake", "openai/test-model", split="dev", concurrency=8, out=out, api_base=srv.url,
                retry_limit=10, timeout_s=0.4)
        assert sum(srv.faults_served.values()) >= 10, srv.faults_served  # faults really happened
        assert set(srv.faults_served) == set(faults)
    header, lines = read(out)
    SubmissionHeader.model_validate(header)
    for ln in lines:
        SubmissionLine.model_validate(ln)
    ids = [ln["item_id"] for ln in lines]
    assert ids == [f"fake-{i:04d}" for i in range(40)]  # exactly once, in item order once complete
    assert all(ln["error"] is None and ln["prediction"] == f"ans:question number {int(ln['item_id'][5:])}"
               for ln in lines)
    assert s.failed == 0 and s.done == 40 and s.requests > 40


def test_permanent_failure_written_with_error_and_exit_1(tmp_path):
    rel = make_release(tmp_path, 5)
    out = tmp_path / "sub.jsonl"
    with FakeOpenAIServer(responder=responder, fault_rate=1.0, faults=("500",)) as srv:
        proc = _cli(["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/m",
                     "--api-base", srv.url, "--out", str(out), "--retry-limit", "1"])
        assert srv.n_requests == 10  # 5 items x (1 + 1 retry)
    assert proc.returncode == 1, proc.stderr
    _, lines = read(out)
    assert len(lines) == 5
    assert all(ln["error"].startswith("server_error (HTTP 500): internal error") and ln["prediction"] is None
               for ln in lines)
    # the summary counts outcomes by class; the last stderr line says how many and how to retry
    assert "failed: server_error" in proc.stderr
    assert proc.stderr.splitlines()[-1] == ("error: 5 of 5 items failed (server_error 5); rerun the same "
                                            "command to request them again (--no-retry-errors keeps them)")


def test_rerun_after_total_failure_requests_only_the_errored_items_once(tmp_path):
    # First run: the server fails 100% of requests. Second run (the same command): 0%.
    rel = make_release(tmp_path, 12)
    out = tmp_path / "sub.jsonl"
    args = ["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/m", "--out", str(out),
            "--retry-limit", "1", "--concurrency", "3"]
    with FakeOpenAIServer(responder=responder, fault_rate=1.0, faults=("500",)) as srv:
        first = _cli([*args, "--api-base", srv.url])
        base = srv.url
    assert first.returncode == 1 and all(ln["error"] for ln in read(out)[1])
    port = base.split("//")[1].split("/")[0].split(":")[1]
    with FakeOpenAIServer(responder=responder, port=int(port)) as srv:  # same URL: the same command
        kept = _cli([*args, "--api-base", base, "--no-retry-errors"])
        assert kept.returncode == 1 and srv.n_requests == 0  # --no-retry-errors keeps the errored lines
        second = _cli([*args, "--api-base", base])
        assert second.returncode == 0, second.stderr
        assert srv.n_requests == 12 and sorted(srv.counts.values()) == [1] * 12  # one request per item
    header, lines = read(out)
    SubmissionHeader.model_validate(header)
    assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(12)]
    assert all(ln["error"] is None and ln["prediction"] == f"ans:question number {int(ln['item_id'][5:])}"
               for ln in lines)


@pytest.mark.parametrize(("fault", "expect"), [
    ("404", "model m not found at http://127.0.0.1:"),
    ("401", "the API key was rejected at http://127.0.0.1:"),
])
def test_non_retryable_failures_stop_the_run_early(tmp_path, fault, expect):
    rel = make_release(tmp_path, 40)
    out = tmp_path / "sub.jsonl"
    with FakeOpenAIServer(responder=responder, fault_rate=1.0, faults=(fault,), latency_s=0.01) as srv:
        proc = _cli(["run", "--benchmark", str(rel), "--task", "fake", "--model", "hosted_vllm/m",
                     "--api-base", srv.url, "--out", str(out), "--concurrency", "2"])
        n = srv.n_requests
    assert proc.returncode == 2
    assert_one_line_error(proc)
    assert expect in proc.stderr and "5 items in a row failed" in proc.stderr, proc.stderr
    _, lines = read(out)
    assert 5 <= n == len(lines) <= 6  # one request per item (not retried); items done are kept
    assert all(ln["error"].startswith(("not_found", "auth")) for ln in lines)


def test_missing_openai_key_stops_with_the_fix(tmp_path):
    # The README's hosted example with no key: no request leaves the machine; exit 2 names the fix.
    rel = make_release(tmp_path, 30)
    out = tmp_path / "sub.jsonl"
    env = {k: v for k, v in _env().items() if k not in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL",
                                                          "OPENAI_API_BASE")}
    proc = subprocess.run(_cli_cmd(["run", "--benchmark", str(rel), "--task", "fake", "--model",
                                    "openai/gpt-4.1-mini", "--allow-provider", "openai/", "--out", str(out)]),
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc)
    assert "OPENAI_API_KEY is not set" in proc.stderr and "HTTP 500" not in proc.stderr
    _, lines = read(out)
    assert 5 <= len(lines) < 30 and all(ln["error"].startswith("auth: ") for ln in lines)


def _cli(args: list[str], progress: bool = False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(_cli_cmd(args), check=False, capture_output=True, text=True, timeout=300,
                          env=_env(progress), **kw)


def _cli_cmd(args: list[str]) -> list[str]:
    # The fake family lives in this module: register it in the child, then run the real CLI.
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import medbench.tasks as t; "
            "t.REGISTRY['fake'] = 'test_run'; from medbench.cli import main; main(sys.argv[1:])")
    return [sys.executable, "-c", code, *args]


def _env(progress: bool = False) -> dict:
    env = dict(os.environ)
    env["MEDBENCH_NO_PROGRESS"] = "0" if progress else "1"
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.mark.slow
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path):
    n = 60
    rel = make_release(tmp_path, n)
    out = tmp_path / "killed.jsonl"
    with FakeOpenAIServer(responder=responder, latency_s=0.05) as srv:
        args = ["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/m", "--api-base",
                srv.url, "--out", str(out), "--concurrency", "2"]
        proc = subprocess.Popen(_cli_cmd(args), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline:
            if out.exists() and out.read_text().count("\n") >= 15:
                break
            if proc.poll() is not None:
                pytest.fail(f"run ended before it could be killed: {proc.stderr.read()}")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        _, partial = read(out)
        assert 0 < len(partial) < n, "the kill must land partway"
        completed = {ln["item_id"] for ln in partial}
        before = dict(srv.counts)

        rerun = _cli(args)
        assert rerun.returncode == 0, rerun.stderr
        for iid in completed:  # never requested again
            h = prompt_hash(messages_for(int(iid[5:])))
            assert srv.counts[h] == before[h] == 1, iid

        fresh = tmp_path / "fresh.jsonl"
        full = _cli(["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/m", "--api-base",
                     srv.url, "--out", str(fresh), "--concurrency", "2", "--no-cache"])
        assert full.returncode == 0, full.stderr
    h1, resumed = read(out)
    h2, uninterrupted = read(fresh)
    assert [ln["item_id"] for ln in resumed] == [f"fake-{i:04d}" for i in range(n)]
    assert strip_timing(resumed) == strip_timing(uninterrupted)
    assert {k: v for k, v in h1.items() if k != "created"} == {k: v for k, v in h2.items() if k != "created"}


def test_cached_rerun_makes_zero_requests(tmp_path):
    from medbench.run import run

    rel = make_release(tmp_path, 20)
    out = tmp_path / "a.jsonl"
    with FakeOpenAIServer(responder=responder) as srv:
        first = run(rel, "fake", "openai/m", out=out, api_base=srv.url, concurrency=4)
        assert srv.n_requests == 20 and first.cached == 0
        out2 = tmp_path / "b.jsonl"
        second = run(rel, "fake", "openai/m", out=out2, api_base=srv.url, concurrency=4)
        assert srv.n_requests == 20  # zero new requests
        assert second.cached == 20 and second.requests == 0
        third = run(rel, "fake", "openai/m", out=tmp_path / "c.jsonl", api_base=srv.url, use_cache=False)
        assert srv.n_requests == 40 and third.cached == 0  # --no-cache really bypasses it
    assert strip_timing(read(out)[1]) == strip_timing(read(out2)[1])


def test_torn_last_line_is_repaired_on_resume(tmp_path):
    from medbench.run import run

    rel = make_release(tmp_path, 10)
    out = tmp_path / "s.jsonl"
    with FakeOpenAIServer(responder=responder) as srv:
        run(rel, "fake", "openai/m", out=out, api_base=srv.url, limit=4, use_cache=False)
        with open(out, "a") as f:
            f.write('{"item_id": "fake-0004", "predic')  # a crash mid-append
        s = run(rel, "fake", "openai/m", out=out, api_base=srv.url, use_cache=False)
        assert srv.n_requests == 10  # 4 + the 6 not written (the torn one included), none twice
    assert s.skipped == 4 and s.done == 6
    _, lines = read(out)
    assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(10)]


def test_resume_header_mismatch_is_user_error(tmp_path):
    from medbench.run import run

    rel = make_release(tmp_path, 3)
    out = tmp_path / "s.jsonl"
    with FakeOpenAIServer(responder=responder) as srv:
        run(rel, "fake", "openai/m", out=out, api_base=srv.url, limit=1)
        with pytest.raises(UserError, match="temperature"):
            run(rel, "fake", "openai/m", out=out, api_base=srv.url, temperature=0.7)
        proc = _cli(["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/other",
                     "--api-base", srv.url, "--out", str(out)])
    assert_one_line_error(proc, "header model")
    out.write_text("not a submission\n")
    with pytest.raises(UserError, match="not valid JSON"):
        run(rel, "fake", "openai/m", out=out, api_base=srv.url)


def test_bad_inputs_are_one_line_errors(tmp_path):
    rel = make_release(tmp_path, 2)
    assert_one_line_error(_cli(["run", "--benchmark", str(tmp_path / "nope"), "--task", "fake",
                                "--model", "openai/m"]), "not a medbench release")
    assert_one_line_error(_cli(["run", "--benchmark", str(rel), "--task", "nosuch", "--model", "openai/m"]),
                          "unknown task")
    assert_one_line_error(_cli(["run", "--benchmark", str(rel), "--task", "fake", "--model", "baseline:nope"]),
                          "baseline")
    assert_one_line_error(_cli(["run", "--benchmark", str(rel), "--task", "fake", "--model",
                                f"hf:{tmp_path / 'missing'}"]), "hf:")
    assert_one_line_error(_cli(["run", "--benchmark", str(rel), "--task", "fake", "--model",
                                f"vllm:{tmp_path}"]), "vllm")


def _bad_input_cases(tmp_path: Path, rel: Path) -> list[tuple[list[str], str]]:
    return [
        (["--benchmark", str(tmp_path / "nope"), "--task", "fake", "--model", "openai/m"], "not a medbench release"),
        (["--benchmark", str(rel), "--task", "bogus", "--model", "openai/m"], "unknown task"),
        (["--benchmark", str(rel), "--task", "fake", "--model", "baseline:nope"], "baseline"),
        (["--benchmark", str(rel), "--task", "fake", "--model", f"hf:{tmp_path / 'missing'}"], "hf:"),
        (["--benchmark", str(rel), "--task", "fake", "--model", f"vllm:{tmp_path}"], "vllm"),
        (["--benchmark", str(rel), "--task", "fake", "--model", "openai/m",
          "--out", str(tmp_path / "a-file" / "sub.jsonl")], "a-file"),
    ]


def test_bad_inputs_are_one_line_errors_with_progress_on(tmp_path):
    """The progress bar is on (as for a user): bad input is still exactly one stderr line, exit 2."""
    rel = make_release(tmp_path, 2)
    (tmp_path / "a-file").write_text("x")
    for args, needle in _bad_input_cases(tmp_path, rel):
        assert_one_line_error(_cli(["run", *args], progress=True), needle)


def test_bad_inputs_fail_before_the_progress_bar_opens(tmp_path, monkeypatch):
    """`medbench run` resolves release, task, model and output file before it opens its bar."""
    import contextlib

    from medbench.commands import run as run_command

    opened = []

    @contextlib.contextmanager
    def spy_bar(*a, **k):
        opened.append(True)
        raise AssertionError("progress bar opened before the inputs were checked")
        yield  # pragma: no cover

    monkeypatch.setattr(run_command, "progress_bar", spy_bar)
    rel = make_release(tmp_path, 2)
    (tmp_path / "a-file").write_text("x")
    for args, needle in _bad_input_cases(tmp_path, rel):
        with pytest.raises((UserError, OSError)) as exc:
            run_command.run_cmd.main(args, standalone_mode=False)
        assert needle in str(exc.value), (args, exc.value)
    assert not opened


def test_default_out_path_uses_safe_slug(tmp_path, monkeypatch):
    from medbench.run import run

    rel = make_release(tmp_path, 2)
    monkeypatch.chdir(tmp_path)
    with FakeOpenAIServer(responder=responder) as srv:
        s = run(rel, "fake", "openai/../../etc/x:y", api_base=srv.url)
    assert s.out == Path("submissions") / "openai-.-.-etc-x-y__tiny__fake__dev.jsonl"
    assert (tmp_path / s.out).is_file()


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_slug_is_always_a_safe_file_name(text):
    from medbench.run import slug

    s = slug(text)
    assert 0 < len(s) <= 80
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in s)
    assert not s.startswith(".") and ".." not in s and "/" not in s


@pytest.mark.train
def test_hf_local_model_generates_for_every_item(tmp_path):
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from medbench.run import run

    # A tokenizer trained here and a random-init tiny GPT-2: nothing is downloaded.
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [f"user : question number {i} assistant :" for i in range(30)]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"]))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                                eos_token="[EOS]")
    mdir = tmp_path / "tiny-gpt2"
    fast.save_pretrained(mdir)
    cfg = transformers.GPT2Config(vocab_size=fast.vocab_size, n_positions=64, n_embd=16, n_layer=1, n_head=2,
                                  eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(mdir)

    rel = make_release(tmp_path, 5)
    out = tmp_path / "hf.jsonl"
    s = run(rel, "fake", f"hf:{mdir}", out=out, concurrency=2, max_tokens=4)
    assert s.done == 5 and s.failed == 0
    _, lines = read(out)
    assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(5)]
    for ln in lines:
        assert ln["error"] is None and isinstance(ln["raw_output"], str)
        assert ln["usage"]["prompt_tokens"] > 0 and 1 <= ln["usage"]["completion_tokens"] <= 4
    # Greedy decoding is deterministic: a second run gives the same outputs.
    run(rel, "fake", f"hf:{mdir}", out=tmp_path / "hf2.jsonl", concurrency=2, max_tokens=4)
    assert [ln["raw_output"] for ln in read(tmp_path / "hf2.jsonl")[1]] == [ln["raw_output"] for ln in lines]


def test_writer_group_commits_lines_arriving_within_the_window(tmp_path, monkeypatch):
    """Lines put 1 ms apart share fsyncs (one per FLUSH_WINDOW_S), all land, in order (issue 12)."""
    from medbench import run as run_mod

    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(run_mod.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    out = tmp_path / "s.jsonl"
    w = run_mod._Writer(out, tmp_path / "cache.sqlite")
    n = 60
    for i in range(n):
        w.put(f'{{"item_id": "x-{i}"}}\n', (f"k{i}", "{}"))
        time.sleep(0.001)
    w.close()
    assert out.read_text().splitlines() == [f'{{"item_id": "x-{i}"}}' for i in range(n)]
    assert 1 <= len(calls) <= n // 3, len(calls)
    assert len(run_mod.cache_lookup(tmp_path / "cache.sqlite", [f"k{i}" for i in range(n)])) == n
