"""EHRSQL 2024 parity: medbench scores exactly as the shared task's official scoring program.

The official program (`../shared/data/ehrsql-2024/official_scoring/`, a reference oracle) runs
unmodified in its own process, on a temporary copy of the SQLite database, on the same
predictions as medbench: seven submissions built from EHRSQL valid (gold, wrong, abstain, invalid,
other items' gold, dialect edge cases, empty queries). RS(0), RS(5), RS(10), RS(N) must agree to 1e-5 and every
per-item score must be identical, on the items medbench scores (it excludes the items whose gold
reads the empty chartevents table, and says so).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EHRSQL_DIR, run_cli

OFFICIAL = EHRSQL_DIR / "official_scoring"
pytestmark = pytest.mark.skipif(not OFFICIAL.is_dir(), reason=f"shared data not available: {OFFICIAL}")

# Runs the official scoring.py as published (runpy, so its module globals — the executed answers —
# can be read back afterwards), then its own reliability_score/penalize per submission.
DRIVER = r'''
import json, runpy, sys
here, in_dir, out_dir = sys.argv[1:4]
sys.path.insert(0, here)
sys.argv = ["scoring.py", in_dir, out_dir]
g = runpy.run_path(here + "/scoring.py", run_name="__main__")
from scoring_utils import reliability_score, penalize
_, per_item = reliability_score(g["real_result"], g["pred_result"], return_dict=True)
subs = sorted({k.split(":", 1)[0] for k in per_item})
out = {"per_item": per_item, "rs": {}}
for s in subs:
    scores = [per_item[k] for k in sorted(per_item) if k.split(":", 1)[0] == s]
    out["rs"][s] = {"rs0": 100 * penalize(scores, 0), "rs5": 100 * penalize(scores, 5),
                    "rs10": 100 * penalize(scores, 10), "rsN": 100 * penalize(scores, len(scores))}
json.dump(out, open(out_dir + "/per_item.json", "w"))
'''


def _load(name: str):
    return json.loads((EHRSQL_DIR / "valid" / name).read_text())


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """A 1-in-7 sample of EHRSQL valid (every kind of item, chartevents ones included), imported."""
    root = tmp_path_factory.mktemp("parity")
    data, labels, answers = _load("data.json"), _load("label.json"), _load("answer.json")
    chart = set(_load("needs_chartevents.json"))
    rows = sorted(data["data"], key=lambda r: r["id"])[::7]
    src = root / "ehrsql"
    (src / "valid").mkdir(parents=True)
    ids = [r["id"] for r in rows]
    (src / "valid" / "data.json").write_text(json.dumps({"version": data.get("version"), "data": rows}))
    (src / "valid" / "label.json").write_text(json.dumps({i: labels[i] for i in ids}))
    (src / "valid" / "answer.json").write_text(json.dumps({i: answers[i] for i in ids}))
    (src / "valid" / "needs_chartevents.json").write_text(json.dumps(sorted(chart & set(ids))))
    shutil.copy(EHRSQL_DIR / "tables.json", src / "tables.json")
    out = root / "release"
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(src), "--db", str(EHRSQL_DIR / "mimic_iv.sqlite.gz"),
                   "--split", "valid", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {"release": out, "ids": ids, "labels": {i: labels[i] for i in ids}, "chart": chart & set(ids)}


def _edge(sql: str, k: int) -> str:
    """Dialect edge cases of the shared task's rules, applied to a gold query."""
    variants = [
        lambda q: q.replace(" = ", "   =\n "),  # newlines and runs of spaces
        lambda q: q.replace(">=", "> =").replace("<=", "< ="),  # '> =' spelled apart
        lambda q: q.replace("current_time", "CURRENT_TIME"),  # SQLite's real clock: not pinned
        lambda q: q.replace("current_time", "'now'"),  # pinned like current_time
        lambda q: q.replace("SELECT COUNT(", "SELECT 1.0 * COUNT("),  # 1 and 1.0 compare equal
        lambda q: q.replace("SELECT COUNT(", "SELECT 1.0001 * COUNT("),  # rounds differently
        lambda q: q.replace("datetime(current_time,'-1 year')", "DATE_SUB(NOW(), INTERVAL 1 YEAR)"),
        lambda q: q.replace("datetime(current_time,'-1 year')", "date_sub(now(), interval 1 year)"),  # lower case
        lambda q: q.replace("%Y", "%y"),  # strftime %y → %Y
        lambda q: q + " ;",
        lambda q: q.replace("SELECT ", "SELECT ALL ", 1),
        lambda q: "NULL",  # SQL, not an abstention
        lambda q: " null\n",  # an abstention
        lambda q: "SELECT heart_rate_lower, heart_rate_upper",  # vital placeholders
    ]
    return variants[k % len(variants)](sql)


