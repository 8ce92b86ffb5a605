"""Feed an NDJSON file of sync lines to the official core as raw bytes.

oracle.sh replay reads its file as UTF-8 text, so it cannot send a line that is not UTF-8.
This script reads bytes and passes each line to powersync_control('line_text', ...) as TEXT
with exactly those bytes, the way a client that does not decode the stream would. Run it
with the oracle's Python: py replay_bytes.py LINES SCHEMA DB. Lines starting with # are
skipped; each call's result is printed.
"""
import json
import sys

import psoracle as ps

lines_path, schema_path, db_path = sys.argv[1:4]
db = ps.open_db(db_path)
db.text_factory = bytes
ps.replace_schema(db, open(schema_path).read())
db.execute("UPDATE ps_kv SET value = 'oracle-client' WHERE key = 'client_id'")


def control(op, payload):
    with ps.tx(db):
        (res,) = db.execute("select powersync_control(?, CAST(? AS TEXT))", (op, payload)).fetchone()
    return res


start = {"parameters": {}, "active_streams": [], "include_defaults": True, "checkpoint_mode": "legacy"}
control("start", json.dumps(start).encode())
control("connection", b"established")
with open(lines_path, "rb") as f:
    for n, line in enumerate(f, 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        try:
            res = control("line_text", line)
        except Exception as e:
            print(f"! line {n}: {type(e).__name__}: {e}")
            break
        print(f"< line {n}: {res[:200]!r}")
control("stop", None)
