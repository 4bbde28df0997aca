"""Issue 13: one entry per run, `leaderboard remove`, failed runs unranked, the public site (no
drill-down for credentialed releases, small categories merged), source licences and the data-use
guard."""

from __future__ import annotations

import json

import pytest
from _scoring_fixtures import header, line, make_release, release_items, run_cli_fake, use_fake_family

from medbench.datause import check_data_use, detect_licence, release_licence
from medbench.errors import UserError
from medbench.io import atomic_write_json, canonical_json
from medbench.pipeline import score_file
from medbench.publish.site import breakdown, publish_public, remove_result
from medbench.release import MANIFEST, open_release
from medbench.scoring.results import load_results


@pytest.fixture
def rel(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    return make_release(tmp_path)


def _sub(path, rel, model="m", correct=18, created="2025-01-02T03:04:05Z", params=None, errors=0):
    items = release_items(rel)
    gold = open_release(rel).gold("sql", "test")
    rows = [header(rel, model, created=created, params=params or {"temperature": 0})]
    for i, it in enumerate(items):
        if i < errors:
            rows.append(line(it["item_id"], None, error="AuthenticationError: no OPENAI_API_KEY set"))
        else:
            rows.append(line(it["item_id"], gold[it["item_id"]]["answer"] if i < correct else "WRONG"))
    path.write_text("".join(canonical_json(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _score(sub, rel, lb):
    return score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False)


def test_scoring_the_same_run_twice_keeps_one_entry(rel, tmp_path):
    lb = tmp_path / "lb"
    a = _score(_sub(tmp_path / "a.jsonl", rel, correct=10), rel, lb)
    # the same run re-made (another start time, other predictions): it replaces the first entry
    b = _score(_sub(tmp_path / "b.jsonl", rel, correct=15, created="2025-02-02T00:00:00Z"), rel, lb)
    results = load_results(lb)
    assert [r["result_id"] for r in results] == [b.result["result_id"]] == [a.result["result_id"]]
    assert results[0]["metrics"]["accuracy"] == pytest.approx(15 / 18)
    assert (lb / "index.html").read_text().count("data-result-id=") == 1
    # other run params are another entry
    _score(_sub(tmp_path / "c.jsonl", rel, params={"temperature": 0.7}), rel, lb)
    assert len(load_results(lb)) == 2


def test_an_entry_stored_under_an_old_id_is_replaced(rel, tmp_path):
    lb = tmp_path / "lb"
    out = _score(_sub(tmp_path / "a.jsonl", rel), rel, lb)
    old = dict(out.result, result_id="m-sql-0123456789ab")  # as an older medbench named it
    (lb / "results" / f"{out.result['result_id']}.json").rename(lb / "results" / "m-sql-0123456789ab.json")
    (lb / "results" / "m-sql-0123456789ab.json").write_text(canonical_json(old, indent=2) + "\n")
    _score(_sub(tmp_path / "b.jsonl", rel, correct=3), rel, lb)
    assert [r["result_id"] for r in load_results(lb)] == [out.result["result_id"]]


def test_leaderboard_remove(rel, tmp_path):
    lb = tmp_path / "lb"
    keep = _score(_sub(tmp_path / "a.jsonl", rel, model="keep"), rel, lb).result["result_id"]
    gone = _score(_sub(tmp_path / "b.jsonl", rel, model="gone"), rel, lb).result["result_id"]
    p = run_cli_fake("leaderboard", "remove", gone, "--dir", str(lb))
    assert p.returncode == 0, p.stderr
    assert "removed " + gone in p.stderr  # rich console output goes to stderr
    assert [r["result_id"] for r in load_results(lb)] == [keep]
    assert not (lb / "submissions" / f"{gone}.html").exists()
    assert gone not in (lb / "index.html").read_text()
    p = run_cli_fake("leaderboard", "--dir", str(lb), "remove", gone)
    assert p.returncode == 2 and p.stderr.startswith(f"error: no result '{gone}'") and "Traceback" not in p.stderr
    with pytest.raises(UserError, match="invalid result id"):
        remove_result(lb, "../x")


def test_failed_run_is_shown_with_its_error_and_never_ranked(rel, tmp_path):
    lb = tmp_path / "lb"
    good = _score(_sub(tmp_path / "a.jsonl", rel, model="good", correct=9), rel, lb)
    # 4 of 18 errored (22% > 20%): failed, although it would otherwise rank first
    bad = _score(_sub(tmp_path / "b.jsonl", rel, model="keyless", correct=18, errors=4), rel, lb)
    assert bad.rank is None and good.rank == 1
    assert bad.result["n_errored"] == 4
    assert bad.result["leading_error"] == "AuthenticationError: no OPENAI_API_KEY set"
    html = (lb / "index.html").read_text()
    row = html[html.index(f'data-result-id="{bad.result["result_id"]}"'):]
    row = row[:row.index("</tr>")]
    assert "failed run" in row and "no OPENAI_API_KEY set" in row
    assert row.split("<td", 2)[1].split(">", 1)[1].startswith("—")  # the rank cell
    page = (lb / "submissions" / f"{bad.result['result_id']}.html").read_text()
    assert "not ranked (failed run)" in page
    # 3 of 18 errored (17%): an ordinary, ranked run
    ok = _score(_sub(tmp_path / "c.jsonl", rel, model="flaky", correct=18, errors=3), rel, lb)
    assert ok.rank == 1


def test_public_site_of_a_credentialed_release_has_no_items(rel, tmp_path):
    lb, pub = tmp_path / "lb", tmp_path / "pub"
    out = _score(_sub(tmp_path / "a.jsonl", rel, correct=12), rel, lb)
    assert out.result["source_licence"] == "credentialed"  # no licence recorded: the safe default
    publish_public(lb, pub)
    assert sorted(p.relative_to(pub).as_posix() for p in pub.rglob("*") if p.is_file() and "docs" not in p.parts) \
        == ["index.html", "publish-index.json", f"submissions/{out.result['result_id']}.html"]
    page = (pub / "submissions" / f"{out.result['result_id']}.html").read_text()
    private = (lb / "submissions" / f"{out.result['result_id']}.html").read_text()
    index = (pub / "publish-index.json").read_text()  # what the next public publish reuses
    for needle in ("question 3?", "A5", "WRONG", "sql-0007"):
        assert needle in private and needle not in page and needle not in index
    assert "not published" in page
    with pytest.raises(UserError, match="outside the private leaderboard"):
        publish_public(lb, lb / "public")


def test_public_site_of_a_synthetic_release_keeps_the_drill_down(rel, tmp_path):
    m = json.loads((rel / MANIFEST).read_text())
    atomic_write_json(rel / MANIFEST, {**m, "source": {"licence": "synthetic"}})
    lb, pub = tmp_path / "lb", tmp_path / "pub"
    sub = _sub(tmp_path / "a.jsonl", rel, correct=12)
    out = _score(sub, rel, lb)
    publish_public(lb, pub)
    page = (pub / "submissions" / f"{out.result['result_id']}.html").read_text()
    assert "question 3?" in page and 'data-outcome="wrong"' in page


def test_small_categories_merge_into_other():
    recs = [{"subject_id": i % 6, "category": "big", "correct": True} for i in range(12)]
    recs += [{"subject_id": i, "category": "few-items", "correct": False} for i in range(9)]
    recs += [{"subject_id": i % 4, "category": "few-patients", "correct": True} for i in range(20)]
    assert [r["category"] for r in breakdown(recs)] == ["few-items", "big", "few-patients"]
    merged = breakdown(recs, merge_small=True)
    assert [(r["category"], r["n"], r["patients"]) for r in merged] == [("big", 12, 6), ("other", 29, 9)]


def test_licence_detection(tmp_path, monkeypatch):
    from conftest import DEMO_DIR

    if DEMO_DIR.is_dir():
        assert detect_licence(DEMO_DIR) == "odbl"
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "MEDBENCH_SYNTHETIC").write_text("x")
    assert detect_licence(tmp_path / "s") == "synthetic"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "LICENSE.txt").write_text("PhysioNet Credentialed Health Data License 1.5.0")
    assert detect_licence(tmp_path / "c") == "credentialed"
    assert release_licence({}) == "credentialed"


def test_data_use_guard(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cred = {"source": {"licence": "credentialed"}}
    with pytest.raises(UserError, match=r"^--model openai/gpt-4o: this release is built from credentialed"):
        check_data_use("openai/gpt-4o", cred)
    with pytest.raises(UserError, match=r"^--judge openai/gpt-4o"):
        check_data_use("openai/gpt-4o", cred, flag="--judge")
    assert check_data_use("openai/gpt-4o", cred, api_base="http://127.0.0.1:8000/v1")["reason"] == "loopback api-base"
    with pytest.raises(UserError):  # not loopback
        check_data_use("openai/gpt-4o", cred, api_base="http://127.0.0.1.evil.example/v1")
    for local in ("hf:gpt2", "vllm:/models/x", "baseline:abstain"):
        assert check_data_use(local, cred)["allowed"]
    assert check_data_use("azure/gpt-4o", cred, allow_providers=["azure/"])["reason"] == "--allow-provider azure/"
    with pytest.raises(UserError):
        check_data_use("openai/gpt-4o", cred, allow_providers=["azure/"])
    (tmp_path / "medbench.toml").write_text('[data-use]\nallow = ["azure/"]\n')
    assert check_data_use("azure/gpt-4o", cred)["allowed"]
    assert check_data_use("openai/gpt-4o", {"source": {"licence": "synthetic"}})["reason"] == "synthetic data"


def test_run_refuses_a_hosted_provider_on_a_credentialed_release(rel, tmp_path):
    p = run_cli_fake("run", "--benchmark", str(rel), "--task", "sql", "--model", "openai/gpt-4o",
                     "--split", "test", "--out", str(tmp_path / "s.jsonl"), cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("error: --model openai/gpt-4o: this release is built from credentialed MIMIC-IV")
    assert len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.jsonl").exists()
