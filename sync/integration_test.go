package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/sync/pstest"

	"github.com/gopowersync/powersync/internal/synccore"
)

const testUser = "user-1"

// e2e is a syncer on a fresh database syncing from a pstest service with
// the real state machine.
type e2e struct {
	srv    *pstest.Server
	db     *sql.DB
	s      *Syncer
	client *http.Client
}

func newE2E(t *testing.T, c Connector, opts ...Option) *e2e {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(srv.Close)
	e := &e2e{srv: srv, db: openDB(t), client: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(e.client.CloseIdleConnections)
	if c == nil {
		c = e.devConnector()
	}
	base := []Option{WithRetryDelay(5 * time.Millisecond), WithHTTPClient(e.client), WithUploadThrottle(0)}
	s, err := New(e.db, c, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e.s = s
	return e
}

func (e *e2e) devConnector() *HTTPConnector {
	c := DevConnector(e.srv.URL, func(context.Context) (string, error) { return e.srv.Token(testUser), nil })
	c.Client = e.client
	return c
}

// until re-checks cond at every status change until it holds.
func (e *e2e) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range e.s.Statuses(ctx) {
		if cond() {
			return
		}
	}
	t.Fatalf("never: %s (status %v)", what, e.s.Status())
}

func (e *e2e) localTitle(t *testing.T, id string) (string, bool) {
	t.Helper()
	var title sql.NullString
	err := e.db.QueryRow(`SELECT title FROM todos WHERE id = ?`, id).Scan(&title)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return title.String, true
}

func (e *e2e) serverTitle(id string) string {
	row, ok := e.srv.Row("todos", id)
	if !ok {
		return ""
	}
	s, _ := row["title"].(string)
	return s
}

// synced reports whether the queue is empty and the local todos equal the
// server's.
func (e *e2e) synced(t *testing.T) bool {
	if queueLen(t, e.db) != 0 {
		return false
	}
	server := e.srv.Rows("todos")
	rows, err := e.db.Query(`SELECT id, title FROM todos`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var title sql.NullString
		rows.Scan(&id, &title)
		n++
		if sr, ok := server[id]; !ok || sr["title"] != title.String {
			return false
		}
	}
	return n == len(server)
}

func TestE2ERoundTrip(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	if err := e.srv.SetRow("todos", "t1", map[string]any{"title": "v0"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.localTitle(t, "t1"); got != "v0" {
		t.Fatalf("after first sync t1 = %q", got)
	}

	// Record every value t1 takes locally.
	hub, err := driver.HubOf(ctx, e.db)
	if err != nil {
		t.Fatal(err)
	}
	sub := hub.Subscribe()
	defer sub.Close()
	var (
		mu   gosync.Mutex
		seen []string
	)
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-sub.C:
				sub.Take()
				v, _ := e.localTitle(t, "t1")
				mu.Lock()
				if len(seen) == 0 || seen[len(seen)-1] != v {
					seen = append(seen, v)
				}
				mu.Unlock()
			}
		}
	}()

	// Hold the upload while the server publishes an older value of t1.
	release := make(chan struct{})
	dev := e.devConnector()
	e.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: dev.FetchCredentials,
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return dev.UploadData(ctx, db)
		},
	}
	exec(t, e.db, `UPDATE todos SET title = 'local' WHERE id = 't1'`)
	e.until(t, "upload started", func() bool { return e.s.Status().Uploading })
	if err := e.srv.SetRow("todos", "t1", map[string]any{"title": "server-older"}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetRow("todos", "t2", map[string]any{"title": "other"}); err != nil {
		t.Fatal(err)
	}
	close(release)
	e.until(t, "local equals server", func() bool { return e.synced(t) })
	stopWatch()
	<-watchDone
	if got := e.serverTitle("t1"); got != "local" {
		t.Errorf("server t1 = %q, want local", got)
	}
	if got, _ := e.localTitle(t, "t2"); got != "other" {
		t.Errorf("local t2 = %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(seen, "server-older") {
		t.Errorf("local t1 went back to an older server value while the upload was pending: %v", seen)
	}
	if n := e.srv.AppliedCount("todos", "t1"); n != 1 {
		t.Errorf("t1 uploaded %d times", n)
	}
}

func TestE2EOfflineWritesUploadedInOrderOnce(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('a', '1')`)
	exec(t, e.db, `UPDATE todos SET title = '2' WHERE id = 'a'`)
	writeTx(t, e.db, `INSERT INTO todos(id, title) VALUES ('b', '1')`, `INSERT INTO todos(id, title) VALUES ('c', '1')`)
	exec(t, e.db, `DELETE FROM todos WHERE id = 'c'`)
	local, _ := GetCrudBatch(ctx, e.db, 100)
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	e.until(t, "local equals server", func() bool { return e.synced(t) && e.s.Status().HasSynced })
	ups := e.srv.Uploads()
	if len(ups) != len(local.Entries) {
		t.Fatalf("uploaded %d entries, want %d", len(ups), len(local.Entries))
	}
	for i, u := range ups {
		l := local.Entries[i]
		if u.Entry.OpID != l.ClientID || u.Entry.Op != string(l.Op) || u.Entry.ID != l.ID || u.UserID != testUser {
			t.Errorf("upload %d = %+v, want %+v", i, u, l)
		}
	}
	if got := e.serverTitle("a"); got != "2" {
		t.Errorf("server a = %q", got)
	}
	if _, ok := e.srv.Row("todos", "c"); ok {
		t.Error("deleted row c exists on the server")
	}
}

func TestE2EUploadRetriesWithoutNewWrites(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	e.srv.Inject(pstest.Fault{Path: "/upload", Status: http.StatusServiceUnavailable, Count: 3})
	var attempts atomic.Int32
	var errSeenDuringRetry atomic.Bool
	dev := e.devConnector()
	e.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: dev.FetchCredentials,
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
			if attempts.Add(1) > 1 && e.s.Status().UploadError != nil {
				errSeenDuringRetry.Store(true)
			}
			return dev.UploadData(ctx, db)
		},
	}
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('b', 'y')`)
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	e.until(t, "local equals server", func() bool { return e.synced(t) && e.s.Status().HasSynced })
	if got := attempts.Load(); got != 4 {
		t.Errorf("UploadData calls = %d, want 4 (three failures, one success)", got)
	}
	if !errSeenDuringRetry.Load() {
		t.Error("status did not show the upload error while it lasted")
	}
	if err := e.s.Status().UploadError; err != nil {
		t.Errorf("upload error after success: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if n := e.srv.AppliedCount("todos", id); n != 1 {
			t.Errorf("%s applied %d times", id, n)
		}
	}
}

