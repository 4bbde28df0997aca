"""The result file's one owner (`medbench.scoring.results.Result`): a versioned pydantic model,
written and read through it, older formats migrated on read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _scoring_fixtures import make_release, use_fake_family, write_submission

from medbench.errors import UserError
from medbench.io import canonical_json
from medbench.pipeline import score_file
from medbench.scoring import results as R

#: written by `medbench score` before the result model existed (format 1: `result_format: 1`)
V1 = Path(__file__).parent / "fixtures" / "model-a-sql-74b67e263541.json"


def _as_v2(v1_text: str) -> str:
    """A format-1 file's text as format 2 writes it: the version field renamed, nothing else."""
    old = json.loads(v1_text)
    assert canonical_json(old, indent=2) + "\n" == v1_text
    return canonical_json({**{k: v for k, v in old.items() if k != "result_format"}, "format_version": 2},
                          indent=2) + "\n"


def test_format_1_file_is_migrated_on_read(tmp_path):
    old = json.loads(V1.read_text())
    assert old["result_format"] == 1 and "format_version" not in old
    model = R.read_result(V1)
    assert isinstance(model, R.Result) and model.format_version == R.RESULT_FORMAT == 2
    assert isinstance(model.records[0], R.ResultRecord) and model.records[0].item_id == old["records"][0]["item_id"]
    assert model.headline.name == "accuracy" and model.n_missing == 1
    migrated = R.load_result(V1)
    assert "result_format" not in migrated
    assert {k: v for k, v in migrated.items() if k != "format_version"} == \
        {k: v for k, v in old.items() if k != "result_format"}
    # written back: the same bytes but for the version line
    text = canonical_json(R.Result.model_validate(migrated).to_dict(), indent=2) + "\n"
    assert text == _as_v2(V1.read_text())


def test_newer_format_is_a_one_line_user_error(tmp_path):
    data = json.loads(V1.read_text())
    data.pop("result_format")
    data["format_version"] = 3
    path = tmp_path / V1.name
    path.write_text(json.dumps(data))
    with pytest.raises(UserError) as ei:
        R.read_result(path)
    msg = str(ei.value)
    assert "\n" not in msg and V1.name in msg and "result format 3 is newer" in msg and "upgrade" in msg


@pytest.mark.parametrize("change,needle", [
    (lambda d: d.pop("result_format"), "no format_version"),
    (lambda d: d.update(result_format=0), "unknown format_version 0"),
    (lambda d: d.update(n_items=-1), "n_items"),
    (lambda d: d["records"][2].update(correct="yes"), "records/2/correct"),
    (lambda d: d.update(surprise=1), "surprise"),
])
def test_malformed_result_is_named(tmp_path, change, needle):
    data = json.loads(V1.read_text())
    change(data)
    path = tmp_path / V1.name
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=V1.name) as ei:
        R.load_result(path)
    assert needle in str(ei.value)


def test_written_bytes_are_deterministic_and_carry_the_version(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    rel = make_release(tmp_path, n_patients=3, per_patient=2)
    sub = write_submission(tmp_path / "s.jsonl", rel, correct=4, skip=1)
    a = score_file(sub, benchmark=rel, publish=False, show_progress=False).result
    b = score_file(sub, benchmark=rel, publish=False, show_progress=False).result
    text = R.result_text(a)
    assert text == R.result_text(b) == canonical_json(a, indent=2) + "\n"
    assert json.loads(text)["format_version"] == R.RESULT_FORMAT
    # today's file is the format-1 fixture's content with the new version field, byte for byte,
    # but for what names the release (the fixture's was written in release format 1): its
    # sha256, the submission's sha256 (its header names the release) and the result id
    fixture = json.loads(V1.read_text())
    expected = _as_v2(V1.read_text())
    for key in ("result_id", "submission_sha256"):
        expected = expected.replace(fixture[key], a[key])
    expected = expected.replace(fixture["benchmark"]["sha256"], a["benchmark"]["sha256"])
    assert fixture["benchmark"]["sha256"] != a["benchmark"]["sha256"]
    assert text == expected
    lb = tmp_path / "lb"
    score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False)
    stored = lb / "results" / f"{a['result_id']}.json"
    assert stored.read_text() == text and R.read_result(stored).to_dict() == json.loads(text)


def test_leaderboard_reads_a_format_1_store(tmp_path, monkeypatch):
    from medbench.publish import publish_results

    use_fake_family(monkeypatch)
    lb = tmp_path / "lb"
    (lb / "results").mkdir(parents=True)
    shutil.copy(V1, lb / "results" / V1.name)
    publish_results(lb, [])
    assert "model-a" in (lb / "index.html").read_text()
    assert json.loads((lb / "results" / V1.name).read_text())["result_format"] == 1  # read, not rewritten


def test_schema_is_the_model():
    schema = R.result_json_schema()
    assert schema["title"] == "medbench result" and "format_version" in schema["properties"]


# ---------------------------------------------------------------- per-family record models

def _qa_record(**over):
    rec = {"item_id": "qa-1", "subject_id": 7, "correct": False, "score": 0, "category": "t1",
           "answerable": True, "abstained": True, "answer_type": "number", "error": None,
           "input": {"question": "q?"}, "gold": {"answer_text": "3"}, "prediction": None}
    rec.update(over)
    return rec


def test_every_family_declares_a_record_model():
    from medbench.tasks import FAMILIES, get_family
    from medbench.tasks.contract import ItemRecord

    for name in FAMILIES:
        assert issubclass(get_family(name).record_model, ItemRecord), name


def test_broken_record_is_refused_when_written_naming_the_item():
    # the format-1 fixture's records, read as the real sql family's: they lack SQL's fields
    result = R.load_result(V1)
    with pytest.raises(UserError, match=r"item 'sql-0000': sql record answerable: Field required"):
        R.result_text(result)
    for rec in result["records"]:
        rec.update(answerable=True, abstained=False, executed=True)
    result["records"][3]["executed"] = "maybe"
    with pytest.raises(UserError, match=r"item 'sql-0003': sql record executed"):
        R.result_text(result)
    result["records"][3]["executed"] = False
    assert json.loads(R.result_text(result))["records"][3]["executed"] is False


def test_drill_down_reads_typed_records_and_the_family_labels_the_outcome():
    from medbench.publish.drill import drill_items

    r = {"task": "qa", "result_id": "x", "records": [
        _qa_record(),  # answerable, abstained: scores 0 — "abstained", not "wrong"
        _qa_record(item_id="qa-2", abstained=False, score=-1, pred_answer="4"),
        _qa_record(item_id="qa-3", answerable=False, correct=True, score=1),
        _qa_record(item_id="qa-4", missing=True, abstained=False, score=-1)]}
    items = drill_items(r)
    assert [it["outcome"] for it in items] == ["abstained", "wrong", "correct", "missing"]
    # read typed, shown as stored: an int score stays an int (the page prints "-1", not "-1.000")
    assert [(type(it["score"]), it["score"]) for it in items[:2]] == [(int, 0), (int, -1)]
    r["records"][1]["answerable"] = "perhaps"
    with pytest.raises(UserError, match=r"item 'qa-2': qa record answerable"):
        drill_items(r)
