"""Release commands: `medbench build` and `medbench merge-shards`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from medbench.commands.options import db_option, mimic_dir_option
from medbench.progress import console
from medbench.tasks import FAMILIES


def _summary(result, title: str) -> None:
    from medbench.build import summary_rows
    from medbench.io import sha256_file
    from medbench.tasks.base import SPLITS

    table = Table(title=title)
    table.add_column("task")
    for col in (*SPLITS, "total"):
        table.add_column(col, justify="right")
    for row in summary_rows(result.manifest):
        table.add_row(*row)
    console.print(table)
    console.print(f"release {result.out} (manifest sha256 {sha256_file(result.out / 'manifest.json')[:16]})")


@click.command()
@mimic_dir_option
@db_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Release folder (default: benchmarks/<name>/).")
@click.option("--name", default=None, help="Release name (default: medbench-<source fingerprint[:8]>).")
@click.option("--tasks", default=",".join(FAMILIES), show_default=True,  # the registered families
              help="Comma-separated task families to build.")
@click.option("--cohort", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Only these patients (a CSV with a subject_id column, e.g. from build-cohort).")
@click.option("--shard", default=None, metavar="K/N",
              help="Build only shard K of N (patients by a stable hash); join with merge-shards.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every generator.")
@click.option("--sql-per-patient", type=int, default=None,
              help="Cap answerable SQL questions per patient (deterministic sample; default: one per "
                   "applicable template, ~80).")
@click.option("--sql-per-template", type=int, default=None,
              help="Size policy: cap answerable SQL items per template per split (a deterministic "
                   "sample of patients; default 500, which only binds above 500 patients in a split; "
                   "0: no cap).")
@click.option("--source-licence", type=click.Choice(["synthetic", "odbl", "credentialed"]), default=None,
              help="Record this source licence in the manifest instead of the one detected from the "
                   "store (synthetic data, the open ODbL demo, or credentialed MIMIC-IV).")
@click.option("--timings", "show_timings", is_flag=True,
              help="Print per-stage wall and CPU seconds (ingest, cohort, packets, each task, write, "
                   "hash) and the peak RSS.")
def build(mimic_dir, db, out, name, tasks, cohort, shard, seed, sql_per_patient, sql_per_template,
          source_licence, show_timings) -> None:
    """Build a versioned, reproducible benchmark release (public items, private gold).

    Memory: bounded by $MEDBENCH_MEMORY_LIMIT (default 4GB; DuckDB gets half and spills to
    $MEDBENCH_HOME/duckdb-tmp); records stream to disk, so it does not grow with the dataset."""
    from medbench.build import Timings, build_release

    timings = Timings()
    result = build_release(mimic_dir=mimic_dir, db=db, out=out, name=name, tasks=tasks, cohort=cohort,
                           shard=shard, seed=seed, sql_max_per_patient=sql_per_patient,
                           sql_max_per_template=sql_per_template, source_licence=source_licence, timings=timings)
    _summary(result, f"benchmark {result.manifest['name']}" + (f" shard {shard}" if shard else ""))
    if show_timings:
        from medbench.build import peak_rss_mb

        table = Table(title="build timings")
        for col in ("stage", "wall s", "CPU s", "peak RSS MiB so far"):
            table.add_column(col, justify="left" if col == "stage" else "right")
        for stage, wall, cpu in timings.rows():
            table.add_row(stage, f"{wall:.2f}", f"{cpu:.2f}", f"{timings.peak_rss.get(stage, 0.0):.0f}")
        wall = sum(w for _, w, _ in timings.rows())
        cpu = sum(c for _, _, c in timings.rows())
        table.add_row("total", f"{wall:.2f}", f"{cpu:.2f}", f"{peak_rss_mb():.0f}")
        console.print(table)
        console.print(f"peak RSS {peak_rss_mb():.0f} MiB")


@click.command("merge-shards")
@click.argument("shard_dirs", nargs=-1, required=True,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Merged release folder.")
@mimic_dir_option
@db_option
@click.option("--cohort", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The cohort CSV the shards were built with (needed when sql is rebuilt).")
def merge_shards(shard_dirs, out, mimic_dir, db, cohort) -> None:
    """Merge the N shard releases of one build into the full release (identical bytes).

    Tasks whose items depend on one patient are concatenated; the sql task (its release
    database) is rebuilt from the store for the merged patients, so name the same store."""
    from medbench.build import merge_shards as do_merge

    result = do_merge(list(shard_dirs), out, mimic_dir=mimic_dir, db=db, cohort=cohort)
    _summary(result, f"benchmark {result.manifest['name']} (merged {len(shard_dirs)} shards)")


COMMANDS = [build, merge_shards]
