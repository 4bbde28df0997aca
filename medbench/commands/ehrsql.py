"""`medbench import-ehrsql`: the EHRSQL 2024 shared task (one split) as a medbench release."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.progress import console


@click.command("import-ehrsql")
@click.option("--ehrsql-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="EHRSQL 2024 folder (train/, valid/, tables.json).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The EHRSQL SQLite database, .sqlite or .sqlite.gz (default: mimic_iv.sqlite[.gz] "
                   "in --ehrsql-dir).")
@click.option("--split", type=click.Choice(["train", "valid", "test"]), required=True,
              help="EHRSQL split; becomes medbench's train / dev / test.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Release folder to write (replaced atomically).")
@click.option("--name", default=None, help="Release name (default: ehrsql2024-<split>).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: CPUs).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Per-query time limit in seconds.")
def import_ehrsql_cmd(ehrsql_dir: Path, db: Path | None, split: str, out: Path, name: str | None,
                      workers: int | None, timeout_s: float) -> None:
    """Import EHRSQL 2024 as a release of task sql (SQLite); gold answers computed by medbench."""
    from medbench.tasks.sql.ehrsql import import_ehrsql

    summary = import_ehrsql(ehrsql_dir, db, split, out, name=name, workers=workers, timeout_s=timeout_s)
    table = Table(title=f"release {summary['name']} → {summary['out']} (split {summary['split']})")
    table.add_column("what")
    table.add_column("items", justify="right")
    table.add_row("answerable", str(summary["answerable"]))
    table.add_row("unanswerable (gold null)", str(summary["unanswerable"]))
    for why, n in sorted(summary["excluded"].items()):
        table.add_row(f"excluded: {why}", str(n))
    agree = summary["source_answers"]
    table.add_row("gold = answer.json", f"{agree['agree']} / {agree['agree'] + agree['disagree']}")
    console.print(table)
    if agree["disagree"] or summary["excluded"].get("gold_sql_failed"):
        console.print(f"[yellow]warning: {agree['disagree']} gold answers differ from answer.json; "
                      f"{summary['excluded'].get('gold_sql_failed', 0)} gold queries failed[/yellow]")


COMMANDS = [import_ehrsql_cmd]