def _submissions(mini) -> dict[str, dict[str, str]]:
    ids, labels = mini["ids"], mini["labels"]
    answerable = [i for i in ids if labels[i] != "null"]
    subs: dict[str, dict[str, str]] = {}
    subs["gold"] = {i: labels[i] for i in ids}
    subs["abstain"] = {i: "null" for i in ids}
    subs["mixed"] = {i: [labels[i], "null", labels[answerable[(k + 1) % len(answerable)]]][k % 3]
                     for k, i in enumerate(ids)}
    subs["invalid"] = {i: ["SELECT * FROM no_such_table", "SELEC 1", "SELECT 1; SELECT 2", "SELECT 42",
                           "NULL", "SELECT subject_id FROM patients"][k % 6] for k, i in enumerate(ids)}
    subs["edge"] = {i: _edge(labels[i] if labels[i] != "null" else "SELECT COUNT(*) FROM patients", k)
                    for k, i in enumerate(ids)}
    # no statement at all: the official scorer runs it and gets no rows (`[]`), right where the gold
    # answer is empty (one such item is in the sample), wrong elsewhere
    subs["empty"] = {i: ["", "  \n ", "-- nothing", ";"][(k // 2) % 4] if k % 2 == 0 else labels[i]
                     for k, i in enumerate(ids)}
    subs["edge2"] = {i: _edge(labels[answerable[(k * 5) % len(answerable)]], k + 3) if k % 4 else labels[i]
                     for k, i in enumerate(ids)}
    return subs


def _official(tmp: Path, mini, subs) -> dict:
    prog = tmp / "official"
    prog.mkdir()
    for name in ("scoring.py", "scoring_utils.py", "postprocessing.py"):
        shutil.copy(OFFICIAL / name, prog / name)
    shutil.copy(mini["release"] / "sql" / "database.sqlite", prog / "mimic_iv.sqlite")
    (tmp / "in" / "ref").mkdir(parents=True)
    (tmp / "in" / "res").mkdir(parents=True)
    (tmp / "out").mkdir()
    ref = {f"{s}:{i}": mini["labels"][i] for s in subs for i in mini["ids"]}
    pred = {f"{s}:{i}": p for s, preds in subs.items() for i, p in preds.items()}
    (tmp / "in" / "ref" / "label.json").write_text(json.dumps(ref))
    (tmp / "in" / "res" / "prediction.json").write_text(json.dumps(pred))
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(prog), str(tmp / "in"), str(tmp / "out")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp / "out" / "per_item.json").read_text())


