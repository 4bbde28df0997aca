"""The qa family's metric descriptors and task card (the leaderboard's metric and task cards,
docs/METRICS.md's facts). The metrics qa shares with SQL — rs0/rs5/rs10/rsN, abstention
precision/recall, answerable share — are the SQL family's `MetricSpec`s themselves (one formula,
one card: `contract.metric_specs_by_name` refuses a name two families declare differently)."""

from __future__ import annotations

from medbench.tasks.contract import MetricSpec
from medbench.tasks.qa.build import CONTEXT_BUCKETS
from medbench.tasks.sql.cards import METRIC_SPECS as _SQL_SPECS

SHARED_WITH_SQL = ("rs0", "rs5", "rs10", "rsN", "abstention_precision", "abstention_recall", "answerable_share")
_BUCKET_WORDS = {"le2k": "≤ 2k tokens", "2k_8k": "2k–8k tokens", "8k_32k": "8k–32k tokens", "gt32k": "> 32k tokens"}

METRIC_SPECS: tuple[MetricSpec, ...] = (
    *(s for s in _SQL_SPECS if s.name in SHARED_WITH_SQL),
    MetricSpec("answer_accuracy", "Answer accuracy (answerable)", "pct100",
               "share of answerable questions whose answer matches the gold (numbers within 1% or 5e-4, "
               "dates by day, sets order-free, text case-insensitive)"),
    MetricSpec("answer_accuracy_in_context", "Answer accuracy, gold in the record", "pct100",
               "accuracy on answerable questions whose gold values appear literally in the context"),
    *(MetricSpec(f"rs10_ctx_{b}", f"Reliability score, penalty 10 (context {_BUCKET_WORDS[b]})", "points",
                 f"RS(10) on the items whose context is {_BUCKET_WORDS[b]} (regex tokens)")
      for _, b in CONTEXT_BUCKETS),
    *(MetricSpec(f"answer_accuracy_ctx_{b}", f"Answer accuracy (context {_BUCKET_WORDS[b]})", "pct100",
                 f"accuracy on the answerable items whose context is {_BUCKET_WORDS[b]}")
      for _, b in CONTEXT_BUCKETS),
)

CARD: dict[str, str] = {
    "title": "Question answering over a patient's record",
    "asks": "Answer the SQL task's patient-level clinical questions by reading the patient's rendered record "
            "instead of writing SQL, or abstain (null) when the record cannot answer them.",
    "input": "question, expected answer type, the admission's (or patient's) rendered record",
    "output": "the answer text, or null to abstain",
    "headline": "Reliability score with penalty 10, the SQL task's formula: the same questions can be compared "
                "answered by SQL and by reading.",
}


def item_outcome(rec) -> str:
    """The drill-down's label of one typed `QaRecord`: an answerable question answered with an
    abstention is "abstained" (it scores 0, not the −1 of a wrong answer)."""
    if rec.correct is True:
        return "correct"
    if rec.abstained:
        return "abstained"
    if rec.error:
        return "invalid"
    return "wrong"
