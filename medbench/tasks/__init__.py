"""Task families. Each family keeps its item builder, prompt, output parser and scorer together.

The registry maps a task name to its family module; adding a family = one module + prompts +
one line here.
"""

from __future__ import annotations

import importlib

from medbench.errors import UserError

#: task name -> module path exposing `FAMILY` (an object implementing tasks.base.TaskFamily)
REGISTRY = {
    "sql": "medbench.tasks.sql",
    "icd": "medbench.tasks.icd",
    "conversation": "medbench.tasks.conversation",
}


def get_family(name: str):
    if name not in REGISTRY:
        raise UserError(f"unknown task '{name}' (known: {', '.join(sorted(REGISTRY))})")
    return importlib.import_module(REGISTRY[name]).FAMILY
