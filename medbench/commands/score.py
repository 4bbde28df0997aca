"""Scoring commands: score, leaderboard, schema."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from medbench.errors import UserError, terminal_safe
from medbench.progress import console


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)


@click.command()
@click.argument("submission", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--benchmark", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Release folder (default: benchmarks/<name in the submission header>/).")
@click.option("--leaderboard", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboard"), show_default=True, help="Leaderboard folder to publish into.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (metrics, intervals; or every validation problem) on stdout.")
@click.option("--no-publish", is_flag=True, help="Score and report only; write nothing.")
@click.option("--judge", default=None, metavar="MODEL",
              help="Conversation task: also score accuracy/completeness 1-5 with this LLM judge.")
@click.option("--api-base", default=None, metavar="URL", help="API base URL for the judge model.")
@click.option("--workers", type=click.IntRange(min=1, max=256), default=None,
              help="Worker processes for SQL execution (default: CPU count).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01, max=3600), default=None,
              help="Per-query time limit in seconds for SQL execution (default 5).")
@click.option("--resamples", type=click.IntRange(min=1000, max=100_000), default=1000, show_default=True,
              help="Bootstrap resamples (patients resampled with their items).")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--official-denominator", is_flag=True,
              help="SQL (EHRSQL imports): also report RS(c) over every item of the source split, the "
                   "excluded ones counted as 0, as the shared task's denominator.")
@click.option("--allow-provider", "allow_provider", multiple=True, metavar="PROVIDER/",
              help="Allow the --judge to receive a credentialed release's text from this hosted provider "
                   "(repeatable; also [data-use] allow in medbench.toml).")
def score(submission: Path, benchmark: Path | None, leaderboard: Path, as_json: bool, no_publish: bool,
          judge: str | None, api_base: str | None, workers: int | None, timeout_s: float | None,
          resamples: int, seed: int, official_denominator: bool,
          allow_provider: tuple[str, ...]) -> None:
    """Validate and score a submission, then publish it on the static leaderboard."""
    from medbench.pipeline import score_file
    from medbench.progress import _disabled
    from medbench.scoring.submission import SubmissionInvalid

    try:
        out = score_file(submission, benchmark=benchmark, leaderboard=leaderboard, publish=not no_publish,
                         workers=workers, timeout_s=timeout_s, judge=judge, api_base=api_base,
                         n_resamples=resamples, seed=seed, show_progress=not _disabled(),
                         official_denominator=official_denominator,
                         allow_providers=allow_provider)
    except SubmissionInvalid as e:
        if as_json:
            click.echo(json.dumps(e.to_json(), sort_keys=True, ensure_ascii=False))
        raise
    r = out.result
    if as_json:
        summary = {k: r[k] for k in ("result_id", "model", "task", "split", "benchmark", "metrics",
                                     "intervals", "headline", "n_items", "n_missing", "complete",
                                     "usage", "bootstrap", "scorer_version")}
        for k in ("counts", "excluded"):
            if k in r:
                summary[k] = r[k]
        summary["rank"] = out.rank
        summary["published"] = str(out.leaderboard / "submissions" / f"{r['result_id']}.html") \
            if out.published else None
        from medbench.io import canonical_json

        click.echo(canonical_json(summary))
        return
    table = Table(title=escape(terminal_safe(f"{r['model']} · {r['task']} · {r['benchmark']['name']} · {r['split']}")))
    for col in ("metric", "value", "95% CI"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    head = r["headline"]["name"]
    for m, v in sorted(r["metrics"].items(), key=lambda kv: (kv[0] != head, kv[0])):
        iv = r["intervals"].get(m)
        name = f"[bold]{m}[/bold] (headline)" if m == head else m
        table.add_row(name, _fmt(v), f"[{_fmt(iv[0])}, {_fmt(iv[1])}]" if iv else "—")
    console.print(table)
    state = "complete" if r["complete"] else f"[yellow]incomplete[/yellow]: {r['n_missing']} missing (not ranked)"
    console.print(f"{r['n_items'] - r['n_missing']}/{r['n_items']} items scored; {state}")
    clusters = r.get("bootstrap", {}).get("clusters")
    if clusters is not None:
        console.print(f"intervals: patient-clustered bootstrap over {clusters} patients (clusters)")
    if (r.get("counts") or {}).get("resource_limit"):
        console.print(f"[yellow]{r['counts']['resource_limit']} item(s) stopped by a resource limit[/yellow] "
                      "(scored as wrong answers)")
    ex = r.get("excluded")
    if ex:
        console.print(escape(f"excluded from the release: {ex['n_excluded']} item(s) ({ex['reason']})"))
        od = ex.get("official_denominator")
        if od:
            console.print(escape("official denominator (n=%d, excluded items count 0): " % od["n"] + ", ".join(
                f"{k} {_fmt(od[k])}" for k in ("rs0", "rs5", "rs10", "rsN"))))
    if out.published:
        rank = f"rank {out.rank}" if out.rank is not None else "unranked"
        console.print(f"published {rank}: {out.leaderboard / 'submissions' / (r['result_id'] + '.html')}")


@click.group(invoke_without_command=True)
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              default=Path("leaderboard"), show_default=True, help="Leaderboard folder (the private review site).")
@click.option("--public", "public", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="Also write the public site into DIR: aggregate metrics, intervals, ranks, "
                                  "breakdowns, task cards; no gold, inputs or predictions of a credentialed release.")
@click.pass_context
def leaderboard(ctx: click.Context, directory: Path, public: Path | None) -> None:
    """Regenerate the static leaderboard HTML from its stored results (`leaderboard remove ID`
    removes one)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"dir": directory}
        return
    from medbench.progress import _disabled
    from medbench.publish import publish_results

    ranks = publish_results(directory, [], show_progress=not _disabled())
    table = leaderboard_summary(directory)
    if table is not None:
        console.print(table)
    console.print(f"rendered {len(ranks)} result(s) into {escape(str(directory / 'index.html'))}")
    if public is not None:
        from medbench.publish.site import publish_public

        publish_public(directory, public, show_progress=not _disabled())
        console.print(f"public site: {escape(str(public / 'index.html'))}")


