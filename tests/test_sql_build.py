"""Text-to-SQL items: templates, gold SQL against the shipped database, release determinism."""

from __future__ import annotations

import collections
import os
import string

import duckdb
import pytest

from medbench.build import BuildContext
from medbench.errors import UserError
from medbench.release import open_release, write_release
from medbench.tasks.base import split_for_subject
from medbench.tasks.sql.build import build_sql_task, open_release_db, population_split
from medbench.tasks.sql.execute import open_readonly, run_job
from medbench.tasks.sql.normalize import canonical_answer
from medbench.tasks.sql.templates import TEMPLATES_BY_NAME, heldout_phrasings

N_DEMO = 20
ITEM_KEYS = {"item_id", "task", "split", "subject_id", "hadm_id", "question", "template_seen_in_train"}
REQUIRED_FAMILIES = {"demographics", "admissions", "transfers", "diagnoses", "procedures", "labs",
                     "prescriptions", "emar", "microbiology", "icu", "drg", "omr", "unanswerable"}


def _ids(store, n: int | None = None) -> list[int]:
    con = store.connect()
    try:
        ids = [r[0] for r in con.execute("SELECT subject_id FROM patients ORDER BY subject_id").fetchall()]
    finally:
        con.close()
    return ids[:n] if n else ids


def _build(store, ids, workdir, seed=0):
    workdir.mkdir(parents=True, exist_ok=True)
    return build_sql_task(BuildContext(store=store, subject_ids=ids, params={"seed": seed}, workdir=workdir))


def _release(out, path):
    write_release(path, "t", {"sql": out}, {"seed": 0}, "fp")
    return open_release(path)


@pytest.fixture(scope="module")
def demo_build(demo_store, tmp_path_factory):
    """One 20-patient demo build, written as a release: (store, ids, TaskOutput, Release)."""
    tmp = tmp_path_factory.mktemp("sqlbuild")
    ids = _ids(demo_store, N_DEMO)
    out = _build(demo_store, ids, tmp / "work")
    return demo_store, ids, out, _release(out, tmp / "rel")


def _check_release(out, rel, ids, min_templates=40):
    """The properties every SQL release must have, on any store."""
    gold = rel.gold("sql")
    items = rel.items("sql")
    assert len(items) == len(gold) == len(out.items)
    # template coverage, phrasing variety and wording
    answerable = [g for g in gold.values() if g["answerable"]]
    used = {g["template"] for g in answerable}
    assert len(used) >= min_templates, sorted(used)
    assert out.info["templates_used"] == len(used)
    picks = collections.Counter()
    by_id = items_by_id(items)
    held = set(out.info["held_out_templates"])
    for g in gold.values():
        t = TEMPLATES_BY_NAME[g["template"]]
        it = by_id[g["item_id"]]
        assert len(set(t.phrasings)) >= 3
        matches = [k for k, p in enumerate(t.phrasings) if p.format(**g["slots"]) == g["question"]]
        assert matches, g["question"]
        # phrasing hold-out: test items use only the test-only phrasings, train/dev never do
        test_only = set(heldout_phrasings(t))
        assert len(test_only) >= 2
        if it["split"] == "test":
            assert set(matches) <= test_only, (g["question"], it["split"])
        else:
            assert not set(matches) & test_only, (g["question"], it["split"])
        picks["test" if it["split"] == "test" else "train", matches[0] in test_only] += 1
        assert it["question"] == g["question"]
        # template hold-out: held-out templates only in test, and flagged unseen
        assert it["template_seen_in_train"] == (g["template"] not in held)
        if g["template"] in held:
            assert it["split"] == "test", g["template"]
    assert picks["test", True] > 0 and picks["train", False] > 0, picks
    # at least 25% of the answerable and of the unanswerable templates are held out for test
    avail = [TEMPLATES_BY_NAME[n] for n in out.info["held_out_templates"]]
    assert sum(t.answerable for t in avail) >= 0.25 * out.info["templates_available"]
    assert sum(not t.answerable for t in avail) >= 0.25 * out.info["unanswerable_templates_available"]
    # unanswerable share and shape
    unans = [g for g in gold.values() if not g["answerable"]]
    share = len(unans) / len(gold)
    assert share >= 0.15, share
    assert out.info["unanswerable_share"] == pytest.approx(share, abs=1e-4)
    assert all(g["sql"] is None and g["answer"] is None and g["family"] == "unanswerable" for g in unans)
    assert all(g["subject_id"] in ids for g in items
               if not gold[g["item_id"]]["answerable"] and g["subject_id"] is not None)
    # public items carry no gold; splits by patient (population items: by template and hash)
    held_names = frozenset(held)
    for it in items:
        assert set(it) == ITEM_KEYS, it
        t = TEMPLATES_BY_NAME[gold[it["item_id"]]["template"]]
        if t.scope == "population":
            assert it["subject_id"] is None and it["hadm_id"] is None, it
            assert it["split"] == population_split(it["item_id"], t.name in held_names)
            assert not any(str(s) in it["question"] for s in ids), it["question"]  # names no patient
            continue
        assert it["task"] == "sql" and it["split"] == split_for_subject(it["subject_id"])
        assert str(it["subject_id"]) in it["question"]
        if it["hadm_id"] is not None:
            assert gold[it["item_id"]]["slots"]["hadm_id"] == it["hadm_id"]
    assert out.info["population_items"] > 0 and out.info["population_unanswerable_items"] > 0
    assert out.info["population_items"] + out.info["population_unanswerable_items"] == sum(
        1 for it in items if it["subject_id"] is None)
    splits = collections.defaultdict(set)
    for it in items:
        if it["subject_id"] is not None:
            splits[it["subject_id"]].add(it["split"])
    assert all(len(s) == 1 for s in splits.values())
    # every gold query passes the scorer's sandbox and reproduces the stored, non-empty answer
    db = open_release_db(rel)
    sandbox = open_readonly(db, "duckdb")
    try:
        checked = set()
        for g in answerable:
            assert g["answer"] not in ("[]", "[['None']]"), g["sql"]
            assert set(g["tables"]) <= set(out.info["tables"])
            if g["template"] not in checked:  # the scorer's sandbox accepts each query shape
                checked.add(g["template"])
                res = run_job(sandbox, "duckdb", {"sql": g["sql"]}, timeout_s=30, row_cap=100_000)
                assert res["error"] is None, (g["sql"], res["error"])
                assert res["answer"] == g["answer"], g["sql"]
            else:
                assert canonical_answer(sandbox.execute(g["sql"]).fetchall()) == g["answer"], g["sql"]
    finally:
        sandbox.close()


