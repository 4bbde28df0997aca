"""Release format 2 (issue 12, "releases that stay a sensible size"): large item text stored once
per task in `<task>/contexts.jsonl` and resolved by the one reader (`Release.items`); record files
over the threshold written as `.jsonl.zst`; format-1 releases (inline text, plain files) still
read, run and score the same; byte-identical rebuilds; public items and private gold apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from medbench.build import build_release
from medbench.errors import UserError
from medbench.io import atomic_write_json, canonical_json, jsonl_lines, read_jsonl, sha256_bytes, tree_sha256
from medbench.release import CONTEXTS, RELEASE_FORMAT, TaskOutput, open_release, write_release
from medbench.splits import SPLITS, split_for_subject
from medbench.tasks import get_family

TASKS = "sql,conversation,qa"
PER_SPLIT = 2
slow = pytest.mark.slow


def _tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def to_format1(src: Path, dest: Path) -> Path:
    """The same release in the format-1 layout (what medbench wrote before format 2): items with
    their text inline, every record file plain `.jsonl`, no context rules, release_format 1."""
    rel = open_release(src)
    manifest = json.loads((src / "manifest.json").read_text())
    for rp in _tree(src):
        if rp == "manifest.json" or rp.rsplit("/", 1)[-1].startswith(CONTEXTS):
            continue
        out = dest / rp.removesuffix(".zst")
        out.parent.mkdir(parents=True, exist_ok=True)
        task, name = rp.split("/", 1)
        if name.startswith("items.jsonl"):
            out.write_text("".join(jsonl_lines(sorted(rel.items(task), key=lambda r: r["item_id"]))))
        elif name.startswith("gold.jsonl"):
            out.write_text("".join(jsonl_lines(sorted(rel.gold(task).values(), key=lambda r: r["item_id"]))))
        else:
            out.write_bytes((src / rp).read_bytes())
    for info in manifest["tasks"].values():
        info.pop("context_ref", None)
    manifest["release_format"] = 1
    manifest["files"] = tree_sha256(dest)
    atomic_write_json(dest / "manifest.json", manifest)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two patients per split; the release at the default threshold, and twice with every record
    file compressed (threshold 0)."""
    from medbench.store import ingest
    from medbench.store.synth import generate

    root = tmp_path_factory.mktemp("layout")
    generate(root / "mimic", patients=24, seed=3, show_progress=False)
    store = ingest(root / "mimic", root / "store.duckdb", show_progress=False)
    con = store.connect()
    try:
        subjects = [r[0] for r in con.execute("SELECT DISTINCT subject_id FROM discharge ORDER BY 1").fetchall()]
    finally:
        con.close()
    chosen = {s: [x for x in subjects if split_for_subject(x) == s][:PER_SPLIT] for s in SPLITS}
    assert all(len(v) == PER_SPLIT for v in chosen.values()), chosen
    cohort = root / "cohort.csv"
    cohort.write_text("subject_id\n" + "".join(f"{s}\n" for v in chosen.values() for s in v))
    kw = {"store": store, "tasks": TASKS, "name": "layout", "cohort": cohort, "show_progress": False}
    plain = build_release(out=root / "plain", **kw).out
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDBENCH_COMPRESS_OVER", "0")
        zst_a = build_release(out=root / "zst_a", **kw).out
        zst_b = build_release(out=root / "zst_b", **kw).out
    old = to_format1(plain, root / "format1")
    return {"plain": plain, "zst_a": zst_a, "zst_b": zst_b, "format1": old, "root": root}


def _prompt_sha(task: str, item: dict, rel) -> str:
    messages = get_family(task).render_prompt(item, rel)
    return sha256_bytes(canonical_json(messages).encode("utf-8"))


