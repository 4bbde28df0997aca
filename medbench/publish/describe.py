"""What the pages say about tasks and metrics: names in words, formulas (tooltips), one display
scale per metric, task cards. Anchors point into docs/METRICS.md (`#<metric-name>`, with `_`
written as `-`)."""

from __future__ import annotations

from typing import Any

# scale: "pct" — a rate stored as 0..1, shown as a percent; "pct100" — already 0..100 (SQL);
# "points" — a score on a 0..100 scale that can go far below 0 (SQL reliability scores);
# "score5" — a 1..5 rating; "num" — a plain number.
METRICS: dict[str, dict[str, str]] = {
    # sql (every SQL metric is stored on 0..100)
    "rs0": {"scale": "points", "label": "Reliability score, no penalty", 
            "formula": "100 × (correct − 0 × wrong) / items; abstaining scores 0"},
    "rs5": {"scale": "points", "label": "Reliability score, penalty 5", 
            "formula": "100 × (correct − 5 × wrong) / items; abstaining scores 0"},
    "rs10": {"scale": "points", "label": "Reliability score, penalty 10", 
             "formula": "100 × (correct − 10 × wrong) / items; a wrong answer costs 10 correct ones, abstaining scores 0"},
    "rsN": {"scale": "points", "label": "Reliability score, penalty N (one error cancels all)", 
            "formula": "100 × (correct − N × wrong) / N, N = items; one wrong answer gives ≤ 0"},
    "ex": {"label": "Execution accuracy (answerable)", "scale": "pct100",
           "formula": "share of answerable questions whose predicted SQL returns the gold answer"},
    "valid_sql_rate": {"label": "Valid SQL", "scale": "pct100",
                       "formula": "share of answered questions whose SQL executed"},
    "abstention_precision": {"label": "Abstention precision", "scale": "pct100",
                             "formula": "abstentions on unanswerable questions / all abstentions"},
    "abstention_recall": {"label": "Abstention recall", "scale": "pct100",
                          "formula": "unanswerable questions abstained on / unanswerable questions"},
    "em": {"label": "Exact match of SQL", "scale": "pct100",
           "formula": "share of answerable questions whose normalised SQL equals the gold SQL"},
    "token_f1": {"label": "SQL token F1", "scale": "pct100",
                 "formula": "mean token-level F1 between predicted and gold SQL (answerable questions)"},
    "resource_limit_rate": {"label": "Over the work budget", "scale": "pct100",
                            "formula": "share of items whose query exceeded the deterministic work budget"},
    "answerable_share": {"label": "Answerable questions", "scale": "pct100",
                         "formula": "answerable questions / items"},
    # icd
    "micro_f1": {"label": "Micro F1 of codes", "scale": "pct",
                 "formula": "2·TP / (2·TP + FP + FN), summed over all items"},
    "macro_f1": {"label": "Macro F1 over gold codes", "scale": "pct",
                 "formula": "mean over the codes present in the split's gold of each code's F1 (Edin et al. 2023)"},
    "macro_f1_all": {"label": "Macro F1 over gold ∪ predicted codes", "scale": "pct",
                     "formula": "mean over every code in the gold or the predictions of each code's F1"},
    "macro_precision": {"label": "Macro precision", "scale": "pct", "formula": "mean over gold codes of each code's precision"},
    "macro_recall": {"label": "Macro recall", "scale": "pct", "formula": "mean over gold codes of each code's recall"},
    "mean_codes_predicted": {"label": "Codes predicted per item", "scale": "num", "formula": "mean length of the predicted list"},
    "micro_precision": {"label": "Micro precision", "scale": "pct", "formula": "TP / (TP + FP), summed over items"},
    "micro_recall": {"label": "Micro recall", "scale": "pct", "formula": "TP / (TP + FN), summed over items"},
    "p_at_5": {"label": "Precision at 5", "scale": "pct", "formula": "gold codes among the first 5 predicted / 5"},
    "p_at_8": {"label": "Precision at 8", "scale": "pct", "formula": "gold codes among the first 8 predicted / 8"},
    "r_at_10": {"label": "Recall at 10", "scale": "pct", "formula": "gold codes among the first 10 predicted / gold codes"},
    "r_at_15": {"label": "Recall at 15", "scale": "pct", "formula": "gold codes among the first 15 predicted / gold codes"},
    "category_micro_f1": {"label": "Micro F1 of 3-character categories", "scale": "pct",
                          "formula": "micro F1 after cutting every code to its 3-character category"},
    "exact_match": {"label": "Exact code set", "scale": "pct", "formula": "items whose predicted set equals the gold set"},
    "invalid_code_rate": {"label": "Invalid codes", "scale": "pct",
                          "formula": "predicted strings that are not valid ICD-10-CM codes / predictions"},
    # conversation
    "conversation_score": {"label": "Conversation score (fact F1 × form)", "scale": "pct",
                           "formula": "mean over items of fact F1 × form score (dialogue form × copy factor × phase coverage)"},
    "form_score": {"label": "Form score", "scale": "pct",
                   "formula": "dialogue form × (1 − verbatim copying) × phase coverage, mean over items"},
    "dialogue_form": {"label": "Dialogue form", "scale": "pct",
                      "formula": "≥ 2 speakers, alternating turns, enough turns for the stay, turns ≤ 150 words"},
    "copy_rate": {"label": "Verbatim copying", "scale": "pct",
                  "formula": "share of the conversation's word 8-grams found verbatim in the packet (lower is better)"},
    "phase_coverage": {"label": "Phases covered", "scale": "pct",
                       "formula": "admission, course, results and discharge present, in order"},
    "judge_plausibility": {"label": "Judge: plausible conversation (1–5)", "scale": "score5",
                           "formula": "LLM judge rating, mean"},
    "fact_f1": {"label": "Fact F1 (recall × grounding)", "scale": "pct",
                "formula": "mean over items of the harmonic mean of fact recall and 1 − invented-entity rate"},
    "fact_recall": {"label": "Gold fact recall", "scale": "pct", "formula": "gold facts mentioned / gold facts"},
    "invented_entity_rate": {"label": "Invented entities", "scale": "pct",
                             "formula": "named drugs/labs/diagnoses not in the patient's record / all named"},
    "schema_validity": {"label": "Valid conversations", "scale": "pct",
                        "formula": "conversations that pass the schema"},
    "chronology": {"label": "Chronology kept", "scale": "pct",
                   "formula": "valid conversations with no chronology problem"},
    "items_passing": {"label": "Items passing", "scale": "pct", "formula": "items with chronology kept and fact F1 ≥ the pass mark"},
    "judge_accuracy": {"label": "Judge: accuracy (1–5)", "scale": "score5", "formula": "LLM judge rating, mean"},
    "judge_completeness": {"label": "Judge: completeness (1–5)", "scale": "score5", "formula": "LLM judge rating, mean"},
}

