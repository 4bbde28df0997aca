"""Meeting researchers' tools: `export` (HF datasets / inspect_ai), `import-inspect`, `eval PLAN`,
and the CLI side of `medbench run --batch*` (the work is in medbench/batch.py)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.table import Table

from medbench.progress import console, progress_bar


def run_batch_modes(prepared, *, batch: bool, file_only: Path | None, from_output: Path | None,
                    poll_s: float):
    """`medbench run --batch | --batch-file-only F | --from-batch-output O`; None when only a file
    was written."""
    from rich.progress import TextColumn

    from medbench import batch as B
    from medbench.errors import UserError

    if sum(bool(x) for x in (batch, file_only, from_output)) > 1:
        raise UserError("--batch, --batch-file-only and --from-batch-output: give only one")
    if file_only:
        n = B.write_batch_file(prepared, file_only)
        console.print(f"wrote {n} batch requests to {file_only} (submission header: {prepared.out_path})")
        console.print(f"merge its output with: medbench run ... --from-batch-output OUT --out {prepared.out_path}")
        return None
    if from_output:
        return B.merge_output_file(prepared, from_output)
    with progress_bar(TextColumn("{task.fields[status]}"), TextColumn("failed {task.fields[failed]}")) as bar:
        tid = bar.add_task(f"batch {prepared.header['task']}/{prepared.header['split']}",
                           total=prepared.total, completed=prepared.already_written, status="submitting",
                           failed=0)

        def on_status(info: dict) -> None:
            bar.update(tid, completed=prepared.already_written + info["completed"] + info["failed"],
                       status=f"{info['batch_id']} {info['status']}", failed=info["failed"])

        return B.run_batch(prepared, poll_s=poll_s, on_status=on_status)


@click.command("export")
@click.argument("release", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["hf", "inspect"]), required=True,
              help="hf: Parquet + dataset card for `datasets.load_dataset`; inspect: inspect_ai task files.")
@click.option("--split", "splits", type=click.Choice(["train", "dev", "test"]), multiple=True,
              help="Only these splits (repeatable; default all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Export folder.")
@click.option("--with-gold", is_flag=True, help="hf: include the gold records (a <task>_gold config).")
@click.option("--i-hold-the-data", is_flag=True,
              help="Confirm you hold the credentialed data (required for --with-gold on such releases).")
def export_cmd(release: Path, fmt: str, splits: tuple[str, ...], out: Path, with_gold: bool,
               i_hold_the_data: bool) -> None:
    """Export a release for HF datasets or inspect_ai (public items; gold only with --with-gold)."""
    from medbench.errors import UserError
    from medbench.io import check_out_dir
    from medbench.release import open_release

    rel = open_release(release)
    check_out_dir(out, "--out")
    if fmt == "hf":
        from medbench.export.hf import export_hf

        counts = export_hf(rel, out, splits=list(splits) or None, with_gold=with_gold,
                           i_hold_the_data=i_hold_the_data)
        for config, per in sorted(counts.items()):
            console.print(f"{config}: " + ", ".join(f"{s} {n}" for s, n in per.items()))
    else:
        if with_gold:
            raise UserError("--with-gold: inspect task files read gold from the release itself; "
                            "use it with --format hf")
        from medbench.export.inspect_export import export_inspect

        files = export_inspect(rel, out, splits=list(splits) or None)
        for f in files:
            console.print(f"inspect eval {f} --model ...")
    console.print(f"export: {out}")


@click.command("import-inspect")
@click.argument("log", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Submission file (default submissions/<model>__<benchmark>__<task>__<split>.jsonl).")
@click.option("--benchmark", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Release folder (default: the path recorded in the log).")
def import_inspect_cmd(log: Path, out: Path | None, benchmark: Path | None) -> None:
    """Turn an inspect_ai log of a medbench task into a medbench submission."""
    from medbench.export.inspect_import import import_inspect_log

    path, n = import_inspect_log(log, out=out, benchmark=benchmark)
    console.print(f"{n} items → submission: {path}")


@click.command("eval")
@click.argument("plan", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-publish", is_flag=True, help="Run and score only; write no leaderboard.")
def eval_cmd(plan: Path, no_publish: bool) -> None:
    """Run an eval plan (models × tasks × splits), score each, publish once; resumable.
    Exit 1 if any pair failed (the others still run and publish)."""
    from medbench.evalplan import load_plan, run_plan

    p = load_plan(plan)
    t0 = time.perf_counter()
    outcome = run_plan(p, publish=not no_publish, log=lambda msg: console.print(msg))
    table = Table(title=f"medbench eval {plan.name}: headline [95% CI]")
    table.add_column("model")
    cols = sorted({(r.task, r.split) for r in outcome.rows})
    for task, split in cols:
        table.add_column(f"{task}/{split}", justify="right")
    for model in dict.fromkeys(r.model for r in outcome.rows):
        cells = []
        for task, split in cols:
            r = next((x for x in outcome.rows if x.model == model and x.task == task and x.split == split), None)
            cells.append("" if r is None else r.cell())
        table.add_row(model, *cells)
    console.print(table)
    if outcome.leaderboard:
        console.print(f"leaderboard: {outcome.leaderboard}")
    console.print(f"{len(outcome.rows)} pairs, {outcome.failed} failed, {time.perf_counter() - t0:.1f}s")
    if outcome.failed:
        raise click.exceptions.Exit(1)


COMMANDS = [export_cmd, import_inspect_cmd, eval_cmd]
