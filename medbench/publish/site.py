"""Leaderboard rendering (Jinja2, autoescaped) and atomic publishing.

Everything shown comes from stored result files; every string in them is untrusted (model names,
predictions, header params) and reaches HTML only through Jinja2's autoescaping — no `|safe` on
submission data, no data interpolated into scripts. Pages are self-contained (inline CSS, JS and
SVG) and carry a Content-Security-Policy that forbids any network fetch, so they work from
file:// offline. The same results always give the same bytes (no render timestamps, explicit
sort orders, fixed number formatting).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from medbench.datause import PUBLIC_LICENCES
from medbench.io import atomic_dir
from medbench.publish.describe import (
    LICENCE_WORDS,
    fmt_metric,
    is_rate,
    metric_info,
    task_card,
    to_display,
)
from medbench.scoring.results import (
    RESULTS_DIR,
    load_result,
    result_identity,
    result_path,
    write_result,
)
from medbench.scoring.stats import MIN_PATIENTS_TO_RANK, assign_ranks, make_clusters, paired_ranks

TEMPLATES = Path(__file__).resolve().parent / "templates"
INDEX_FILE = "publish-index.json"  # what the last publish rendered from (see render_site)
INDEX_FORMAT = 2  # 2: no stat section (the index is the same bytes in any folder)
GENERATED = ("index.html", "submissions", "docs", INDEX_FILE)  # rebuilt on every publish; the rest is kept
PUBLISH_LOCK_TIMEOUT_S = 600.0  # how long a publisher waits for another to finish
MAX_SHOWN_CHARS = 3000  # per cell on item pages; the result file keeps the full value
ITEMS_INLINE = 200  # a submission page with more items lists them from submissions/<id>.items.js
ITEMS_PER_PAGE = 100  # ... ITEMS_PER_PAGE at a time (the filters see every item)

_ENV: Environment | None = None


def env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=True)
    return _ENV


# ---------------------------------------------------------------- formatting

def fmt_num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def sort_key(v: Any) -> str:
    """data-sort attribute: a plain number for numeric cells, '' for unknown (sorted last)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(float(v))
    return str(v)


def shown(v: Any) -> str:
    """A value as display text: strings verbatim, others as indented JSON; clipped for the page."""
    if v is None:
        return ""
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, indent=1)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + f"\n… [{len(text) - MAX_SHOWN_CHARS} more characters in the result file]"
    return text


# ---------------------------------------------------------------- view model

FAILED_SHARE = 0.2  # a run with more than this share of items errored is a "failed run"
MIN_CATEGORY_ITEMS, MIN_CATEGORY_PATIENTS = 10, 5  # smaller categories merge into "other" (public)
WRONG_OUTCOMES = ("wrong", "abstained", "invalid", "resource limit", "missing")
KEY_METRICS = 4  # index columns shown before the "all metrics" toggle


def group_key(r: dict) -> tuple[str, str, str, str]:
    return (r["task"], r["benchmark"]["name"], r["benchmark"]["sha256"], r["split"])


def is_failed(r: dict) -> bool:
    """More than 20% of the items errored (the model call failed): shown as a failed run, never ranked."""
    n = r.get("n_items") or 0
    return bool(n) and (r.get("n_errored") or 0) > FAILED_SHARE * n


def _natural(name: str) -> tuple:
    """Sort key that puts f1_at_2 before f1_at_10."""
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def rankable(r: dict) -> bool:
    return bool(r["complete"]) and not is_failed(r)


def n_patients(r: dict) -> int:
    """Bootstrap clusters behind the intervals (scoring.stats.make_clusters): distinct patients,
    distinct `cluster` groups of items without a patient, and lone items without either."""
    return make_clusters(r["records"]).n


def n_real_patients(r: dict) -> int | None:
    """Distinct patients among the records; None when no item has one (EHRSQL imports), where the
    clusters are the items themselves."""
    subjects = {rec.get("subject_id") for rec in r["records"]} - {None}
    return len(subjects) or None


def _row_order(r: dict, rank: int | None) -> tuple:
    v = r["headline"]["value"]
    signed = -v if (v is not None and r["headline"]["higher_is_better"]) else v
    return (rank is None, rank or 0, signed is None, signed or 0.0, r["model"], r["result_id"])


def group_ranks(members: list[dict], memo: dict | None = None,
                memo_keys: list[str] | None = None) -> list[int | None]:
    """Ranks of one (task, release, split) group, members sorted by result_id. The one place
    ranks come from (`medbench.scoring.stats`); failed and incomplete runs are never ranked.
    `memo`/`memo_keys`: the paired comparisons already made (`paired_ranks`)."""
    entries = [{**r, "complete": rankable(r)} for r in members]
    try:
        from medbench.tasks import get_family

        family = get_family(members[0]["task"])
        sums = (family.item_sums, family.aggregate_sums)
    except Exception:  # an unknown task, or a family without the sum path
        sums = None
    if sums is not None and all(r.get("records") for r in members):
        # paired, patient-clustered bootstrap of the headline difference on the shared items
        head = members[0]["headline"]
        boot = members[0].get("bootstrap") or {}
        n_resamples, seed = int(boot.get("resamples") or 1000), int(boot.get("seed") or 0)
        setting = _key(head["name"], bool(head["higher_is_better"]), n_resamples, seed)[:16]
        keys = None if memo_keys is None else [f"{k}/{setting}" for k in memo_keys]
        return paired_ranks(entries, sums[0], sums[1], head["name"], bool(head["higher_is_better"]),
                            n_resamples=n_resamples, seed=seed, memo=memo, memo_keys=keys)
    return assign_ranks([{**r["headline"], "complete": rankable(r)} for r in members])


