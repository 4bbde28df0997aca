"""Memory and CPU of the build's scratch-file indexes: the dict/list structures they replaced
(A) against `io.IntKeyTable` / `io.StrKeyLog` (B), side by side, at several sizes (issue 12).

    python bench/scratch_index.py --sizes 10000,100000,1000000 --rounds 3

What is indexed is what a build keeps per record or per admission until the release is written:
- records (RecordSpool: item_id, offset, length), A = a list of (str, int, int) tuples, B = a
  StrKeyLog (ids' UTF-8 bytes in one bytearray, offsets in an array; length = next offset − own);
- admissions (PacketSpool, ContextSpool, qa's rendered contexts: hadm_id -> (offset, length)),
  A = a dict of tuples, B = an IntKeyTable(2); keys arrive in a shuffled order.
Bytes per entry are the Python heap that tracemalloc sees after the structure is built (one run:
deterministic); CPU seconds are measured without tracemalloc, runs interleaved A B A B, min and
median per mode, with the load average. Both read back the same entries (checked).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from medbench.io import IntKeyTable, StrKeyLog


def record_ids(n: int) -> list[str]:
    return ["sql-" + hashlib.sha256(str(i).encode()).hexdigest()[:16] for i in range(n)]


def admission_keys(n: int) -> list[int]:
    return [20_000_000 + ((i * 7919) % n) * 7 for i in range(n)]  # a permutation when 7919 ∤ n


def records_a(ids: list[str]):
    out = []
    for i, k in enumerate(ids):
        # the spool keeps the record's own id string alive (a copy here: `ids` is not counted)
        out.append((k.encode().decode(), 1000 + i * 3000, 3000 + i % 977))
    return out


def records_b(ids: list[str]):
    log = StrKeyLog()
    for i, k in enumerate(ids):
        log.append(k, 1000 + i * 3000)
    return log


def keys_a(keys: list[int]):
    out: dict[int, tuple[int, int]] = {}
    for i, k in enumerate(keys):
        if k not in out:
            out[k] = (1000 + i * 3000, 3000 + i % 977)
    return out


def keys_b(keys: list[int]):
    table = IntKeyTable(2)
    for i, k in enumerate(keys):
        table.add(k, 1000 + i * 3000, 3000 + i % 977)
    list(table.items())  # what write_release does: every key, in order
    return table


def heap_per_entry(build, data) -> float:
    tracemalloc.start()
    obj = build(data)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del obj
    return used / len(data)


def cpu(build, data) -> float:
    t = time.process_time()
    build(data)
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    IntKeyTable(1).add(0, 0)  # imports (numpy, bisect) outside the measured heap
    print(f"load average before {os.getloadavg()}")
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        ids, keys = record_ids(n), admission_keys(n)
        log, ref = records_b(ids), records_a(ids)
        assert [log.key(i) for i in range(n)] == [r[0] for r in ref]
        assert [log.key(i) for i in log.sorted_positions()] == sorted(r[0] for r in ref)
        assert list(keys_b(keys).items()) == sorted(keys_a(keys).items())
        for kind, a, b, data in (("records", records_a, records_b, ids), ("admissions", keys_a, keys_b, keys)):
            mem = (heap_per_entry(a, data), heap_per_entry(b, data))
            times: dict[str, list[float]] = {"A": [], "B": []}
            for _ in range(args.rounds):
                times["A"].append(cpu(a, data))
                times["B"].append(cpu(b, data))
            rows.append((n, kind, mem, times))
            print(f"{n:>9,} {kind:<10} bytes/entry A {mem[0]:6.1f}  B {mem[1]:6.1f}  (B/A {mem[1] / mem[0]:.2f})   "
                  f"CPU s A min {min(times['A']):.3f} med {statistics.median(times['A']):.3f}  "
                  f"B min {min(times['B']):.3f} med {statistics.median(times['B']):.3f}  "
                  f"(B/A min {min(times['B']) / min(times['A']):.2f})", flush=True)
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
