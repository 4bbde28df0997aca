"""Batch APIs: `medbench run --batch`, `--batch-file-only FILE`, `--from-batch-output OUT`.

The requests of every item not yet in the submission are written as an OpenAI batch JSONL (one
line per item: `custom_id` = item id, `method`, `url` = /v1/chat/completions, `body` = the
same messages and generation parameters an online run sends). The same file runs offline with
`vllm run-batch -i FILE -o OUT --model M`; `--from-batch-output OUT` merges its output.

`--batch` against an OpenAI-protocol endpoint: upload (`POST /v1/files`, purpose "batch"),
create (`POST /v1/batches`), record the batch id beside the submission in
`<submission>.batch.json` (atomically, before any wait), poll (`GET /v1/batches/ID`) with a
progress display, download the output and error files and merge them. A rerun finds the
recorded batch and polls/merges it instead of submitting again, so a kill between submit and
merge loses nothing and a kill during the merge resumes it (lines already in the file are never
written twice). Failed lines are written with their `error`, as an online run writes a call
that failed after retries (the resume rules apply unchanged); items the endpoint returned
nothing for stay out of the file, and the state file is removed once a batch is merged, so the
next `--batch` run submits a new batch for just those.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from medbench.errors import UserError
from medbench.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, canonical_json, sha256_bytes

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
STATE_FORMAT = 1


def state_path(out: Path) -> Path:
    return out.with_name(out.name + ".batch.json")


def _header_key(header: dict) -> str:
    keep = {k: header.get(k) for k in ("model", "task", "split", "benchmark", "params")}
    return sha256_bytes(canonical_json(keep).encode())


def _route(prepared: Any):
    from medbench.models.adapter import OPENAI_COMPATIBLE, resolve

    mdl = prepared.mdl
    if mdl.kind != "api":
        raise UserError(f"--batch: model '{mdl.spec}' is not an API model (batch files are for "
                        "OpenAI-protocol endpoints; hf:/vllm:/baseline: models run locally)")
    route = resolve(mdl.spec, prepared.api_base, getattr(mdl, "api_key", None))
    if route.provider == "anthropic":
        raise UserError("--batch: Anthropic message batches are not supported: litellm can retrieve "
                        "but not create them; run anthropic/ models without --batch")
    if route.provider not in OPENAI_COMPATIBLE:
        raise UserError(f"--batch: provider '{route.provider}' has no OpenAI-protocol batch API "
                        "(use openai/ or hosted_vllm/ with --api-base)")
    return route


def _pending(prepared: Any) -> list[dict]:
    written = {ln["item_id"] for ln in prepared.old_lines}
    return [it for it in prepared.items if it["item_id"] not in written]


def batch_requests(prepared: Any, model_name: str | None = None) -> list[dict]:
    """One request line per pending item, in item order."""
    if model_name is None:
        model_name = _route(prepared).model_name
    gp = prepared.gen_params
    out = []
    for item in _pending(prepared):
        body: dict[str, Any] = {"model": model_name,
                                "messages": prepared.family.render_prompt(item, prepared.release),
                                "temperature": gp.get("temperature", 0.0)}
        if gp.get("max_tokens") is not None:
            body["max_tokens"] = gp["max_tokens"]
        if gp.get("seed") is not None:
            body["seed"] = gp["seed"]
        out.append({"custom_id": item["item_id"], "method": "POST", "url": ENDPOINT, "body": body})
    return out


def write_batch_file(prepared: Any, path: str | Path) -> int:
    """`--batch-file-only`: the batch JSONL for every pending item (and the submission header)."""
    reqs = batch_requests(prepared)
    atomic_write_jsonl(Path(path), reqs)
    _ensure_header(prepared)
    return len(reqs)


def _ensure_header(prepared: Any) -> None:
    if prepared.old_header is None and not prepared.out_path.exists():
        atomic_write_text(prepared.out_path, canonical_json(prepared.header) + "\n")


def _result_generation(rec: dict, model: str, route: Any) -> Any:
    """An output/error line of a batch → Generation (error set on anything but a 200 answer)."""
    from medbench.models import Generation

    resp = rec.get("response") or {}
    err = rec.get("error")
    status = resp.get("status_code")
    body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
    if err or status != 200:
        msg = (err or {}).get("message") if isinstance(err, dict) else err
        if not msg and isinstance(body.get("error"), dict):
            msg = body["error"].get("message")
        code = (err or {}).get("code") if isinstance(err, dict) else None
        return Generation(text=None, error=f"batch: {code or status or 'error'}: {msg or 'no message'}")
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return Generation(text=None, error="batch: 200 without choices[0].message.content")
    usage = body.get("usage") or {}
    pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
    cost = None
    if route is not None:
        from medbench.models.adapter import price

        cost = price(model, route, pt, ct)
    return Generation(text=text, prompt_tokens=pt, completion_tokens=ct, cost_usd=cost, requests=0)


def read_batch_output(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--from-batch-output: {path} is not a file")
    out = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except json.JSONDecodeError:
            raise UserError(f"{path}:{n}: not valid JSON (expected a batch output line)") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("custom_id"), str):
            raise UserError(f"{path}:{n}: custom_id: missing")
        out.append(rec)
    return out


def merge(prepared: Any, records: Iterable[dict], route: Any = None,
          progress: Callable | None = None) -> Any:
    """Write the batch results of pending items into the submission; returns a RunSummary."""
    from medbench.run import RunSummary, _line, read_submission

    _ensure_header(prepared)
    _, lines = read_submission(prepared.out_path)  # re-read: a resumed merge skips what is written
    written = {ln["item_id"] for ln in lines}
    wanted = {it["item_id"] for it in prepared.items}
    summary = RunSummary(out=prepared.out_path, total=len(prepared.items), model_info=prepared.mdl.info())
    summary.skipped = len(written & wanted)
    t0 = time.perf_counter()
    chunk: list[str] = []
    seen: set[str] = set()
    for rec in records:
        iid = rec["custom_id"]
        if iid not in wanted or iid in written or iid in seen:
            continue
        seen.add(iid)
        gen = _result_generation(rec, prepared.mdl.spec, route)
        chunk.append(canonical_json(_line(iid, prepared.family, gen)) + "\n")
        summary.done += 1
        summary.add_usage(gen)
        if progress is not None:
            progress(summary, gen)
    if chunk:
        fd = os.open(prepared.out_path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, "".join(chunk).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    _, lines = read_submission(prepared.out_path)
    summary.failed = sum(1 for ln in lines if ln.get("error"))
    summary.parse_errors = sum(1 for ln in lines if ln.get("parse_error"))
    summary.seconds = time.perf_counter() - t0
    by_id = {ln["item_id"]: ln for ln in lines}
    items = prepared.items
    if all(it["item_id"] in by_id for it in items):  # complete: item order, as an online run leaves it
        order = [it["item_id"] for it in items] + sorted(set(by_id) - wanted)
        header = prepared.old_header or prepared.header
        atomic_write_jsonl(prepared.out_path, [header, *(by_id[i] for i in order)])
    return summary


def merge_output_file(prepared: Any, path: str | Path, progress: Callable | None = None) -> Any:
    """`--from-batch-output OUT` (vLLM run-batch or a downloaded OpenAI batch output)."""
    records = read_batch_output(path)
    route = None
    if prepared.mdl.kind == "api":
        from medbench.models.adapter import resolve

        route = resolve(prepared.mdl.spec, prepared.api_base, getattr(prepared.mdl, "api_key", None))
    return merge(prepared, records, route, progress)


def _client(route: Any):
    import openai

    return openai.OpenAI(base_url=route.api_base or "https://api.openai.com/v1",
                         api_key=route.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
                         max_retries=3)


def _download(client: Any, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    text = client.files.content(file_id).text
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def run_batch(prepared: Any, *, poll_s: float = 10.0, timeout_s: float | None = None,
              on_status: Callable[[dict], None] | None = None, progress: Callable | None = None) -> Any:
    """`--batch`: submit (or pick up the recorded batch), poll, merge; returns a RunSummary."""
    route = _route(prepared)
    spath = state_path(prepared.out_path)
    client = _client(route)
    key = _header_key(prepared.old_header or prepared.header)
    state = None
    if spath.exists():
        try:
            state = json.loads(spath.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise UserError(f"{spath}: not valid JSON (delete it to submit a new batch)") from None
        if state.get("header_key") != key:
            raise UserError(f"{spath}: recorded for another run (model/task/split/params differ); "
                            "delete it or use another --out")
    if state is None:
        reqs = batch_requests(prepared, route.model_name)
        _ensure_header(prepared)
        if not reqs:
            return merge(prepared, [], route, progress)
        data = "".join(canonical_json(r) + "\n" for r in reqs).encode("utf-8")
        try:
            f = client.files.create(file=(prepared.out_path.name + ".requests.jsonl", data), purpose="batch")
            b = client.batches.create(input_file_id=f.id, endpoint=ENDPOINT, completion_window="24h")
        except Exception as e:
            raise UserError(f"--batch: submitting to {route.api_base}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
        state = {"format": STATE_FORMAT, "batch_id": b.id, "input_file_id": f.id, "requests": len(reqs),
                 "header_key": key, "api_base": route.api_base}
        atomic_write_json(spath, state)
    started = time.monotonic()
    while True:
        try:
            b = client.batches.retrieve(state["batch_id"])
        except Exception as e:
            raise UserError(f"--batch: polling batch {state['batch_id']}: {type(e).__name__}: {e}") from None
        counts = getattr(b, "request_counts", None)
        info = {"batch_id": b.id, "status": b.status,
                "total": getattr(counts, "total", None) or state["requests"],
                "completed": getattr(counts, "completed", 0) or 0, "failed": getattr(counts, "failed", 0) or 0}
        if on_status is not None:
            on_status(info)
        if b.status in TERMINAL:
            break
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise UserError(f"--batch: batch {b.id} still {b.status} after {timeout_s:.0f}s; "
                            "rerun the same command later to resume")
        time.sleep(poll_s)
    records = _download(client, getattr(b, "output_file_id", None)) + \
        _download(client, getattr(b, "error_file_id", None))
    summary = merge(prepared, records, route, progress)
    summary.requests = 1
    spath.unlink(missing_ok=True)  # merged: a rerun submits only what is still missing
    summary.model_info = {**summary.model_info, "batch_id": b.id, "batch_status": b.status}
    return summary
