"""qa scoring: per-item records and the aggregate metrics (as sums, for the bootstrap).

Per item, the SQL family's reliability rule (EHRSQL 2024): +1 for a matching answer to an
answerable question (`answer.answer_matches`) or an abstention on an unanswerable one; 0 for
abstaining on an answerable question; −1 for a wrong answer or for any answer to an unanswerable
question. A prediction of None or the string "null" is an abstention (`parse.is_abstention`, the
SQL convention); a missing prediction is scored as "" (wrong), never as an abstention.

Metrics (percentages, 0–100; RS may be negative). The formulas of `rs0`, `rs5`, `rs10`, `rsN`,
`abstention_precision`, `abstention_recall` and `answerable_share` are the SQL family's own
(`medbench.tasks.sql.metrics._metrics`, evaluated on the same statistics), so RS(c) of the two
families is one definition; `answer_accuracy` is the SQL `ex` formula (right answers / answerable
questions) under its qa name. Headline `rs10`. Abstaining on everything scores the unanswerable
share in every RS(c) (0 on an all-answerable sample).
- `answer_accuracy_in_context`: accuracy on the answerable questions whose gold values appear literally
  in the context (`answer_in_context`);
- every metric also as `<metric>_seen` / `<metric>_unseen` (template asked in train or not);
- `rs10_ctx_<bucket>` and `answer_accuracy_ctx_<bucket>` per context-length bucket
  (`build.CONTEXT_BUCKETS`: le2k, 2k_8k, 8k_32k, gt32k approximate tokens); a bucket with no
  item is left out.
`paired_with_sql` compares, on shared question ids, per-item scores of one model's qa records with
its sql records.
"""

from __future__ import annotations

from typing import Any

from medbench.tasks.qa.answer import answer_matches
from medbench.tasks.qa.build import CONTEXT_BUCKETS
from medbench.tasks.qa.parse import is_abstention
from medbench.tasks.sql.metrics import _Prefixed  # a SumTable view of `prefix + name` statistics
from medbench.tasks.sums import aggregate_from_sums

RS_PENALTIES = (0, 5, 10)
SEEN_GROUPS = {True: "seen", False: "unseen"}
ANSWER_CHARS = 2000  # answers shown in records are clipped; matching reads the whole answer
#: the SQL formulas kept for qa, and the one renamed (sql `ex` = right answers / answerable)
_SHARED_METRICS = ("rs0", "rs5", "rs10", "rsN", "abstention_precision", "abstention_recall", "answerable_share")
_BUCKET_METRICS = ("rs10", "answer_accuracy")


def _clip(text: Any) -> Any:
    if not isinstance(text, str) or len(text) <= ANSWER_CHARS:
        return text
    return text[:ANSWER_CHARS] + f"… [{len(text) - ANSWER_CHARS} more characters]"


def score_item(item: dict, gold: dict, prediction: Any) -> dict:
    answerable = bool(gold["answerable"])
    abstained = is_abstention(prediction)
    error = None
    if not abstained and not isinstance(prediction, str):
        error = f"prediction must be an answer string or null, not {type(prediction).__name__}"
    if answerable:
        correct = bool(not abstained and error is None and answer_matches(prediction, gold["answer"] or [],
                                                                          gold["answer_type"]))
        score = 0 if abstained else (1 if correct else -1)
    else:
        correct = abstained
        score = 1 if abstained else -1
    seen = item.get("template_seen_in_train")
    rec: dict[str, Any] = {
        "item_id": item["item_id"],
        "subject_id": item.get("subject_id"),
        "question_id": item.get("question_id"),
        "category": gold.get("template"),
        "categories": {"family": str(gold.get("family") or "(none)"), "answer_type": gold["answer_type"],
                       "context_length": item.get("context_bucket"),
                       "answer_in_context": "in context" if gold.get("answer_in_context") else "not in context",
                       "template_seen_in_train": "seen" if seen else "unseen"},
        "template_seen_in_train": seen,
        "answerable": answerable,
        "abstained": abstained,
        "answer_type": gold["answer_type"],
        "context_bucket": item.get("context_bucket"),
        "context_tokens": item.get("context_tokens"),
        "answer_in_context": bool(gold.get("answer_in_context")),
        "error": error,
        "pred_answer": None if abstained else _clip(prediction if isinstance(prediction, str) else repr(prediction)),
        "gold_answer": gold.get("answer_text") if answerable else None,
        "correct": correct,
        "score": score,
    }
    for c in RS_PENALTIES:
        rec[f"rs{c}"] = 100.0 * (score * c if score < 0 else score)
    return rec


def score_items(items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None) -> list[dict]:
    return [score_item(it, gold_by_id[it["item_id"]], predictions_by_id.get(it["item_id"], ""))
            for it in items]


def aggregate(records: list[dict]) -> dict[str, float]:
    return aggregate_from_sums(records, item_sums, aggregate_sums)


