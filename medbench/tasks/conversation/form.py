"""Conversation form: what makes a submission a conversation rather than a restated packet.

Per item (all in [0, 1]; docs/METRICS.md "Conversation headline"):
- dialogue_form = [≥ 2 speakers] × min(1, alternation / ALTERNATION_MIN) × min(1, turns /
  min_turns(admission)) × share of turns of at most MAX_TURN_WORDS words, where alternation is
  the share of consecutive turns whose speakers differ and min_turns grows with the stay's length;
- copy_rate = share of the conversation's word 8-grams (over the turns' text joined in order)
  that occur verbatim in the packet's rendered prompt or in any single string of the packet
  (notes included); copy_factor = max(0, 1 − copy_rate / COPY_LIMIT);
- phase_coverage = share of the phases admission, course, results, discharge found in order
  (greedy, each in a later turn than the previous one found) by keyword;
- form_score = dialogue_form × copy_factor × phase_coverage.
The headline `conversation_score` is the mean over items of fact-F1 × form_score.
"""

from __future__ import annotations

import math
import re
from typing import Any

NGRAM = 8
ALTERNATION_MIN = 0.6
MAX_TURN_WORDS = 150
COPY_LIMIT = 0.5
MIN_TURNS_BASE = 6
MIN_TURNS_PER_DAY = 1
MIN_TURNS_CAP = 16

PHASES = ("admission", "course", "results", "discharge")
_PHASE_PATTERNS = {
    "admission": r"admit\w*|admission|brought you in|brings you|came in|came to us|emergency|arriv\w*"
                 r"|presented|welcome",
    "course": r"start\w*|giving|given|treat\w*|transfer\w*|moved|icu|intensive care|overnight|medications?"
              r"|doses?|antibiotics?|procedures?|surgery|improv\w*|rounds?|today|day",
    "results": r"results?|came back|labs?|blood work|blood tests?|tests?|cultures?|x-ray|scan|ct|mri"
               r"|imaging|levels?|grew|report\w*",
    "discharge": r"discharg\w*|going home|go home|home|follow[- ]?up|leav\w*",
}
_PHASE_RE = {p: re.compile(rf"\b(?:{pat})\b", re.IGNORECASE) for p, pat in _PHASE_PATTERNS.items()}
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(ws: list[str], n: int = NGRAM) -> list[tuple[str, ...]]:
    return [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def reference_ngrams(packet: dict) -> set[tuple[str, ...]]:
    """Every word 8-gram of the packet as the model sees it (rendered prompt) and of each of its
    strings (notes, titles, comments)."""
    from medbench.tasks.conversation.prompt import render_conversation_prompt

    texts = list(_strings(packet))
    try:
        texts.extend(m["content"] for m in render_conversation_prompt(packet))
    except (KeyError, TypeError, ValueError):
        pass  # a packet the prompt cannot render: its strings still count
    out: set[tuple[str, ...]] = set()
    for t in texts:
        out.update(_ngrams(words(t)))
    return out


def _stay_days(packet: dict) -> float:
    from medbench.tasks.conversation.schema import parse_timestamp

    adm = packet.get("admission") or {}
    try:
        a, d = parse_timestamp(adm["admittime"]), parse_timestamp(adm["dischtime"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return 0.0
    return max(0.0, (d - a).total_seconds() / 86400.0)


def min_turns(packet: dict) -> int:
    """Turns a conversation through this stay needs at least: grows with the length of stay."""
    return min(MIN_TURNS_CAP, MIN_TURNS_BASE + MIN_TURNS_PER_DAY * math.ceil(_stay_days(packet)))


def phase_coverage(texts: list[str]) -> float:
    found, start = 0, 0
    for phase in PHASES:
        hit = next((i for i in range(start, len(texts)) if _PHASE_RE[phase].search(texts[i])), None)
        if hit is None:
            continue  # a missing phase does not block the later ones
        found += 1
        start = hit + 1
    return found / len(PHASES)


def form_stats(turns: list[dict], packet: dict, ref: set | None = None) -> dict:
    """The form statistics of a schema-valid conversation (module docstring)."""
    texts = [str(t.get("text") or "") for t in turns]
    speakers = [t.get("speaker") for t in turns]
    n = len(turns)
    alternation = (sum(1 for a, b in zip(speakers, speakers[1:]) if a != b) / (n - 1)) if n > 1 else 0.0
    need = min_turns(packet)
    lengths = [len(words(t)) for t in texts]
    within = sum(1 for k in lengths if k <= MAX_TURN_WORDS) / n if n else 0.0
    dialogue = (1.0 if len(set(speakers)) >= 2 else 0.0) * min(1.0, alternation / ALTERNATION_MIN) \
        * min(1.0, n / need) * within
    grams = _ngrams(words(" ".join(texts)))
    ref = reference_ngrams(packet) if ref is None else ref
    copy_rate = (sum(1 for g in grams if g in ref) / len(grams)) if grams else 0.0
    copy_factor = max(0.0, 1.0 - copy_rate / COPY_LIMIT)
    phases = phase_coverage(texts)
    return {"speakers": len(set(speakers)), "alternation": alternation, "min_turns": need,
            "max_turn_words": max(lengths, default=0), "dialogue_form": dialogue,
            "copy_rate": copy_rate, "phase_coverage": phases,
            "form_score": dialogue * copy_factor * phases}
