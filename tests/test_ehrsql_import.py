"""EHRSQL 2024 import: gold answers computed by medbench reproduce answer.json on the valid split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _release_schemas import assert_release_matches, problems
from conftest import EHRSQL_DIR, assert_one_line_error, run_cli

from medbench.tasks.sql.ehrsql import _source_answer

pytestmark = pytest.mark.skipif(not EHRSQL_DIR.is_dir(), reason=f"shared data not available: {EHRSQL_DIR}")

README_DB_SHA256 = "965c92c79bc90646a410d0025fb8ed63ac8645b816f656c9a67857bd99bf4202"


@pytest.fixture(scope="module")
def valid_release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ehrsql") / "release"
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(EHRSQL_DIR), "--db", str(EHRSQL_DIR / "mimic_iv.sqlite.gz"),
                   "--split", "valid", "--out", str(out), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def _source(name: str):
    return json.loads((EHRSQL_DIR / "valid" / name).read_text())


def test_gold_answers_reproduce_answer_json(valid_release):
    from medbench.release import open_release

    rel = open_release(valid_release)
    labels, answers = _source("label.json"), _source("answer.json")
    needs_chart = set(_source("needs_chartevents.json"))
    gold = rel.gold("sql")
    by_source = {g["source_id"]: g for g in gold.values()}
    expected_answerable = [k for k, v in labels.items() if v != "null" and k not in needs_chart]
    assert sorted(k for k, g in by_source.items() if g["answerable"]) == sorted(expected_answerable)
    for sid in expected_answerable:
        assert by_source[sid]["answer"] == _source_answer(answers[sid]), sid
        assert by_source[sid]["sql"] == labels[sid]
        assert by_source[sid]["tables"] and by_source[sid]["template"] == "+".join(by_source[sid]["tables"])
    assert not needs_chart & set(by_source)  # excluded items are not in the release at all


def test_manifest_counts_exclusions_and_unanswerable(valid_release):
    from medbench.release import open_release

    rel = open_release(valid_release)
    info = rel.manifest["tasks"]["sql"]
    labels = _source("label.json")
    n_null = sum(1 for v in labels.values() if v == "null")
    assert info["engine"] == "sqlite" and info["database"] == "database.sqlite"
    assert info["excluded"]["needs_chartevents"] == len(_source("needs_chartevents.json")) == 84
    assert info["excluded"]["gold_sql_failed"] == 0
    gold = rel.gold("sql")
    unanswerable = [g for g in gold.values() if not g["answerable"]]
    assert len(unanswerable) == n_null == 232
    assert all(g["sql"] is None and g["answer"] is None for g in unanswerable)
    items = rel.items("sql")
    assert len(items) == len(labels) - 84 == info["counts"]["dev"]
    for it in items:  # public items: the question and ids only
        assert set(it) == {"item_id", "task", "split", "subject_id", "question"}
        assert it["split"] == "dev" and it["subject_id"] is None
    rel.verify()
    assert rel.manifest["files"]["sql/database.sqlite"] == README_DB_SHA256
    tables = json.loads((valid_release / "sql" / "tables.json").read_text())
    assert "prescriptions" in tables[0]["table_names_original"]


def test_import_matches_published_schemas(valid_release):
    counts = assert_release_matches(valid_release)
    assert counts["sql/items"] == counts["sql/gold"] > 0
    item = json.loads((valid_release / "sql" / "items.jsonl").read_text().splitlines()[0])
    assert problems("items", "sql", {**item, "answer": "[['1']]"})


def test_import_is_byte_identical(valid_release, tmp_path):
    from medbench.tasks.sql.ehrsql import import_ehrsql

    again = tmp_path / "again"
    import_ehrsql(EHRSQL_DIR, EHRSQL_DIR / "mimic_iv.sqlite.gz", "valid", again, show_progress=False)
    for rel in ("manifest.json", "sql/items.jsonl", "sql/gold.jsonl", "sql/tables.json"):
        assert (again / rel).read_bytes() == (valid_release / rel).read_bytes(), rel


def test_bad_inputs_are_one_line_errors(tmp_path, valid_release):
    split = tmp_path / "ehr" / "valid"
    split.mkdir(parents=True)
    (split / "data.json").write_text('{"version": "x", "data": [\n{"id": "a", "question": "q?"},\n')
    (split / "label.json").write_text('{"a": "SELECT 1"}')
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(tmp_path / "ehr"), "--db",
                   str(valid_release / "sql" / "database.sqlite"), "--split", "valid", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "data.json", "invalid JSON")
    (split / "data.json").write_text('{"version": "x", "data": [{"id": "a", "question": "q?"}, {"id": "b"}]}')
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(tmp_path / "ehr"), "--db",
                   str(valid_release / "sql" / "database.sqlite"), "--split", "valid", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "data.json", "data[1].question")
    (split / "data.json").write_text('{"version": "x", "data": [{"id": "a", "question": "q?"}]}')
    not_db = tmp_path / "fake.sqlite"
    not_db.write_text("hello")
    proc = run_cli("import-ehrsql", "--ehrsql-dir", str(tmp_path / "ehr"), "--db", str(not_db),
                   "--split", "valid", "--out", str(tmp_path / "o"))
    assert_one_line_error(proc, "--db", "not a SQLite database")
    assert not (tmp_path / "o").exists()