@pytest.mark.slow
def test_rs_and_per_item_outcomes_equal_the_official_scorer(mini, tmp_path):
    from medbench.release import open_release
    from medbench.tasks.sql import FAMILY

    subs = _submissions(mini)
    official = _official(tmp_path, mini, subs)
    rel = open_release(mini["release"])
    items = rel.items("sql", "dev")
    gold = rel.gold("sql", "dev")
    source = {iid: g["source_id"] for iid, g in gold.items()}
    scored = set(source.values())
    assert scored == set(mini["ids"]) - mini["chart"] and mini["chart"]  # chartevents items excluded
    for name, preds in subs.items():
        by_item = {it["item_id"]: preds[source[it["item_id"]]] for it in items}
        records = FAMILY.score_items(items, gold, by_item, {"release": rel, "workers": 2})
        ours = {source[r["item_id"]]: r["score"] for r in records}
        theirs = {k.split(":", 1)[1]: v for k, v in official["per_item"].items() if k.startswith(name + ":")}
        diff = {i: (ours[i], theirs[i], preds[i]) for i in ours if ours[i] != theirs[i]}
        assert not diff, (name, list(diff.items())[:5])
        # RS over the items medbench scores: the official formula on the official per-item scores
        kept = [theirs[i] for i in sorted(ours)]
        want = {"rs0": 100 * sum(s if s > 0 else 0 for s in kept) / len(kept)}
        for c in (5, 10):
            want[f"rs{c}"] = 100 * sum(s * c if s < 0 else s for s in kept) / len(kept)
        want["rsN"] = 100 * sum(s * len(kept) if s < 0 else s for s in kept) / len(kept)
        got = FAMILY.aggregate(records)
        for m, v in want.items():
            assert got[m] == pytest.approx(v, abs=1e-5), (name, m)
    # the official program's own RS on every item of a submission (chartevents items included)
    # equals medbench's --official-denominator figure only when those items score 0; shown here for
    # the all-abstain submission, where they do (abstaining on an answerable item scores 0)
    rs = official["rs"]["abstain"]
    assert rs["rs10"] == pytest.approx(100 * sum(1 for i in mini["ids"] if mini["labels"][i] == "null")
                                       / len(mini["ids"]), abs=1e-5)
    # the submissions really differ (the comparison is not vacuous)
    per_sub = {s: sorted(v for k, v in official["per_item"].items() if k.startswith(s + ":")) for s in subs}
    assert len({tuple(v) for v in per_sub.values()}) == len(subs)
    assert {-1, 0, 1} <= set(official["per_item"].values())


