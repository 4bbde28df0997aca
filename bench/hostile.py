"""Hostile inputs: wall time, parent peak RSS and outcome of `medbench score` per case.

    PYTHONPATH=. python bench/hostile.py RELEASE_DIR [EHRSQL_RELEASE_DIR]

RELEASE_DIR: a release with sql, icd and conversation (`medbench synth --patients 12 --seed 0` +
`medbench build --tasks sql,icd,conversation --seed 0`); EHRSQL_RELEASE_DIR (optional): an
`import-ehrsql` release of EHRSQL valid (the SQLite normaliser cases). Each case runs
`main.py score --no-publish --json --timeout 4 --workers 2` in a fresh process; the parent's peak
RSS is that process's own high-water mark (`VmHWM`, /proc/self/status), written at exit (the SQL workers are
separate processes under RLIMIT_AS and are not counted). `tests/test_hostile_rss.py` runs the same
cases and asserts each within 30 s and under 1 GB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: runs main.py as `python main.py ARGS` would, and writes its own peak RSS (KiB) at exit
#: VmHWM (this address space's own high-water mark), not ru_maxrss: Linux carries the pre-exec
#: address space's peak into ru_maxrss, and a child spawned by a 1.3 GB pytest process would
#: report the pytest process's size
WRAPPER = r"""
import atexit, resource, runpy, sys
out = sys.argv.pop(1)
def peak_kib():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
atexit.register(lambda: open(out, "w").write(str(peak_kib())))
sys.argv[0] = sys.argv[1]
del sys.argv[1]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _submission(work: Path, release, name: str, task: str, split: str, preds: dict, **extra) -> Path:
    head = {"type": "header", "schema_version": 1, "model": "m", "task": task, "split": split,
            "benchmark": {"name": release.name, "sha256": release.sha256}, "medbench_version": "x", "params": {},
            "created": "2020-01-01T00:00:00Z"}
    path = work / f"{name}.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps(head) + "\n")
        f.writelines(json.dumps({"item_id": k, "prediction": v, **extra}) + "\n" for k, v in preds.items())
    return path


