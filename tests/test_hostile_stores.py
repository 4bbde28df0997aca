"""Verified stores and release databases (issue 15, "verified caches"):
- a DuckDB store under $MEDBENCH_HOME/stores/ truncated, with a flipped byte, emptied or
  randomised is found before use and rebuilt from its source with one warning, to the same data
  (and the same release bytes); with its source gone, one error line, exit 2;
- the size+mtime+ends check is cheap (the whole file is hashed only when size or mtime changed);
- an EHRSQL release's `sql/database.sqlite` that does not match its manifest is refused with one
  error line (no score computed from a damaged copy), and scores are those of the clean copy once it
  is restored."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import warnings

import pytest
from conftest import EHRSQL_DIR, assert_one_line_error, import_ehrsql_valid, run_cli

from medbench.errors import UserError

DAMAGES = ("truncate", "flip", "empty", "random")


def _damage(path, how):
    os.chmod(path, 0o644)
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "flip":
        i = len(data) // 2  # the middle: neither of the two hashed ends
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    elif how == "empty":
        path.write_bytes(b"")
    else:
        rng = random.Random(0)
        path.write_bytes(bytes(rng.getrandbits(8) for _ in range(len(data) or 4096)))


def _contents(db_path) -> str:
    """A digest of every table's rows (the data every later command reads)."""
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        h = hashlib.sha256()
        for (t,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall():
            rows = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
            h.update(f"{t}\n{rows!r}\n".encode())
        return h.hexdigest()
    finally:
        con.close()


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    from medbench.store.synth import generate

    out = tmp_path_factory.mktemp("synth") / "mimic"
    generate(out, patients=6, seed=0)
    return out


def _ing():
    import importlib

    return importlib.import_module("medbench.store.ingest")  # the module (the package exports the function)


def _forget():
    ing = _ing()
    ing._VERIFIED.clear()
    ing._WARNED.clear()


def test_damaged_store_is_rebuilt_with_one_warning_to_the_same_data(synth, isolated_home):
    from medbench.store import ingest

    store = ingest(synth, show_progress=False)
    clean = _contents(store.path)
    record = json.loads((store.path.parent / (store.path.name + ".check.json")).read_text())
    assert record["sha256"] == hashlib.sha256(store.path.read_bytes()).hexdigest()
    _forget()
    assert not ingest(synth, show_progress=False).ingested  # a good store is reused
    for how in DAMAGES:
        _damage(store.path, how)
        _forget()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = ingest(synth, show_progress=False)
        msgs = [str(w.message) for w in caught if "damaged store" in str(w.message)]
        assert len(msgs) == 1, (how, msgs)
        assert again.ingested, how
        assert _contents(again.path) == clean, how
        _forget()
        assert not ingest(synth, show_progress=False).ingested  # and the rebuilt one is trusted


def test_store_check_rehashes_only_when_size_or_mtime_changed(synth, isolated_home, monkeypatch):
    from medbench import io
    from medbench.store import ingest

    ing = _ing()
    store = ingest(synth, show_progress=False)
    calls = []
    real = io.sha256_file
    monkeypatch.setattr(io, "sha256_file", lambda p, *a, **k: calls.append(p) or real(p, *a, **k))
    _forget()
    assert ing.store_damage(store.path) is None and calls == []  # stat + the two ends only
    os.utime(store.path)  # touched: same bytes, new mtime → hashed once, record refreshed
    _forget()
    assert ing.store_damage(store.path) is None and len(calls) == 1
    _forget()
    assert ing.store_damage(store.path) is None and len(calls) == 1
    # damage in the first MiB that keeps size and mtime: the ends hash finds it without a full hash
    st = store.path.stat()
    with open(store.path, "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    os.utime(store.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    _forget()
    assert "first or last MiB" in (ing.store_damage(store.path) or "") and len(calls) == 1


def test_damaged_store_whose_source_is_gone_is_one_error_line(synth, tmp_path, isolated_home):
    copy = tmp_path / "mimic"
    shutil.copytree(synth, copy)
    env = {"MEDBENCH_HOME": str(isolated_home)}
    proc = run_cli("ingest", "--mimic-dir", str(copy), env=env)
    assert proc.returncode == 0, proc.stderr
    (db,) = (isolated_home / "stores").glob("*.duckdb")
    shutil.rmtree(copy)
    _damage(db, "truncate")
    proc = run_cli("ingest", "--mimic-dir", str(copy), env=env)
    assert_one_line_error(proc, "damaged store", "cannot be rebuilt", "MIMIC directory not found")


def test_build_after_a_damaged_store_gives_the_same_release(synth, tmp_path, isolated_home):
    env = {"MEDBENCH_HOME": str(isolated_home)}
    args = ["build", "--mimic-dir", str(synth), "--tasks", "sql,icd", "--seed", "0"]
    proc = run_cli(*args, "--out", str(tmp_path / "a"), env=env)
    assert proc.returncode == 0, proc.stderr
    (db,) = (isolated_home / "stores").glob("*.duckdb")
    _damage(db, "flip")
    proc = run_cli(*args, "--out", str(tmp_path / "b"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("damaged store") == 1
    ma, mb = (json.loads((tmp_path / r / "manifest.json").read_text()) for r in "ab")
    assert ma["files"] == mb["files"]


# --------------------------------------------------------------------------------------------
# EHRSQL: the release's own database.sqlite

def _ehrsql_release(root):
    """A 12-item EHRSQL valid release (the real database)."""
    return import_ehrsql_valid(root, 12)


@pytest.mark.skipif(not (EHRSQL_DIR / "mimic_iv.sqlite.gz").is_file(), reason="shared EHRSQL data not available")
def test_damaged_ehrsql_database_is_refused_and_the_clean_copy_scores_the_same(tmp_path, isolated_home):
    from medbench.release import open_release
    from medbench.scoring.score import score
    from medbench.scoring.submission import validate_submission
    from medbench.tasks.sql import cache

    rel_dir = _ehrsql_release(tmp_path)
    rel = open_release(rel_dir)
    gold = rel.gold("sql", "dev")
    head = {"type": "header", "schema_version": 1, "model": "m", "task": "sql", "split": "dev",
            "benchmark": {"name": rel.name, "sha256": rel.sha256}, "medbench_version": "x", "params": {},
            "created": "2020-01-01T00:00:00Z"}
    preds = [{"item_id": k, "prediction": (g.get("sql") if n % 2 else "SELECT count(*) FROM patients")}
             for n, (k, g) in enumerate(sorted(gold.items()))]
    sub = tmp_path / "s.jsonl"
    sub.write_text("".join(json.dumps(x) + "\n" for x in [head, *preds]))

    def run():
        cache.clear_memo()
        cache._FILE_VERIFIED.clear()
        for d in ("gold", "sql-results"):  # nothing cached: every query runs on the database
            shutil.rmtree(isolated_home / "cache" / d, ignore_errors=True)
        return score(validate_submission(sub, rel_dir), n_resamples=1000, workers=2, show_progress=False)

    clean = run()
    db = rel_dir / "sql" / "database.sqlite"
    pristine = db.read_bytes()
    for how in DAMAGES:
        _damage(db, how)
        with pytest.raises(UserError, match="does not match its manifest sha256"):
            run()
        proc = run_cli("score", str(sub), "--benchmark", str(rel_dir), "--no-publish", "--workers", "2",
                       env={"MEDBENCH_HOME": str(isolated_home)})
        assert_one_line_error(proc, "database.sqlite", "does not match its manifest sha256")
        db.write_bytes(pristine)
        again = run()
        assert again["metrics"] == clean["metrics"] and again["records"] == clean["records"], how
