package synccore

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

func bucketList(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bucket":"%s%d","checksum":0}`, prefix, i)
	}
	return b.String()
}

func streamList(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"s%d","is_default":true,"errors":[]}`, i)
	}
	return b.String()
}

// limitEngine is an engine with small checkpoint limits and a synced row,
// in an iteration.
func limitEngine(t *testing.T) (*Engine, func() int) {
	t.Helper()
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		`{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":1,"count":1}]}}`,
		`{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"todos","object_id":"row-0","checksum":1,"data":"{\"description\":\"hi\"}"}]}}`,
		`{"checkpoint_complete":{"last_op_id":"1"}}`,
	} {
		if _, err := e.LineText(ctx, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	rows := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM todos").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return e, rows
}

// TestCheckpointLimits checks that a checkpoint with more buckets or
// streams than the limits, or a diff leading to one, is a protocol error
// that ends the iteration and keeps the synced data, and that the limits
// themselves are accepted.
func TestCheckpointLimits(t *testing.T) {
	defer func(b, s int) { maxBuckets, maxStreams = b, s }(maxBuckets, maxStreams)
	maxBuckets, maxStreams = 10, 5
	tests := []struct {
		name  string
		lines []string
		ok    bool
		text  string
	}{
		{"buckets at the limit", []string{`{"checkpoint":{"last_op_id":"1","buckets":[` + bucketList("b", 10) + `]}}`}, true, ""},
		{"buckets over the limit", []string{`{"checkpoint":{"last_op_id":"1","buckets":[` + bucketList("b", 11) + `]}}`}, false,
			"more than 10 buckets in one checkpoint"},
		{"diff over the limit", []string{
			`{"checkpoint_diff":{"last_op_id":"1","removed_buckets":[],"updated_buckets":[` + bucketList("c", 5) + `]}}`,
			`{"checkpoint_diff":{"last_op_id":"1","removed_buckets":["c0"],"updated_buckets":[` + bucketList("d", 4) + `]}}`,
			`{"checkpoint_diff":{"last_op_id":"1","removed_buckets":[],"updated_buckets":[` + bucketList("e", 2) + `]}}`,
		}, false, "checkpoint_diff leads to a checkpoint of 11 buckets, more than the client's limit of 10"},
		{"diff removing too many", []string{
			`{"checkpoint_diff":{"last_op_id":"1","removed_buckets":[` + strings.Repeat(`"x",`, 10) + `"x"],"updated_buckets":[]}}`,
		}, false, "more than 10 removed buckets"},
		{"streams at the limit", []string{`{"checkpoint":{"last_op_id":"1","buckets":[],"streams":[` + streamList(5) + `]}}`}, true, ""},
		{"streams over the limit", []string{`{"checkpoint":{"last_op_id":"1","buckets":[],"streams":[` + streamList(6) + `]}}`}, false,
			"more than 5 streams in one checkpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, binary := range []bool{false, true} {
				e, rows := limitEngine(t)
				var err error
				for _, l := range tt.lines {
					if binary {
						doc, ok := jsonToBSON([]byte(l))
						if !ok {
							t.Fatalf("cannot convert %s", l)
						}
						_, err = e.LineBinary(t.Context(), doc)
					} else {
						_, err = e.LineText(t.Context(), []byte(l))
					}
					if err != nil {
						break
					}
				}
				checkLimitResult(t, e, rows, err, tt.ok, tt.text, binary)
			}
		})
	}
}

// checkLimitResult checks the outcome of the lines of a limit case: err is
// nil where ok, otherwise a protocol error with text after which the
// iteration is gone and the synced row is still there.
func checkLimitResult(t *testing.T, e *Engine, rows func() int, err error, ok bool, text string, binary bool) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("binary %v: %v", binary, err)
		}
		return
	}
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), text) {
		t.Fatalf("binary %v: error %v, want a protocol error with %q", binary, err, text)
	}
	if _, err := e.LineText(t.Context(), []byte(`{"checkpoint_complete":{"last_op_id":"1"}}`)); !errors.Is(err, ErrState) {
		t.Errorf("binary %v: after the rejected line: %v, want no iteration", binary, err)
	}
	if n := rows(); n != 1 {
		t.Errorf("binary %v: %d synced rows after the rejected line, want 1", binary, n)
	}
}

// TestDataLineMemory checks that a data line of many small operations
// allocates about the operations' size once: the operations are not copied
// while their slice grows, and storing MOVE operations sizes nothing by
// the number of operations.
func TestDataLineMemory(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.LineText(ctx, []byte(`{"checkpoint":{"last_op_id":"99999999","buckets":[{"bucket":"b","checksum":0}]}}`)); err != nil {
		t.Fatal(err)
	}
	const n = 50_000
	var b strings.Builder
	b.WriteString(`{"data":{"bucket":"b","data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"op_id":"%d","op":"MOVE","checksum":0}`, i+1)
	}
	b.WriteString(`]}}`)
	line := []byte(b.String())
	doc, ok := jsonToBSON(line)
	if !ok {
		t.Fatal("cannot convert the line to BSON")
	}
	opsSize := uint64(n * unsafe.Sizeof(oplogEntry{}))
	for _, binary := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var err error
		if binary {
			_, err = e.LineBinary(ctx, doc)
		} else {
			_, err = e.LineText(ctx, line)
		}
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > opsSize+opsSize/4 {
			t.Errorf("binary %v: a data line of %d MOVE operations allocated %d KiB, want at most %d KiB (%d KiB for the operations)",
				binary, n, got>>10, (opsSize+opsSize/4)>>10, opsSize>>10)
		}
		line = []byte(strings.Replace(string(line), `"bucket":"b"`, `"bucket":"b2"`, 1)) // a fresh bucket: op ids start again
		if doc, ok = jsonToBSON(line); !ok {
			t.Fatal("cannot convert the line to BSON")
		}
	}
}
