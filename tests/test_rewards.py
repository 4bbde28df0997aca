"""GRPO rewards (medbench/train/rewards.py) against hand-computed cases on real gold records."""

from __future__ import annotations

import json

import pytest
from conftest import copy_tree

from medbench.release import open_release
from medbench.train import rewards as R


@pytest.fixture(scope="module")
def release(tiny_release_dir, tmp_path_factory):
    # build_tiny_release's defaults, built once per test run (tests/conftest.py); a private copy
    return open_release(copy_tree(tiny_release_dir, tmp_path_factory.mktemp("tiny") / "release"))


def _ctx(release):
    return {"release": release, "workers": 1, "show_progress": False}


@pytest.fixture(scope="module")
def sql_cases(release):
    # every split: a template may be held out of train (test-only templates); the rewards only
    # need an item and its gold
    items = release.items("sql")
    gold = release.gold("sql")
    answerable = [it for it in items if gold[it["item_id"]]["answerable"] and gold[it["item_id"]]["sql"]
                  and gold[it["item_id"]]["template"] == "prescriptions.first_start"]
    unanswerable = [it for it in items if not gold[it["item_id"]]["answerable"]]
    assert answerable and unanswerable
    return answerable[0], gold[answerable[0]["item_id"]], unanswerable[0], gold[unanswerable[0]["item_id"]]


def fence(sql: str) -> str:
    return f"```sql\n{sql}\n```"


def test_sql_correctness_levels(release, sql_cases):
    item, gold, un_item, un_gold = sql_cases
    ctx = _ctx(release)
    score = lambda text, it=item, g=gold: R.sql_correctness_reward(text, it, g, ctx)  # noqa: E731
    # the gold query itself, and an equivalent query that must really execute (different text)
    assert score(fence(gold["sql"])) == R.SQL_CORRECT == 1.0
    rewritten = gold["sql"].replace("SELECT min(starttime)", "SELECT MIN(p.starttime)").replace(
        "FROM prescriptions WHERE", "FROM prescriptions AS p WHERE")
    assert rewritten != gold["sql"]
    assert score(fence(rewritten)) == 1.0
    # executes, wrong answer
    assert score(fence(gold["sql"].replace("min(starttime)", "max(stoptime)"))) == pytest.approx(-0.4)
    assert score(fence("SELECT 42")) == pytest.approx(-0.4)
    # does not execute / does not parse
    assert score(fence("SELECT * FROM no_such_table")) == pytest.approx(-0.6)
    assert score(fence("SELEC starttime FRM prescriptions")) == pytest.approx(-0.6)
    assert score("I think the answer is Tuesday.") == pytest.approx(-0.6)
    assert score("") == pytest.approx(-0.6)
    # abstention on an answerable item: a little, less than abstaining where that is right
    assert score("null") == pytest.approx(0.1)
    assert score(fence("null")) == pytest.approx(0.1)
    # unanswerable: abstaining is right, any answer is the costly error
    un = lambda text: R.sql_correctness_reward(text, un_item, un_gold, ctx)  # noqa: E731
    assert un("null") == pytest.approx(0.6)
    assert un(fence("NULL")) == pytest.approx(0.6)
    assert un(fence(gold["sql"])) == pytest.approx(-0.4)  # runs, but any answer is wrong here
    assert un(fence("SELECT 42")) == pytest.approx(-0.4)
    assert un("gibberish that is not an abstention") == pytest.approx(-0.6)
    # the order: correct > abstain/unanswerable > abstain/answerable > wrong > invalid
    assert score(fence(gold["sql"])) > un("null") > score("null") > score(fence("SELECT 42")) > score("")


def test_sql_format_reward():
    assert R.sql_format_reward(fence("SELECT 1")) == R.FORMAT_BONUS == 0.1
    assert R.sql_format_reward("  ```SQL\nSELECT a\nFROM t\n```\n") == 0.1
    assert R.sql_format_reward("null") == 0.1
    assert R.sql_format_reward("```sql\nnull\n```") == 0.1
    assert R.sql_format_reward("SELECT 1") == 0.0  # no fence
    assert R.sql_format_reward("```sql\nSELECT 1") == 0.0  # unterminated
    assert R.sql_format_reward("Here you go: " + fence("SELECT 1")) == 0.0  # chatter around it
    assert R.sql_format_reward(fence("SELECT 1") + "\n" + fence("SELECT 2")) == 0.0  # two blocks
    assert R.sql_format_reward("```sql\n\n```") == 0.0  # empty block
    assert R.sql_format_reward("") == 0.0


