"""`generate-patient`: doctor-patient conversations for one patient's admissions, with artifacts."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from medbench.commands.extract import cap_options
from medbench.commands.options import mimic_dir_option
from medbench.progress import console


@click.command("generate-patient")
@click.option("--subject-id", type=int, required=True, help="The patient (subject_id).")
@click.option("--hadm-id", type=int, default=None, help="Only this admission of the patient.")
@click.option("--model", default="template", show_default=True,
              help="litellm model string (openai/gpt-4.1-mini, hosted_vllm/NAME, ollama/NAME, ...) or "
              "'template', the offline deterministic baseline.")
@click.option("--api-base", default=None, help="Base URL of an OpenAI-compatible server (vLLM, proxy).")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("output"),
              show_default=True, help="Writes <out-dir>/<SUBJECT_ID>/ (replaced atomically).")
@click.option("--max-admissions", type=click.IntRange(min=1), default=None,
              help="Keep the first N admissions (admittime, hadm_id order).")
@click.option("--include-admissions-without-discharge", "include_without_discharge", is_flag=True,
              help="Also generate for admissions that have no discharge note.")
@click.option("--retry-limit", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retries on transient faults, and schema-repair rounds.")
@click.option("--max-output-tokens", type=click.IntRange(min=1), default=4096, show_default=True)
@cap_options
@click.option("--temperature", type=click.FloatRange(min=0.0, max=2.0), default=0.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--allow-provider", "allow_provider", multiple=True, metavar="PROVIDER/",
              help="Allow sending credentialed MIMIC-IV text to this hosted provider (or model), e.g. "
                   "azure/ (repeatable; also [data-use] allow in medbench.toml).")
@mimic_dir_option
def generate_patient(subject_id: int, hadm_id: int | None, model: str, api_base: str | None, out_dir: Path,
                     max_admissions: int | None, include_without_discharge: bool, retry_limit: int,
                     max_output_tokens: int, row_cap_labs: int, row_cap_radiology: int, row_cap_emar: int,
                     temperature: float, seed: int, allow_provider: tuple[str, ...], mimic_dir: str | None) -> None:
    """Generate a grounded, chronological conversation for each admission of a patient."""
    from medbench.extract.packet import Caps
    from medbench.generate import GenerateParams, check_params
    from medbench.generate import generate_patient as run
    from medbench.io import check_out_dir
    from medbench.store import open_store

    params = GenerateParams(model=model, api_base=api_base, hadm_id=hadm_id, max_admissions=max_admissions,
                            include_without_discharge=include_without_discharge, retry_limit=retry_limit,
                            max_output_tokens=max_output_tokens, temperature=temperature, seed=seed,
                            caps=Caps(labs=row_cap_labs, radiology=row_cap_radiology, emar=row_cap_emar))
    check_params(params)  # before the store: opening it may ingest, with a progress bar
    check_out_dir(out_dir, "--out-dir")
    store = open_store(mimic_dir)
    from medbench.datause import check_data_use, detect_licence
    from medbench.generate import TEMPLATE_MODELS

    check_data_use(model, {"source": {"licence": detect_licence(store.source)}}, api_base=api_base,
                   allow_providers=allow_provider, baseline=model in TEMPLATE_MODELS)
    m = run(store, subject_id, out_dir, params)
    table = Table(title=f"subject {subject_id} ({m['model']}{', baseline' if m['baseline'] else ''}) → {m['out']}")
    for col in ("hadm_id", "admitted", "status", "turns", "reason"):
        table.add_column(col)
    for a in m["admissions"]:
        style = {"done": "green", "failed": "red"}.get(a["status"], "dim")
        table.add_row(str(a["hadm_id"]), str(a["admittime"]), f"[{style}]{a['status']}[/{style}]",
                      str(a["n_turns"]), escape(a["reason"] or ""))
    console.print(table)
    c, u = m["counts"], m["usage"]
    console.print(f"admissions: {c['done']} done, {c['skipped']} skipped, {c['failed']} failed; "
                  f"tokens: {u['prompt_tokens']:,} prompt + {u['completion_tokens']:,} completion; "
                  f"cost ${u['cost_usd']:.4f}")


COMMANDS = [generate_patient]
