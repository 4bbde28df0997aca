"""SQL scoring on the imported EHRSQL valid release: reliability score, EX, abstention, parser."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EHRSQL_DIR

pytestmark = pytest.mark.skipif(not EHRSQL_DIR.is_dir(), reason=f"shared data not available: {EHRSQL_DIR}")


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from medbench.release import open_release
    from medbench.tasks.sql.ehrsql import import_ehrsql

    out = tmp_path_factory.mktemp("ehrsql") / "release"
    import_ehrsql(EHRSQL_DIR, EHRSQL_DIR / "mimic_iv.sqlite.gz", "valid", out, show_progress=False)
    return open_release(out)


def _score(release, predictions, workers=2):
    from medbench.tasks.sql import FAMILY

    items, gold = release.items("sql"), release.gold("sql")
    preds = {it["item_id"]: predictions(it, gold[it["item_id"]]) for it in items}
    return FAMILY.score_items(items, gold, preds, {"release": release, "workers": workers}), items, gold


def test_gold_sql_as_predictions_scores_perfectly(release, isolated_home):
    from medbench.tasks.sql import FAMILY

    records, items, _ = _score(release, lambda it, g: g["sql"] if g["answerable"] else None)
    m = FAMILY.aggregate(records)
    assert m["rs10"] == 100.0 and m["rs0"] == 100.0 and m["rsN"] == 100.0
    assert m["ex"] == 100.0 and m["valid_sql_rate"] == 100.0 and m["em"] == 100.0 and m["token_f1"] == 100.0
    assert m["abstention_precision"] == 100.0 and m["abstention_recall"] == 100.0
    assert [r["item_id"] for r in records] == [it["item_id"] for it in items]
    # the gold queries themselves take the release's gold answers: nothing runs, nothing to cache
    assert not (isolated_home / "cache" / "sql-results" / f"{release.sha256}.json").exists()
    again, _, _ = _score(release, lambda it, g: g["sql"] if g["answerable"] else None)
    assert again == records


def _mixed(it, g):
    """Right, reordered (EM by sqlglot rendering), wrong, failing, hostile and abstaining predictions."""
    k = int(it["item_id"][-2:], 16) % 6  # item ids end in hex digits
    if not g["answerable"]:
        return None if k < 3 else "SELECT count(*) FROM patients"
    return [g["sql"], g["sql"].replace("SELECT", "select", 1), "SELECT 'certainly not the answer'",
            "SELECT * FROM no_such_table", "DELETE FROM patients", None][k]


def test_result_cache_reuses_executions_and_agrees(release, isolated_home, monkeypatch):
    """Executed predictions and gold features are cached per release: re-scoring runs nothing,
    an overlapping submission runs only its new queries, and every record equals a cold scoring."""
    from medbench.tasks.sql import cache, execute

    executed = []
    real_map = execute.SqlPool.map

    def counting_map(self, jobs, on_result=None):
        executed.extend(j["sql"] for j in jobs if j.get("execute", True))
        return real_map(self, jobs, on_result)

    monkeypatch.setattr(execute.SqlPool, "map", counting_map)
    cold, items, gold = _score(release, _mixed)
    n_cold = len(executed)
    distinct = {p for it in items if (p := _mixed(it, gold[it["item_id"]])) is not None
                and p != gold[it["item_id"]]["sql"]}
    assert n_cold == len(distinct) < sum(1 for it in items if _mixed(it, gold[it["item_id"]]) is not None)
    results = isolated_home / "cache" / "sql-results" / f"{release.sha256}.json"
    assert results.is_file() and (isolated_home / "cache" / "gold" / f"{release.sha256}.json").is_file()
    # the hostile statement was refused, and its refusal is what the cache replays
    deleted = [r for r in cold if r["error"] and r["error"].startswith("refused")]
    assert deleted and all(not r["executed"] and r["score"] == -1 for r in deleted)

    # all but the few queries with answers too long to keep (they simply run again)
    from medbench.tasks.sql.execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT_S, prepare_sql

    stored = cache.ResultCache(release, "sqlite")
    uncached = {q for q in distinct if stored.get(cache.result_key(prepare_sql(q, "sqlite"), "sqlite",
                                                                    DEFAULT_TIMEOUT_S, DEFAULT_ROW_CAP)) is None}
    assert len(uncached) < len(distinct) / 10
    cache.clear_memo()  # as a new process would, read the files
    executed.clear()
    again, _, _ = _score(release, _mixed)
    assert sorted(executed) == sorted(uncached) and again == cold

    def overlapping(it, g):  # a revised submission: every fifth answerable item predicted anew
        p = _mixed(it, g)
        return "SELECT 20 + 1" if g["answerable"] and int(it["item_id"][-4:], 16) % 5 == 0 else p

    cache.clear_memo()
    executed.clear()
    revised, _, _ = _score(release, overlapping)
    assert sorted(set(executed) - uncached) == ["SELECT 20 + 1"]  # only the new query text runs

    # a cache written for another release (or engine) is ignored, never trusted
    other = results.with_name("0" * 64 + ".json")
    other.write_bytes(results.read_bytes())
    monkeypatch.setattr(release, "sha256", "0" * 64, raising=False)
    cache.clear_memo()
    executed.clear()
    _score(release, _mixed)
    assert len(executed) == n_cold
    monkeypatch.undo()

    # and the records equal a scoring with no cache at all
    for d in ("gold", "sql-results"):
        for f in (isolated_home / "cache" / d).glob("*.json"):
            f.unlink()
    cache.clear_memo()
    fresh, _, _ = _score(release, overlapping)
    assert fresh == revised


def test_abstain_everything_scores_the_unanswerable_share(release):
    from medbench.tasks.sql import FAMILY

    records, items, gold = _score(release, lambda it, g: None)
    share = 100.0 * sum(1 for g in gold.values() if not g["answerable"]) / len(items)
    m = FAMILY.aggregate(records)
    for key in ("rs0", "rs5", "rs10", "rsN"):
        assert m[key] == share, key
    assert m["ex"] == 0.0 and m["abstention_recall"] == 100.0 and m["abstention_precision"] == share


def test_hand_built_mix_gives_expected_rs(release):
    from medbench.tasks.sql import FAMILY

    items, gold = release.items("sql"), release.gold("sql")
    ans = [it for it in items if gold[it["item_id"]]["answerable"]][:10]
    unans = [it for it in items if not gold[it["item_id"]]["answerable"]][:5]
    plan = (["right"] * 4 + ["wrong"] * 3 + ["abstain"] * 2 + ["error"]) + (["abstain"] * 3 + ["answer"] * 2)
    chosen = ans + unans
    preds = {}
    for it, what in zip(chosen, plan):
        g = gold[it["item_id"]]
        preds[it["item_id"]] = {"right": g["sql"], "wrong": "SELECT 'certainly not the answer'",
                                "abstain": None, "error": "SELECT * FROM no_such_table",
                                "answer": "SELECT count(*) FROM patients"}[what]
    records = FAMILY.score_items(chosen, gold, preds, {"release": release, "workers": 2})
    right, wrong, n = 4 + 3, 3 + 1 + 2, 15  # right answers + right abstentions; wrong/error/answered
    m = FAMILY.aggregate(records)
    for c in (0, 5, 10):
        assert m[f"rs{c}"] == pytest.approx(100.0 * (right - c * wrong) / n)
    assert m["rsN"] == pytest.approx(100.0 * (right - n * wrong) / n)
    assert m["ex"] == pytest.approx(100.0 * 4 / 10)
    assert m["abstention_precision"] == pytest.approx(100.0 * 3 / 5)
    assert m["abstention_recall"] == pytest.approx(100.0 * 3 / 5)
    assert m["valid_sql_rate"] == pytest.approx(100.0 * 9 / 10)
    scores = [r["score"] for r in records]
    assert scores == [1] * 4 + [-1] * 3 + [0] * 2 + [-1] + [1] * 3 + [-1] * 2
    err = records[9]
    assert err["executed"] is False and "no_such_table" in err["error"] and err["pred_answer"] == "error"
    # aggregate works on any subset (the bootstrap resamples records)
    sub = FAMILY.aggregate(records[:4] + records[10:13])
    assert sub["rs10"] == 100.0 and sub["ex"] == 100.0


def test_score_one_and_category(release):
    from medbench.tasks.sql.metrics import release_database, score_one

    gold = next(g for g in release.gold("sql").values() if g["answerable"])
    db, engine = release_database(release)
    assert engine == "sqlite" and Path(db).is_file()
    rec = score_one(gold["sql"], gold, db, engine)
    assert rec["correct"] and rec["score"] == 1 and rec["category"] == gold["template"]
    # the leaderboard's table breakdown (EHRSQL imports have no template family)
    assert rec["categories"] == {"table": sorted(gold["tables"])} and gold["tables"]
    from medbench.tasks.sql.metrics import _categories

    assert _categories({"tables": ["labevents", "admissions"], "family": "labs"}) == {
        "table": ["admissions", "labevents"], "family": "labs"}
    assert _categories({"tables": [], "template": "unanswerable"}) == {"table": ["(none)"]}
    rec = score_one("SELECT 1", gold, db, engine)
    assert rec["score"] == -1 and rec["executed"] and not rec["correct"]


@pytest.mark.parametrize("raw, prediction, has_error", [
    ("```sql\nSELECT count(*) FROM patients;\n```", "SELECT count(*) FROM patients", False),
    ("Thinking…\n```sql\nSELECT 1\n```\nFinal:\n```sql\nSELECT 2\n```", "SELECT 2", False),
    ("SQL: SELECT gender FROM patients WHERE subject_id = 1", "SELECT gender FROM patients WHERE subject_id = 1",
     False),
    ("null", None, False),
    ("NULL", None, False),
    ("None", None, False),
    ("```sql\nnull\n```", None, False),
    ('{"sql": null}', None, False),
    ("This question cannot be answered from the database schema.", None, False),
    ("", "", True),
    (None, "", True),
    ("I like turtles.", "", True),
    ("```sql\n-- nothing here\n```", "", True),
])
def test_parser(raw, prediction, has_error):
    from medbench.tasks.sql import FAMILY

    pred, err = FAMILY.parse(raw)
    assert pred == prediction
    assert (err is not None) == has_error


def test_prompt_lists_schema_and_question_not_gold(release):
    from medbench.tasks.sql import FAMILY

    item = release.items("sql")[0]
    gold = release.gold("sql")[item["item_id"]]
    messages = FAMILY.render_prompt(item, release)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "SQLite" in system and "prescriptions(" in system and "```sql" in system and "null" in system
    assert item["question"] in user
    if gold["sql"]:
        assert gold["sql"] not in system + user


def test_gold_without_stored_answers_runs_once_and_scores_the_same(release, monkeypatch):
    """A gold record without its answer has its SQL run in the sandbox (in the same batch as the
    predictions), once per release; the scores equal those from the stored answers."""
    from medbench.tasks.sql import FAMILY, cache, execute

    items, gold = release.items("sql"), release.gold("sql")
    preds = {it["item_id"]: _mixed(it, gold[it["item_id"]]) for it in items}
    stored = FAMILY.score_items(items, gold, preds, {"release": release, "workers": 2})
    bare = {k: {**g, "answer": None} for k, g in gold.items()}
    gold_jobs = []
    real_map = execute.SqlPool.map

    def counting_map(self, jobs, on_result=None):
        gold_jobs.extend(j for j in jobs if not j.get("check", True) and "golds" not in j)
        return real_map(self, jobs, on_result)

    monkeypatch.setattr(execute.SqlPool, "map", counting_map)
    for run in range(2):
        cache.clear_memo()
        gold_jobs.clear()
        again = FAMILY.score_items(items, bare, preds, {"release": release, "workers": 2})
        keys = ("item_id", "score", "correct", "executed", "em", "token_f1", "pred_answer", "error")
        assert [{k: r[k] for k in keys} for r in again] == [{k: r[k] for k in keys} for r in stored]
        needed = sum(1 for i, p in preds.items() if p is not None and gold[i]["answerable"])
        assert len(gold_jobs) == (needed if run == 0 else 0)


def test_metrics_are_reported_on_seen_and_unseen_templates():
    """Every SQL metric also as `<metric>_seen` / `<metric>_unseen` (template hold-out, issue 11),
    computed on exactly those items; absent when no item carries the flag (EHRSQL imports)."""
    from medbench.tasks.sql.metrics import aggregate

    def rec(score, seen, answerable=True):
        return {"score": score, "answerable": answerable, "abstained": score == 0 or not answerable and score > 0,
                "correct": score > 0, "em": score > 0, "token_f1": 1.0 if score > 0 else 0.0,
                "executed": score != 0, "template_seen_in_train": seen}

    records = [rec(1, True), rec(1, True), rec(-1, True), rec(0, False), rec(1, False, answerable=False)]
    m = aggregate(records)
    assert m["rs10"] == pytest.approx(100 * (3 - 10) / 5)
    assert m["rs10_seen"] == pytest.approx(100 * (2 - 10) / 3)
    assert m["rs10_unseen"] == pytest.approx(100 * 1 / 2)
    assert m["ex_seen"] == pytest.approx(100 * 2 / 3) and m["ex_unseen"] == 0.0
    assert m["abstention_recall_unseen"] == 100.0 and m["answerable_share_unseen"] == 50.0
    only_seen = aggregate(records[:3])
    assert "rs10_seen" in only_seen and "rs10_unseen" not in only_seen
    legacy = aggregate([dict(r, template_seen_in_train=None) for r in records])
    assert not any(k.endswith(("_seen", "_unseen")) for k in legacy)
