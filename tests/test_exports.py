"""Exports of a release: HF datasets (Parquet + card, gold guard) and inspect_ai task files scored by
medbench's own scorers (offline, inspect's mockllm), and `import-inspect` back to a submission."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, inspect_mock_model, run_cli

from medbench.export.licence import release_licence
from medbench.release import open_release


@pytest.fixture(scope="module")
def small_release(demo_store, tmp_path_factory) -> Path:
    from medbench.build import build_release

    root = tmp_path_factory.mktemp("export_release")
    con = demo_store.connect()
    try:
        ids = [r[0] for r in con.execute(
            "SELECT DISTINCT subject_id FROM diagnoses_icd WHERE icd_version = 10 ORDER BY subject_id LIMIT 14"
        ).fetchall()]
    finally:
        con.close()
    cohort = root / "cohort.csv"
    cohort.write_text("subject_id\n" + "".join(f"{s}\n" for s in ids))
    build_release(store=demo_store, out=root / "rel", name="exp", tasks="sql,icd", cohort=cohort,
                  show_progress=False, sql_max_per_patient=2,
                  source_licence="credentialed")  # as real MIMIC-IV: gold export needs --i-hold-the-data
    return root / "rel"


def test_licence_rule():
    lic, credentialed = release_licence({"source": {"licence": "synthetic"}})
    assert credentialed is False and "synthetic" in lic.lower()
    lic, credentialed = release_licence({"source": {"licence": "odbl"}})
    assert credentialed is False and "ODbL" in lic
    assert release_licence({})[1] is True  # nothing known: treated as credentialed
    assert release_licence({"source": {"kind": "synthetic"}})[1] is True  # only the recorded licence counts
    assert release_licence({"source": {"licence": "credentialed"}})[1] is True


def test_hf_export_loads_with_datasets(small_release, tmp_path):
    import datasets

    rel = open_release(small_release)
    out = tmp_path / "hf"
    proc = run_cli("export", str(small_release), "--format", "hf", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    card = (out / "README.md").read_text()
    assert rel.sha256 in card and "Credentialed" in card and "`item_id`" in card
    for task in ("sql", "icd"):
        ds = datasets.load_dataset(str(out), task, cache_dir=str(tmp_path / "hf_cache"))
        for split in ("train", "dev", "test"):
            items = rel.items(task, split)
            assert ds[split].num_rows == len(items) > 0
            assert ds[split]["item_id"] == [it["item_id"] for it in items]
        row = ds["dev"][0]
        item = rel.items(task, "dev")[0]
        assert {k: row[k] for k in item} == item  # scalar fields keep their values and types
        assert not any(k in row for k in ("sql", "codes", "answer", "titles"))  # no gold column
    # byte-identical on a second export (deterministic Parquet and card)
    again = tmp_path / "hf2"
    assert run_cli("export", str(small_release), "--format", "hf", "--out", str(again)).returncode == 0
    for p in sorted(out.rglob("*.parquet")):
        assert p.read_bytes() == (again / p.relative_to(out)).read_bytes()


def test_hf_gold_export_refused_for_credentialed_unless_held(small_release, tmp_path):
    out = tmp_path / "gold"
    assert_one_line_error(run_cli("export", str(small_release), "--format", "hf", "--out", str(out),
                                  "--with-gold"), "--i-hold-the-data")
    assert not out.exists()
    proc = run_cli("export", str(small_release), "--format", "hf", "--out", str(out), "--with-gold",
                   "--i-hold-the-data", "--split", "dev")
    assert proc.returncode == 0, proc.stderr
    import datasets

    gold = datasets.load_dataset(str(out), "icd_gold", cache_dir=str(tmp_path / "hf_cache"))["dev"]
    rel = open_release(small_release)
    assert gold["item_id"] == [it["item_id"] for it in rel.items("icd", "dev")]
    assert [json.loads(c) for c in gold["codes"]] == [rel.gold("icd", "dev")[i]["codes"] for i in gold["item_id"]]


def _headline(submission: Path, release: Path) -> dict:
    proc = run_cli("score", str(submission), "--benchmark", str(release), "--no-publish", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["headline"]


def test_inspect_eval_scores_equal_medbench_score(small_release, tmp_path):
    pytest.importorskip("inspect_ai")
    from inspect_ai import eval as inspect_eval

    rel = open_release(small_release)
    out = tmp_path / "inspect"
    proc = run_cli("export", str(small_release), "--format", "inspect", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "medbench_icd.py").is_file() and (out / "medbench_sql.py").is_file()

    # A mock model that answers some items with their gold codes, some with part, some with junk.
    items, gold = rel.items("icd", "dev"), rel.gold("icd", "dev")
    by_text = {it["text"]: gold[it["item_id"]]["codes"] for it in items}

    def answer(user):
        codes = next(c for t, c in by_text.items() if t in user)
        k = len(user) % 3
        return json.dumps(codes) if k == 0 else json.dumps(codes[:1] + ["Z00.00"]) if k == 1 else "no idea"

    sys.path.insert(0, str(out))
    try:
        import medbench_icd
    finally:
        sys.path.remove(str(out))
    [log] = inspect_eval(medbench_icd.medbench_icd(split="dev"),
                         model=inspect_mock_model(answer),
                         log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error
    metrics = {k: m.value for s in log.results.scores for k, m in s.metrics.items()}
    sub = tmp_path / "from_inspect.jsonl"
    proc = run_cli("import-inspect", log.location, "--out", str(sub))
    assert proc.returncode == 0, proc.stderr
    head = _headline(sub, small_release)
    assert head["name"] == "micro_f1" and 0 < head["value"] < 1
    assert round(metrics["micro_f1"], 6) == head["value"]  # --json writes 6 decimals (io.canonical_json)
    lines = [json.loads(x) for x in sub.read_text().splitlines()]
    assert lines[0]["model"] == "mockllm/model" and lines[0]["params"]["prompt_templates"]
    assert [ln["item_id"] for ln in lines[1:]] == sorted(it["item_id"] for it in items)


def test_import_inspect_bad_log_is_one_line_error(tmp_path):
    bad = tmp_path / "x.eval"
    bad.write_text("not a log")
    assert_one_line_error(run_cli("import-inspect", str(bad)), "x.eval")


# ------------------------------------------------------------------ prompts recorded, few-shot
@pytest.mark.slow
def test_fewshot_from_train_recorded_and_prompt_hashes_in_header(small_release, tmp_path):
    import hashlib
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).parent))
    from fake_openai_server import FakeOpenAIServer

    from medbench.tasks.base import PROMPTS_DIR

    rel = open_release(small_release)
    train = {it["item_id"]: it for it in rel.items("icd", "train")}
    gold = rel.gold("icd", "train")

    def run(out: Path, *extra: str) -> tuple[dict, list[dict]]:
        srv.reset_counts()
        proc = run_cli("run", "--benchmark", str(small_release), "--task", "icd", "--model", "openai/m",
                       "--api-base", srv.url, "--limit", "2", "--out", str(out), "--no-cache", *extra)
        assert proc.returncode == 0, proc.stderr
        return json.loads(out.read_text().splitlines()[0]), list(srv.requests)

    with FakeOpenAIServer(responder=lambda body: '["I10"]') as srv:
        h0, req0 = run(tmp_path / "zero.jsonl")
        h2, req2 = run(tmp_path / "two.jsonl", "--fewshot", "2", "--fewshot-seed", "7")
        h2b, _ = run(tmp_path / "two_again.jsonl", "--fewshot", "2", "--fewshot-seed", "7")
        h2c, _ = run(tmp_path / "two_other.jsonl", "--fewshot", "2", "--fewshot-seed", "8")
    for h in (h0, h2):
        assert h["params"]["prompt_templates"] == {
            n: hashlib.sha256((PROMPTS_DIR / n).read_bytes()).hexdigest() for n in ("icd_system.j2", "icd_user.j2")}
        assert h["params"]["system_prompt"] == req0[0]["messages"][0]["content"]
    assert "fewshot" not in h0["params"]
    shots = h2["params"]["fewshot"]
    assert shots["k"] == 2 and shots["seed"] == 7 and all(i in train for i in shots["item_ids"])
    assert shots == h2b["params"]["fewshot"] and shots["item_ids"] != h2c["params"]["fewshot"]["item_ids"]
    msgs = req2[0]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    for (u, a), iid in zip([(msgs[1], msgs[2]), (msgs[3], msgs[4])], shots["item_ids"]):
        assert train[iid]["text"] in u["content"] and json.loads(a["content"]) == gold[iid]["codes"]
    # the items themselves, unchanged (requests arrive in completion order)
    assert sorted(r["messages"][-1]["content"] for r in req2) == sorted(r["messages"][-1]["content"] for r in req0)
    # different prompts: different submissions, different leaderboard entries
    r0 = json.loads(run_cli("score", str(tmp_path / "zero.jsonl"), "--no-publish", "--json",
                            "--benchmark", str(small_release)).stdout)
    r2 = json.loads(run_cli("score", str(tmp_path / "two.jsonl"), "--no-publish", "--json",
                            "--benchmark", str(small_release)).stdout)
    assert r0["result_id"] != r2["result_id"]
    assert_one_line_error(run_cli("run", "--benchmark", str(small_release), "--task", "icd", "--model", "openai/m",
                                  "--api-base", "http://127.0.0.1:9/v1", "--fewshot", "1000",
                                  "--out", str(tmp_path / "x.jsonl")), "--fewshot")


# ------------------------------------------------------------------ eval plans
def test_eval_plan_runs_scores_publishes_once_and_resumes(small_release, tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(f'''release = "{small_release}"
splits = ["dev"]
leaderboard = "{tmp_path / 'lb'}"
submissions = "{tmp_path / 'subs'}"
[[models]]
model = "baseline:abstain"
tasks = ["sql"]
[[models]]
model = "baseline:no-such-baseline"
tasks = ["icd"]
[[models]]
model = "baseline:frequency"
tasks = ["icd"]
''')
    proc = run_cli("eval", str(plan))
    assert proc.returncode == 1, proc.stderr  # one pair failed ...
    shown = proc.stdout + proc.stderr  # the table goes to the console (stderr)
    assert "unknown baseline" in shown and "3 pairs, 1 failed" in shown
    results = sorted((tmp_path / "lb" / "results").glob("*.json"))
    assert len(results) == 2  # ... the other two ran, were scored and published
    heads = {json.loads(p.read_text())["model"]: json.loads(p.read_text())["headline"] for p in results}
    assert set(heads) == {"baseline:abstain", "baseline:frequency"}
    assert f"{heads['baseline:abstain']['value']:.3f}" in shown
    assert (tmp_path / "lb" / "index.html").is_file()
    subs = sorted((tmp_path / "subs").glob("*.jsonl"))
    before = {p: p.read_bytes() for p in subs}
    again = run_cli("eval", str(plan))
    assert "0 new" in again.stderr and {p: p.read_bytes() for p in subs} == before  # resumed, nothing redone
    bad = tmp_path / "bad.toml"
    bad.write_text('release = "x"\n[[models]]\nmodel = "baseline:abstain"\ncolour = "red"\n')
    assert_one_line_error(run_cli("eval", str(bad)), "colour")
