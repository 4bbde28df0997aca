"""DuckDB's memory during the bulk packet statements, by tag (issue 12).

Polls `duckdb_memory()` from a second cursor every 20 ms while `iter_packets` runs over the
first N batches of a store, and prints the process's peak RSS with the largest value seen per
tag (BASE_TABLE: table blocks held; HASH_TABLE, ALLOCATOR, ...). Run it at several store sizes
under the same MEDBENCH_MEMORY_LIMIT to see which part of a batch's memory grows with the store:

    MEDBENCH_MEMORY_LIMIT=1500MB python bench/packet_memory.py --mimic-dir SYNTH_N --batches 8 --batch-size 375

`--admissions-of SYNTH_2000` extracts the 2k store's admissions from a larger store (the same
packets), separating the store's size from the batches' content; `--per-batch` prints the spread
of DuckDB's largest use per batch and the peak RSS as the batches go.
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
    ap.add_argument("--admissions-of", default=None, metavar="MIMIC_DIR",
                    help="extract that (smaller) store's admissions from this one: the same packets "
                         "(synthetic sets of one seed nest), so what differs is the store's size only")
    ap.add_argument("--per-batch", action="store_true",
                    help="also print the spread of DuckDB's largest use per batch (which batches set the peak)")
    args = ap.parse_args()

    from medbench.extract import packet
    from medbench.store.ingest import open_store

    store = open_store(mimic_dir=args.mimic_dir, show_progress=False)
    batch = args.batch_size or packet.default_batch_size()
    source = open_store(mimic_dir=args.admissions_of, show_progress=False) if args.admissions_of else store
    ids = sorted(h for _, h, _, _ in packet.admissions_of(source))[:batch * args.batches]
    con = store.connect()
    peak_by_tag: collections.Counter = collections.Counter()
    peak_total = [0]
    batch_max = [0]  # since the last batch boundary (--per-batch)
    stop = threading.Event()

    def poll() -> None:
        cur = con.cursor()
        while not stop.is_set():
            rows = cur.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall()
            for tag, used in rows:
                peak_by_tag[tag] = max(peak_by_tag[tag], used)
            peak_total[0] = max(peak_total[0], sum(used for _, used in rows))
            batch_max[0] = max(batch_max[0], sum(used for _, used in rows))
            time.sleep(0.02)
        cur.close()

    poller = threading.Thread(target=poll)
    poller.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    try:
        n, per_batch, rss_after = 0, [], []
        for _ in packet.iter_packets(store, ids, batch_size=batch):
            n += 1
            if n % batch == 0 or n == len(ids):  # the batch's statement has run and been read
                per_batch.append(batch_max[0])
                batch_max[0] = 0
                rss_after.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    finally:
        stop.set()
        poller.join()
        con.close()
    mib = 2**20
    tags = ", ".join(f"{t} {v / mib:.0f}" for t, v in sorted(peak_by_tag.items()) if v > mib)
    print(f"{n} packets in batches of {batch}: CPU {time.process_time() - cpu0:.1f} s, "
          f"wall {time.perf_counter() - wall0:.1f} s, "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
          f"DuckDB max {peak_total[0] / mib:.0f} MiB ({tags} MiB)")
    if args.per_batch and per_batch:
        xs = sorted(v / mib for v in per_batch)
        q = [xs[min(len(xs) - 1, int(p * len(xs)))] for p in (0.0, 0.5, 0.9, 0.99)] + [xs[-1]]
        print(f"DuckDB's largest use per batch over {len(xs)} batches (MiB): min {q[0]:.0f}, "
              f"median {q[1]:.0f}, p90 {q[2]:.0f}, p99 {q[3]:.0f}, max {q[4]:.0f}")
        marks = sorted({0, len(rss_after) // 10, len(rss_after) // 4, len(rss_after) // 2, len(rss_after) - 1})
        print("peak RSS so far after batch " + ", ".join(f"{i + 1}: {rss_after[i]:.0f}" for i in marks) + " MiB")


if __name__ == "__main__":
    main()
