"""`generate-patient`: packets → prompt → model → validated conversation → artifacts, per admission.

Layout under `<out_dir>/<subject_id>/` (built in a temp folder and swapped in atomically, so a
failed run leaves the previous folder intact):

    conversation_details.jsonl  every turn with subject_id, hadm_id, index, timestamp, speaker, text
    conversation_only.json      turns (speaker, text) grouped by admission
    patient_manifest.json       parameters, per-admission status, totals, sha256 of every file
    admissions/<hadm_id>/       packet.json, input_data_manifest.json, prompt_record.json,
                                model_call_record.json, raw_model_output.json, conversation.jsonl,
                                summary.json, unlinked_notes.json (only when such notes exist)

With the `template` baseline every byte is a function of the data and the parameters.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medbench import __version__
from medbench.errors import UserError
from medbench.extract.packet import (
    DEFAULT_CAPS,
    Caps,
    admissions_of,
    check_caps,
    iter_packets,
    packet_dict,
    packet_json,
)
from medbench.io import atomic_dir, canonical_json, sha256_bytes, tree_sha256
from medbench.store import Store
from medbench.tasks.conversation.prompt import prompt_record, render_conversation_prompt
from medbench.tasks.conversation.schema import Conversation, validate_conversation

TEMPLATE_MODELS = ("template", "baseline:template")
INCLUDE_FLAG = "--include-admissions-without-discharge"


@dataclass
class GenerateParams:
    model: str = "template"
    api_base: str | None = None
    hadm_id: int | None = None
    max_admissions: int | None = None
    include_without_discharge: bool = False
    retry_limit: int = 3
    max_output_tokens: int = 4096
    caps: Caps = field(default_factory=lambda: DEFAULT_CAPS)
    temperature: float = 0.0
    seed: int = 0

    @property
    def is_template(self) -> bool:
        return self.model in TEMPLATE_MODELS

    def record(self) -> dict:
        return {"model": "template" if self.is_template else self.model, "api_base": self.api_base,
                "hadm_id": self.hadm_id, "max_admissions": self.max_admissions,
                "include_admissions_without_discharge": self.include_without_discharge,
                "retry_limit": self.retry_limit, "max_output_tokens": self.max_output_tokens,
                "row_caps": self.caps.as_dict(), "temperature": self.temperature, "seed": self.seed}


def _write(path: Path, obj: Any) -> None:
    """Pretty canonical JSON (inside the temp folder; the folder swap is the atomic step)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(canonical_json(obj, indent=2) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(canonical_json(r) + "\n" for r in records), encoding="utf-8")


def plan_admissions(store: Store, subject_id: int, params: GenerateParams) -> tuple[list[dict], list[dict]]:
    """(selected, skipped) admissions of the patient, in admittime, hadm_id order."""
    rows = admissions_of(store, [subject_id])
    if not rows:
        raise UserError(f"subject_id {subject_id} not found in admissions")
    if params.hadm_id is not None:
        rows = [r for r in rows if r[1] == params.hadm_id]
        if not rows:
            raise UserError(f"--hadm-id {params.hadm_id} is not an admission of subject {subject_id}")
    notes: dict[int, int] = {}
    if store.has("discharge"):
        con = store.connect()
        try:
            notes = dict(con.execute("SELECT hadm_id, count(*) FROM discharge WHERE subject_id = ? "
                                     "AND hadm_id IS NOT NULL GROUP BY hadm_id", [subject_id]).fetchall())
        finally:
            con.close()
    selected, skipped = [], []
    for _sid, h, admit, disch in rows:
        entry = {"hadm_id": h, "admittime": admit, "dischtime": disch, "discharge_notes": notes.get(h, 0)}
        if not entry["discharge_notes"] and not params.include_without_discharge:
            skipped.append({**entry, "status": "skipped", "reason": "no discharge note"})
        elif params.max_admissions is not None and len(selected) >= params.max_admissions:
            skipped.append({**entry, "status": "skipped",
                            "reason": f"beyond --max-admissions {params.max_admissions}"})
        else:
            selected.append(entry)
    if not selected:
        why = "" if store.has("discharge") else " (this MIMIC copy has no note/discharge table)"
        raise UserError(f"subject {subject_id}: none of its {len(rows)} admission(s) has a discharge "
                        f"note{why}; pass {INCLUDE_FLAG} to generate for them anyway")
    return selected, skipped


