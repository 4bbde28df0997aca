"""The conversation contract: pydantic models (the JSON Schema models are asked to follow) and the
validation every generated conversation passes before it is written.

A conversation is a list of turns through one admission; each turn has a timestamp inside the
admission window (non-decreasing), a speaker (doctor, patient or nurse) and non-empty text.
"""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field

SPEAKERS = ("doctor", "patient", "nurse")
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?$"


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timestamp: str = Field(pattern=TIMESTAMP_PATTERN,
                           description="When the turn happens: 'YYYY-MM-DD HH:MM:SS', inside the admission")
    speaker: Literal["doctor", "patient", "nurse"]
    text: str = Field(min_length=1, description="What the speaker says")


class Conversation(BaseModel):
    """A doctor-patient (nurse allowed) conversation through one admission, in time order."""

    model_config = ConfigDict(extra="forbid")

    turns: list[Turn] = Field(min_length=1)


@lru_cache(maxsize=1)
def conversation_json_schema() -> dict:
    return Conversation.model_json_schema()


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(conversation_json_schema())


def parse_timestamp(value: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(value.replace("T", " "))


_TIMESTAMP_RE = re.compile(TIMESTAMP_PATTERN)
_TURN_KEYS = frozenset(("timestamp", "speaker", "text"))


def _plainly_valid(conv: Any) -> bool:
    """True only when the JSON Schema has nothing to say (exactly its rules, in one pass): the
    schema validator costs ~2 ms per turn, so a valid 500-turn conversation skips it."""
    if not isinstance(conv, dict) or conv.keys() != {"turns"}:
        return False
    turns = conv["turns"]
    if not isinstance(turns, list) or not turns:
        return False
    for t in turns:
        if not isinstance(t, dict) or t.keys() != _TURN_KEYS:
            return False
        ts, sp, text = t["timestamp"], t["speaker"], t["text"]
        if not (isinstance(ts, str) and isinstance(sp, str) and isinstance(text, str)):
            return False
        if sp not in SPEAKERS or not text or _TIMESTAMP_RE.search(ts) is None:
            return False
    return True


def validate_conversation(conv: dict, packet: dict) -> list[str]:
    """Problems with `conv` for the admission in `packet` (empty list = valid). Never raises."""
    problems = []
    errors = () if _plainly_valid(conv) else _validator().iter_errors(conv)
    for err in sorted(errors, key=lambda e: (list(e.absolute_path), e.message)):
        where = "/".join(str(p) for p in err.absolute_path) or "<root>"
        problems.append(f"schema: {where}: {err.message}")
    if problems:
        return problems
    adm = packet.get("admission") or {}
    try:
        start = parse_timestamp(adm["admittime"]) if adm.get("admittime") else None
        end = parse_timestamp(adm["dischtime"]) if adm.get("dischtime") else None
    except ValueError:
        start = end = None
    prev: _dt.datetime | None = None
    for i, turn in enumerate(conv["turns"]):
        if turn["speaker"] not in SPEAKERS:  # the schema says so too; kept for clear messages
            problems.append(f"turns/{i}: speaker {turn['speaker']!r} is not one of {', '.join(SPEAKERS)}")
        if not turn["text"].strip():
            problems.append(f"turns/{i}: empty text")
        try:
            ts = parse_timestamp(turn["timestamp"])
        except ValueError:
            problems.append(f"turns/{i}: timestamp {turn['timestamp']!r} is not a valid time")
            continue
        if start is not None and ts < start:
            problems.append(f"turns/{i}: timestamp {turn['timestamp']} is before admission ({adm['admittime']})")
        if end is not None and ts > end:
            problems.append(f"turns/{i}: timestamp {turn['timestamp']} is after discharge ({adm['dischtime']})")
        if prev is not None and ts < prev:
            problems.append(f"turns/{i}: timestamp {turn['timestamp']} goes back in time")
        prev = ts
    return problems
