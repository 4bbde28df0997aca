"""Score a validated submission: family scorer → per-item records → metrics → bootstrap intervals
→ a result dict (the results-store format, docs/ARCHITECTURE.md). Nothing is written here;
"validate → score → publish" is `medbench.pipeline.score_file` (above both scoring and publish).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from medbench import __version__
from medbench.datause import release_licence
from medbench.errors import UserError
from medbench.scoring.results import RESULT_FORMAT, make_result_id, result_identity
from medbench.scoring.stats import DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_intervals
from medbench.scoring.submission import Submission

SCORER_VERSION = f"medbench-{__version__}/score-1"
#: item fields that are bookkeeping, not model input (shown separately on the item page)
_ITEM_META = ("item_id", "task", "split", "subject_id", "hadm_id")
_GOLD_META = ("item_id", "task")
MAX_INPUT_CHARS = 4000  # long inputs (notes) are clipped in results: the release holds them whole


@dataclass
class ScoreContext:
    """What a family's `score_items` may need (duck-typed: tasks never import scoring)."""

    release: Any
    task: str
    split: str
    workers: int | None = None
    timeout_s: float | None = None
    judge: str | None = None
    api_base: str | None = None
    show_progress: bool = True
    judge_model: Any = None  # the judge as a Model (medbench.models.judge_model), when --judge


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_INPUT_CHARS:
        return value[:MAX_INPUT_CHARS] + f"… [{len(value) - MAX_INPUT_CHARS} more characters]"
    if isinstance(value, dict):
        return {k: _clip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip(v) for v in value]
    return value


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _usage(lines: dict[str, dict]) -> dict:
    """Totals where known: None (not 0) when no line reported a value."""
    def total(values):
        vals = [v for v in values if v is not None]
        return sum(vals) if vals else None

    ordered = [lines[k] for k in sorted(lines)]
    lat = [ln.get("latency_s") for ln in ordered if ln.get("latency_s") is not None]
    return {
        "prompt_tokens": total((ln.get("usage") or {}).get("prompt_tokens") for ln in ordered),
        "completion_tokens": total((ln.get("usage") or {}).get("completion_tokens") for ln in ordered),
        "cost_usd": total(ln.get("cost_usd") for ln in ordered),
        "latency_s_mean": (sum(lat) / len(lat)) if lat else None,
    }


def _clip_prediction(value: Any) -> Any:
    """An over-limit prediction as results keep it: strings clipped, lists cut to 50 entries."""
    if isinstance(value, list):
        return [_clip(v) for v in value[:50]] + ([f"… [{len(value) - 50} more]"] if len(value) > 50 else [])
    if isinstance(value, dict):
        from medbench.io import canonical_json

        return _clip(canonical_json(value))
    return _clip(value)


def _complete_records(family_records: list[dict], sub: Submission, gold_by_id: dict) -> list[dict]:
    """Family records + what the item page shows (input, gold, prediction, error), in item order."""
    by_id = {r["item_id"]: r for r in family_records}
    over_limit = getattr(sub, "over_limit", None) or {}
    missing = set(sub.missing)
    out = []
    for item in sub.items:
        iid = item["item_id"]
        if iid not in by_id:
            raise RuntimeError(f"task family returned no record for item {iid}")
        rec = dict(by_id[iid])
        line = sub.lines.get(iid, {})
        rec.setdefault("subject_id", item.get("subject_id"))
        rec.setdefault("category", None)
        rec.setdefault("input", _clip({k: v for k, v in item.items() if k not in _ITEM_META}))
        rec.setdefault("gold", {k: v for k, v in gold_by_id[iid].items() if k not in _GOLD_META})
        rec.setdefault("prediction", line.get("prediction"))
        if iid in over_limit:
            rec["prediction"] = _clip_prediction(line.get("prediction"))
            rec["error"] = over_limit[iid]
            rec["over_limit"] = True
        if iid in missing:
            rec["missing"] = True
            rec["error"] = rec.get("error") or "no prediction submitted"
        else:
            rec.setdefault("error", line.get("error") or line.get("parse_error"))
        rec["correct"] = None if rec.get("correct") is None else bool(rec["correct"])
        rec["score"] = _finite(rec.get("score"))
        rec["category"] = None if rec["category"] is None else str(rec["category"])
        out.append(rec)
    return out


