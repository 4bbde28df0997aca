"""ICD-10 coding family: code handling, the output parser, metrics vs hand-computed cases, and
the items built from the MIMIC-IV demo."""

from __future__ import annotations

import re

import pytest

from medbench.tasks import get_family
from medbench.tasks.icd.build import strip_discharge_diagnosis
from medbench.tasks.icd.metrics import aggregate, score_item
from medbench.tasks.icd.parse import is_valid_code, normalize_code, parse_output

ICD = get_family("icd")


@pytest.mark.parametrize("raw,codes", [
    ('["I50.9", "N17.9"]', ["I50.9", "N17.9"]),
    ('```json\n["i509", "E11.9", "I50.9"]\n```', ["I50.9", "E11.9"]),  # dotted, upper, de-duplicated
    ('Here are the codes: ["J18.9","J18.9 "] hope this helps', ["J18.9"]),
    ('{"codes": [{"code": "K21.9"}, "Z79.01"]}', ["K21.9", "Z79.01"]),
    ("I50.9, N17.9,E119", ["I50.9", "N17.9", "E11.9"]),
    ("1. I50.9 - heart failure\n2. N17.9 acute kidney failure\n3. I50.9", ["I50.9", "N17.9"]),
])
def test_parser_cases(raw, codes):
    pred, err = parse_output(raw)
    assert err is None
    assert pred == codes


@pytest.mark.parametrize("raw", [None, "", "   ", "I cannot determine any codes.", "[not json", "\x00\xff{]"])
def test_parser_failures_never_raise(raw):
    pred, err = parse_output(raw)
    assert pred == [] and err


def test_code_normalisation_and_validity():
    assert normalize_code(" i509 ") == "I50.9"
    assert normalize_code("S0262XA") == "S02.62XA"
    assert is_valid_code("I50.9") and is_valid_code("I50") and is_valid_code("T81.40XA")
    # Chapters, blocks, ICD-9 and retired/unknown codes are not valid ICD-10-CM codes.
    for bad in ("9", "I30-I5A", "401.9", "S03.0XXA", "I50.", "", "ZZZ.9"):
        assert not is_valid_code(bad), bad


def _items(*pairs):
    items, gold, preds = [], {}, {}
    for n, (g, p) in enumerate(pairs):
        iid = f"icd-{n}"
        items.append({"item_id": iid, "subject_id": n})
        gold[iid] = {"item_id": iid, "codes": sorted(g), "primary_code": g[0]}
        preds[iid] = p
    return items, gold, preds


