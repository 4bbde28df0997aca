"""Submission validation, scoring orchestration, results, and the score/schema CLI."""

from __future__ import annotations

import json

import pytest
from _scoring_fixtures import (
    header,
    line,
    make_release,
    release_items,
    run_cli_fake,
    snapshot,
    use_fake_family,
    write_submission,
)
from conftest import assert_one_line_error

from medbench.errors import UserError
from medbench.io import canonical_json
from medbench.pipeline import score_file
from medbench.scoring import submission as subm
from medbench.scoring.results import load_result, load_results
from medbench.scoring.submission import SubmissionInvalid, prediction_problem, validate_submission


@pytest.fixture
def rel(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    return make_release(tmp_path)


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else canonical_json(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _problems(path, rel):
    with pytest.raises(SubmissionInvalid) as ei:
        validate_submission(path, rel)
    return ei.value


# ---------------------------------------------------------------- scoring

def test_score_end_to_end(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel, correct=9)
    out = score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb", show_progress=False)
    r = out.result
    assert r["metrics"]["accuracy"] == pytest.approx(0.5)
    assert r["headline"]["name"] == "accuracy" and r["headline"]["value"] == pytest.approx(0.5)
    lo, hi = r["intervals"]["accuracy"]
    assert lo <= 0.5 <= hi and hi - lo > 0.1
    assert r["complete"] and r["n_items"] == 18 and r["n_missing"] == 0
    assert r["usage"] == {"prompt_tokens": 180, "completion_tokens": 90, "cost_usd": pytest.approx(0.018),
                          "latency_s_mean": 0.5}
    rec = r["records"][0]
    assert rec["input"] == {"question": "question 0?", "category": "cat0"}
    assert rec["gold"] == {"answer": "A0", "tables": ["admissions"]}
    assert rec["prediction"] == "A0" and rec["correct"] is True
    assert r["records"][-1]["correct"] is False
    assert out.published and out.rank == 1
    stored = load_result(tmp_path / "lb" / "results" / f"{r['result_id']}.json")
    assert stored["metrics"] == json.loads(canonical_json(r["metrics"]))


def test_missing_items_scored_wrong_and_marked_incomplete(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel, skip=4)
    r = score_file(sub, benchmark=rel, publish=False, show_progress=False).result
    assert not r["complete"] and r["n_missing"] == 4 and r["n_items"] == 18
    assert r["metrics"]["accuracy"] == pytest.approx(14 / 18)
    missing = [x for x in r["records"] if x.get("missing")]
    assert len(missing) == 4
    assert all(x["correct"] is False and x["error"] == "no prediction submitted" for x in missing)


def test_result_and_site_are_byte_identical_across_runs(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel, correct=7)
    score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb1", show_progress=False)
    score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb2", show_progress=False)
    a, b = snapshot(tmp_path / "lb1"), snapshot(tmp_path / "lb2")
    # index, the submission page, its records, docs/METRICS.md, publish-index.json
    assert a == b and len(a) == 5 and "publish-index.json" in a


def test_no_publish_writes_nothing(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb", publish=False, show_progress=False)
    assert not (tmp_path / "lb").exists()


def test_rescoring_replaces_the_same_result(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    for _ in range(2):
        score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb", show_progress=False)
    assert len(load_results(tmp_path / "lb")) == 1


def test_judge_refused_for_non_conversation(rel, tmp_path):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    with pytest.raises(UserError, match="conversation"):
        score_file(sub, benchmark=rel, judge="gpt-x", publish=False, show_progress=False)


# ---------------------------------------------------------------- validation

def test_every_problem_reported_with_line_numbers(rel, tmp_path):
    ids = [it["item_id"] for it in release_items(rel)]
    rows = [header(rel), line(ids[0], "A0"), "{not json", line("nope", "x"), line(ids[0], "again"),
            line(ids[1], 42), line("sql-train-0", "T"), '{"item_id": 5, "prediction": null}', "[1, 2]"]
    e = _problems(_write(tmp_path / "s.jsonl", rows), rel)
    got = [(p.line, p.message) for p in e.problems]
    lines = [ln for ln, _ in got]
    assert lines == sorted(lines) and set(lines) == {3, 4, 5, 6, 7, 8, 9}
    text = " | ".join(str(p) for p in e.problems)
    assert "line 3: not valid JSON" in text
    assert "line 4: item_id 'nope' is not in the release" in text
    assert "line 5: duplicate item_id" in text and "first on line 2" in text
    assert "line 6: prediction" in text
    assert "line 7: item_id 'sql-train-0' is in split 'train', not 'test'" in text
    assert "line 9: an item line must be a JSON object" in text
    assert str(e).startswith(f"s.jsonl: {len(e.problems)} problems; line 3: not valid JSON")


@pytest.mark.parametrize("change,needle", [
    ({"benchmark": {"name": "fakebench", "sha256": "0" * 64}}, "does not match the release"),
    ({"task": "bogus"}, "unknown task 'bogus'"),
    ({"split": "holdout"}, "split"),
    ({"schema_version": 2}, "schema_version"),
    ({"schema_version": True}, "schema_version"),
    ({"model": ""}, "model"),
    ({"benchmark": {"name": "../../etc", "sha256": "0" * 64}}, "not a release name"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_headers(rel, tmp_path, change, needle):
    ids = [it["item_id"] for it in release_items(rel)]
    e = _problems(_write(tmp_path / "s.jsonl", [header(rel, **change), line(ids[0], "A0")]), rel)
    assert e.problems[0].line == 1 and needle in e.problems[0].message, e.problems


def test_task_not_in_release(rel, tmp_path, monkeypatch):
    from medbench import tasks

    monkeypatch.setitem(tasks.REGISTRY, "icd", "_scoring_fixtures")
    e = _problems(_write(tmp_path / "s.jsonl", [header(rel, task="icd")]), rel)
    assert "task 'icd' is not in release 'fakebench'" in str(e)


def test_first_line_must_be_header(rel, tmp_path):
    ids = [it["item_id"] for it in release_items(rel)]
    e = _problems(_write(tmp_path / "s.jsonl", [line(ids[0], "A0")]), rel)
    assert "line 1: the first line must be the header" in str(e)


def test_empty_file(rel, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_bytes(b"\n\n")
    assert "no header line" in str(_problems(p, rel))


def test_non_utf8_nan_and_oversized_lines(rel, tmp_path, monkeypatch):
    monkeypatch.setattr(subm, "MAX_LINE_BYTES", 400)
    ids = [it["item_id"] for it in release_items(rel)]
    p = tmp_path / "s.jsonl"
    p.write_bytes(canonical_json(header(rel)).encode() + b"\n"
                  + b'{"item_id": "' + ids[0].encode() + b'", "prediction": "\xff\xfe"}\n'
                  + b'{"item_id": "x", "prediction": NaN}\n'
                  + b'{"item_id": "y", "prediction": "' + b"a" * 900 + b'"}\n'
                  + canonical_json(line(ids[1], "A1")).encode() + b"\n")
    e = _problems(p, rel)
    assert [pr.line for pr in e.problems] == [2, 3, 4]
    assert "not valid UTF-8" in e.problems[0].message
    assert "NaN" in e.problems[1].message
    assert "longer than 400 bytes" in e.problems[2].message


def test_oversized_file(rel, tmp_path, monkeypatch):
    monkeypatch.setattr(subm, "MAX_FILE_BYTES", 100)
    sub = write_submission(tmp_path / "s.jsonl", rel)
    e = _problems(sub, rel)
    assert e.problems[0].line is None and "the limit is 100" in str(e)


def test_report_lists_twenty_then_counts(rel, tmp_path):
    rows = [header(rel)] + [line(f"unknown-{i}", "x") for i in range(25)]
    e = _problems(_write(tmp_path / "s.jsonl", rows), rel)
    rep = e.report()
    assert len(rep) == 21 and rep[-1] == "and 5 more"
    assert e.to_json()["n_problems"] == 25


def test_default_benchmark_dir_is_benchmarks_name_under_cwd(rel, tmp_path, monkeypatch):
    sub = write_submission(tmp_path / "s.jsonl", rel)
    monkeypatch.chdir(tmp_path)
    assert validate_submission(sub).release.name == "fakebench"
    monkeypatch.chdir(tmp_path / "benchmarks")
    assert "pass --benchmark DIR" in str(_problems(sub, None))


@pytest.mark.parametrize("task,value,ok", [
    ("sql", "SELECT 1", True), ("sql", None, True), ("sql", 1, False), ("sql", ["x"], False),
    ("icd", ["A00", "B01"], True), ("icd", [], True), ("icd", "A00", False), ("icd", ["A00", 3], False),
    ("conversation", {"turns": []}, True), ("conversation", None, True), ("conversation", "hi", False),
])
def test_prediction_types(task, value, ok):
    assert (prediction_problem(task, value) is None) == ok


# ---------------------------------------------------------------- CLI

def test_cli_score_json_and_leaderboard(rel, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich's width in the subprocess: one line per table row
    sub = write_submission(tmp_path / "s.jsonl", rel, correct=12)
    proc = run_cli_fake("score", str(sub), "--benchmark", str(rel), "--leaderboard", str(tmp_path / "lb"),
                        "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["metrics"]["accuracy"] == pytest.approx(12 / 18)
    assert out["headline"]["ci_low"] <= out["headline"]["value"] <= out["headline"]["ci_high"]
    assert out["rank"] == 1 and out["published"].endswith(".html")
    (tmp_path / "lb" / "index.html").unlink()
    weak = write_submission(tmp_path / "w.jsonl", rel, model="[bold]weak[/i]", correct=2, skip=3)
    assert run_cli_fake("score", str(weak), "--benchmark", str(rel), "--leaderboard", str(tmp_path / "lb"),
                        "--no-publish").returncode == 0  # a hostile name never breaks rich output
    score_file(weak, benchmark=rel, leaderboard=tmp_path / "lb", show_progress=False)
    proc = run_cli_fake("leaderboard", "--dir", str(tmp_path / "lb"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lb" / "index.html").is_file()
    # the summary: one row per task/release/split with entries, complete ones, the top model and its CI
    summary = " ".join(proc.stderr.split())
    lo, hi = (f"{v:.4f}" for v in (out["headline"]["ci_low"], out["headline"]["ci_high"]))
    for needle in ("task release split entries complete top model headline 95% CI",
                   "sql fakebench test 2 1 model-a", f"accuracy ↑ {12 / 18:.4f} [{lo}, {hi}]",
                   "rendered 2 result(s)"):
        assert needle in summary, (needle, proc.stderr)
    assert "weak" not in summary  # incomplete: never the top model


def test_cli_invalid_submission_one_line_and_json_problems(rel, tmp_path):
    write_submission(tmp_path / "good.jsonl", rel)
    run_cli_fake("score", str(tmp_path / "good.jsonl"), "--benchmark", str(rel),
                 "--leaderboard", str(tmp_path / "lb"))
    before = snapshot(tmp_path / "lb")
    rows = [header(rel)] + [line(f"bad-{i}", "x") for i in range(3)]
    bad = _write(tmp_path / "bad.jsonl", rows)
    proc = run_cli_fake("score", str(bad), "--benchmark", str(rel), "--leaderboard", str(tmp_path / "lb"),
                        "--json")
    assert_one_line_error(proc, "bad.jsonl: 3 problems; line 2: item_id 'bad-0' is not in the release")
    assert [p["line"] for p in json.loads(proc.stdout)["problems"]] == [2, 3, 4]
    assert snapshot(tmp_path / "lb") == before


def test_cli_schema(tmp_path):
    proc = run_cli_fake("schema", "result")
    assert proc.returncode == 0 and json.loads(proc.stdout)["title"] == "medbench result"
    proc = run_cli_fake("schema", "submission")
    assert proc.returncode == 0 and "schema_version" in proc.stdout
    assert_one_line_error(run_cli_fake("schema", "nope"), "unknown schema 'nope'", "submission",
                          "items-sql", "gold-sql", "items-icd", "gold-icd", "items-conversation",
                          "gold-conversation")


def test_cli_missing_file(tmp_path):
    assert_one_line_error(run_cli_fake("score", str(tmp_path / "absent.jsonl")), "submission not found")
