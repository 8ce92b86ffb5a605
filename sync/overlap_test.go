package sync

import (
	"context"
	"database/sql"
	"errors"
	gosync "sync"
	"sync/atomic"
	"testing"
)

// A Disconnect whose context has already expired cannot wait for the
// connection to stop; a Connect right after it must still never run a
// second UploadData beside the one of the old connection, and no entry is
// uploaded twice. The first UploadData ignores its context and blocks until
// the new Connect is known to be waiting for it (or, before the fix, until
// the new connection called UploadData concurrently).
func TestConnectAfterExpiredDisconnectNeverUploadsTwiceAtOnce(t *testing.T) {
	checkNoLeaks(t)
	waiting := make(chan struct{}, 1)
	h := newHarness(t, withStopWaitHook(func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}))
	var (
		active, maxActive atomic.Int32
		calls             atomic.Int32
		mu                gosync.Mutex // guards uploaded
		uploaded          = map[int64]int{}
	)
	first := make(chan struct{})
	second := make(chan struct{})
	release := make(chan struct{})
	h.conn.upload = func(ctx context.Context, db *sql.DB) error {
		n := active.Add(1)
		defer active.Add(-1)
		for {
			m := maxActive.Load()
			if n <= m || maxActive.CompareAndSwap(m, n) {
				break
			}
		}
		bg := context.WithoutCancel(ctx) // this backend call ignores cancellation
		b, err := GetCrudBatch(bg, db, 100)
		if err != nil || b == nil {
			return err
		}
		mu.Lock()
		for _, e := range b.Entries {
			uploaded[e.ClientID]++
		}
		mu.Unlock()
		switch calls.Add(1) {
		case 1:
			close(first)
			<-release
		case 2:
			close(second)
		}
		return b.Complete(bg)
	}
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('b', 'y')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-first

	expired, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.s.Disconnect(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Disconnect with an expired context = %v, want context.Canceled", err)
	}

	connected := make(chan error, 1)
	go func() { connected <- h.s.Connect(t.Context()) }()
	select {
	case <-waiting: // Connect waits for the old connection to end
	case <-second: // the new connection uploads beside the old one
	}
	close(release)
	if err := <-connected; err != nil {
		t.Fatal(err)
	}
	eventually(t, "queue uploaded", func() bool { return queueLen(t, h.db) == 0 }, nil)
	if err := h.s.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := maxActive.Load(); got != 1 {
		t.Errorf("at most %d UploadData calls ran at once, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, n := range uploaded {
		if n != 1 {
			t.Errorf("entry %d uploaded %d times, want once", id, n)
		}
	}
	if len(uploaded) != 2 {
		t.Errorf("uploaded entries %v, want 2", uploaded)
	}
}
