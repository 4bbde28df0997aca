"""The conversation family's metric descriptors and task card: the one source of the leaderboard's
metric cards (medbench.publish.describe) and of docs/METRICS.md's facts (a test keeps them in step)."""

from __future__ import annotations

from medbench.tasks.contract import MetricSpec

METRIC_SPECS = (
    MetricSpec(
        "conversation_score",
        "Conversation score (fact F1 × form)",
        "pct",
        "mean over items of fact F1 × form score (dialogue form × copy factor × phase coverage)",
    ),
    MetricSpec(
        "form_score",
        "Form score",
        "pct",
        "dialogue form × (1 − verbatim copying) × phase coverage, mean over items",
    ),
    MetricSpec(
        "dialogue_form",
        "Dialogue form",
        "pct",
        "≥ 2 speakers, alternating turns, enough turns for the stay, turns ≤ 150 words",
    ),
    MetricSpec(
        "copy_rate",
        "Verbatim copying",
        "pct",
        "share of the conversation's word 8-grams found verbatim in the packet (lower is better)",
        direction="lower",
    ),
    MetricSpec(
        "phase_coverage",
        "Phases covered",
        "pct",
        "admission, course, results and discharge present, in order",
    ),
    MetricSpec(
        "judge_plausibility", "Judge: plausible conversation (1–5)", "score5", "LLM judge rating, mean"
    ),
    MetricSpec(
        "fact_f1",
        "Fact F1 (recall × grounding)",
        "pct",
        "mean over items of the harmonic mean of fact recall and 1 − invented-entity rate",
    ),
    MetricSpec("fact_recall", "Gold fact recall", "pct", "gold facts mentioned / gold facts"),
    MetricSpec(
        "invented_entity_rate",
        "Invented entities",
        "pct",
        "named drugs/labs/diagnoses not in the patient's record / all named",
        direction="lower",
    ),
    MetricSpec("schema_validity", "Valid conversations", "pct", "conversations that pass the schema"),
    MetricSpec("chronology", "Chronology kept", "pct", "valid conversations with no chronology problem"),
    MetricSpec(
        "items_passing", "Items passing", "pct", "items with chronology kept and fact F1 ≥ the pass mark"
    ),
    MetricSpec("judge_accuracy", "Judge: accuracy (1–5)", "score5", "LLM judge rating, mean"),
    MetricSpec("judge_completeness", "Judge: completeness (1–5)", "score5", "LLM judge rating, mean"),
)

CARD = {
    "title": "Grounded doctor–patient conversation",
    "asks": "Write a chronological doctor–patient conversation for one admission that mentions the record's key facts and invents nothing.",
    "input": "the admission packet (diagnoses, labs, medications, notes)",
    "output": "a conversation object (turns with speaker and text)",
    "headline": "Conversation score: fact F1 (recall of gold facts combined with 1 − the invented-entity rate) times a form score, so restating the packet does not win.",
}


def item_outcome(rec) -> str:
    """The drill-down's label of one typed `ConversationRecord`: a schema failure is "invalid"."""
    if rec.schema_valid is False:
        return "invalid"
    return "correct" if rec.correct is True else "wrong" if rec.correct is False else "unscored"


def item_card(rec, text) -> dict:
    """The drill-down's conversation card: the turns, the missed gold facts, invented entities."""
    gold = getattr(rec, "gold", None) if isinstance(getattr(rec, "gold", None), dict) else {}
    facts = {f.get("id"): f for f in gold.get("facts", []) if isinstance(f, dict)}
    missed = [{"id": str(fid), "type": str((facts.get(fid) or {}).get("type", "")),
               "text": str((facts.get(fid) or {}).get("text") or
                           ((facts.get(fid) or {}).get("surface_forms") or [fid])[0])}
              for fid in rec.missed_facts]
    pred = getattr(rec, "prediction", None)
    turns = []
    if isinstance(pred, dict) and isinstance(pred.get("turns"), list):
        for t in pred["turns"][:200]:
            if isinstance(t, dict):
                turns.append({"speaker": str(t.get("speaker") or t.get("role") or ""),
                              "text": text(t.get("text") or t.get("content") or "")})
    return {"kind": "conversation", "turns": turns, "missed": missed,
            "invented": [str(e) for e in rec.invented_entities], "problems": [str(p) for p in rec.problems]}


def breakdown(records: list[dict]):
    """Recall per fact type."""
    from medbench.tasks.contract import Breakdown

    if not (records and "facts_total" in records[0]):
        return None
    groups: dict[str, dict] = {}
    for rec in records:
        for t, n in (rec.get("facts_total") or {}).items():
            if not n:
                continue
            d = groups.setdefault(str(t), {"n": 0, "patients": set(), "hit": 0, "total": 0})
            d["n"] += 1
            d["patients"].add(rec.get("subject_id"))
            d["hit"] += (rec.get("facts_hit") or {}).get(t, 0)
            d["total"] += n
    return Breakdown("Recall per fact type", "fact type", "recall", ["facts mentioned", "gold facts"],
                     ("hit", "total"), groups, lambda d: d["hit"] / d["total"] if d["total"] else None)