@leaderboard.command("remove")
@click.argument("result_id")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Leaderboard folder (default: the group's --dir, leaderboard).")
@click.pass_context
def leaderboard_remove(ctx: click.Context, result_id: str, directory: Path | None) -> None:
    """Remove one result (RESULT_ID, as in results/RESULT_ID.json) and re-render the site."""
    from medbench.publish.site import remove_result

    directory = directory or (ctx.obj or {}).get("dir") or Path("leaderboard")
    r = remove_result(directory, result_id)
    console.print(f"removed {escape(r['result_id'])} ({escape(r['model'])} · {escape(r['task'])} · {escape(r['split'])})")


def leaderboard_summary(directory: Path) -> Table | None:
    """One row per (task, release, split): entries, complete ones, the top-ranked model with its
    headline and 95% CI (ties at rank 1 are counted). None when the leaderboard is empty."""
    from rich import box
    from rich.text import Text

    from medbench.publish.site import rank_groups
    from medbench.scoring.results import load_results

    groups = rank_groups(load_results(directory))
    if not groups:
        return None
    # a release is shown by name; its hash only when two releases of one task share the name
    shas: dict[tuple, set] = {}
    for g in groups:
        shas.setdefault(g["key"][:2], set()).add(g["key"][2])
    table = Table(title=f"leaderboard {escape(str(directory))}", box=box.SIMPLE_HEAD)
    for col in ("task", "release", "split", "entries", "complete", "top model", "headline", "95% CI"):
        table.add_column(col, justify="right" if col in ("entries", "complete", "headline", "95% CI") else "left",
                         overflow="fold")  # narrow terminals wrap cells, never cut them
    for g in groups:
        task, name, sha, split = g["key"]
        rows = g["rows"]  # ranked entries first, best first
        firsts = [r for r, rank in rows if rank == 1]
        if firsts:
            h = firsts[0]["headline"]
            # plain text, control characters escaped: a model name never drives the terminal
            model = Text(terminal_safe(firsts[0]["model"]))
            if len(firsts) > 1:
                model.append(f" (+{len(firsts) - 1} tied)", style="dim")
            cells = [model, f"{h['name']} {'↑' if h['higher_is_better'] else '↓'} {_fmt(h['value'])}",
                     f"[{_fmt(h['ci_low'])}, {_fmt(h['ci_high'])}]"]
        else:
            cells = [Text("no complete entry", style="yellow"), "—", "—"]
        release = name if len(shas[(task, name)]) == 1 else f"{name} ({sha[:8]})"
        # every cell as plain Text: strings from stored results are never read as rich markup
        table.add_row(*(c if isinstance(c, Text) else Text(terminal_safe(c)) for c in (
            task, release, split, str(len(rows)), str(sum(1 for r, _ in rows if r["complete"])), *cells)))
    return table


def _schemas() -> dict:
    def submission():
        from medbench.submission_schema import submission_json_schema
        return submission_json_schema()

    def result():
        from medbench.scoring.results import result_json_schema
        return result_json_schema()

    def packet():
        from medbench.extract.packet import packet_json_schema
        return packet_json_schema()

    def conversation():
        from medbench.tasks.conversation.schema import conversation_json_schema
        return conversation_json_schema()

    def record(name):
        def load():
            from medbench.tasks.schemas import json_schema
            return json_schema(name)
        return load

    from medbench.tasks import FAMILIES

    names = [f"{kind}-{task}" for task in FAMILIES.names() for kind in ("items", "gold")]
    return {"conversation": conversation, "packet": packet, "result": result, "submission": submission,
            **{name: record(name) for name in names}}


def _task_words() -> str:
    from medbench.tasks import FAMILIES

    names = list(FAMILIES)  # registration order
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


@click.command(help=f"""Print a JSON Schema: submission, result, packet, conversation, items-TASK, gold-TASK.

    items-TASK and gold-TASK (TASK: {_task_words()}) describe a release's public
    `TASK/items.jsonl` and private `TASK/gold.jsonl` lines.""")
@click.argument("name")
def schema(name: str) -> None:
    schemas = _schemas()
    if name not in schemas:
        raise UserError(f"unknown schema '{name}' (available: {', '.join(sorted(schemas))})")
    try:
        doc = schemas[name]()
    except ImportError as e:
        raise UserError(f"schema '{name}' is not available in this build: {e}") from None
    click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))


