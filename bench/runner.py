"""Runner throughput: `medbench run`'s path vs a bare openai.AsyncOpenAI loop, side by side.

A loopback OpenAI-compatible server (tests/fake_openai_server.py, in its own process so it does
not share the GIL with the clients) answers every request after a fixed 50 ms, as a real
endpoint would. For each concurrency (default 32 and 256) the same N requests go through:
  bare     - openai.AsyncOpenAI with an httpx.AsyncClient allowing as many connections as
             medbench's clients do together (`adapter.pool_limits(shards=1)`: 1,000), one
             client, `concurrency` workers, `create()`, nothing else: what a user writes by hand
  medbench - medbench.run.run(): prompts, adapter (retry bookkeeping, attempts, pricing),
             response cache writes, parse, submission lines with fsync (group commit)
  litellm  - a plain litellm.acompletion loop (reference)
  before   - (--before SRC) medbench.run.run() imported from another source tree
Each mode lives in its own long-lived worker process (imports and a warm-up outside the timed
region; peak RSS = that process's own VmHWM). Rounds run the modes interleaved (A B C A B C ...)
and the ratios compare min and median wall time per mode. CPU per request is the worker's
process CPU time (all its threads: event loop, writer thread) per request. The load average
(1 min) is printed before and after each round: the machine may be shared.

    .venv/bin/python bench/runner.py [--n 2000] [--rounds 5] [--concurrency 32,256] [--latency 0.05]
    .venv/bin/python bench/runner.py --profile medbench --concurrency 32   # cProfile, top functions
Prints one JSON object; exits 1 when medbench's median is under 0.8x the bare client's at any
concurrency (issue 5's floor; issue 12's targets, 0.95x at 32 and 0.9x at 256, are reported).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# --before: the "before" worker imports medbench from another checkout (e.g. `git archive` of an
# older commit), so the old and new code run side by side against the same server.
sys.path.insert(0, os.environ.get("MEDBENCH_BENCH_SRC") or str(REPO))

MIN_RATIO = 0.8  # issue 5: medbench run reaches at least 0.8x the bare client's items/s
TARGETS = {32: 0.95, 256: 0.9}  # issue 12
MODES = ("bare", "medbench", "litellm", "before")


# --------------------------------------------------------------------------- the bench task family
def _family():
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

    return BenchFamily()


FAMILY = None  # set in the medbench worker (tasks.REGISTRY["bench"] points at this module)


def _question(i: int) -> str:
    return f"benchmark question {i}: what is the answer?"


def make_release(root: Path, n: int) -> Path:
    from medbench.release import TaskOutput, write_release

    items = [{"item_id": f"bench-{i:06d}", "task": "bench", "split": "dev", "subject_id": i,
              "question": _question(i)} for i in range(n)]
    gold = [{"item_id": it["item_id"], "task": "bench"} for it in items]
    write_release(root / "rel", "benchrel", {"bench": TaskOutput(items, gold)}, {}, None)
    return root / "rel"


# --------------------------------------------------------------------------- measurement helpers
def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak RSS of a process (VmHWM from /proc/PID/status), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    """utime + stime of another process (/proc/PID/stat), seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


# --------------------------------------------------------------------------- the loops
def bare_client(url: str, concurrency: int):
    import httpx
    import openai

    from medbench.models.adapter import pool_limits

    return openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0,
                              http_client=httpx.AsyncClient(limits=pool_limits(shards=1), timeout=None))


async def bare_loop(url: str, messages: list[list[dict]], concurrency: int) -> None:
    client = bare_client(url, concurrency)
    it = iter(messages)

    async def worker():
        for m in it:
            r = await client.chat.completions.create(model="bench-model", messages=m, temperature=0.0)
            assert r.choices[0].message.content

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.close()


async def litellm_loop(url: str, messages: list[list[dict]], concurrency: int) -> None:
    from medbench.models.adapter import _lm

    lm = _lm()
    it = iter(messages)

    async def worker():
        for m in it:
            r = await lm.acompletion(model="openai/bench-model", messages=m, api_base=url, api_key="x",
                                     temperature=0.0, num_retries=0)
            assert r.choices[0].message.content

    await asyncio.gather(*(worker() for _ in range(concurrency)))


