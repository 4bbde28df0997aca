"""`medbench build` / `merge-shards`: releases on synthetic data and the demo — counts, splits by
patient, public items without gold, byte-identical rebuilds, and shard merge == full build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _release_schemas import assert_release_matches, problems
from conftest import assert_one_line_error, run_cli

from medbench.build import build_release, merge_shards, parse_shard, shard_of
from medbench.errors import UserError
from medbench.release import open_release
from medbench.tasks.base import split_for_subject

TASKS = "sql,icd,conversation"


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth_store(synth30_store):
    """generate(patients=30, seed=3), ingested once per test run (tests/conftest.py)."""
    return synth30_store


@pytest.fixture(scope="module")
def full(synth_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("rel") / "full"
    return build_release(store=synth_store, out=out, tasks=TASKS, name="synth", show_progress=False)


def test_release_contents(full, synth_store):
    rel = open_release(full.out)
    rel.verify()
    assert rel.tasks() == ["conversation", "icd", "sql"]
    assert rel.manifest["source_fingerprint"] == synth_store.fingerprint
    assert rel.manifest["params"]["patients"]["selection"] == "all"
    subject_split: dict[int, str] = {}
    for task in rel.tasks():
        items, gold = rel.items(task), rel.gold(task)
        info = rel.manifest["tasks"][task]
        assert len(items) == info["items"] == sum(info["counts"].values()) > 0
        assert sorted(i["item_id"] for i in items) == sorted(gold) == [i["item_id"] for i in items]
        for it in items:
            if it["subject_id"] is None:  # a population-level SQL question: split of its own
                assert task == "sql" and it["hadm_id"] is None and it["split"] in ("train", "dev", "test")
            else:
                assert it["task"] == task and it["split"] == split_for_subject(it["subject_id"])
                # one patient, one split, across every task
                assert subject_split.setdefault(it["subject_id"], it["split"]) == it["split"]
            # public items carry no gold field (shared keys are copies of the input, e.g. question)
            g = gold[it["item_id"]]
            assert all(it[k] == g[k] for k in set(it) & set(g)), task
            assert not set(it) & {"answer", "sql", "gold_sql", "codes", "facts", "lexicon", "grounded"}
    assert len(set(subject_split.values())) == 3
    icd_gold = rel.gold("icd")
    for it in rel.items("icd"):  # the codes never appear in the input text
        for code in icd_gold[it["item_id"]]["codes"]:
            assert code not in it["text"] and code.replace(".", "") not in it["text"]
    # the synthetic data has notes: conversation items are the admissions with one
    assert rel.manifest["tasks"]["conversation"]["selection"] == "admissions_with_discharge_note"
    assert all(it["packet"]["discharge_notes"] for it in rel.items("conversation"))
    assert rel.manifest["tasks"]["icd"]["text_source"]["discharge_note"] > 0


def test_release_lines_match_published_schemas(full):
    """Every line of items.jsonl/gold.jsonl of all three tasks validates against `medbench schema`."""
    counts = assert_release_matches(full.out)
    assert set(counts) == {f"{t}/{k}" for t in TASKS.split(",") for k in ("items", "gold")}
    assert all(n > 0 for n in counts.values())
    rel = open_release(full.out)
    # gold can never pass as a public item: the item schemas forbid every field they do not name
    for task, leak in (("sql", {"answer": "[['1']]"}), ("sql", {"sql": "SELECT 1"}),
                       ("icd", {"codes": ["I10"]}), ("conversation", {"facts": []})):
        item = rel.items(task)[0]
        assert not problems("items", task, item)
        assert any("additional" in p.lower() for p in problems("items", task, {**item, **leak})), (task, leak)
    g = next(iter(rel.gold("sql").values()))
    assert problems("gold", "sql", {**g, "answer": 7})  # types are checked too


def test_rebuild_is_byte_identical(full, synth_store, tmp_path):
    again = build_release(store=synth_store, out=tmp_path / "again", tasks="conversation,icd,sql",
                          name="synth", show_progress=False)
    assert _tree(again.out) == _tree(full.out)


def test_shards_merge_to_the_full_build(full, synth_store, tmp_path):
    shards = []
    for k in (3, 1, 2):
        r = build_release(store=synth_store, out=tmp_path / f"s{k}", tasks=TASKS, name="synth",
                          shard=f"{k}/3", show_progress=False)
        assert r.manifest["params"]["shard"] == {"k": k, "n": 3}
        subjects = {it["subject_id"] for t in ("icd", "conversation") for it in open_release(r.out).items(t)}
        assert all(shard_of(s, 3) == k for s in subjects)
        # population-level SQL items are over the whole release: none in a shard
        assert all(it["subject_id"] is not None for it in open_release(r.out).items("sql"))
        assert r.manifest["tasks"]["sql"]["population_items"] == 0
        shards.append(r.out)
    with pytest.raises(UserError, match="missing"):
        merge_shards(shards[:2], tmp_path / "partial", store=synth_store, show_progress=False)
    with pytest.raises(UserError, match="twice"):
        merge_shards([*shards, shards[0]], tmp_path / "dup", store=synth_store, show_progress=False)
    merged = merge_shards(shards, tmp_path / "merged", store=synth_store, show_progress=False)
    assert _tree(merged.out) == _tree(full.out)
    # ... and the byte-identical merge has them (issue 11): counts, averages and rankings over
    # all the merged patients, in every split, answerable and unanswerable
    pop = [it for it in open_release(merged.out).items("sql") if it["subject_id"] is None]
    info = merged.manifest["tasks"]["sql"]
    assert len(pop) == info["population_items"] + info["population_unanswerable_items"] > 0
    assert info["population_unanswerable_items"] > 0 and {it["split"] for it in pop} == {"train", "dev", "test"}
    assert not (tmp_path / "partial").exists()


def test_cohort_build(synth_store, tmp_path):
    con = synth_store.connect()
    subjects = [r[0] for r in con.execute("SELECT subject_id FROM patients ORDER BY subject_id LIMIT 4").fetchall()]
    con.close()
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("subject_id,admission_count\n" + "".join(f"{s},1\n" for s in reversed(subjects)))
    r = build_release(store=synth_store, out=tmp_path / "c", tasks="icd", cohort=cohort, show_progress=False)
    assert r.manifest["params"]["patients"]["selection"] == "cohort"
    assert r.manifest["params"]["patients"]["count"] == 4
    assert {it["subject_id"] for it in open_release(r.out).items("icd")} <= set(subjects)
    cohort.write_text("subject_id\n999999999\n")
    with pytest.raises(UserError, match="not in the store"):
        build_release(store=synth_store, out=tmp_path / "d", tasks="icd", cohort=cohort, show_progress=False)


@pytest.mark.parametrize("spec", ["0/3", "4/3", "a/b", "3", "1/0"])
def test_bad_shard_specs(spec):
    with pytest.raises(UserError):
        parse_shard(spec)


def test_cli_build_demo(demo_dir, tmp_path):
    out = tmp_path / "demo-rel"
    # icd only keeps this fast; the demo's 275 conversation items are checked in test_conversation_task
    proc = run_cli("build", "--mimic-dir", str(demo_dir), "--tasks", "icd", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"].startswith("medbench-")
    assert manifest["tasks"]["icd"]["items"] == 123
    assert manifest["params"]["tasks"] == ["icd"]
    assert "icd" in proc.stderr and "123" in proc.stderr  # the summary table
    assert assert_release_matches(out) == {"icd/items": 123, "icd/gold": 123}


def test_cli_errors(demo_dir, tmp_path):
    assert_one_line_error(run_cli("build", "--mimic-dir", str(demo_dir), "--tasks", "icd,bogus",
                                  "--out", str(tmp_path / "x"), cwd=tmp_path), "unknown task 'bogus'")
    assert_one_line_error(run_cli("build", "--mimic-dir", str(demo_dir), "--shard", "4/3",
                                  "--out", str(tmp_path / "x"), cwd=tmp_path), "--shard")
    assert_one_line_error(run_cli("merge-shards", str(tmp_path / "nope"), "--out", str(tmp_path / "m"),
                                  cwd=tmp_path), "not a medbench release")
    assert not (tmp_path / "x").exists()


def test_sql_per_patient_caps_answerable_items(synth_store, full, tmp_path):
    """--sql-per-patient bounds release size; unanswerable share stays >= 15%, recorded in params."""
    capped = build_release(store=synth_store, out=tmp_path / "capped", tasks="sql", name="synth",
                           show_progress=False, sql_max_per_patient=5)
    assert capped.manifest["params"]["sql_max_per_patient"] == 5
    rel = open_release(capped.out)
    gold = rel.gold("sql")
    per_patient: dict[int, int] = {}
    for item in rel.items("sql"):
        if gold[item["item_id"]]["answerable"] and item["subject_id"] is not None:  # not population
            per_patient[item["subject_id"]] = per_patient.get(item["subject_id"], 0) + 1
    assert per_patient and max(per_patient.values()) <= 5
    n_unanswerable = sum(1 for g in gold.values() if not g["answerable"])
    assert n_unanswerable / len(gold) >= 0.15
    assert len(gold) < open_release(full.out).manifest["tasks"]["sql"]["items"]
    with pytest.raises(UserError, match="sql-per-patient"):
        build_release(store=synth_store, out=tmp_path / "bad", tasks="sql", show_progress=False,
                      sql_max_per_patient=0)


def test_release_bytes_do_not_depend_on_memory_threads_or_batches(full, synth_store, tmp_path, monkeypatch):
    """Issue 12: the same release bytes with a low memory limit, one DuckDB thread, tiny packet
    batches and tiny SQL patient batches as with the defaults; `--timings` stages are reported."""
    from medbench.build import Timings
    from medbench.extract import packet

    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "600MB")
    monkeypatch.setenv("MEDBENCH_THREADS", "1")
    monkeypatch.setenv("MEDBENCH_SQL_PATIENT_BATCH", "7")
    monkeypatch.setattr(packet, "BATCH_SIZE", 5)
    monkeypatch.setattr(packet.iter_packets, "__defaults__", (packet.DEFAULT_CAPS, 5))
    timings = Timings()
    low = build_release(store=synth_store, out=tmp_path / "low", tasks=TASKS, name="synth",
                        show_progress=False, timings=timings)
    assert _tree(low.out) == _tree(full.out)
    stages = [s for s, _, _ in timings.rows()]
    assert {"ingest", "cohort", "packets", "write", "hash", *TASKS.split(",")} <= set(stages), stages
    assert all(w >= 0 and c >= 0 for _, w, c in timings.rows())
    # each stage carries the peak RSS so far when it ended: positive, and never above the end's
    from medbench.build import peak_rss_mb

    assert set(timings.peak_rss) == set(stages)
    assert all(0 < mb <= peak_rss_mb() for mb in timings.peak_rss.values()), timings.peak_rss
