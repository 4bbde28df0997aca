"""Scoring speed and agreement: medbench's sandboxed parallel SQL scorer versus the naive way.

Imports the EHRSQL 2024 valid split (or uses --release), builds two deterministic synthetic
submissions (gold SQL, perturbed SQL, wrong queries, failing queries, abstentions), then scores
each (a) naively — gold and predicted query executed one by one on one SQLite connection, answers
compared — and (b) with medbench (`FAMILY.score_items`: worker processes, each distinct query run
once, gold features and executed queries cached per release), in one run: submission 1 from cold
caches, submission 2 with what submission 1 left cached, submission 2 re-scored. Checks the
per-item scores are identical and prints the speed ratios (recorded in docs/BENCHMARKS.md).

    .venv/bin/python bench/score.py [--release DIR] [--workers 2] [--repeat 3]

Exits 1 (after printing every number) unless the scores agree, medbench is at least 2x the naive
scorer on each submission, and the second submission (gold cached) scores faster than the first
(issue 6).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EHRSQL = REPO.parent / "shared" / "data" / "ehrsql-2024"


MIN_SPEEDUP = 2.0


def make_submission(items: list[dict], gold: dict, seed: int) -> dict[str, str | None]:
    """A plausible model's predictions: mostly right, some wrong, failing or abstaining."""
    rng = random.Random(seed)
    preds: dict[str, str | None] = {}
    for it in items:
        g = gold[it["item_id"]]
        r = rng.random()
        if not g["answerable"]:
            preds[it["item_id"]] = None if r < 0.7 else "SELECT count(*) FROM patients"
            continue
        sql = g["sql"]
        if r < 0.55:
            preds[it["item_id"]] = sql
        elif r < 0.75:  # a plausible slip: flipped order, or an off-by-one number
            flipped = sql.replace(" DESC", " __A").replace(" ASC", " DESC").replace(" __A", " ASC")
            preds[it["item_id"]] = flipped if flipped != sql else re.sub(r"\b(\d+)\b", lambda m: str(int(m.group(1)) + 1), sql, count=1)
        elif r < 0.85:
            preds[it["item_id"]] = None
        elif r < 0.95:
            preds[it["item_id"]] = "SELECT DISTINCT admissions.admission_type FROM admissions"
        else:
            preds[it["item_id"]] = sql.replace("FROM", "FORM", 1)  # a syntax error
    return preds


def revise(preds: dict, items: list[dict], gold: dict, seed: int, share: float) -> dict[str, str | None]:
    """A revised submission (the same model, fixed up): `share` of the items predicted anew (as by
    `make_submission(seed)`), the others kept."""
    rng = random.Random(f"revise-{seed}")  # not make_submission's stream: picks independent of content
    other = make_submission(items, gold, seed)
    return {i: (other[i] if rng.random() < share else p) for i, p in preds.items()}


def naive_scores(db: Path, items: list[dict], gold: dict, preds: dict) -> dict[str, int]:
    """The straightforward scorer: one connection, each gold and predicted query in turn."""
    from medbench.tasks.sql.normalize import canonical_answer, normalize_ehrsql

    con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)

    def run(sql: str) -> str:
        try:
            return canonical_answer(con.execute(normalize_ehrsql(sql)).fetchall())
        except Exception:
            return "error"

    scores = {}
    for it in items:
        g, p = gold[it["item_id"]], preds[it["item_id"]]
        if not g["answerable"]:
            scores[it["item_id"]] = 1 if p is None else -1
        elif p is None:
            scores[it["item_id"]] = 0
        else:
            gold_answer = run(g["sql"])
            pred_answer = run(p)
            scores[it["item_id"]] = 1 if pred_answer == gold_answer and pred_answer != "error" else -1
    con.close()
    return scores


def _time_medbench(items, gold, preds, release, workers: int):
    from medbench.tasks.sql import FAMILY
    from medbench.tasks.sql.cache import clear_memo

    clear_memo()  # read the caches from disk, as a fresh `medbench score` process would
    t0 = time.perf_counter()
    records = FAMILY.score_items(items, gold, preds, {"release": release, "workers": workers})
    return time.perf_counter() - t0, records


