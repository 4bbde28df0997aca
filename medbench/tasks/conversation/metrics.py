"""Conversation metrics (deterministic; the LLM judge is separate, see judge.py).

Per item: schema validity and chronology (`schema.validate_conversation`), which gold facts are
mentioned (by surface form), and how many lexicon entities are mentioned that are not in the
packet (invented) versus the packet's own (grounded). Records carry the counts, so `aggregate`
works on any subset:

- schema_validity, chronology: share of items;
- fact_recall (micro over facts) and recall_<type> per fact type;
- invented_entity_rate = invented mentions / (invented + grounded mentions);
- fact_f1 = harmonic mean of fact_recall and 1 − invented_entity_rate;
- dialogue_form, copy_rate, phase_coverage, form_score: the conversation's form (form.py), means
  over items (a schema-invalid item counts 0; copy_rate is the mean over schema-valid items);
- conversation_score (headline) = mean over items of the item's fact-F1 × form_score: restating
  the packet (one turn, a list of names, the packet cut into alternating turns) cannot win it;
- items_passing: share of items that pass, i.e. are `correct`: schema-valid, chronological and
  with their own fact-F1 × form_score ≥ `CORRECT_F1` (0.5). A pass/fail rate at that threshold,
  not an accuracy of content (the judge's `judge_accuracy` is that).
"""

from __future__ import annotations

from typing import Any

from medbench.tasks.sums import aggregate_from_sums
from medbench.tasks.conversation.facts import ENTITY_KINDS, FACT_TYPES, mention_text, mentioned

#: an item passes (`correct`, counted by `items_passing`) at this per-item fact-F1 or above
CORRECT_F1 = 0.5


def _quantise(x: float) -> float:
    """On a 2^-24 grid, so per-item values sum exactly (the bootstrap's fast path)."""
    return round(float(x) * (1 << 24)) / (1 << 24)


def _f1(a: float, b: float) -> float:
    return 2 * a * b / (a + b) if a + b else 0.0


def conversation_text(conv: Any) -> str:
    if not isinstance(conv, dict) or not isinstance(conv.get("turns"), list):
        return ""
    return "\n".join(t["text"] for t in conv["turns"] if isinstance(t, dict) and isinstance(t.get("text"), str))


def score_item(item: dict, gold: dict, prediction: Any) -> dict:
    from medbench.tasks.conversation.schema import validate_conversation

    if isinstance(prediction, dict):
        problems = validate_conversation(prediction, item.get("packet") or {})
    else:
        problems = ["schema: <root>: no conversation"]
    schema_ok = not any(p.startswith("schema:") for p in problems)
    chrono_ok = schema_ok and not problems
    padded = mention_text(conversation_text(prediction) if schema_ok else "")
    facts_total = {t: 0 for t in FACT_TYPES}
    facts_hit = {t: 0 for t in FACT_TYPES}
    missed = []
    for f in gold["facts"]:
        facts_total[f["type"]] += 1
        if mentioned(f["surface_forms"], padded):
            facts_hit[f["type"]] += 1
        else:
            missed.append(f["id"])
    # Distinct names across kinds: 'vancomycin' the drug and the drug-level lab count once.
    grounded_names = {forms[0] for kind in ENTITY_KINDS for forms in gold["grounded"].get(kind, [])
                      if mentioned(forms, padded)}
    invented_entities = sorted({forms[0] for kind in ENTITY_KINDS for forms in gold["lexicon"].get(kind, [])
                                if mentioned(forms, padded)} - grounded_names)
    grounded = len(grounded_names)
    n_facts, n_hit = sum(facts_total.values()), sum(facts_hit.values())
    recall = n_hit / n_facts if n_facts else 0.0
    mentions = len(invented_entities) + grounded
    inv_rate = len(invented_entities) / mentions if mentions else 0.0
    item_f1 = _f1(recall, 1 - inv_rate) if schema_ok else 0.0
    if schema_ok:
        from medbench.tasks.conversation.form import form_stats

        form = {k: (_quantise(v) if isinstance(v, float) else v)
                for k, v in form_stats(prediction["turns"], item.get("packet") or {}).items()}
    else:
        form = {"dialogue_form": 0.0, "copy_rate": None, "phase_coverage": 0.0, "form_score": 0.0}
    item_score = _quantise(item_f1 * form["form_score"])
    typed = [t for t in FACT_TYPES if facts_total[t]]
    # The weakest fact type is the error category the leaderboard groups by.
    weakest = min(typed, key=lambda t: (facts_hit[t] / facts_total[t], FACT_TYPES.index(t))) if typed else "none"
    return {
        "item_id": item["item_id"], "subject_id": item.get("subject_id"),
        "correct": chrono_ok and item_score >= CORRECT_F1, "score": item_score,
        "fact_f1": _quantise(item_f1), "form": form,
        "category": weakest if schema_ok else "invalid",
        "schema_valid": schema_ok, "chronology_ok": chrono_ok, "problems": problems[:5],
        "facts_total": facts_total, "facts_hit": facts_hit, "missed_facts": missed,
        "invented": len(invented_entities), "invented_entities": invented_entities,
        "grounded": grounded,
        "turns": len(prediction["turns"]) if schema_ok else 0,
    }


