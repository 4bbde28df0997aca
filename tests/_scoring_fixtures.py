"""Shared helpers for the scoring/leaderboard tests: a tiny fake task family, a tiny release
written with `write_release`, submission writers, and a CLI runner that registers the fake family.

The fake family stands in for "sql" (so the sql prediction type, str | null, applies): an item is
correct when the predicted string equals the gold answer; null abstains (wrong).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

from medbench.io import canonical_json
from medbench.release import TaskOutput, open_release, write_release
from medbench.tasks.contract import MetricSpec, Record, TaskFamily

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULE = "_scoring_fixtures"


class FakeItem(Record):
    item_id: str
    task: str
    split: str
    subject_id: int | None
    question: str
    category: str | None = None


class FakeGold(Record):
    item_id: str
    task: str
    answer: str
    tables: list[list[str]] | None = None


class FakeFamily(TaskFamily):
    """Declares the contract's required parts (medbench.tasks.contract); scores only."""

    name = "sql"
    item_model = FakeItem
    gold_model = FakeGold
    prediction_type = str | None  # the sql prediction type: a string, or null to abstain
    prompt_templates = ()
    # cards worded as the leaderboard words a metric it knows nothing about
    metric_specs = (MetricSpec("accuracy", "accuracy", "num", "accuracy"),
                    MetricSpec("abstain_rate", "abstain rate", "num", "abstain_rate"))
    headline_metric = "accuracy"
    higher_is_better = True
    missing_prediction = ""
    mean_metrics: ClassVar[dict[str, str]] = {"accuracy": "score"}  # the vectorised bootstrap path
    scorer_version = "fake-1"

    def build(self, ctx):
        raise NotImplementedError("the fake family is written by make_release, never built")

    def render_prompt(self, item, release):
        return [{"role": "user", "content": item["question"]}]

    def parse(self, raw):
        return (raw.strip() if raw else None), None

    def score_items(self, items, gold_by_id, predictions_by_id, ctx):
        assert ctx.release is not None and ctx.split
        out = []
        for it in items:
            pred = predictions_by_id[it["item_id"]]
            ok = pred is not None and pred == gold_by_id[it["item_id"]]["answer"]
            out.append({"item_id": it["item_id"], "subject_id": it["subject_id"], "correct": ok,
                        "score": 1.0 if ok else 0.0, "category": it["category"],
                        "categories": {"table": gold_by_id[it["item_id"]].get("tables", [])},
                        "abstained": pred is None})
        return out

    def aggregate(self, records):
        n = len(records)
        if not n:
            return {"accuracy": 0.0, "abstain_rate": 0.0}
        return {"accuracy": sum(r["score"] for r in records) / n,
                "abstain_rate": sum(1 for r in records if r["abstained"]) / n}


FAMILY = FakeFamily()


def make_release(root: Path, name: str = "fakebench", n_patients: int = 6, per_patient: int = 3,
                 split: str = "test") -> Path:
    """A release with `n_patients` × `per_patient` sql items in `split` (+ 2 train items)."""
    items, gold = [], []
    k = 0
    for p in range(n_patients):
        for j in range(per_patient):
            iid = f"sql-{k:04d}"
            items.append({"item_id": iid, "task": "sql", "split": split, "subject_id": 1000 + p,
                          "question": f"question {k}?", "category": f"cat{j % 2}"})
            gold.append({"item_id": iid, "task": "sql", "answer": f"A{k}",
                         "tables": [["admissions"], ["admissions", "labevents"], []][k % 3]})
            k += 1
    for t in range(2):
        iid = f"sql-train-{t}"
        items.append({"item_id": iid, "task": "sql", "split": "train", "subject_id": 9000 + t,
                      "question": "train q", "category": "cat0"})
        gold.append({"item_id": iid, "task": "sql", "answer": "T"})
    out = root / "benchmarks" / name
    write_release(out, name, {"sql": TaskOutput(items, gold)}, params={"fake": True}, source_fingerprint=None)
    return out


def header(release_dir: Path, model: str = "model-a", **over) -> dict:
    rel = open_release(release_dir)
    h = {"type": "header", "schema_version": 1, "model": model, "task": "sql", "split": "test",
         "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "0.1.0",
         "params": {"temperature": 0}, "created": "2025-01-02T03:04:05Z"}
    h.update(over)
    return h


def line(item_id: str, prediction, **over) -> dict:
    d = {"item_id": item_id, "prediction": prediction, "raw_output": None, "parse_error": None,
         "error": None, "usage": {"prompt_tokens": 10, "completion_tokens": 5}, "cost_usd": 0.001,
         "latency_s": 0.5}
    d.update(over)
    return d


def release_items(release_dir: Path) -> list[dict]:
    return open_release(release_dir).items("sql", "test")


def write_submission(path: Path, release_dir: Path, model: str = "model-a", correct: int | None = None,
                     skip: int = 0, hdr: dict | None = None) -> Path:
    """The first `correct` items right (default all), the rest wrong; the last `skip` left out."""
    items = release_items(release_dir)
    gold = open_release(release_dir).gold("sql", "test")
    correct = len(items) if correct is None else correct
    rows = [hdr or header(release_dir, model)]
    for i, it in enumerate(items[: len(items) - skip]):
        rows.append(line(it["item_id"], gold[it["item_id"]]["answer"] if i < correct else "WRONG"))
    path.write_text("".join(canonical_json(r) + "\n" for r in rows), encoding="utf-8")
    return path


def use_fake_family(monkeypatch) -> None:
    from medbench import tasks

    if str(HERE) not in sys.path:
        monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setitem(tasks.REGISTRY, "sql", MODULE)


def run_cli_fake(*args: str, cwd: Path | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    """`medbench ARGS` in a subprocess with the fake family registered as 'sql'."""
    code = (f"import sys; import medbench.tasks as t; t.REGISTRY['sql'] = {MODULE!r}; "
            "from medbench.cli import main; main(sys.argv[1:])")
    env = dict(os.environ)
    env["MEDBENCH_NO_PROGRESS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code, *args], cwd=str(cwd or REPO), env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path → bytes), for 'unchanged' assertions."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def dumps(obj) -> str:
    return json.dumps(obj)