def items_by_id(items):
    return {i["item_id"]: i for i in items}


def test_demo_release_items_and_gold(demo_build):
    store, ids, out, rel = demo_build
    _check_release(out, rel, ids)
    families = {g["family"] for g in rel.gold("sql").values()}
    assert REQUIRED_FAMILIES <= families
    # the demo has no chartevents: vital-sign templates are skipped, not left empty
    assert not store.has("chartevents") and "vitals" not in families
    assert "chartevents" not in out.info["tables"]
    # patient-specific: every admission-level item names an admission of its own patient
    con = store.connect()
    try:
        own = set(con.execute("SELECT subject_id, hadm_id FROM admissions").fetchall())
    finally:
        con.close()
    for it in rel.items("sql"):
        if it["hadm_id"] is not None:
            assert (it["subject_id"], it["hadm_id"]) in own


def test_release_db_holds_exactly_the_released_patients(demo_build):
    store, ids, _, rel = demo_build
    db = open_release_db(rel)
    con = duckdb.connect(str(db), read_only=True)
    src = store.connect()
    try:
        tables = [r[0] for r in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE column_name = 'subject_id'"
        ).fetchall()]
        assert "labevents" in tables and "patients" in tables
        id_list = ",".join(map(str, ids))
        for t in tables:
            got = {r[0] for r in con.execute(f"SELECT DISTINCT subject_id FROM {t}").fetchall()}
            assert got <= set(ids), t
            n = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            want = src.execute(f"SELECT count(*) FROM {t} WHERE subject_id IN ({id_list})").fetchone()[0]
            assert n == want, t
        # ICD dictionaries: only the codes the released patients reference
        n_dx = con.execute("SELECT count(*) FROM d_icd_diagnoses").fetchone()[0]
        n_ref = con.execute("SELECT count(*) FROM (SELECT DISTINCT icd_code, icd_version FROM "
                            "diagnoses_icd)").fetchone()[0]
        assert 0 < n_dx <= n_ref < src.execute("SELECT count(*) FROM d_icd_diagnoses").fetchone()[0]
    finally:
        con.close()
        src.close()
    # the cached database is reused, and nobody can write to it
    assert open_release_db(rel) == db
    with pytest.raises(duckdb.Error):
        duckdb.connect(str(db), read_only=True).execute("CREATE TABLE x (a INT)")


