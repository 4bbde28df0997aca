"""The published record formats of a release: public items and private gold, per task.

`<task>/items.jsonl` (what a model sees) and `<task>/gold.jsonl` (what the scorer uses) hold one
record per line, in the shapes below. The builders are `tasks/sql/build.py` and
`tasks/sql/ehrsql.py` (EHRSQL import), `tasks/icd/build.py` and `tasks/conversation/facts.py`.

Every model forbids extra fields: for public items that is the guarantee that no gold field
(`answer`, `sql`, `codes`, `facts`, ...) can pass the published schema. `medbench schema
items-<task>` / `gold-<task>` prints them (`json_schema(name)`); tests validate every line of built
releases against the printed schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medbench.extract.packet import Packet
from medbench.tasks.conversation.facts import FACT_TYPES

Split = Literal["train", "dev", "test"]
FactType = Literal[FACT_TYPES]  # type: ignore[valid-type]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------ sql


class SqlItem(_Record):
    """A text-to-SQL question (public)."""

    item_id: str
    task: Literal["sql"]
    split: Split
    subject_id: int | None = Field(description="the patient asked about; null in EHRSQL imports "
                                               "(each item is its own bootstrap cluster)")
    hadm_id: int | None = Field(None, description="the admission asked about, when the question names "
                                                  "one; absent in EHRSQL imports")
    question: str
    template_seen_in_train: bool | None = Field(
        None, description="whether the question's template has items in the train split (medbench "
                          "builds: held-out templates appear only in test); absent in EHRSQL imports")


class SqlGold(_Record):
    """The gold of a text-to-SQL item (private)."""

    item_id: str
    task: Literal["sql"]
    answerable: bool
    sql: str | None = Field(description="gold SQL in the release engine's dialect; null when unanswerable")
    answer: str | None = Field(description="the executed gold answer in the scorer's canonical form "
                                           "(rows sorted, numbers rounded, first 100 rows); null when "
                                           "unanswerable")
    template: str = Field(description="question template (EHRSQL imports: the gold query's tables "
                                      "joined by '+', or 'unanswerable')")
    family: str | None = Field(None, description="template family (medbench builds only)")
    tables: list[str] = Field(description="tables the gold query reads")
    slots: dict[str, Any] = Field(description="slot values the question was filled with")
    question: str | None = Field(None, description="copy of the public question (medbench builds only)")
    source_id: str | None = Field(None, description="the EHRSQL question id (EHRSQL imports only)")


# ------------------------------------------------------------------------------------ icd


class IcdItem(_Record):
    """An ICD-10-CM coding item (public)."""

    item_id: str
    task: Literal["icd"]
    split: Split
    subject_id: int
    hadm_id: int
    source: Literal["discharge_note", "summary"] = Field(
        description="discharge note without its diagnosis section, or a packet summary")
    text: str


class IcdGold(_Record):
    """The gold of an ICD-10-CM coding item (private)."""

    item_id: str
    task: Literal["icd"]
    codes: list[str] = Field(min_length=1, description="valid ICD-10-CM codes, dotted, sorted")
    primary_code: str | None
    categories: list[str] = Field(description="3-character categories of the codes, sorted")
    titles: list[str] = Field(description="titles of `codes`, in the same order")


# ------------------------------------------------------------------------------- conversation


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


# ------------------------------------------------------------------------------------ registry

MODELS: dict[str, type[BaseModel]] = {
    "items-sql": SqlItem, "gold-sql": SqlGold,
    "items-icd": IcdItem, "gold-icd": IcdGold,
    "items-conversation": ConversationItem, "gold-conversation": ConversationGold,
}


def json_schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of one record kind, e.g. 'items-sql'."""
    doc = MODELS[name].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **doc}
