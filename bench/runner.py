"""Runner throughput: `medbench run`'s path vs a bare openai.AsyncOpenAI loop, side by side.

A loopback OpenAI-compatible server (tests/fake_openai_server.py, in its own process so it does
not share the GIL with the clients) answers every request after a fixed 50 ms, as a real
endpoint would. The same N requests go, at concurrency 32, through:
  bare     - openai.AsyncOpenAI, 32 workers, nothing else
  medbench - medbench.run.run(): prompts, adapter (retry bookkeeping, attempts, pricing),
             response cache writes, parse, submission lines with fsync (group commit)
  litellm  - a plain litellm.acompletion loop (reference)
Rounds alternate to spread machine noise; the best round of each is compared. Then a fully
cached rerun of the same items gives cached items/s.

    .venv/bin/python bench/runner.py [--n 2000] [--rounds 3] [--concurrency 32] [--latency 0.05]
Prints one JSON object; exits 1 when medbench is under 0.8x the bare client (issue 5).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pydantic import ConfigDict

from medbench.tasks.contract import MetricSpec, Record, TaskFamily


class _Item(Record):
    model_config = ConfigDict(extra="allow")


class BenchFamily(TaskFamily):
    """Declares the contract's required parts (medbench.tasks.contract); runs only."""

    name = "bench"
    item_model = _Item
    gold_model = _Item
    prediction_type = str | None
    prompt_templates = ()
    metric_specs = (MetricSpec("n", "n", "num", "n"),)
    headline_metric = "n"
    higher_is_better = True

    def build(self, ctx):
        raise NotImplementedError

    def score_items(self, items, gold_by_id, predictions_by_id, ctx):
        raise NotImplementedError

    def aggregate(self, records):
        raise NotImplementedError

    def render_prompt(self, item, release):
        return [{"role": "user", "content": item["question"]}]

    def parse(self, raw):
        return (raw.strip(), None) if raw else (None, "empty")


FAMILY = BenchFamily()


def make_release(root: Path, n: int) -> Path:
    from medbench.release import TaskOutput, write_release

    items = [{"item_id": f"bench-{i:06d}", "task": "bench", "split": "dev", "subject_id": i,
              "question": f"benchmark question {i}: what is the answer?"} for i in range(n)]
    gold = [{"item_id": it["item_id"], "task": "bench"} for it in items]
    write_release(root / "rel", "benchrel", {"bench": TaskOutput(items, gold)}, {}, None)
    return root / "rel"


async def bare_loop(url: str, messages: list[list[dict]], concurrency: int) -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    it = iter(messages)

    async def worker():
        for m in it:
            r = await client.chat.completions.create(model="bench-model", messages=m, temperature=0.0)
            assert r.choices[0].message.content

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    dt = time.perf_counter() - t0
    await client.close()
    return dt


async def litellm_loop(url: str, messages: list[list[dict]], concurrency: int) -> float:
    from medbench.models.adapter import _lm

    lm = _lm()
    it = iter(messages)

    async def worker():
        for m in it:
            r = await lm.acompletion(model="openai/bench-model", messages=m, api_base=url, api_key="x",
                                     temperature=0.0, num_retries=0)
            assert r.choices[0].message.content

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


MIN_RATIO = 0.8  # issue 5: medbench run reaches at least 0.8x the bare client's items/s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--no-litellm", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="medbench-bench-"))
    try:
        result = _bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = result["ratio_medbench_vs_bare"] >= MIN_RATIO
    result["threshold_met"] = ok
    print(json.dumps(result, indent=2, sort_keys=True))
    print(f"{'met   ' if ok else 'MISSED'} medbench >= {MIN_RATIO:g}x bare client (issue 5): "
          f"{result['ratio_medbench_vs_bare']:.3f}x", file=sys.stderr)
    if not ok:
        sys.exit(1)


def _bench(args: argparse.Namespace, tmp: Path) -> dict:
    os.environ["MEDBENCH_HOME"] = str(tmp / "home")
    os.environ["MEDBENCH_NO_PROGRESS"] = "1"
    from medbench import tasks

    tasks.REGISTRY["bench"] = "__main__"  # this script's FAMILY
    from medbench.models.adapter import resolve
    from medbench.run import run

    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_openai_server.py"),
                               "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        rel = make_release(tmp, args.n)
        msgs = [[{"role": "user", "content": f"benchmark question {i}: what is the answer?"}]
                for i in range(args.n)]
        resolve("openai/bench-model", url, None)  # import litellm outside the timed region
        asyncio.run(bare_loop(url, msgs[:64], args.concurrency))  # warm both paths
        run(rel, "bench", "openai/bench-model", out=tmp / "warm.jsonl", api_base=url, limit=64,
            concurrency=args.concurrency, use_cache=False)
        times: dict[str, list[float]] = {"bare": [], "medbench": [], "litellm": []}
        for r in range(args.rounds):
            times["bare"].append(asyncio.run(bare_loop(url, msgs, args.concurrency)))
            t0 = time.perf_counter()
            s = run(rel, "bench", "openai/bench-model", out=tmp / f"run{r}.jsonl", api_base=url,
                    concurrency=args.concurrency, use_cache=(r == 0))  # round 0 fills the cache
            times["medbench"].append(time.perf_counter() - t0)
            assert s.done == args.n and s.failed == 0 and s.cached == 0
            if not args.no_litellm:
                times["litellm"].append(asyncio.run(litellm_loop(url, msgs, args.concurrency)))
        t0 = time.perf_counter()
        cached = run(rel, "bench", "openai/bench-model", out=tmp / "cached.jsonl", api_base=url,
                     concurrency=args.concurrency)
        cached_s = time.perf_counter() - t0
        assert cached.cached == args.n and cached.requests == 0
    finally:
        server.terminate()
        server.wait()

    best = {k: min(v) for k, v in times.items() if v}
    ips = {k: args.n / v for k, v in best.items()}
    result = {
        "n": args.n, "concurrency": args.concurrency, "latency_s": args.latency, "rounds": args.rounds,
        "ideal_items_per_s": round(args.concurrency / args.latency, 1),
        "items_per_s": {k: round(v, 1) for k, v in ips.items()},
        "ratio_medbench_vs_bare": round(ips["medbench"] / ips["bare"], 3),
        "ratio_litellm_vs_bare": round(ips["litellm"] / ips["bare"], 3) if "litellm" in ips else None,
        "cached_rerun_items_per_s": round(args.n / cached_s, 1),
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items() if v},
        "cpu_count": os.cpu_count(),
    }
    return result


if __name__ == "__main__":
    main()
