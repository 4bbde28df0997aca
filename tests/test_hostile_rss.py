"""Bounded cost per submission (issue 15): every hostile case of `bench/hostile.py` — over-limit
and at-the-cap ICD lists, SQL strings, conversations, EHRSQL normaliser lines, SQL answers of
~100 MB, a slow query under `--json` — scored by `medbench score` in a fresh process, each within
30 s (on this shared 2-core machine) and with the scoring process's own peak RSS
(its own `VmHWM`, the SQL workers excluded: they run under RLIMIT_AS) under 1 GB."""

from __future__ import annotations

import importlib.util
import os

import pytest
from _train_release import build_tiny_release
from conftest import EHRSQL_DIR, REPO, import_ehrsql_valid

# timed: `make test` runs this module in the serial pass, never beside another test (pyproject: serial)
pytestmark = pytest.mark.serial

WALL_S = 30.0
RSS_MB = 1024.0


def _bench():
    spec = importlib.util.spec_from_file_location("bench_hostile", REPO / "bench" / "hostile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_rss")
    rel = build_tiny_release(root, tasks="sql,icd,conversation")
    ehr = None
    if (EHRSQL_DIR / "mimic_iv.sqlite.gz").is_file():
        ehr = import_ehrsql_valid(root, 80)
    return rel, ehr, root


@pytest.mark.slow
def test_every_hostile_case_is_fast_and_small(releases, tmp_path):
    bench = _bench()
    rel, ehr, _root = releases
    cases = bench.cases(rel, ehr, tmp_path)
    assert len(cases) >= (12 if ehr else 10)
    env = dict(os.environ, PYTHONPATH=str(REPO), MEDBENCH_HOME=str(tmp_path / "home"), MEDBENCH_NO_PROGRESS="1")
    seen = []
    for name, (sub, release) in cases.items():
        m = bench.measure(sub, release, env)
        seen.append((name, round(m["wall_s"], 1), round(m["rss_mb"])))
        if "cost_usd" in name:
            assert m["rc"] == 2 and "cost_usd" in m["stderr"], (name, m["stderr"][-500:])
        else:
            assert m["rc"] == 0, (name, m["stderr"][-2000:])
            assert m["summary"] is not None, (name, m["stderr"][-2000:])  # stdout is one JSON document
        assert m["wall_s"] < WALL_S, seen
        assert m["rss_mb"] < RSS_MB, seen
    print(seen)
