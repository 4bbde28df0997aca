"""Hostile submissions: never a traceback, always scored (exit 0) or rejected (exit 2, UserError),
and the leaderboard is unchanged whenever a submission is rejected.

Property-based in-process (fast) with hypothesis, plus fixed cases through the real CLI.
"""

from __future__ import annotations

import json

import pytest
from _scoring_fixtures import (
    header,
    line,
    make_release,
    release_items,
    run_cli_fake,
    snapshot,
    write_submission,
)
from conftest import assert_one_line_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medbench import tasks
from medbench.errors import UserError
from medbench.io import canonical_json
from medbench.pipeline import score_file

HYP = settings(max_examples=120, deadline=None, derandomize=True,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One release and one published leaderboard for the whole module (read-mostly)."""
    import _scoring_fixtures

    mp = pytest.MonkeyPatch()
    mp.setitem(tasks.REGISTRY, "sql", _scoring_fixtures.MODULE)
    root = tmp_path_factory.mktemp("hostile")
    rel = make_release(root)
    lb = root / "lb"
    score_file(write_submission(root / "base.jsonl", rel), benchmark=rel, leaderboard=lb, show_progress=False)
    yield {"root": root, "rel": rel, "lb": lb, "ids": [it["item_id"] for it in release_items(rel)],
           "header": header(rel)}
    mp.undo()


def _attempt(env, data: bytes, name: str = "h.jsonl") -> bool:
    """Score `data`; True if accepted. Rejections must be UserErrors that leave the board untouched."""
    path = env["root"] / name
    path.write_bytes(data)
    before = snapshot(env["lb"])
    try:
        score_file(path, benchmark=env["rel"], leaderboard=env["lb"], show_progress=False)
    except UserError as e:
        msg = str(e)
        assert msg and "\n" not in msg
        assert snapshot(env["lb"]) == before
        return False
    return True


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@HYP
@given(data=st.binary(max_size=2000))
def test_random_bytes(env, data):
    _attempt(env, data)


@HYP
@given(lines=st.lists(st.text(max_size=200), max_size=8))
def test_random_text_lines_after_a_valid_header(env, lines):
    body = canonical_json(env["header"]) + "\n" + "\n".join(lines)
    _attempt(env, body.encode("utf-8", "surrogatepass"))


@HYP
@given(data=st.data())
def test_mutated_lines(env, data):
    """Valid-looking files with random JSON values dropped into random fields."""
    hdr = dict(env["header"])
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(hdr) + ["extra"]))
        hdr[key] = data.draw(json_values)
    rows = [hdr]
    for _ in range(data.draw(st.integers(0, 6))):
        ln = line(data.draw(st.sampled_from(env["ids"] + ["bogus", ""])), data.draw(st.sampled_from(["A0", None])))
        if data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(ln) + ["usage.prompt_tokens", "extra"]))
            if key == "usage.prompt_tokens":
                ln["usage"] = {"prompt_tokens": data.draw(json_values)}
            else:
                ln[key] = data.draw(json_values)
        rows.append(ln)
    if data.draw(st.booleans()):
        rows.append(data.draw(json_values))
    text = "\n".join(json.dumps(r, ensure_ascii=data.draw(st.booleans())) for r in rows)
    _attempt(env, text.encode("utf-8", "surrogatepass"))


def test_lone_surrogates_and_deep_nesting_are_rejected(env):
    hdr = dict(env["header"], model="bad\ud800model")
    assert not _attempt(env, json.dumps(hdr).encode())
    deep = dict(env["header"], params={"x": json.loads("[" * 200 + "]" * 200)})
    assert not _attempt(env, json.dumps(deep).encode())
    assert not _attempt(env, canonical_json(env["header"]).encode() + b"\n" + b"[" * 200_000)


def test_header_only_is_scored_as_incomplete(env):
    path = env["root"] / "empty-model.jsonl"
    path.write_bytes(canonical_json(env["header"]).encode() + b"\n")
    outcome = score_file(path, benchmark=env["rel"], leaderboard=env["lb"], show_progress=False)
    result = outcome.result
    assert not result["complete"] and result["n_missing"] == len(env["ids"]) == result["n_items"]
    assert outcome.rank is None  # incomplete entries are shown but never ranked


@pytest.mark.parametrize("name,data,needle", [
    ("binary.jsonl", bytes(range(256)) * 4, "problem"),
    ("empty.jsonl", b"", "no header line"),
    ("nested.jsonl", b"[" * 100_000, "line 1"),
    ("bom-bad.jsonl", b"\xef\xbb\xbf{\"type\": \"header\"}", "header"),
])
def test_cli_fixed_hostile_files(env, name, data, needle):
    path = env["root"] / name
    path.write_bytes(data)
    before = snapshot(env["lb"])
    proc = run_cli_fake("score", str(path), "--benchmark", str(env["rel"]), "--leaderboard", str(env["lb"]))
    assert_one_line_error(proc, needle)
    assert snapshot(env["lb"]) == before


def test_cli_huge_line_and_wrong_release(env):
    path = env["root"] / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(canonical_json(env["header"]).encode() + b"\n")
        f.write(b'{"item_id": "' + b"x" * (2 << 20) + b'"}\n')
    before = snapshot(env["lb"])
    proc = run_cli_fake("score", str(path), "--benchmark", str(env["rel"]), "--leaderboard", str(env["lb"]))
    assert_one_line_error(proc, "line 2: line is longer than 1,048,576 bytes")
    wrong = env["root"] / "wrong.jsonl"
    wrong.write_text(canonical_json(dict(env["header"], benchmark={"name": "fakebench", "sha256": "ab" * 32})))
    proc = run_cli_fake("score", str(wrong), "--benchmark", str(env["rel"]), "--leaderboard", str(env["lb"]))
    assert_one_line_error(proc, "does not match the release")
    assert snapshot(env["lb"]) == before
