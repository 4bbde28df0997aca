"""The CLI reference in docs/CLI.md is generated from the commands themselves and kept current."""

import subprocess
import sys

from conftest import REPO


def test_cli_reference_is_current(tmp_path):
    # A fresh interpreter: other tests may register extra commands on the click group in-process.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('g', sys.argv[1]);"
            "g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g);"
            "sys.stdout.write(g.render())")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "docs" / "gen_cli.py")], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    current = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert current == out, "docs/CLI.md is stale: run `python docs/gen_cli.py`"


def test_every_command_is_documented():
    from medbench.cli import cli

    text = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"## medbench {name}" in text
