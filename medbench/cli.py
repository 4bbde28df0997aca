"""The `medbench` command line: a thin click group. Each command parses its options, calls one
library function, and renders the result with rich. Commands live in `medbench/commands/`."""

from __future__ import annotations

import importlib
import os
import sys
import warnings

import click

from medbench import __version__
from medbench.errors import UserError, terminal_safe

#: Modules under medbench.commands, each exposing `COMMANDS` (a list of click commands).
COMMAND_MODULES = ("data", "score", "train", "ehrsql", "run", "extract", "generate", "build", "interop")


class _State:
    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="medbench")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """medbench: benchmark generation and leaderboard harness for clinical LLMs on MIMIC-IV."""
    _State.debug = debug or _State.debug or os.environ.get("MEDBENCH_DEBUG") == "1"


for _name in COMMAND_MODULES:
    for _cmd in importlib.import_module(f"medbench.commands.{_name}").COMMANDS:
        cli.add_command(_cmd)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {terminal_safe(message)}", err=True)


def _is_duckdb_io_error(e: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")
    if duckdb is None:
        return False
    kinds = tuple(k for k in (getattr(duckdb, "IOException", None), getattr(duckdb, "PermissionException", None))
                  if k is not None)
    text = str(e)
    return isinstance(e, kinds) or (isinstance(e, getattr(duckdb, "TransactionException", ())) and
                                    any(w in text for w in ("No space left", "Permission denied",
                                                            "Read-only file system", "File too large")))


def _is_duckdb_oom(e: BaseException) -> bool:
    duckdb = sys.modules.get("duckdb")
    kind = getattr(duckdb, "OutOfMemoryException", None) if duckdb is not None else None
    return kind is not None and isinstance(e, kind)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit 2 for anything the user can fix."""
    warnings.showwarning = _show_warning
    args = list(argv if argv is not None else sys.argv[1:])
    # --debug is global: accepted before or after the subcommand (it is taken out of the
    # arguments here, so a subcommand never sees it; "--" ends the options as usual).
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end] or os.environ.get("MEDBENCH_DEBUG") == "1"
    args = [a for a in args[:end] if a != "--debug"] + args[end:]
    _State.debug = debug
    try:
        rv = cli.main(args=args, prog_name="medbench", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        if debug:
            raise
        click.echo(f"error: {terminal_safe(' '.join(e.format_message().split()))}", err=True)
        sys.exit(2)
    except UserError as e:
        if debug:
            raise
        click.echo(f"error: {terminal_safe(e)}", err=True)
        sys.exit(e.exit_code)
    except OSError as e:
        # Unwritable output, full disk, read-only file system, a path through a file: the user's
        # to fix, so one line, also when the OS error names no file (a write in a worker thread).
        if debug:
            raise
        where = e.filename if e.filename is not None else "I/O error"
        click.echo(f"error: {terminal_safe(where)}: {terminal_safe(e.strerror or e)}", err=True)
        sys.exit(2)
    except Exception as e:
        # DuckDB reports a full or unwritable disk as its own IOException/TransactionException
        # (e.g. writing `<store>.tmp.wal`): one line too, and running out of its memory budget
        # (a setting the user can raise). Anything else is a bug: a traceback.
        if debug:
            raise
        if _is_duckdb_oom(e):
            from medbench.config import memory_limit_bytes

            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            click.echo(f"error: {terminal_safe(first)} — DuckDB's share of MEDBENCH_MEMORY_LIMIT="
                       f"{memory_limit_bytes() // 1024**2}MB was not enough: raise MEDBENCH_MEMORY_LIMIT",
                       err=True)
            sys.exit(2)
        if not _is_duckdb_io_error(e):
            raise
        click.echo(f"error: {terminal_safe(' '.join(str(e).split()))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
