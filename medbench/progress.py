"""Rich progress bars and tables, written to stderr so stdout stays machine-readable."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from medbench.errors import UserError, terminal_safe

console = Console(stderr=True)
stdout_console = Console()


def _disabled() -> bool:
    return os.environ.get("MEDBENCH_NO_PROGRESS") == "1"


@contextlib.contextmanager
def progress_bar(*extra_columns) -> Iterator[Progress]:
    """A progress bar with count, elapsed and ETA; extra columns (e.g. tokens, cost) appended."""
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        *extra_columns,
    ]
    with Progress(*columns, console=console, transient=False, disable=_disabled()) as progress:
        _safe_descriptions(progress)
        try:
            yield progress
        except (UserError, OSError):
            # Input is checked before a bar opens; an error found only mid-work (a bad value deep in
            # a CSV, a full disk) must still be the one line on stderr (medbench.cli), so the bar
            # is cleared rather than left above it.
            progress.live.transient = True
            progress.live.stop()
            progress.disable = True  # so Progress.stop adds no blank line either
            raise


def _safe_descriptions(progress: Progress) -> None:
    """Descriptions are shown as rich markup: escape markup and control characters in them."""
    from rich.markup import escape

    add, update = progress.add_task, progress.update

    def add_task(description, *args, **kwargs):
        return add(escape(terminal_safe(description)), *args, **kwargs)

    def update_task(task_id, *args, description=None, **kwargs):
        if description is not None:
            kwargs["description"] = escape(terminal_safe(description))
        return update(task_id, *args, **kwargs)

    progress.add_task = add_task  # type: ignore[method-assign]
    progress.update = update_task  # type: ignore[method-assign]
