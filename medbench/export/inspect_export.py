"""`medbench export RELEASE --format inspect --out DIR`: one inspect_ai task file per family.

    inspect eval DIR/medbench_sql.py --model openai/gpt-4.1-mini [-T split=test]

Each file only names the release (path and sha256) and calls `medbench.export.inspect_tasks`,
which loads the release's own items as `Sample`s (messages from the family's prompt templates)
and scores with the family's own scorer, so inspect's numbers are medbench's (the task's
headline metric is computed by `medbench.scoring.score` over all samples).
"""

from __future__ import annotations

from pathlib import Path

from medbench.io import atomic_dir
from medbench.release import Release

_TEMPLATE = '''"""inspect_ai task: medbench release {name!r}, task {task!r} (written by `medbench export --format inspect`).

    inspect eval {fname} --model MODEL [-T split=dev] [-T limit=N]
"""

from inspect_ai import task

from medbench.export.inspect_tasks import medbench_task

RELEASE = {path!r}
RELEASE_SHA256 = {sha!r}


@task
def medbench_{task}(split: str = {split!r}, limit: int | None = None, fewshot: int = 0):
    return medbench_task(RELEASE, {task!r}, split, release_sha256=RELEASE_SHA256, limit=limit,
                         fewshot=fewshot)
'''


def export_inspect(release: Release, out: str | Path, *, splits: list[str] | None = None) -> list[Path]:
    out = Path(out)
    split = (splits or ["dev"])[0]
    names = []
    with atomic_dir(out) as tmp:
        for task in release.tasks():
            fname = f"medbench_{task}.py"
            (tmp / fname).write_text(_TEMPLATE.format(name=release.name, task=task, fname=out / fname,
                                                      path=str(release.path.resolve()), sha=release.sha256,
                                                      split=split), encoding="utf-8")
            names.append(out / fname)
    return names
