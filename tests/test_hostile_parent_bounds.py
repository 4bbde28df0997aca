"""What the scorer's parent process still does per item with untrusted prediction text is linear
and capped (issue 15, "move any per-item text processing of untrusted input into the sandboxed
workers"; docs/ARCHITECTURE.md, "Per-item work on untrusted text"). The unbounded-cost parts
(sqlglot tokenise/parse/statement check, execution, answer formation and hashing, token F1 and EM)
run in the SQL workers under their limits. The parent keeps:

- the cap check itself (`prediction_over_limit`, one pass over the value);
- SQL: `prepare_sql` (the EHRSQL normaliser on SQLite releases: fixed passes, no nested
  repetition), equality with the gold text, the cache key (sha256), clipping;
- ICD: dedupe, code validity and set arithmetic on at most 200 codes of 32 characters;
- conversation: schema check, surface-form matching, word 8-grams, phase regexes on at most
  500 turns / 200,000 characters.

Each is timed at its cap and at a quarter of it on hostile text: at most 0.5 s at the cap (a
loaded 2-core machine) and a ratio below 8 (linear gives ~4, quadratic ~16). The best of three runs
is taken, so a busy neighbour does not decide."""

from __future__ import annotations

import time

import pytest

from medbench.submission_schema import PREDICTION_LIMITS, prediction_over_limit

# timed: `make test` runs this module in the serial pass, never beside another test (pyproject: serial)
pytestmark = pytest.mark.serial

AT_CAP_S = 0.5
MAX_RATIO = 8.0


def _best(fn, *args) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def _linear_and_capped(make, run, cap: int) -> None:
    full, quarter = make(cap), make(cap // 4)
    t_full, t_quarter = _best(run, full), _best(run, quarter)
    assert t_full < AT_CAP_S, t_full
    assert t_full < max(MAX_RATIO * t_quarter, 0.01), (t_full, t_quarter)  # tiny times: noise only


_SQL_UNITS = [
    "DATE_SUB('2100-01-01'  , INTERVAL 1 DAY  heart_rate_lower current_time NOW() %y > = ",
    "DATE_SUB(DATE_SUB(DATE_SUB(NOW(), INTERVAL 1 ",  # nested, never closed
    "'" + "a" * 50 + " ",  # an unclosed literal
    " _lower_lower_lower_upper x_lower ",
    "   \n  \n ",
]


@pytest.mark.parametrize("unit", _SQL_UNITS)
@pytest.mark.parametrize("engine", ["sqlite", "duckdb"])
def test_sql_parent_work_is_linear_at_the_cap(unit, engine):
    from medbench.tasks.sql.cache import result_key
    from medbench.tasks.sql.execute import prepare_sql

    cap = PREDICTION_LIMITS["sql"]["chars"]

    def make(n):
        text = ("SELECT " + unit * (n // len(unit) + 1))[:n]
        assert prediction_over_limit("sql", text) is None
        return text

    def run(text):
        prepared = prepare_sql(text, engine)
        _ = text == "SELECT 1" or prepared == prepare_sql("SELECT 1", engine)
        result_key(prepared, engine, 5.0, 100_000)

    _linear_and_capped(make, run, cap)
    assert prediction_over_limit("sql", make(cap) + "x")  # one more character is over


def test_icd_parent_work_is_bounded_at_the_cap():
    from medbench.tasks.icd.metrics import score_item

    lim = PREDICTION_LIMITS["icd"]
    gold = {"codes": ["I10", "E119"], "primary_code": "I10"}

    def make(n):
        codes = [f"Z{k:04d}".ljust(lim["code_chars"], "9") for k in range(max(1, n))]
        assert prediction_over_limit("icd", codes) is None
        return codes

    _linear_and_capped(make, lambda codes: score_item({"item_id": "x"}, gold, codes), lim["codes"])


#: lexicon entries of the test's gold (a 12-patient synthetic release has ~150, each with a few
#: forms); the parent's matching costs text × forms: measured per at-cap item on this loaded
#: machine, 0.5 s with 600 entries and 1.5 s with 3,000, so the release's lexicon size is the
#: factor (docs/ARCHITECTURE.md, "Per-item work on untrusted text")
LEXICON = 300


def _gold_conversation():
    """A gold record with many facts and a large lexicon (the parent matches every form)."""
    facts = [{"id": f"f{k}", "type": "diagnosis", "surface_forms": [f"disease number {k}", f"dn{k}"]}
             for k in range(100)]
    lexicon = {"diagnoses": [[f"lexicon entry {k}", f"le{k}"] for k in range(LEXICON)], "labs": [],
               "medications": []}
    return {"facts": facts, "grounded": {"diagnoses": [], "labs": [], "medications": []}, "lexicon": lexicon}


def test_conversation_parent_work_is_linear_at_the_cap():
    from medbench.tasks.conversation.facts import FACT_TYPES
    from medbench.tasks.conversation.metrics import score_item

    lim = PREDICTION_LIMITS["conversation"]
    gold = _gold_conversation()
    gold["facts"] = [{**f, "type": FACT_TYPES[0]} for f in gold["facts"]]
    words = ("the patient was admitted with lexicon entry 7 and dn3 results came back we started "
             "treatment and moved you to the icu before discharge home follow up ")

    def make(chars):
        n_turns = max(2, lim["turns"] * chars // lim["chars"])
        per = chars // n_turns - 60  # keys, the timestamp and the speaker count as text too
        text = (words * (per // len(words) + 1))[:per]
        conv = {"turns": [{"timestamp": "2100-01-01 00:00:00", "speaker": "doctor" if k % 2 == 0 else "patient",
                           "text": text} for k in range(n_turns)]}
        assert prediction_over_limit("conversation", conv) is None
        return conv

    item = {"item_id": "x", "packet": {}}
    rec = score_item(item, gold, make(lim["chars"]))
    assert rec["schema_valid"] and rec["form"]["copy_rate"] is not None  # every metric looked at the text
    assert rec["facts_hit"][FACT_TYPES[0]] == 1 and rec["invented"] == 1
    _linear_and_capped(make, lambda conv: score_item(item, gold, conv), lim["chars"])


def test_over_limit_check_is_linear():
    """The cap check runs on every line, over limit or not: one pass, iterative."""
    deep = {"turns": [{"speaker": "clinician", "text": "x" * 1000, "extra": [[["y" * 100]] * 50]}] * 600}
    t = time.perf_counter()
    assert prediction_over_limit("conversation", deep)
    assert prediction_over_limit("icd", ["I10"] * 85_000)
    assert prediction_over_limit("sql", "S" * 1_000_000)
    assert time.perf_counter() - t < AT_CAP_S
