"""`extract-packets`: per-admission packets for a cohort (or every admission), in bulk."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.commands.options import mimic_dir_option
from medbench.errors import UserError
from medbench.progress import console


def cap_options(f):
    """--row-cap-* options (shared with generate-patient so both spell them the same)."""
    from medbench.extract.packet import DEFAULT_CAPS

    for name in ("emar", "radiology", "labs"):
        f = click.option(f"--row-cap-{name}", f"row_cap_{name}", type=click.IntRange(min=1),
                         default=getattr(DEFAULT_CAPS, name), show_default=True,
                         help=f"Keep at most N {name} rows per admission (deterministic; dropped "
                         "counts are recorded in the packet).")(f)
    return f


@click.command("extract-packets")
@click.option("--cohort", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Cohort CSV (a subject_id column): packets for all their admissions.")
@click.option("--all", "all_", is_flag=True, help="Packets for every admission in the store.")
@mimic_dir_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: <hadm_id>.json per admission plus manifest.json (replaced atomically).")
@cap_options
def extract_packets(cohort: Path | None, all_: bool, mimic_dir: str | None, out: Path,
                    row_cap_labs: int, row_cap_radiology: int, row_cap_emar: int) -> None:
    """Build per-admission packets with set-based queries (identical bytes to single extraction)."""
    from medbench.extract.cohort import read_cohort
    from medbench.extract.packet import Caps, admissions_of, write_packets
    from medbench.io import check_out_dir
    from medbench.store import open_store

    if bool(cohort) == all_:
        raise UserError("extract-packets: give exactly one of --cohort CSV or --all")
    subjects = read_cohort(cohort) if cohort else None
    check_out_dir(out)  # before the store: opening it may ingest, with a progress bar
    store = open_store(mimic_dir)
    adms = admissions_of(store, subjects)
    if not adms:
        raise UserError(f"{cohort}: none of its subject_ids has an admission in the store"
                        if cohort else "the store has no admissions")
    caps = Caps(labs=row_cap_labs, radiology=row_cap_radiology, emar=row_cap_emar)
    manifest = write_packets(store, [a[1] for a in adms], out, caps)
    table = Table(title=f"{manifest['n_packets']:,} packets → {out}")
    for col in ("table", "present", "rows", "kept", "dropped"):
        table.add_column(col, justify="right" if col in ("rows", "kept", "dropped") else "left")
    for name, t in sorted(manifest["tables"].items()):
        table.add_row(name, "yes" if t["present"] else "absent", f"{t['rows']:,}", f"{t['kept']:,}",
                      f"{t['dropped']:,}")
    console.print(table)


COMMANDS = [extract_packets]
