"""The static leaderboard: rendered from stored results, escaped, deterministic, published atomically."""

from __future__ import annotations

import json
import re

import pytest
from _scoring_fixtures import (
    header,
    line,
    make_release,
    release_items,
    snapshot,
    use_fake_family,
    write_submission,
)

from medbench.errors import UserError
from medbench.io import canonical_json
from medbench.pipeline import score_file
from medbench.publish import site
from medbench.publish.site import publish_results, render_site
from medbench.scoring.results import load_results

EVIL = "<script>alert(1)</script>"


@pytest.fixture
def rel(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    return make_release(tmp_path)


def _score(sub, rel, lb):
    return score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False)


@pytest.fixture
def board(rel, tmp_path):
    """Four submissions on one release: two strong (tied), one weak, one incomplete."""
    lb = tmp_path / "lb"
    outs = {}
    for model, correct, skip in (("strong-a", 18, 0), ("strong-b", 17, 0), ("weak", 1, 0), (EVIL, 18, 5)):
        sub = write_submission(tmp_path / f"{abs(hash(model))}.jsonl", rel, model=model, correct=correct,
                               skip=skip)
        outs[model] = _score(sub, rel, lb)
    return lb, outs


def test_index_rows_ranks_and_incomplete(board):
    lb, outs = board
    html = (lb / "index.html").read_text()
    rows = re.findall(r'<tr class="(complete|incomplete)" data-result-id="([^"]+)">\s*<td[^>]*>([^<]*)</td>', html)
    assert len(rows) == 4
    by_id = {rid: (cls, rank) for cls, rid, rank in rows}
    assert by_id[outs["strong-a"].result["result_id"]] == ("complete", "1")
    assert by_id[outs["strong-b"].result["result_id"]] == ("complete", "1")  # tied: overlapping CIs
    assert by_id[outs["weak"].result["result_id"]] == ("complete", "3")
    assert by_id[outs[EVIL].result["result_id"]] == ("incomplete", "—")
    assert outs[EVIL].rank is None
    assert html.count("<circle") == 4 and "<svg" in html


def test_every_submission_string_is_escaped(rel, tmp_path):
    items = release_items(rel)
    hostile = '</pre><img src=x onerror=alert(2)>"\'&'
    rows = [header(rel, model=EVIL, params={"note": hostile})]
    rows += [line(it["item_id"], hostile, error=hostile) for it in items]
    sub = tmp_path / "evil.jsonl"
    sub.write_text("".join(canonical_json(r) + "\n" for r in rows))
    out = _score(sub, rel, tmp_path / "lb")
    pages = [tmp_path / "lb" / "index.html",
             tmp_path / "lb" / "submissions" / f"{out.result['result_id']}.html"]
    for page in pages:
        html = page.read_text()
        assert EVIL not in html and "<img" not in html and "onerror=alert(2)>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        # self-contained: no external fetches of any kind
        assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
        assert not re.search(r"<[a-z]+[^<>]*\ssrc=", html) and "url(" not in html
        assert not re.search(r"(href|src)=\"(https?:)?//", html)
        assert html.count("<script>") == 1  # only our own inline script
        assert "default-src 'none'" in html
    assert "&lt;/pre&gt;&lt;img src=x onerror=alert(2)&gt;" in pages[1].read_text()
    assert "/" not in out.result["result_id"] and out.result["result_id"].startswith("script-alert-1-script")


def test_submission_page_items_breakdown_and_filter(board):
    lb, outs = board
    r = outs["weak"].result
    html = (lb / "submissions" / f"{r['result_id']}.html").read_text()
    assert html.count('data-correct="false"') == 17 and html.count('data-correct="true"') == 1
    assert 'id="only-wrong"' in html and "only wrong (17)" in html
    for cat in ("cat0", "cat1", "cat2"):
        assert (f"<td>{cat}</td>" in html) == (cat != "cat2")
    # a second breakdown by table (SQL: gold["tables"]); an item counts under each table it reads.
    # Items k = 0..17 read [admissions], [admissions, labevents], [] for k % 3 = 0, 1, 2; only k = 0 is right.
    assert "<h2>Errors by category</h2>" in html and "<h2>Errors by table</h2>" in html
    table = html.split("<h2>Errors by table</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr><td>([^<]*)</td><td class="num">(\d+)</td><td class="num">\d+</td>'
                      r'<td class="num">(\d+)</td><td class="num">(\d+)</td>', table)
    assert rows == [("admissions", "12", "1", "11"), ("(none)", "6", "0", "6"), ("labevents", "6", "0", "6")]
    assert "counts once under each table" in table
    # the view: category first, then the records' extra dimensions
    views = site.breakdowns(r["records"])
    assert [b["id"] for b in views] == ["category", "table"]
    assert "accuracy" in html and "abstain_rate" in html
    evil = outs[EVIL].result
    page = (lb / "submissions" / f"{evil['result_id']}.html").read_text()
    assert "not ranked (incomplete)" in page and page.count("no prediction submitted") == 5


