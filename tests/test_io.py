"""Atomic writes and canonical JSON: the guarantees every command's output rests on."""

from __future__ import annotations

import os

import pytest

from medbench.io import atomic_dir, atomic_write_json, atomic_write_text, canonical_json


def test_atomic_dir_replaces_whole_folder_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "release"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("old")
        (tmp / "stale.txt").write_text("gone after the swap")
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert (target / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["release"]
    (tmp_path / "plain").mkdir()  # the same permissions as a plain mkdir (mkdtemp would give 0700)
    assert os.stat(target).st_mode & 0o777 == os.stat(tmp_path / "plain").st_mode & 0o777
    (tmp_path / "plain").rmdir()


def test_atomic_dir_failure_keeps_previous_folder(tmp_path):
    target = tmp_path / "leaderboard"
    with atomic_dir(target) as tmp:
        (tmp / "index.html").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "index.html").write_text("half-written v2")
            raise RuntimeError("crash while rendering")
    assert (target / "index.html").read_text() == "v1"
    assert [p.name for p in tmp_path.iterdir()] == ["leaderboard"]


def test_atomic_file_write_failure_keeps_previous_file(tmp_path):
    path = tmp_path / "manifest.json"
    atomic_write_json(path, {"v": 1})
    before = path.read_bytes()

    class Boom:
        def model_dump(self, mode="json"):
            raise RuntimeError("cannot serialise")

    with pytest.raises(RuntimeError):
        atomic_write_json(path, {"v": Boom()})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    atomic_write_text(path, "x")
    assert path.read_text() == "x"


def test_canonical_json_is_machine_independent():
    a = canonical_json({"b": 1.0000004, "a": [0.1 + 0.2, -0.0, float("nan")], "c": "é"})
    b = canonical_json({"c": "é", "a": [0.3, 0.0, None], "b": 1.0})
    assert a == b == '{"a":[0.3,0.0,null],"b":1.0,"c":"é"}'


def test_int_key_table_matches_a_dict_across_chunk_merges(monkeypatch):
    """The build's scratch indexes (packets, contexts) keep 8 bytes a field in sorted arrays; they
    must answer exactly what the dict they replaced answered, in key order, across merges."""
    import random

    from medbench.io import IntKeyTable

    monkeypatch.setattr(IntKeyTable, "CHUNK", 7)  # many merges, and keys left pending
    rng = random.Random(0)
    keys = rng.sample(range(-50, 10**12), 200)
    table, ref = IntKeyTable(2), {}
    for i, k in enumerate(keys):
        table.add(k, i, -i)
        ref[k] = (i, -i)
        probe = rng.choice(keys)
        assert (probe in table) == (probe in ref) and table.get(probe) == ref.get(probe)
    assert len(table) == len(ref) and 10**12 + 1 not in table and table.get(-51) is None
    with pytest.raises(KeyError):
        table.add(keys[3], 0, 0)  # insert-only: a key present in the arrays
    with pytest.raises(KeyError):
        table[10**13]
    assert list(table.items()) == sorted(ref.items())


def test_str_key_log_sorts_like_sorted_with_ties_in_insertion_order():
    from medbench.io import StrKeyLog

    keys = ["sql-b", "sql-a", "é-x", "sql-a", "z", "", "sql-ab", "Ω", "a"]
    log = StrKeyLog()
    for i, k in enumerate(keys):
        log.append(k, 100 + i)
    assert [log.key(i) for i in range(len(log))] == keys and log.value(2) == 102
    assert log.sorted_positions() == sorted(range(len(keys)), key=lambda i: (keys[i], i))