# --------------------------------------------------------------------------- worker process
def worker_main(mode: str, url: str, n: int, concurrency: int, rel: Path, tmp: Path, profile: bool) -> None:
    """One mode, many rounds: reads a round number per stdin line, answers one JSON line."""
    os.environ["MEDBENCH_HOME"] = str(tmp / f"home-{mode}")
    os.environ["MEDBENCH_NO_PROGRESS"] = "1"
    global FAMILY
    FAMILY = _family()
    from medbench import tasks
    from medbench.models.adapter import resolve
    from medbench.run import run

    tasks.REGISTRY["bench"] = "__main__"  # this script's FAMILY
    shutil.rmtree(tmp / f"home-{mode}", ignore_errors=True)  # no cache left by another concurrency
    resolve("openai/bench-model", url, None)  # import litellm outside the timed region
    msgs = [[{"role": "user", "content": _question(i)}] for i in range(n)]

    def one(r: int, limit: int | None = None) -> None:
        if mode == "bare":
            asyncio.run(bare_loop(url, msgs[:limit], concurrency))
        elif mode == "litellm":
            asyncio.run(litellm_loop(url, msgs[:limit], concurrency))
        else:  # medbench, before
            out = tmp / f"{mode}-c{concurrency}-r{r}.jsonl"
            s = run(rel, "bench", "openai/bench-model", out=out, api_base=url, limit=limit,
                    concurrency=concurrency, use_cache=True)
            assert s.failed == 0 and s.cached == 0 and s.done == (limit or n), s
            out.unlink()

    one(-1, limit=min(n, 4 * concurrency))  # warm-up: connections, caches, code paths
    if mode in ("medbench", "before"):  # each round writes a fresh cache, as a first run does
        shutil.rmtree(tmp / f"home-{mode}", ignore_errors=True)
    print(json.dumps({"ready": True}), flush=True)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    for line in sys.stdin:
        r = int(line)
        if mode in ("medbench", "before"):
            shutil.rmtree(tmp / f"home-{mode}", ignore_errors=True)
        c0, t0 = time.process_time(), time.perf_counter()
        if prof is not None:
            prof.enable()
        one(r)
        if prof is not None:
            prof.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(json.dumps({"wall_s": wall, "cpu_s": cpu, "hwm_mb": vm_hwm_mb()}), flush=True)
    if prof is not None:
        import pstats

        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(35)


