package synccore_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/bson"
	"github.com/gopowersync/powersync/internal/synccore"
	"github.com/gopowersync/powersync/schema"
)

// fuzzDB opens a database with the todos schema of the line files.
func fuzzDB(f *testing.F) *sql.DB {
	f.Helper()
	js, err := os.ReadFile("testdata/lines/schema_todos.json")
	if err != nil {
		f.Fatal(err)
	}
	s, err := schema.Parse(js)
	if err != nil {
		f.Fatal(err)
	}
	c, err := driver.NewConnector(filepath.Join(f.TempDir(), "fuzz.db"), driver.WithSchema(s))
	if err != nil {
		f.Fatal(err)
	}
	db := sql.OpenDB(c)
	f.Cleanup(func() { db.Close() })
	return db
}

// exampleLines returns the sync lines of the line files.
func exampleLines(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	files, _ := filepath.Glob("testdata/lines/*.ndjson")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "{") {
				out = append(out, []byte(l))
			}
		}
	}
	return out
}

// toBSON converts a JSON sync line to the BSON document the service would
// send (integral numbers as int64, others as double).
func toBSON(line []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	m, ok := convertNumbers(v).(map[string]any)
	if !ok {
		return nil, false
	}
	b, err := bson.Marshal(m)
	return b, err == nil
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
		return bson.A(x)
	}
	return v
}

// resetDB empties the sync state and the data, so that every fuzz input
// starts from a fresh database (the fuzzer needs deterministic runs).
func resetDB(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	for _, q := range []string{
		`DELETE FROM ps_oplog`, `DELETE FROM ps_buckets`, `DELETE FROM ps_updated_rows`, `DELETE FROM ps_untyped`,
		`DELETE FROM ps_data__todos`, `DELETE FROM ps_sync_state`, `DELETE FROM ps_stream_subscriptions`,
		`DELETE FROM ps_crud`, `DELETE FROM ps_kv WHERE key != 'client_id'`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// dbState fingerprints the sync tables and the data table.
func dbState(t *testing.T, ctx context.Context, db *sql.DB) string {
	t.Helper()
	var s string
	err := db.QueryRowContext(ctx, `SELECT
  (SELECT count(*) || ':' || coalesce(sum(op_id + hash + length(coalesce(data, ''))), 0) FROM ps_oplog) || '/' ||
  (SELECT count(*) || ':' || coalesce(sum(last_op + last_applied_op + add_checksum + op_checksum + count_since_last + downloaded_size), 0) FROM ps_buckets) || '/' ||
  (SELECT count(*) FROM ps_updated_rows) || '/' ||
  (SELECT count(*) || ':' || coalesce(sum(length(data)), 0) FROM ps_data__todos) || '/' ||
  (SELECT count(*) FROM ps_untyped) || '/' ||
  (SELECT count(*) FROM ps_crud)`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkConsistent checks invariants that hold whatever lines arrived.
func checkConsistent(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("quick_check: %q, %v", res, err)
	}
	var orphans int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_oplog WHERE bucket NOT IN (SELECT id FROM ps_buckets)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Fatalf("oplog entries without a bucket: %d, %v", orphans, err)
	}
	var badJSON int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_data__todos WHERE data IS NOT NULL AND NOT json_valid(data)`).Scan(&badJSON); err != nil {
		t.Fatal(err)
	}
	var crud int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(&crud); err != nil || crud != 0 {
		t.Fatalf("synced data was queued for upload: %d entries, %v", crud, err)
	}
}

// feed runs one line through the engine, starting an iteration when none
// is active. A rejected line must leave the database as it was.
func feed(t *testing.T, ctx context.Context, db *sql.DB, e *synccore.Engine, line []byte, binary bool) {
	t.Helper()
	call := func() error {
		var err error
		if binary {
			_, err = e.LineBinary(ctx, line)
		} else {
			_, err = e.LineText(ctx, line)
		}
		return err
	}
	before := dbState(t, ctx, db)
	err := call()
	if errors.Is(err, synccore.ErrState) {
		if _, err := e.Start(ctx, synccore.StartRequest{IncludeDefaults: true}); err != nil {
			t.Fatal(err)
		}
		before = dbState(t, ctx, db)
		err = call()
	}
	if err != nil {
		if after := dbState(t, ctx, db); after != before {
			t.Fatalf("rejected line changed the database: %s -> %s (%v)", before, after, err)
		}
	}
}

// FuzzLineBinary feeds an arbitrary BSON document to a fresh engine: it must
// never panic, a rejected document must leave the database as it was, and
// the database must stay consistent.
func FuzzLineBinary(f *testing.F) {
	for _, l := range exampleLines(f) {
		if b, ok := toBSON(l); ok {
			f.Add(b)
		}
	}
	db := fuzzDB(f)
	e := synccore.New(db, synccore.Options{})
	ctx := f.Context()
	f.Fuzz(func(t *testing.T, doc []byte) {
		resetDB(t, ctx, db)
		if _, err := e.Start(ctx, synccore.StartRequest{IncludeDefaults: true}); err != nil {
			t.Fatal(err)
		}
		feed(t, ctx, db, e, doc, true)
		checkConsistent(t, ctx, db)
	})
}

// FuzzLineSequence feeds a whole stream (lines separated by newlines) to a
// fresh iteration: any order of checkpoints, data, completions and garbage.
// No call may panic, rejected lines change nothing, and the database stays
// consistent.
func FuzzLineSequence(f *testing.F) {
	files, _ := filepath.Glob("testdata/lines/*.ndjson")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "{") {
				lines = append(lines, l)
			}
		}
		f.Add([]byte(strings.Join(lines, "\n")))
	}
	db := fuzzDB(f)
	e := synccore.New(db, synccore.Options{})
	ctx := f.Context()
	f.Fuzz(func(t *testing.T, stream []byte) {
		resetDB(t, ctx, db)
		if _, err := e.Start(ctx, synccore.StartRequest{IncludeDefaults: true}); err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(stream, []byte("\n")) {
			if i >= 32 {
				break
			}
			feed(t, ctx, db, e, line, false)
		}
		if _, err := e.CompletedUpload(ctx); err != nil && !errors.Is(err, synccore.ErrState) {
			t.Fatalf("completed_upload: %v", err)
		}
		checkConsistent(t, ctx, db)
	})
}
