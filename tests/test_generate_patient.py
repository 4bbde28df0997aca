"""generate-patient: the demo end to end, the discharge-note path, and the LLM path against a real
OpenAI-compatible server on loopback (429 retried, JSON repair, schema failure recorded)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli
from fake_openai_server import FakeOpenAIServer
from notes_dataset import CHIEF, NOTED, OTHER, SUBJECT, make_notes_dataset

from medbench.errors import UserError
from medbench.extract.packet import extract_packet, packet_dict, packet_json
from medbench.generate import GenerateParams, generate_patient
from medbench.store import ingest
from medbench.tasks.conversation.schema import validate_conversation

ADMISSION_FILES = {"packet.json", "input_data_manifest.json", "prompt_record.json", "model_call_record.json",
                   "raw_model_output.json", "conversation.jsonl", "summary.json"}


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_patient_all_admissions(demo_dir, demo_store, tmp_path):
    out = tmp_path / "out"
    args = ("generate-patient", "--subject-id", str(SUBJECT), "--mimic-dir", str(demo_dir), "--out-dir", str(out))
    assert_one_line_error(run_cli(*args), "--include-admissions-without-discharge")
    assert not out.exists()

    proc = run_cli(*args, "--include-admissions-without-discharge")
    assert proc.returncode == 0, proc.stderr
    root = out / str(SUBJECT)
    manifest = json.loads((root / "patient_manifest.json").read_text())
    assert manifest["counts"] == {"done": 20, "failed": 0, "skipped": 0}
    assert manifest["model"] == "template" and manifest["baseline"] is True
    adms = manifest["admissions"]
    assert [(a["admittime"], a["hadm_id"]) for a in adms] == sorted((a["admittime"], a["hadm_id"]) for a in adms)
    dirs = sorted(p.name for p in (root / "admissions").iterdir())
    assert dirs == sorted(str(a["hadm_id"]) for a in adms)
    n_turns = 0
    for a in adms:
        adir = root / "admissions" / str(a["hadm_id"])
        assert {p.name for p in adir.iterdir()} == ADMISSION_FILES  # the demo has no unlinked notes
        packet = json.loads((adir / "packet.json").read_text())
        turns = [json.loads(line) for line in (adir / "conversation.jsonl").read_text().splitlines()]
        conv = {"turns": [{k: t[k] for k in ("timestamp", "speaker", "text")} for t in turns]}
        assert validate_conversation(conv, packet) == []
        # grounded: the primary diagnosis and the discharge disposition are discussed
        text = " ".join(t["text"] for t in turns).lower()
        assert packet["diagnoses"][0]["title"][1:].lower() in text
        call = json.loads((adir / "model_call_record.json").read_text())
        assert call["model"] == "template" and call["baseline"] is True
        n_turns += len(turns)
        assert packet_json(extract_packet(demo_store, a["hadm_id"])) + "\n" == (adir / "packet.json").read_text()
    details = (root / "conversation_details.jsonl").read_text().splitlines()
    assert len(details) == n_turns and json.loads(details[0])["subject_id"] == SUBJECT
    only = json.loads((root / "conversation_only.json").read_text())
    assert [a["hadm_id"] for a in only["admissions"]] == [a["hadm_id"] for a in adms]
    assert set(only["admissions"][0]["turns"][0]) == {"speaker", "text"}
    first = _tree(root)

    # re-running replaces the folder atomically and gives identical bytes (template baseline)
    (root / "stale.txt").write_text("x")
    proc = run_cli(*args, "--include-admissions-without-discharge")
    assert proc.returncode == 0, proc.stderr
    assert _tree(root) == first
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_discharge_note_path(demo_dir, tmp_path):
    store = ingest(make_notes_dataset(demo_dir, tmp_path / "mimic"), tmp_path / "s.duckdb", show_progress=False)
    m = generate_patient(store, SUBJECT, tmp_path / "out", GenerateParams(), show_progress=False)
    assert m["counts"] == {"done": 1, "failed": 0, "skipped": 19}
    by_h = {a["hadm_id"]: a for a in m["admissions"]}
    assert by_h[NOTED]["status"] == "done" and by_h[OTHER]["reason"] == "no discharge note"
    adir = tmp_path / "out" / str(SUBJECT) / "admissions" / str(NOTED)
    assert {p.name for p in adir.iterdir()} == ADMISSION_FILES | {"unlinked_notes.json"}
    unlinked = json.loads((adir / "unlinked_notes.json").read_text())
    assert [n["note_id"] for n in unlinked["notes"]] == [f"{SUBJECT}-RR-2"]
    text = (adir / "conversation.jsonl").read_text()
    assert CHIEF.lower() in text.lower()  # the discharge note's chief complaint
    assert "No acute hemorrhage" in text  # the linked radiology impression
    prompt = json.loads((adir / "prompt_record.json").read_text())
    assert [t["name"] for t in prompt["templates"]] == ["conversation_system.j2", "conversation_user.j2"]
    assert all(len(t["sha256"]) == 64 for t in prompt["templates"])
    assert "DISCHARGE SUMMARY" in prompt["messages"][1]["content"]
    # --max-admissions keeps the first N of the eligible admissions; --hadm-id picks one
    m2 = generate_patient(store, SUBJECT, tmp_path / "out2",
                          GenerateParams(include_without_discharge=True, max_admissions=2), show_progress=False)
    assert [a["status"] for a in m2["admissions"]][:3] == ["done", "done", "skipped"]
    with pytest.raises(UserError, match="--hadm-id 1 is not an admission"):
        generate_patient(store, SUBJECT, tmp_path / "out3", GenerateParams(hadm_id=1), show_progress=False)


def test_synthetic_discharge_path(tmp_path):
    from medbench.store.synth import generate

    src = tmp_path / "synth"
    generate(src, patients=10, seed=3)
    store = ingest(src, tmp_path / "s.duckdb", show_progress=False)
    con = store.connect()
    subject = con.execute("SELECT subject_id FROM discharge GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
    con.close()
    m = generate_patient(store, subject, tmp_path / "out", GenerateParams(), show_progress=False)
    assert m["counts"]["done"] >= 1 and m["counts"]["failed"] == 0
    for a in m["admissions"]:
        if a["status"] == "done":
            p = json.loads((tmp_path / "out" / str(subject) / "admissions" / str(a["hadm_id"]) / "packet.json").read_text())
            assert p["discharge_notes"]


# ----------------------------------------------------------------------------- the LLM path
_WINDOW = re.compile(r"inside the admission \((\S+ \S+) to (\S+ \S+)\)")
_HADM = re.compile(r"admission (\d+)\)")


def _valid_reply(body: dict, speaker: str = "doctor") -> str:
    start, end = _WINDOW.search(body["messages"][0]["content"]).groups()
    return json.dumps({"turns": [{"timestamp": start, "speaker": speaker, "text": "Hello, how are you feeling?"},
                                 {"timestamp": end, "speaker": "patient", "text": "Better, thank you."}]})


def _is_repair(body: dict) -> bool:
    return "previous reply was not valid" in str(body["messages"][-1].get("content"))


@pytest.fixture
def llm_env(demo_store, monkeypatch):
    monkeypatch.setenv("MEDBENCH_RETRY_BASE_S", "0.01")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    return demo_store


def _params(srv, **kw) -> GenerateParams:
    return GenerateParams(model="openai/fake-model", api_base=srv.url, include_without_discharge=True,
                          retry_limit=2, **kw)


def test_llm_429_then_success_is_retried(llm_env, tmp_path):
    with FakeOpenAIServer(responder=_valid_reply, script=["429"]) as srv:
        m = generate_patient(llm_env, SUBJECT, tmp_path, _params(srv, hadm_id=NOTED), show_progress=False)
    assert m["counts"]["done"] == 1
    call = json.loads((tmp_path / str(SUBJECT) / "admissions" / str(NOTED) / "model_call_record.json").read_text())
    assert [a["status_code"] for a in call["attempts"]] == [429, None]
    assert call["ok"] is True and call["prompt_tokens"] > 0 and call["baseline"] is False
    assert m["usage"]["prompt_tokens"] == call["prompt_tokens"]


def test_llm_invalid_json_then_valid_via_repair(llm_env, tmp_path):
    def responder(body):
        return _valid_reply(body) if _is_repair(body) else "Sure! Here is the conversation: {turns: oops"

    with FakeOpenAIServer(responder=responder) as srv:
        m = generate_patient(llm_env, SUBJECT, tmp_path, _params(srv, hadm_id=NOTED), show_progress=False)
    assert m["counts"]["done"] == 1
    adir = tmp_path / str(SUBJECT) / "admissions" / str(NOTED)
    call = json.loads((adir / "model_call_record.json").read_text())
    assert [a["kind"] for a in call["attempts"]] == ["request", "repair"]
    assert "JSON" in call["attempts"][0]["error"]
    assert len((adir / "conversation.jsonl").read_text().splitlines()) == 2


def test_llm_schema_violation_fails_admission_and_run_continues(llm_env, tmp_path):
    first = 22741225  # the patient's first admission: always answered with a bad speaker

    def responder(body):
        hadm = int(_HADM.search(body["messages"][-1]["content"] if not _is_repair(body)
                                else body["messages"][1]["content"]).group(1))
        return _valid_reply(body, speaker="alien" if hadm == first else "doctor")

    with FakeOpenAIServer(responder=responder) as srv:
        m = generate_patient(llm_env, SUBJECT, tmp_path, _params(srv, max_admissions=2), show_progress=False)
    assert m["counts"] == {"done": 1, "failed": 1, "skipped": 18}
    a0, a1 = m["admissions"][:2]
    assert a0["hadm_id"] == first and a0["status"] == "failed" and "speaker" in a0["reason"]
    assert a1["status"] == "done"
    summary = json.loads((tmp_path / str(SUBJECT) / "admissions" / str(first) / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["attempts"] == 3  # 1 request + 2 repairs
    assert (tmp_path / str(SUBJECT) / "admissions" / str(first) / "conversation.jsonl").read_text() == ""

    # a run where every admission fails is a failed run: the previous folder stays as it was
    before = _tree(tmp_path / str(SUBJECT))
    with (FakeOpenAIServer(responder=lambda body: _valid_reply(body, speaker="alien")) as srv,
          pytest.raises(UserError, match="all 1 admission")):
        generate_patient(llm_env, SUBJECT, tmp_path, _params(srv, hadm_id=first), show_progress=False)
    assert _tree(tmp_path / str(SUBJECT)) == before


def test_validate_conversation_catches_problems(demo_store):
    p = packet_dict(extract_packet(demo_store, NOTED))
    ok = {"turns": [{"timestamp": "2146-10-09 10:00:00", "speaker": "doctor", "text": "Hi"}]}
    assert validate_conversation(ok, p) == []
    bad = {"turns": [{"timestamp": "2146-10-13 10:00:00", "speaker": "doctor", "text": "late"},
                     {"timestamp": "2146-10-09 10:00:00", "speaker": "nurse", "text": " "}]}
    problems = validate_conversation(bad, p)
    assert any("after discharge" in x for x in problems)
    assert any("back in time" in x for x in problems) and any("empty text" in x for x in problems)
    assert validate_conversation({"turns": []}, p)[0].startswith("schema:")
    assert any("speaker" in x for x in validate_conversation(
        {"turns": [{"timestamp": "2146-10-09 10:00:00", "speaker": "alien", "text": "x"}]}, p))


def test_any_backend_of_the_factory_generates(llm_env, tmp_path, monkeypatch):
    """generate-patient takes its Model from the same backend factory as `run`: a local backend
    (registered here as `local:`) generates, and its output is validated like an API model's."""
    from medbench.models import BACKENDS, Generation, Model

    class Local(Model):
        kind = "local"

        def __init__(self, spec):
            self.spec = spec

        def generate_batch(self, batch):
            return [Generation(text=_valid_reply({"messages": messages}), prompt_tokens=3, completion_tokens=4)
                    for messages, _item in batch]

    monkeypatch.setitem(BACKENDS.targets, "local", lambda spec, rest, **kw: Local(spec))
    m = generate_patient(llm_env, SUBJECT, tmp_path, GenerateParams(model="local:x", hadm_id=NOTED,
                                                                   include_without_discharge=True),
                         show_progress=False)
    assert m["counts"]["done"] == 1 and m["usage"]["prompt_tokens"] == 3
    adir = tmp_path / str(SUBJECT) / "admissions" / str(NOTED)
    call = json.loads((adir / "model_call_record.json").read_text())
    assert call["kind"] == "local" and call["ok"] is True and call["baseline"] is False
    assert len((adir / "conversation.jsonl").read_text().splitlines()) == 2
    with pytest.raises(UserError, match="unknown baseline 'abstain' for task conversation"):
        generate_patient(llm_env, SUBJECT, tmp_path, GenerateParams(model="baseline:abstain"), show_progress=False)
