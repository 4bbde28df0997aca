"""The sql family's metric descriptors and task card: the one source of the leaderboard's
metric cards (medbench.publish.describe) and of docs/METRICS.md's facts (a test keeps them in step)."""

from __future__ import annotations

from typing import Any, ClassVar

from medbench.tasks.contract import MetricSpec

METRIC_SPECS = (
    MetricSpec(
        "rs0",
        "Reliability score, no penalty",
        "points",
        "100 × (correct − 0 × wrong) / items; abstaining scores 0",
        reference="EHRSQL 2024 shared task (Lee et al. 2024), reliability score",
    ),
    MetricSpec(
        "rs5",
        "Reliability score, penalty 5",
        "points",
        "100 × (correct − 5 × wrong) / items; abstaining scores 0",
        reference="EHRSQL 2024 shared task (Lee et al. 2024), reliability score",
    ),
    MetricSpec(
        "rs10",
        "Reliability score, penalty 10",
        "points",
        "100 × (correct − 10 × wrong) / items; a wrong answer costs 10 correct ones, abstaining scores 0",
        reference="EHRSQL 2024 shared task (Lee et al. 2024), reliability score",
    ),
    MetricSpec(
        "rsN",
        "Reliability score, penalty N (one error cancels all)",
        "points",
        "100 × (correct − N × wrong) / N, N = items; one wrong answer gives ≤ 0",
        reference="EHRSQL 2024 shared task (Lee et al. 2024), reliability score",
    ),
    MetricSpec(
        "ex",
        "Execution accuracy (answerable)",
        "pct100",
        "share of answerable questions whose predicted SQL returns the gold answer",
    ),
    MetricSpec("valid_sql_rate", "Valid SQL", "pct100", "share of answered questions whose SQL executed"),
    MetricSpec(
        "abstention_precision",
        "Abstention precision",
        "pct100",
        "abstentions on unanswerable questions / all abstentions",
    ),
    MetricSpec(
        "abstention_recall",
        "Abstention recall",
        "pct100",
        "unanswerable questions abstained on / unanswerable questions",
    ),
    MetricSpec(
        "em",
        "Exact match of SQL",
        "pct100",
        "share of answerable questions whose normalised SQL equals the gold SQL",
    ),
    MetricSpec(
        "token_f1",
        "SQL token F1",
        "pct100",
        "mean token-level F1 between predicted and gold SQL (answerable questions)",
    ),
    MetricSpec(
        "resource_limit_rate",
        "Over the work budget",
        "pct100",
        "share of items whose query exceeded the deterministic work budget",
        direction="lower",
    ),
    MetricSpec(
        "answerable_share", "Answerable questions", "pct100", "answerable questions / items", direction="none"
    ),
)

CARD = {
    "title": "Text-to-SQL over the EHR",
    "asks": "Answer a clinical question about one patient, or about all of the release's patients (counts, averages, rankings), by writing SQL over the release's MIMIC-IV tables, or abstain (null) when the question cannot be answered from the data.",
    "input": "question, schema of the release database",
    "output": "one SQL query, or null to abstain",
    "headline": "Reliability score with penalty 10: a wrong answer costs ten right ones, so abstaining beats guessing.",
}


_RESOURCE = ("time limit", "memory", "row cap", "too many rows", "killed", "out of memory")


def item_outcome(rec) -> str:
    """The drill-down's label of one typed `SqlRecord`."""
    if rec.correct is True:
        return "correct"
    if rec.abstained:
        return "abstained"
    err = str(rec.error or "").lower()
    if err and any(k in err for k in _RESOURCE):
        return "resource limit"
    if err:
        return "invalid"
    return "wrong"


def item_card(rec, text) -> dict:
    """The drill-down's SQL card: question, gold and predicted SQL, their answers."""
    gold = getattr(rec, "gold", None) if isinstance(getattr(rec, "gold", None), dict) else {}
    inp = getattr(rec, "input", None) if isinstance(getattr(rec, "input", None), dict) else {}
    return {"kind": "sql", "question": text(inp.get("question") or inp),
            "gold_sql": text(gold.get("sql") or gold.get("query")),
            "pred_sql": None if rec.abstained else text(getattr(rec, "prediction", None)),
            "answerable": rec.answerable,
            "gold_answer": text(rec.gold_answer) if rec.answerable else None,
            "pred_answer": text(rec.pred_answer) if rec.executed else None}


#: the index table's reliability columns of a family scored by RS(c) with abstention (sql, qa)
RS_COLUMNS = ("rs10_seen", "rs10_unseen", "rs0", "rs5", "rsN")
ABSTENTION_COLUMNS = ("abstention_precision", "abstention_recall")


class ReliabilityScored:
    """The declarations a family scored by RS(c) with abstention shares with SQL (qa asks the
    same questions): headline RS(10), higher is better, a missing prediction is the empty string
    (a wrong answer, never an abstention), one prediction capped at `prediction_limits["chars"]`
    characters (`over_limit_noun` names it in the message)."""

    headline_metric = "rs10"
    higher_is_better = True
    missing_prediction = ""
    prediction_limits: ClassVar[dict[str, int]]
    over_limit_noun: ClassVar[str]

    def prediction_over_limit(self, prediction: Any) -> str | None:
        lim = self.prediction_limits["chars"]
        if isinstance(prediction, str) and len(prediction) > lim:
            return f"prediction over limit: {self.over_limit_noun} of {len(prediction):,} characters (limit {lim:,})"
        return None


def breakdown(records: list[dict]):
    """Accuracy per SQL template family (None when no record has a family: EHRSQL imports)."""
    from medbench.tasks.contract import Breakdown

    if not any(isinstance(rec.get("categories"), dict) and rec["categories"].get("family") for rec in records):
        return None
    groups: dict[str, dict] = {}
    for rec in records:
        fam = str((rec.get("categories") or {}).get("family") or "(none)")
        d = groups.setdefault(fam, {"n": 0, "patients": set(), "correct": 0, "abstained": 0})
        d["n"] += 1
        d["patients"].add(rec.get("subject_id"))
        d["correct"] += rec.get("correct") is True
        d["abstained"] += bool(rec.get("abstained"))
    return Breakdown("Accuracy per SQL template family", "template family", "accuracy", ["correct", "abstained"],
                     ("correct", "abstained"), groups, lambda d: d["correct"] / d["n"] if d["n"] else None)
