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
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "{") && len(l) <= maxSeedLine {
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
	// One transaction: a commit per statement would cost more than the run.
	const q = `DELETE FROM ps_oplog; DELETE FROM ps_buckets; DELETE FROM ps_updated_rows; DELETE FROM ps_untyped;
DELETE FROM ps_data__todos; DELETE FROM ps_sync_state; DELETE FROM ps_stream_subscriptions;
DELETE FROM ps_crud; DELETE FROM ps_kv WHERE key != 'client_id'`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, q); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// dataVersion returns PRAGMA data_version of conn, which changes when
// another connection commits. It tells whether a call committed anything
// for the cost of one statement (a fingerprint of the tables costs many).
func dataVersion(t *testing.T, ctx context.Context, conn *sql.Conn) int64 {
	t.Helper()
	var v int64
	if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// checkConsistent checks invariants that hold whatever lines arrived.
func checkConsistent(t *testing.T, ctx context.Context, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("quick_check: %q, %v", res, err)
	}
	var orphans, badJSON, crud int
	err := db.QueryRowContext(ctx, `SELECT
  (SELECT count(*) FROM ps_oplog WHERE bucket NOT IN (SELECT id FROM ps_buckets)),
  (SELECT count(*) FROM ps_data__todos WHERE data IS NOT NULL AND NOT json_valid(data)),
  (SELECT count(*) FROM ps_crud)`).Scan(&orphans, &badJSON, &crud)
	switch {
	case err != nil:
		t.Fatal(err)
	case orphans != 0:
		t.Fatalf("%d oplog entries without a bucket", orphans)
	case badJSON != 0:
		t.Fatalf("%d rows of todos hold data that is not JSON (every read of the view fails)", badJSON)
	case crud != 0:
		t.Fatalf("synced data was queued for upload: %d entries", crud)
	}
}

// fuzzRig is the database and engine a fuzz target shares between runs.
type fuzzRig struct {
	db   *sql.DB
	conn *sql.Conn // for data_version: always the same connection
	e    *synccore.Engine
}

func newFuzzRig(f *testing.F) *fuzzRig {
	db := fuzzDB(f)
	conn, err := db.Conn(f.Context())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	return &fuzzRig{db: db, conn: conn, e: synccore.New(db, synccore.Options{})}
}

// start empties the database and starts a fresh iteration, so that every
// fuzz input runs from the same state (the fuzzer needs deterministic runs).
func (r *fuzzRig) start(t *testing.T, ctx context.Context) {
	t.Helper()
	resetDB(t, ctx, r.db)
	if _, err := r.e.Start(ctx, synccore.StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
}

// feed runs one line through the engine, starting an iteration when none
// is active. A rejected line must leave the database as it was: nothing
// may be committed.
func (r *fuzzRig) feed(t *testing.T, ctx context.Context, line []byte, binary bool) {
	t.Helper()
	call := func() error {
		var err error
		if binary {
			_, err = r.e.LineBinary(ctx, line)
		} else {
			_, err = r.e.LineText(ctx, line)
		}
		return err
	}
	before := dataVersion(t, ctx, r.conn)
	err := call()
	if errors.Is(err, synccore.ErrState) {
		if _, err := r.e.Start(ctx, synccore.StartRequest{IncludeDefaults: true}); err != nil {
			t.Fatal(err)
		}
		before = dataVersion(t, ctx, r.conn)
		err = call()
	}
	if err != nil && dataVersion(t, ctx, r.conn) != before {
		t.Fatalf("rejected line committed changes to the database (%v)", err)
	}
}

// maxSeedLine leaves the huge lines of the line files (nesting and width
// probes) out of the seeds: the mutator works slowly on them and they add
// nothing a small line does not.
const maxSeedLine = 4096

// FuzzLineBinary feeds an arbitrary BSON document to a fresh engine: it must
// never panic, a rejected document must leave the database as it was, and
// the database must stay consistent.
//
// A mutated BSON document almost never has consistent length prefixes, so
// half the inputs (fromJSON) are JSON lines converted to BSON before they
// are fed: mutations then change sync lines, not just their framing.
func FuzzLineBinary(f *testing.F) {
	synccore.NoMinimize(f)
	for _, l := range exampleLines(f) {
		if b, ok := toBSON(l); ok {
			f.Add(b, false)
			f.Add(l, true)
		}
	}
	r := newFuzzRig(f)
	ctx := f.Context()
	f.Fuzz(func(t *testing.T, doc []byte, fromJSON bool) {
		if fromJSON {
			var ok bool
			if doc, ok = toBSON(doc); !ok {
				return
			}
		}
		r.start(t, ctx)
		r.feed(t, ctx, doc, true)
		checkConsistent(t, ctx, r.db)
	})
}

// FuzzLineSequence feeds a whole stream (lines separated by newlines) to a
// fresh iteration: any order of checkpoints, data, completions and garbage.
// No call may panic, rejected lines change nothing, and the database stays
// consistent.
func FuzzLineSequence(f *testing.F) {
	synccore.NoMinimize(f)
	files, _ := filepath.Glob("testdata/lines/*.ndjson")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "{") && len(l) <= maxSeedLine {
				lines = append(lines, l)
			}
		}
		f.Add([]byte(strings.Join(lines, "\n")))
	}
	r := newFuzzRig(f)
	ctx := f.Context()
	f.Fuzz(func(t *testing.T, stream []byte) {
		r.start(t, ctx)
		for i, line := range bytes.Split(stream, []byte("\n")) {
			if i >= 32 {
				break
			}
			r.feed(t, ctx, line, false)
		}
		if _, err := r.e.CompletedUpload(ctx); err != nil && !errors.Is(err, synccore.ErrState) {
			t.Fatalf("completed_upload: %v", err)
		}
		checkConsistent(t, ctx, r.db)
	})
}