def test_rendering_is_deterministic(board, tmp_path):
    lb, _ = board
    results = load_results(lb)
    render_site(results, tmp_path / "a")
    render_site(list(reversed(results)), tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert snapshot(tmp_path / "a")["index.html"] == (lb / "index.html").read_bytes()


def test_failure_while_rendering_leaves_previous_leaderboard(board, rel, tmp_path, monkeypatch):
    lb, _ = board
    before = snapshot(lb)
    sub = write_submission(tmp_path / "new.jsonl", rel, model="new-model", correct=3)
    calls = {"n": 0}
    real = site._render_submission

    def flaky(*a, **kw):
        calls["n"] += 1
        out = real(*a, **kw)
        # fail part-way: a page already written to the temp folder (an incremental publish renders
        # only the pages the new result changes, so the first one is the one sure to be rendered)
        if calls["n"] == 1:
            raise RuntimeError("disk on fire")
        return out

    monkeypatch.setattr(site, "_render_submission", flaky)
    with pytest.raises(RuntimeError, match="disk on fire"):
        _score(sub, rel, lb)
    assert snapshot(lb) == before
    assert [p.name for p in lb.parent.iterdir() if p.name.startswith(".lb")] == []  # no temp left


def test_failure_while_scoring_leaves_previous_leaderboard(board, rel, tmp_path, monkeypatch):
    import _scoring_fixtures

    lb, _ = board
    before = snapshot(lb)
    monkeypatch.setattr(_scoring_fixtures.FakeFamily, "aggregate", lambda self, recs: 1 / 0)
    sub = write_submission(tmp_path / "new.jsonl", rel, model="new-model")
    with pytest.raises(ZeroDivisionError):
        _score(sub, rel, lb)
    assert snapshot(lb) == before


def test_corrupt_stored_result_is_a_user_error(board):
    lb, _ = board
    victim = min((lb / "results").glob("*.json"))
    victim.write_text(json.dumps({"result_id": victim.stem}))
    before = snapshot(lb)
    with pytest.raises(UserError, match=victim.name):
        publish_results(lb, [])
    assert snapshot(lb) == before


def test_regenerate_keeps_foreign_files_and_empty_board(tmp_path):
    lb = tmp_path / "lb"
    publish_results(lb, [])
    assert "No results yet" in (lb / "index.html").read_text()
    (lb / "README.txt").write_text("mine")
    publish_results(lb, [])
    assert (lb / "README.txt").read_text() == "mine"


def test_groups_per_release(rel, tmp_path):
    other = make_release(tmp_path / "o", name="otherbench")
    lb = tmp_path / "lb"
    _score(write_submission(tmp_path / "a.jsonl", rel), rel, lb)
    _score(write_submission(tmp_path / "b.jsonl", other), other, lb)
    html = (lb / "index.html").read_text()
    assert html.count('<table class="sortable leaderboard"') == 2
    assert "sql · fakebench · test" in html and "sql · otherbench · test" in html


def _publish_slowly(lb, result, start, delay_s):
    """A publisher in its own process: waits for the start signal, then publishes with a slow
    render (so two unlocked publishers would both read the old folder and one result be lost)."""
    real = site.render_site

    def slow_render(*a, **kw):
        import time

        time.sleep(delay_s)
        return real(*a, **kw)

    site.render_site = slow_render
    start.wait(30)
    publish_results(lb, [result])


def test_concurrent_publishers_both_land(rel, tmp_path):
    import multiprocessing as mp

    lb = tmp_path / "lb"
    publish_results(lb, [])
    results = [score_file(write_submission(tmp_path / f"{m}.jsonl", rel, model=m, correct=c), benchmark=rel,
                          leaderboard=lb, publish=False, show_progress=False).result
               for m, c in (("racer-a", 10), ("racer-b", 12))]
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_publish_slowly, args=(lb, r, start, 0.5)) for r in results]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    stored = {r["result_id"] for r in load_results(lb)}
    assert stored == {r["result_id"] for r in results}
    html = (lb / "index.html").read_text()
    assert all(f'data-result-id="{r["result_id"]}"' in html for r in results)
    assert [p.name for p in lb.parent.iterdir() if p.name.startswith(".lb")] == []  # no temp or lock file


def test_publish_lock_times_out_with_a_user_error(tmp_path):
    lb = tmp_path / "lb"
    with site.publish_lock(lb), pytest.raises(UserError, match="another medbench is publishing"), \
            site.publish_lock(lb, timeout_s=0.2):
        pass
