"""Issue 12: incremental publish (only the pages whose inputs changed are rendered, the bytes are
those of a full render) and large submission pages that list their items from a data file."""

from __future__ import annotations

import json
import os
import re
import shutil

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
from test_leaderboard_browser import _problems, chromium  # noqa: F401  (the fixture)

from medbench.io import canonical_json
from medbench.pipeline import score_file
from medbench.publish import site
from medbench.publish.site import INDEX_FILE, publish_public, publish_results, remove_result, render_site
from medbench.scoring.results import load_results

HOSTILE = "</script><img src=x onerror=alert(1)>"


@pytest.fixture
def rels(tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    return make_release(tmp_path), make_release(tmp_path / "o", name="otherbench")


def _result(tmp_path, rel, model, correct, **kw):
    sub = write_submission(tmp_path / f"{model}.jsonl", rel, model=model, correct=correct, **kw)
    return score_file(sub, benchmark=rel, leaderboard=None, publish=False, show_progress=False).result


def _generated(folder) -> dict[str, bytes]:
    """The rendered site: every file but the stored results and the publish index."""
    return {k: v for k, v in snapshot(folder).items() if not k.startswith("results/") and k != INDEX_FILE}


def _index(folder) -> dict:
    return json.loads((folder / INDEX_FILE).read_text())


class Counter:
    def __init__(self, monkeypatch):
        self.pages: list[str] = []
        self.loads: list[str] = []
        self.validated: list[str] = []
        real_render, real_validate, real_load = site._render_submission, site.load_result, site._Stored.load

        def render(page, r, *a, **kw):
            self.pages.append(r["result_id"])
            return real_render(page, r, *a, **kw)

        def validate(path):
            self.validated.append(os.path.basename(str(path)))
            return real_validate(path)

        def load(store, result_id):
            self.loads.append(f"{result_id}.json")
            return real_load(store, result_id)

        monkeypatch.setattr(site, "_render_submission", render)
        monkeypatch.setattr(site, "load_result", validate)
        monkeypatch.setattr(site._Stored, "load", load)

    def reset(self):
        self.pages.clear()
        self.loads.clear()
        self.validated.clear()


def test_one_at_a_time_equals_all_at_once_byte_for_byte(rels, tmp_path, monkeypatch):
    rel, other = rels
    a = _result(tmp_path, rel, "model-a", 10)
    b = _result(tmp_path, rel, "model-b", 16)
    c = _result(tmp_path, other, "model-c", 7)
    d = _result(tmp_path, rel, "model-d", 3, skip=2)  # incomplete: shown, never ranked
    inc, full = tmp_path / "inc", tmp_path / "full"
    count = Counter(monkeypatch)
    for r in (a, b, c, d):
        publish_results(inc, [r])
    publish_results(full, [a, b, c, d])
    assert snapshot(inc / "results") == snapshot(full / "results")
    assert _generated(inc) == _generated(full)
    assert _index(inc) == _index(full)
    # and both equal a render of every stored result from nothing (no index involved)
    render_site(load_results(inc), tmp_path / "fresh")
    assert _generated(tmp_path / "fresh") == _generated(inc)
    assert len(_generated(inc)) == 2 + 4  # index, metrics doc, four submission pages

    # publishing nothing new renders no submission page and reads no result
    count.reset()
    publish_results(inc, [])
    assert count.pages == [] and count.loads == [] and count.validated == []
    assert _generated(inc) == _generated(full)


def test_only_pages_whose_inputs_changed_are_rendered(rels, tmp_path, monkeypatch):
    rel, other = rels
    lb = tmp_path / "lb"
    first = [_result(tmp_path, rel, "model-a", 10), _result(tmp_path, rel, "model-b", 16),
             _result(tmp_path, other, "model-c", 7)]
    publish_results(lb, first)
    a, b, c = (r["result_id"] for r in first)
    ino = {p.name: p.stat().st_ino for p in (lb / "submissions").iterdir()}
    count = Counter(monkeypatch)

    # a new result of the other release: its group is rendered, the first group is not even read
    e = _result(tmp_path, other, "model-e", 18)
    publish_results(lb, [e])
    assert e["result_id"] in count.pages and a not in count.pages and b not in count.pages
    assert not {f"{a}.json", f"{b}.json"} & set(count.loads)
    assert count.validated == [f"{e['result_id']}.json"]  # only the new file is validated
    for rid in (a, b):  # carried over: the same file (a hard link), not a new copy
        assert (lb / "submissions" / f"{rid}.html").stat().st_ino == ino[f"{rid}.html"]
    # c's rank changed (e beats it), so its page is rendered again
    assert c in count.pages

    # a stored result edited by hand is noticed (size, mtime, inode) and its page re-rendered
    count.reset()
    path = lb / "results" / f"{a}.json"
    data = json.loads(path.read_text())
    data["usage"]["cost_usd"] = 12.5
    path.write_text(canonical_json(data, indent=2) + "\n")
    publish_results(lb, [])
    assert count.validated == [f"{a}.json"]
    assert a in count.pages and "12.5000" in (lb / "submissions" / f"{a}.html").read_text()
    render_site(load_results(lb), tmp_path / "fresh")
    assert _generated(tmp_path / "fresh") == _generated(lb)

    # remove: the same bytes as a full render of what is left
    remove_result(lb, b)
    render_site(load_results(lb), tmp_path / "fresh2")
    assert _generated(tmp_path / "fresh2") == _generated(lb) and not (lb / "submissions" / f"{b}.html").exists()


def test_a_bad_or_stale_index_means_a_full_render(rels, tmp_path, monkeypatch):
    rel, _ = rels
    lb = tmp_path / "lb"
    publish_results(lb, [_result(tmp_path, rel, "model-a", 10), _result(tmp_path, rel, "model-b", 12)])
    want = _generated(lb)
    count = Counter(monkeypatch)
    for bad in ("{not json", json.dumps({"format": 999}), json.dumps([1, 2])):
        (lb / INDEX_FILE).write_text(bad)
        count.reset()
        publish_results(lb, [])
        assert len(count.pages) == 2 and _generated(lb) == want
    # a page deleted from the site is rendered again even though its inputs did not change
    victim = min((lb / "submissions").iterdir())
    victim.unlink()
    publish_results(lb, [])
    assert victim.is_file() and _generated(lb) == want
    # another renderer setting: every page again
    count.reset()
    monkeypatch.setattr(site, "MAX_SHOWN_CHARS", 2999)
    publish_results(lb, [])
    assert len(count.pages) == 2


def test_public_publish_is_incremental_and_never_reuses_private_pages(rels, tmp_path, monkeypatch):
    rel, other = rels
    lb, pub = tmp_path / "lb", tmp_path / "pub"
    a, b = _result(tmp_path, rel, "model-a", 10), _result(tmp_path, other, "model-b", 12)
    publish_results(lb, [a, b])
    count = Counter(monkeypatch)
    publish_public(lb, pub)
    assert sorted(count.pages) == sorted([a["result_id"], b["result_id"]])
    ino = {p.name: p.stat().st_ino for p in (pub / "submissions").iterdir()}
    # nothing changed: no page rendered, no result read, the same files (hard links)
    count.reset()
    publish_public(lb, pub)
    assert count.pages == [] and count.loads == [] and count.validated == []
    assert {p.name: p.stat().st_ino for p in (pub / "submissions").iterdir()} == ino
    # a new result of the other release: only that group's pages are rendered
    c = _result(tmp_path, other, "model-c", 17)
    publish_results(lb, [c])
    count.reset()
    publish_public(lb, pub)
    assert a["result_id"] not in count.pages and c["result_id"] in count.pages
    # the bytes are a full public render's, and differ from the private site's pages
    render_site(load_results(lb), tmp_path / "fresh", public=True)
    assert _generated(tmp_path / "fresh") == _generated(pub)
    publish_public(lb, tmp_path / "pub-from-nothing")
    assert _index(tmp_path / "pub-from-nothing") == _index(pub)
    # a private site handed over as the "previous" public one: nothing of it is reused
    count.reset()
    shutil.copytree(lb, tmp_path / "was-private", symlinks=True)
    shutil.rmtree(tmp_path / "was-private" / "results")
    publish_public(lb, tmp_path / "was-private")
    assert len(count.pages) == 3
    assert _generated(tmp_path / "was-private") == _generated(pub)


def _hostile_submission(tmp_path, rel, model=HOSTILE):
    rows = [header(rel, model=model)]
    rows += [line(it["item_id"], HOSTILE if k % 3 else "WRONG", error=HOSTILE if k == 4 else None)
             for k, it in enumerate(release_items(rel))]
    sub = tmp_path / "hostile.jsonl"
    sub.write_text("".join(canonical_json(r) + "\n" for r in rows))
    return score_file(sub, benchmark=rel, leaderboard=tmp_path / "lb", show_progress=False).result


def _items_data(path) -> list:
    text = path.read_text(encoding="utf-8")
    prefix = "window.MEDBENCH_ITEMS = "
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix):-2])