async def _call_model(pd: dict, messages: list[dict], params: GenerateParams, model: Any = None) -> dict:
    """{ok, conversation, raw_text, error, record}; never raises for model faults. `model`: a
    Model from the one backend factory (`medbench.models.load_model`, as `run` uses)."""
    if params.is_template:
        from medbench.models.baselines.template_conversation import generate_conversation

        conv = generate_conversation(pd, seed=params.seed)
        return {"ok": True, "conversation": conv, "raw_text": canonical_json(conv), "error": None,
                "record": {"model": "template", "baseline": True, "kind": "baseline",
                           "note": "offline deterministic baseline; reads the packet, not the prompt",
                           "parameters": {"seed": params.seed}, "ok": True, "error": None,
                           "attempts": [], "prompt_tokens": 0, "completion_tokens": 0,
                           "cost_usd": 0.0, "latency_s": 0.0}}
    g = await model.acall(messages, {"packet": pd, "hadm_id": pd["hadm_id"]}, response_model=Conversation)
    parameters = {"temperature": params.temperature, "seed": params.seed,
                  "max_tokens": params.max_output_tokens, "retry_limit": params.retry_limit}
    if g.call is not None:  # an API model: the adapter's own call record
        r = g.call
        rec = dict(r)
        rec.pop("parsed", None)
        rec.pop("text", None)  # both live in raw_model_output.json / conversation.jsonl
        rec.update({"model": params.model, "baseline": False, "kind": "api", "api_base": params.api_base,
                    "parameters": parameters})
        return {"ok": r["ok"], "conversation": r["parsed"] if r["ok"] else None, "raw_text": r["text"],
                "error": None if r["ok"] else (r["error"] or "model call failed"), "record": rec}
    ok = g.error is None and g.parsed is not None
    rec = {"model": params.model, "baseline": model.kind == "baseline", "kind": model.kind,
           "parameters": parameters, "ok": ok, "error": None if ok else (g.error or "model call failed"),
           "error_class": None if ok else g.error_class, "attempts": [],
           "prompt_tokens": g.prompt_tokens or 0, "completion_tokens": g.completion_tokens or 0,
           "cost_usd": g.cost_usd or 0.0, "latency_s": g.latency_s or 0.0}
    return {"ok": ok, "conversation": g.parsed if ok else None, "raw_text": g.text,
            "error": rec["error"], "record": rec}