func TestE2EPermanentErrorSetsEntryAside(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	dev := e.devConnector()
	e.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: dev.FetchCredentials,
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
			for tx, err := range CrudTransactions(ctx, db) {
				if err != nil {
					return err
				}
				for _, en := range tx.Entries {
					if en.Data["title"] == "bad" {
						return Permanent(errors.New("title not allowed"), en)
					}
				}
				var batch []pstest.CrudEntry
				js, _ := json.Marshal(tx.Entries)
				json.Unmarshal(js, &batch)
				if _, err := e.srv.ApplyBatch(ctx, testUser, "", batch); err != nil {
					return err
				}
				if err := tx.Complete(ctx); err != nil {
					return err
				}
			}
			return nil
		},
	}
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('a', 'ok')`)
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('b', 'bad')`)
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('c', 'ok')`)
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	e.until(t, "local equals server", func() bool { return e.synced(t) && e.s.Status().HasSynced })
	if e.srv.AppliedCount("todos", "a") != 1 || e.srv.AppliedCount("todos", "c") != 1 || e.srv.AppliedCount("todos", "b") != 0 {
		t.Errorf("applied a=%d b=%d c=%d", e.srv.AppliedCount("todos", "a"), e.srv.AppliedCount("todos", "b"), e.srv.AppliedCount("todos", "c"))
	}
	// The rejected row is gone locally: the server never had it.
	if _, ok := e.localTitle(t, "b"); ok {
		t.Error("rejected row b still present locally after sync")
	}
	rej, err := RejectedCrud(ctx, e.db)
	if err != nil || len(rej) != 1 || rej[0].Entry.ID != "b" || rej[0].Reason != "title not allowed" {
		t.Fatalf("RejectedCrud = %+v, %v", rej, err)
	}
}

func TestE2EHTTPConnectorPermanentStatus(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	e.srv.Inject(pstest.Fault{Path: "/upload", Status: http.StatusBadRequest})
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('a', 'rejected by the backend')`)
	exec(t, e.db, `INSERT INTO todos(id, title) VALUES ('b', 'fine')`)
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	e.until(t, "local equals server", func() bool { return e.synced(t) && e.s.Status().HasSynced })
	rej, _ := RejectedCrud(ctx, e.db)
	if len(rej) != 1 || rej[0].Entry.ID != "a" {
		t.Errorf("rejected = %+v", rej)
	}
	if e.srv.AppliedCount("todos", "b") != 1 {
		t.Error("b not uploaded")
	}
}