def test_large_page_lists_its_items_from_an_escaped_data_file(rels, tmp_path, monkeypatch):
    rel, _ = rels
    monkeypatch.setattr(site, "ITEMS_INLINE", 5)
    r = _hostile_submission(tmp_path, rel)
    rid = r["result_id"]
    page = (tmp_path / "lb" / "submissions" / f"{rid}.html").read_text()
    data_file = tmp_path / "lb" / "submissions" / f"{rid}.items.js"
    text = data_file.read_text()
    # the page: no item card inline, the data file by a relative script src allowed by 'self'
    assert 'class="item"' not in page and f'<script src="{rid}.items.js"></script>' in page
    assert page.count("<script") == 2 and "script-src 'self' 'unsafe-inline'" in page
    assert HOSTILE not in page and "<img" not in page and "&lt;/script&gt;&lt;img" in page
    # the data file: pure ASCII, no <, > or & anywhere (nothing can end a script or a string)
    assert text.isascii() and not re.search(r"[<>&\u2028\u2029]", text[len("window.MEDBENCH_ITEMS = "):])
    rows = _items_data(data_file)
    assert [row[3] for row in rows] == sorted(rec["item_id"] for rec in r["records"])
    assert all(len(row) == 6 and all(isinstance(x, str) for x in row) for row in rows)
    cards = "".join(row[5] for row in rows)
    assert HOSTILE not in cards and "<img" not in cards and cards.count("&lt;/script&gt;&lt;img src=x") >= 12
    assert sum(row[4] == "false" for row in rows) == sum(rec["correct"] is False for rec in r["records"])
    # the inline rendering of the same cards is the same markup
    monkeypatch.setattr(site, "ITEMS_INLINE", 200)
    render_site(load_results(tmp_path / "lb"), tmp_path / "inline")
    inline = (tmp_path / "inline" / "submissions" / f"{rid}.html").read_text()
    assert all(row[5] in inline for row in rows) and not (tmp_path / "inline" / "submissions" / f"{rid}.items.js").exists()
    # the public site of a credentialed release has no data file at all
    monkeypatch.setattr(site, "ITEMS_INLINE", 5)
    publish_public(tmp_path / "lb", tmp_path / "pub")
    assert sorted(p.name for p in (tmp_path / "pub" / "submissions").iterdir()) == [f"{rid}.html"]


