"""Issue 13 end to end on a real release: synthetic MIMIC-IV (with notes) built with
`--source-licence credentialed`, every family's baselines run and scored into the private
leaderboard, then `leaderboard --public DIR`. The public site must hold no gold SQL, gold code
lists or titles, note text, item inputs or predictions (each needle is checked to be in the
private site, so the grep can fail). Then both sites in headless Chromium at 1280×800: no table
wider than the viewport, no console errors; screenshots of the index and one page per family are
written under the test's tmp dir.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_leaderboard_browser import CHROMIUM, _problems, chromium  # noqa: F401  (the fixture)
from test_publish_browser import screenshot, set_viewport, wide_tables

from medbench.build import build_release
from medbench.io import read_jsonl
from medbench.pipeline import score_file
from medbench.release import open_release
from medbench.run import run
from medbench.scoring.results import load_results
from medbench.tasks.base import SPLITS, split_for_subject

pytestmark = pytest.mark.slow
BASELINES = [("sql", "abstain"), ("sql", "retrieval"), ("icd", "frequency"), ("icd", "tfidf"),
             ("conversation", "template")]


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    from medbench.store import ingest
    from medbench.store.synth import generate

    root = tmp_path_factory.mktemp("cred_release")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDBENCH_HOME", str(root / "home"))
        generate(root / "mimic", patients=40, seed=3, show_progress=False)
        store = ingest(root / "mimic", root / "store.duckdb", show_progress=False)
        con = store.connect()
        try:
            rows = con.execute("SELECT DISTINCT subject_id FROM diagnoses_icd WHERE icd_version = 10 AND hadm_id IN "
                               "(SELECT hadm_id FROM discharge) ORDER BY subject_id").fetchall()
        finally:
            con.close()
        want = {"train": 6, "dev": 2, "test": 3}
        chosen = {s: [] for s in SPLITS}
        for (sid,) in rows:
            if len(chosen[split_for_subject(sid)]) < want[split_for_subject(sid)]:
                chosen[split_for_subject(sid)].append(sid)
        cohort = root / "cohort.csv"
        cohort.write_text("subject_id\n" + "".join(f"{s}\n" for ids in chosen.values() for s in sorted(ids)))
        rel = root / "rel"
        build_release(store=store, out=rel, name="cred", cohort=cohort, show_progress=False,
                      source_licence="credentialed")
        lb, pub = root / "lb", root / "pub"
        subs = []
        for task, name in BASELINES:
            sub = root / f"{task}-{name}.jsonl"
            run(rel, task, f"baseline:{name}", split="test", out=sub)
            score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False)
            subs.append(sub)
        from medbench.publish.site import publish_public

        publish_public(lb, pub)
    return {"rel": rel, "lb": lb, "pub": pub, "subs": subs}


def _strings(obj, min_len: int):
    if isinstance(obj, str):
        if len(obj) >= min_len:
            yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v, min_len)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v, min_len)


def _windows(text: str, size: int = 40):
    """A few exact windows of a long text (its HTML-escaped form is what a page would hold)."""
    text = " ".join(text.split())
    return [text[i:i + size] for i in range(0, max(1, len(text) - size), max(size, len(text) // 4))][:4]


def _needles(rel_dir: Path, subs: list[Path]) -> dict[str, set[str]]:
    import html

    rel = open_release(rel_dir)
    n: dict[str, set[str]] = {"gold sql": set(), "gold codes": set(), "gold titles": set(), "note text": set(),
                              "item input": set(), "prediction": set()}
    for task in ("sql", "icd", "conversation"):
        items = rel.items(task, "test")
        gold = rel.gold(task, "test")
        for it in items:
            g = gold[it["item_id"]]
            if task == "sql":
                if g.get("sql"):
                    n["gold sql"].add(g["sql"])
                n["item input"].add(it["question"])
            elif task == "icd":
                n["gold codes"].add(json.dumps(g["codes"]))
                n["gold codes"].update(c for c in g["codes"] if len(c) >= 5)
                n["gold titles"].update(t for t in g["titles"] if len(t) >= 25)
                for s in _strings({k: v for k, v in it.items() if k not in ("item_id", "task", "split", "source")}, 60):
                    n["note text"].update(_windows(s))
            else:
                for s in _strings(it["packet"], 40):
                    n["item input"].update(_windows(s))
    for sub in subs:
        for ln in read_jsonl(sub)[1:]:
            if isinstance(ln.get("prediction"), str) and len(ln["prediction"]) >= 20:
                n["prediction"].add(ln["prediction"])
            elif isinstance(ln.get("prediction"), dict):
                for s in _strings(ln["prediction"], 40):
                    n["prediction"].update(_windows(s))
    return {k: {html.escape(x, quote=True) for x in v} | v for k, v in n.items()}


def _corpus(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def test_public_site_leaks_nothing_of_a_credentialed_release(sites):
    rel = open_release(sites["rel"])
    assert rel.manifest["source"] == {"licence": "credentialed"}
    results = load_results(sites["lb"])
    assert sorted((r["task"], r["model"]) for r in results) == sorted((t, f"baseline:{n}") for t, n in BASELINES)
    public, private = _corpus(sites["pub"]), _corpus(sites["lb"])
    # no result files on the public site: its one JSON file is the publish index (in the corpus
    # checked for leaks below)
    assert [p.relative_to(sites["pub"]).as_posix() for p in sites["pub"].rglob("*.json")] == ["publish-index.json"]
    needles = _needles(sites["rel"], sites["subs"])
    for kind, found in needles.items():
        assert found, kind
        assert any(x in private for x in found), f"{kind}: no needle is on the private site either"
        leaked = sorted(x for x in found if (re.search(rf"(?<![A-Za-z0-9.]){re.escape(x)}(?![A-Za-z0-9.])", public)
                                             if kind == "gold codes" else x in public))
        assert not leaked, f"public site leaks {kind}: {leaked[:3]}"
    # what the public site does show
    index = (sites["pub"] / "index.html").read_text()
    assert "Reliability score, penalty 10" in index and "n=" in index and "credentialed MIMIC-IV" in index


@pytest.mark.browser
def test_sites_in_chromium_at_1280(chromium, sites, tmp_path):  # noqa: F811
    cdp = chromium
    set_viewport(cdp)
    results = {r["model"]: r["result_id"] for r in load_results(sites["lb"])}
    pages = [("private-index", sites["lb"] / "index.html"), ("public-index", sites["pub"] / "index.html")]
    for model in ("baseline:retrieval", "baseline:tfidf", "baseline:template"):
        pages.append((f"private-{model.split(':')[1]}", sites["lb"] / "submissions" / f"{results[model]}.html"))
        pages.append((f"public-{model.split(':')[1]}", sites["pub"] / "submissions" / f"{results[model]}.html"))
    for name, page in pages:
        cdp.navigate_and_wait(page.as_uri())
        screenshot(cdp, tmp_path / f"{name}.png")
        assert wide_tables(cdp) == [], name
    # the SQL drill-down: outcome filter against the badges
    cdp.navigate_and_wait((sites["lb"] / "submissions" / f"{results['baseline:retrieval']}.html").as_uri())
    # (a page of more than ITEMS_INLINE items lists them a page at a time from its item data file)
    n_abst = cdp.eval("window.MEDBENCH_ITEMS ? window.MEDBENCH_ITEMS.filter(d => d[0] === 'abstained').length"
                      " : document.querySelectorAll('.item[data-outcome=\"abstained\"]').length")
    cdp.eval("(() => { const s = document.getElementById('f-outcome'); s.value = 'abstained'; "
             "s.dispatchEvent(new Event('change')); })()")
    assert cdp.eval("document.getElementById('shown-count').textContent") == str(n_abst)
    cards = cdp.eval("Array.from(document.querySelectorAll('.items .item')).filter(e => !e.hidden)"
                     ".map(e => [e.dataset.outcome, e.querySelectorAll('.chip.abst').length])")
    assert n_abst > 0 and cards and all(o == "abstained" and n >= 1 for o, n in cards), cards[:5]
    assert _problems(cdp) == []
    print(f"screenshots: {tmp_path}")