def score(sub: Submission, *, workers: int | None = None, timeout_s: float | None = None,
          judge: str | None = None, api_base: str | None = None,
          n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
          show_progress: bool = True, official_denominator: bool = False,
          allow_providers: tuple[str, ...] = ()) -> dict:
    """Score a validated submission into a result dict (not written anywhere)."""
    from medbench.tasks import get_family

    if n_resamples < 1000:
        raise UserError(f"--resamples must be at least 1000 (got {n_resamples})")
    family = get_family(sub.task)
    if judge and not getattr(family, "supports_judge", False):
        raise UserError(f"--judge applies to the conversation task only, not '{sub.task}'")
    judge_use = None
    if judge:
        from medbench.datause import check_data_use

        judge_use = check_data_use(judge, sub.release.manifest, api_base=api_base,
                                   allow_providers=allow_providers, flag="--judge")
    gold_by_id = sub.release.gold(sub.task, sub.split)
    missing_value = getattr(family, "missing_prediction", None)
    over_limit = getattr(sub, "over_limit", None) or {}
    # An over-limit prediction is scored as the family's "nothing usable" value (never run, parsed
    # or bootstrapped as submitted); its record keeps the reason and a clipped prediction.
    predictions = {it["item_id"]: (sub.lines[it["item_id"]].get("prediction")
                                   if it["item_id"] in sub.lines and it["item_id"] not in over_limit
                                   else missing_value)
                   for it in sub.items}
    judge_model = None
    if judge:
        from medbench.models import judge_model as make_judge

        judge_model = make_judge(judge, api_base=api_base, release=sub.release)
    ctx = ScoreContext(release=sub.release, task=sub.task, split=sub.split, workers=workers,
                       timeout_s=timeout_s, judge=judge, api_base=api_base, show_progress=show_progress,
                       judge_model=judge_model)
    if hasattr(family, "score_items"):
        family_records = family.score_items(sub.items, gold_by_id, predictions, ctx)
    else:
        family_records = [family.score_item(it, gold_by_id[it["item_id"]], predictions[it["item_id"]], ctx)
                          for it in sub.items]
    records = _complete_records(list(family_records), sub, gold_by_id)

    metrics = {k: _finite(v) for k, v in sorted(family.aggregate(records).items())}
    headline_name = family.headline_metric
    if headline_name not in metrics:
        raise RuntimeError(f"task family '{sub.task}' did not report its headline metric {headline_name}")
    # Intervals for every metric: one aggregate() per replicate yields them all; metrics a family
    # declares as plain means of a per-item field (`mean_metrics`) or as functions of summed
    # per-item statistics (`item_sums` + `aggregate_sums`) take numpy's fast paths instead.
    numeric = [m for m, v in metrics.items() if v is not None]
    sum_fields = (family.item_sums, family.aggregate_sums) \
        if hasattr(family, "item_sums") and hasattr(family, "aggregate_sums") else None
    intervals = bootstrap_intervals(records, family.aggregate, numeric,
                                    mean_fields=getattr(family, "mean_metrics", None), sum_fields=sum_fields,
                                    n_resamples=n_resamples, seed=seed, point=metrics, workers=workers)
    head_iv = intervals.get(headline_name)
    header = sub.header
    result = {
        "format_version": RESULT_FORMAT,
        "result_id": make_result_id(header["model"], sub.task, sub.split, result_identity(header)),
        "header": header,
        "task": sub.task,
        "split": sub.split,
        "model": header["model"],
        "created": header.get("created"),
        "benchmark": {"name": sub.release.name, "sha256": sub.release.sha256},
        "metrics": metrics,
        "headline": {
            "name": headline_name,
            "value": metrics[headline_name],
            "ci_low": head_iv[0] if head_iv else None,
            "ci_high": head_iv[1] if head_iv else None,
            "higher_is_better": bool(family.higher_is_better),
        },
        "intervals": intervals,
        "n_items": len(sub.items),
        "n_missing": len(sub.missing),
        "complete": sub.complete,
        "usage": _usage(sub.lines),
        "bootstrap": {"resamples": n_resamples, "seed": seed, "level": DEFAULT_LEVEL, "unit": "patient"},
        "submission_sha256": sub.sha256,
        "scorer_version": f"{SCORER_VERSION}/{sub.task}-{getattr(family, 'scorer_version', '1')}",
        "judge": {"model": judge, "data_use": judge_use} if judge else None,
        "source_licence": release_licence(sub.release.manifest),
        "release_counts": dict((sub.release.manifest["tasks"].get(sub.task) or {}).get("counts") or {}),
        **_errors(sub.lines),
        "records": records,
    }
    extras = getattr(family, "result_extras", None)
    if extras is not None:  # e.g. SQL: resource-limit counts, items excluded from the source
        options = {"official_denominator": True} if official_denominator else {}
        result.update(extras(records, sub.release, sub.split, **options))
    clusters = len({("s", r["subject_id"]) if r.get("subject_id") is not None else ("i", k)
                    for k, r in enumerate(records)})
    result["bootstrap"]["clusters"] = clusters
    return result


def _errors(lines: dict[str, dict]) -> dict:
    """Items whose model call failed (`error`, not a parse error) and the most frequent message."""
    from collections import Counter

    errs = Counter(" ".join(str(ln["error"]).split())[:300] for _, ln in sorted(lines.items()) if ln.get("error"))
    leading = min(errs.items(), key=lambda kv: (-kv[1], kv[0]))[0] if errs else None
    return {"n_errored": sum(errs.values()), "leading_error": leading}
