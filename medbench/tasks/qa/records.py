"""The qa family's published records: public item and private gold (one line each)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medbench.tasks.contract import ItemRecord, Split
from medbench.tasks.contract import Record as _Record

AnswerTypeField = Literal["number", "date", "string", "list", "yesno"]


class QaItem(_Record):
    """An EHR record question (public): an SQL-family question answered from the rendered record."""

    item_id: str
    task: Literal["qa"]
    split: Split
    subject_id: int
    hadm_id: int | None = Field(None, description="the admission asked about, when the question names one")
    question_id: str = Field(description="the item_id of the same question in the release's sql task "
                                         "(pairs an answer written as SQL with one read from the record)")
    question: str
    template_seen_in_train: bool = Field(description="whether the question's template has items in train")
    answer_type: AnswerTypeField = Field(description="expected answer type (medbench.tasks.qa.answer)")
    context: str = Field(description="the admission's rendered packet, or the patient's packets joined "
                                     "in hadm_id order for a patient-level question (prompts/qa_context.j2)")
    context_hadm_ids: list[int] = Field(description="the admissions whose packets the context holds")
    context_chars: int = Field(ge=0)
    context_tokens: int = Field(ge=0, description="approximate tokens: regex \\w+|[^\\w\\s] matches "
                                                  "(medbench.tasks.qa.build.count_tokens)")
    context_bucket: str = Field(description="context length bucket by context_tokens (build.CONTEXT_BUCKETS)")


class QaGold(_Record):
    """The gold of an EHR record question (private)."""

    item_id: str
    task: Literal["qa"]
    question_id: str
    answerable: bool
    answer: list[Any] | None = Field(description="gold values (answer.gold_values) from the gold SQL's "
                                                 "executed rows; null when unanswerable")
    answer_text: str | None = Field(description="the gold values as text, one per line")
    sql_answer: str | None = Field(description="the sql task's canonical gold answer string")
    answer_type: AnswerTypeField
    answer_in_context: bool = Field(description="heuristic: every gold value appears literally in the "
                                                "context (answer.answer_in_context)")
    template: str
    family: str
    slots: dict[str, Any]
    question: str


class QaRecord(ItemRecord):
    """One scored item of a result (`metrics.score_item`)."""

    question_id: str | None = None
    template_seen_in_train: bool | None = None
    answerable: bool
    abstained: bool
    answer_type: str
    context_bucket: str | None = None
    context_tokens: int | None = None
    answer_in_context: bool = False
    pred_answer: str | None = None
    gold_answer: str | None = None
