package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"

	"github.com/gopowersync/powersync/sync/pstest"
)

// backend plays the application's backend for the upload tests: it applies
// CRUD transactions to the pstest service, and can lose its answer after
// applying (the client sees an error although the change was applied).
//
// # What the backend must guarantee
//
// The client keeps an entry queued until UploadData completes it, so an
// upload whose answer is lost (network failure, crash, timeout after the
// backend committed) is sent again: with the same client id and the same
// op ids (ps_crud ids, CrudEntry.ClientID) and tx id, in the same order.
// The client never sends an entry again after Complete and never runs two
// uploads at once. A backend therefore needs at-least-once idempotency:
// either every operation is idempotent on its own (PUT replaces the whole
// row, DELETE deletes, PATCH sets absolute values; a retried PATCH can still
// overwrite a newer write of another client in between), or it remembers
// the (client id, op id) pairs it applied, in the same database transaction
// as the change, and skips them; dedupe below does the latter and gives
// exactly-once application.
type backend struct {
	srv    *pstest.Server
	dedupe bool

	mu       gosync.Mutex // guards the fields below
	attempts [][]int64    // op ids of every upload attempt, in order
	applied  map[string]bool
	loseNext int // answers still to lose after applying
	failNext int // uploads still to fail before applying
	panics   int // uploads still to panic before applying
}

func (b *backend) connector(c *client) Connector {
	dev := c.devConnector()
	return ConnectorFuncs{
		FetchCredentialsFunc: dev.FetchCredentials,
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
			clientID, err := ClientID(ctx, db)
			if err != nil {
				return err
			}
			for {
				tx, err := NextCrudTransaction(ctx, db)
				if err != nil || tx == nil {
					return err
				}
				if err := b.upload(ctx, c.user, clientID, tx); err != nil {
					return err
				}
				if err := tx.Complete(ctx); err != nil {
					return err
				}
			}
		},
	}
}

func (b *backend) upload(ctx context.Context, user, clientID string, tx *CrudTransaction) error {
	ids := make([]int64, len(tx.Entries))
	for i, e := range tx.Entries {
		ids[i] = e.ClientID
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts = append(b.attempts, ids)
	if b.panics > 0 {
		b.panics--
		panic("backend: injected panic")
	}
	if b.failNext > 0 {
		b.failNext--
		return fmt.Errorf("backend unavailable: %w", errRig)
	}
	var batch []pstest.CrudEntry
	for _, e := range tx.Entries {
		key := clientID + "/" + fmt.Sprint(e.ClientID)
		if b.dedupe && b.applied[key] {
			continue
		}
		js, err := json.Marshal(e)
		if err != nil {
			return err
		}
		var pe pstest.CrudEntry
		if err := json.Unmarshal(js, &pe); err != nil {
			return err
		}
		batch = append(batch, pe)
		if b.applied == nil {
			b.applied = map[string]bool{}
		}
		b.applied[key] = true
	}
	if len(batch) > 0 {
		if _, err := b.srv.ApplyBatch(ctx, user, "", batch); err != nil {
			return err
		}
	}
	if b.loseNext > 0 {
		b.loseNext--
		return fmt.Errorf("answer lost after the backend applied the upload: %w", errRig)
	}
	return nil
}

func (b *backend) attemptLog() [][]int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.attempts)
}

// TestReliabilityUploadAnswerLost lets the backend apply an upload and then
// lose the answer. The client must send exactly the same entries again (same
// op ids, same order), remove them from its queue only after a successful
// retry, and never upload them a third time. A backend without
// deduplication therefore applies that transaction twice, a deduplicating
// one once (see backend).
func TestReliabilityUploadAnswerLost(t *testing.T) {
	for _, dedupe := range []bool{false, true} {
		t.Run(fmt.Sprintf("dedupe=%v", dedupe), func(t *testing.T) {
			checkNoLeaks(t)
			r := newRig(t)
			b := &backend{srv: r.srv, dedupe: dedupe, loseNext: 1}
			c := r.newClient(clientOpts{wrap: func(c *client, _ Connector) Connector { return b.connector(c) }})
			writeTx(t, c.db, `INSERT INTO todos(id, title) VALUES ('t1', 'one')`, `INSERT INTO todos(id, title) VALUES ('t2', 'two')`)
			c.writes["t1"], c.writes["t2"] = "one", "two"
			c.write("t3", "three")
			c.connect()
			c.waitConverged()

			att := b.attemptLog()
			want := [][]int64{{1, 2}, {1, 2}, {3}}
			if !slices.EqualFunc(att, want, slices.Equal) {
				t.Errorf("upload attempts (op ids) = %v, want %v: the lost answer must be followed by one retry of the same entries", att, want)
			}
			wantApplied := 2
			if dedupe {
				wantApplied = 1
			}
			for _, id := range []string{"t1", "t2"} {
				if n := r.srv.AppliedCount("todos", id); n != wantApplied {
					t.Errorf("%s applied %d times, want %d", id, n, wantApplied)
				}
			}
			if n := r.srv.AppliedCount("todos", "t3"); n != 1 {
				t.Errorf("t3 applied %d times", n)
			}
		})
	}
}

