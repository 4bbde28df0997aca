"""The qa family (EHR record question answering, issue 16's proof): answer types and matching,
the parser's abstention convention, and on a small synthetic release built with sql and qa —
pairing with the sql items, gold from the sql gold execution, sql bytes unchanged, published
schemas, the degenerate submissions (abstain on all, copy the context, a constant answer, the
gold itself), `baseline:qa-lookup` through run → validate → score → leaderboard, and the paired
qa-vs-sql difference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _release_schemas import assert_release_matches, problems

from medbench.build import build_release
from medbench.release import open_release
from medbench.tasks import get_family
from medbench.tasks.base import SPLITS, split_for_subject
from medbench.tasks.qa.answer import (
    ANSWER_TYPES,
    answer_matches,
    answer_type,
    gold_values,
    infer_answer_type,
    parse_date,
    parse_number,
    split_list,
)
from medbench.tasks.qa.build import (
    CONTEXT_BUCKETS,
    QA_MAX_PER_PATIENT,
    context_bucket,
    count_tokens,
    sample_per_patient,
)
from medbench.tasks.qa.metrics import paired_with_sql
from medbench.tasks.qa.parse import parse_output
from medbench.tasks.sql.normalize import _cell
from medbench.tasks.sql.templates import TEMPLATES

PER_SPLIT = 3  # patients per split in the test release


# ------------------------------------------------------------------------------ answer types


def test_every_sql_template_has_one_expected_answer_type():
    """Every template of the bank (whatever its size: no count is hard-coded) gets a type —
    declared, or inferred from its gold SQL / wording — and unanswerable templates get several
    types, so the type never tells whether a question is answerable."""
    types = {t.name: answer_type(t.name) for t in TEMPLATES}
    assert len(types) == len(TEMPLATES) and set(types.values()) <= {"number", "date", "string", "list", "yesno"}
    assert set(types.values()) == {"number", "date", "string", "list", "yesno"}
    assert len({types[t.name] for t in TEMPLATES if not t.answerable}) >= 4
    with pytest.raises(ValueError, match="not in the SQL family's bank"):
        answer_type("no.such_template")


def test_inferred_types_agree_with_the_declared_ones():
    """The inference a new template gets reproduces the declared types of the templates typed by
    hand (so it is a rule, not a guess): at least 95% agreement over the declared ones present."""
    declared = [t for t in TEMPLATES if t.name in ANSWER_TYPES]
    assert declared
    agree = [t.name for t in declared if infer_answer_type(t.gold, t.phrasings[0]) == ANSWER_TYPES[t.name]]
    assert len(agree) >= 0.95 * len(declared), sorted({t.name for t in declared} - set(agree))


@pytest.mark.parametrize("gold,phrasing,typ", [
    ("SELECT count(*) FROM labevents WHERE subject_id = 1", "", "number"),
    ("SELECT max(charttime) FROM labevents WHERE subject_id = 1", "", "date"),
    ("SELECT max(valuenum) FROM labevents WHERE subject_id = 1", "", "number"),
    ("SELECT EXISTS (SELECT 1 FROM admissions b WHERE b.hadm_id <> 2)", "", "yesno"),
    ("SELECT hospital_expire_flag FROM admissions WHERE hadm_id = 2", "", "yesno"),
    ("SELECT DISTINCT drug FROM prescriptions WHERE hadm_id = 2", "", "list"),
    ("SELECT gender FROM patients WHERE subject_id = 1", "", "string"),
    ("WITH x AS (SELECT admittime FROM admissions) SELECT count(*) FROM x", "", "number"),
    ("SELECT date_diff('second', a, (SELECT max(b) FROM t WHERE c <> d)) / 86400.0 FROM t", "", "number"),
    (None, "How many cigarettes does patient {subject_id} smoke?", "number"),
    (None, "When will patient {subject_id} next be admitted?", "date"),
    (None, "Will patient {subject_id} need a higher dose?", "yesno"),
    (None, "List the drug allergies of patient {subject_id}.", "list"),
    (None, "What is the phone number of patient {subject_id}?", "string"),
])
def test_answer_type_inference(gold, phrasing, typ):
    assert infer_answer_type(gold, phrasing) == typ


# ------------------------------------------------------------------------------ matching


@pytest.mark.parametrize("pred,gold,ok", [
    ("7.4", [7.4], True), ("7.44", [7.4], True), ("7.5", [7.4], False),  # 1% relative tolerance
    ("7.4 mg/dL", [7.4], True), ("Answer 7.4", [7.4], False), ("~37.5 hours", [37.5], True),
    ("1,234", [1234], True), ("0", [0], True), ("0.0004", [0], True), ("0.001", [0], False),
    ("-2", [-2.0], True), ("2", [-2.0], False), ("3 or 4", [3], False), ("three", [3], False),
    ("140 and 141", [140], False), ("40", ["40"], True), ("1-2", ["1-2"], True),
])
def test_number_answers(pred, gold, ok):
    assert answer_matches(pred, gold, "number") is ok


@pytest.mark.parametrize("pred,ok", [
    ("2150-03-04", True), ("2150-03-04 23:59:00", True), ("2150-03-04T01:00", True), ("03/04/2150", True),
    ("March 4, 2150", True), ("4 March 2150", True), ("2150-03-05", False), ("on 2150-03-04", False),
    ("2150-13-04", False), ("yesterday", False),
])
def test_date_answers_match_by_day(pred, ok):
    assert answer_matches(pred, ["2150-03-04 10:11:12"], "date") is ok


def test_list_answers_are_order_free_sets():
    gold = ["Hypertension, unspecified", "Sepsis"]
    assert answer_matches("sepsis\nHYPERTENSION,  unspecified", gold, "list")
    assert answer_matches('["Sepsis", "Hypertension, unspecified"]', gold, "list")
    assert answer_matches("- Sepsis\n- Hypertension, unspecified\n- Sepsis", gold, "list")  # repeats allowed
    assert not answer_matches("Sepsis", gold, "list")
    assert not answer_matches("Sepsis\nHypertension, unspecified\nAnemia", gold, "list")
    assert answer_matches("MICU, SICU", ["MICU", "SICU"], "list")  # comma reading when one element
    assert split_list("a; b | c") == [["a", "b", "c"]]


def test_string_and_yesno_answers():
    assert answer_matches("  medicare. ", ["Medicare"], "string")
    assert answer_matches("?", ["?"], "string") and not answer_matches("", ["?"], "string")
    assert not answer_matches(".", ["?"], "string") and not answer_matches(" ", [" "], "string")
    assert not answer_matches("Medicaid", ["Medicare"], "string")
    assert answer_matches("23.40", ["23.4"], "string")  # a numeric text cell matches its number
    assert answer_matches("Yes.", ["yes"], "yesno") and answer_matches("no, the patient survived", ["no"], "yesno")
    assert not answer_matches("yes", ["no"], "yesno") and not answer_matches("maybe", ["yes"], "yesno")
    assert not answer_matches("yes " * 40, ["yes"], "yesno")


def test_parsers_and_gold_values():
    assert parse_number("  7.4 mmol/L ") == 7.4 and parse_number("x" * 500) is None
    assert parse_date("2150-02-30") is None  # not a day
    assert gold_values([(1,), (None,), (1,)], "yesno") == ["yes"]
    import datetime as dt
    import decimal
    assert gold_values([(dt.datetime(2150, 1, 2, 3, 4, 5),)], "date") == ["2150-01-02 03:04:05"]
    assert gold_values([(decimal.Decimal("1.5"), "mg")], "number") == [1.5]
    assert gold_values([("b",), ("a",)], "list") == ["a", "b"]
    assert [count_tokens("Na 140 mmol/L."), context_bucket(2000), context_bucket(2001)] == [6, "le2k", "2k_8k"]
    assert [b for _, b in CONTEXT_BUCKETS] == ["le2k", "2k_8k", "8k_32k", "gt32k"]
    from medbench.tasks.qa.answer import answer_in_context
    assert answer_in_context([140], "number", "na 140 mmol/l") and not answer_in_context([14], "number", "na 140")
    assert answer_in_context(["MICU"], "list", "unit micu.") and not answer_in_context(["yes"], "yesno", "yes")


def test_the_per_patient_sample_depends_on_the_patient_only():
    a = [{"item_id": f"sql-{k:016x}", "subject_id": k % 3} for k in range(60)]
    keep = sample_per_patient(a, 5)
    assert len(keep) == 15
    alone = sample_per_patient([x for x in a if x["subject_id"] == 1], 5)
    assert alone == {i for i in keep if int(i[4:], 16) % 3 == 1}
    assert sample_per_patient(list(reversed(a)), 5) == keep
    assert sample_per_patient(a, 100) == {x["item_id"] for x in a}


# ------------------------------------------------------------------------------ parse


@pytest.mark.parametrize("raw,pred,err", [
    ("null", None, None), (" NULL. ", None, None), ("`None`", None, None),
    ("Answer: null", None, None), ("I don't know.", None, None),
    ("The record does not contain the patient's blood type.", None, None),
    ("Answer: 7.4", "7.4", None), ("Let me look.\nAnswer: 7.4 mmol/L", "7.4 mmol/L", None),
    ("Answer:\n- MICU\n- SICU", "- MICU\n- SICU", None), ("```\n140\n```", "140", None),
    ("", "", "empty output"), (None, "", "no output"), ("Answer:   ", "", "empty output"),
])
def test_parse_output(raw, pred, err):
    assert parse_output(raw) == (pred, err)


def test_parse_never_raises_on_hostile_text():
    for raw in ("Answer:" * 10_000, "\x00" * 1000, "```" * 3000, "a\n" * 50_000):
        pred, _ = parse_output(raw)
        assert pred is None or isinstance(pred, str)


def test_prompt_and_prediction_type():
    from medbench.scoring.submission import prediction_problem

    item = {"item_id": "qa-0", "task": "qa", "question": "What is the gender of patient 1?",
            "answer_type": "string", "context": "=== ADMISSION 5 (patient 1) ===\nPATIENT: gender F; age 50 at admission."}
    messages = get_family("qa").render_prompt(item, None)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "null" in messages[0]["content"] and "Answer:" in messages[0]["content"]
    user = messages[1]["content"]
    assert user.index(item["context"]) < user.index(item["question"]) and "answer type: string" in user
    assert prediction_problem("qa", "F") is None and prediction_problem("qa", None) is None
    assert prediction_problem("qa", ["F"]) and prediction_problem("qa", 5)


# ------------------------------------------------------------------------------ release

# One store and two small builds (~25 s CPU, more under load): every test on them is slow.
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def built(synth30_store, tmp_path_factory):
    """A synthetic store (generate(patients=30, seed=3), shared: tests/conftest.py); a release of
    sql + qa over 3 patients per split; and sql alone."""
    root = tmp_path_factory.mktemp("qa_release")
    store = synth30_store
    con = store.connect()
    try:
        subjects = [r[0] for r in con.execute("SELECT subject_id FROM patients ORDER BY subject_id").fetchall()]
    finally:
        con.close()
    chosen = {s: [x for x in subjects if split_for_subject(x) == s][:PER_SPLIT] for s in SPLITS}
    assert all(len(v) == PER_SPLIT for v in chosen.values()), chosen
    cohort = root / "cohort.csv"
    cohort.write_text("subject_id\n" + "".join(f"{s}\n" for v in chosen.values() for s in v))
    both = build_release(store=store, out=root / "both", tasks="qa,sql", name="qa-test", cohort=cohort,
                         show_progress=False)
    alone = build_release(store=store, out=root / "sql", tasks="sql", name="qa-test", cohort=cohort,
                          show_progress=False)
    qa_alone = build_release(store=store, out=root / "qa", tasks="qa", name="qa-test", cohort=cohort,
                             show_progress=False)
    return {"both": both.out, "sql": alone.out, "qa": qa_alone.out, "root": root}


def _files(path: Path, sub: str) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted((path / sub).rglob("*")) if p.is_file()}


@slow
def test_sql_task_bytes_do_not_change_when_qa_is_built(built):
    assert _files(built["both"], "sql") == _files(built["sql"], "sql")
    a, b = (json.loads((built[k] / "manifest.json").read_text()) for k in ("both", "sql"))
    assert a["tasks"]["sql"] == b["tasks"]["sql"]


@slow
def test_qa_bytes_are_the_same_built_alone_or_with_sql(built):
    """Deterministic, and independent of the other families of the build."""
    assert _files(built["both"], "qa") == _files(built["qa"], "qa")
    a, b = (json.loads((built[k] / "manifest.json").read_text()) for k in ("both", "qa"))
    assert a["tasks"]["qa"] == b["tasks"]["qa"]


@slow
def test_qa_items_pair_with_sql_items_and_carry_sql_gold(built):
    rel = open_release(built["both"])
    rel.verify()
    assert rel.tasks() == ["qa", "sql"]
    sql_items = {it["item_id"]: it for it in rel.items("sql")}
    sql_gold, qa_gold = rel.gold("sql"), rel.gold("qa")
    items = rel.items("qa")
    info = rel.manifest["tasks"]["qa"]
    assert len(items) == info["items"] == (len(sql_items) - info["excluded_population_level"]
                                           - info["sql_questions_not_sampled"]
                                           - info["dropped_no_context"] - info["dropped_null_answer"])
    # only patient-scoped questions are asked (population-level ones have no patient record)
    scope = {t.name: getattr(t, "scope", "patient") for t in TEMPLATES}
    assert all(scope.get(qa_gold[it["item_id"]]["template"], "patient") == "patient" for it in items)
    assert all(it["subject_id"] is not None for it in items)
    per_patient: dict[int, int] = {}
    for it in items:
        per_patient[it["subject_id"]] = per_patient.get(it["subject_id"], 0) + 1
    assert max(per_patient.values()) <= info["max_per_patient"] == QA_MAX_PER_PATIENT
    assert all(n > 0 for n in info["counts"].values())
    assert info["answerable"] > 0 and info["unanswerable"] > 0
    for it in items:
        s, g, sg = sql_items[it["question_id"]], qa_gold[it["item_id"]], sql_gold[it["question_id"]]
        assert it["item_id"] == "qa-" + it["question_id"][len("sql-"):]
        for k in ("split", "subject_id", "hadm_id", "question", "template_seen_in_train"):
            assert it[k] == s[k], k
        assert it["split"] == split_for_subject(it["subject_id"])
        assert g["answerable"] == sg["answerable"] and g["sql_answer"] == sg["answer"]
        assert g["template"] == sg["template"] and it["answer_type"] == answer_type(sg["template"])
        assert not set(it) & {"answer", "answer_text", "sql_answer", "sql", "template", "answer_in_context"}
        # the context: the admission's rendered packet, or the patient's in hadm_id order
        assert it["context_hadm_ids"] == ([it["hadm_id"]] if it["hadm_id"] is not None else sorted(it["context_hadm_ids"]))
        assert [f"=== ADMISSION {h} " in it["context"] for h in it["context_hadm_ids"]] == [True] * len(it["context_hadm_ids"])
        assert it["context"].count("=== ADMISSION ") == len(it["context_hadm_ids"])
        assert it["context_chars"] == len(it["context"]) and it["context_tokens"] == count_tokens(it["context"])
        assert it["context_bucket"] == context_bucket(it["context_tokens"])
        if g["answerable"]:
            assert g["answer"] and g["answer_text"]
            # the gold values are the sql gold answer's cells (first column), in another form
            if g["answer_type"] != "yesno":
                assert all(_cell(v) in sg["answer"] for v in g["answer"]), (g["answer"], sg["answer"])
        else:
            assert g["answer"] is None and sg["sql"] is None
    assert 0 < info["answer_in_context"] < info["answerable"] + 1


@slow
def test_qa_lines_match_published_schemas(built):
    counts = assert_release_matches(built["both"])
    assert counts["qa/items"] > 0 and counts["qa/gold"] > 0
    rel = open_release(built["both"])
    item = rel.items("qa")[0]
    assert not problems("items", "qa", item)
    assert problems("items", "qa", {**item, "answer": ["x"]})  # gold can never pass as an item
    assert problems("items", "qa", {**item, "answer_type": "color"})


# ------------------------------------------------------------------------------ degenerate submissions


def _score(built, predict, split="test") -> dict:
    rel = open_release(built["both"])
    fam = get_family("qa")
    items, gold = rel.items("qa", split), rel.gold("qa", split)
    recs = fam.score_items(items, gold, {it["item_id"]: predict(it, gold[it["item_id"]]) for it in items})
    return {"metrics": fam.aggregate(recs), "records": recs, "gold": gold}


@slow
def test_abstain_on_all_scores_the_unanswerable_share(built):
    r = _score(built, lambda it, g: None)
    share = 100.0 * sum(1 for g in r["gold"].values() if not g["answerable"]) / len(r["gold"])
    m = r["metrics"]
    assert 0 < share < 100
    for c in ("rs0", "rs5", "rs10", "rsN"):
        assert m[c] == pytest.approx(share)
    assert m["answer_accuracy"] == 0 and m["abstention_recall"] == 100
    assert m["abstention_precision"] == pytest.approx(share)
    # "null" is an abstention too (the SQL convention); a missing prediction ("") is wrong
    assert _score(built, lambda it, g: "null")["metrics"] == m
    assert _score(built, lambda it, g: "")["metrics"]["rs0"] == 0


@slow
def test_copying_the_context_is_never_correct(built):
    for split in SPLITS:
        r = _score(built, lambda it, g: it["context"], split)
        assert not any(rec["correct"] for rec in r["records"])
        assert r["metrics"]["answer_accuracy"] == 0 and r["metrics"]["rs10"] == -1000.0


@slow
def test_a_constant_answer_scores_only_where_it_is_the_gold(built):
    r = _score(built, lambda it, g: "1")
    expected = sum(1 for g in r["gold"].values() if g["answerable"] and g["answer"] in ([1], [1.0], ["1"]))
    assert sum(rec["correct"] for rec in r["records"]) == expected
    assert r["metrics"]["rs10"] < 0


@slow
def test_the_gold_answer_scores_full_marks(built):
    for split in SPLITS:
        r = _score(built, lambda it, g: g["answer_text"] if g["answerable"] else None, split)
        assert r["metrics"]["answer_accuracy"] == 100 and r["metrics"]["rs10"] == 100
        bucket_metrics = [k for k in r["metrics"] if "_ctx_" in k]
        assert bucket_metrics and all(r["metrics"][k] == 100 for k in bucket_metrics)


@slow
def test_item_sums_give_the_same_metrics_as_aggregate(built):
    from medbench.tasks.sums import aggregate_from_sums

    fam = get_family("qa")
    r = _score(built, lambda it, g: "1" if g["answerable"] and len(it["question"]) % 2 else None)
    assert aggregate_from_sums(r["records"], fam.item_sums, fam.aggregate_sums) == r["metrics"]
    seen = {k for k in r["metrics"] if k.endswith(("_seen", "_unseen"))}
    assert "rs10_seen" in seen and "rs10_unseen" in seen  # test holds held-out templates


# ------------------------------------------------------------------------------ chain


@slow
def test_baseline_runs_scores_and_publishes(built, tmp_path, monkeypatch):
    from medbench.pipeline import score_file
    from medbench.publish import publish_results
    from medbench.run import run
    from medbench.scoring.submission import validate_submission

    rel = built["both"]
    out = tmp_path / "qa-lookup.jsonl"
    summary = run(rel, "qa", "baseline:qa-lookup", split="test", out=out)
    assert summary.failed == 0 and summary.parse_errors == 0
    sub = validate_submission(out, rel)
    assert sub.complete and not sub.missing
    lines = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    assert all(ln["prediction"] is None or isinstance(ln["prediction"], str) for ln in lines)
    lb = tmp_path / "lb"
    result = score_file(out, benchmark=rel, leaderboard=lb, show_progress=False).result
    m = result["metrics"]
    assert result["headline"]["name"] == "rs10" and "rs10" in result["intervals"]
    answered = [r for r in result["records"] if not r["abstained"]]
    assert answered and sum(r["correct"] for r in answered) > len(answered) / 2
    assert m["rs0"] > 100 - m["answerable_share"]  # beats abstaining on everything (RS(0) = unanswerable share)
    html = (lb / "index.html").read_text(encoding="utf-8")
    assert "baseline:qa-lookup" in html and "Question answering over a patient" in html
    publish_results(lb, [])  # re-render from the stored results: still there
    assert "baseline:qa-lookup" in (lb / "index.html").read_text(encoding="utf-8")

    # the same questions answered by SQL: paired on question ids
    sql_out = tmp_path / "sql-abstain.jsonl"
    run(rel, "sql", "baseline:abstain", split="test", out=sql_out)
    sql_result = score_file(sql_out, benchmark=rel, publish=False, show_progress=False).result
    pair = paired_with_sql(result["records"], sql_result["records"])
    assert pair["n"] == len(result["records"]) and pair["patients"] == PER_SPLIT
    assert pair["difference"] == pytest.approx(m["rs10"] - pair["sql"])
    assert pair["interval"][0] <= pair["difference"] <= pair["interval"][1]
    qa_by_question = {q["question_id"]: q for q in result["records"]}
    shared = [r for r in sql_result["records"] if r["item_id"] in qa_by_question]
    assert len(shared) == pair["n"] < len(sql_result["records"])  # qa asks a sample of the questions
    assert pair["sql_only_correct"] == sum(1 for r in shared if r["correct"]
                                           and not qa_by_question[r["item_id"]]["correct"])
    assert pair["sql"] == pytest.approx(sum(r["rs10"] for r in shared) / len(shared))
    # the leaderboard shows it for a model that did both (here: the sql run under the qa model's name)
    from medbench.publish.describe import fmt_metric
    from medbench.publish.site import render_site

    assert "The same questions, two tasks" not in html  # two different models: nothing paired
    render_site([result, {**sql_result, "model": result["model"]}], tmp_path / "site")
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "The same questions, two tasks" in page and "qa − sql" in page
    assert fmt_metric("rs10", pair["difference"]) + " [" + fmt_metric("rs10", pair["interval"][0]) in page


@slow
def test_inspect_export_scores_equal_medbench_score(built, tmp_path):
    """`medbench export --format inspect` → inspect eval with a mock model (gold on some items,
    null or junk on others) → import-inspect → medbench's scorer: the same headline."""
    pytest.importorskip("inspect_ai")
    import sys

    from conftest import inspect_mock_model, run_cli
    from inspect_ai import eval as inspect_eval

    from medbench.pipeline import score_file

    rel_path = built["both"]
    rel = open_release(rel_path)
    out = tmp_path / "inspect"
    proc = run_cli("export", str(rel_path), "--format", "inspect", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    items, gold = rel.items("qa", "test"), rel.gold("qa", "test")
    by_question = {it["question"] + "\n" + it["context"][-200:]: gold[it["item_id"]] for it in items}

    def answer(user):
        g = next(v for k, v in by_question.items() if k.split("\n", 1)[0] in user and k.split("\n", 1)[1] in user)
        k = len(user) % 3
        return ("Answer: " + (g["answer_text"] or "null")) if k == 0 else "null" if k == 1 else "Answer: 12345"

    sys.path.insert(0, str(out))
    try:
        import medbench_qa
    finally:
        sys.path.remove(str(out))
    [log] = inspect_eval(medbench_qa.medbench_qa(split="test"), model=inspect_mock_model(answer),
                         log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success", log.error
    metrics = {k: m.value for s in log.results.scores for k, m in s.metrics.items()}
    sub = tmp_path / "from_inspect.jsonl"
    proc = run_cli("import-inspect", log.location, "--out", str(sub))
    assert proc.returncode == 0, proc.stderr
    result = score_file(sub, benchmark=rel_path, publish=False, show_progress=False).result
    assert result["headline"]["name"] == "rs10"
    assert round(metrics["rs10"], 6) == round(result["headline"]["value"], 6)
    recs = result["records"]
    assert any(r["correct"] and not r["abstained"] for r in recs) and any(r["abstained"] for r in recs)
    assert any(r["score"] < 0 for r in recs)



def test_metric_names_are_the_families_own_or_sql_s():
    """qa's metric specs: the RS(c)/abstention ones are SQL's own objects, the rest named so that
    no family (nor the scoring tests' fake one, which declares `accuracy`) declares them otherwise."""
    from medbench.tasks import families
    from medbench.tasks.contract import metric_specs_by_name
    from medbench.tasks.qa.cards import SHARED_WITH_SQL

    specs = metric_specs_by_name(families())  # raises on a name declared differently
    others = {s.name for f in families() if f.name != "qa" for s in f.metric_specs}
    qa = {s.name for s in get_family("qa").metric_specs}
    assert qa & others == set(SHARED_WITH_SQL) and "accuracy" not in qa
    assert all(specs[n] is next(s for s in get_family("sql").metric_specs if s.name == n) for n in SHARED_WITH_SQL)


def _result(task: str, model: str, records: list[dict], rid: str, created: str = "2026-01-01") -> dict:
    return {"task": task, "model": model, "records": records, "result_id": rid, "created": created,
            "benchmark": {"name": "rel", "sha256": "ab" * 32}, "split": "test", "n_items": len(records),
            "n_errored": 0, "headline": {"name": "rs10", "value": 0.0}}


def test_leaderboard_pairs_qa_with_sql_per_model():
    """publish.site.paired_view: per model that did qa and sql on one release and split, the
    family's paired difference on shared question ids; another model's sql run never pairs."""
    from medbench.publish.site import paired_view

    def rec(item_id, question_id, score, sid):
        return {"item_id": item_id, "question_id": question_id, "score": score, "subject_id": sid,
                "correct": score > 0}

    qa = [rec(f"qa-{k}", f"sql-{k}", 1 if k % 2 else 0, k % 3) for k in range(12)]
    sql = [rec(f"sql-{k}", None, -1 if k < 4 else 1, k % 3) for k in range(20)]
    results = [_result("qa", "m", qa, "r1"), _result("sql", "m", sql, "r2"), _result("sql", "other", sql, "r3"),
               _result("qa", "lonely", qa, "r4")]
    [p] = paired_view(results)
    assert (p["model"], p["task"], p["other_task"], p["n"]) == ("m", "qa", "sql", 12)
    direct = paired_with_sql(qa, sql)
    assert p["difference"] == pytest.approx(direct["difference"]) and p["interval"] == direct["interval"]
    # qa: 6 right (+100), 6 abstained (0) → 50; sql on sql-0..11: 4 wrong (−1000), 8 right → (−4000 + 800)/12
    assert p["value"] == pytest.approx(50.0) and p["other_value"] == pytest.approx((-4000 + 800) / 12)
    # the latest result of a model in one group is the one paired
    newer = _result("sql", "m", [rec(f"sql-{k}", None, 1, k % 3) for k in range(20)], "r5", "2026-02-01")
    [p2] = paired_view([*results, newer])
    assert p2["other_result_id"] == "r5" and p2["other_value"] == pytest.approx(100.0)


def test_norm_text_matches_the_regex_definition():
    """norm_text (str methods, issue 12) against its regex definition on every code point as
    whitespace, edge and inner character (Py_UNICODE_ISSPACE behind both \\s and str.split)."""
    import re
    import sys

    from medbench.tasks.qa.answer import norm_text

    ws = re.compile(r"\s+")
    edge = re.compile(r"^[\s\"'`*.,;:!?()\[\]{}]+|[\s\"'`*.,;:!?()\[\]{}]+$")

    def reference(s):
        text = ws.sub(" ", str(s)).strip()
        return (edge.sub("", text) or text).casefold()

    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    spaces = [c for c in chars if re.fullmatch(r"\s", c)]
    assert spaces == [c for c in chars if c.isspace()] and len(spaces) > 20
    cases = ["", " ", "?", " ?? ", '"Na 140"', "a.\n\n b", "(x) . ", "ß straße ", "\x1c a\x1f", "\u00a0\u2003x\u3000"]
    cases += [f"{c}a{c}b {c}" for c in chars[:0x3100]] + [f".{c}." for c in spaces]
    cases += [f"{c}" for c in chars[::97]]
    for s in cases:
        assert norm_text(s) == reference(s), repr(s)
