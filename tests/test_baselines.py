"""Reference baselines on a tiny release built here: behaviour, train-only gold, valid submissions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medbench.models import load_model
from medbench.models.baselines import TrainView
from medbench.models.baselines.sql import question_pattern, substitute
from medbench.release import Release, TaskOutput, open_release, write_release
from medbench.submission_schema import SubmissionHeader, SubmissionLine, prediction_error

DRUGS = ["aspirin", "heparin", "insulin", "warfarin", "metformin", "lisinopril"]


def _sql_records():
    items, gold = [], []

    def add(split, sid, question, sql, slots, answerable=True):
        iid = f"sql-{len(items):04d}"
        items.append({"item_id": iid, "task": "sql", "split": split, "subject_id": sid, "question": question})
        gold.append({"item_id": iid, "task": "sql", "answerable": answerable, "sql": sql, "answer": None,
                     "template": "t", "slots": slots, "question": question})

    for k in range(12):
        sid, drug = 100 + k, DRUGS[k % len(DRUGS)]
        add("train", sid, f"how many admissions does patient {sid} have?",
            f"SELECT COUNT(*) FROM admissions WHERE subject_id = {sid}", {"subject_id": sid})
        add("train", sid, f"list the prescriptions of {drug} for patient {sid}",
            f"SELECT * FROM prescriptions WHERE drug = '{drug}' AND subject_id = {sid}",
            {"drug": drug, "subject_id": sid})
        add("train", sid, f"what is the favourite colour of patient {sid}?", None, {"subject_id": sid}, False)
    add("dev", 900, "how many admissions does patient 900 have?",
        "SELECT COUNT(*) FROM admissions WHERE subject_id = 900", {"subject_id": 900})
    add("dev", 901, "list the prescriptions of o'brien mix for patient 901",
        "SELECT * FROM prescriptions WHERE drug = 'o''brien mix' AND subject_id = 901",
        {"drug": "o'brien mix", "subject_id": 901})
    add("test", 902, "what is the favourite colour of patient 902?", None, {"subject_id": 902}, False)
    add("test", 903, "tell me a joke about the weather in paris", None, {}, False)
    return items, gold


ICD_DOCS = [
    ("chest pain troponin elevated stemi cath lab", ["I21.4", "E78.5"]),
    ("productive cough fever infiltrate pneumonia antibiotics", ["J18.9"]),
    ("polyuria hyperglycemia insulin diabetic ketoacidosis", ["E11.10", "E78.5"]),
]


def _icd_records():
    items, gold = [], []
    for k in range(30):
        text, codes = ICD_DOCS[k % 3]
        split = "train" if k < 24 else ("dev" if k < 27 else "test")
        iid = f"icd-{k:04d}"
        items.append({"item_id": iid, "task": "icd", "split": split, "subject_id": 500 + k,
                      "text": f"patient {k}: {text}"})
        gold.append({"item_id": iid, "task": "icd", "codes": codes, "categories": [c[:3] for c in codes]})
    return items, gold


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Release:
    root = tmp_path_factory.mktemp("baseline_release")
    s_items, s_gold = _sql_records()
    i_items, i_gold = _icd_records()
    write_release(root / "tiny", "tiny", {"sql": TaskOutput(s_items, s_gold), "icd": TaskOutput(i_items, i_gold)},
                  params={}, source_fingerprint=None)
    return open_release(root / "tiny")


def predict(model, release, task, split):
    items = release.items(task, split)
    return {it["item_id"]: g.text for it, g in zip(items, model.generate_batch([([], it) for it in items]))}


def test_baselines_read_train_gold_only(release, monkeypatch):
    seen = []
    original = Release.gold

    def spy(self, task, split=None):
        seen.append(split)
        return original(self, task, split)

    monkeypatch.setattr(Release, "gold", spy)
    for task, name in [("sql", "abstain"), ("sql", "retrieval"), ("icd", "frequency"), ("icd", "tfidf")]:
        load_model(f"baseline:{name}", task=task, release=release)
    assert seen and set(seen) == {"train"}
    view = TrainView(release, "sql")
    train_ids = {it["item_id"] for it in release.items("sql", "train")}
    assert set(view.train_gold()) == train_ids
    assert not any(isinstance(getattr(view, a, None), Release) for a in TrainView.__slots__)


def test_sql_abstain_and_retrieval(release):
    assert set(predict(load_model("baseline:abstain", task="sql", release=release), release, "sql", "dev")
               .values()) == {"null"}
    model = load_model("baseline:retrieval", task="sql", release=release)
    assert model.info()["baseline"]["threshold"] >= 0
    dev = predict(model, release, "sql", "dev")
    test = predict(model, release, "sql", "test")
    texts = list(dev.values())
    assert texts[0] == "```sql\nSELECT COUNT(*) FROM admissions WHERE subject_id = 900\n```"
    # New slot values substituted; a quote in the question cannot break out of the SQL literal.
    assert texts[1] == "```sql\nSELECT * FROM prescriptions WHERE drug = 'o''brien mix' AND subject_id = 901\n```"
    assert list(test.values()) == ["null", "null"]  # nearest is unanswerable / nothing similar


def test_slot_alignment_and_substitution():
    pat = question_pattern("list the prescriptions of aspirin for patient 12", {"drug": "aspirin", "subject_id": 12})
    m = pat.fullmatch("list the prescriptions of heparin sodium for patient 77")
    assert sorted(m.groupdict().values()) == ["77", "heparin sodium"]
    assert substitute("SELECT 1 WHERE a = 12 AND b = 120", 12, "77") == "SELECT 1 WHERE a = 77 AND b = 120"
    assert substitute("SELECT 1 WHERE a = 12", 12, "1; DROP TABLE x") is None  # numbers stay numbers
    assert substitute("SELECT 1 WHERE d = 'x'", "x", "y' OR '1'='1") == "SELECT 1 WHERE d = 'y'' OR ''1''=''1'"


def test_icd_frequency_and_tfidf(release):
    freq = load_model("baseline:frequency", task="icd", release=release)
    info = freq.info()["baseline"]
    assert info["k"] == 2 and info["codes"] == ["E78.5", "E11.10"]  # E78.5 in 2/3 docs, ties by code
    assert set(predict(freq, release, "icd", "dev").values()) == {'["E78.5", "E11.10"]'}
    tfidf = load_model("baseline:tfidf", task="icd", release=release)
    dev_items = release.items("icd", "dev")
    out = predict(tfidf, release, "icd", "dev")
    gold = release.gold("icd", "dev")
    for it in dev_items:
        assert set(json.loads(out[it["item_id"]])) == set(gold[it["item_id"]]["codes"]), it["text"]


@pytest.mark.parametrize("task,name", [("sql", "abstain"), ("sql", "retrieval"), ("icd", "frequency"),
                                       ("icd", "tfidf")])
def test_baseline_submission_is_valid(release, tmp_path, task, name):
    from medbench.run import run

    out = tmp_path / "s.jsonl"
    s = run(release.path, task, f"baseline:{name}", split="dev", out=out)
    assert s.done == len(release.items(task, "dev")) and s.failed == 0 and s.parse_errors == 0
    lines = [json.loads(x) for x in Path(out).read_text().splitlines()]
    header = SubmissionHeader.model_validate(lines[0])
    assert header.model == f"baseline:{name}" and header.params["baseline"]["name"] == name
    for ln in lines[1:]:
        SubmissionLine.model_validate(ln)
        assert prediction_error(task, ln["prediction"]) is None


def test_unknown_baseline_lists_available(release):
    from medbench.errors import UserError

    with pytest.raises(UserError, match="baseline:abstain, baseline:retrieval"):
        load_model("baseline:magic", task="sql", release=release)
