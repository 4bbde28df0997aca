"""Option decorators shared by data commands, so every command spells them the same way."""

from __future__ import annotations

import click

mimic_dir_option = click.option(
    "--mimic-dir",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    help="MIMIC-IV copy in PhysioNet's layout (default: $MEDBENCH_MIMIC_DIR, else the embedded "
    "synthetic dataset).",
)
db_option = click.option(
    "--db", type=click.Path(dir_okay=False, path_type=str), default=None,
    help="DuckDB store path (default: under $MEDBENCH_HOME/stores/).",
)
