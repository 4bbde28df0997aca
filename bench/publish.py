"""Publishing that scales (issue 12): full versus incremental publish, and how long a large
submission page takes to open in headless Chromium, before (every item inline) and after (items
listed a page at a time from <id>.items.js).

Stored results are synthetic SQL results (the real `sql` family's metrics, ranks and drill-down;
`--items` records each, spread over 4 (release, split) groups). For each N, a site with N - 1
results is published once; then, interleaved A B A B, one new result is published onto a
hard-linked copy of it (same inodes, as a real publish leaves them):

  full          the previous index removed: every result read, validated, every page rendered
                (what each publish did before)
  incremental   with the index: only what the new result changes is read and rendered

Each publish runs in a fresh child process that reports its own time (the `publish_results` call,
after importing what a `medbench score` process has already imported: the family, the templates)
and its own peak RSS (VmHWM from /proc/self/status). Both modes' sites are compared byte for byte.

Then a `--page-items` SQL result (default 16,000) is rendered both ways and opened with
`chromium --headless --no-sandbox --disable-gpu --screenshot=... --window-size=1280,2400 file://...`,
interleaved before/after, minus the same command on an empty page (browser start-up).

    .venv/bin/python bench/publish.py [--sizes 10,40,120] [--items 200] [--repeat 2]
        [--page-items 16000] [--shots DIR] [--skip-browser] [--skip-publish]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GROUPS = [("benchA", "a" * 64, "test"), ("benchA", "a" * 64, "valid"), ("benchB", "b" * 64, "test"),
          ("benchB", "b" * 64, "valid")]


def make_result(model: str, group: tuple[str, str, str], n_items: int, seed: int) -> dict:
    """A valid stored SQL result: records shaped as the sql family writes them (answerable,
    abstained, executed, SQL text, answers, template family and tables), metrics from the family."""
    from medbench.scoring.results import RESULT_FORMAT, result_identity
    from medbench.tasks import get_family

    family = get_family("sql")
    name, sha, split = group
    rng = random.Random(seed)
    skill = 0.3 + 0.6 * rng.random()
    records = []
    for k in range(n_items):
        answerable = k % 10 != 0
        r = rng.random()
        abstained = (not answerable and r < 0.6) or (answerable and r > 0.95)
        correct = (not answerable and abstained) or (answerable and not abstained and r < skill)
        table = ["admissions", "labevents", "prescriptions", "diagnoses_icd"][k % 4]
        sql = f"SELECT count(*) FROM {table} WHERE subject_id = {10000 + k // 3} AND itemid = {k}"
        records.append({
            "item_id": f"sql-{k:05d}", "subject_id": 10000 + k // 3, "category": f"template-{k % 40:02d}",
            "categories": {"family": f"family-{k % 8}", "table": [table]},
            "correct": correct, "score": 0 if abstained else (1 if correct else -1),
            "answerable": answerable, "abstained": abstained, "executed": not abstained,
            "em": correct and r < 0.2, "token_f1": round(r, 3), "template_seen_in_train": k % 3 != 0,
            "input": {"question": f"How many {table} rows does patient {10000 + k // 3} have for item {k}?"},
            "gold": {"sql": sql}, "prediction": None if abstained else (sql if correct else sql.replace("=", ">")),
            "gold_answer": [[k % 7]] if answerable else None, "pred_answer": None if abstained else [[k % 5]],
            "error": None,
        })
    metrics = family.aggregate(records)
    head = family.headline_metric
    header = {"type": "header", "schema_version": 1, "model": model, "task": "sql", "split": split,
              "benchmark": {"name": name, "sha256": sha}, "medbench_version": "bench", "params": {},
              "created": f"2025-01-{1 + seed % 28:02d}T00:00:00Z"}
    rid = f"{model}-sql-{result_identity(header)[:12]}"
    v = metrics[head]
    return {"result_format": RESULT_FORMAT, "result_id": rid, "header": header, "task": "sql", "split": split,
            "model": model, "created": header["created"], "benchmark": header["benchmark"], "metrics": metrics,
            "headline": {"name": head, "value": v, "ci_low": v - 5, "ci_high": v + 5,
                         "higher_is_better": family.higher_is_better},
            "intervals": {m: [x - 5, x + 5] for m, x in metrics.items()}, "n_items": n_items, "n_missing": 0,
            "complete": True, "usage": {"prompt_tokens": 100 * n_items, "completion_tokens": 20 * n_items,
                                        "cost_usd": 0.001 * n_items},
            "records": records, "scorer_version": str(family.scorer_version),
            "bootstrap": {"resamples": 1000, "seed": 0, "level": 0.95, "unit": "patient"},
            "submission_sha256": "0" * 64, "source_licence": "synthetic", "judge": None}


def hwm_kb() -> int:
    for ln in Path("/proc/self/status").read_text().splitlines():
        if ln.startswith("VmHWM:"):
            return int(ln.split()[1])
    return -1


def child(site_dir: str, result_file: str) -> None:
    from medbench.publish import site
    from medbench.publish.site import publish_results
    from medbench.tasks import get_family

    # what a `medbench score` process has imported before it publishes (the family, numpy, the
    # templates): outside the measured time, which is the publish itself
    get_family("sql")
    for name in ("index.html", "submission.html", "item.html"):
        site.env().get_template(name)
    r = json.loads(Path(result_file).read_text())
    t0 = time.perf_counter()
    publish_results(site_dir, [r])
    print(json.dumps({"s": time.perf_counter() - t0, "hwm_kb": hwm_kb()}))


def run_child(site_dir: Path, result_file: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), MEDBENCH_NO_PROGRESS="1")
    p = subprocess.run([sys.executable, __file__, "--child", str(site_dir), str(result_file)],
                       capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        sys.exit(f"publish child failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def generated(folder: Path) -> dict[str, bytes]:
    from medbench.publish.site import INDEX_FILE

    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != INDEX_FILE}


def bench_publish(sizes: list[int], n_items: int, repeat: int, work: Path) -> list[dict]:
    from medbench.publish.site import INDEX_FILE, publish_results

    rows = []
    for n in sizes:
        base = work / f"base-{n}"
        results = [make_result(f"model-{i:03d}", GROUPS[i % len(GROUPS)], n_items, seed=i) for i in range(n - 1)]
        publish_results(base, results)
        new = make_result("model-new", GROUPS[0], n_items, seed=10_000 + n)
        new_file = work / f"new-{n}.json"
        new_file.write_text(json.dumps(new))
        times: dict[str, list[float]] = {"full": [], "incremental": []}
        rss: dict[str, list[int]] = {"full": [], "incremental": []}
        outs: dict[str, Path] = {}
        for rep in range(repeat):
            for mode in ("full", "incremental"):
                site = work / f"site-{n}-{mode}-{rep}"
                shutil.copytree(base, site, copy_function=os.link)  # hard links: the stat a publish leaves
                if mode == "full":
                    (site / INDEX_FILE).unlink()
                m = run_child(site, new_file)
                times[mode].append(m["s"])
                rss[mode].append(m["hwm_kb"])
                outs[mode] = site
        same = generated(outs["full"]) == generated(outs["incremental"])
        row = {"n": n, "items": n_items, "identical": same,
               **{f"{mode}_{k}": f(v) for mode in times for k, f, v in
                  (("min", min, times[mode]), ("median", statistics.median, times[mode]),
                   ("rss_mb", lambda x: max(x) / 1024, rss[mode]))}}
        row["speedup_min"] = row["full_min"] / row["incremental_min"]
        rows.append(row)
        print(f"N={n:4d} ({n_items} items each): full min {row['full_min']:.2f} s median {row['full_median']:.2f} s "
              f"peak RSS {row['full_rss_mb']:.0f} MB | incremental min {row['incremental_min']:.2f} s median "
              f"{row['incremental_median']:.2f} s peak RSS {row['incremental_rss_mb']:.0f} MB | "
              f"full/incremental {row['speedup_min']:.1f}x | byte-identical: {same}", flush=True)
        for rep in range(repeat):
            for mode in times:
                shutil.rmtree(work / f"site-{n}-{mode}-{rep}", ignore_errors=True)
    return rows


def chromium_time(url: str, shot: Path, timeout: float = 600, height: int = 2400) -> float:
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
           f"--window-size=1280,{height}", url]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    return time.perf_counter() - t0


def bench_page(n_items: int, repeat: int, work: Path, shots: Path) -> dict:
    from medbench.publish import site

    r = make_result("big-model", GROUPS[0], n_items, seed=7)
    sizes, render_s = {}, {}
    for mode, inline in (("before", 10**9), ("after", site.ITEMS_INLINE)):
        keep = site.ITEMS_INLINE
        site.ITEMS_INLINE = inline
        try:
            t0 = time.perf_counter()
            site.render_site([r], work / f"page-{mode}")
            render_s[mode] = time.perf_counter() - t0
        finally:
            site.ITEMS_INLINE = keep
        sub = work / f"page-{mode}" / "submissions"
        sizes[mode] = {p.name.split(".", 1)[1]: p.stat().st_size for p in sub.iterdir()}
    blank = work / "blank.html"
    blank.write_text("<!DOCTYPE html><title>blank</title>")
    url = {m: (work / f"page-{m}" / "submissions" / f"{r['result_id']}.html").as_uri() for m in ("before", "after")}
    t: dict[str, list[float]] = {"blank": [], "before": [], "after": []}
    for rep in range(repeat):
        for mode in ("blank", "before", "after"):
            u = blank.as_uri() if mode == "blank" else url[mode]
            t[mode].append(chromium_time(u, shots / f"page-{mode}-{rep}.png"))
    base = min(t["blank"])
    out = {"items": n_items, "sizes": sizes, "render_s": render_s, "blank_min": base,
           **{f"{m}_{k}": f(t[m]) for m in ("before", "after") for k, f in (("min", min), ("median", statistics.median))}}
    print(f"{n_items}-item SQL page: before {sizes['before']} bytes, after {sizes['after']} bytes; render "
          f"before {render_s['before']:.1f} s, after {render_s['after']:.1f} s", flush=True)
    print(f"  chromium --screenshot wall: empty page min {base:.2f} s; before min {out['before_min']:.2f} s median "
          f"{out['before_median']:.2f} s; after min {out['after_min']:.2f} s median {out['after_median']:.2f} s; "
          f"minus start-up: before {out['before_min'] - base:.2f} s, after {out['after_min'] - base:.2f} s", flush=True)
    # the index page of a small site, for the eye
    small = work / "shots-site"
    site.publish_results(small, [make_result(f"model-{i}", GROUPS[i % 2], 300, seed=i) for i in range(6)])
    chromium_time((small / "index.html").as_uri(), shots / "index.png")
    chromium_time(url["after"], shots / "page-after-items.png", height=5200)  # down to the item cards
    print(f"  screenshots: {shots}/page-after-0.png, {shots}/page-before-0.png, {shots}/index.png", flush=True)
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,40,120")
    ap.add_argument("--items", type=int, default=200, help="records per stored result")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--page-items", type=int, default=16000)
    ap.add_argument("--shots", type=Path, default=None, help="where the screenshots go (default: the temp dir, kept)")
    ap.add_argument("--skip-browser", action="store_true")
    ap.add_argument("--skip-publish", action="store_true")
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)", flush=True)
    work = Path(tempfile.mkdtemp(prefix="medbench-bench-publish-"))
    try:
        if not args.skip_publish:
            bench_publish([int(x) for x in args.sizes.split(",")], args.items, args.repeat, work)
        if not args.skip_browser and shutil.which("chromium"):
            shots = args.shots or Path(tempfile.mkdtemp(prefix="medbench-bench-shots-"))
            shots.mkdir(parents=True, exist_ok=True)
            bench_page(args.page_items, args.repeat, work, shots)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