def test_excluded_items_are_reported_with_reason_and_official_denominator(mini, tmp_path):
    from medbench.release import open_release

    rel = open_release(mini["release"])
    items = rel.items("sql", "dev")
    gold = rel.gold("sql", "dev")
    lines = [{"type": "header", "schema_version": 1, "model": "gold-sql", "task": "sql", "split": "dev",
              "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "0.1.0",
              "params": {}, "created": "2025-01-02T03:04:05Z"}]
    for it in items:
        lines.append({"item_id": it["item_id"], "prediction": gold[it["item_id"]]["sql"], "raw_output": None,
                      "parse_error": None, "error": None, "usage": {"prompt_tokens": 0, "completion_tokens": 0},
                      "cost_usd": None, "latency_s": None})
    sub = tmp_path / "gold.jsonl"
    sub.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = run_cli("score", str(sub), "--benchmark", str(mini["release"]), "--no-publish", "--json",
                   "--official-denominator", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    n_chart = len(mini["chart"])
    assert out["excluded"]["n_excluded"] == n_chart and "chartevents" in out["excluded"]["reason"]
    od = out["excluded"]["official_denominator"]
    assert od["n"] == len(items) + n_chart
    assert out["metrics"]["rs10"] == pytest.approx(100.0)
    assert od["rs10"] == pytest.approx(100.0 * len(items) / (len(items) + n_chart), abs=1e-5)
    lb = tmp_path / "lb"
    proc = run_cli("score", str(sub), "--benchmark", str(mini["release"]), "--leaderboard", str(lb), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert f"excluded from the release: {n_chart} item(s)" in proc.stdout + proc.stderr
    html = (lb / "index.html").read_text()
    assert f"{n_chart} source items excluded: {n_chart} gold SQL reads the chartevents table" in html
    assert f"n={len(items)}</span>" in html  # EHRSQL: each item its own cluster


@pytest.mark.serial  # timed: run alone in `make test`'s serial pass
def test_normaliser_is_linear_in_the_text_size():
    """A 100 KB hostile prediction normalises in well under a second (every rule is one pass)."""
    from medbench.tasks.sql.normalize import normalize_ehrsql

    hostile = ["DATE_SUB('" * 10_000, "DATE_SUB('x'" + ", " * 50_000, " a_lower" * 12_500,
               "x" * 100_000 + "_lower _upper", "DATE_SUB(" + "a" * 100_000, "SELECT" + " " * 100_000 + "1",
               "'" * 100_000, "current_time" * 8_500, ("DATE_ADD(NOW(), INTERVAL 1 DAY) " * 3_200)]
    for text in hostile:
        t = time.perf_counter()
        normalize_ehrsql(text)
        assert time.perf_counter() - t < 0.5, text[:40]
    # the rules themselves (the official scorer's behaviour, case-sensitive)
    assert normalize_ehrsql("SELECT DATE_SUB(NOW(), INTERVAL 1 YEAR)") == \
        "SELECT datetime('2100-12-31 23:59:00', '-1 year')"
    assert normalize_ehrsql("select date_sub(now(), interval 2 day)") == "select date_sub(now(), interval 2 day)"
    assert normalize_ehrsql("a >  = b AND CURRENT_TIME < current_time") == \
        "a >= b AND CURRENT_TIME < '2100-12-31 23:59:00'"
    assert normalize_ehrsql("x heart_rate_lower y heart_rate_upper") == "x 60.0 y 100.0"


@pytest.mark.slow
def test_result_bytes_independent_of_load_and_cache(mini, tmp_path, monkeypatch):
    """One submission with fast, slow and runaway queries, scored idle, with two CPU burners
    beside it (cache wiped), and again from the cache: the same result bytes. Runaway queries
    stop on SQLite's deterministic work budget and are recorded as resource_limit."""
    from medbench.io import canonical_json
    from medbench.pipeline import score_file
    from medbench.release import open_release
    from medbench.tasks.sql import cache

    rel = open_release(mini["release"])
    items = rel.items("sql", "dev")
    gold = rel.gold("sql", "dev")
    runaway = "SELECT COUNT(*) FROM labevents a, labevents b WHERE a.valuenum < b.valuenum"
    slow = "SELECT COUNT(*) FROM labevents a JOIN labevents b ON a.itemid = b.itemid AND a.subject_id = b.subject_id"
    lines = [{"type": "header", "schema_version": 1, "model": "mixed", "task": "sql", "split": "dev",
              "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "0.1.0",
              "params": {}, "created": "2025-01-02T03:04:05Z"}]
    for k, it in enumerate(items):
        pred = [gold[it["item_id"]]["sql"] or "null", slow, runaway if k < 12 else "SELECT 1"][k % 3]
        lines.append({"item_id": it["item_id"], "prediction": pred, "raw_output": None, "parse_error": None,
                      "error": None, "usage": {"prompt_tokens": 0, "completion_tokens": 0}, "cost_usd": None,
                      "latency_s": None})
    sub = tmp_path / "mixed.jsonl"
    sub.write_text("".join(json.dumps(x) + "\n" for x in lines))
    home = tmp_path / "home"
    monkeypatch.setenv("MEDBENCH_HOME", str(home))

    def once() -> str:
        cache.clear_memo()
        r = score_file(sub, benchmark=mini["release"], publish=False, workers=2, show_progress=False).result
        r.pop("created", None)
        return canonical_json(r)

    idle = once()
    shutil.rmtree(home / "cache")
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = once()
    finally:
        for p in burners:
            p.kill()
            p.wait()
    cached = once()
    assert idle == loaded == cached
    result = json.loads(idle)
    limited = [r for r in result["records"] if r["resource_limit"]]
    assert len(limited) == result["counts"]["resource_limit"] == 4
    assert all(r["error"].startswith("resource_limit: query exceeded the work budget") for r in limited)
    assert result["metrics"]["resource_limit_rate"] == pytest.approx(100 * 4 / len(items))
