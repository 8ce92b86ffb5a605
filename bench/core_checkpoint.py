#!/usr/bin/env python3
"""Workload 4 on the official core: the same lines as `psbench case checkpoint`.

usage: core_checkpoint.py ORACLE_DIR STREAM.ndjson DIFFS.ndjson DB_DIR

Replays STREAM (the initial sync, not timed) into a fresh WAL database with the core
(one powersync_control call per line, each in its own transaction, as the oracle's
sync_apply case does), then feeds DIFFS in the same iteration: each group starts at a
"# small", "# big" or "# remove" line and is timed from its checkpoint_diff line until its
checkpoint_complete returned. Prints one JSON line per group ({"case":
"core_checkpoint_1row" | "core_checkpoint_1000ops" | "core_checkpoint_1row_remove", "n", "seconds", "p50_ms", ...}).
Each line carries the process's peak RSS so far ("max_rss_mb", getrusage, KiB / 1024 as
the oracle's measure.py reports it).
"""
import json
import os
import resource
import statistics
import sys
import time

sys.dont_write_bytecode = True


def main():
    oracle_dir, stream, diffs, out_dir = sys.argv[1:5]
    sys.path.insert(0, oracle_dir)
    import psoracle as ps  # builds the cache if needed, re-execs on its SQLite

    schema = open(os.path.join(oracle_dir, "bench", "schema_items.json")).read()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "core_checkpoint.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = ps.open_db(path, init=False)
    db.execute("pragma journal_mode = WAL")
    db.execute("pragma synchronous = NORMAL")
    for p in os.environ.get("BENCH_PRAGMAS", "").split():
        db.execute(f"pragma {p}")
    with ps.tx(db):
        db.execute("select powersync_init()")
    ps.replace_schema(db, schema)

    def feed(line):
        res = ps.control(db, "line_text", line)
        if any("CloseSyncStream" in i for i in res):
            sys.exit(f"unexpected CloseSyncStream: {res}")
        return any("DidCompleteSync" in i for i in res)

    t0 = time.perf_counter()
    ps.control(db, "start", json.dumps({"parameters": {}, "checkpoint_mode": "legacy"}))
    ps.control(db, "connection", "established")
    done = False
    for line in open(stream).read().splitlines():
        done = feed(line) or done
    assert done, "initial checkpoint was not applied"
    initial = time.perf_counter() - t0
    n = db.execute("select count(*) from ps_data__items").fetchone()[0]

    groups, group, start = {}, None, None
    for line in open(diffs).read().splitlines():
        if not line:
            continue
        if line.startswith("#"):
            group, start, done = line[1:].strip(), time.perf_counter(), False
            continue
        done = feed(line) or done
        if line.startswith('{"checkpoint_complete"'):
            assert done, f"{group} checkpoint was not applied"
            groups.setdefault(group, []).append(time.perf_counter() - start)
    ps.control(db, "stop")

    for g, name in (("small", "core_checkpoint_1row"), ("big", "core_checkpoint_1000ops"),
                    ("remove", "core_checkpoint_1row_remove")):
        lat = sorted(groups.get(g, []))
        if not lat:
            continue
        ms = [x * 1000 for x in lat]
        print(json.dumps({"case": name, "n": n, "seconds": round(statistics.median(lat), 6),
                          "p50_ms": round(statistics.median(ms), 3),
                          "p99_ms": round(ms[min(len(ms) - 1, len(ms) * 99 // 100)], 3),
                          "max_ms": round(ms[-1], 3), "samples": len(ms),
                          "initial_sync_s": round(initial, 3),
                          "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
