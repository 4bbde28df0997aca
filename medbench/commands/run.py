"""`medbench run`: any model on a release's task split -> submission JSONL (cache, resume)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.progress import TextColumn
from rich.table import Table

from medbench.progress import console, progress_bar
from medbench.tasks import FAMILIES


@click.command("run")
@click.option("--benchmark", type=click.Path(path_type=Path), required=True, help="Release folder.")
@click.option("--task", required=True, help=" | ".join(FAMILIES))  # the registered families
@click.option("--model", required=True,
              help="litellm model string (openai/..., hosted_vllm/... with --api-base, ollama/...), "
                   "hf:PATH, vllm:PATH or baseline:NAME.")
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="dev", show_default=True)
@click.option("--concurrency", type=click.IntRange(min=1, max=1024), default=8, show_default=True,
              help="Concurrent requests (API models) or batch size (hf:).")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Only the first N items.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Submission file (default submissions/<model>__<benchmark>__<task>__<split>.jsonl).")
@click.option("--api-base", default=None, help="Endpoint base URL (e.g. http://localhost:8000/v1).")
@click.option("--temperature", type=click.FloatRange(min=0, max=2), default=0.0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Max output tokens.")
@click.option("--seed", type=int, default=None)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--retry-errors/--no-retry-errors", default=True, show_default=True,
              help="On resume, request again the items whose line in the file carries an error.")
@click.option("--retry-limit", type=click.IntRange(min=0, max=20), default=3, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Per-request timeout in seconds.")
@click.option("--allow-provider", "allow_provider", multiple=True, metavar="PROVIDER/",
              help="Allow sending a credentialed release to this hosted provider (or model), e.g. "
                   "azure/ (repeatable; also [data-use] allow in medbench.toml).")
@click.option("--fewshot", type=click.IntRange(min=0, max=64), default=0, show_default=True,
              help="K exemplars drawn (seeded) from the release's train split; recorded in the header.")
@click.option("--fewshot-seed", type=int, default=0, show_default=True, help="Seed of the --fewshot draw.")
@click.option("--batch", is_flag=True,
              help="Send the items as one OpenAI batch (/v1/files + /v1/batches), poll, merge; resumable.")
@click.option("--batch-file-only", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Only write the batch request JSONL here (for `vllm run-batch -i FILE`).")
@click.option("--from-batch-output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Merge a batch output JSONL (vLLM run-batch / OpenAI batch) into the submission.")
@click.option("--batch-poll", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Seconds between batch status polls.")
@click.pass_context
def run_cmd(ctx: click.Context, benchmark: Path, task: str, model: str, split: str, concurrency: int,
            limit: int | None, out: Path | None, api_base: str | None, temperature: float,
            max_tokens: int | None, seed: int | None, no_cache: bool, retry_limit: int,
            timeout_s: float, retry_errors: bool,
            allow_provider: tuple[str, ...], fewshot: int = 0, fewshot_seed: int = 0, batch: bool = False,
            batch_file_only: Path | None = None, from_batch_output: Path | None = None,
            batch_poll: float = 10.0) -> None:
    """Run a model on a task split; resumable. Exit 1 if any item failed (its error is in the file);
    exit 2 when the first items all fail with the same non-retryable error (e.g. no API key)."""
    from medbench.run import prepare_run

    # Every input (release, task, model, output file, resume header) is resolved before the bar
    # opens, so bad input is one line on stderr with no progress line before it.
    prepared = prepare_run(benchmark, task, model, split=split, concurrency=concurrency, limit=limit, out=out,
                           api_base=api_base, temperature=temperature, max_tokens=max_tokens, seed=seed,
                           use_cache=not no_cache, retry_limit=retry_limit, timeout_s=timeout_s,
                           retry_errors=retry_errors, allow_providers=allow_provider,
                           fewshot=fewshot, fewshot_seed=fewshot_seed)
    if batch or batch_file_only or from_batch_output:  # batch APIs (issue 17): medbench/batch.py
        from medbench.commands.interop import run_batch_modes

        summary = run_batch_modes(prepared, batch=batch, file_only=batch_file_only,
                                  from_output=from_batch_output, poll_s=batch_poll)
        if summary is None:
            return
        _summary_table(summary, model, task, split)
        if summary.failed:
            _failed_line(summary)
            ctx.exit(1)
        return
    t0 = time.perf_counter()
    with progress_bar(TextColumn("failed {task.fields[failed]}"), TextColumn("{task.fields[tokens]} tok"),
                      TextColumn("{task.fields[cost]}"), TextColumn("{task.fields[rate]}")) as bar:
        tid = bar.add_task(f"{task}/{split}", total=prepared.total, completed=prepared.already_written,
                           failed=0, tokens=0, cost="$-", rate="")

        def on_item(s, gen) -> None:
            s.failed += gen.error is not None  # live count; recomputed from the file at the end
            dt = time.perf_counter() - t0
            bar.update(tid, advance=1, failed=s.failed,
                       tokens=f"{s.prompt_tokens + s.completion_tokens:,}",
                       cost="$-" if s.cost_usd is None else f"${s.cost_usd:.4f}",
                       rate=f"{s.done / dt:.1f}/s" if dt > 0 else "")

        summary = prepared.execute(progress=on_item)
    _summary_table(summary, model, task, split)
    if summary.failed:
        _failed_line(summary)
        ctx.exit(1)


def _summary_table(summary, model: str, task: str, split: str) -> None:
    table = Table(title=f"medbench run: {model} on {task}/{split}")
    table.add_column("")
    table.add_column("value", justify="right")
    for label, value in (
        ("items", summary.total), ("already written (resumed)", summary.skipped),
        ("errored lines requested again", summary.retried),
        ("written this run", summary.done), ("from cache", summary.cached),
        ("HTTP requests", summary.requests),
        ("failed (in file)", summary.failed), ("parse errors (in file)", summary.parse_errors),
        ("prompt tokens", f"{summary.prompt_tokens:,}"), ("completion tokens", f"{summary.completion_tokens:,}"),
        ("cost (USD)", "unknown" if summary.cost_usd is None else f"{summary.cost_usd:.4f}"),
        ("seconds", f"{summary.seconds:.1f}"), ("items/s", f"{summary.items_per_s:.1f}"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    outcomes = Table(title="items in the file by outcome")
    outcomes.add_column("outcome")
    outcomes.add_column("items", justify="right")
    for label, n in summary.outcomes.items():
        outcomes.add_row(label, str(n))
    console.print(outcomes)
    console.print(f"submission: {summary.out}")


def _failed_line(summary) -> None:
    """One line: how many items failed, by error class, and how to retry them."""
    outcomes = getattr(summary, "outcomes", None) or {}
    classes = ", ".join(f"{k.split(': ', 1)[1]} {n}" for k, n in outcomes.items() if k.startswith("failed: "))
    total = sum(outcomes.values()) or summary.total
    click.echo(f"error: {summary.failed} of {total} items failed" + (f" ({classes})" if classes else "")
               + "; rerun the same command to request them again (--no-retry-errors keeps them)", err=True)


COMMANDS = [run_cmd]
