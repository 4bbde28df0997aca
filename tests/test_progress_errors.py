"""Progress bars never stand above a one-line error: inputs are checked before a bar opens, and an
error found only mid-work clears the bar."""

from __future__ import annotations

import io

import pytest
from conftest import assert_one_line_error, run_cli
from rich.console import Console

from medbench.errors import UserError


def _bar_output(monkeypatch, exc: BaseException | None) -> str:
    from medbench import progress

    buf = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buf, width=100))
    monkeypatch.setenv("MEDBENCH_NO_PROGRESS", "0")
    with progress.progress_bar() as bar:
        t = bar.add_task("work", total=10)
        bar.advance(t, 3)
        if exc is not None:
            raise exc
    return buf.getvalue()


def test_bar_is_printed_on_success_and_cleared_on_user_error(monkeypatch):
    assert "work" in _bar_output(monkeypatch, None)  # the check below is not vacuous
    for exc in (UserError("bad value deep in a file"), FileNotFoundError(2, "No such file", "x")):
        with pytest.raises(type(exc)):
            _bar_output(monkeypatch, exc)
        from medbench import progress

        assert progress.console.file.getvalue() == ""


def test_build_out_through_a_file_fails_before_building(demo_dir, tmp_path):
    (tmp_path / "a-file").write_text("x")
    proc = run_cli("build", "--mimic-dir", str(demo_dir), "--db", str(tmp_path / "s.duckdb"), "--tasks", "icd",
                   "--out", str(tmp_path / "a-file" / "rel"), env={"MEDBENCH_NO_PROGRESS": "0"})
    assert_one_line_error(proc, "is not a folder")
    assert not (tmp_path / "s.duckdb").exists()  # refused before the store was built


@pytest.mark.parametrize("case", ["build-cohort-csv", "extract-out", "generate-out", "generate-model"])
def test_store_commands_check_inputs_before_ingesting(case, demo_dir, tmp_path, isolated_home):
    """A first run ingests the store with a progress bar; input that does not depend on the store
    is checked before that, so it is one stderr line with no bar above it."""
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "bad.csv").write_text("subject_id\nten\n")
    mimic = ("--mimic-dir", str(demo_dir))
    args, needle = {
        "build-cohort-csv": (("build", *mimic, "--db", str(tmp_path / "s.duckdb"),
                              "--cohort", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "rel")),
                             "not an integer"),
        "extract-out": (("extract-packets", *mimic, "--all", "--out", str(tmp_path / "a-file" / "p")),
                        "is not a folder"),
        "generate-out": (("generate-patient", *mimic, "--subject-id", "10014354",
                          "--out-dir", str(tmp_path / "a-file" / "o")), "is not a folder"),
        "generate-model": (("generate-patient", *mimic, "--subject-id", "10014354", "--model", "bad model",
                            "--out-dir", str(tmp_path / "o")), "bad model"),
    }[case]
    proc = run_cli(*args, env={"MEDBENCH_NO_PROGRESS": "0"})
    assert_one_line_error(proc, needle)
    assert not [*tmp_path.rglob("*.duckdb"), *isolated_home.rglob("*.duckdb")]  # failed before the ingest


def test_score_checks_the_leaderboard_path_before_scoring(tmp_path, monkeypatch):
    import _scoring_fixtures as fx

    from medbench.scoring import score as score_mod

    fx.use_fake_family(monkeypatch)
    rel = fx.make_release(tmp_path)
    sub = fx.write_submission(tmp_path / "sub.jsonl", rel)
    (tmp_path / "a-file").write_text("x")

    def no_scoring(*a, **k):
        raise AssertionError("scored before the leaderboard path was checked")

    monkeypatch.setattr(score_mod, "score", no_scoring)
    with pytest.raises(UserError, match="--leaderboard: .* is not a folder"):
        from medbench.pipeline import score_file

        score_file(sub, benchmark=rel, leaderboard=tmp_path / "a-file" / "lb")
