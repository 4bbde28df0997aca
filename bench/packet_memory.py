"""DuckDB's memory during the bulk packet statements, by tag (issue 12).

Polls `duckdb_memory()` from a second cursor every 20 ms while `iter_packets` runs over the
first N batches of a store, and prints the process's peak RSS with the largest value seen per
tag (BASE_TABLE: table blocks held; HASH_TABLE, ALLOCATOR, ...). Run it at several store sizes
under the same MEDBENCH_MEMORY_LIMIT to see which part of a batch's memory grows with the store:

    MEDBENCH_MEMORY_LIMIT=1500MB python bench/packet_memory.py --mimic-dir SYNTH_N --batches 8 --batch-size 375
"""

from __future__ import annotations

import argparse
import collections
import resource
import threading
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mimic-dir", required=True)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the extractor's default")
    args = ap.parse_args()

    from medbench.extract import packet
    from medbench.store.ingest import open_store

    store = open_store(mimic_dir=args.mimic_dir, show_progress=False)
    batch = args.batch_size or packet.default_batch_size()
    ids = sorted(h for _, h, _, _ in packet.admissions_of(store))[:batch * args.batches]
    con = store.connect()
    peak_by_tag: collections.Counter = collections.Counter()
    peak_total = [0]
    stop = threading.Event()

    def poll() -> None:
        cur = con.cursor()
        while not stop.is_set():
            rows = cur.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall()
            for tag, used in rows:
                peak_by_tag[tag] = max(peak_by_tag[tag], used)
            peak_total[0] = max(peak_total[0], sum(used for _, used in rows))
            time.sleep(0.02)
        cur.close()

    poller = threading.Thread(target=poll)
    poller.start()
    cpu0 = time.process_time()
    try:
        n = sum(1 for _ in packet.iter_packets(store, ids, batch_size=batch))
    finally:
        stop.set()
        poller.join()
        con.close()
    mib = 2**20
    tags = ", ".join(f"{t} {v / mib:.0f}" for t, v in sorted(peak_by_tag.items()) if v > mib)
    print(f"{n} packets in batches of {batch}: CPU {time.process_time() - cpu0:.1f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"DuckDB max {peak_total[0] / mib:.0f} MiB ({tags} MiB)")


if __name__ == "__main__":
    main()
