#!/usr/bin/env python3
"""Play a SQL script (oracletest format) on the official core.

usage: py sqlscript.py SCRIPT --db PATH [--schema SCHEMA.json]

Runs with the oracle's `py` (Debian's python3 on the oracle's SQLite, psoracle importable).
The database is opened like sync_replay.py does: ps.open_db (powersync_init), then
powersync_replace_schema with the schema; a file created here gets client_id 'oracle-client'.

Script lines (whitespace around a line is ignored):
  # comment, empty line   ignored
  !sql STATEMENT          run STATEMENT in its own transaction, or in the open !begin group
  !fail STATEMENT         the same, but STATEMENT must fail; a group stays open
  !fail-any STATEMENT     the same as !fail (the Go side does not compare the error text)
  !begin                  BEGIN; following statements run in this transaction
  !commit / !rollback     end the group
  !query SQL              run SQL and record its rows
  !reopen                 close the database and open it again (schema applied again)

Prints one JSON object per line for each !fail ({"line", "error", "code"}; with "any": true
for !fail-any) and each !query
({"line", "rows"}; rows is json.dumps of the rows as text). Exits 3 when a !sql fails or a
!fail succeeds (after playing the whole script), 2 on a malformed script.
"""
import argparse
import json
import os
import sys

import psoracle as ps


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)


def open_db(path, schema):
    fresh = not os.path.exists(path)
    db = ps.open_db(path)
    if schema is not None:
        ps.replace_schema(db, schema)
    if fresh:
        with ps.tx(db):
            db.execute("update ps_kv set value = 'oracle-client' where key = 'client_id'")
    return db


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("script")
    ap.add_argument("--db", required=True)
    ap.add_argument("--schema")
    args = ap.parse_args()
    schema = open(args.schema).read() if args.schema else None

    db = open_db(args.db, schema)
    in_tx = False
    problems = []

    def emit(obj):
        print(json.dumps(obj, sort_keys=True), flush=True)

    with open(args.script, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            word, _, arg = line.partition(" ")
            arg = arg.strip()
            if word in ("!sql", "!fail", "!fail-any"):
                try:
                    if in_tx:
                        db.execute(arg).fetchall()
                    else:
                        with ps.tx(db):
                            db.execute(arg).fetchall()
                except ps.sqlite3.Error as e:
                    code = getattr(e, "sqlite_errorcode", None)
                    if word == "!fail":
                        emit({"line": n, "error": str(e), "code": code})
                    elif word == "!fail-any":
                        emit({"line": n, "error": str(e), "code": code, "any": True})
                    else:
                        problems.append(f"line {n}: unexpected error: {type(e).__name__}: {e}")
                else:
                    if word != "!sql":
                        problems.append(f"line {n}: statement succeeded but {word} expects an error")
            elif word == "!begin":
                if in_tx:
                    die(f"sqlscript: line {n}: !begin inside a transaction")
                db.execute("BEGIN")
                in_tx = True
            elif word in ("!commit", "!rollback"):
                if not in_tx:
                    die(f"sqlscript: line {n}: {word} without !begin")
                db.execute("COMMIT" if word == "!commit" else "ROLLBACK")
                in_tx = False
            elif word == "!query":
                rows = db.execute(arg).fetchall()
                emit({"line": n, "rows": json.dumps([list(r) for r in rows], default=repr)})
            elif word == "!reopen":
                if in_tx:
                    die(f"sqlscript: line {n}: !reopen inside a transaction")
                db.close()
                db = open_db(args.db, schema)
            else:
                die(f"sqlscript: line {n}: unknown directive {word!r}")
    if in_tx:
        die("sqlscript: script ends inside a transaction")
    db.close()
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
