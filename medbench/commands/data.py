"""Store-level commands: ingest, synth, download-demo, build-cohort."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.commands.options import db_option, mimic_dir_option
from medbench.progress import console


@click.command()
@mimic_dir_option
@db_option
@click.option("--force", is_flag=True, help="Re-ingest even if the store is up to date.")
@click.option("--modules", default=None, metavar="LIST",
              help="Ingest only these modules (comma-separated among hosp,icu,note,ed; hosp is "
                   "required); later commands reuse the store. Default: all found.")
def ingest(mimic_dir: str | None, db: str | None, force: bool, modules: str | None) -> None:
    """Load a MIMIC-IV copy (hosp/, icu/, note/, ed/) into DuckDB; reused while unchanged.

    Memory: DuckDB uses at most half of $MEDBENCH_MEMORY_LIMIT (default 4GB) and spills to
    $MEDBENCH_HOME/duckdb-tmp beyond it."""
    from medbench.store import ingest as do_ingest
    from medbench.store import resolve_mimic_dir
    from medbench.store.ingest import parse_modules

    mods = parse_modules(modules)
    store = do_ingest(resolve_mimic_dir(mimic_dir), db, force=force, modules=mods)
    table = Table(title=f"store {store.path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in sorted(store.tables.items()):
        table.add_row(name, f"{n:,}")
    console.print(table)
    state = f"ingested in {store.seconds:.1f}s" if store.ingested else "up to date (reused)"
    console.print(f"{state}; fingerprint {store.fingerprint[:16]}")


@click.command()
@click.option("--patients", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def synth(patients: int, seed: int, out: Path) -> None:
    """Write a deterministic synthetic MIMIC-IV-shaped dataset (with notes) in PhysioNet's layout."""
    from medbench.store.synth import generate

    summary = generate(out, patients=patients, seed=seed)
    table = Table(title=f"synthetic MIMIC-IV at {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in sorted(summary["rows"].items()):
        table.add_row(name, f"{n:,}")
    console.print(table)


@click.command("download-demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Destination (default: $MEDBENCH_HOME/mimic-iv-demo-2.2).")
@click.option("--base-url", default=None, help="Release base URL (default: PhysioNet's).")
@click.option("--allow-missing", "allow_missing", multiple=True, metavar="PATH",
              help="Accept that the server lacks this listed file (e.g. icu/chartevents.csv.gz); "
              "repeatable. Without it a file missing on the server is an error.")
def download_demo(out: Path | None, base_url: str | None, allow_missing: tuple[str, ...]) -> None:
    """Download the open MIMIC-IV demo v2.2, verify SHA256SUMS, resume partial files."""
    from medbench.store.demo import DEFAULT_BASE_URL
    from medbench.store.demo import download_demo as do_download

    report = do_download(out, base_url or DEFAULT_BASE_URL, allow_missing=allow_missing)
    table = Table(title=f"MIMIC-IV demo at {report['out']}")
    for col in ("status", "files"):
        table.add_column(col)
    for status, n in sorted(report["counts"].items()):
        table.add_row(status, str(n))
    console.print(table)


@click.command("build-cohort")
@mimic_dir_option
@db_option
@click.option("--limit", type=int, default=1000, show_default=True, help="Number of patients.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output CSV (default: cohorts/top{N}_by_admission_count.csv).")
def build_cohort(mimic_dir: str | None, db: str | None, limit: int, out: Path | None) -> None:
    """The top-N patients by admission count (ties: subject_id ascending) as a CSV."""
    from medbench.extract.cohort import build_cohort as do_build
    from medbench.extract.cohort import write_cohort
    from medbench.store import open_store

    if limit < 1:
        raise click.BadParameter(f"must be at least 1 (got {limit})", param_hint="--limit")
    store = open_store(mimic_dir, db)
    rows = do_build(store, limit)
    out = out or Path("cohorts") / f"top{limit}_by_admission_count.csv"
    write_cohort(rows, out)
    table = Table(title=f"cohort: {len(rows)} patients → {out}")
    for col in ("subject_id", "admissions", "first admit", "last discharge", "discharge notes"):
        table.add_column(col)
    shown = rows if len(rows) <= 15 else rows[:10]
    for r in shown:
        table.add_row(str(r["subject_id"]), str(r["admission_count"]), str(r["first_admittime"]),
                      str(r["last_dischtime"]), str(r["discharge_note_count"]))
    if len(rows) > len(shown):
        table.add_row("…", "", "", "", "")
    console.print(table)


COMMANDS = [ingest, synth, download_demo, build_cohort]
