"""Task families. Each family keeps its item builder, prompts, output parser, scorer, record
models and metric descriptors together in its own folder, declared by the contract of
`medbench.tasks.contract` (docs/ARCHITECTURE.md, "How to add a task family").

Adding a family = its folder + its prompts + one registration line here.
"""

from __future__ import annotations

from typing import Any

from medbench.registry import Registry
from medbench.tasks.contract import validate_family

#: task name -> "module" exposing `FAMILY` (or "module:attr"); validated on first load
FAMILIES: Registry[Any] = Registry("task", default_attr="FAMILY", validate=validate_family)
FAMILIES.register("sql", "medbench.tasks.sql")
FAMILIES.register("icd", "medbench.tasks.icd")
FAMILIES.register("conversation", "medbench.tasks.conversation")
FAMILIES.register("qa", "medbench.tasks.qa")

#: the name tests and scripts patch (`monkeypatch.setitem(tasks.REGISTRY, "sql", MODULE)`)
REGISTRY = FAMILIES.targets


def get_family(name: str):
    return FAMILIES.get(name)


def families() -> list[Any]:
    """Every registered family, loaded, in name order."""
    return [FAMILIES.get(n) for n in FAMILIES.names()]