def _restore(snapshot: Path | None, cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
    if snapshot is not None:
        shutil.copytree(snapshot, cache)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--release", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of N timings per scorer")
    ap.add_argument("--revise-share", type=float, default=0.3,
                    help="share of items submission #2 predicts anew (the rest as #1)")
    ap.add_argument("--drop-gold-answers", action="store_true",
                    help="hide the gold answers stored in the release, so medbench executes the gold "
                         "SQL too (once per release: cached), as the one-by-one scorer does")
    args = ap.parse_args()
    from medbench.release import open_release
    from medbench.tasks.sql import FAMILY
    from medbench.tasks.sql.ehrsql import import_ehrsql
    from medbench.tasks.sql.metrics import release_database

    with tempfile.TemporaryDirectory(prefix="medbench-bench-") as tmp:
        os.environ["MEDBENCH_HOME"] = str(Path(tmp) / "home")  # cold caches
        os.environ.setdefault("MEDBENCH_NO_PROGRESS", "1")
        if args.release is None:
            if not EHRSQL.is_dir():
                sys.exit(f"no EHRSQL data at {EHRSQL}")
            args.release = Path(tmp) / "release"
            import_ehrsql(EHRSQL, EHRSQL / "mimic_iv.sqlite.gz", "valid", args.release, show_progress=False)
        release = open_release(args.release)
        items, gold = release.items("sql"), release.gold("sql")
        mb_gold = {k: {**g, "answer": None} for k, g in gold.items()} if args.drop_gold_answers else gold
        db, engine = release_database(release)
        assert engine == "sqlite", "the naive baseline is written for SQLite releases"
        cache = Path(os.environ["MEDBENCH_HOME"]) / "cache"  # gold/ and sql-results/, per release
        after_first = Path(tmp) / "cache-after-submission-1"
        # (label, predictions, cache state every timed run starts from); best of --repeat runs
        # each, as a shared machine is noisy, and every run starts from exactly that state:
        #   #1 cold: no cache at all;
        #   #2: a revised submission (--revise-share of #1's items predicted anew), after #1;
        #   #2 re-scored: the same file again (what #2 left cached);
        #   #3: an independent submission (another seed throughout), after #1.
        first = make_submission(items, gold, 1)
        second = revise(first, items, gold, 2, args.revise_share)
        plan = (("#1 (cold)", first, None), ("#2 revised", second, after_first),
                ("#2 re-scored", second, "keep"), ("#3 independent", make_submission(items, gold, 2), after_first))
        rows = []
        for label, preds, start in plan:
            t_naive = t_mb = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                naive = naive_scores(db, items, gold, preds)
                t_naive = min(t_naive, time.perf_counter() - t0)
                if start != "keep":
                    _restore(start, cache)
                t, records = _time_medbench(items, mb_gold, preds, release, args.workers)
                t_mb = min(t_mb, t)
            if start is None:
                shutil.copytree(cache, after_first)  # what submission 1 leaves for submission 2
            ours = {r["item_id"]: r["score"] for r in records}
            same = ours == naive
            rs10 = FAMILY.aggregate(records)["rs10"]
            naive_rs10 = 100.0 * sum(s if s >= 0 else 10 * s for s in naive.values()) / len(naive)
            rows.append((label, t_naive, t_mb, same and abs(rs10 - naive_rs10) < 1e-9, rs10))
            if not same:
                diff = [i for i in naive if naive[i] != ours[i]][:5]
                print(f"submission {label}: per-item scores differ, e.g. {diff}", file=sys.stderr)
        sizes = {d.name: sum(f.stat().st_size for f in d.glob("*.json")) for d in cache.iterdir() if d.is_dir()}
    changed = sum(1 for i in first if first[i] != second[i])
    print(f"#2 differs from #1 on {changed} of {len(first)} items; #3 on "
          f"{sum(1 for i, p in make_submission(items, gold, 2).items() if p != first[i])}")
    print(f"{'submission':<16}{'one-by-one s':>13}{'medbench s':>12}{'speed-up':>10}{'same scores':>13}{'RS(10)':>9}")
    for label, t_naive, t_mb, same, rs10 in rows:
        print(f"{label:<16}{t_naive:>13.2f}{t_mb:>12.2f}{t_naive / t_mb:>9.2f}x{same!s:>13}{rs10:>9.2f}")
    print(f"items {len(items)}, workers {args.workers}, cpus {os.cpu_count()}, best of {args.repeat}; "
          f"cache sizes (bytes) {sizes}")
    print(f"medbench vs one-by-one: {rows[0][1] / rows[0][2]:.2f}x (cold), {rows[1][1] / rows[1][2]:.2f}x "
          f"(second submission); second submission vs first: {rows[0][2] / rows[1][2]:.2f}x faster "
          f"(time ratio {rows[1][2] / rows[0][2]:.2f}); re-scoring it: {rows[0][2] / rows[2][2]:.2f}x faster "
          f"than the first; independent #3 vs first: {rows[0][2] / rows[3][2]:.2f}x")
    # Issue 6's thresholds, each printed, met or not; exit 1 if any is missed.
    checks = {"identical per-item scores and RS(10)": all(r[3] for r in rows)}
    for label, t_naive, t_mb, *_ in (rows[0], rows[1], rows[3]):
        checks[f"{label}: medbench >= {MIN_SPEEDUP:g}x one-by-one ({t_naive / t_mb:.2f}x)"] = \
            t_naive / t_mb >= MIN_SPEEDUP
    checks[f"second submission faster than the first ({rows[1][2]:.2f}s vs {rows[0][2]:.2f}s)"] = \
        rows[1][2] < rows[0][2]
    for name, ok in checks.items():
        print(f"{'met   ' if ok else 'MISSED'} {name}")
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
