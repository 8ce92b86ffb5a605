#!/usr/bin/env python3
"""Workload 5 on the official core, single-row transactions: the statement of
`psbench case view_insert_single` (INSERT INTO items(...) VALUES (?, ...), the
oracle's rows with random UUID ids), each in its own transaction, N times.

usage: core_local.py ORACLE_DIR N DB_DIR

Prints one JSON line: {"case": "core_view_insert_single", "n", "seconds", "rows_per_s", "max_rss_mb"}.
"""
import json
import os
import resource
import sys
import time
import uuid

sys.dont_write_bytecode = True


def main():
    oracle_dir, n, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, oracle_dir)
    import psoracle as ps  # builds the cache if needed, re-execs on its SQLite

    schema = open(os.path.join(oracle_dir, "bench", "schema_items.json")).read()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "core_local.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    db = ps.open_db(path, init=False)
    db.isolation_level = None  # explicit transactions only
    db.execute("pragma journal_mode = WAL")
    db.execute("pragma synchronous = NORMAL")
    for p in os.environ.get("BENCH_PRAGMAS", "").split():
        db.execute(f"pragma {p}")
    db.execute("begin")
    db.execute("select powersync_init()")
    db.execute("commit")
    ps.replace_schema(db, schema)
    cols = [c["name"] for c in json.loads(schema)["tables"][0]["columns"]]
    q = f"INSERT INTO items(id, {', '.join(cols)}) VALUES ({', '.join('?' * (len(cols) + 1))})"
    # bench/stream.go rowValues(i)
    rows = [(str(uuid.uuid4()), f"item number {i}", i % 1000, round(((i * 0.37) % 500) * 100) / 100,
             f"SKU-{i:08d}", "lorem ipsum dolor sit amet") for i in range(1, n + 1)]
    t0 = time.perf_counter()
    for r in rows:
        db.execute("begin")
        db.execute(q, r[: len(cols) + 1])
        db.execute("commit")
    dt = time.perf_counter() - t0
    assert db.execute("select count(*) from ps_crud").fetchone()[0] == n
    print(json.dumps({"case": "core_view_insert_single", "n": n, "seconds": round(dt, 3),
                      "rows_per_s": int(n / dt),
                      "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