@slow
def test_large_text_is_stored_once_and_items_reference_it(built):
    rel = open_release(built["plain"])
    rel.verify()
    assert rel.manifest["release_format"] == RELEASE_FORMAT == 2
    assert isinstance(rel.manifest["tasks"]["qa"]["context"], str)  # the family's own description stays
    for task, field, key in (("conversation", "packet", "hadm_id"), ("qa", "context", "context_hadm_ids")):
        rule = rel.manifest["tasks"][task]["context_ref"]
        assert rule["field"] == field and rule["key"] == key and rule["file"] in (CONTEXTS, CONTEXTS + ".zst")
        assert f"{task}/{rule['file']}" in rel.manifest["files"]  # listed and hashed
        stored = rel.records(task, "items")
        assert stored and all(field not in it for it in stored)  # a reference, not the text
        contexts = rel.contexts(task)
        lines = read_jsonl(rel.record_file(task, CONTEXTS))
        assert [ln["key"] for ln in lines] == sorted(contexts)  # once per key, in key order
        keys = {k for it in stored for k in (it[key] if isinstance(it[key], list) else [it[key]])}
        assert keys == set(contexts)  # every stored context is used, every reference resolves
        for it in rel.items(task):
            assert field in it
    for it in rel.items("conversation"):
        assert it["packet"]["hadm_id"] == it["hadm_id"] and it["packet"]["subject_id"] == it["subject_id"]
    qa = rel.items("qa")
    assert any(len(it["context_hadm_ids"]) > 1 for it in qa)  # a patient-level question joins several
    for it in qa:
        assert it["context_chars"] == len(it["context"]) and it["context"].endswith("\n")
        assert it["context"].count("=== ADMISSION ") == len(it["context_hadm_ids"])
    # the items file shrinks by the text it no longer repeats
    old = open_release(built["format1"])
    for task in ("conversation", "qa"):
        assert (rel.record_file(task, "items.jsonl").stat().st_size * 5
                < old.record_file(task, "items.jsonl").stat().st_size)


@slow
def test_items_and_prompt_hashes_are_those_of_the_inline_layout(built):
    """The reader gives every family the same whole item as a format-1 release with the text
    inline, so rendered prompts — and their sha256 — are identical."""
    new, old = open_release(built["plain"]), open_release(built["format1"])
    assert old.manifest["release_format"] == 1 and new.sha256 != old.sha256
    for task in TASKS.split(","):
        a, b = new.items(task), old.items(task)
        assert a == b and a
        assert new.gold(task) == old.gold(task)
        for split in SPLITS:
            assert new.items(task, split) == old.items(task, split)
            assert new.gold(task, split) == old.gold(task, split)
        assert [_prompt_sha(task, it, new) for it in a] == [_prompt_sha(task, it, old) for it in b]


@slow
def test_format1_release_runs_and_scores_as_format2(built, tmp_path):
    from medbench.pipeline import score_file
    from medbench.run import run

    per_item = {}
    for kind in ("plain", "format1"):
        for task, model in (("conversation", "baseline:template"), ("qa", "baseline:qa-lookup")):
            out = tmp_path / f"{kind}-{task}.jsonl"
            summary = run(built[kind], task, model, split="test", out=out)
            assert summary.failed == 0
            lines = read_jsonl(out)[1:]
            res = score_file(out, benchmark=built[kind], leaderboard=tmp_path / f"lb-{kind}",
                             show_progress=False).result
            per_item[kind, task] = ({ln["item_id"]: ln["prediction"] for ln in lines},
                                    {r["item_id"]: r for r in res["records"]},
                                    res["metrics"])
    for task in ("conversation", "qa"):
        assert per_item["plain", task] == per_item["format1", task]
        assert per_item["plain", task][1]  # scored something


@slow
def test_compressed_files_read_the_same_and_rebuild_byte_identical(built):
    a, b, plain = (open_release(built[k]) for k in ("zst_a", "zst_b", "plain"))
    assert _tree(built["zst_a"]) == _tree(built["zst_b"])  # fixed level, no timestamps in the frames
    a.verify()
    names = set(a.manifest["files"])
    for task in TASKS.split(","):
        for fname in ("items.jsonl", "gold.jsonl", *([CONTEXTS] if task != "sql" else [])):
            assert f"{task}/{fname}.zst" in names and f"{task}/{fname}" not in names
            # the frame decompresses to exactly the plain file's bytes
            raw = zstandard.ZstdDecompressor().decompress(a.record_file(task, fname).read_bytes())
            assert raw == plain.record_file(task, fname).read_bytes()
        assert a.items(task) == plain.items(task) and a.gold(task) == plain.gold(task)
    # the default threshold (8 MiB) leaves these small files plain
    assert not [n for n in plain.manifest["files"] if n.endswith(".zst")]
    # only the file names differ from the plain build's manifest
    strip = {k: {kk: vv for kk, vv in v.items() if kk != "context_ref"} for k, v in a.manifest["tasks"].items()}
    assert strip == {k: {kk: vv for kk, vv in v.items() if kk != "context_ref"}
                     for k, v in plain.manifest["tasks"].items()}
    assert b.sha256 == a.sha256 != plain.sha256


