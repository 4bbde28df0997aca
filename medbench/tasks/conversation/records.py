"""The conversation family's published records: public item and private gold (one line each)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medbench.extract.packet import Packet
from medbench.tasks.contract import ItemRecord, Split
from medbench.tasks.contract import Record as _Record
from medbench.tasks.conversation.facts import FACT_TYPES

FactType = Literal[FACT_TYPES]  # type: ignore[valid-type]


class ConversationItem(_Record):
    """A conversation item (public): the admission's packet."""

    item_id: str
    task: Literal["conversation"]
    split: Split
    subject_id: int
    hadm_id: int
    packet: Packet  # type: ignore[valid-type]


class Fact(_Record):
    type: FactType
    id: str
    text: str
    surface_forms: list[str] = Field(min_length=1)


class AdmissionWindow(_Record):
    admittime: str | None
    dischtime: str | None


EntityForms = dict[str, list[list[str]]]


class ConversationGold(_Record):
    """The gold of a conversation item (private)."""

    item_id: str
    task: Literal["conversation"]
    facts: list[Fact]
    lexicon: EntityForms = Field(description="store entities absent from the packet (mentioning one "
                                             "is an invented entity), per kind, as surface-form lists")
    grounded: EntityForms = Field(description="the packet's own entities, per kind")
    admission_window: AdmissionWindow


class ConversationRecord(ItemRecord):
    """One scored item of a result (`metrics.score_item`)."""

    fact_f1: float
    form: dict[str, float | None]
    schema_valid: bool
    chronology_ok: bool
    problems: list[str] = Field(default_factory=list)
    facts_total: dict[str, int]
    facts_hit: dict[str, int]
    missed_facts: list[str] = Field(default_factory=list)
    invented: int = Field(ge=0)
    invented_entities: list[str] = Field(default_factory=list)
    grounded: int = Field(ge=0)
    turns: int = Field(ge=0)