def _max_conversation(item: dict | None = None, n_turns: int = 500, chars: int = 199_000) -> dict:
    """A schema-valid conversation at the caps (500 turns, ~200,000 characters of text, timestamps
    inside the item's admission), with words every metric must look at."""
    filler = ("the patient was admitted with chest pain and the troponin results came back high so "
              "we started heparin aspirin and moved you to the icu overnight before discharge home ")
    when = ((item or {}).get("packet") or {}).get("admission", {}).get("admittime") or "2100-01-01 00:00:00"
    per = chars // n_turns - len(when) - 40  # keys and speaker names count as text too
    text = (filler * (per // len(filler) + 1))[:per]
    return {"turns": [{"timestamp": when, "speaker": "doctor" if k % 2 == 0 else "patient", "text": text}
                      for k in range(n_turns)]}


def _normaliser_line(size: int) -> str:
    """Text that made the old EHRSQL normaliser quadratic: many rule triggers, unclosed literals."""
    unit = "DATE_SUB('2100-01-01'  , INTERVAL 1 DAY  heart_rate_lower current_time NOW() %y > = "
    return ("SELECT " + unit * (size // len(unit) + 1))[:size]


def cases(release_dir: str | Path, ehrsql_dir: str | Path | None, work: Path,
          n_huge: int = 3) -> dict[str, tuple[Path, Path]]:
    """{case name: (submission, release)}: the hostile cases of issue 15 (`n_huge`: items per
    huge-answer case; each costs DuckDB ~1.5 s of CPU to build its 100 MB, in its worker)."""
    from medbench.release import open_release

    r = open_release(release_dir)
    icd, sql_dev = sorted(r.gold("icd", "train")), sorted(r.gold("sql", "dev"))
    conv_items = {it["item_id"]: it for it in r.items("conversation", "train")}
    conv = sorted(conv_items)
    out: dict[str, tuple[Path, Path]] = {}

    def add(name, task, split, preds, rel=r, **extra):
        out[name] = (_submission(work, rel, name.split(":")[0].replace(" ", "_") + str(len(out)), task, split,
                                 preds, **extra), Path(rel.path))

    add("icd: one item with 85,000 junk codes (1 MB line)", "icd", "train",
        {icd[0]: [f"Z{n:06d}" for n in range(85_000)], **{i: ["I10"] for i in icd[1:]}})
    add(f"icd: every item ({len(icd)}) 200 distinct junk codes of 32 characters (at the caps)", "icd", "train",
        {i: [f"Z{k:03d}{i[-8:]}".ljust(32, "X") for k in range(200)] for i in icd})
    add("sql: three 800 KB predictions", "sql", "dev",
        {i: "SELECT " + " + ".join(["1"] * 200_000) for i in sql_dev[:3]})
    add("sql: 20 items each a distinct 20,000-character query (at the cap)", "sql", "dev",
        {i: ("SELECT " + " + ".join(["1"] * 5_000))[:19_990] + f" + {n}" for n, i in enumerate(sql_dev[:20])})
    add(f"sql: {n_huge} items each answering ~100 MB (100 rows of 1 MB)", "sql", "dev",
        {i: f"SELECT repeat('x', 1000000) || range || '{n}' AS a FROM range(100)"
         for n, i in enumerate(sql_dev[:n_huge])})
    add(f"sql: {n_huge} items each answering one 100 MB value", "sql", "dev",
        {i: f"SELECT repeat('x', 100000000) || '{n}' AS a" for n, i in enumerate(sql_dev[n_huge:2 * n_huge])})
    add("sql: a query past DuckDB's 2 s progress-bar delay, --json", "sql", "dev",
        {sql_dev[0]: "SELECT count(*) FROM range(3000000000) a"})
    add('usage: "cost_usd": true', "icd", "train", {icd[0]: ["I10"]}, cost_usd=True)
    add(f"conversation: every item ({len(conv)}) at the caps (500 turns, 199,000 characters)", "conversation",
        "train", {i: _max_conversation(conv_items[i]) for i in conv})
    add("conversation: one 1 MB line (over the cap)", "conversation", "train",
        {conv[0]: _max_conversation(conv_items[conv[0]], 500, 900_000), **{i: None for i in conv[1:]}})
    if ehrsql_dir is not None:
        e = open_release(ehrsql_dir)
        ids = sorted(e.gold("sql", "dev"))
        add(f"ehrsql: every item ({len(ids)}) a 110 KB normaliser line (over the cap)", "sql", "dev",
            {i: _normaliser_line(110_000) for i in ids}, rel=e)
        add("ehrsql: 60 items each a distinct 20,000-character normaliser line (at the cap)", "sql",
            "dev", {i: _normaliser_line(19_990) + f" {n}" for n, i in enumerate(ids[:60])}, rel=e)
    return out


def measure(sub: Path, release_dir: Path, env: dict) -> dict:
    """One `medbench score` process: exit code, wall seconds, parent peak RSS (MB), stdout JSON."""
    with tempfile.NamedTemporaryFile(suffix=".rss", delete=False) as f:
        rss_file = f.name
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-c", WRAPPER, rss_file, str(REPO / "main.py"), "score", str(sub),
                        "--benchmark", str(release_dir), "--no-publish", "--json", "--timeout", "4",
                        "--workers", "2"], capture_output=True, text=True, env=env, check=False, timeout=600)
    wall = time.monotonic() - t
    try:
        rss_mb = int(Path(rss_file).read_text()) / 1024
    except (OSError, ValueError):
        rss_mb = float("nan")
    finally:
        Path(rss_file).unlink(missing_ok=True)
    try:
        summary = json.loads(p.stdout)
    except ValueError:
        summary = None
    return {"rc": p.returncode, "wall_s": wall, "rss_mb": rss_mb, "summary": summary, "stderr": p.stderr}


def main(release_dir: str, ehrsql_dir: str | None = None, only: str | None = None) -> None:
    work = Path(tempfile.mkdtemp(prefix="medbench-hostile-"))
    env = dict(os.environ, PYTHONPATH=str(REPO), MEDBENCH_HOME=str(work / "home"), MEDBENCH_NO_PROGRESS="1")
    for name, (sub, rel) in cases(release_dir, ehrsql_dir, work).items():
        if only and only not in name:
            continue
        m = measure(sub, rel, env)
        s = m["summary"] or {}
        print(f"{name}: exit {m['rc']}, {m['wall_s']:.1f} s, parent peak RSS {m['rss_mb']:.0f} MB, "
              f"{'stdout one JSON document' if m['summary'] is not None else 'stdout not JSON'}, "
              f"n_items {s.get('n_items')}", flush=True)
    print("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main(*sys.argv[1:4])  # RELEASE [EHRSQL_RELEASE [only cases whose name holds this]]