def test_completion_text_accepts_trl_shapes():
    assert R.completion_text("null") == "null"
    assert R.completion_text([{"role": "assistant", "content": "null"}]) == "null"
    assert R.completion_text([]) == ""
    assert R.completion_text(None) == ""


def test_trl_reward_funcs_wiring(release, sql_cases):
    """The callables handed to GRPOTrainer score by item_id, batch-wise, in order."""
    from medbench.train.trainer import build_reward_funcs

    item, gold, un_item, un_gold = sql_cases
    items = {item["item_id"]: item, un_item["item_id"]: un_item}
    golds = {item["item_id"]: gold, un_item["item_id"]: un_gold}
    correctness, fmt, guard = build_reward_funcs("sql", release, items, golds,
                                                 guard={"target": 0.5, "lambda": 1.0})
    completions = [[{"role": "assistant", "content": c}] for c in
                   (fence(gold["sql"]), "null", "null", fence("SELECT 42"), "oops")]
    ids = [item["item_id"], item["item_id"], un_item["item_id"], un_item["item_id"], item["item_id"]]
    assert correctness([None] * 5, completions, item_id=ids) == pytest.approx([1.0, 0.1, 0.6, -0.4, -0.6])
    assert fmt([None] * 5, completions, item_id=ids) == [0.1, 0.1, 0.1, 0.1, 0.0]
    # 2 of 5 abstain: rate 0.4 <= target 0.5, no guard cost
    assert guard([None] * 5, completions, item_id=ids) == [0.0] * 5
    allnull = [[{"role": "assistant", "content": "null"}]] * 5
    # all abstain: each pays lambda * (1.0 - 0.5)
    assert guard([None] * 5, allnull, item_id=ids) == pytest.approx([-0.5] * 5)


def test_abstention_guard_makes_always_abstain_worse_than_reference():
    assert R.abstention_guard_rewards([True, True, True, False], target=0.5, lam=2.0) == pytest.approx(
        [-0.5, -0.5, -0.5, 0.0])
    assert R.abstention_guard_rewards([True, False, False, False], target=0.5) == [0.0] * 4
    assert R.abstention_guard_rewards([], target=0.5) == []
    share, target = 0.5, 0.55
    # without a guard, always abstaining (0.5*0.6 + 0.5*0.1 + format 0.1 = 0.45) beats a weak
    # SFT policy measured at 0.2; the chosen lambda makes it lose by the margin
    assert R.always_abstain_reward(share, target, 0.0) == pytest.approx(0.45)
    for reference in (0.2, -0.3, 0.9):
        lam = R.abstention_guard_lambda(share, target, reference)
        assert lam >= R.GUARD_LAMBDA
        assert R.always_abstain_reward(share, target, lam) <= reference - 0.1 + 1e-9
    # a policy abstaining exactly on the unanswerable share never pays
    assert R.abstention_guard_rewards([True] * 5 + [False] * 5, target) == [0.0] * 10


def test_sql_outcome_from_records():
    assert R.sql_outcome_reward({"answerable": True, "correct": True, "executed": True}) == 1.0
    assert R.sql_outcome_reward({"answerable": True, "abstained": True}) == 0.1
    assert R.sql_outcome_reward({"answerable": False, "abstained": True}) == 0.6
    assert R.sql_outcome_reward({"answerable": False, "executed": True}) == -0.4
    assert R.sql_outcome_reward({"answerable": True, "executed": False}) == -0.6


@pytest.fixture(scope="module")
def icd_case(release):
    item = release.items("icd", "train")[0]
    gold = release.gold("icd", "train")[item["item_id"]]
    assert len(gold["codes"]) >= 3
    return item, gold


