"""The ICD family's published records: public item and private gold (one line each)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medbench.tasks.contract import ItemRecord, Split
from medbench.tasks.contract import Record as _Record


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


class IcdRecord(ItemRecord):
    """One scored item of a result (`metrics.score_item`)."""

    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    fn: int = Field(ge=0)
    hits_at_k: list[int]
    n_pred: int = Field(ge=0)
    n_invalid: int = Field(ge=0)
    gold_codes: list[str]
    pred_codes: list[str]
    foreign_codes: list[str] = Field(default_factory=list)