TASKS: dict[str, dict[str, str]] = {
    "sql": {"title": "Text-to-SQL over a patient's record",
            "asks": "Answer a clinical question about one patient by writing SQL over the release's MIMIC-IV tables, "
                    "or abstain (null) when the question cannot be answered from the data.",
            "input": "question, schema of the release database",
            "output": "one SQL query, or null to abstain",
            "headline": "Reliability score with penalty 10: a wrong answer costs ten right ones, so abstaining beats guessing."},
    "icd": {"title": "ICD-10 diagnosis coding",
            "asks": "Assign the admission's ICD-10-CM diagnosis codes from its discharge note (diagnosis section removed) "
                    "or from a packet summary.",
            "input": "a discharge note without its diagnoses, or a structured admission summary",
            "output": "a ranked list of ICD-10-CM codes",
            "headline": "Micro F1 of the predicted code set against the billed codes."},
    "conversation": {"title": "Grounded doctor–patient conversation",
                     "asks": "Write a chronological doctor–patient conversation for one admission that mentions the "
                             "record's key facts and invents nothing.",
                     "input": "the admission packet (diagnoses, labs, medications, notes)",
                     "output": "a conversation object (turns with speaker and text)",
                     "headline": "Conversation score: fact F1 (recall of gold facts combined with 1 − the "
                                 "invented-entity rate) times a form score, so restating the packet does not win."},
}

LICENCE_WORDS = {
    "synthetic": "synthetic MIMIC-IV generated by medbench (no real patients)",
    "odbl": "the open MIMIC-IV demo (ODbL)",
    "credentialed": "credentialed MIMIC-IV (PhysioNet licence; item text and gold are not published)",
}


def anchor(name: str) -> str:
    return name.lower().replace("_", "-")


def _lookup(name: str) -> dict[str, str] | None:
    """A metric's card; `<metric>_seen` / `<metric>_unseen` (SQL templates seen or not in train)
    take their base metric's card."""
    if name in METRICS:
        return METRICS[name]
    import re

    m = re.fullmatch(r"(f1|p|r)_at_(\d+)", name)
    if m:  # ranked-list metrics at any cut-off
        k = m.group(2)
        what = {"f1": ("F1", f"F1 of the first {k} predicted codes against the gold set"),
                "p": ("Precision", f"gold codes among the first {k} predicted / {k}"),
                "r": ("Recall", f"gold codes among the first {k} predicted / gold codes")}[m.group(1)]
        return {"label": f"{what[0]} at {k}", "scale": "pct", "formula": what[1]}
    for suffix, words, which in (("_unseen", "unseen templates", "never asked in train"),
                                 ("_seen", "templates seen in train", "also asked in train")):
        base = METRICS.get(name[: -len(suffix)]) if name.endswith(suffix) else None
        if base:
            return {**base, "label": f"{base['label']} ({words})",
                    "formula": f"{base['formula']}; only items whose template is {which}"}
    return None


def metric_info(name: str) -> dict[str, str]:
    info = _lookup(name) or {"label": name.replace("_", " "), "scale": "num", "formula": name}
    return {"name": name, "anchor": anchor(name), **info,
            "unit": {"pct": "%", "pct100": "%", "score5": "/5"}.get(info["scale"], "")}


def to_display(name: str, v: Any) -> float | None:
    """The number a page shows for metric `name` (percent for rates)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f * 100.0 if (_lookup(name) or {}).get("scale") == "pct" else f


def fmt_metric(name: str, v: Any) -> str:
    d = to_display(name, v)
    if d is None:
        return "—"
    scale = (_lookup(name) or {}).get("scale", "num")
    if scale in ("pct", "pct100"):
        return f"{d:.1f}%"
    if scale == "points":
        return f"{d:.1f}"
    if scale == "score5":
        return f"{d:.2f}"
    return f"{d:.3f}"


def is_rate(name: str) -> bool:
    return (_lookup(name) or {}).get("scale") in ("pct", "pct100")


def task_card(task: str) -> dict[str, str]:
    return TASKS.get(task, {"title": task, "asks": "", "input": "", "output": "", "headline": ""})