def score_items(items: list[dict], gold_by_id: dict, predictions_by_id: dict, ctx: Any = None) -> list[dict]:
    return [score_item(it, gold_by_id[it["item_id"]], predictions_by_id.get(it["item_id"]))
            for it in items]


def aggregate(records: list[dict]) -> dict[str, float]:
    """Every metric of the sample: `aggregate_sums` on the summed `item_sums` (one formula per
    metric, shared with the bootstrap; medbench.tasks.sums)."""
    return aggregate_from_sums(records, item_sums, aggregate_sums)


# ---------------------------------------------------------------------------------------------
# The bootstrap's vectorised path: per-item statistics, and every metric from their sums

_JUDGE_KEYS = ("judge_accuracy", "judge_completeness", "judge_plausibility")


def item_sums(r: dict) -> dict[str, float]:
    """One record's additive statistics (what `aggregate_sums` needs)."""
    out: dict[str, float] = {"invented": r["invented"], "grounded": r["grounded"],
                             "schema_valid": 1 if r["schema_valid"] else 0,
                             "chronology_ok": 1 if r["chronology_ok"] else 0,
                             "turns": r["turns"], "correct": 1 if r["correct"] else 0}
    form = r.get("form") or {}
    for key in ("dialogue_form", "phase_coverage", "form_score"):
        out[key] = form.get(key) or 0.0
    out["conversation_score"] = r["score"]
    if form.get("copy_rate") is not None:
        out["copy_rate:sum"] = form["copy_rate"]
        out["copy_rate:n"] = 1
    for t in FACT_TYPES:
        out[f"total:{t}"] = r["facts_total"][t]
        out[f"hit:{t}"] = r["facts_hit"][t]
    for key in _JUDGE_KEYS:
        if r.get(key) is not None:
            out[f"{key}:sum"] = r[key]
            out[f"{key}:n"] = 1
    return out


def aggregate_sums(S, n):
    """`aggregate` on summed statistics, for a batch of bootstrap replicates at once; a metric
    that `aggregate` leaves out of a replicate (no fact of that type, no judge score) is NaN."""
    import numpy as np

    def div(a, b, empty=0.0):
        return np.divide(a, b, out=np.full(np.broadcast(a, b).shape, empty), where=b != 0)

    total = {t: S[f"total:{t}"] for t in FACT_TYPES}
    hit = {t: S[f"hit:{t}"] for t in FACT_TYPES}
    n_facts, n_hit = sum(total.values()), sum(hit.values())
    recall = div(n_hit, n_facts)
    inv = S["invented"]
    mentions = inv + S["grounded"]
    inv_rate = div(inv, mentions)
    one_minus = 1 - inv_rate
    out = {
        "fact_f1": div(2 * recall * one_minus, recall + one_minus),
        "fact_recall": recall,
        "invented_entity_rate": inv_rate,
        "schema_validity": S["schema_valid"] / n,
        "chronology": S["chronology_ok"] / n,
        "mean_turns": S["turns"] / n,
        "items_passing": S["correct"] / n,
        "conversation_score": S["conversation_score"] / n,
        "dialogue_form": S["dialogue_form"] / n,
        "phase_coverage": S["phase_coverage"] / n,
        "form_score": S["form_score"] / n,
        "copy_rate": div(S["copy_rate:sum"], S["copy_rate:n"], empty=np.nan),
    }
    for t in FACT_TYPES:
        out[f"recall_{t}"] = div(hit[t], total[t], empty=np.nan)
    for key in _JUDGE_KEYS:
        out[key] = div(S[f"{key}:sum"], S[f"{key}:n"], empty=np.nan)
    return out
