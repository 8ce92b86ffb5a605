package synccore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSoftClearAndResync checks the parts of powersync_clear and
// powersync_trigger_resync that the oracle's replay cannot reach (they need
// no active iteration).
func TestSoftClearAndResync(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	e := New(db, Options{Now: func() time.Time { return now }})
	lines := []string{
		`{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":1,"count":1}]}}`,
		`{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"todos","object_id":"row-0","checksum":1,"data":"{\"description\":\"hi\"}"}]}}`,
		`{"checkpoint_complete":{"last_op_id":"1"}}`,
	}
	sync := func(withData bool) []Instruction {
		t.Helper()
		if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
			t.Fatal(err)
		}
		var last []Instruction
		for i, l := range lines {
			if i == 1 && !withData {
				continue
			}
			ins, err := e.LineText(ctx, []byte(l))
			if err != nil {
				t.Fatal(err)
			}
			last = ins
		}
		return last
	}
	rows := func() int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM todos").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sync(true)
	if rows() != 1 {
		t.Fatalf("rows after sync = %d", rows())
	}
	if err := e.Clear(ctx, ClearSoft, nil); !errors.Is(err, ErrState) {
		t.Fatalf("soft clear during an iteration: %v", err)
	}
	if err := e.TriggerResync(ctx, false); !errors.Is(err, ErrState) {
		t.Fatalf("resync during an iteration: %v", err)
	}
	if _, err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Clear(ctx, ClearSoft, nil); err != nil {
		t.Fatal(err)
	}
	if rows() != 0 {
		t.Fatalf("rows after soft clear = %d", rows())
	}
	// the buckets survive: the next start resumes after op 1, and the
	// checkpoint republishes the row without any data line
	ins, err := e.Start(ctx, StartRequest{IncludeDefaults: true})
	if err != nil {
		t.Fatal(err)
	}
	if est := ins[1].(EstablishSyncStream); string(est.Request) == "" ||
		!strings.Contains(string(est.Request), `"buckets":[{"name":"a","after":"1"}]`) {
		t.Errorf("request after soft clear: %s", est.Request)
	}
	e.Stop(ctx)
	sync(false)
	if rows() != 1 {
		t.Fatalf("rows after resync from oplog = %d", rows())
	}
	e.Stop(ctx)
	if _, err := db.ExecContext(ctx, "DELETE FROM ps_data__todos"); err != nil {
		t.Fatal(err)
	}
	if err := e.TriggerResync(ctx, false); err != nil {
		t.Fatal(err)
	}
	sync(false)
	if rows() != 1 {
		t.Fatalf("rows after trigger resync = %d", rows())
	}
	e.Stop(ctx)
	if err := e.TriggerResync(ctx, true); err != nil {
		t.Fatal(err)
	}
	st, err := OfflineStatus(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.PriorityStatus) != 0 {
		t.Errorf("priority status after resync(1): %+v", st.PriorityStatus)
	}
}

func TestCheckpointRequestErrors(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "")
	e := New(db, Options{})
	if err := e.SeedCheckpointRequestID(ctx, 1); !errors.Is(err, ErrState) {
		t.Errorf("seed without iteration: %v", err)
	}
	if _, err := e.LineText(ctx, []byte(`{"token_expires_in":60}`)); !errors.Is(err, ErrState) {
		t.Errorf("line without iteration: %v", err)
	}
	if _, err := e.Start(ctx, StartRequest{CheckpointMode: "requests"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.NextCheckpointRequestID(ctx); !errors.Is(err, ErrState) {
		t.Errorf("next before seed: %v", err)
	}
	if err := e.SeedCheckpointRequestID(ctx, 0); !errors.Is(err, ErrArgument) {
		t.Errorf("seed 0: %v", err)
	}
	if err := e.SeedCheckpointRequestID(ctx, 41); err != nil {
		t.Fatal(err)
	}
	if id, err := e.NextCheckpointRequestID(ctx); err != nil || id != 42 {
		t.Errorf("next = %d, %v", id, err)
	}
	if _, _, err := SetTargetCheckpointRequestID(ctx, db, -1); !errors.Is(err, ErrArgument) {
		t.Errorf("target -1: %v", err)
	}
	// a restart requests max(counter, concrete target, 1)
	if _, _, err := SetTargetCheckpointRequestID(ctx, db, 50); err != nil {
		t.Fatal(err)
	}
	ins, err := e.Start(ctx, StartRequest{CheckpointMode: "requests"})
	if err != nil {
		t.Fatal(err)
	}
	if cr := ins[1].(EstablishSyncStream).CheckpointRequest; cr == nil || cr.CheckpointRequestID != 50 {
		t.Errorf("checkpoint request = %+v", cr)
	}
	if _, _, err := SetTargetCheckpointRequestID(ctx, db, MaxOpID); err != nil {
		t.Fatal(err)
	}
	ins, _ = e.Start(ctx, StartRequest{CheckpointMode: "requests"})
	if cr := ins[1].(EstablishSyncStream).CheckpointRequest; cr == nil || cr.CheckpointRequestID != 42 {
		t.Errorf("checkpoint request with MAX target = %+v", cr)
	}
}