def item_sums(r: dict) -> dict[str, float]:
    """One record's additive statistics, named as the SQL family's where they mean the same."""
    s, answerable, abstained = r["score"], bool(r["answerable"]), bool(r["abstained"])
    found = answerable and bool(r.get("answer_in_context"))
    base = {
        "right": 1 if s > 0 else 0, "wrong": 1 if s < 0 else 0,
        "answerable": 1 if answerable else 0,
        "correct_answerable": 1 if (answerable and r["correct"]) else 0,
        "unanswerable": 0 if answerable else 1,
        "abstained": 1 if abstained else 0,
        "abstained_unanswerable": 1 if (abstained and not answerable) else 0,
        "answered": 0 if abstained else 1,
        "in_context": 1 if found else 0,
        "correct_in_context": 1 if (found and r["correct"]) else 0,
    }
    out = dict(base)
    group = SEEN_GROUPS.get(r.get("template_seen_in_train"))  # type: ignore[arg-type]
    prefixes = ([f"{group}:"] if group else []) + ([f"ctx_{r['context_bucket']}:"] if r.get("context_bucket") else [])
    for p in prefixes:
        out.update({f"{p}{k}": v for k, v in base.items()})
        out[f"{p}n"] = 1
    return out


def _metrics(S, n) -> dict:
    import numpy as np

    from medbench.tasks.sql.metrics import _metrics as sql_metrics

    shared = sql_metrics(S, n)  # RS(c), abstention precision/recall: one definition for both families
    out = {k: shared[k] for k in _SHARED_METRICS}
    out["answer_accuracy"] = shared["ex"]
    den = S["in_context"]
    out["answer_accuracy_in_context"] = np.where(den > 0, np.divide(100.0 * S["correct_in_context"], den,
                                                             out=np.zeros(np.shape(den)), where=den != 0), np.nan)
    return out


def aggregate_sums(S, n):
    import numpy as np

    out = _metrics(S, n)
    for group in SEEN_GROUPS.values():
        if f"{group}:n" not in S:
            continue
        ng = S[f"{group}:n"]
        for k, v in _metrics(_Prefixed(S, f"{group}:"), ng).items():
            out[f"{k}_{group}"] = np.where(ng > 0, v, np.nan)
    for _, bucket in CONTEXT_BUCKETS:
        prefix = f"ctx_{bucket}:"
        if f"{prefix}n" not in S:
            continue
        nb = S[f"{prefix}n"]
        sub = _metrics(_Prefixed(S, prefix), nb)
        for k in _BUCKET_METRICS:
            out[f"{k}_ctx_{bucket}"] = np.where(nb > 0, sub[k], np.nan)
    return out


# ---------------------------------------------------------------------------------- pairing


def paired_with_sql(qa_records: list[dict], sql_records: list[dict], c: int = 10, n_resamples: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """The same questions answered by reading the record (qa) and by writing SQL (sql), for one model:
    on the question ids both scored, mean per-item RS(c) points of qa minus sql, with a 95%
    patient-clustered bootstrap interval (patients resampled with replacement; seeded)."""
    import numpy as np

    sql_by_id = {r["item_id"]: r for r in sql_records}
    pairs = [(r, sql_by_id[r["question_id"]]) for r in qa_records if r.get("question_id") in sql_by_id]
    if not pairs:
        return {"n": 0}

    def points(rec: dict) -> float:
        s = rec["score"]
        return 100.0 * (s * c if s < 0 else s)

    diffs = np.array([points(q) - points(s) for q, s in pairs])
    patients = [q.get("subject_id") for q, _ in pairs]
    index: dict[Any, list[int]] = {}
    for k, p in enumerate(patients):
        index.setdefault(p, []).append(k)
    clusters = [np.array(v) for _, v in sorted(index.items(), key=lambda kv: str(kv[0]))]
    rng = np.random.default_rng(seed)
    sums = np.array([diffs[v].sum() for v in clusters])
    sizes = np.array([len(v) for v in clusters], dtype=np.float64)
    picks = rng.integers(0, len(clusters), size=(n_resamples, len(clusters)))
    reps = sums[picks].sum(axis=1) / sizes[picks].sum(axis=1)
    lo, hi = np.percentile(reps, [2.5, 97.5])
    return {"n": len(pairs), "patients": len(clusters), "metric": f"rs{c}",
            "qa": float(np.mean([points(q) for q, _ in pairs])),
            "sql": float(np.mean([points(s) for _, s in pairs])),
            "difference": float(diffs.mean()), "interval": [float(lo), float(hi)],
            "both_correct": sum(1 for q, s in pairs if q["correct"] and s["correct"]),
            "qa_only_correct": sum(1 for q, s in pairs if q["correct"] and not s["correct"]),
            "sql_only_correct": sum(1 for q, s in pairs if s["correct"] and not q["correct"])}