@pytest.mark.browser
def test_large_page_in_chromium_pages_and_filters(chromium, rels, tmp_path, monkeypatch):  # noqa: F811
    rel, _ = rels
    monkeypatch.setattr(site, "ITEMS_INLINE", 5)
    monkeypatch.setattr(site, "ITEMS_PER_PAGE", 4)
    r = _hostile_submission(tmp_path, rel)
    wrong = sum(rec["correct"] is False for rec in r["records"])
    page = tmp_path / "lb" / "submissions" / f"{r['result_id']}.html"
    cdp = chromium
    cdp.navigate_and_wait(page.as_uri())
    ids = "Array.from(document.querySelectorAll('.items .item')).map(e => e.dataset.id)"
    assert cdp.eval("document.querySelector('h1').textContent") == HOSTILE
    assert cdp.eval(ids) == ["sql-0000", "sql-0001", "sql-0002", "sql-0003"]
    assert cdp.eval("document.getElementById('page-info').textContent") == "page 1 of 5"
    assert cdp.eval("document.getElementById('shown-count').textContent") == "18"
    cdp.click("#page-next")
    assert cdp.eval(ids) == ["sql-0004", "sql-0005", "sql-0006", "sql-0007"]
    # the hostile prediction is text, never an element
    assert cdp.eval("document.querySelectorAll('img').length") == 0
    assert HOSTILE in cdp.eval("document.querySelector('#item-sql-0004').textContent")
    cdp.click("#only-wrong")
    assert cdp.eval("document.getElementById('shown-count').textContent") == str(wrong)
    assert cdp.eval("document.getElementById('page-info').textContent") == f"page 1 of {-(-wrong // 4)}"
    assert set(cdp.eval("Array.from(document.querySelectorAll('.items .item')).map(e => e.dataset.correct)")) \
        == {"false"}
    cdp.click("#f-search")
    cdp.call("Input.insertText", text="sql-0011")
    assert cdp.eval(ids) == (["sql-0011"] if any(rec["item_id"] == "sql-0011" and rec["correct"] is False
                                                 for rec in r["records"]) else [])
    # a link to an item opens the page it is on
    cdp.navigate_and_wait("about:blank")
    cdp.navigate_and_wait(page.as_uri() + "#item-sql-0013")
    assert "sql-0013" in cdp.eval(ids) and cdp.eval("document.getElementById('page-info').textContent") \
        == "page 4 of 5"
    assert _problems(cdp) == []
    assert not [e for e in cdp.events if e["method"] == "Page.javascriptDialogOpening"]
