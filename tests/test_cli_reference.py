"""The CLI reference in docs/CLI.md is generated from the commands themselves and kept current."""

import importlib.util

from conftest import REPO


def test_cli_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_cli", REPO / "docs" / "gen_cli.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    assert current == gen.render(), "docs/CLI.md is stale: run `python docs/gen_cli.py`"


def test_every_command_is_documented():
    from medbench.cli import cli

    text = (REPO / "docs" / "CLI.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"## medbench {name}" in text
