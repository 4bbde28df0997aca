"""Issue 13 in headless Chromium (DevTools protocol, file://): at 1280×800 no table is wider than
the viewport, a −1000 entry does not squash the chart (the others' points stay ≥ 100 px apart; it
is drawn as an arrow at the edge), the drill-down filters (outcome, category, seen/unseen
template, search by id) work, and no console errors. Screenshots go under the test's tmp dir.
"""

from __future__ import annotations

import base64
import itertools
import json

import pytest
from _scoring_fixtures import make_release, use_fake_family, write_submission
from test_leaderboard_browser import CDP, _problems, chromium  # noqa: F401  (the fixture)

from medbench.io import canonical_json
from medbench.pipeline import score_file
from medbench.publish.site import publish_results
from medbench.scoring.results import load_results

pytestmark = pytest.mark.browser
LONG = "a-very-long-organisation-name/an-even-longer-model-name-with-a-version-2025-01-01-preview"


def set_viewport(cdp: CDP, width: int = 1280, height: int = 800) -> None:
    cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)


def screenshot(cdp: CDP, path) -> None:
    """The whole page (not just the viewport) as a PNG."""
    h = cdp.eval("Math.min(6000, document.documentElement.scrollHeight)")
    data = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                    clip={"x": 0, "y": 0, "width": 1280, "height": h, "scale": 1})["data"]
    path.write_bytes(base64.b64decode(data))


TABLE_WIDTHS = ("Array.from(document.querySelectorAll('table')).map(t => "
                "[t.className, Math.max(t.scrollWidth, t.getBoundingClientRect().right)])")


def wide_tables(cdp: CDP) -> list:
    return [w for w in cdp.eval(TABLE_WIDTHS) if w[1] > 1280] + \
        ([["page", cdp.eval("document.documentElement.scrollWidth")]]
         if cdp.eval("document.documentElement.scrollWidth") > 1280 else [])


@pytest.fixture
def board(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    rel = make_release(tmp_path)
    lb = tmp_path / "lb"
    ids = {}
    for model, correct in (("low", 4), ("mid", 9), (LONG, 16), ("outlier", 10)):
        sub = write_submission(tmp_path / f"{len(ids)}.jsonl", rel, model=model, correct=correct)
        ids[model] = score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False).result["result_id"]
    # an entry far off the scale (an RS-style −1000), and seen/unseen templates on LONG's items
    results = {r["result_id"]: r for r in load_results(lb)}
    out = results[ids["outlier"]]
    out["headline"].update(value=-1000.0, ci_low=-1100.0, ci_high=-900.0)
    out["metrics"]["accuracy"] = -1000.0
    for k, rec in enumerate(results[ids[LONG]]["records"]):
        rec["template_seen_in_train"] = k % 3 != 0
    for r in results.values():
        (lb / "results" / f"{r['result_id']}.json").write_text(canonical_json(r, indent=2) + "\n")
    publish_results(lb, [])
    return lb, ids


def test_layout_chart_and_filters(chromium, board, tmp_path):  # noqa: F811
    lb, ids = board
    cdp = chromium
    set_viewport(cdp)
    cdp.navigate_and_wait((lb / "index.html").as_uri())
    screenshot(cdp, tmp_path / "index-fake.png")
    assert wide_tables(cdp) == []
    # the chart: the outlier is an arrow at the left edge; the others keep their distances
    xs = cdp.eval("Array.from(document.querySelectorAll('svg.chart g.bar')).map(g => { const c = g.querySelector("
                  "'circle.point'); return [g.querySelector('text').textContent, g.dataset.clip, "
                  "c ? c.getBoundingClientRect().x : null]; })")
    by_label = {label: (clip, x) for label, clip, x in xs}
    assert by_label["outlier"] == ("low", None)
    assert cdp.eval("document.querySelectorAll('svg.chart polygon.clip-arrow').length") == 1
    assert "-1000" in cdp.eval("document.querySelector('svg.chart text.clip-label').textContent")
    points = sorted(x for label, (clip, x) in by_label.items() if label != "outlier")
    assert len(points) == 3 and min(b - a for a, b in itertools.pairwise(points)) >= 100, points
    # the outlier and the long name are never ranked above the others by accident
    rank = cdp.eval(f"document.querySelector('tr[data-result-id=\"{ids['outlier']}\"] td').textContent")
    assert rank.strip().isdigit()
    # "all metrics" shows the hidden columns
    hidden = "Array.from(document.querySelectorAll('table.leaderboard th.extra')).filter(th => th.offsetParent !== null).length"
    assert cdp.eval(hidden) == 0
    cdp.click("input.all-metrics")
    assert cdp.eval(hidden) > 0

    cdp.navigate_and_wait((lb / "submissions" / f"{ids[LONG]}.html").as_uri())
    screenshot(cdp, tmp_path / "submission-fake.png")
    assert wide_tables(cdp) == []
    visible = "Array.from(document.querySelectorAll('.items .item')).filter(e => !e.hidden).map(e => e.dataset.id)"
    count = "document.getElementById('shown-count').textContent"
    assert len(cdp.eval(visible)) == 18

    def choose(select_id: str, value: str) -> None:
        cdp.eval(f"(() => {{ const s = document.getElementById({json.dumps(select_id)}); s.value = {json.dumps(value)}; "
                 "s.dispatchEvent(new Event('change')); })()")

    choose("f-outcome", "wrong")
    assert len(cdp.eval(visible)) == 2 and cdp.eval(count) == "2"  # 16 of 18 right
    choose("f-outcome", "")
    choose("f-category", "cat0")
    assert len(cdp.eval(visible)) == 12  # j % 2 == 0 for j = 0, 2 of 3 items per patient
    choose("f-category", "")
    choose("f-seen", "unseen")
    assert cdp.eval(visible) == [f"sql-{k:04d}" for k in range(0, 18, 3)]
    choose("f-seen", "")
    cdp.click("#f-search")
    cdp.call("Input.insertText", text="sql-0011")
    assert cdp.eval(visible) == ["sql-0011"] and cdp.eval(count) == "1"
    assert _problems(cdp) == []
