package sync

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gopowersync/powersync/internal/synccore"
)

// An UploadData that forgets to complete the queue gets a warning and the
// retry delay, not a hot loop.
func TestUploadIncompleteWaitsRetryDelay(t *testing.T) {
	h := newHarness(t)
	var calls atomic.Int32
	h.conn.upload = func(ctx context.Context, db *sql.DB) error {
		if calls.Add(1) >= 3 {
			b, err := GetCrudBatch(ctx, db, 100)
			if err != nil || b == nil {
				return err
			}
			return b.Complete(ctx)
		}
		return nil
	}
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.eng.waitCalls(t, func(c []string) bool { return slices.Contains(c, "completed_upload") })
	if got := calls.Load(); got != 3 {
		t.Errorf("UploadData calls = %d, want 3", got)
	}
	// Each call that left the queue as it was costs one retry delay.
	if got := h.rec.count(testRetryDelay); got != 2 {
		t.Errorf("retry delays = %d, want 2", got)
	}
	if !contains(h.logs.String(), "still queued") {
		t.Errorf("no warning logged:\n%s", h.logs.String())
	}
	if v, _ := kvInt(t, h.db, "target_checkpoint_request_id"); v != 1 {
		t.Errorf("write checkpoint target = %d, want 1", v)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A failing write checkpoint request is an upload error and is retried.
func TestUploadWriteCheckpointFailureRetried(t *testing.T) {
	h := newHarness(t)
	h.fs.wcFail = 2
	h.conn.upload = func(ctx context.Context, db *sql.DB) error {
		b, err := GetCrudBatch(ctx, db, 100)
		if err != nil || b == nil {
			return err
		}
		return b.Complete(ctx)
	}
	stop := recordStatuses(t, h.s)
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.eng.waitCalls(t, func(c []string) bool { return slices.Contains(c, "completed_upload") })
	if v, _ := kvInt(t, h.db, "target_checkpoint_request_id"); v != 1 {
		t.Errorf("target = %d, want 1", v)
	}
	var herr *HTTPError
	sawErr := false
	for _, st := range stop() {
		if errors.As(st.UploadError, &herr) && herr.StatusCode == 503 {
			sawErr = true
		}
	}
	if !sawErr {
		t.Error("status never showed the write checkpoint error")
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if len(h.fs.wcTokens) != 3 {
		t.Errorf("write checkpoint requests = %d, want 3", len(h.fs.wcTokens))
	}
}

// A write that lands while the write checkpoint is being created leaves the
// gate closed for the next round.
func TestUpdateLocalTargetRace(t *testing.T) {
	h := newHarness(t)
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	b, _ := GetCrudBatch(t.Context(), h.db, 10)
	b.Complete(t.Context())
	sess := &session{evNotify: make(chan struct{}, 1), uploadKick: make(chan struct{}, 1)}
	h.fs.srv.Config.Handler = writeDuring(h.fs.srv.Config.Handler, func() {
		exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('b', 'y')`)
	})
	updated, err := h.s.updateLocalTarget(t.Context(), sess)
	if err != nil || updated {
		t.Fatalf("updateLocalTarget = %v, %v; want false", updated, err)
	}
	if v, _ := kvInt(t, h.db, "target_checkpoint_request_id"); v != synccore.MaxOpID {
		t.Errorf("target = %d, want MAX_OP_ID", v)
	}
}
