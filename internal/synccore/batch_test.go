package synccore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/oracletest"
)

// replayBatched replays c with runs of up to batch lines handed to LinesText.
func replayBatched(t *testing.T, c replayCase, dbPath string, batch int, seed uint64) *replayer {
	db := openTestDB(t, dbPath, c.schema)
	r := &replayer{t: t, ctx: t.Context(), db: db, e: New(db, Options{}),
		batch: batch, batchRand: rand.New(rand.NewPCG(seed, 7))}
	r.run(c.lines, c.mode)
	return r
}

// checkBatchedSame replays c line by line and in batches of several sizes,
// and requires the same database state at every dump of the case and at the
// end. Line by line is what TestReplayAgainstOracle and TestRandomStreams
// hold to the core; the final batched database is also compared with the
// core's when the oracle is available.
func checkBatchedSame(t *testing.T, c replayCase) {
	dir := t.TempDir()
	_, single := replayOurs(t, c, filepath.Join(dir, "single.db"))
	var official string
	if oracletest.Available() || oracletest.InCI() {
		official = filepath.Join(dir, "official.db")
		oracleTranscript(t, c, official)
	}
	for _, batch := range []int{2, 5, MaxBatchLines} {
		path := filepath.Join(dir, fmt.Sprintf("batch%d.db", batch))
		r := replayBatched(t, c, path, batch, uint64(batch))
		if len(r.dumps) != len(single.dumps) {
			t.Fatalf("batch %d: %d state dumps, line by line %d\n%s", batch, len(r.dumps), len(single.dumps), r.out.String())
		}
		for i := range r.dumps {
			if d := oracletest.LineDiff(single.dumps[i], r.dumps[i]); d != "" {
				t.Errorf("batch %d: state dump %d differs from line by line (- single, + batched):\n%s", batch, i+1, d)
			}
		}
		if official != "" {
			if same, diff := oracletest.Diff(t, official, path, false); !same {
				t.Errorf("batch %d: oracle diff official.db batched.db:\n%s", batch, diff)
			}
		}
	}
}

func TestLinesTextBatchesMatchLineByLine(t *testing.T) {
	for _, c := range exampleCases(t) {
		c.noGolden = true
		t.Run(c.name, func(t *testing.T) { checkBatchedSame(t, c) })
	}
}

func TestLinesTextBatchesRandomStreams(t *testing.T) {
	for _, seed := range randomSeeds(t) {
		t.Run(fmt.Sprintf("seed_%d", seed), func(t *testing.T) {
			lines := filepath.Join(t.TempDir(), "random.ndjson")
			if err := os.WriteFile(lines, []byte(generateStream(seed)), 0o644); err != nil {
				t.Fatal(err)
			}
			checkBatchedSame(t, replayCase{name: fmt.Sprintf("random_seed_%d", seed), lines: lines,
				schema: "testdata/lines/schema_todos.json", mode: "legacy", noGolden: true})
		})
	}
}

