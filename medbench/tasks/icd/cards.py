"""The icd family's metric descriptors and task card: the one source of the leaderboard's
metric cards (medbench.publish.describe) and of docs/METRICS.md's facts (a test keeps them in step)."""

from __future__ import annotations

from medbench.tasks.contract import MetricSpec

METRIC_SPECS = (
    MetricSpec("micro_f1", "Micro F1 of codes", "pct", "2·TP / (2·TP + FP + FN), summed over all items"),
    MetricSpec(
        "macro_f1",
        "Macro F1 over gold codes",
        "pct",
        "mean over the codes present in the split's gold of each code's F1 (Edin et al. 2023)",
        reference="Edin et al. 2023, Explainable automated coding of clinical notes (macro F1 over gold codes)",
    ),
    MetricSpec(
        "macro_f1_all",
        "Macro F1 over gold ∪ predicted codes",
        "pct",
        "mean over every code in the gold or the predictions of each code's F1",
    ),
    MetricSpec("macro_precision", "Macro precision", "pct", "mean over gold codes of each code's precision"),
    MetricSpec("macro_recall", "Macro recall", "pct", "mean over gold codes of each code's recall"),
    MetricSpec(
        "mean_codes_predicted",
        "Codes predicted per item",
        "num",
        "mean length of the predicted list",
        direction="none",
    ),
    MetricSpec("micro_precision", "Micro precision", "pct", "TP / (TP + FP), summed over items"),
    MetricSpec("micro_recall", "Micro recall", "pct", "TP / (TP + FN), summed over items"),
    MetricSpec("p_at_5", "Precision at 5", "pct", "gold codes among the first 5 predicted / 5"),
    MetricSpec("p_at_8", "Precision at 8", "pct", "gold codes among the first 8 predicted / 8"),
    MetricSpec("r_at_10", "Recall at 10", "pct", "gold codes among the first 10 predicted / gold codes"),
    MetricSpec("r_at_15", "Recall at 15", "pct", "gold codes among the first 15 predicted / gold codes"),
    MetricSpec(
        "category_micro_f1",
        "Micro F1 of 3-character categories",
        "pct",
        "micro F1 after cutting every code to its 3-character category",
    ),
    MetricSpec("exact_match", "Exact code set", "pct", "items whose predicted set equals the gold set"),
    MetricSpec(
        "invalid_code_rate",
        "Invalid codes",
        "pct",
        "predicted strings that are not valid ICD-10-CM codes / predictions",
        direction="lower",
    ),
)

CARD = {
    "title": "ICD-10 diagnosis coding",
    "asks": "Assign the admission's ICD-10-CM diagnosis codes from its discharge note (diagnosis section removed) or from a packet summary.",
    "input": "a discharge note without its diagnoses, or a structured admission summary",
    "output": "a ranked list of ICD-10-CM codes",
    "headline": "Micro F1 of the predicted code set against the billed codes.",
}


def _code_title(code: str) -> str:
    from medbench.tasks.icd.parse import is_valid_code, title

    return title(code) if is_valid_code(code) else "not a valid ICD-10-CM code"


def item_card(rec, text) -> dict:
    """The drill-down's ICD card: predicted codes as hits / false positives, then the missed ones."""
    gset, pred = set(rec.gold_codes), [str(c) for c in rec.pred_codes]
    chips = [{"code": c, "kind": "tp" if c in gset else "fp", "title": _code_title(c)} for c in pred]
    chips += [{"code": c, "kind": "fn", "title": _code_title(c)} for c in sorted(gset - set(pred))]
    inp = getattr(rec, "input", None) if isinstance(getattr(rec, "input", None), dict) else {}
    return {"kind": "icd", "chips": chips, "note": text(inp.get("text") or inp.get("note") or inp)}


def breakdown(records: list[dict]):
    """Micro F1 per ICD-10 chapter."""
    from medbench.tasks.contract import Breakdown
    from medbench.tasks.icd.parse import chapter

    if not (records and "gold_codes" in records[0]):
        return None
    groups: dict[str, dict] = {}
    for rec in records:
        g, p = set(rec.get("gold_codes") or []), set(rec.get("pred_codes") or [])
        for c in g | p:
            d = groups.setdefault(chapter(c), {"n": 0, "patients": set(), "tp": 0, "fp": 0, "fn": 0})
            d["tp"] += c in g and c in p
            d["fp"] += c in p and c not in g
            d["fn"] += c in g and c not in p
        for ch in {chapter(c) for c in g | p}:
            groups[ch]["n"] += 1
            groups[ch]["patients"].add(rec.get("subject_id"))

    def micro_f1(d: dict) -> float | None:
        den = 2 * d["tp"] + d["fp"] + d["fn"]
        return 2 * d["tp"] / den if den else None

    return Breakdown("Micro F1 per ICD-10 chapter", "chapter", "micro F1",
                     ["true positives", "false positives", "missed"], ("tp", "fp", "fn"), groups, micro_f1,
                     none_apart=True)
