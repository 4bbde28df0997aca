"""CLI conventions: main.py == console script, --debug tracebacks, one-line warnings/errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_DIR, REPO, assert_one_line_error, run_cli

from medbench.store.tables import TABLES

SCRIPT = Path(sys.executable).parent / "medbench"


def _script(*args: str) -> subprocess.CompletedProcess:
    if not SCRIPT.exists():
        pytest.skip(f"console script not installed at {SCRIPT}")
    env = dict(os.environ, MEDBENCH_NO_PROGRESS="1")
    return subprocess.run([str(SCRIPT), *args], cwd=str(REPO), env=env, capture_output=True, check=False,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", [("--help",), ("build-cohort", "--help"), ("--version",),
                                  ("no-such-command",)])
def test_main_py_and_console_script_behave_identically(args):
    a, b = run_cli(*args), _script(*args)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    if args == ("--help",):
        assert a.returncode == 0 and "build-cohort" in a.stdout and "download-demo" in a.stdout


def test_unknown_command_is_one_line():
    assert_one_line_error(run_cli("no-such-command"), "no-such-command")


def test_debug_shows_traceback_plain_run_one_line(tmp_path):
    args = ("ingest", "--mimic-dir", str(tmp_path / "absent"), "--db", str(tmp_path / "x.duckdb"))
    plain = run_cli(*args)
    assert_one_line_error(plain, "not found")
    for debug in (run_cli("--debug", *args), run_cli(*args, "--debug")):  # before or after the subcommand
        assert debug.returncode != 0
        assert "Traceback" in debug.stderr and "UserError" in debug.stderr
        assert "No such option" not in debug.stderr


@pytest.mark.parametrize("kind", ["fifo", "dev_full"])
def test_output_paths_refuse_devices_and_fifos(tmp_path, kind):
    import stat

    if kind == "fifo":
        target = tmp_path / "pipe"
        os.mkfifo(target)
        is_kind = stat.S_ISFIFO
    else:
        target = Path("/dev/full")
        if not target.exists():
            pytest.skip("/dev/full is absent")
        is_kind = stat.S_ISCHR
    # `run --out` and a command writing through the atomic helpers (build-cohort --out)
    for args in (("run", "--benchmark", str(tmp_path / "nope"), "--task", "sql", "--model", "baseline:abstain",
                  "--out", str(target)),
                 ("build-cohort", "--mimic-dir", str(DEMO_DIR), "--db", str(tmp_path / "s.duckdb"),
                  "--limit", "2", "--out", str(target))):
        if args[0] == "build-cohort" and not DEMO_DIR.is_dir():
            continue
        proc = run_cli(*args)
        assert_one_line_error(proc, str(target))
        assert is_kind(os.stat(target).st_mode), "the device / FIFO must be left as it was"
    from medbench.errors import UserError
    from medbench.io import atomic_write_text
    with pytest.raises(UserError, match="not a regular file or folder"):
        atomic_write_text(target, "x")
    assert is_kind(os.stat(target).st_mode)


def test_missing_optional_tables_warn_in_single_lines(tmp_path):
    if not DEMO_DIR.is_dir():
        pytest.skip(f"shared data not available: {DEMO_DIR} is absent")
    root = tmp_path / "mimic"
    (root / "hosp").mkdir(parents=True)
    required = [t for t in TABLES if t.required]
    for spec in required:
        (root / "hosp" / f"{spec.name}.csv.gz").symlink_to(DEMO_DIR / "hosp" / f"{spec.name}.csv.gz")
    proc = run_cli("ingest", "--mimic-dir", str(root), "--db", str(tmp_path / "s.duckdb"))
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    for relpath in ("hosp/procedures_icd", "icu/icustays", "note/discharge"):
        mine = [ln for ln in warnings if f"optional table {relpath} " in ln]
        assert len(mine) == 1, (relpath, proc.stderr)
    # Python's default warning format would add "UserWarning" and the source line.
    assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr


def test_duckdb_out_of_memory_is_one_line_naming_the_setting(monkeypatch, capsys):
    """DuckDB running out of its share of the memory budget is a setting the user can raise:
    one line naming MEDBENCH_MEMORY_LIMIT and its value, exit 2, no traceback."""
    import duckdb

    import medbench.cli as cli_module

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException(
            "Out of Memory Error: could not allocate block of size 256.0 KiB (715.1 MiB/715.2 MiB used)\n\n"
            "Possible solutions:\n* Reducing the number of threads")

    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "1500MB")
    monkeypatch.setattr(cli_module.cli, "main", out_of_memory)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["extract-packets", "--all"])
    assert exit_info.value.code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: Out of Memory Error"), err
    assert "MEDBENCH_MEMORY_LIMIT=1500MB" in err[0] and "Traceback" not in err[0]