async def _run_admission(adir: Path, subject_id: int, packet, params: GenerateParams,
                         fingerprint: str, model: Any = None) -> tuple[dict, list[dict]]:
    pd = packet_dict(packet)
    h = pd["hadm_id"]
    pj = packet_json(packet) + "\n"
    adir.mkdir(parents=True, exist_ok=True)
    (adir / "packet.json").write_text(pj, encoding="utf-8")
    _write(adir / "input_data_manifest.json", {
        "subject_id": subject_id, "hadm_id": h, "packet_version": pd["packet_version"],
        "packet_sha256": sha256_bytes(pj.encode("utf-8")), "source_fingerprint": fingerprint,
        "caps": pd["caps"], "tables": pd["provenance"]})
    messages = render_conversation_prompt(pd)
    _write(adir / "prompt_record.json", prompt_record(pd, messages))
    out = await _call_model(pd, messages, params, model)
    _write(adir / "model_call_record.json", out["record"])
    _write(adir / "raw_model_output.json", {"model": out["record"]["model"], "ok": out["ok"],
                                            "text": out["raw_text"]})
    conv, error, problems = out["conversation"], out["error"], []
    if conv is not None:
        problems = validate_conversation(conv, pd)
        if problems:
            error = f"invalid conversation: {problems[0]}" + (
                f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
            conv = None
    turns = [] if conv is None else [
        {"subject_id": subject_id, "hadm_id": h, "turn_index": i, "timestamp": t["timestamp"],
         "speaker": t["speaker"], "text": t["text"], "model": out["record"]["model"]}
        for i, t in enumerate(conv["turns"])]
    _write_jsonl(adir / "conversation.jsonl", turns)
    if pd["unlinked_notes"]:
        _write(adir / "unlinked_notes.json", {"subject_id": subject_id, "hadm_id": h,
                                              "notes": pd["unlinked_notes"]})
    rec = out["record"]
    summary = {
        "subject_id": subject_id, "hadm_id": h, "status": "done" if conv is not None else "failed",
        "error": error, "problems": problems, "model": rec["model"], "baseline": rec["baseline"],
        "admittime": pd["admission"]["admittime"], "dischtime": pd["admission"]["dischtime"],
        "discharge_notes": len(pd["discharge_notes"]), "unlinked_notes": len(pd["unlinked_notes"]),
        "n_turns": len(turns), "speakers": dict(Counter(t["speaker"] for t in turns)),
        "first_timestamp": turns[0]["timestamp"] if turns else None,
        "last_timestamp": turns[-1]["timestamp"] if turns else None,
        "attempts": len(rec.get("attempts") or []),
        "prompt_tokens": rec.get("prompt_tokens") or 0, "completion_tokens": rec.get("completion_tokens") or 0,
        "cost_usd": rec.get("cost_usd") or 0.0, "latency_s": rec.get("latency_s") or 0.0,
    }
    _write(adir / "summary.json", summary)
    return summary, turns


def check_params(params: GenerateParams) -> None:
    """UserError for parameters that are wrong whatever the store holds (caps, model string);
    needs no store, so a CLI can call it before opening (and maybe ingesting) one."""
    check_caps(params.caps)
    if params.is_template:
        return
    from medbench.models import backend_of

    prefix, rest = backend_of(params.model)
    if prefix is None:  # a litellm string: a bad one fails before any work
        from medbench.models.adapter import resolve

        resolve(params.model, params.api_base)
    elif prefix == "baseline":
        from medbench.models.baselines import baselines_of

        known = baselines_of("conversation")
        if rest not in known:
            raise known.unknown(rest)


def load_generator(params: GenerateParams) -> Any:
    """The Model `generate-patient` calls (None for the template baseline, whose record is its
    own): the same backend factory as `run`, so litellm strings, `hf:`, `vllm:` and baselines work."""
    if params.is_template:
        return None
    from medbench.models import load_model

    return load_model(params.model, task="conversation", api_base=params.api_base,
                      temperature=params.temperature, seed=params.seed,
                      max_tokens=params.max_output_tokens, retry_limit=params.retry_limit, batch_size=1)


def generate_patient(store: Store, subject_id: int, out_dir: str | Path = "output",
                     params: GenerateParams | None = None, show_progress: bool = True) -> dict:
    """Generate every selected admission of `subject_id`; returns the patient manifest."""
    params = params or GenerateParams()
    check_params(params)
    selected, skipped = plan_admissions(store, subject_id, params)
    dest = Path(out_dir) / str(subject_id)
    model = load_generator(params)
    return asyncio.run(_generate(store, subject_id, dest, params, selected, skipped, show_progress, model))


async def _generate(store: Store, subject_id: int, dest: Path, params: GenerateParams,
                    selected: list[dict], skipped: list[dict], show_progress: bool, model: Any = None) -> dict:
    import contextlib

    from rich.progress import TextColumn

    from medbench.progress import progress_bar

    # A patient's packets are small; gather them (bulk, one query per section) then go in time order.
    packets = {p.hadm_id: p for p in iter_packets(store, [a["hadm_id"] for a in selected], params.caps)}
    summaries: list[dict] = []
    details: list[dict] = []
    grouped: list[dict] = []
    with atomic_dir(dest) as tmp:
        ctx = progress_bar(TextColumn("{task.fields[tokens]} tok"), TextColumn("${task.fields[cost]:.4f}")) \
            if show_progress else contextlib.nullcontext()
        with ctx as progress:
            task = progress.add_task(f"subject {subject_id}", total=len(selected), tokens=0, cost=0.0) \
                if progress else None
            tokens, cost = 0, 0.0
            for a in selected:
                h = a["hadm_id"]
                if progress:
                    progress.update(task, description=f"admission {h}")
                summary, turns = await _run_admission(tmp / "admissions" / str(h), subject_id, packets[h],
                                                      params, store.fingerprint, model)
                summaries.append(summary)
                details.extend(turns)
                if summary["status"] == "done":
                    grouped.append({"hadm_id": h, "turns": [{"speaker": t["speaker"], "text": t["text"]}
                                                            for t in turns]})
                tokens += summary["prompt_tokens"] + summary["completion_tokens"]
                cost += summary["cost_usd"]
                if progress:
                    progress.update(task, advance=1, tokens=tokens, cost=cost)
        done = [s for s in summaries if s["status"] == "done"]
        if not done:
            first = summaries[0]
            raise UserError(f"subject {subject_id}: all {len(summaries)} admission(s) failed "
                            f"(hadm {first['hadm_id']}: {first['error']}); previous output left intact")
        _write_jsonl(tmp / "conversation_details.jsonl", details)
        _write(tmp / "conversation_only.json", {"subject_id": subject_id, "model": done[0]["model"],
                                                "admissions": grouped})
        by_h = {s["hadm_id"]: s for s in summaries}
        admissions = []
        for a in sorted(selected + skipped, key=lambda x: (x["admittime"], x["hadm_id"])):
            s = by_h.get(a["hadm_id"])
            admissions.append({
                "hadm_id": a["hadm_id"], "admittime": a["admittime"], "dischtime": a["dischtime"],
                "discharge_notes": a["discharge_notes"],
                "status": s["status"] if s else "skipped",
                "reason": (s["error"] if s else a["reason"]),
                "n_turns": s["n_turns"] if s else 0,
            })
        files = tree_sha256(tmp)
        manifest = {
            "subject_id": subject_id, "medbench_version": __version__,
            "model": "template" if params.is_template else params.model, "baseline": params.is_template,
            "parameters": params.record(), "source_fingerprint": store.fingerprint,
            "counts": {"done": len(done), "failed": len(summaries) - len(done), "skipped": len(skipped)},
            "usage": {"prompt_tokens": sum(s["prompt_tokens"] for s in summaries),
                      "completion_tokens": sum(s["completion_tokens"] for s in summaries),
                      "cost_usd": sum(s["cost_usd"] for s in summaries)},
            "admissions": admissions, "files": files,
        }
        _write(tmp / "patient_manifest.json", manifest)
    return {**manifest, "out": str(dest)}