def rank_groups(results: list[dict]) -> list[dict]:
    """Results grouped by (task, release, split) with ranks; rows and groups in a fixed order."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(group_key(r), []).append(r)
    out = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: r["result_id"])
        rows = sorted(zip(members, group_ranks(members)), key=lambda p: _row_order(*p))
        out.append({"key": key, "rows": rows})
    return out


def _tokens(usage: dict) -> int | None:
    vals = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return sum(v for v in vals if v is not None) if any(v is not None for v in vals) else None


def _domain(name: str, rows: list[dict]) -> tuple[float, float]:
    """The chart's axis: 0–100 for a rate; otherwise the entries' values and intervals with far
    outliers (more than 6 median absolute deviations from the median) left outside, drawn as
    arrows at the edge."""
    vals = sorted(v for r in rows if (v := r["dvalue"]) is not None)
    if is_rate(name) and all(-1e-9 <= x <= 100 + 1e-9 for r in rows
                             for x in (r["dvalue"], r["dlow"], r["dhigh"]) if x is not None):
        return 0.0, 100.0
    if not vals:
        return 0.0, 1.0
    med = vals[len(vals) // 2] if len(vals) % 2 else (vals[len(vals) // 2 - 1] + vals[len(vals) // 2]) / 2
    devs = sorted(abs(v - med) for v in vals)
    mad = devs[len(devs) // 2]
    tol = 6 * max(mad, 1e-9) if mad > 0 else max(abs(med) * 0.5, 1.0)
    keep = [r for r in rows if r["dvalue"] is not None and abs(r["dvalue"] - med) <= tol] or rows
    xs = [x for r in keep for x in (r["dvalue"], r["dlow"], r["dhigh"])
          if x is not None and abs(x - med) <= 3 * tol]
    lo, hi = (min(xs), max(xs)) if xs else (vals[0], vals[-1])
    if lo <= 0 <= hi or (0 < lo and lo < 0.25 * hi):
        lo = min(lo, 0.0)
    pad = (hi - lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def _nice_ticks(lo: float, hi: float, want: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) inside [lo, hi]."""
    import math

    raw = (hi - lo) / max(1, want - 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def _chart(name: str, rows: list[dict], higher_is_better: bool) -> dict:
    """Coordinates for the inline SVG: a dot per headline value with its interval as a bar; a
    value outside the axis is drawn as an arrow at the edge labelled with its value."""
    width, label_w, row_h, pad = 760, 230, 24, 16
    lo, hi = _domain(name, rows)
    plot_w = width - label_w - 2 * pad - 60
    x0, x1 = label_w + pad, label_w + pad + plot_w

    def x(v: float) -> float:
        return x0 + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    bars = []
    for i, r in enumerate(rows):
        y = pad + i * row_h + row_h / 2
        v, l, h = r["dvalue"], r["dlow"], r["dhigh"]
        clip = None if v is None or lo <= v <= hi else ("low" if v < lo else "high")
        bars.append({
            "y": f"{y:.2f}", "ytop": f"{y - 5:.2f}", "ybot": f"{y + 5:.2f}",
            "label": r["model"] if len(r["model"]) <= 32 else r["model"][:31] + "…",
            "x": f"{x(v):.2f}" if v is not None else None,
            "x1": f"{x(l):.2f}" if l is not None else None, "x2": f"{x(h):.2f}" if h is not None else None,
            "clip": clip, "ranked": r["rank"] is not None,
            "arrow": (f"{x0:.2f},{y:.2f} {x0 + 9:.2f},{y - 6:.2f} {x0 + 9:.2f},{y + 6:.2f}" if clip == "low" else
                      f"{x1:.2f},{y:.2f} {x1 - 9:.2f},{y - 6:.2f} {x1 - 9:.2f},{y + 6:.2f}" if clip == "high" else ""),
            "clip_x": f"{x0 + 12:.2f}" if clip == "low" else f"{x1 + 4:.2f}",
            "value": fmt_metric(name, r["value"]),
            "ci": f"[{fmt_metric(name, r['ci_low'])}, {fmt_metric(name, r['ci_high'])}]",
        })
    height = 2 * pad + max(1, len(rows)) * row_h + 20
    ticks = [{"x": f"{x(t):.2f}", "label": f"{t:g}"} for t in _nice_ticks(lo, hi)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks,
            "axis_y": f"{height - 20:.2f}", "top": pad, "label_x": label_w,
            "direction": "higher is better" if higher_is_better else "lower is better"}


def _index_metrics(task: str, rows: list) -> list[str]:
    """The columns of a task's index table: the family's `leaderboard_metrics` when it declares
    them (ICD has 30+ metrics; every one stays on the submission page), else all of them."""
    present = {m for r, _ in rows for m in r["metrics"]} - {rows[0][0]["headline"]["name"]}
    try:
        from medbench.tasks import get_family

        wanted = getattr(get_family(task), "leaderboard_metrics", None)
    except Exception:  # a result of a task this install does not know: show everything
        wanted = None
    if not wanted:
        return sorted(present)
    return [m for m in wanted if m in present]


def _status(r: dict) -> dict:
    if is_failed(r):
        return {"kind": "failed", "label": "failed run",
                "detail": f"{r.get('n_errored', 0)} of {r['n_items']} items errored: {r.get('leading_error') or ''}"}
    if not r["complete"]:
        return {"kind": "incomplete", "label": "incomplete", "detail": f"{r['n_missing']} items missing"}
    return {"kind": "complete", "label": "complete", "detail": ""}


def _plain(obj: Any) -> Any:
    """A view as JSON would give it back (tuples as lists, numpy numbers as Python ones): the
    cached views of an incremental publish are read from JSON, so the full render goes through the
    same round trip and both give the same bytes."""
    return json.loads(json.dumps(obj, sort_keys=False, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def group_table(key: tuple, members: list[dict], memo: dict | None = None,
                memo_keys: list[str] | None = None) -> dict:
    """The index view of one (task, release, split) group, members sorted by result_id: ranked
    rows, chart, card. Depends only on the members (what an incremental publish keys it on)."""
    task, name, sha, split = key
    ranked = sorted(zip(members, group_ranks(members, memo, memo_keys)), key=lambda p: _row_order(*p))
    metric_names = _index_metrics(task, ranked)
    rows = []
    for r, rank in ranked:
        h = r["headline"]
        rows.append({
            "result_id": r["result_id"], "rank": rank, "model": r["model"],
            "value": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "dvalue": to_display(h["name"], h["value"]), "dlow": to_display(h["name"], h["ci_low"]),
            "dhigh": to_display(h["name"], h["ci_high"]),
            "metrics": [(m, r["metrics"].get(m)) for m in metric_names],
            "n_items": r["n_items"], "n_scored": r["n_items"] - r["n_missing"],
            "n_patients": n_patients(r), "status": _status(r),
            "complete": r["complete"], "cost": r["usage"].get("cost_usd"),
            "tokens": _tokens(r["usage"]), "date": (r.get("created") or "")[:10],
        })
    first = ranked[0][0]
    head = first["headline"]
    card = task_card(task)
    return _plain({
        "id": f"t-{task}-{sha[:8]}-{split}", "task": task, "release": name, "sha": sha,
        "split": split, "headline": metric_info(head["name"]), "higher_is_better": head["higher_is_better"],
        "key_metrics": [metric_info(m) for m in metric_names[:KEY_METRICS]],
        "more_metrics": [metric_info(m) for m in metric_names[KEY_METRICS:]],
        "rows": rows, "chart": _chart(head["name"], rows, head["higher_is_better"]),
        "card": card, "licence": first.get("source_licence", "credentialed"),
        "licence_words": LICENCE_WORDS.get(first.get("source_licence", "credentialed"), ""),
        "counts": first.get("release_counts") or {}, "n_patients": max(x["n_patients"] for x in rows),
        "n_items": max(x["n_items"] for x in rows),
        # patients, not clusters: population-level SQL groups do not make a split rankable
        "n_real_patients": max((n_real_patients(r) or n_patients(r)) for r, _ in ranked),
        "too_few": max((n_real_patients(r) or n_patients(r)) for r, _ in ranked) < MIN_PATIENTS_TO_RANK,
        "n_excluded": max(((r.get("excluded") or {}).get("n_excluded") or 0 for r, _ in ranked), default=0),
        "excluded_reason": next(((r.get("excluded") or {}).get("reason") for r, _ in ranked
                                 if (r.get("excluded") or {}).get("reason")), None),
    })


def index_view(results: list[dict]) -> tuple[list[dict], dict[str, int | None], dict]:
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault(group_key(r), []).append(r)
    tables = [group_table(key, sorted(groups[key], key=lambda r: r["result_id"])) for key in sorted(groups)]
    ranks_by_id = {row["result_id"]: row["rank"] for t in tables for row in t["rows"]}
    return tables, ranks_by_id, summary_view(tables)


def result_meta(r: dict, sha256: str | None = None) -> dict:
    """What the index of an incremental publish keeps of one stored result: enough to group,
    replace and pair results without loading them."""
    return {"result_id": r["result_id"], "sha256": sha256, "identity": result_identity(r.get("header") or {}),
            "group": list(group_key(r)), "model": r["model"], "created": r.get("created") or "",
            "pairable": bool(r.get("records")) and not is_failed(r)}


def pair_plan(metas: list[dict]) -> list[tuple[Any, dict, dict]]:
    """(family, result, other) per model that did both tasks of a pairing family on one release
    and split, from result metadata (`result_meta`); of several results of one model in one
    (task, release, split), the latest (`created`, then result id)."""
    latest: dict[tuple, dict] = {}
    for m in metas:
        if not m["pairable"]:
            continue
        key = (*m["group"], m["model"])
        cur = latest.get(key)
        if cur is None or (m["created"], m["result_id"]) > (cur["created"], cur["result_id"]):
            latest[key] = m
    out = []
    for (task, name, sha, split, model), m in sorted(latest.items()):
        family = _family_of(task)
        other_task = getattr(family, "paired_task", None)
        other = latest.get((other_task, name, sha, split, model)) if other_task else None
        if other is not None:
            out.append((family, m, other))
    return out


def pair_row(family: Any, r: dict, other: dict) -> dict | None:
    """One row of the paired table: the family's `paired_difference` on the shared question ids."""
    task, (_, name, _, split), other_task = r["task"], group_key(r), other["task"]
    pair = family.paired_difference(r["records"], other["records"])
    if not pair or not pair.get("n"):
        return None
    metric = pair.get("metric") or r["headline"]["name"]
    return _plain({"task": task, "other_task": other_task, "release": name, "split": split, "model": r["model"],
                   "result_id": r["result_id"], "other_result_id": other["result_id"],
                   "metric": metric_info(metric), "n": pair["n"], "patients": pair.get("patients"),
                   "value": pair.get(task), "other_value": pair.get(other_task),
                   "difference": pair["difference"], "interval": pair.get("interval")})


def paired_view(results: list[dict]) -> list[dict]:
    """Per model that did both tasks of a pairing family (`paired_task`, e.g. qa with sql) on one
    release and split: the family's `paired_difference` on the shared question ids. Of several
    results of one model in one (task, release, split), the latest (`created`, then result id)."""
    by_id = {r["result_id"]: r for r in results}
    rows = [pair_row(f, by_id[m["result_id"]], by_id[o["result_id"]])
            for f, m, o in pair_plan([result_meta(r) for r in results])]
    return [row for row in rows if row is not None]


def summary_view(tables: list[dict]) -> dict:
    """One row per model, one column per (task, release, split): headline and rank."""
    cols = [{"id": t["id"], "task": t["task"], "split": t["split"], "release": t["release"],
             "headline": t["headline"]} for t in tables]
    models: dict[str, dict] = {}
    for t in tables:
        for row in t["rows"]:
            cell = models.setdefault(row["model"], {})
            cur = cell.get(t["id"])
            # several entries of one model in one table (different params): the best-ranked one
            if cur is None or (row["rank"] or 10**9) < (cur["rank"] or 10**9):
                cell[t["id"]] = {"value": fmt_metric(t["headline"]["name"], row["value"]), "rank": row["rank"],
                                 "status": row["status"], "result_id": row["result_id"]}
    rows = [{"model": m, "cells": [models[m].get(c["id"]) for c in cols]} for m in sorted(models, key=str.lower)]
    return {"cols": cols, "rows": rows}


def _record_categories(rec: dict, dimension: str | None) -> list[str]:
    """The groups one record falls in: its `category`, or (dimension given) the string or list of
    strings under `categories[dimension]` (an item that reads two tables counts under both)."""
    if dimension is None:
        return [str(rec.get("category") or "(none)")]
    cats = rec.get("categories")
    val = cats.get(dimension) if isinstance(cats, dict) else None
    vals = val if isinstance(val, list) else [val]
    out = sorted({str(v) for v in vals if v is not None and v != ""})
    return out or ["(none)"]


def breakdown(records: list[dict], dimension: str | None = None, merge_small: bool = False) -> list[dict]:
    """Per category: items, patients, correct, wrong (sorted by most wrong, then name).
    `dimension`: one of the records' extra `categories` (e.g. SQL "table", "family") instead of
    `category`. `merge_small`: categories with fewer than 10 items or 5 patients become "other"."""
    members: dict[str, list[dict]] = {}
    for rec in records:
        for cat in _record_categories(rec, dimension):
            members.setdefault(cat, []).append(rec)
    if merge_small:
        merged: dict[str, list[dict]] = {}
        for cat, recs in members.items():
            pats = {r.get("subject_id") for r in recs}
            small = len(recs) < MIN_CATEGORY_ITEMS or len(pats) < MIN_CATEGORY_PATIENTS
            merged.setdefault("other" if small else cat, []).extend(recs)
        members = merged
    rows = []
    for c, recs in members.items():
        right = sum(1 for r in recs if r.get("correct") is True)
        wrong = sum(1 for r in recs if r.get("correct") is False)
        rows.append({"category": c, "n": len(recs), "patients": len({r.get("subject_id") for r in recs}),
                     "correct": right, "wrong": wrong, "rate": right / len(recs) if recs else None})
    return sorted(rows, key=lambda x: (x["category"] == "other", -x["wrong"], x["category"]))


def _family_of(task: str) -> Any:
    """The registered family of a stored result's task, or None (a result of a task this build
    does not know still renders, with default titles)."""
    from medbench.errors import UserError
    from medbench.tasks import FAMILIES

    try:
        return FAMILIES.get(task) if task in FAMILIES else None
    except (ImportError, UserError):
        return None


def breakdowns(records: list[dict], merge_small: bool = False, titles: dict[str, str] | None = None,
               hidden: tuple[str, ...] = ()) -> list[dict]:
    """Every error breakdown of a submission page: by `category` first (SQL template, ICD chapter,
    conversation fact type), then one per key of the records' `categories` (SQL: template family,
    table), in a fixed order. `titles` (the family's `breakdown_titles`: dimension -> heading, in
    display order; a dimension not listed is shown under its own name); `hidden`: the family's
    `hidden_breakdowns`."""
    order = titles or {}
    dims = sorted({k for rec in records if isinstance(rec.get("categories"), dict)
                   for k in rec["categories"] if isinstance(k, str)},
                  key=lambda k: (k not in order, list(order).index(k)
                                 if k in order else 0, k))
    out = [{"id": "category", "title": "category", "rows": breakdown(records, None, merge_small), "multi": False}]
    for d in dims:
        multi = any(isinstance(rec.get("categories"), dict) and isinstance(rec["categories"].get(d), list)
                    and len(rec["categories"][d]) > 1 for rec in records)
        out.append({"id": d, "title": order.get(d, d), "rows": breakdown(records, d, merge_small),
                    "multi": multi})
    return [b for b in out if b["id"] not in hidden]


def _no_lists(v: Any) -> Any:
    """Run params for the public page of a credentialed release: lists replaced by their length,
    long strings clipped."""
    if isinstance(v, dict):
        return {k: _no_lists(x) for k, x in v.items()}
    if isinstance(v, list):
        return f"[{len(v)} values, not published]"
    if isinstance(v, str) and len(v) > 120:
        return v[:120] + "… [not published]"
    return v


def submission_view(r: dict, rank: int | None, public: bool = False) -> dict:
    from medbench.publish.drill import drill_items, family_breakdown

    licence = r.get("source_licence", "credentialed")
    with_items = not public or licence in PUBLIC_LICENCES
    metrics = [{**metric_info(m), "value": v, "interval": r["intervals"].get(m),
                "headline": m == r["headline"]["name"]} for m, v in r["metrics"].items()]
    metrics.sort(key=lambda m: (not m["headline"], _natural(m["name"])))
    items = drill_items(r) if with_items else []
    header = {k: v for k, v in r["header"].items() if k != "type"}
    if not with_items:  # run params may carry data fitted on the release (a baseline's code list)
        header = _no_lists(header)
    n_wrong = sum(1 for it in items if it["outcome"] in WRONG_OUTCOMES)
    family = _family_of(r["task"])
    return {"r": r, "rank": rank, "metrics": metrics, "items": items, "with_items": with_items, "n_wrong": n_wrong,
            "wrong_outcomes": WRONG_OUTCOMES,
            "public": public, "licence_words": LICENCE_WORDS.get(licence, ""), "status": _status(r),
            "headline": metric_info(r["headline"]["name"]), "card": task_card(r["task"]),
            "n_patients": n_patients(r),
            "family_breakdown": family_breakdown(r, merge_small=public),
            # the family's titles; breakdowns it hides (ICD's `correct` is an exact code-set match:
            # its per-chapter view is the micro-F1 table)
            "breakdowns": breakdowns(r["records"], merge_small=public,
                                     titles=getattr(family, "breakdown_titles", None),
                                     hidden=tuple(getattr(family, "hidden_breakdowns", ()))),
            "outcomes": sorted({it["outcome"] for it in items}),
            "categories": sorted({it["category"] for it in items}),
            "has_seen": any(it["seen"] is not None for it in items),
            # a large drill-down is listed by the page's script from <id>.items.js, a page at a time
            "lazy": with_items and len(items) > ITEMS_INLINE, "per_page": ITEMS_PER_PAGE,
            "tokens": _tokens(r["usage"]),
            "header_json": shown(header)}


# ---------------------------------------------------------------- rendering and publishing

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "METRICS.md"


def _renderer_key(public: bool) -> str:
    """Everything besides the results that a page's bytes depend on: the package's code (views,
    families, stats), the templates, the metrics doc, the page settings and the public flag. Any
    change to one of them makes an incremental publish render every page again."""
    import hashlib

    pkg = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(repr((INDEX_FORMAT, public, ITEMS_INLINE, ITEMS_PER_PAGE, MAX_SHOWN_CHARS)).encode())
    files = sorted(pkg.rglob("*.py")) + sorted(TEMPLATES.glob("*.html")) + ([METRICS_DOC] if METRICS_DOC.is_file() else [])
    for f in files:
        data = f.read_bytes()
        h.update(f"\0{f.name}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


def _key(*parts: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class _Given:
    """Results passed in memory (`render_site(list)`): nothing cached, nothing indexed."""

    cacheable = False

    def __init__(self, results: list[dict]):
        self._by_id = {r["result_id"]: r for r in results}
        self.metas = [result_meta(r) for r in sorted(self._by_id.values(), key=lambda r: r["result_id"])]

    def load(self, result_id: str) -> dict:
        return self._by_id[result_id]


class _Stored:
    """The results folder of a site being published. Every file is hashed; one whose sha256
    matches the previous index keeps its recorded metadata (identity, group) and is only parsed
    when a page that depends on it is rendered; any other file is read and validated now."""

    cacheable = True

    def __init__(self, folder: Path, previous: dict):
        self.dir = folder / RESULTS_DIR
        self._loaded: dict[str, dict] = {}
        self._scan(previous.get("results", {}))

    def _scan(self, old_meta: dict) -> None:
        import hashlib

        loaded, self._loaded = self._loaded, {}
        self.metas = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            # the file's sha256, not its stat: the index must be the same bytes in any folder
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            meta = old_meta.get(path.stem)
            if not (_meta_ok(meta, path.stem) and meta["sha256"] == sha):
                r = self._loaded[path.stem] = load_result(path)
                meta = result_meta(r, sha)
            elif path.stem in loaded:
                self._loaded[path.stem] = loaded[path.stem]
            self.metas.append(meta)

    def rescan(self) -> None:
        """After files were added, replaced or removed: only those are read again."""
        self._scan({m["result_id"]: m for m in self.metas})

    def load(self, result_id: str) -> dict:
        """The whole result. A file read and validated when it was indexed, unchanged since (same
        sha256), is parsed without validating it again."""
        if result_id not in self._loaded:
            path = self.dir / f"{result_id}.json"
            try:
                r = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError):
                r = None
            if not (isinstance(r, dict) and r.get("result_id") == result_id):
                r = load_result(path)  # says what is wrong with it
            self._loaded[result_id] = r
        return self._loaded[result_id]

    def unlink(self, result_id: str) -> None:
        (self.dir / f"{result_id}.json").unlink()
        self._loaded.pop(result_id, None)
        self.metas = [m for m in self.metas if m["result_id"] != result_id]


def _meta_ok(meta: Any, result_id: str) -> bool:
    """A `result_meta` of the right shape for `result_id` (else the file is read again)."""
    if not isinstance(meta, dict) or meta.get("result_id") != result_id:
        return False
    strings = ("sha256", "identity", "model", "created")
    group = meta.get("group")
    return all(isinstance(meta.get(k), str) for k in strings) and isinstance(meta.get("pairable"), bool) and \
        isinstance(group, list) and len(group) == 4 and all(isinstance(x, str) for x in group)


def _read_index(site_dir: Path | None) -> dict:
    """The previous publish's index, or {} (none, unreadable, another format: render everything)."""
    if site_dir is None:
        return {}
    try:
        data = json.loads((site_dir / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    sections = ("results", "tables", "pairs", "pages")
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT or \
            not all(isinstance(data.get(k), dict) for k in sections):
        return {}
    return data


def render_site(results: list[dict] | _Stored, out_dir: str | Path, show_progress: bool = False,
                public: bool = False, previous: str | Path | None = None) -> dict[str, int | None]:
    """Write index.html and submissions/*.html for `results` into `out_dir`; returns ranks by id.
    `public`: the site meant for the web — no item drill-down for a credentialed release.

    `results` is a list of result dicts (everything rendered) or, when publishing, the stored
    results of the new folder (`_Stored`) with `previous` the site folder it replaces: then a view
    or page whose inputs (result file sha256s, rank, renderer) match the previous publish's index is
    reused — group tables and pair rows from the index, pages hard-linked from `previous` — and
    only the rest is rendered. Either way the bytes are those of a full render; the new index is
    written to `out_dir/publish-index.json`."""
    out_dir = Path(out_dir)
    store = results if isinstance(results, _Stored) else _Given(results)
    old = _read_index(Path(previous)) if (store.cacheable and previous is not None) else {}
    renderer = _renderer_key(public)
    metas = {m["result_id"]: m for m in store.metas}
    new: dict[str, Any] = {"format": INDEX_FORMAT, "results": metas if store.cacheable else {},
                           "tables": {}, "pairs": {}, "pages": {}}

    groups: dict[tuple, list[str]] = {}
    for rid in sorted(metas):
        groups.setdefault(tuple(metas[rid]["group"]), []).append(rid)
    tables = []
    comparisons: dict[str, Any] = dict(old["comparisons"]) if old and isinstance(old.get("comparisons"), dict) else {}
    for gkey in sorted(groups):
        ids = groups[gkey]
        ck = _key(renderer, "table", list(gkey), [(i, metas[i]["sha256"]) for i in ids])
        table = old["tables"].get(ck) if old else None
        if not isinstance(table, dict):
            # the group changed: its pairs of unchanged members are not compared again
            memo_keys = [_key(renderer, metas[i]["sha256"]) for i in ids] if store.cacheable else None
            table = group_table(gkey, [store.load(i) for i in ids], comparisons, memo_keys)
        if store.cacheable:
            new["tables"][ck] = table
        tables.append(table)
    ranks = {row["result_id"]: row["rank"] for t in tables for row in t["rows"]}
    if store.cacheable:  # only the comparisons between results still stored
        live = {_key(renderer, m["sha256"]) for m in metas.values()}
        new["comparisons"] = {k: v for k, v in sorted(comparisons.items())
                              if all(side.split("/")[0] in live for side in k.split("|"))}

    pairs = []
    for family, m, o in pair_plan(list(metas.values())):
        ck = _key(renderer, "pair", m["result_id"], m["sha256"], o["result_id"], o["sha256"])
        if old and ck in old["pairs"]:
            row = old["pairs"][ck]
        else:
            row = pair_row(family, store.load(m["result_id"]), store.load(o["result_id"]))
        if store.cacheable:
            new["pairs"][ck] = row
        if row is not None:
            pairs.append(row)

    (out_dir / "submissions").mkdir(parents=True, exist_ok=True)
    if METRICS_DOC.is_file():
        (out_dir / "docs").mkdir(exist_ok=True)
        _write(out_dir / "docs" / "METRICS.md", METRICS_DOC.read_text(encoding="utf-8"))
    _write(out_dir / "index.html", env().get_template("index.html").render(
        tables=tables, summary=summary_view(tables), pairs=pairs, n_results=len(metas), fmt=fmt_num,
        fmt_metric=fmt_metric,
        sort_key=sort_key, to_display=to_display, public=public, min_patients=MIN_PATIENTS_TO_RANK))

    todo = []
    for rid in sorted(metas):
        pk = _key(renderer, "page", rid, metas[rid]["sha256"], ranks.get(rid))
        prev = old["pages"].get(rid) if old else None
        if isinstance(prev, dict) and prev.get("key") == pk and _link_pages(Path(previous), out_dir, prev.get("files")):
            new["pages"][rid] = prev
        else:
            todo.append((rid, pk))
    page = env().get_template("submission.html")

    def render_one(rid: str, pk: str) -> None:
        files = _render_submission(page, store.load(rid), ranks.get(rid), out_dir, public)
        if store.cacheable:
            new["pages"][rid] = {"key": pk, "files": files or [f"{rid}.html"]}

    if show_progress and len(todo) > 1:
        from medbench.progress import progress_bar

        with progress_bar() as bar:
            t = bar.add_task("rendering submission pages", total=len(todo))
            for rid, pk in todo:
                render_one(rid, pk)
                bar.advance(t)
    else:
        for rid, pk in todo:
            render_one(rid, pk)
    if store.cacheable:
        new["pages"] = dict(sorted(new["pages"].items()))
        _write(out_dir / INDEX_FILE, json.dumps(new, sort_keys=True, ensure_ascii=False, indent=1) + "\n")
    return ranks


def _link_pages(old_dir: Path, new_dir: Path, files: Any) -> bool:
    """Hard-link a result's unchanged page files from the previous site; False (nothing linked)
    when one is missing or the list is not one the index writes."""
    import re

    if not isinstance(files, list) or not files or \
            not all(isinstance(f, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,80}(\.items\.js|\.html)", f) for f in files):
        return False
    src = [old_dir / "submissions" / f for f in files]
    if not all(p.is_file() and not p.is_symlink() for p in src):
        return False
    for f, p in zip(files, src):
        try:
            os.link(p, new_dir / "submissions" / f)
        except OSError:
            shutil.copy2(p, new_dir / "submissions" / f)
    return True


def _render_submission(page, r: dict, rank: int | None, out_dir: Path, public: bool = False) -> list[str]:
    """Write a result's page (and, for a page with more than ITEMS_INLINE items, the item data it
    loads); returns the file names written under submissions/."""
    view = submission_view(r, rank, public)
    html = page.render(fmt=fmt_num, fmt_metric=fmt_metric, sort_key=sort_key, to_display=to_display, **view)
    names = [f"{r['result_id']}.html"]
    if view["lazy"]:
        names.append(f"{r['result_id']}.items.js")
        _write(out_dir / "submissions" / names[1], items_script(view["items"]))
    _write(out_dir / "submissions" / names[0], html)
    return names


def items_script(items: list[dict]) -> str:
    """The item data file of a large submission page: one global, an array with per item
    [outcome, category, seen, item id, correct, card HTML]. The card HTML is the template's own
    autoescaped markup; the JSON is ASCII with <, >, & and the line separators escaped, so no
    string in it can end the script or the string it sits in."""
    card = env().get_template("item.html").module.item_card
    rows = [[it["outcome"], it["category"], "" if it["seen"] is None else ("seen" if it["seen"] else "unseen"),
             it["item_id"], "true" if it["outcome"] == "correct" else "false" if it["outcome"] in WRONG_OUTCOMES else "none",
             str(card(it, fmt_num, WRONG_OUTCOMES))] for it in items]
    text = json.dumps(rows, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.MEDBENCH_ITEMS = {text};\n"


def publish_public(leaderboard: str | Path, out: str | Path, show_progress: bool = False) -> dict[str, int | None]:
    """Render the public site of `leaderboard`'s results into `out` (replaced atomically): the
    pages (and the site's publish index) only — no result files, and for a credentialed release no
    gold, inputs or predictions. Incremental like `publish_results`: pages whose inputs match the
    index of the public site being replaced are hard-linked from it (the index keys carry the
    public renderer, so a private site's pages are never reused); the bytes are a full render's."""
    from medbench.errors import UserError

    lb, out = Path(leaderboard), Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--public: not a folder: {out}")
    if out.resolve() == lb.resolve() or lb.resolve() in out.resolve().parents:
        raise UserError(f"--public: {out} must be outside the private leaderboard {lb}")
    with publish_lock(lb):
        _sweep_dead_copies(out)
        previous = out if out.is_dir() else None
        store = _Stored(lb, _read_index(previous))
        with atomic_dir(out) as tmp:
            ranks = render_site(store, tmp, show_progress=show_progress, public=True, previous=previous)
    return ranks


def remove_result(leaderboard: str | Path, result_id: str, show_progress: bool = False) -> dict:
    """Remove one stored result and re-render the site (atomically, under the publish lock)."""
    from medbench.errors import UserError

    lb = Path(leaderboard)
    with publish_lock(lb):
        path = result_path(lb, result_id)
        if not path.is_file():
            known = sorted(p.stem for p in (lb / RESULTS_DIR).glob("*.json")) if (lb / RESULTS_DIR).is_dir() else []
            hint = f" (stored: {', '.join(known[:5])}{', …' if len(known) > 5 else ''})" if known else ""
            raise UserError(f"no result {result_id!r} in {lb}{hint}")
        removed = load_result(path)
        _sweep_dead_copies(lb)
        with atomic_dir(lb) as tmp:
            _carry_over(lb, tmp)
            store = _Stored(tmp, _read_index(lb))
            store.unlink(result_id)
            render_site(store, tmp, show_progress=show_progress, previous=lb)
    return removed


def _write(path: Path, text: str) -> None:
    # Plain writes: the folder as a whole is swapped in atomically, and plain files get the
    # umask's permissions (mkstemp's 0600 would hide the site from a web server).
    path.write_bytes(text.encode("utf-8"))


def _carry_over(old: Path, new: Path) -> None:
    """Bring everything but the generated pages into the new folder. Hard links, not copies:
    stored files are only ever replaced (new inode), never edited in place, so sharing is safe."""
    def link_or_copy(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for entry in sorted(old.iterdir()):
        if entry.name in GENERATED or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, new / entry.name, copy_function=link_or_copy, symlinks=True)
        else:
            link_or_copy(entry, new / entry.name)


def publish_results(leaderboard: str | Path, new_results: list[dict],
                    show_progress: bool = False) -> dict[str, int | None]:
    """Add `new_results` to the store and re-render the site, atomically; returns ranks. Only what
    the new results change is rendered (`render_site` with the previous index); the bytes are
    those of a full re-render."""
    lb = Path(leaderboard)
    if lb.exists() and not lb.is_dir():
        from medbench.errors import UserError

        raise UserError(f"leaderboard path is not a folder: {lb}")
    # One publisher at a time: each one rebuilds the folder from what it finds, so two at once
    # would each swap in a copy without the other's result. The whole read-write-render-swap
    # runs under an exclusive lock on the folder's parent directory (the folder itself is
    # swapped out, and a lock file would be litter beside it).
    with publish_lock(lb):
        return _publish_locked(lb, new_results, show_progress)


@contextlib.contextmanager
def publish_lock(leaderboard: str | Path, timeout_s: float = PUBLISH_LOCK_TIMEOUT_S):
    """Exclusive inter-process lock (fcntl.flock) for publishing to `leaderboard`.

    Taken on the leaderboard's parent directory (so publishers to sibling folders also take
    turns, which costs nothing). Waits up to `timeout_s` for another publisher to finish, then
    raises UserError. The kernel releases the lock if its holder dies, so a crashed publisher
    never blocks the next one.
    """
    lb = Path(leaderboard)
    parent = lb.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no inter-process lock available
        yield parent
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    from medbench.errors import UserError

                    raise UserError(f"another medbench is publishing to {lb} (waited {timeout_s:g} s for "
                                    f"the lock on {parent})") from None
                time.sleep(0.05)
        try:
            yield parent
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _sweep_dead_copies(lb: Path) -> None:
    """Temp copies `.<name>.*.tmp` / `.old` beside a site folder left by a killed publish: the
    publish lock is held here, so no live publisher owns one."""
    import re
    import shutil

    rx = re.compile(rf"^\.{re.escape(lb.name)}\.[^/]*\.(tmp|old)$")
    try:
        entries = list(lb.parent.iterdir())
    except OSError:
        return
    for p in entries:
        if rx.match(p.name) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)


def _publish_locked(lb: Path, new_results: list[dict], show_progress: bool) -> dict[str, int | None]:
    _sweep_dead_copies(lb)
    with atomic_dir(lb) as tmp:  # atomic_dir gives the folder plain mkdir permissions
        if lb.is_dir():
            _carry_over(lb, tmp)
        (tmp / RESULTS_DIR).mkdir(exist_ok=True)
        # one entry per run: a stored result of the same (model, release, task, split, params)
        # is replaced, whatever id it was stored under
        # (identities from the previous index: unchanged results are not read)
        previous = _read_index(lb if lb.is_dir() else None)
        new_keys = {result_identity(r["header"]): r["result_id"] for r in new_results}
        store = _Stored(tmp, previous)
        for old in store.metas:
            if new_keys.get(old["identity"]) not in (None, old["result_id"]):
                result_path(tmp, old["result_id"]).unlink()
        for r in new_results:
            write_result(tmp, r)
        store.rescan()
        # only the pages whose inputs changed are rendered; the rest are linked from `lb`
        ranks = render_site(store, tmp, show_progress=show_progress, previous=lb if lb.is_dir() else None)
    return ranks