def test_icd_f1_reward(icd_case):
    item, gold = icd_case
    codes = list(gold["codes"])
    n = len(codes)
    assert R.icd_f1_reward(json.dumps(codes), item, gold) == pytest.approx(1.0)
    assert R.icd_f1_reward(json.dumps(codes[::-1]), item, gold) == pytest.approx(1.0)  # a set
    # 2 right + 1 wrong (valid, not in gold): tp=2, fp=1, fn=n-2 -> F1 = 2tp / (2tp + fp + fn)
    wrong = next(c for c in ("A00.0", "B01.9", "C50.911") if c not in codes)
    assert R.icd_f1_reward(json.dumps(codes[:2] + [wrong]), item, gold) == pytest.approx(4 / (4 + 1 + n - 2))
    # undotted MIMIC form is normalised by the scorer's parser
    assert R.icd_f1_reward(json.dumps([codes[0].replace(".", "")]), item, gold) == pytest.approx(2 / (2 + n - 1))
    assert R.icd_f1_reward("[]", item, gold) == 0.0
    assert R.icd_f1_reward("no idea", item, gold) == 0.0


def test_icd_format_reward():
    assert R.icd_format_reward('["I50.9", "E78.5"]') == 0.1
    assert R.icd_format_reward('```json\n["I50.9"]\n```') == 0.1
    assert R.icd_format_reward("[]") == 0.1
    assert R.icd_format_reward("I50.9, E78.5") == 0.0
    assert R.icd_format_reward('{"codes": ["I50.9"]}') == 0.0
    assert R.icd_format_reward("[1, 2]") == 0.0
    assert R.icd_format_reward('["I50.9",') == 0.0


def test_icd_invalid_code_penalty():
    assert R.icd_invalid_code_penalty('["I50.9", "E78.5", "I50"]') == 0.0  # codes and a category
    assert R.icd_invalid_code_penalty('["I50.9", "ZZZ.9"]') == pytest.approx(-0.05)
    # a block range is known to simple-icd-10-cm but is not a code, per the ICD scorer
    assert R.icd_invalid_code_penalty('["I30-I5A", "Q99.99", "I50.9"]') == pytest.approx(-0.10)
    assert R.icd_invalid_code_penalty("nothing") == 0.0


def test_icd_length_guard(icd_case):
    item, gold = icd_case
    codes = list(gold["codes"])
    allowed = max(R.ICD_LENGTH_MIN, R.ICD_LENGTH_FACTOR * len(codes))
    assert R.icd_length_guard(json.dumps(codes), gold) == 0.0
    spray = codes + [f"A{i:02d}.0" for i in range(allowed)]  # |gold| + allowed distinct codes
    assert R.icd_length_guard(json.dumps(spray), gold) == pytest.approx(-0.05 * (len(spray) - allowed))
    # duplicates are not counted twice (the scorer's dedupe)
    assert R.icd_length_guard(json.dumps(codes + codes), gold) == 0.0
    # spraying costs more than the recall it buys: F1 + guard of gold+spray is below gold alone
    total = lambda t: R.icd_f1_reward(t, item, gold) + R.icd_length_guard(t, gold)
    assert total(json.dumps(spray)) < total(json.dumps(codes))


def test_icd_trl_reward_funcs_wiring(release, icd_case):
    from medbench.train.trainer import REWARD_NAMES, build_reward_funcs

    item, gold = icd_case
    funcs = build_reward_funcs("icd", release, {item["item_id"]: item}, {item["item_id"]: gold})
    assert [f.__name__ for f in funcs] == list(REWARD_NAMES["icd"])
    codes = list(gold["codes"])
    spray = codes + [f"A{i:02d}.0" for i in range(3 * len(codes) + 3)]
    completions = [[{"role": "assistant", "content": json.dumps(c)}] for c in (codes, spray, [])]
    ids = [item["item_id"]] * 3
    f1, fmt, invalid, length = (f([None] * 3, completions, item_id=ids) for f in funcs)
    assert f1[0] == pytest.approx(1.0) and 0 < f1[1] < 1 and f1[2] == 0.0
    assert fmt == [0.1, 0.1, 0.1]
    assert length[0] == 0.0 and length[1] < 0 and length[2] == 0.0
    assert f1[1] + length[1] < f1[0] + length[0]
