"""The published record formats of a release, as the families declare them.

`<task>/items.jsonl` (what a model sees) and `<task>/gold.jsonl` (what the scorer uses) hold one
record per line, in the shapes of each family's `item_model` / `gold_model` (declared in the
family's folder, e.g. `medbench/tasks/sql/records.py`). Every model forbids extra fields: for
public items that is the guarantee that no gold field (`answer`, `sql`, `codes`, `facts`, ...) can
pass the published schema. `medbench schema items-<task>` / `gold-<task>` prints them
(`json_schema(name)`); tests validate every line of built releases against the printed schemas.
An item schema describes the whole item as `Release.items` returns it: in a format-2 release a
stored conversation / qa line leaves out the large field (`packet` / `context`) that the
manifest's `context_ref` says to take from `<task>/contexts.jsonl` (medbench/release.py).
"""

from __future__ import annotations

from pydantic import BaseModel


def models() -> dict[str, type[BaseModel]]:
    """'items-<task>' / 'gold-<task>' -> the family's pydantic model, for every registered family."""
    from medbench.tasks import families

    out: dict[str, type[BaseModel]] = {}
    for fam in families():
        out[f"items-{fam.name}"] = fam.item_model
        out[f"gold-{fam.name}"] = fam.gold_model
    return out


def json_schema(name: str) -> dict:
    """The JSON Schema (draft 2020-12) of one record kind, e.g. 'items-sql'."""
    doc = models()[name].model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **doc}


def __getattr__(name: str):  # `MODELS`: the old constant, now asked of the registry
    if name == "MODELS":
        return models()
    raise AttributeError(name)
