"""Packets: contents, ordering, caps, provenance; bulk and single extraction give identical bytes."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import assert_one_line_error, run_cli
from notes_dataset import NOTED, OTHER, SUBJECT, make_notes_dataset

from medbench.extract.packet import (
    Caps,
    admissions_of,
    extract_packet,
    iter_packets,
    packet_dict,
    packet_json,
    packet_json_schema,
)
from medbench.io import canonical_json
from medbench.store import ingest

UNCAPPED = Caps(labs=None, radiology=None, emar=None)


def test_bulk_and_single_extraction_identical_bytes(demo_store):
    subjects = [10014354, 10000032, 10019003]
    ids = [a[1] for a in admissions_of(demo_store, subjects)]
    assert len(ids) > 25
    single = {h: packet_json(extract_packet(demo_store, h)) for h in ids}
    bulk = {p.hadm_id: packet_json(p) for p in iter_packets(demo_store, ids)}
    assert bulk == single
    # batch boundaries change nothing either
    small = {p.hadm_id: packet_json(p) for p in iter_packets(demo_store, ids, batch_size=7)}
    assert small == single
    # and a second extraction is byte-identical
    assert {p.hadm_id: packet_json(p) for p in iter_packets(demo_store, ids)} == bulk
    # packet_json's fast path is exactly the project's canonical JSON
    for h in ids[:5]:
        p = extract_packet(demo_store, h)
        assert packet_json(p) == canonical_json(p.model_dump(mode="json"))


def test_packet_contents_and_schema(demo_store):
    p = packet_dict(extract_packet(demo_store, NOTED))
    jsonschema.validate(p, packet_json_schema())
    assert p["subject_id"] == SUBJECT and p["hadm_id"] == NOTED
    pat = p["patient"]
    assert pat["age_at_admission"] == pat["anchor_age"] + 2146 - pat["anchor_year"]
    assert p["admission"]["admittime"] == "2146-10-08 23:47:00"
    assert p["admission"]["discharge_location"] == "HOME HEALTH CARE"
    assert [d["seq_num"] for d in p["diagnoses"]] == sorted(d["seq_num"] for d in p["diagnoses"])
    assert all(d["title"] for d in p["diagnoses"])
    times = [lab["charttime"] for lab in p["labs"]]
    assert times == sorted(times) and p["labs"][0]["label"]
    assert p["transfers"] and p["icu_stays"] and p["prescriptions"] and p["emar"]
    # optional tables this copy lacks: empty sections, provenance says absent
    for table, key in (("discharge", "discharge_notes"), ("radiology", "radiology_notes"),
                       ("chartevents", "vitals")):
        assert p["provenance"][table]["present"] is False and p[key] == []
    assert p["provenance"]["labevents"] == {"present": True, "rows": len(p["labs"]), "kept": len(p["labs"]),
                                            "dropped": 0, "cap": 250}


def test_row_caps_are_deterministic_and_recorded(demo_store):
    full = packet_dict(extract_packet(demo_store, NOTED, UNCAPPED))
    capped = packet_dict(extract_packet(demo_store, NOTED, Caps(labs=5, radiology=1, emar=3)))
    n_labs = len(full["labs"])
    assert capped["provenance"]["labevents"] == {"present": True, "rows": n_labs, "kept": 5,
                                                 "dropped": n_labs - 5, "cap": 5}
    # abnormal labs first, then the earliest; listed chronologically
    abnormal = [lab for lab in full["labs"] if lab["flag"]]
    assert len(abnormal) >= 5
    expect = sorted(abnormal, key=lambda x: (x["charttime"], x["labevent_id"]))[:5]
    assert capped["labs"] == sorted(expect, key=lambda x: (x["charttime"], x["labevent_id"]))
    # eMAR: the earliest three
    assert capped["emar"] == full["emar"][:3]
    assert capped["provenance"]["emar"]["dropped"] == len(full["emar"]) - 3
    with pytest.raises(Exception, match="row-cap-labs"):
        extract_packet(demo_store, NOTED, Caps(labs=0))


def test_unknown_admission_is_a_user_error(demo_store):
    from medbench.errors import UserError

    with pytest.raises(UserError, match="hadm_id 1 not found"):
        extract_packet(demo_store, 1)


def test_notes_vitals_and_unlinked_radiology(demo_dir, tmp_path):
    store = ingest(make_notes_dataset(demo_dir, tmp_path / "mimic"), tmp_path / "s.duckdb", show_progress=False)
    p = packet_dict(extract_packet(store, NOTED))
    assert [n["note_id"] for n in p["discharge_notes"]] == [f"{SUBJECT}-DS-1"]
    assert [n["note_id"] for n in p["radiology_notes"]] == [f"{SUBJECT}-RR-1"]
    assert [n["note_id"] for n in p["unlinked_notes"]] == [f"{SUBJECT}-RR-2"]  # RR-3 is outside the stay
    assert p["vitals"] == [{"vital": "heart_rate", "unit": "bpm", "n": 3, "min": 70.0, "max": 110.0,
                            "mean": 90.0, "first": 110.0, "last": 70.0,
                            "first_time": "2146-10-09 01:00:00", "last_time": "2146-10-10 01:00:00"}]
    assert p["provenance"]["chartevents"]["rows"] == 3
    other = packet_dict(extract_packet(store, OTHER))
    assert other["discharge_notes"] == [] and other["unlinked_notes"] == []
    assert other["provenance"]["discharge"]["present"] is True


def test_extract_packets_cli_matches_single(demo_dir, demo_store, tmp_path):
    cohort = tmp_path / "cohort.csv"
    cohort.write_text("subject_id\n10014354\n10000032\n")
    out = tmp_path / "packets"
    proc = run_cli("extract-packets", "--cohort", str(cohort), "--mimic-dir", str(demo_dir),
                   "--out", str(out), "--row-cap-labs", "50")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    ids = [a[1] for a in admissions_of(demo_store, [10014354, 10000032])]
    assert manifest["n_packets"] == len(ids) == len(list(out.glob("*.json"))) - 1
    caps = Caps(labs=50)
    for h in ids[:5]:
        assert (out / f"{h}.json").read_text() == packet_json(extract_packet(demo_store, h, caps)) + "\n"
    assert_one_line_error(run_cli("extract-packets", "--mimic-dir", str(demo_dir), "--out", str(out)),
                          "--cohort", "--all")


class _CountingDB:
    """A DuckDB connection or cursor that records every query issued through it."""

    QUERY_METHODS = frozenset({"execute", "executemany", "sql", "query", "read_csv", "read_parquet",
                               "read_json", "from_query", "table", "view"})

    def __init__(self, obj, log: list[str]):
        self._obj, self._log = obj, log

    def __getattr__(self, name):
        attr = getattr(self._obj, name)
        if name in self.QUERY_METHODS:
            def query(*args, **kwargs):
                self._log.append(name)
                return attr(*args, **kwargs)
            return query
        if name == "cursor":
            return lambda *a, **k: _CountingDB(attr(*a, **k), self._log)
        return attr


def _count_queries(store, hadm_ids: list[int], batch_size: int) -> tuple[int, int]:
    """(queries issued, packets yielded) by iter_packets over `hadm_ids`."""
    import copy

    log: list[str] = []
    counting = copy.copy(store)
    counting.connect = lambda *a, **k: _CountingDB(store.connect(*a, **k), log)
    n = sum(1 for _ in iter_packets(counting, hadm_ids, batch_size=batch_size))
    return len(log), n


def test_bulk_extraction_issues_a_fixed_number_of_queries(demo_store):
    """Set-based extraction: the same number of queries for 3 admissions as for every admission of
    the demo in one batch (not one per admission); each further batch adds the same fixed number."""
    ids = [a[1] for a in admissions_of(demo_store)]
    assert len(ids) > 200
    big = len(ids)
    q_small, n_small = _count_queries(demo_store, ids[:3], batch_size=big)
    q_large, n_large = _count_queries(demo_store, ids, batch_size=big)
    assert (n_small, n_large) == (3, len(ids))
    assert q_small > 0  # the counter sees the queries at all
    assert q_large == q_small, (q_small, q_large)
    q_two, _ = _count_queries(demo_store, ids, batch_size=(big + 1) // 2)
    assert q_two == 2 * q_small


def test_duckdb_assembly_matches_python_reference(demo_store, tmp_path):
    """The packets DuckDB assembles are byte-identical to the Python/pydantic reference assembly,
    on every demo admission, with default caps and with tight caps (the cap paths)."""
    from medbench.extract.packet import iter_packet_models

    ids = [a[1] for a in admissions_of(demo_store)]
    for caps in (Caps(), Caps(labs=3, radiology=1, emar=2)):
        fast = {p.hadm_id: (p.text, p.provenance) for p in iter_packets(demo_store, ids, caps)}
        ref = {int(m.hadm_id): (packet_json(m), m.model_dump(mode="json")["provenance"])
               for m in iter_packet_models(demo_store, ids, caps)}
        assert list(fast) == sorted(fast) and fast.keys() == ref.keys()
        bad = [h for h in ids if fast[h] != ref[h]]
        assert not bad, bad[:3]


def test_duckdb_assembly_matches_python_reference_with_notes_and_vitals(demo_dir, tmp_path):
    """Same check on a store with notes and chartevents (vitals, radiology cap, unlinked notes)."""
    from medbench.extract.packet import iter_packet_models

    store = ingest(make_notes_dataset(demo_dir, tmp_path / "mimic"), tmp_path / "s.duckdb", show_progress=False)
    ids = [a[1] for a in admissions_of(store)]
    for caps in (Caps(), Caps(labs=2, radiology=1, emar=1)):
        fast = {p.hadm_id: p.text for p in iter_packets(store, ids, caps)}
        ref = {int(m.hadm_id): packet_json(m) for m in iter_packet_models(store, ids, caps)}
        assert fast == ref


def test_duckdb_float_format_is_pythons_or_flagged():
    """Every float DuckDB formats itself serialises exactly as canonical JSON does (rounding ties
    included); the ones it cannot (tiny, huge) are flagged for the Python path."""
    import random

    import duckdb

    from medbench.extract.packet import _nf, _odd
    from medbench.io import normalise_float

    rng = random.Random(3)
    vals = [7.1284375, 2.675, 1.0000005, -0.0000001, 0.0, -0.0, 2.5e-05, 9.9e-05, 1e-06, 1e16,
            123456.789, float("nan"), float("inf"), float("-inf"), 0.0001, 1e15, -1e-7, 5e-7, -5e-7,
            999999999.999999, 999999999.9999995, 1e9, 1e9 + 0.5, 2.0**33 + 2.0**-20, 0.1 + 0.2,
            4.35, -4.35, 1.0000005, 2.0000015]
    vals += [rng.randint(0, 10**9) / 86400 for _ in range(20000)]  # ICU los: many exact ties
    vals += [rng.uniform(-1e5, 1e5) for _ in range(5000)] + [rng.uniform(0, 2e-4) for _ in range(2000)]
    # at most 6 decimals (the fast path), and 7 (rounded by printf), up to 1e9 and beyond
    vals += [rng.randint(-10**15, 10**15) / 10**6 for _ in range(5000)]
    vals += [rng.randint(-10**16, 10**16) / 10**7 for _ in range(5000)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest(?::DOUBLE[]) AS x", [vals])
    got = con.execute(f"SELECT to_json({{'v': {_nf('x')}}}), {_odd('x')} FROM t").fetchall()
    flagged = 0
    for v, (text, odd) in zip(vals, got, strict=True):
        if odd:
            flagged += 1
        else:
            assert text == '{"v":' + json.dumps(normalise_float(v)) + '}', v
    assert 0 < flagged < 2100  # the tiny ones only


def test_tied_order_keys_are_ordered_by_content(demo_dir, demo_store, tmp_path, monkeypatch):
    """Rows whose order keys tie (duplicate labevent_id and charttime with different values, a
    duplicated prescription) come out in one content-determined order: the same whatever the
    source file's row order or DuckDB's thread count, and the same from both assembly paths."""
    import csv

    import duckdb

    from medbench.extract.packet import iter_packet_models
    from medbench.store.tables import TABLES_BY_NAME

    con = duckdb.connect(str(demo_store.path), read_only=True)
    tables = {}
    for name in ("labevents", "prescriptions"):
        cols = TABLES_BY_NAME[name].columns
        rows = con.execute(f"SELECT {', '.join(cols)} FROM {name} WHERE hadm_id = ? ORDER BY ALL",
                           [NOTED]).fetchall()
        assert len(rows) > 3
        vi = cols.index("value" if name == "labevents" else "dose_val_rx")
        dups = [tuple(f"dup{k}" if i == vi else v for i, v in enumerate(rows[j]))
                for j in range(3) for k in range(2)]
        tables[name] = (cols, rows + dups)
    con.close()

    def dataset(out, reverse):
        for module in ("hosp", "icu"):
            (out / module).mkdir(parents=True)
            for f in (demo_dir / module).iterdir():
                if f.name.split(".")[0] not in tables:
                    (out / module / f.name).symlink_to(f)
        for name, (cols, rows) in tables.items():
            with open(out / "hosp" / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(cols)
                w.writerows(["" if v is None else v for v in r] for r in (rows[::-1] if reverse else rows))
        return out

    texts = []
    for reverse, threads in ((False, None), (True, "1")):
        if threads:
            monkeypatch.setenv("MEDBENCH_THREADS", threads)
        store = ingest(dataset(tmp_path / f"m{reverse}", reverse), tmp_path / f"s{reverse}.duckdb",
                       show_progress=False)
        for caps in (Caps(), Caps(labs=4)):
            fast = packet_json(next(iter_packets(store, [NOTED], caps)))
            assert fast == packet_json(next(iter_packet_models(store, [NOTED], caps)))
            texts.append(fast)
        p = json.loads(texts[-2])
        assert sum((lab["value"] or "").startswith("dup") for lab in p["labs"]) == 6
    assert texts[0] == texts[2] and texts[1] == texts[3]


def test_write_packets_shrinks_its_batches_under_a_low_memory_setting(demo_store, tmp_path, monkeypatch):
    """`extract-packets` (write_packets) takes the memory-aware batch size the build uses: a
    fixed 1,000-admission statement ran DuckDB out of memory at 10,000 patients under
    MEDBENCH_MEMORY_LIMIT=1500MB. Packet bytes do not depend on the batch size."""
    import medbench.extract.packet as packet_module

    seen: list = []
    real = packet_module.iter_packets

    def spy(*args, batch_size=None, **kwargs):
        seen.append(batch_size)
        return real(*args, batch_size=batch_size, **kwargs)

    ids = [a[1] for a in packet_module.admissions_of(demo_store)][:30]
    monkeypatch.setattr(packet_module, "iter_packets", spy)
    monkeypatch.setenv("MEDBENCH_MEMORY_LIMIT", "400MB")
    low = packet_module.write_packets(demo_store, ids, tmp_path / "low", show_progress=False)
    assert seen == [None] and packet_module.default_batch_size() == 100
    monkeypatch.delenv("MEDBENCH_MEMORY_LIMIT")
    default = packet_module.write_packets(demo_store, ids, tmp_path / "default", show_progress=False)
    assert low == default
