"""Hostile submissions and damaged caches against a real (tiny synthetic) release:
- over-limit predictions (85,000 ICD codes, a 1 MB SQL string) are scored as invalid with a reason,
  within seconds and without growing the scorer's memory;
- usage fields are validated by type (`"cost_usd": true` is not $1);
- every scoring cache (materialised sql-db, result cache, gold cache) truncated, flipped, emptied
  or randomised gives the same scores as the clean run, with a warning."""

from __future__ import annotations

import json
import os
import random
import resource
import time
import warnings

import pytest
from conftest import copy_tree

from medbench.errors import UserError
from medbench.release import open_release
from medbench.scoring.score import score
from medbench.scoring.submission import validate_submission

SPLIT = "train"


@pytest.fixture(scope="module")
def rel(tiny_release_dir, tmp_path_factory):
    # build_tiny_release's defaults, built once per test run (tests/conftest.py); a private copy
    return open_release(copy_tree(tiny_release_dir, tmp_path_factory.mktemp("tiny") / "release"))


def _submission(path, release, task, predictions, **extra):
    head = {"type": "header", "schema_version": 1, "model": "m", "task": task, "split": SPLIT,
            "benchmark": {"name": release.name, "sha256": release.sha256}, "medbench_version": "x",
            "params": {}, "created": "2020-01-01T00:00:00Z"}
    with open(path, "w") as f:
        f.write(json.dumps(head) + "\n")
        f.writelines(json.dumps({"item_id": iid, "prediction": pred, **extra}) + "\n"
                     for iid, pred in predictions.items())
    return path


def _score(path, release):
    return score(validate_submission(path, release.path), n_resamples=1000, workers=2, show_progress=False)


def _sql_predictions(release):
    gold = release.gold("sql", SPLIT)
    ids = sorted(gold)
    # half the gold queries, a few wrong or failing ones, one abstention
    preds = {}
    for n, iid in enumerate(ids):
        g = gold[iid].get("sql")
        preds[iid] = g if n % 3 == 0 else (None if n % 3 == 1 else "SELECT count(*) FROM admissions")
    return preds


@pytest.mark.serial  # timed: run alone in `make test`'s serial pass
def test_over_limit_predictions_are_invalid_items_fast(rel, tmp_path):
    icd_ids = sorted(rel.gold("icd", SPLIT))
    junk = [f"Z{n:06d}" for n in range(85_000)]  # ~1 MB line: inside the line limit, over the code cap
    sub = _submission(tmp_path / "icd.jsonl", rel, "icd", {icd_ids[0]: junk, **{i: ["I10"] for i in icd_ids[1:]}})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.monotonic()
    result = _score(sub, rel)
    elapsed = time.monotonic() - t
    rec = next(r for r in result["records"] if r["item_id"] == icd_ids[0])
    assert rec["error"].startswith("prediction over limit: 85,000 codes")
    assert len(rec["prediction"]) <= 51  # clipped in the result
    assert elapsed < 30
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 1 << 20  # KiB: < 1 GB

    sql_ids = sorted(rel.gold("sql", SPLIT))
    big = "SELECT " + " + ".join(["1"] * 200_000)  # 800 KB, inside the 1 MiB line limit
    sub = _submission(tmp_path / "sql.jsonl", rel, "sql", {i: big for i in sql_ids[:3]})
    t = time.monotonic()
    result = _score(sub, rel)
    assert time.monotonic() - t < 30
    over = [r for r in result["records"] if r["item_id"] in sql_ids[:3]]
    assert all(r["error"].startswith("prediction over limit: SQL of") for r in over)
    assert all(len(r["prediction"]) < 5000 for r in over)


@pytest.mark.parametrize("field,value", [("cost_usd", True), ("cost_usd", "1"), ("cost_usd", -1),
                                         ("latency_s", False), ("usage", {"prompt_tokens": True})])
def test_usage_fields_are_typed(rel, tmp_path, field, value):
    ids = sorted(rel.gold("icd", SPLIT))
    sub = _submission(tmp_path / "u.jsonl", rel, "icd", {ids[0]: ["I10"]}, **{field: value})
    with pytest.raises(UserError, match=field):
        validate_submission(sub, rel.path)


def _damage(path, how):
    os.chmod(path, 0o644)
    data = path.read_bytes()
    rng = random.Random(0)
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        i = len(data) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(len(data) or 4096)))


def _clear_memos():
    from medbench.tasks.sql import cache, schema

    cache.clear_memo()
    schema._VERIFIED.clear()


@pytest.mark.parametrize("target", ["sql-db", "sql-results", "gold"])
def test_damaged_caches_give_identical_scores(rel, tmp_path, isolated_home, target):
    from medbench.tasks.sql.schema import open_release_db

    sub = _submission(tmp_path / "s.jsonl", rel, "sql", _sql_predictions(rel))
    clean = _score(sub, rel)
    paths = {"sql-db": open_release_db(rel),
             "sql-results": isolated_home / "cache" / "sql-results" / f"{rel.sha256}.json",
             "gold": isolated_home / "cache" / "gold" / f"{rel.sha256}.json"}
    path = paths[target]
    assert path.is_file()
    for how in ("truncate", "flip", "empty", "random"):
        _damage(path, how)
        _clear_memos()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = _score(sub, rel)
        assert again["metrics"] == clean["metrics"], (target, how)
        assert again["records"] == clean["records"], (target, how)
        assert any("sha256" in str(w.message) for w in caught), (target, how)
        path = open_release_db(rel) if target == "sql-db" else path


def test_score_json_stdout_parses_with_a_slow_query(rel, tmp_path, isolated_home):
    """A query running past DuckDB's 2 s progress-bar delay prints nothing into `--json` stdout."""
    import subprocess
    import sys

    from conftest import REPO

    ids = sorted(rel.gold("sql", SPLIT))
    slow = "SELECT count(*) FROM range(3000000000) a"
    sub = _submission(tmp_path / "slow.jsonl", rel, "sql", {ids[0]: slow, ids[1]: slow})
    env = dict(os.environ, MEDBENCH_HOME=str(isolated_home), PYTHONPATH=str(REPO))
    env.pop("MEDBENCH_NO_PROGRESS", None)
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "score", str(sub), "--benchmark", str(rel.path),
                           "--no-publish", "--json", "--timeout", "4", "--workers", "2"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # the whole stdout is one JSON document
    assert summary["n_items"] == len(ids)


def test_huge_answers_reach_the_parent_as_a_digest(rel, tmp_path):
    """A prediction whose answer is megabytes long: the parent keeps a clipped answer and a hash;
    an equal huge answer still compares equal."""
    from medbench.tasks.sql.execute import ANSWER_DIGEST_CHARS, compact_answer

    ids = sorted(rel.gold("sql", SPLIT))
    huge = "SELECT repeat('x', 200000) || range::VARCHAR FROM range(20)"
    result = _score(_submission(tmp_path / "huge.jsonl", rel, "sql", {ids[0]: huge}), rel)
    rec = next(r for r in result["records"] if r["item_id"] == ids[0])
    assert rec["error"] is None and rec["executed"]
    assert len(rec["pred_answer"]) < 2100 and "sha256" in rec["pred_answer"]
    long_a, long_b = "a" * (ANSWER_DIGEST_CHARS + 1), "a" * ANSWER_DIGEST_CHARS + "b"
    assert compact_answer(long_a) == compact_answer("a" * (ANSWER_DIGEST_CHARS + 1))
    assert compact_answer(long_a) != compact_answer(long_b)
    assert compact_answer("short") == "short"
