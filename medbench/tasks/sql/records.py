"""The SQL family's published records: public item and private gold (one line each)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from medbench.tasks.contract import ItemRecord, Split
from medbench.tasks.contract import Record as _Record


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


class SqlRecord(ItemRecord):
    """One scored item of a result (`metrics.make_record`): what the aggregate, the bootstrap
    sums and the item card read."""

    cluster: str | None = None
    template_seen_in_train: bool | None = None
    answerable: bool
    abstained: bool
    executed: bool
    pred_answer: Any = None
    gold_answer: Any = None
    em: bool | None = None
    token_f1: float | None = None
    resource_limit: bool = False