def test_tables_json_is_spider_format(demo_build):
    import json

    _, _, _, rel = demo_build
    data = json.loads((rel.path / "sql" / "tables.json").read_text())
    assert isinstance(data, list) and len(data) == 1
    db = data[0]
    assert set(db) == {"db_id", "table_names", "table_names_original", "column_names",
                       "column_names_original", "column_types", "primary_keys", "foreign_keys"}
    assert db["column_names_original"][0] == [-1, "*"]
    assert len(db["column_names"]) == len(db["column_names_original"]) == len(db["column_types"])
    names = {f"{t}.parquet" for t in db["table_names_original"]}
    assert names == {p.name for p in (rel.path / "sql" / "db").glob("*.parquet")}
    cols = db["column_names_original"]
    n = len(cols)
    assert all(0 < k < n for k in db["primary_keys"])
    fk = {(db["table_names_original"][cols[a][0]], cols[a][1], db["table_names_original"][cols[b][0]], cols[b][1])
          for a, b in db["foreign_keys"]}
    assert ("labevents", "hadm_id", "admissions", "hadm_id") in fk
    assert ("labevents", "itemid", "d_labitems", "itemid") in fk
    assert set(db["column_types"]) <= {"text", "number", "time", "boolean"}


def test_rebuild_is_byte_identical(demo_build, tmp_path):
    store, ids, _, rel = demo_build
    again = _release(_build(store, ids, tmp_path / "work2"), tmp_path / "rel2")
    assert again.sha256 == rel.sha256
    for relpath in rel.manifest["files"]:
        assert (again.path / relpath).read_bytes() == (rel.path / relpath).read_bytes(), relpath
    assert any(p.startswith("sql/db/") for p in rel.manifest["files"])  # the database is hashed


def test_subset_build_gives_the_same_items_for_its_patients(demo_build, tmp_path):
    """Shard safety: a patient's items never depend on the other patients of the build."""
    store, ids, out, _ = demo_build
    subset = ids[::4]
    part = _build(store, subset, tmp_path / "work")
    # (population items are about the whole release: they differ, and are checked elsewhere)
    part.items = [i for i in part.items if i["subject_id"] is not None]
    part.gold = [g for g in part.gold if g["item_id"] in {i["item_id"] for i in part.items}]
    full_items = [i for i in out.items if i["subject_id"] in subset]
    full_gold = {g["item_id"]: g for g in out.gold if g["item_id"] in {i["item_id"] for i in full_items}}
    assert sorted(part.items, key=lambda i: i["item_id"]) == sorted(full_items, key=lambda i: i["item_id"])
    assert {g["item_id"]: g for g in part.gold} == full_gold


def test_seed_changes_slot_choices(demo_build, tmp_path):
    store, ids, out, _ = demo_build
    other = _build(store, ids[:3], tmp_path / "work", seed=1)
    same = {i["item_id"] for i in out.items if i["subject_id"] in ids[:3]}
    assert {i["item_id"] for i in other.items} != same


def test_open_release_db_refuses_a_tampered_table(demo_build, tmp_path):
    import shutil

    _, _, _, rel = demo_build
    copy = tmp_path / "rel"
    shutil.copytree(rel.path, copy)
    target = copy / "sql" / "db" / "patients.parquet"
    os.chmod(target, 0o644)
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(UserError, match="patients.parquet"):
        open_release_db(copy)


def test_templates_are_well_formed():
    from medbench.tasks.sql.templates import ANSWERABLE, UNANSWERABLE

    assert len(ANSWERABLE) >= 40 and len(UNANSWERABLE) >= 15
    for t in ANSWERABLE + UNANSWERABLE:
        gold_fields = {f for _, f, _, _ in string.Formatter().parse(t.gold or "") if f}
        for p in t.phrasings:
            fields = {f for _, f, _, _ in string.Formatter().parse(p) if f}
            # every patient question names its patient; a population question names none
            assert ("subject_id" in fields) == (t.scope == "patient"), (t.name, p)
            if t.scope == "population":
                assert not {"hadm_id", "admittime"} & (fields | gold_fields), (t.name, p)
                continue
            # each wording carries what the gold SQL filters on (an admission by id or by time)
            assert gold_fields - {"hadm_id"} <= fields, (t.name, p)
            assert "hadm_id" not in gold_fields or fields & {"hadm_id", "admittime"}, (t.name, p)


