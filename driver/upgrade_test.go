package driver_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	psdriver "github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/oracletest"
)

// makeOldFile has the official core write a database (a local write, synced
// rows, a bucket, sync state, a concrete write checkpoint target) and then
// run its own down-migrations to the given layout version.
const makeOldFile = `
import sys, psoracle as ps
path, version, schema = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = ps.open_db(path)
ps.replace_schema(db, schema)
with ps.tx(db):
    db.execute("insert into todos(id, description) values ('a', 'local')")
with ps.tx(db):
    db.execute("insert into ps_buckets(name, last_applied_op, last_op, op_checksum) values ('b1', 5, 5, 42)")
    db.execute("insert into ps_oplog(bucket, op_id, row_type, row_id, key, data, hash) values (1, 5, 'todos', 's1', 'todos/s1/null', '{\"description\":\"synced\"}', 42)")
    db.execute("insert into ps_data__todos(id, data) values ('s1', '{\"description\":\"synced\"}')")
    db.execute("insert into ps_sync_state(priority, last_synced_at) values (2147483647, 1700000000000000)")
    db.execute("insert or replace into ps_kv(key, value) values ('target_checkpoint_request_id', 7)")
    db.execute("insert or replace into ps_kv(key, value) values ('last_seen_checkpoint_request_id', 6)")
    db.execute("insert or replace into ps_kv(key, value) values ('last_applied_checkpoint_request_id', 6)")
with ps.tx(db):
    db.execute("select powersync_test_migration(?)", (version,))
(v,) = db.execute("select max(id) from ps_migration").fetchone()
assert v == version, v
db.close()
`

// upgradeCore has the official core open a file, which migrates it to its
// current layout.
const upgradeCore = `
import sys, psoracle as ps
ps.open_db(sys.argv[1]).close()
`

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A file written by an older official SDK (layouts 9 to 13) is upgraded by
// the driver to the same state the official core upgrades it to, and keeps
// working: local writes continue the upload queue.
func TestUpgradeOlderLayoutsLikeTheCore(t *testing.T) {
	oracletest.Require(t)
	s := todoSchema()
	schemaJSON, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, schemaJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, version := range []int{9, 11, 13} {
		t.Run(strconv.Itoa(version), func(t *testing.T) {
			old := filepath.Join(dir, "old"+strconv.Itoa(version)+".db")
			if r := oracletest.Py(t, "-c", makeOldFile, old, strconv.Itoa(version), string(schemaJSON)); r.ExitCode != 0 {
				t.Fatalf("making a layout-%d file: %s%s", version, r.Stdout, r.Stderr)
			}
			official := filepath.Join(dir, "official"+strconv.Itoa(version)+".db")
			ours := filepath.Join(dir, "ours"+strconv.Itoa(version)+".db")
			copyFile(t, old, official)
			copyFile(t, old, ours)
			if r := oracletest.Py(t, "-c", upgradeCore, official); r.ExitCode != 0 {
				t.Fatalf("core upgrade: %s", r.Stderr)
			}
			db := openDB(t, ours, s)
			if err := db.PingContext(t.Context()); err != nil {
				t.Fatalf("opening a layout-%d file: %v", version, err)
			}
			db.Close()
			if same, diff := oracletest.Diff(t, official, ours, false); !same {
				t.Fatalf("after upgrading layout %d, our state differs from the core's:\n%s", version, diff)
			}
			db = openDB(t, ours, s)
			exec(t, db, `UPDATE todos SET description = 'again' WHERE id = 'a'`)
			rows := crudRows(t, db)
			if len(rows) != 2 || rows[1].id != 2 || rows[1].tx != 2 {
				t.Errorf("upload queue after a write on the upgraded file: %v", rows)
			}
			var v int
			db.QueryRowContext(t.Context(), `SELECT max(id) FROM ps_migration`).Scan(&v)
			if v != psdriver.LayoutVersion {
				t.Errorf("layout version %d, want %d", v, psdriver.LayoutVersion)
			}
		})
	}
}

// A layout older than the driver upgrades is refused with ErrLayout and the
// file is left untouched.
func TestTooOldLayoutIsRefusedUntouched(t *testing.T) {
	oracletest.Require(t)
	s := todoSchema()
	schemaJSON, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(t.TempDir(), "old.db")
	if r := oracletest.Py(t, "-c", makeOldFile, old, "8", string(schemaJSON)); r.ExitCode != 0 {
		t.Fatalf("making a layout-8 file: %s%s", r.Stdout, r.Stderr)
	}
	before, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psdriver.NewConnector(old, psdriver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	err = db.PingContext(t.Context())
	db.Close()
	if err == nil || !errors.Is(err, psdriver.ErrLayout) {
		t.Fatalf("err = %v, want ErrLayout", err)
	}
	after, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("a refused file was modified")
	}
}