@click.command()
@click.argument("a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--benchmark", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Release folder (default: benchmarks/<name in the submission headers>/).")
@click.option("--workers", type=click.IntRange(min=1, max=256), default=None,
              help="Worker processes for SQL execution (default: CPU count).")
@click.option("--resamples", type=click.IntRange(min=1000, max=100_000), default=1000, show_default=True,
              help="Paired bootstrap resamples (patients resampled with their items).")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def compare(a: Path, b: Path, benchmark: Path | None, workers: int | None, resamples: int, seed: int,
            as_json: bool) -> None:
    """Paired comparison of two submissions (A − B) on the items both scored: every metric's
    difference with a 95% patient-clustered paired-bootstrap interval and a two-sided p-value."""
    from medbench.pipeline import score_file
    from medbench.progress import _disabled
    from medbench.scoring.stats import paired_bootstrap
    from medbench.tasks import get_family

    ra = score_file(a, benchmark=benchmark, publish=False, workers=workers, n_resamples=resamples, seed=seed,
                    show_progress=not _disabled()).result
    rb = score_file(b, benchmark=benchmark, publish=False, workers=workers, n_resamples=resamples, seed=seed,
                    show_progress=not _disabled()).result
    for what in ("task", "split"):
        if ra[what] != rb[what]:
            raise UserError(f"{b}: {what} '{rb[what]}' differs from {a}'s '{ra[what]}'")
    if ra["benchmark"]["sha256"] != rb["benchmark"]["sha256"]:
        raise UserError(f"{b}: release {rb['benchmark']['name']} differs from {a}'s {ra['benchmark']['name']}")
    family = get_family(ra["task"])
    if not (hasattr(family, "item_sums") and hasattr(family, "aggregate_sums")):
        raise UserError(f"task '{ra['task']}' has no per-item statistics to compare")
    res = paired_bootstrap(ra["records"], rb["records"], family.item_sums, family.aggregate_sums,
                           sorted(set(ra["metrics"]) & set(rb["metrics"])), n_resamples=resamples, seed=seed)
    if as_json:
        from medbench.io import canonical_json

        click.echo(canonical_json({"a": ra["model"], "b": rb["model"], "task": ra["task"], "split": ra["split"],
                                   "benchmark": ra["benchmark"], "resamples": resamples, "seed": seed, **res}))
        return
    table = Table(title=escape(f"{ra['model']} − {rb['model']} · {ra['task']} · {ra['benchmark']['name']} · "
                               f"{ra['split']} · {res['n_items']} items, {res['n_patients']} patients"))
    for col in ("metric", "A", "B", "A − B", "95% CI", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    head = ra["headline"]["name"]
    for m, d in sorted(res["metrics"].items(), key=lambda kv: (kv[0] != head, kv[0])):
        ci = d["ci"]
        table.add_row(f"[bold]{m}[/bold]" if m == head else m, _fmt(d["a"]), _fmt(d["b"]), _fmt(d["diff"]),
                      f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "—", _fmt(d["p_value"]))
    console.print(table)


COMMANDS = [score, compare, leaderboard, schema]
