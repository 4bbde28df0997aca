"""Conversation family: gold facts and lexicon, the parser, deterministic metrics against
hand-computed cases, the demo build, and the LLM judge against a real loopback HTTP server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from medbench.tasks import get_family
from medbench.tasks.conversation import parse_output
from medbench.tasks.conversation.facts import dx_forms, gold_facts, lab_forms, med_forms, split_lexicon

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_openai_server import FakeOpenAIServer

CONV = get_family("conversation")

RX = {"starttime": "2150-01-01 10:00:00", "dose_val_rx": "40", "dose_unit_rx": "mg", "route": "PO"}
LAB = {"charttime": "2150-01-01 09:00:00", "fluid": "Blood", "value": "2.1", "valuenum": 2.1, "unit": "mg/dL"}
PACKET = {
    "subject_id": 7, "hadm_id": 70,
    "patient": {"gender": "F", "age_at_admission": 70},
    "admission": {"admittime": "2150-01-01 08:00:00", "dischtime": "2150-01-05 12:00:00",
                  "discharge_location": "HOME", "deathtime": None, "hospital_expire_flag": 0,
                  "admission_type": "EW EMER.", "admission_location": "EMERGENCY ROOM"},
    "diagnoses": [{"seq_num": 1, "icd_code": "I5023", "icd_version": 10,
                   "title": "Acute on chronic systolic (congestive) heart failure"},
                  {"seq_num": 2, "icd_code": "Y929", "icd_version": 10, "title": "Unspecified place"}],
    "prescriptions": [{**RX, "drug": "Furosemide 40 mg Tab"}, {**RX, "drug": "Sodium Chloride 0.9%  Flush"}],
    "labs": [{**LAB, "itemid": 50912, "label": "Creatinine", "flag": "abnormal"},
             {**LAB, "itemid": 50983, "label": "Sodium", "flag": None}],
    "procedures": [], "microbiology": [], "emar": [], "pharmacy": [], "transfers": [], "services": [],
    "icu_stays": [], "drg_codes": [], "vitals": [], "omr": [], "radiology_notes": [], "discharge_notes": [],
}


def test_surface_forms():
    assert med_forms("Metoprolol Tartrate 25 mg") == ["metoprolol"]
    assert med_forms("Potassium Chloride") == ["potassium chloride"]  # not "potassium" (a lab)
    assert med_forms("Sodium Chloride 0.9%  Flush") == []  # a vehicle, never a fact
    assert dx_forms("Hypothyroidism, unspecified") == ["hypothyroidism"]
    assert "hypertension" in dx_forms("Essential (primary) hypertension")
    assert lab_forms("Calcium, Total") == ["calcium total", "calcium"]


def test_gold_facts_from_packet():
    facts = gold_facts(PACKET)
    assert [(f["type"], f["id"]) for f in facts] == [
        ("diagnosis", "dx:10:I5023"),  # the place-of-occurrence code (Y92.9) is not a fact
        ("medication", "med:furosemide"),
        ("abnormal_lab", "lab:50912"),
        ("disposition", "dispo:home"),
    ]
    assert "heart failure" in facts[0]["surface_forms"]


def test_split_lexicon():
    lexicon = {"medications": [["insulin"], ["furosemide"]], "labs": [["creatinine"], ["troponin t", "troponin"]],
               "diagnoses": [["atrial fibrillation", "fibrillation"]]}
    invented, grounded = split_lexicon(lexicon, PACKET)
    assert invented == {"medications": [["insulin"]], "labs": [["troponin t", "troponin"]],
                        "diagnoses": [["atrial fibrillation", "fibrillation"]]}
    assert ["furosemide"] in grounded["medications"] and ["creatinine", "creat"] in grounded["labs"]


def _conv(*texts, start="2150-01-01 09:00:00"):
    return {"turns": [{"timestamp": start, "speaker": "doctor" if i % 2 == 0 else "patient", "text": t}
                      for i, t in enumerate(texts)]}


GOLD = {
    "item_id": "c1", "task": "conversation",
    "facts": [
        {"type": "diagnosis", "id": "d1", "text": "heart failure", "surface_forms": ["heart failure"]},
        {"type": "medication", "id": "m1", "text": "furosemide", "surface_forms": ["furosemide", "lasix"]},
        {"type": "abnormal_lab", "id": "l1", "text": "abnormal creatinine", "surface_forms": ["creatinine"]},
    ],
    "lexicon": {"medications": [["insulin"]], "labs": [], "diagnoses": [["atrial fibrillation"]]},
    "grounded": {"medications": [["furosemide", "lasix"]], "labs": [["creatinine"]], "diagnoses": []},
}
ITEM = {"item_id": "c1", "subject_id": 7, "packet": PACKET}


def test_metrics_hand_computed():
    conv = _conv("Your Heart-Failure got worse, so we gave you Lasix.", "And insulin?",
                 "Yes, insulin for your sugars.")
    rec = CONV.score_item(ITEM, GOLD, conv)
    assert rec["schema_valid"] and rec["chronology_ok"]
    assert rec["facts_hit"]["diagnosis"] == 1 and rec["facts_hit"]["medication"] == 1
    assert rec["missed_facts"] == ["l1"] and rec["category"] == "abnormal_lab"
    assert rec["invented"] == 1 and rec["grounded"] == 1  # insulin invented, lasix grounded
    recall, inv = 2 / 3, 1 / 2
    assert rec["fact_f1"] == pytest.approx(2 * recall * (1 - inv) / (recall + 1 - inv))  # 4/7
    assert rec["score"] == pytest.approx(rec["fact_f1"] * rec["form"]["form_score"], abs=1e-6)
    m = CONV.aggregate([rec])
    assert m["fact_f1"] == pytest.approx(4 / 7) and m["fact_recall"] == pytest.approx(2 / 3)
    assert m["invented_entity_rate"] == pytest.approx(0.5)
    assert m["recall_abnormal_lab"] == 0.0 and m["recall_medication"] == 1.0

    perfect = CONV.score_item(ITEM, GOLD, _conv("Heart failure, furosemide and creatinine."))
    both = CONV.aggregate([rec, perfect])
    assert both["fact_recall"] == pytest.approx(5 / 6)
    assert both["invented_entity_rate"] == pytest.approx(1 / 4)  # 1 invented of 4 mentions
    # neither passes: valid and chronological, fact-F1 4/7 and 1, but 3 and 1 turns for a 4-day
    # stay and no admission-to-discharge arc, so fact-F1 x form score stays below CORRECT_F1
    assert both["schema_validity"] == 1.0 and both["items_passing"] == 0.0
    assert both["fact_f1"] > 0.5 and both["conversation_score"] < 0.5
    assert "accuracy" not in both


_DIALOGUE = [
    "Hello, you were admitted through the emergency room last night.",  # admission
    "Yes, I could not breathe.",
    "We started furosemide to take fluid off your heart failure.",  # course
    "Okay.",
    "Your creatinine came back a little high.",  # results
    "Is that bad?",
    "It is mild; we will watch it.",
    "Thank you.",
    "You are doing better.",
    "Good.",
    "You can be discharged home tomorrow.",  # discharge
    "Great.",
]


def test_form_gates_the_headline_hand_computed():
    from medbench.tasks.conversation.form import min_turns
    from medbench.tasks.conversation.prompt import render_conversation_prompt

    assert min_turns(PACKET) == 6 + 5  # 4.17-day stay: 6 + 1 per started day
    good = CONV.score_item(ITEM, GOLD, _conv(*_DIALOGUE))
    f = good["form"]
    assert (f["speakers"], f["alternation"], f["phase_coverage"], f["copy_rate"]) == (2, 1.0, 1.0, 0.0)
    assert f["form_score"] == 1.0 and good["fact_f1"] == 1.0 and good["score"] == 1.0 and good["correct"]
    # one speaker: no dialogue at all
    mono = {"turns": [dict(t, speaker="doctor") for t in _conv(*_DIALOGUE)["turns"]]}
    assert CONV.score_item(ITEM, GOLD, mono)["score"] == 0.0
    # the first six turns: 6 of 11 turns, and no discharge phase
    short = CONV.score_item(ITEM, GOLD, _conv(*_DIALOGUE[:6]))
    assert short["form"]["phase_coverage"] == 0.75
    assert short["form"]["form_score"] == pytest.approx(6 / 11 * 0.75, abs=1e-6)
    # the rendered packet read out in alternating turns: every 8-gram copied, form score 0
    words = render_conversation_prompt(PACKET)[1]["content"].split()
    chunks = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    copied = CONV.score_item(ITEM, GOLD, _conv(*chunks))
    assert copied["form"]["copy_rate"] > 0.9 and copied["form"]["form_score"] == 0.0 and copied["score"] == 0.0
    # an over-long turn counts against the form
    long = _conv(*_DIALOGUE[:-1], " ".join(["fine"] * 200))
    assert CONV.score_item(ITEM, GOLD, long)["form"]["dialogue_form"] == pytest.approx(11 / 12, abs=1e-6)
    m = CONV.aggregate([good, copied])
    assert m["conversation_score"] == 0.5 and m["form_score"] == 0.5 and m["copy_rate"] > 0.45


def test_invalid_and_out_of_order_conversations():
    missing = CONV.score_item(ITEM, GOLD, CONV.missing_prediction)
    assert not missing["schema_valid"] and missing["score"] == 0.0 and not missing["correct"]
    bad_schema = CONV.score_item(ITEM, GOLD, {"turns": [{"speaker": "alien", "text": "heart failure"}]})
    assert not bad_schema["schema_valid"] and bad_schema["facts_hit"]["diagnosis"] == 0
    backwards = {"turns": [{"timestamp": "2150-01-02 09:00:00", "speaker": "doctor", "text": "heart failure"},
                           {"timestamp": "2150-01-01 09:00:00", "speaker": "patient", "text": "ok"}]}
    rec = CONV.score_item(ITEM, GOLD, backwards)
    assert rec["schema_valid"] and not rec["chronology_ok"] and not rec["correct"]
    m = CONV.aggregate([missing, bad_schema, rec])
    assert m["schema_validity"] == pytest.approx(1 / 3) and m["chronology"] == 0.0
    assert m["items_passing"] == 0.0


@pytest.mark.parametrize("raw", [
    '{"turns": [{"timestamp": "2150-01-01 09:00:00", "speaker": "doctor", "text": "hi"}]}',
    '```json\n{"turns": [{"timestamp": "2150-01-01 09:00", "speaker": "nurse", "text": "hi"}]}\n```',
    ('Sure! {"conversation": {"turns": [{"timestamp": "2150-01-01 09:00:00", "speaker": "doctor", '
     '"text": "x"}]}} Done.'),
])
def test_parser_valid(raw):
    conv, err = parse_output(raw)
    assert err is None and isinstance(conv, dict) and conv["turns"]


@pytest.mark.parametrize("raw", [None, "", "no json here", "[1, 2]", '{"turns": []}', "{" * 5000])
def test_parser_failures_never_raise(raw):
    conv, err = parse_output(raw)
    assert err
    assert conv is None or isinstance(conv, dict)


def test_demo_items(demo_store, tmp_path):
    """The demo has no notes: every admission with a packet is an item (275)."""
    from medbench.build import BuildContext, resolve_patients
    from medbench.io import canonical_json
    from medbench.models.baselines.template_conversation import generate_conversation

    ids, _ = resolve_patients(demo_store, None)
    out = CONV.build(BuildContext(demo_store, ids, {"seed": 0}, tmp_path))
    assert len(out.items) == 275 and out.info["selection"] == "all_admissions"
    from _release_schemas import assert_records_match

    from medbench.release import open_release, write_release

    # stored items name their packet by hadm_id (written once, in contexts.jsonl) ...
    assert all(set(it) == {"item_id", "task", "split", "subject_id", "hadm_id"} for it in out.items)
    write_release(tmp_path / "rel", "demo", {"conversation": out}, {}, None)
    rel = open_release(tmp_path / "rel")
    items = rel.items("conversation")  # ... and the release reader gives the whole item back
    records = json.loads(canonical_json([items, list(rel.gold("conversation").values())]))
    assert assert_records_match("items", "conversation", records[0]) == 275
    assert assert_records_match("gold", "conversation", records[1]) == 275
    gold = {g["item_id"]: g for g in out.gold}
    for it in items:
        assert set(it) == {"item_id", "task", "split", "subject_id", "hadm_id", "packet"}
        assert it["packet"]["hadm_id"] == it["hadm_id"]
        g = gold[it["item_id"]]
        assert g["facts"] and {f["type"] for f in g["facts"]} <= {
            "diagnosis", "medication", "abnormal_lab", "procedure", "microbiology", "disposition"}
        assert all(f["surface_forms"] for f in g["facts"])
    # The grounded offline baseline: valid, chronological, no invented entities, decent recall.
    by_id = {it["item_id"]: it for it in items}
    sample = [by_id[it["item_id"]] for it in list(out.items)[:15]]  # the build's order (by hadm_id)
    preds = {it["item_id"]: generate_conversation(it["packet"]) for it in sample}
    m = CONV.aggregate(CONV.score_items(sample, gold, preds, None))
    assert m["schema_validity"] == 1.0 and m["chronology"] == 1.0
    assert m["invented_entity_rate"] == 0.0 and m["fact_recall"] > 0.3
    # ...and a conversation that names drugs absent from a packet is caught.
    it = sample[0]
    lex = [forms[0] for forms in gold[it["item_id"]]["lexicon"]["medications"][:3]]
    fake = _conv(*(f"We started you on {d}." for d in lex), start=it["packet"]["admission"]["admittime"])
    rec = CONV.score_item(it, gold[it["item_id"]], fake)
    assert rec["invented"] == len(lex) == 3


def test_judge_against_loopback_server(monkeypatch):
    monkeypatch.setenv("MEDBENCH_RETRY_BASE_S", "0.01")
    seen = []

    def responder(body):
        seen.append(body["messages"][-1]["content"])
        return json.dumps({"accuracy": 4, "completeness": 3, "plausibility": 2, "rationale": "mostly grounded"})

    items = [ITEM, {**ITEM, "item_id": "c2"}, {**ITEM, "item_id": "c3"}]
    preds = {"c1": _conv("heart failure"), "c2": None, "c3": _conv("furosemide")}
    gold = {i["item_id"]: {**GOLD, "item_id": i["item_id"]} for i in items}

    class Ctx:
        judge = "openai/judge-model"
        api_base = None
        judge_model = None  # the scorer builds it from `judge` with the one backend factory

    with FakeOpenAIServer(responder=responder, script=["500"]) as srv:  # one transient fault, retried
        from medbench.models import judge_model
        from medbench.tasks.conversation.judge import judge_conversations

        Ctx.api_base = srv.url
        Ctx.judge_model = judge_model("openai/judge-model", api_base=srv.url)
        res = judge_conversations(items, preds, judge_model("openai/judge-model", api_base=srv.url))
        recs = CONV.score_items(items, gold, preds, Ctx())
    assert res["judge_accuracy"] == 4 and res["judge_completeness"] == 3 and res["judge_plausibility"] == 2
    assert res["judge_n"] == 2 and res["judge_failed"] == 1  # c2 has no conversation to judge
    assert res["per_item"]["c2"]["accuracy"] is None
    assert "ACCURACY" in seen[0] and "PLAUSIBILITY" in seen[0] and "heart failure" in seen[0] and "furosemide 40 mg" in seen[0].lower()
    m = CONV.aggregate(recs)
    assert m["judge_accuracy"] == 4 and m["judge_completeness"] == 3 and m["judge_plausibility"] == 2
    assert "fact_f1" in m  # reported beside, never instead of, the deterministic metrics


def test_word_prefilter_agrees_with_the_substring_rule():
    """`mentioned_in_words` (the build's fast path) decides exactly what `mentioned` does,
    including forms that cannot match whole words (a trailing space, a cut word, empty)."""
    import random

    from medbench.tasks.conversation.facts import mention_text, mentioned, mentioned_in_words

    rng = random.Random(0)
    vocab = ["heart", "failure", "acute", "on", "chronic", "metoprolol", "e", "coli", "k", "bun"]
    for _ in range(300):
        padded = mention_text(" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30))))
        words = frozenset(padded.split())
        forms = [" ".join(rng.choice(vocab + ["absent"]) for _ in range(rng.randint(1, 3)))
                 for _ in range(rng.randint(0, 4))]
        forms += rng.sample(["", " heart", "heart ", "heart  failure", "hear", "oli", "e coli"], 2)
        assert mentioned_in_words(forms, padded, words) == mentioned(forms, padded), (forms, padded)
