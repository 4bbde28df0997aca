"""`medbench export RELEASE --format hf`: a folder `datasets.load_dataset(DIR, NAME)` reads.

    DIR/README.md                              dataset card (YAML configs, sha256, licence, columns)
    DIR/<task>/<split>-00000-of-00001.parquet  public items, one config per task
    DIR/<task>_gold/<split>-00000-of-00001.parquet   gold (only with --with-gold)

Scalar fields keep their type; nested fields (a packet, a list of codes) are stored as canonical
JSON strings, named in the card. Rows are in item_id order; the folder is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medbench.errors import UserError
from medbench.export.licence import release_licence
from medbench.io import atomic_dir, canonical_json
from medbench.release import Release
from medbench.splits import SPLITS

CITATION = """@misc{medbench,
  title  = {medbench: a benchmark and leaderboard harness for clinical language models on MIMIC-IV},
  note   = {release built with medbench}
}
@article{johnson2023mimic,
  title   = {MIMIC-IV, a freely accessible electronic health record dataset},
  author  = {Johnson, Alistair E. W. and others},
  journal = {Scientific Data}, volume = {10}, pages = {1}, year = {2023}
}"""


def _kind(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {str}:
        return "string"
    if kinds <= {bool}:
        return "bool"
    if kinds <= {int}:
        return "int64"
    if kinds <= {int, float}:
        return "float64"
    return "json"


def _table(records: list[dict]):
    import pyarrow as pa

    keys = sorted({k for r in records for k in r}, key=lambda k: (k != "item_id", k))
    cols, kinds = {}, {}
    for k in keys:
        vals = [r.get(k) for r in records]
        kind = kinds[k] = _kind(vals)
        if kind == "json":
            cols[k] = pa.array([None if v is None else canonical_json(v) for v in vals], pa.string())
        else:
            cols[k] = pa.array(vals, {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64(),
                                      "float64": pa.float64()}[kind])
    return pa.table(cols), kinds


def _write(table, path: Path) -> None:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=False)


def _describe(model_name: str) -> dict[str, str]:
    from medbench.tasks.schemas import MODELS

    model = MODELS.get(model_name)
    if model is None:
        return {}
    return {n: (f.description or "") for n, f in model.model_fields.items()}


def export_hf(release: Release, out: str | Path, *, splits: list[str] | None = None,
              with_gold: bool = False, i_hold_the_data: bool = False) -> dict:
    """Write the export; returns {config: {split: rows}}."""
    licence, credentialed = release_licence(release.manifest)
    if with_gold and credentialed and not i_hold_the_data:
        raise UserError(f"--with-gold: release {release.name} holds credentialed data ({licence}); its gold "
                        "may not leave your machine unless you hold the data: add --i-hold-the-data")
    splits = list(splits or SPLITS)
    counts: dict[str, dict[str, int]] = {}
    columns: dict[str, dict[str, str]] = {}
    with atomic_dir(Path(out)) as tmp:
        for task in release.tasks():
            items_all = release.items(task)
            gold_all = release.gold(task) if with_gold else {}
            for config, kind in ((task, "items"), *(((f"{task}_gold", "gold"),) if with_gold else ())):
                counts[config] = {}
                for split in splits:
                    items = [it for it in items_all if it["split"] == split]
                    rows = items if kind == "items" else [gold_all[it["item_id"]] for it in items]
                    if not rows:
                        continue
                    table, kinds = _table(rows)
                    _write(table, tmp / config / f"{split}-00000-of-00001.parquet")
                    counts[config][split] = len(rows)
                    columns.setdefault(config, {}).update(kinds)
                if not counts[config]:
                    del counts[config]
        (tmp / "README.md").write_text(_card(release, licence, credentialed, counts, columns, with_gold),
                                       encoding="utf-8")
    return counts


def _card(release: Release, licence: str, credentialed: bool, counts: dict, columns: dict,
          with_gold: bool) -> str:
    import inspect

    from medbench.tasks import FAMILIES

    lines = ["---", "configs:"]
    for config in sorted(counts):
        lines += [f"- config_name: {config}", "  data_files:"]
        for split in SPLITS:
            if split in counts[config]:
                lines += [f"  - split: {split}", f"    path: {config}/{split}-*.parquet"]
    lines += ["---", "", f"# medbench release `{release.name}`", "",
              f"- release sha256 (of its manifest.json): `{release.sha256}`",
              f"- licence: {licence}" + (" - credentialed data: do not share this folder" if credentialed else ""),
              f"- medbench version: {release.manifest.get('medbench_version')}",
              f"- gold included: {'yes' if with_gold else 'no (public items only)'}", "",
              ("Load one task with `datasets.load_dataset(DIR, \"<config>\")`. Columns marked *JSON* hold "
               "canonical JSON strings (`json.loads` them)."), ""]
    for config in sorted(counts):
        task = config.removesuffix("_gold")
        module = inspect.getmodule(type(FAMILIES.get(task))) if task in FAMILIES else None
        doc = ((module.__doc__ if module else None) or "").strip()
        lines += [f"## `{config}`", "", doc.splitlines()[0] if doc else "", "",
                  "rows: " + ", ".join(f"{s} {n}" for s, n in sorted(counts[config].items(),
                                                                     key=lambda kv: SPLITS.index(kv[0]))), "",
                  "| column | type | meaning |", "|---|---|---|"]
        desc = _describe(("gold-" if config.endswith("_gold") else "items-") + task)
        for col in sorted(columns[config], key=lambda k: (k != "item_id", k)):
            kind = columns[config][col]
            meaning = desc.get(col, "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{col}` | {'JSON' if kind == 'json' else kind} | {meaning} |")
        lines.append("")
    lines += ["## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def read_back(path: Path) -> list[dict]:  # tests: rows of one Parquet file as dicts
    import pyarrow.parquet as pq

    return [dict(r) for r in pq.read_table(path).to_pylist()]