@slow
def test_public_items_and_contexts_hold_no_gold(built):
    rel = open_release(built["zst_a"])
    gold_only = {"answer", "answer_text", "sql_answer", "answerable", "facts", "lexicon", "grounded",
                 "admission_window", "answer_in_context", "slots", "codes", "sql"}
    for task in TASKS.split(","):
        for it in rel.records(task, "items"):
            assert not set(it) & gold_only, task
        if task != "sql":
            for ln in read_jsonl(rel.record_file(task, CONTEXTS)):
                assert set(ln) == {"key", "value"}
                assert not (isinstance(ln["value"], dict) and set(ln["value"]) & gold_only)
    for task in ("conversation", "qa"):  # gold's own file, not the contexts'
        assert {r["item_id"] for r in rel.records(task, "gold")} == {r["item_id"] for r in rel.records(task, "items")}


# ----------------------------------------------------------------------- small, no build


def _toy(tmp_path: Path, compress_over: int, name: str = "rel") -> Path:
    items = [{"item_id": f"t-{i}", "task": "t", "split": "train", "subject_id": None, "ref": [i % 2, 2]}
             for i in range(6)]
    gold = [{"item_id": f"t-{i}", "y": i} for i in range(6)]
    out = TaskOutput(items=items, gold=gold, contexts={0: "zero", 1: "one", 2: "two"},
                     context={"field": "text", "key": "ref", "join": " + ", "end": "."})
    write_release(tmp_path / name, "toy", {"t": out}, {}, None, compress_over=compress_over)
    return tmp_path / name


def test_reader_joins_list_references(tmp_path):
    rel = open_release(_toy(tmp_path, 1 << 20))
    assert [it["text"] for it in rel.items("t")][:2] == ["zero + two.", "one + two."]
    assert rel.manifest["tasks"]["t"]["context_ref"] == {"field": "text", "key": "ref", "join": " + ", "end": ".",
                                                     "file": CONTEXTS}
    z = open_release(_toy(tmp_path, 0, "z"))
    assert z.items("t") == rel.items("t") and z.gold("t") == rel.gold("t")
    assert sorted(z.manifest["files"]) == ["t/contexts.jsonl.zst", "t/gold.jsonl.zst", "t/items.jsonl.zst"]


def test_bad_references_and_newer_formats_are_one_line_errors(tmp_path):
    path = _toy(tmp_path, 1 << 20)
    m = json.loads((path / "manifest.json").read_text())
    (path / "t" / CONTEXTS).write_text('{"key":0,"value":"zero"}\n')  # keys 1 and 2 gone
    with pytest.raises(UserError, match="names no entry of t/contexts.jsonl"):
        open_release(path).items("t")
    m["tasks"]["t"]["context_ref"] = {"field": 3, "key": "ref"}
    atomic_write_json(path / "manifest.json", m)
    with pytest.raises(UserError, match="invalid context reference rule"):
        open_release(path).items("t")
    (path / "t" / "items.jsonl.zst").write_bytes(b"not zstd")
    with pytest.raises(UserError, match="both items.jsonl and items.jsonl.zst"):
        open_release(path).records("t", "items")
    (path / "t" / "items.jsonl").unlink()
    with pytest.raises(UserError, match="cannot read t/items.jsonl.zst"):
        open_release(path).records("t", "items")
    m["release_format"] = RELEASE_FORMAT + 1
    atomic_write_json(path / "manifest.json", m)
    with pytest.raises(UserError, match="newer than this medbench reads"):
        open_release(path)


def test_compress_threshold_setting(monkeypatch):
    from medbench.config import DEFAULT_COMPRESS_OVER, compress_over_bytes

    assert DEFAULT_COMPRESS_OVER == "8MiB" and compress_over_bytes() == 8 * 1024**2
    monkeypatch.setenv("MEDBENCH_COMPRESS_OVER", "512KiB")
    assert compress_over_bytes() == 512 * 1024
    monkeypatch.setenv("MEDBENCH_COMPRESS_OVER", "lots")
    with pytest.raises(UserError, match="MEDBENCH_COMPRESS_OVER"):
        compress_over_bytes()