@pytest.fixture(scope="module")
def synth_store(synth30_store):
    """generate(patients=30, seed=3), ingested once per test run (tests/conftest.py)."""
    return synth30_store


@pytest.fixture(scope="module")
def synth_build(synth_store, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synthbuild")
    ids = _ids(synth_store)
    out = _build(synth_store, ids, tmp / "work")
    return ids, out, _release(out, tmp / "rel")


def test_synthetic_release_with_vital_signs(synth_store, synth_build):
    ids, out, rel = synth_build
    assert len(ids) == 30
    _check_release(out, rel, ids)
    assert synth_store.has("chartevents")
    assert {"vitals.max_value", "vitals.last_value"} <= {g["template"] for g in out.gold}


_LATER_LAB = """
SELECT count(*) FROM labevents e JOIN d_labitems d ON e.itemid = d.itemid
WHERE e.subject_id = ? AND d.label = ?
  AND e.charttime > (SELECT max(coalesce(dischtime, admittime)) FROM admissions WHERE hadm_id = ?)
"""


def test_released_unanswerable_items_have_no_such_data(demo_build):
    """'Now'/'next' lab questions are verified: the released database holds no later result of
    that label for that patient (else the question would be answerable and is dropped)."""
    from medbench.tasks.sql.build import _data_exists

    _, _, out, rel = demo_build
    gold = rel.gold("sql")
    con = duckdb.connect(str(open_release_db(rel)), read_only=True)
    try:
        later = [g for g in gold.values() if g["template"] in ("unanswerable.lab_now", "unanswerable.next_lab")]
        assert later, "no now/next lab item in the demo build"
        for g in later:
            s = g["slots"]
            assert con.execute(_LATER_LAB, [s["subject_id"], s["label"], s["hadm_id"]]).fetchone()[0] == 0, s
        # the check the build runs does find such data when it exists
        row = con.execute("""
            SELECT e.subject_id, a.hadm_id, d.label FROM labevents e JOIN d_labitems d USING (itemid)
            JOIN admissions a ON a.subject_id = e.subject_id
            WHERE e.charttime > a.dischtime AND d.label IS NOT NULL
            ORDER BY 1, 2, 3 LIMIT 1""").fetchone()
        assert row is not None
        t = TEMPLATES_BY_NAME["unanswerable.lab_now"]
        assert _data_exists(con, t, {"subject_id": row[0], "hadm_id": row[1], "label": row[2]})
    finally:
        con.close()


def test_question_bank_coverage():
    """Issue 11: >= 150 templates, >= 6 phrasings each (2 test-only, >= 4 for train), >= 25%
    population-level, >= 20% relative-time and some multi-admission templates, by template tags;
    population templates among the answerable and the unanswerable ones, and in the hold-out."""
    from medbench.tasks.sql.templates import TEMPLATES, TEST_ONLY_PHRASINGS, UNANSWERABLE, held_out_templates

    n = len(TEMPLATES)
    assert n >= 150, n
    assert all(len(set(t.phrasings)) >= 6 for t in TEMPLATES), [t.name for t in TEMPLATES if len(t.phrasings) < 6]
    for t in TEMPLATES:
        test_only = heldout_phrasings(t)
        assert len(test_only) == TEST_ONLY_PHRASINGS >= 2 and len(t.phrasings) - len(test_only) >= 4, t.name
    population = [t for t in TEMPLATES if t.scope == "population"]
    relative = [t for t in TEMPLATES if t.relative_time]
    multi = [t for t in TEMPLATES if t.multi_admission]
    assert len(population) >= 0.25 * n, (len(population), n)
    assert len(relative) >= 0.20 * n, (len(relative), n)
    assert len(multi) >= 10, len(multi)
    assert any(t.answerable for t in population) and any(not t.answerable for t in population)
    held = held_out_templates(TEMPLATES)
    assert {t.name for t in population} & held and {t.name for t in population} - held
    # an unanswerable template added with the bank has a verify query (issue 11)
    new = [t for t in UNANSWERABLE if t.scope == "population" or t.relative_time]
    assert new and all(t.verify for t in new), [t.name for t in new if not t.verify]


def _every_gold_executes(rel, ids):
    """Each applicable answerable template's gold SQL, on its first candidate filling, runs in the
    scorer's sandbox on a release database (also the templates whose items a build dropped)."""
    from medbench.tasks.sql.build import (
        _candidates,
        _population_candidates,
        _slot_value,
        _slots,
        applicable_templates,
        slot_names,
        sql_literal,
    )

    db = open_release_db(rel)
    con = duckdb.connect(str(db), read_only=True)
    queries = []
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        for t in applicable_templates(tables):
            if t.scope == "population":
                cands = _population_candidates(con, t)
                slots = [{n: _slot_value(v) for n, v in zip(slot_names(t), c)} for c in cands[:1]]
            else:
                by_sid = _candidates(con, t, set(ids))
                slots = [_slots(t, by_sid[s][0]) for s in sorted(by_sid)[:1]]
            if t.verify is not None:  # the verify query of an unanswerable template runs too
                for sl in slots:
                    con.execute(t.verify.format(**{k: sql_literal(v) for k, v in sl.items()})).fetchone()
            if t.answerable:
                assert slots, f"{t.name}: no candidate on this release"
                queries.append((t.name, t.gold.format(**{k: sql_literal(v) for k, v in slots[0].items()})))
    finally:
        con.close()
    sandbox = open_readonly(db, "duckdb")
    try:
        for name, sql in queries:
            res = run_job(sandbox, "duckdb", {"sql": sql}, timeout_s=30, row_cap=100_000)
            assert res["error"] is None, (name, sql, res["error"])
    finally:
        sandbox.close()
    ran = len(queries)
    return ran


def test_every_gold_sql_executes_on_the_demo(demo_build):
    _, ids, _, rel = demo_build
    assert _every_gold_executes(rel, ids) >= 130


def test_every_gold_sql_executes_on_a_synthetic_release(synth_build):
    ids, _, rel = synth_build
    assert _every_gold_executes(rel, ids) >= 140


def _reference_candidates(con, t, subjects):
    """The candidate lists as they were computed in Python before issue 12 (every raw row
    fetched, filtered, deduplicated by a set and sorted): DuckDB's DISTINCT ... ORDER BY must give
    exactly these, or slot choices (rng.choice over the list) would change."""
    from medbench.tasks.sql.build import slot_names

    names = slot_names(t)
    cur = con.execute(f"SELECT * FROM ({t.candidates}) AS candidates")
    cols = [d[0] for d in cur.description]
    idx = [cols.index(n) for n in names]
    sid_at = names.index("subject_id")
    out: dict = {}
    for row in cur.fetchall():
        values = tuple(row[i] for i in idx)
        if values[sid_at] in subjects and None not in values:
            out.setdefault(values[sid_at], set()).add(values)
    return {sid: sorted(v) for sid, v in out.items()}


@pytest.mark.parametrize("which", ["demo", "synthetic"])
def test_candidates_match_the_python_reference(which, demo_build, synth_build):
    from medbench.tasks.sql.build import _candidates, applicable_templates

    rel, ids = (demo_build[3], demo_build[1]) if which == "demo" else (synth_build[2], synth_build[0])
    con = duckdb.connect(str(open_release_db(rel)), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        checked = 0
        some = set(ids[1::2])  # a subset too: the IN filter keeps exactly the asked patients
        for t in applicable_templates(tables):
            if t.scope != "patient":
                continue
            for subjects in (set(ids), some):
                got = _candidates(con, t, subjects)
                want = _reference_candidates(con, t, subjects)
                assert got == want, t.name
                # same values and the same Python types (a slot's text depends on its type)
                assert [[type(v) for v in r] for s in sorted(got) for r in got[s]] == \
                    [[type(v) for v in r] for s in sorted(want) for r in want[s]], t.name
            checked += bool(want)
        assert checked >= 100
    finally:
        con.close()


def test_template_cap_binds_with_a_small_setting_and_is_deterministic(demo_build, tmp_path):
    """The size policy (param sql_max_per_template): at 2 per template per split on 20 demo
    patients it binds; the kept patients of a template are its eligible ones with the smallest
    stable hashes, so a rebuild (and a rebuild with other batch sizes) gives the same bytes; it is
    chosen before gold runs and recorded in the manifest entry. The default never binds here."""
    import hashlib

    from medbench.tasks.sql.build import DEFAULT_MAX_PER_TEMPLATE

    store, ids, full, _ = demo_build
    assert "template_cap" not in full.info and DEFAULT_MAX_PER_TEMPLATE >= 500

    def build(work, **env):
        work.mkdir()
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return build_sql_task(BuildContext(store=store, subject_ids=ids, workdir=work,
                                               params={"seed": 0, "sql_max_per_template": 2}))
        finally:
            for k, v in old.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)

    out = build(tmp_path / "a")
    again = build(tmp_path / "b", MEDBENCH_SQL_PATIENT_BATCH="3")
    assert list(out.items) == list(again.items) and list(out.gold) == list(again.gold)
    assert out.info["template_cap"]["max_per_template"] == 2 and out.info["template_cap"]["capped_template_splits"] > 0
    per: dict = {}
    for it, g in zip(out.items, out.gold, strict=True):
        if g["answerable"] and it["subject_id"] is not None:
            per.setdefault((g["template"], it["split"]), []).append(it["subject_id"])
    assert max(len(v) for v in per.values()) == 2  # binds (and never exceeds)
    full_per: dict = {}
    for it, g in zip(full.items, full.gold, strict=True):
        if g["answerable"] and it["subject_id"] is not None:
            full_per.setdefault((g["template"], it["split"]), []).append(it["subject_id"])
    assert sum(len(v) for v in per.values()) < sum(len(v) for v in full_per.values())
    # exactly: of a template's eligible patients in the split (a candidate filling, by the Python
    # reference), the two with the smallest hashes, less those whose gold answer is empty (the
    # uncapped build has an item for every eligible patient whose answer is not)
    from medbench.tasks.sql.templates import TEMPLATES

    by_name = {t.name: t for t in TEMPLATES}
    con = duckdb.connect(str(open_release_db(demo_build[3])), read_only=True)
    try:
        for (name, split), sids in sorted(per.items()):
            eligible = [x for x in _reference_candidates(con, by_name[name], set(ids)) if split_for_subject(x) == split]
            ranked = sorted(eligible, key=lambda x, n=name: (
                hashlib.sha256(f"medbench-sql-template-cap|0|{n}|{x}".encode()).digest(), x))
            assert sorted(sids) == sorted(set(ranked[:2]) & set(full_per[(name, split)])), (name, split)
        # the eligibility pass reads the release in patient batches (issue 12: one whole-release
        # query per template set the build's peak): any batch size chooses the same patients
        from medbench.tasks.sql.build import applicable_templates, held_out_templates, template_cap

        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        templates = applicable_templates(tables)
        answerable = [t for t in templates if t.scope == "patient" and t.answerable]
        chosen = {}
        for batch in ("1", "7", None):
            with pytest.MonkeyPatch.context() as mp:
                if batch:
                    mp.setenv("MEDBENCH_SQL_PATIENT_BATCH", batch)
                else:
                    mp.delenv("MEDBENCH_SQL_PATIENT_BATCH", raising=False)
                chosen[batch] = template_cap(con, answerable, sorted(ids), held_out_templates(templates), 0, 2)
        assert chosen["1"] == chosen["7"] == chosen[None] and len(chosen[None]) == out.info["template_cap"]["capped_template_splits"]
    finally:
        con.close()
    # items kept are the uncapped build's own (same slots, phrasing, answer)
    full_gold = {g["item_id"]: g for g in full.gold}
    assert all(full_gold.get(g["item_id"]) == g for g in out.gold if g["answerable"] and g["slots"].get("subject_id"))
    assert any(not g["answerable"] for g in out.gold)


def test_population_items_are_about_the_whole_release(demo_build, tmp_path):
    """A population item's answer is the gold SQL over the release database of all the build's
    patients; a shard build (params.shard) has none — merge-shards rebuilds SQL and adds them."""
    store, ids, _, rel = demo_build
    pop = [g for g in rel.gold("sql").values() if TEMPLATES_BY_NAME[g["template"]].scope == "population"]
    assert {g["template"] for g in pop} >= {"demographics.pop_patient_count", "prescriptions.pop_top3"}
    count = next(g for g in pop if g["template"] == "demographics.pop_patient_count")
    assert count["answer"] == canonical_answer([[len(ids)]])
    assert {it["split"] for it in rel.items("sql") if it["subject_id"] is None} == {"train", "dev", "test"}
    tmp_path.joinpath("w").mkdir()
    shard = build_sql_task(BuildContext(store=store, subject_ids=ids[:5], workdir=tmp_path / "w",
                                        params={"seed": 0, "shard": {"k": 1, "n": 4}}))
    assert all(it["subject_id"] is not None for it in shard.items)
    assert shard.info["population_items"] == 0
