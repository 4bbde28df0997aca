"""Release bytes per admission (issue 12, "releases that stay a sensible size").

    python bench/release_size.py BEFORE_RELEASE AFTER_RELEASE [...]

For each release folder: bytes per file group (every task's items / gold / contexts / other
files, plain or .zst), the total, and the total per admission — the rows of the release's
`sql/db/admissions.parquet` (every admission of the released patients), or, without it, the
distinct hadm_ids of the release's items. Sizes are file bytes, deterministic: no timing here.
The last column is the ratio to the first release named.
"""

from __future__ import annotations

import sys
from pathlib import Path


def admissions(rel) -> int:
    pq = rel.path / "sql" / "db" / "admissions.parquet"
    if pq.is_file():
        import duckdb

        return duckdb.sql(f"SELECT count(*) FROM read_parquet('{pq.as_posix()}')").fetchall()[0][0]
    return len({it["hadm_id"] for t in rel.tasks() for it in rel.records(t, "items") if it.get("hadm_id")})


def groups(rel) -> dict[str, int]:
    out: dict[str, int] = {}
    for relpath in rel.manifest["files"]:
        task, name = relpath.split("/", 1) if "/" in relpath else ("", relpath)
        base = name.removesuffix(".zst")
        kind = base if base in ("items.jsonl", "gold.jsonl", "contexts.jsonl") else "other files"
        key = f"{task}/{kind}" + (" (zst)" if name.endswith(".zst") else "")
        out[key] = out.get(key, 0) + (rel.path / relpath).stat().st_size
    out["manifest.json"] = (rel.path / "manifest.json").stat().st_size
    return out


def main(paths: list[str]) -> None:
    from medbench.release import open_release

    first_total = None
    for p in paths:
        rel = open_release(Path(p))
        g = groups(rel)
        total, n = sum(g.values()), admissions(rel)
        first_total = first_total or total
        print(f"\n{p}  (release_format {rel.manifest.get('release_format', 1)}, {n:,} admissions)")
        for k, v in sorted(g.items()):
            print(f"  {k:<34} {v:>14,} B")
        print(f"  {'total':<34} {total:>14,} B   {total / n:>12,.0f} B/admission   "
              f"x{total / first_total:.3f} of the first")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
