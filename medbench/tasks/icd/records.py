"""The ICD family's published records: public item and private gold (one line each)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medbench.tasks.contract import Record as _Record
from medbench.tasks.contract import Split


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