func TestE2EManyWritersWhileSyncing(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	var inUpload, maxInUpload atomic.Int32
	dev := e.devConnector()
	e.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: dev.FetchCredentials,
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
			n := inUpload.Add(1)
			defer inUpload.Add(-1)
			for {
				m := maxInUpload.Load()
				if n <= m || maxInUpload.CompareAndSwap(m, n) {
					break
				}
			}
			return dev.UploadData(ctx, db)
		},
	}
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	writers, perWriter := 4, 12
	if testing.Short() {
		perWriter = 5
	}
	var wg gosync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				id := fmt.Sprintf("w%d-%d", w, i)
				if _, err := e.db.ExecContext(ctx, `INSERT INTO todos(id, title) VALUES (?, ?)`, id, id); err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					if _, err := e.db.ExecContext(ctx, `UPDATE todos SET title = ? WHERE id = ?`, id+"!", id); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	e.until(t, "local equals server", func() bool { return e.synced(t) })
	for w := range writers {
		for i := range perWriter {
			id := fmt.Sprintf("w%d-%d", w, i)
			want := 1
			if i%3 == 0 {
				want = 2
			}
			if n := e.srv.AppliedCount("todos", id); n != want {
				t.Errorf("%s applied %d times, want %d", id, n, want)
			}
		}
	}
	if m := maxInUpload.Load(); m != 1 {
		t.Errorf("%d uploads ran at once", m)
	}
}

func TestE2ECredentialsRefreshedAfter401(t *testing.T) {
	var fetches atomic.Int32
	e := newE2E(t, nil)
	dev := e.devConnector()
	e.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: func(ctx context.Context) (*Credentials, error) {
			fetches.Add(1)
			return dev.FetchCredentials(ctx)
		},
	}
	e.s.creds.connector = e.s.conn
	e.srv.Inject(pstest.Fault{Status: http.StatusUnauthorized})
	if err := e.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitForFirstSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fetches.Load(); got != 2 {
		t.Errorf("FetchCredentials calls = %d, want 2", got)
	}
}

func TestE2EDisconnectAndClearThenResync(t *testing.T) {
	e := newE2E(t, nil)
	ctx := t.Context()
	e.srv.SetRow("todos", "t1", map[string]any{"title": "server"})
	e.s.Connect(ctx)
	if err := e.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.s.DisconnectAndClear(ctx, ClearOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.localTitle(t, "t1"); ok {
		t.Fatal("row survived DisconnectAndClear")
	}
	if e.s.Status().HasSynced {
		t.Fatal("HasSynced after clear")
	}
	e.s.Connect(ctx)
	if err := e.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.localTitle(t, "t1"); got != "server" {
		t.Errorf("after resync t1 = %q", got)
	}
}

func TestE2EBSONStream(t *testing.T) {
	e := newE2E(t, nil, WithBSON(true))
	e.srv.SetRow("todos", "t1", map[string]any{"title": "bson"})
	e.s.Connect(t.Context())
	if err := e.s.WaitForFirstSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.localTitle(t, "t1"); got != "bson" {
		t.Errorf("t1 = %q", got)
	}
}

func TestE2ENoGoroutineLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		srv := pstest.NewServer()
		defer srv.Close()
		db := openDB(t)
		client := &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		c := DevConnector(srv.URL, func(context.Context) (string, error) { return srv.Token(testUser), nil })
		c.Client = client
		s, err := New(db, c, WithHTTPClient(client), WithRetryDelay(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		srv.SetRow("todos", "t1", map[string]any{"title": "x"})
		for range 3 {
			s.Connect(t.Context())
			exec(t, db, `INSERT INTO todos(id, title) VALUES (?, 'y')`, fmt.Sprint(time.Now().UnixNano()))
			if err := s.WaitForFirstSync(t.Context()); err != nil {
				t.Fatal(err)
			}
			sub, _ := s.Subscribe(t.Context(), "s", nil)
			sub.Unsubscribe()
			s.Disconnect(t.Context())
		}
		s.Connect(t.Context())
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}()
	for runtime.NumGoroutine() > before {
		if t.Context().Err() != nil {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestE2ECheckpointRequests(t *testing.T) {
	e := newE2E(t, nil, WithCheckpointRequests(true))
	ctx := t.Context()
	e.srv.SetRow("todos", "t1", map[string]any{"title": "v0"})
	if err := e.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	exec(t, e.db, `UPDATE todos SET title = 'local' WHERE id = 't1'`)
	e.until(t, "checkpoint request applied", func() bool {
		target, _ := kvInt(t, e.db, "target_checkpoint_request_id")
		applied, _ := kvInt(t, e.db, "last_applied_checkpoint_request_id")
		return e.synced(t) && target != synccore.MaxOpID && applied >= target
	})
	if got := e.serverTitle("t1"); got != "local" {
		t.Errorf("server t1 = %q", got)
	}
	clientID, _ := ClientID(ctx, e.db)
	target, _ := kvInt(t, e.db, "target_checkpoint_request_id")
	if wc := e.srv.WriteCheckpoint(testUser, clientID); target == synccore.MaxOpID || target > wc {
		t.Errorf("target %d, service checkpoint request %d", target, wc)
	}
}