def test_metrics_hand_computed():
    items, gold, preds = _items(
        (["I50.9", "N17.9", "E11.9"], ["I50.9", "J18.9", "E11.9"]),  # tp 2, fp 1, fn 1
        (["J18.9"], ["J18.9", "S030XXA"]),  # tp 1, fp 1 (an invalid, retired code)
    )
    recs = ICD.score_items(items, gold, preds, None)
    assert [(r["tp"], r["fp"], r["fn"]) for r in recs] == [(2, 1, 1), (1, 1, 0)]
    assert recs[0]["category"] == "Diseases of the circulatory system (I00-I99)"
    m = ICD.aggregate(recs)
    assert m["micro_precision"] == pytest.approx(3 / 5)
    assert m["micro_recall"] == pytest.approx(3 / 4)
    assert m["micro_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    # per code F1: I50.9 1, E11.9 1, N17.9 0, J18.9 (tp 1, fp 1) 2/3, S03.0XXA 0 (predicted only)
    # macro_f1 (Edin et al. 2023) averages over the gold codes; macro_f1_all over gold ∪ predicted
    assert m["macro_f1"] == pytest.approx((1 + 1 + 0 + 2 / 3) / 4)
    assert m["macro_f1_all"] == pytest.approx((1 + 1 + 0 + 2 / 3 + 0) / 5)
    assert m["p_at_5"] == pytest.approx((2 / 5 + 1 / 5) / 2)
    assert m["r_at_10"] == pytest.approx((2 / 3 + 1) / 2)
    p1, r1 = (1 + 1) / 2, (1 / 3 + 1) / 2  # both first predictions are right
    assert m["f1_at_1"] == pytest.approx(2 * p1 * r1 / (p1 + r1))
    # exact match counts valid predictions only: item 2's valid set {J18.9} equals its gold
    assert m["exact_match"] == pytest.approx(1 / 2)
    assert m["invalid_code_rate"] == pytest.approx(1 / 5)
    # categories: item 1 {I50,N17,E11} vs {I50,J18,E11}; item 2 {J18} vs {J18,S03}
    assert m["category_micro_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert ICD.headline_metric == "micro_f1"
    for k in range(1, 16):
        assert 0.0 <= m[f"f1_at_{k}"] <= 1.0


def test_macro_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    from sklearn.preprocessing import MultiLabelBinarizer

    cases = ((["I50.9", "N17.9"], ["I50.9"]), (["E11.9"], ["E11.9", "I10"]), (["I10"], []),
             (["K21.9", "I10"], ["I10", "N17.9"]))
    items, gold, preds = _items(*cases)
    m = aggregate(ICD.score_items(items, gold, preds, None))
    mlb = MultiLabelBinarizer().fit([c for pair in cases for c in pair])
    y_true, y_pred = mlb.transform([c[0] for c in cases]), mlb.transform([c[1] for c in cases])
    assert m["macro_f1"] == pytest.approx(sklearn.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(sklearn.f1_score(y_true, y_pred, average="micro", zero_division=0))


def test_missing_and_malformed_predictions_score_zero():
    item, gold = {"item_id": "x", "subject_id": 1}, {"item_id": "x", "codes": ["I10"]}
    for pred in (None, ICD.missing_prediction, "I10", [3, None]):
        rec = score_item(item, gold, pred)
        assert rec["tp"] == 0 and rec["fn"] == 1 and not rec["correct"]
    rec = score_item(item, gold, ["i10"])
    assert rec["correct"] and rec["score"] == 1.0


def test_aggregate_on_subsets():
    items, gold, preds = _items((["I10"], ["I10"]), (["E11.9"], ["I10"]))
    recs = ICD.score_items(items, gold, preds, None)
    assert ICD.aggregate(recs[:1])["micro_f1"] == 1.0
    assert ICD.aggregate(recs[1:])["micro_f1"] == 0.0
    assert ICD.aggregate(recs + recs)["micro_f1"] == pytest.approx(ICD.aggregate(recs)["micro_f1"])


def test_strip_discharge_diagnosis():
    note = ("Discharge Disposition:\nHome\n \nDischarge Diagnosis:\nPrimary: \n- Upper GI bleed\n"
            "Secondary:\n- Hypertension\n \nDischarge Condition:\nMental Status: Clear.\n")
    out = strip_discharge_diagnosis(note)
    assert "GI bleed" not in out and "Hypertension" not in out and "Secondary" not in out
    assert "Discharge Disposition:\nHome" in out and "Discharge Condition:\nMental Status: Clear." in out


def test_render_prompt():
    msgs = ICD.render_prompt({"item_id": "i", "source": "summary", "text": "ADMISSION SUMMARY\nX"}, None)
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "ADMISSION SUMMARY\nX" in msgs[1]["content"] and "JSON list" in msgs[1]["content"]


@pytest.fixture(scope="module")
def demo_icd(demo_store, tmp_path_factory):
    """The ICD task built from the demo once for this module (read-only use)."""
    from medbench.build import BuildContext, resolve_patients

    ids, _ = resolve_patients(demo_store, None)
    return ICD.build(BuildContext(demo_store, ids, {"seed": 0}, tmp_path_factory.mktemp("icd_build")))


def test_demo_items(demo_icd):
    """The demo has 123 admissions with ICD-10 diagnoses: one item each, no codes in the input."""
    out = demo_icd
    assert len(out.items) == len(out.gold) == 123
    assert out.info["dropped_codes"]["icd9"] > 0 and out.info["dropped_codes"]["invalid"] == 7
    assert out.info["text_source"] == {"discharge_note": 0, "summary": 123}  # the demo has no notes
    gold = {g["item_id"]: g for g in out.gold}
    for it in out.items:
        g = gold[it["item_id"]]
        assert g["codes"] == sorted(set(g["codes"])) and all(is_valid_code(c) for c in g["codes"])
        assert g["categories"] == sorted({c[:3] for c in g["codes"]})
        assert len(g["titles"]) == len(g["codes"]) and g["primary_code"] in g["codes"]
        text = it["text"]
        assert "DRG" not in text and not re.search(r"\bdiagnos[ie]s\b", text, re.IGNORECASE)
        for code in g["codes"]:
            assert not re.search(rf"\b{re.escape(code)}\b|\b{code.replace('.', '')}\b", text), code
        for t in g["titles"]:
            assert len(t) < 20 or t.lower() not in text.lower(), t


def test_demo_summaries_name_no_gold_diagnosis(demo_icd, demo_store):
    """No gold diagnosis title - whole, or its head before the first comma - appears in any item's
    text (case-insensitive, as words), whichever table the words would come from; the demo's
    "Insulin (Regular) for Hyperkalemia" (gold: Hyperkalemia) is shown as "Insulin (Regular)"."""
    con = demo_store.connect()
    try:
        db_titles = dict(con.execute("SELECT icd_code, long_title FROM d_icd_diagnoses "
                                     "WHERE icd_version = 10").fetchall())
    finally:
        con.close()
    gold = {g["item_id"]: g for g in demo_icd.gold}
    checked = 0
    for it in demo_icd.items:
        g = gold[it["item_id"]]
        titles = [*g["titles"], *(db_titles.get(c.replace(".", ""), "") for c in g["codes"])]
        for t in filter(None, titles):
            for needle in {t, t.split(",", 1)[0].strip()}:
                if len(needle) < 4:
                    continue
                pattern = r"(?<!\w)" + r"\s+".join(map(re.escape, needle.split())) + r"(?!\w)"
                assert not re.search(pattern, it["text"], re.IGNORECASE), (it["hadm_id"], needle)
                checked += 1
    assert checked > 500
    leaky = [it for it in demo_icd.items if "Insulin (Regular)" in it["text"]]
    assert leaky and all("for Hyperkalemia" not in it["text"] for it in leaky)


def test_summary_withholds_entries_naming_a_gold_title():
    from medbench.tasks.icd.build import icd_text

    pk = {"admission": {"admission_type": "URGENT", "discharge_location": "HOME"},
          "patient": {"gender": "F", "age_at_admission": 70},
          "prescriptions": [{"drug": "Insulin (Regular) for Hyperkalemia"}, {"drug": "Ketamine (For Intubation)"},
                            {"drug": "Anemia kit"}, {"drug": "Heparin"}],
          "procedures": [{"title": "Transfusion for acute  anemia", "chartdate": "2100-01-02"}]}
    _, text = icd_text(pk, ["Anemia, unspecified", "Hyperkalemia"])
    assert "Insulin (Regular)\n" in text + "\n" and "Ketamine" in text and "Heparin" in text
    assert "anemia" not in text.lower() and "hyperkalemia" not in text.lower() and "intubation" not in text.lower()