# --------------------------------------------------------------------------- parent
def bench_concurrency(args, c: int, url: str, server_pid: int, rel: Path, tmp: Path, modes: list[str]) -> dict:
    procs = {}
    for m in modes:
        procs[m] = subprocess.Popen(
            [sys.executable, __file__, "--worker", m, "--url", url, "--n", str(args.n), "--concurrency", str(c),
             "--rel", str(rel), "--tmp", str(tmp), *(["--profile-worker"] if args.profile == m else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(REPO),
            env={**os.environ, "PYTHONPATH": str(REPO), "MEDBENCH_BENCH_SRC": args.before if m == "before" else ""})
    for m, p in procs.items():
        ready = p.stdout.readline()
        if not ready:
            raise SystemExit(f"worker {m} failed to start")
    rounds: list[dict] = []
    try:
        for r in range(args.rounds):
            for m in modes:  # interleaved: A B C, A B C, ...
                la0, s0 = loadavg(), proc_cpu_s(server_pid)
                p = procs[m]
                p.stdin.write(f"{r}\n")
                p.stdin.flush()
                res = json.loads(p.stdout.readline())
                s1 = proc_cpu_s(server_pid)
                res.update(mode=m, round=r, load_before=la0, load_after=loadavg(),
                           server_cpu_s=None if s0 is None or s1 is None else round(s1 - s0, 3))
                rounds.append(res)
                print(f"c={c} round {r} {m:8s} {args.n / res['wall_s']:8.1f} items/s  "
                      f"cpu {1000 * res['cpu_s'] / args.n:.3f} ms/req  load {la0}", file=sys.stderr)
    finally:
        for p in procs.values():
            p.stdin.close()
        for p in procs.values():
            p.wait(120)
    out: dict = {"concurrency": c, "ideal_items_per_s": round(c / args.latency, 1), "modes": {}}
    for m in modes:
        rs = [x for x in rounds if x["mode"] == m]
        walls = [x["wall_s"] for x in rs]
        out["modes"][m] = {
            "items_per_s_best": round(args.n / min(walls), 1),
            "items_per_s_median": round(args.n / statistics.median(walls), 1),
            "cpu_ms_per_request_median": round(1000 * statistics.median(x["cpu_s"] for x in rs) / args.n, 3),
            "server_cpu_ms_per_request_median": round(
                1000 * statistics.median(x["server_cpu_s"] or 0 for x in rs) / args.n, 3),
            "peak_rss_mb": round(max(x["hwm_mb"] or 0 for x in rs), 1),
            "wall_s": [round(w, 3) for w in walls],
        }
    bare = out["modes"]["bare"]
    for m in modes:
        if m == "bare":
            continue
        out[f"ratio_{m}_vs_bare_best"] = round(out["modes"][m]["items_per_s_best"] / bare["items_per_s_best"], 3)
        out[f"ratio_{m}_vs_bare_median"] = round(
            out["modes"][m]["items_per_s_median"] / bare["items_per_s_median"], 3)
    out["load_avg_1min"] = {"min": min(x["load_before"] for x in rounds),
                            "max": max(x["load_after"] for x in rounds)}
    if c in TARGETS:
        out["target_vs_bare"] = TARGETS[c]
        out["target_met_median"] = out["ratio_medbench_vs_bare_median"] >= TARGETS[c]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", default="32,256")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--no-litellm", action="store_true")
    ap.add_argument("--before", metavar="SRC", help="also run `medbench run` from this source tree (mode 'before')")
    ap.add_argument("--profile", choices=MODES, help="cProfile that mode's rounds (top functions on stderr)")
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--rel", help=argparse.SUPPRESS)
    ap.add_argument("--tmp", help=argparse.SUPPRESS)
    ap.add_argument("--profile-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker, args.url, args.n, int(args.concurrency), Path(args.rel), Path(args.tmp),
                    args.profile_worker)
        return

    modes = [m for m in MODES if not (m == "litellm" and args.no_litellm) and not (m == "before" and not args.before)]
    tmp = Path(tempfile.mkdtemp(prefix="medbench-bench-"))
    os.environ["MEDBENCH_HOME"] = str(tmp / "home")
    server = subprocess.Popen([sys.executable, str(REPO / "tests" / "fake_openai_server.py"),
                               "--latency", str(args.latency)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        rel = make_release(tmp, args.n)
        result = {"n": args.n, "rounds": args.rounds, "latency_s": args.latency, "cpu_count": os.cpu_count(),
                  "load_avg_start": [round(x, 2) for x in os.getloadavg()], "by_concurrency": []}
        for c in [int(x) for x in args.concurrency.split(",")]:
            result["by_concurrency"].append(bench_concurrency(args, c, url, server.pid, rel, tmp, modes))
        result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    ok = all(b["ratio_medbench_vs_bare_median"] >= MIN_RATIO for b in result["by_concurrency"])
    result["floor_met"] = ok
    print(json.dumps(result, indent=2, sort_keys=True))
    for b in result["by_concurrency"]:
        t = b.get("target_vs_bare")
        print(f"c={b['concurrency']}: medbench/bare median {b['ratio_medbench_vs_bare_median']:.3f}x, best "
              f"{b['ratio_medbench_vs_bare_best']:.3f}x" + (f" (target {t}x: "
              f"{'met' if b['target_met_median'] else 'MISSED'})" if t else ""), file=sys.stderr)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
