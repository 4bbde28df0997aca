"""`medbench run --batch` / `--batch-file-only` / `--from-batch-output` against the loopback fake
server's /v1/files and /v1/batches: failed lines, a kill between submit and merge, a resumed merge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import REPO, assert_one_line_error
from fake_openai_server import FakeOpenAIServer
from test_run import FAMILY, make_release, read, responder  # noqa: F401  (FAMILY: the fake task)

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def fake_family(monkeypatch):
    from medbench import tasks

    monkeypatch.setitem(tasks.REGISTRY, "fake", "test_run")


def _cmd(args: list[str]) -> list[str]:
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import medbench.tasks as t; "
            "t.REGISTRY['fake'] = 'test_run'; from medbench.cli import main; main(sys.argv[1:])")
    return [sys.executable, "-c", code, *args]


def _env() -> dict:
    return {**os.environ, "MEDBENCH_NO_PROGRESS": "1", "PYTHONPATH": str(REPO)}


def _cli(args: list[str]) -> SimpleNamespace:
    """The real CLI entry point, in this process (litellm is imported once for the module)."""
    import contextlib
    import io

    from medbench.cli import main

    err, outb = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(outb):
        try:
            main(args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return SimpleNamespace(returncode=code, stdout=outb.getvalue(), stderr=err.getvalue())


def _args(rel: Path, out: Path, url: str, *extra: str) -> list[str]:
    return ["run", "--benchmark", str(rel), "--task", "fake", "--model", "openai/m", "--api-base", url,
            "--out", str(out), "--batch-poll", "0.02", *extra]


def test_batch_with_failed_lines_then_rerun_submits_nothing(tmp_path):
    rel = make_release(tmp_path, 20)
    out = tmp_path / "sub.jsonl"
    with FakeOpenAIServer(responder=responder) as srv:
        srv.batch_fail_ids = {"fake-0003", "fake-0011"}
        srv.batch_polls = 3
        proc = _cli(_args(rel, out, srv.url, "--batch"))
        assert proc.returncode == 1, proc.stderr  # failed lines: exit 1, as an online run
        assert srv.batches_created == 1 and srv.n_requests == 0  # no online completions at all
        header, lines = read(out)
        assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(20)]
        by_id = {ln["item_id"]: ln for ln in lines}
        for i in range(20):
            ln = by_id[f"fake-{i:04d}"]
            if i in (3, 11):
                assert ln["prediction"] is None and "the model failed on this line" in ln["error"]
            else:
                assert ln["error"] is None and ln["prediction"] == f"ans:question number {i}"
                assert ln["usage"]["prompt_tokens"] > 0
        assert not (tmp_path / "sub.jsonl.batch.json").exists()
        # rerun: every item is in the file (failed lines too: the resume rules) -> no new batch
        again = _cli(_args(rel, out, srv.url, "--batch"))
        assert srv.batches_created == 1, again.stderr
        assert read(out)[1] == lines


@pytest.mark.slow
def test_kill_between_submit_and_merge_then_resume(tmp_path):
    rel = make_release(tmp_path, 15)
    out = tmp_path / "sub.jsonl"
    state = tmp_path / "sub.jsonl.batch.json"
    with FakeOpenAIServer(responder=responder) as srv:
        srv.batch_polls = 10**9  # never finishes while the first process waits
        proc = subprocess.Popen(_cmd(_args(rel, out, srv.url, "--batch")), env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while not state.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert state.exists(), proc.stderr.read() if proc.poll() is not None else "no state file"
        time.sleep(0.2)  # polling
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        recorded = json.loads(state.read_text())
        assert recorded["batch_id"] in srv.batches
        assert read(out)[1] == []  # header only: nothing merged yet
        srv.batch_polls = 0  # the endpoint finishes the batch
        rerun = _cli(_args(rel, out, srv.url, "--batch"))
        assert rerun.returncode == 0, rerun.stderr
        assert srv.batches_created == 1  # picked up the recorded batch, did not submit again
    _, lines = read(out)
    assert [ln["prediction"] for ln in lines] == [f"ans:question number {i}" for i in range(15)]
    assert not state.exists()


def test_resumed_merge_writes_each_item_once(tmp_path, monkeypatch):
    from medbench import batch
    from medbench.run import prepare_run

    rel = make_release(tmp_path, 12)
    out = tmp_path / "sub.jsonl"
    real_merge = batch.merge

    def dies_midway(prepared, records, route=None, progress=None):
        real_merge(prepared, list(records)[:5], route, progress)  # 5 lines reach the disk ...
        raise KeyboardInterrupt  # ... then the process dies

    with FakeOpenAIServer(responder=responder) as srv:
        srv.batch_polls = 0
        monkeypatch.setattr(batch, "merge", dies_midway)
        with pytest.raises(KeyboardInterrupt):
            batch.run_batch(prepare_run(rel, "fake", "openai/m", api_base=srv.url, out=out), poll_s=0.01)
        assert len(read(out)[1]) == 5 and batch.state_path(out).exists()
        monkeypatch.setattr(batch, "merge", real_merge)
        summary = batch.run_batch(prepare_run(rel, "fake", "openai/m", api_base=srv.url, out=out), poll_s=0.01)
        assert srv.batches_created == 1
    assert summary.skipped == 5 and summary.done == 7
    _, lines = read(out)
    assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(12)]
    assert all(ln["prediction"] == f"ans:question number {i}" for i, ln in enumerate(lines))


def test_batch_file_for_vllm_and_merge_of_its_output(tmp_path):
    rel = make_release(tmp_path, 8)
    out = tmp_path / "sub.jsonl"
    bfile = tmp_path / "requests.jsonl"
    base = ["run", "--benchmark", str(rel), "--task", "fake", "--model", "hosted_vllm/my-model",
            "--api-base", "http://127.0.0.1:9/v1", "--out", str(out), "--max-tokens", "64", "--seed", "3"]
    proc = _cli([*base, "--batch-file-only", str(bfile)])
    assert proc.returncode == 0, proc.stderr
    reqs = [json.loads(x) for x in bfile.read_text().splitlines()]
    assert [r["custom_id"] for r in reqs] == [f"fake-{i:04d}" for i in range(8)]
    assert all(r["url"] == "/v1/chat/completions" and r["method"] == "POST" for r in reqs)
    assert reqs[2]["body"] == {"model": "my-model", "max_tokens": 64, "seed": 3, "temperature": 0.0,
                               "messages": [{"role": "user", "content": "question number 2"}]}
    # what `vllm run-batch -i requests.jsonl -o output.jsonl` writes (one line failed)
    outputs = []
    for r in reqs:
        if r["custom_id"] == "fake-0005":
            outputs.append({"id": "x", "custom_id": r["custom_id"],
                            "response": {"status_code": 400, "body": {"error": {"message": "too long"}}},
                            "error": None})
        else:
            content = responder(r["body"])
            outputs.append({"id": "x", "custom_id": r["custom_id"], "error": None, "response": {
                "status_code": 200, "request_id": "r",
                "body": {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 7, "completion_tokens": 3}}}})
    ofile = tmp_path / "output.jsonl"
    ofile.write_text("".join(json.dumps(o) + "\n" for o in reversed(outputs)))
    merged = _cli([*base, "--from-batch-output", str(ofile)])
    assert merged.returncode == 1, merged.stderr  # one failed line
    _, lines = read(out)
    assert [ln["item_id"] for ln in lines] == [f"fake-{i:04d}" for i in range(8)]  # item order
    assert "too long" in lines[5]["error"] and lines[5]["prediction"] is None
    assert lines[0]["prediction"] == "ans:question number 0" and lines[0]["usage"]["completion_tokens"] == 3
    # a second merge of the same output adds nothing
    assert _cli([*base, "--from-batch-output", str(ofile)]).returncode == 1
    assert len(read(out)[1]) == 8


def test_batch_bad_inputs_are_one_line_errors(tmp_path):
    rel = make_release(tmp_path, 3)
    out = tmp_path / "s.jsonl"
    common = ["run", "--benchmark", str(rel), "--task", "fake", "--out", str(out)]
    assert_one_line_error(_cli([*common, "--model", "anthropic/claude-3-5-haiku-latest", "--allow-provider", "anthropic/", "--batch"]),
                          "Anthropic message batches")
    assert_one_line_error(_cli([*common, "--model", "baseline:x", "--batch"]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "fake-0000"}\nnot json\n')
    assert_one_line_error(_cli([*common, "--model", "openai/m", "--api-base", "http://127.0.0.1:9/v1",
                                "--from-batch-output", str(bad)]), "bad.jsonl:2")
