"""Print the CRUD triggers the official core generates for the raw tables of a schema.

usage: py raw_triggers.py SCHEMA.json LOCAL_TABLES.json

LOCAL_TABLES.json maps each local table name to its column names. For every raw table
with a table_name, the script calls powersync_create_raw_table_crud_trigger for INSERT,
UPDATE and DELETE (trigger names <raw table name>_<write type>) and prints each trigger
as `== trigger NAME (TABLE)` followed by its SQL, like `oracle.sh schema`.
"""
import json
import sys

import psoracle as ps

schema = json.load(open(sys.argv[1]))
tables = json.load(open(sys.argv[2]))
db = ps.open_db()
for name, cols in tables.items():
    db.execute('CREATE TABLE "%s" (%s)' % (name, ", ".join(cols)))
print("-- core %s, sqlite %s" % ps.versions(db))
for rt in schema.get("raw_tables", []):
    if not rt.get("table_name"):
        continue
    for w in ("INSERT", "UPDATE", "DELETE"):
        trig = "%s_%s" % (rt["name"], w.lower())
        db.execute("SELECT powersync_create_raw_table_crud_trigger(?, ?, ?)", (json.dumps(rt), trig, w))
        row = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (trig,)).fetchone()
        print("== trigger %s (%s)" % (trig, rt["table_name"]))
        print(row[0] if row else "<none>")
