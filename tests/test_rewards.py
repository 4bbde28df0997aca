"""GRPO rewards (medbench/train/rewards.py) against hand-computed cases on real gold records."""

from __future__ import annotations

import json

import pytest
from _train_release import build_tiny_release

from medbench.release import open_release
from medbench.train import rewards as R


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return open_release(build_tiny_release(tmp_path_factory.mktemp("rewards_release")))


def _ctx(release):
    return {"release": release, "workers": 1, "show_progress": False}


@pytest.fixture(scope="module")
def sql_cases(release):
    items = release.items("sql", "train")
    gold = release.gold("sql", "train")
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
    assert score(fence(gold["sql"])) == 1.0
    rewritten = gold["sql"].replace("SELECT min(starttime)", "SELECT MIN(p.starttime)").replace(
        "FROM prescriptions WHERE", "FROM prescriptions AS p WHERE")
    assert rewritten != gold["sql"]
    assert score(fence(rewritten)) == 1.0
    # executes, wrong answer
    assert score(fence(gold["sql"].replace("min(starttime)", "max(stoptime)"))) == pytest.approx(0.1)
    assert score(fence("SELECT 42")) == pytest.approx(0.1)
    # does not execute / does not parse
    assert score(fence("SELECT * FROM no_such_table")) == 0.0
    assert score(fence("SELEC starttime FRM prescriptions")) == 0.0
    assert score("I think the answer is Tuesday.") == 0.0
    assert score("") == 0.0
    # abstention on an answerable item earns nothing (and loses nothing)
    assert score("null") == 0.0
    assert score(fence("null")) == 0.0
    # unanswerable: abstaining is right, any answer is the costly error
    un = lambda text: R.sql_correctness_reward(text, un_item, un_gold, ctx)  # noqa: E731
    assert un("null") == 1.0
    assert un(fence("NULL")) == 1.0
    assert un(fence(gold["sql"])) == -1.0
    assert un(fence("SELECT 42")) == -1.0
    assert un("gibberish that is not an abstention") == -1.0


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
    correctness, fmt = build_reward_funcs("sql", release, items, golds)
    completions = [[{"role": "assistant", "content": c}] for c in
                   (fence(gold["sql"]), "null", "null", fence("SELECT 42"), "oops")]
    ids = [item["item_id"], item["item_id"], un_item["item_id"], un_item["item_id"], item["item_id"]]
    assert correctness([None] * 5, completions, item_id=ids) == [1.0, 0.0, 1.0, -1.0, 0.0]
    assert fmt([None] * 5, completions, item_id=ids) == [0.1, 0.1, 0.1, 0.1, 0.0]


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