// TestApplyAllNewRows checks when the apply may take every oplog row as
// changed (allNewRowsSQL): on a first sync, but not once rows were applied
// or while ps_updated_rows has entries, and that both paths leave the same
// rows.
func TestApplyAllNewRows(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	allNew := func() bool {
		t.Helper()
		var ok bool
		if _, err := e.run(ctx, false, func(c *call) error {
			var err error
			ok, err = c.oplogAllNew()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	put := func(op int, id, desc string) string {
		return fmt.Sprintf(`{"data":{"bucket":"a","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":%q,"checksum":%d,"data":"{\"description\":\"%s\"}"}]}}`, op, id, op, desc)
	}
	feed := func(lines ...string) {
		t.Helper()
		for _, l := range lines {
			if _, err := e.LineText(ctx, []byte(l)); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
		}
	}
	descs := func() string {
		t.Helper()
		var s string
		if err := db.QueryRowContext(ctx, "SELECT group_concat(id || '=' || description, ',' ORDER BY id) FROM todos").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	feed(`{"checkpoint":{"last_op_id":"3","buckets":[{"bucket":"a","checksum":6}]}}`,
		put(1, "r1", "one"), put(2, "r2", "two"), put(3, "r1", "uno"))
	if !allNew() {
		t.Fatal("first sync: want every oplog row taken as new")
	}
	feed(`{"checkpoint_complete":{"last_op_id":"3"}}`)
	if got := descs(); got != "r1=uno,r2=two" {
		t.Fatalf("after first sync: %s", got)
	}
	if allNew() {
		t.Fatal("after the apply: rows at or below last_applied_op are not new")
	}
	feed(`{"checkpoint_diff":{"last_op_id":"4","updated_buckets":[{"bucket":"a","checksum":10}],"removed_buckets":[]}}`,
		put(4, "r2", "dos"), `{"checkpoint_complete":{"last_op_id":"4"}}`)
	if got := descs(); got != "r1=uno,r2=dos" {
		t.Fatalf("after the diff: %s", got)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM ps_oplog"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE ps_buckets SET last_applied_op = 0"); err != nil {
		t.Fatal(err)
	}
	if !allNew() {
		t.Fatal("empty oplog and no applied ops: want true")
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO ps_updated_rows(row_type, row_id) VALUES ('todos', 'r9')"); err != nil {
		t.Fatal(err)
	}
	if allNew() {
		t.Fatal("a row waiting in ps_updated_rows: want the full query")
	}
}

// TestLinesTextStopsAtClose: lines after one that closes the stream are not
// processed, and a line that does not parse fails after the lines before
// it were committed.
func TestLinesTextStopsAtClose(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	data := func(op int) []byte {
		return fmt.Appendf(nil, `{"data":{"bucket":"a","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":"r%d","checksum":1,"data":"{}"}]}}`, op, op)
	}
	oplog := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ps_oplog").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ins, err := e.LinesText(ctx, [][]byte{
		[]byte(`{"checkpoint":{"last_op_id":"2","buckets":[{"bucket":"a","checksum":2}]}}`),
		data(1), data(2),
		[]byte(`{"token_expires_in":0}`),
		data(3),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !hasCloseStream(ins) {
		t.Fatalf("want CloseSyncStream for an expired token, got %v", ins)
	}
	if n := oplog(); n != 2 {
		t.Fatalf("oplog rows = %d, want the 2 before the close", n)
	}

	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	_, err = e.LinesText(ctx, [][]byte{
		[]byte(`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"a","checksum":5}]}}`),
		data(4), data(5), []byte(`{"data":`), data(6),
	})
	if err == nil {
		t.Fatal("want an error for a truncated line")
	}
	if n := oplog(); n != 4 {
		t.Fatalf("oplog rows = %d, want 4 (the lines before the bad one committed)", n)
	}
	if _, err := e.LinesText(ctx, [][]byte{data(7)}); !errors.Is(err, ErrState) {
		t.Fatalf("after a failed line the iteration ends: got %v", err)
	}
}

// TestNextLinesTextOneRunPerCall: NextLinesText takes one line that is not a
// data line, or one run of data lines (at most MaxBatchLines) plus the line
// that ends it, and returns; every line it takes is processed.
func TestNextLinesTextOneRunPerCall(t *testing.T) {
	// The run's time bound must not end it on a slow machine: this test is
	// about the line and byte bounds.
	defer func(d time.Duration) { batchTime = d }(batchTime)
	batchTime = time.Hour
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	n := MaxBatchLines + 4
	lines := [][]byte{fmt.Appendf(nil, `{"checkpoint":{"last_op_id":"%d","buckets":[{"bucket":"a","checksum":%d}]}}`, n, n)}
	for op := 1; op <= n; op++ {
		lines = append(lines, fmt.Appendf(nil, `{"data":{"bucket":"a","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":"r%d","checksum":1,"data":"{}"}]}}`, op, op))
	}
	lines = append(lines, fmt.Appendf(nil, `{"checkpoint_complete":{"last_op_id":"%d"}}`, n))
	taken := 0
	next := func() ([]byte, bool) {
		if taken == len(lines) {
			return nil, false
		}
		taken++
		return lines[taken-1], true
	}
	var calls []int // lines taken by each call
	completed := false
	for taken < len(lines) {
		before := taken
		ins, err := e.NextLinesText(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, taken-before)
		for _, in := range ins {
			if _, ok := in.(DidCompleteSync); ok {
				completed = true
			}
		}
	}
	if want := []int{1, MaxBatchLines, 5}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("lines taken per call = %v, want %v", calls, want)
	}
	if !completed {
		t.Fatal("the checkpoint that ended the last run was not applied")
	}
	var rows int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM todos").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != n {
		t.Fatalf("rows = %d, want %d", rows, n)
	}
	if ins, err := e.NextLinesText(ctx, next); err != nil || len(ins) != 0 {
		t.Fatalf("with no line at hand: %v, %v", ins, err)
	}
}

// TestNextLinesTextTimeBound: a run takes no further line once it has been
// writing for the time bound (here zero: one line per run).
func TestNextLinesTextTimeBound(t *testing.T) {
	defer func(d time.Duration) { batchTime = d }(batchTime)
	batchTime = 0
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for op := 1; op <= 3; op++ {
		lines = append(lines, fmt.Appendf(nil, `{"data":{"bucket":"a","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":"r%d","checksum":1,"data":"{}"}]}}`, op, op))
	}
	taken := 0
	next := func() ([]byte, bool) {
		if taken == len(lines) {
			return nil, false
		}
		taken++
		return lines[taken-1], true
	}
	for call := 1; call <= 3; call++ {
		if _, err := e.NextLinesText(ctx, next); err != nil {
			t.Fatal(err)
		}
		if taken != call {
			t.Fatalf("after call %d: %d lines taken, want %d", call, taken, call)
		}
	}
}

// TestNextLinesTextYieldsToWaitingWriter: a writer that waits for the write
// lock while a run of data lines holds it ends the run after the line at
// hand (here with no minimum hold), writes, and the rest of the lines come
// in later runs.
func TestNextLinesTextYieldsToWaitingWriter(t *testing.T) {
	defer func(d time.Duration) { batchTime = d }(batchTime)
	defer func(d time.Duration) { yieldAfter = d }(yieldAfter)
	batchTime, yieldAfter = time.Hour, 0
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	if _, err := db.ExecContext(ctx, `CREATE TABLE app_log(x)`); err != nil {
		t.Fatal(err)
	}
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	const n = 10
	var lines [][]byte
	for op := 1; op <= n; op++ {
		lines = append(lines, fmt.Appendf(nil, `{"data":{"bucket":"a","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":"r%d","checksum":1,"data":"{}"}]}}`, op, op))
	}
	probe, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	waiting, err := writeWaiters(probe)
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	taken := 0
	next := func() ([]byte, bool) {
		if taken == len(lines) {
			return nil, false
		}
		taken++
		if taken == 2 { // the run holds the lock: a writer comes and waits
			go func() {
				_, err := db.ExecContext(ctx, `INSERT INTO app_log VALUES (1)`)
				wrote <- err
			}()
			for deadline := time.Now().Add(10 * time.Second); waiting() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Error("the writer never waited for the lock")
					break
				}
			}
		}
		return lines[taken-1], true
	}
	if _, err := e.NextLinesText(ctx, next); err != nil {
		t.Fatal(err)
	}
	if taken != 2 {
		t.Fatalf("the first run took %d lines, want 2 (it should end for the waiting writer)", taken)
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not get the lock after the run")
	}
	for taken < n {
		if _, err := e.NextLinesText(ctx, next); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_oplog`).Scan(&rows); err != nil || rows != n {
		t.Fatalf("oplog rows = %d, %v, want %d", rows, err, n)
	}
}