// TestReliabilityUploadDisconnectMidUpload disconnects while the backend is
// applying an upload (the answer never reaches the client, as when the
// process stops): after the next connect the same entries are uploaded
// again and nothing is lost.
func TestReliabilityUploadDisconnectMidUpload(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t)
	b := &backend{srv: r.srv, dedupe: true}
	inUpload := make(chan struct{})
	var first atomic.Bool
	first.Store(true)
	c := r.newClient(clientOpts{wrap: func(c *client, _ Connector) Connector {
		inner := b.connector(c)
		return ConnectorFuncs{
			FetchCredentialsFunc: inner.FetchCredentials,
			UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
				if first.CompareAndSwap(true, false) {
					// Apply, then hang until the syncer disconnects.
					tx, err := NextCrudTransaction(ctx, db)
					if err != nil {
						return err
					}
					clientID, _ := ClientID(ctx, db)
					if err := b.upload(ctx, c.user, clientID, tx); err != nil {
						return err
					}
					close(inUpload)
					<-ctx.Done()
					return ctx.Err()
				}
				return inner.UploadData(ctx, db)
			},
		}
	}})
	c.write("a", "1")
	c.connect()
	<-inUpload
	if err := c.s.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := c.queue(); n != 1 {
		t.Fatalf("queue after disconnecting mid-upload = %d, want 1", n)
	}
	c.write("b", "2")
	c.connect()
	c.waitConverged()
	att := b.attemptLog()
	if want := [][]int64{{1}, {1}, {2}}; !slices.EqualFunc(att, want, slices.Equal) {
		t.Errorf("upload attempts = %v, want %v", att, want)
	}
	if n := r.srv.AppliedCount("todos", "a"); n != 1 {
		t.Errorf("a applied %d times by a deduplicating backend", n)
	}
}

// TestReliabilityUploadFailsRepeatedly fails and panics uploads many times
// while local writes continue: the queue stays a FIFO (the backend sees op
// ids in increasing order, each applied once), the error is visible while
// it lasts, downloads keep running, and everything converges once the
// backend recovers.
func TestReliabilityUploadFailsRepeatedly(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t)
	r.seedRows("s", 5)
	b := &backend{srv: r.srv, failNext: 6, panics: 2}
	c := r.newClient(clientOpts{wrap: func(c *client, _ Connector) Connector { return b.connector(c) }})
	var sawErr atomic.Bool
	stop := watchStatuses(t, c.s, func(st Status) {
		if st.UploadError != nil {
			sawErr.Store(true)
		}
	})
	c.connect()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 30 {
		id := fmt.Sprintf("w%d", rng.IntN(8))
		title := fmt.Sprintf("v%d", i)
		if rng.IntN(6) == 0 {
			title = ""
		}
		if err := c.tryWrite(t.Context(), id, title); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			// The server changes too; the change may not be applied over
			// pending local writes, but must arrive.
			if err := r.srv.SetRow("todos", "s1", map[string]any{"title": "server change"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.waitConverged()
	stop()
	if !sawErr.Load() {
		t.Error("the failing uploads never showed as an upload error")
	}
	var last int64
	seen := map[int64]bool{}
	for _, u := range r.srv.Uploads() {
		if u.Entry.OpID <= last || seen[u.Entry.OpID] {
			t.Errorf("backend received op id %d after %d: not FIFO or applied twice", u.Entry.OpID, last)
		}
		seen[u.Entry.OpID] = true
		last = u.Entry.OpID
	}
	if got := c.localRows()["s1"]; got != `{"title":"server change"}` {
		t.Errorf("server change not applied: s1 = %q", got)
	}
}
