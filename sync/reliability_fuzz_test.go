package sync

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/bson"

	"github.com/gopowersync/powersync/internal/synccore"
)

// FuzzStreamBody decodes an arbitrary response body as the syncer does
// (NDJSON lines or BSON documents, bounded in size) and feeds every frame to
// the production state machine, restarting the iteration whenever it ends.
// Nothing may panic, and the database must stay intact with nothing queued
// for upload. Every input starts from an empty database and a new iteration,
// so that a run depends on its input only.
func FuzzStreamBody(f *testing.F) {
	fuzzNoMinimize(f)
	good, _ := checkpointScript("b1", scriptRow{1, "r1", "one"}, scriptRow{2, "r2", ""}, scriptRow{3, "r3", "three"})
	f.Add(bytes.Join(good, []byte("\n")), false)
	f.Add([]byte("{\"token_expires_in\":0}\n{\"checkpoint_complete\":{\"last_op_id\":\"1\"}}\n\n  \nnot json"), false)
	for _, l := range good {
		if b, ok := jsonToBSON(l); ok {
			f.Add(b, true)
		}
	}
	f.Add([]byte{5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, true)
	db := openDB(f)
	eng := newDefaultEngine(db, defaultOptions())
	ctx := f.Context()
	reset := fuzzResetStatement(f, db)
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		fuzzReset(t, ctx, db, reset)
		if _, err := eng.Start(ctx, synccore.StartRequest{IncludeDefaults: true, CheckpointMode: modeLegacy}); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(bytes.NewReader(body))
		for range 32 {
			var frame []byte
			var err error
			if binary {
				frame, err = readBSONDocument(br, 1<<16)
			} else {
				frame, err = readLine(br, 1<<16)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if err.Error() == "" {
					t.Fatal("error without a message")
				}
				break
			}
			feed := eng.NextLinesText
			if binary {
				feed = eng.NextLinesBinary
			}
			given := false
			out, err := feed(ctx, func() ([]byte, bool) {
				if given {
					return nil, false
				}
				given = true
				return frame, true
			})
			ended := err != nil
			for _, in := range out {
				if _, ok := in.(synccore.CloseSyncStream); ok {
					ended = true
				}
			}
			if ended {
				if _, err := eng.Start(ctx, synccore.StartRequest{IncludeDefaults: true, CheckpointMode: modeLegacy}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := eng.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("synced data queued for upload: %d, %v", n, err)
		}
		var res string
		if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil || res != "ok" {
			t.Fatalf("quick_check: %q, %v", res, err)
		}
	})
}

// fuzzNoMinimize turns off the fuzzing engine's minimization of new inputs
// unless -fuzzminimizetime was given. A run costs milliseconds (SQLite
// transactions), and SQLite's own code is instrumented too, so many inputs
// reach new coverage; the engine would shrink each of them for up to a
// minute, one candidate per run, and try no new inputs: a 10 s CI run made
// 0 execs/sec after the seeds. Failing inputs are still saved, as found;
// give -fuzzminimizetime=60s to have the engine shrink them.
func fuzzNoMinimize(f *testing.F) {
	explicit := false
	flag.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "test.fuzzminimizetime" })
	// (Set only once: the flag refuses a second zero.)
	if fl := flag.Lookup("test.fuzzminimizetime"); fl != nil && !explicit && fl.Value.String() != "0s" {
		if err := fl.Value.Set("0"); err != nil {
			f.Fatal(err)
		}
	}
}

// fuzzResetStatement returns the statements that empty the
// sync state and every synced table of db.
func fuzzResetStatement(f *testing.F, db *sql.DB) string {
	rows, err := db.QueryContext(context.Background(), `SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data__*'`)
	if err != nil {
		f.Fatal(err)
	}
	defer rows.Close()
	q := []string{"DELETE FROM ps_oplog", "DELETE FROM ps_buckets", "DELETE FROM ps_updated_rows",
		"DELETE FROM ps_untyped", "DELETE FROM ps_sync_state", "DELETE FROM ps_stream_subscriptions",
		"DELETE FROM ps_crud", "DELETE FROM ps_kv WHERE key != 'client_id'"}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			f.Fatal(err)
		}
		q = append(q, `DELETE FROM "`+name+`"`)
	}
	if err := rows.Err(); err != nil {
		f.Fatal(err)
	}
	return strings.Join(q, ";\n")
}

// fuzzReset runs the statements of fuzzResetStatement in one transaction.
func fuzzReset(t *testing.T, ctx context.Context, db *sql.DB, reset string) {
	t.Helper()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, reset); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// jsonToBSON converts a JSON sync line to a BSON document (integral numbers
// become int64).
func jsonToBSON(line []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i
			}
			fl, _ := x.Float64()
			return fl
		case map[string]any:
			for k, e := range x {
				x[k] = conv(e)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = conv(e)
			}
			return bson.A(x)
		}
		return v
	}
	m, ok := conv(v).(map[string]any)
	if !ok {
		return nil, false
	}
	b, err := bson.Marshal(m)
	return b, err == nil
}
