"""The `medbench` command line: a thin click group. Each command parses its options, calls one
library function, and renders the result with rich. Commands live in `medbench/commands/`."""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from medbench import __version__
from medbench.errors import UserError

#: Modules under medbench.commands, each exposing `COMMANDS` (a list of click commands).
COMMAND_MODULES = ("data", "score", "train", "ehrsql", "run", "extract", "generate", "build", "interop")


class _State:
    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="medbench")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """medbench: benchmark generation and leaderboard harness for clinical LLMs on MIMIC-IV."""
    _State.debug = debug or os.environ.get("MEDBENCH_DEBUG") == "1"


for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(f"medbench.commands.{_name}").COMMANDS:
        cli.add_command(_cmd)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit 2 for anything the user can fix."""
    warnings.showwarning = _show_warning
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or os.environ.get("MEDBENCH_DEBUG") == "1"
    try:
        rv = cli.main(args=argv, prog_name="medbench", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        if debug:
            raise
        click.echo(f"error: {' '.join(e.format_message().split())}", err=True)
        sys.exit(2)
    except UserError as e:
        if debug:
            raise
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        # Unwritable output, full disk, a path through a file: the user's to fix, so one line.
        if debug or e.filename is None:
            raise
        click.echo(f"error: {e.filename}: {e.strerror or e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
