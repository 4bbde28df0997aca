"""Check release records against the JSON Schemas that `medbench schema items-TASK|gold-TASK` prints."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path

import jsonschema
from click.testing import CliRunner


@functools.cache
def published_schema(name: str) -> dict:
    """The schema exactly as the CLI prints it."""
    from medbench.cli import cli

    res = CliRunner().invoke(cli, ["schema", name])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = published_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(kind: str, task: str, record: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}"
            for e in validator(f"{kind}-{task}").iter_errors(record)]


def assert_records_match(kind: str, task: str, records: Iterable[dict], where: str = "") -> int:
    n = 0
    for n, rec in enumerate(records, 1):
        bad = problems(kind, task, rec)
        assert not bad, f"{where}{kind}-{task} record {n} ({rec.get('item_id')}): {bad[:3]}"
    return n


def assert_release_matches(release: Path) -> dict[str, int]:
    """Every item (as the release reader resolves it: the whole item a model sees) and every gold
    line of every task validates; returns records per file."""
    from medbench.release import open_release

    rel = open_release(release)
    counts = {}
    for task in rel.tasks():
        for kind in ("items", "gold"):
            recs = rel.items(task) if kind == "items" else list(rel.gold(task).values())
            counts[f"{task}/{kind}"] = assert_records_match(
                kind, task, recs, where=f"{rel.record_file(task, kind + '.jsonl')}: ")
    return counts
