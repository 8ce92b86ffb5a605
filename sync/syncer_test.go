package sync

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

const testRetryDelay = 7 * time.Second

type harness struct {
	db   *sql.DB
	eng  *fakeEngine
	fs   *fakeService
	conn *countingConnector
	rec  *sleepRecorder
	s    *Syncer
	logs *bytes.Buffer
}

func newHarness(t *testing.T, opts ...Option) *harness {
	t.Helper()
	h := &harness{db: openDB(t), eng: newFakeEngine(), fs: newFakeService(t), rec: newSleepRecorder(), logs: &bytes.Buffer{}}
	h.conn = &countingConnector{endpoint: h.fs.srv.URL}
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []Option{
		withEngine(h.eng), withClock(nil, h.rec.sleep), WithRetryDelay(testRetryDelay),
		WithUploadThrottle(0), WithHTTPClient(client), WithLogger(logger),
	}
	s, err := New(h.db, h.conn, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.s = s
	return h
}

type lockedWriter struct {
	mu gosync.Mutex // guards w
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *harness) waitStatus(t *testing.T, what string, pred func(Status) bool) Status {
	t.Helper()
	st, err := h.s.WaitForStatus(t.Context(), pred)
	if err != nil {
		t.Fatalf("waiting for %s: %v (status %v)", what, err, h.s.Status())
	}
	return st
}

func connected(st Status) bool { return st.Connected }

// recordStatuses collects every status until the returned stop is called;
// stop returns once the current status has been recorded.
func recordStatuses(t *testing.T, s *Syncer) func() []Status {
	ctx, cancel := context.WithCancel(t.Context())
	var (
		mu  gosync.Mutex
		out []Status
	)
	seen := make(chan struct{}, 1)
	done := make(chan struct{})
	started := make(chan struct{})
	go func() {
		defer close(done)
		first := true
		for st := range s.Statuses(ctx) {
			mu.Lock()
			out = append(out, st)
			mu.Unlock()
			select {
			case seen <- struct{}{}:
			default:
			}
			if first {
				first = false
				close(started)
			}
		}
	}()
	<-started
	return func() []Status {
		cur := s.Status()
		for {
			mu.Lock()
			caught := len(out) > 0 && equalStatus(out[len(out)-1], cur)
			mu.Unlock()
			if caught {
				break
			}
			select {
			case <-seen:
			case <-done:
			case <-t.Context().Done():
				t.Fatal("status recorder never caught up")
			}
			if ctx.Err() == nil && s.bus.isClosed() {
				break
			}
		}
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return out
	}
}

func TestSyncerStatusTransitions(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	if st := h.s.Status(); st.Connected || st.Connecting || st.HasSynced {
		t.Fatalf("initial status %v", st)
	}
	stop := recordStatuses(t, h.s)
	if err := h.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	h.fs.send(t, `{"checkpoint_complete":{}}`)
	if err := h.s.WaitForFirstSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.s.WaitForFirstSyncPriority(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	st := h.s.Status()
	if st.Connected || st.Connecting || !st.HasSynced || st.LastSyncedAt.IsZero() {
		t.Fatalf("after disconnect: %v", st)
	}
	seq := stop()
	for i := 1; i < len(seq); i++ {
		if equalStatus(seq[i-1], seq[i]) {
			t.Errorf("status %d repeats the previous one: %v", i, seq[i])
		}
	}
	// The sequence passes through connecting, connected, synced, disconnected.
	steps := []func(Status) bool{
		func(s Status) bool { return s.Connecting },
		func(s Status) bool { return s.Connected && !s.HasSynced },
		func(s Status) bool { return s.Connected && s.HasSynced },
		func(s Status) bool { return !s.Connected && !s.Connecting && s.HasSynced },
	}
	i := 0
	for _, s := range seq {
		if i < len(steps) && steps[i](s) {
			i++
		}
	}
	if i != len(steps) {
		t.Errorf("status sequence stops at step %d: %v", i, seq)
	}
	// The next syncer on the same database (once this one is closed)
	// starts with what it remembers (the fake engine does not write
	// ps_sync_state; the real one does).
	exec(t, h.db, `INSERT INTO ps_sync_state(priority, last_synced_at) VALUES (2147483647, 1700000000000000)`)
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(h.db, h.conn, withEngine(newFakeEngine()))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if st := s2.Status(); !st.HasSynced || !st.LastSyncedAt.Equal(time.UnixMicro(1700000000000000)) {
		t.Errorf("a new syncer forgot the completed sync: %v", st)
	}
}

func TestSyncerReconnectsAfterErrorsWithRetryDelay(t *testing.T) {
	h := newHarness(t)
	h.fs.failStreams = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}
	stop := recordStatuses(t, h.s)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	if got := h.fs.conns.Load(); got != 3 {
		t.Errorf("stream requests = %d, want 3", got)
	}
	if got := h.rec.count(testRetryDelay); got != 2 {
		t.Errorf("retry delays = %d, want 2 (one per failure)", got)
	}
	var herr *HTTPError
	if err := h.s.Status().DownloadError; !errors.As(err, &herr) || herr.StatusCode != http.StatusServiceUnavailable || herr.Code != "PSYNC_S2106" {
		t.Errorf("download error while reconnecting = %v", err)
	}
	h.fs.send(t, `{"checkpoint_complete":{}}`)
	h.waitStatus(t, "error cleared by a completed sync", func(s Status) bool { return s.HasSynced && s.DownloadError == nil })
	seq := stop()
	sawDisconnectedError := false
	for _, s := range seq {
		if s.DownloadError != nil && !s.Connected && !s.Connecting {
			sawDisconnectedError = true
		}
	}
	if !sawDisconnectedError {
		t.Error("status never showed the download error while disconnected")
	}
}

func TestSyncerRefreshesCredentialsAfter401(t *testing.T) {
	h := newHarness(t)
	h.fs.failStreams = []int{http.StatusUnauthorized}
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	h.fs.mu.Lock()
	tokens := slices.Clone(h.fs.tokens)
	h.fs.mu.Unlock()
	if want := []string{"tok-1", "tok-2"}; !slices.Equal(tokens, want) {
		t.Errorf("tokens = %v, want %v", tokens, want)
	}
	if got := h.conn.fetches.Load(); got != 2 {
		t.Errorf("FetchCredentials calls = %d, want 2", got)
	}
}

func TestSyncerTokenExpiry(t *testing.T) {
	h := newHarness(t)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	// Expiring soon: prefetch, then reconnect at once with the new token.
	h.fs.send(t, `{"token_expires_in":10}`)
	h.eng.waitCalls(t, func(c []string) bool {
		return slices.Contains(c, "refreshed_token") && countPrefix(c, "established") == 2
	})
	if got := h.rec.count(testRetryDelay); got != 0 {
		t.Errorf("reconnect after token refresh waited the retry delay %d times", got)
	}
	if got := h.conn.fetches.Load(); got != 2 {
		t.Errorf("FetchCredentials calls after the first warning = %d, want 2", got)
	}
	// The new token is in use: its own expiry warning refreshes again (a
	// repeated warning before the new token is used fetches nothing; see
	// TestPrefetchEveryLifetime).
	h.fs.send(t, `{"token_expires_in":10}`)
	h.eng.waitCalls(t, func(c []string) bool {
		return countPrefix(c, "refreshed_token") == 2 && countPrefix(c, "established") == 3
	})
	if got := h.conn.fetches.Load(); got != 3 {
		t.Errorf("FetchCredentials calls after the second lifetime's warning = %d, want 3", got)
	}
	// Expired: invalidate, reconnect after the delay with a new token.
	h.fs.send(t, `{"token_expires_in":0}`)
	h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 4 })
	h.fs.mu.Lock()
	tokens := slices.Clone(h.fs.tokens)
	h.fs.mu.Unlock()
	if want := []string{"tok-1", "tok-2", "tok-3", "tok-4"}; !slices.Equal(tokens, want) {
		t.Errorf("tokens = %v, want %v", tokens, want)
	}
	if got := h.rec.count(testRetryDelay); got != 1 {
		t.Errorf("retry delays = %d, want 1", got)
	}
}

func countPrefix(calls []string, p string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, p) {
			n++
		}
	}
	return n
}

func TestSyncerNeverExposesToken(t *testing.T) {
	const secret = "SECRET-TOKEN-1234"
	h := newHarness(t)
	var fetches atomic.Int32
	h.s.conn = ConnectorFuncs{
		FetchCredentialsFunc: func(ctx context.Context) (*Credentials, error) {
			fetches.Add(1)
			return &Credentials{Endpoint: h.fs.srv.URL, Token: secret, ExpiresAt: time.Now().Add(time.Hour)}, nil
		},
		UploadDataFunc: func(ctx context.Context, db *sql.DB) error { return errors.New("backend down") },
	}
	h.s.creds.connector = h.s.conn
	h.fs.failStreams = []int{http.StatusUnauthorized, http.StatusInternalServerError}
	stop := recordStatuses(t, h.s)
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected with an upload error", func(s Status) bool { return s.Connected && s.UploadError != nil })
	h.fs.send(t, `{"token_expires_in":0}`)
	h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 2 })
	h.s.Close()
	for _, st := range stop() {
		for _, s := range []string{st.String(), fmt.Sprint(st.DownloadError), fmt.Sprint(st.UploadError)} {
			if strings.Contains(s, secret) {
				t.Errorf("status exposes the token: %s", s)
			}
		}
	}
	creds := Credentials{Endpoint: "https://x", Token: secret}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("creds", "c", creds)
	for _, s := range []string{fmt.Sprint(creds), fmt.Sprintf("%+v", creds), fmt.Sprintf("%#v", creds), fmt.Sprint(&creds), logBuf.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("formatting credentials exposes the token: %s", s)
		}
	}
	if strings.Contains(h.logs.String(), secret) {
		t.Errorf("logs expose the token:\n%s", h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "backend down") {
		t.Errorf("logs lack the upload error:\n%s", h.logs.String())
	}
}

func TestSyncerReconnectsAfterStreamEndAndLineError(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr bool
	}{
		{"service ends the stream", "", false},
		{"state machine rejects a line", `{"fail":"bad line"}`, true},
		{"state machine closes the stream", `{"close":{"hide":false}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if err := h.s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			h.waitStatus(t, "connected", connected)
			h.fs.send(t, tt.line)
			h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 2 })
			if got := h.rec.count(testRetryDelay); got != 1 {
				t.Errorf("retry delays = %d, want 1", got)
			}
			if tt.wantErr {
				if err := h.s.Status().DownloadError; err == nil || !strings.Contains(err.Error(), "bad line") {
					t.Errorf("download error = %v", err)
				}
			}
		})
	}
	t.Run("hidden close restarts at once", func(t *testing.T) {
		h := newHarness(t)
		h.s.Connect(t.Context())
		h.waitStatus(t, "connected", connected)
		h.fs.send(t, `{"close":{"hide":true}}`)
		h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 2 })
		if got := h.rec.count(testRetryDelay); got != 0 {
			t.Errorf("retry delays = %d, want 0", got)
		}
	})
}

func TestSyncerIdleStreamReconnects(t *testing.T) {
	h := newHarness(t, WithStreamIdleTimeout(20*time.Millisecond))
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") >= 2 })
	if err := h.s.Status().DownloadError; err == nil && h.rec.count(testRetryDelay) == 0 {
		t.Errorf("idle stream: no error and no retry delay")
	}
}

func TestSyncerRequestHeadersAndBody(t *testing.T) {
	h := newHarness(t, WithParams(map[string]any{"team": "a"}), WithAppMetadata(map[string]string{"app": "test"}), WithUserAgent("test-agent/1"))
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	h.fs.mu.Lock()
	hdr, body := h.fs.headers[0], string(h.fs.bodies[0])
	h.fs.mu.Unlock()
	if got := hdr.Get("Authorization"); got != "Token tok-1" {
		t.Errorf("Authorization = %q", got)
	}
	if got := hdr.Get("Accept"); got != contentNDJSON {
		t.Errorf("Accept = %q", got)
	}
	if got := hdr.Get("User-Agent"); got != "test-agent/1" {
		t.Errorf("User-Agent = %q", got)
	}
	if !strings.Contains(body, `"team":"a"`) || !strings.Contains(body, `"app":"test"`) {
		t.Errorf("body = %s", body)
	}
	h.eng.mu.Lock()
	req := h.eng.start[0]
	h.eng.mu.Unlock()
	if !req.IncludeDefaults || req.CheckpointMode != modeLegacy {
		t.Errorf("start request = %+v", req)
	}
}

func TestSyncerLifecycle(t *testing.T) {
	t.Run("Run returns when ctx ends", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- h.s.Run(ctx) }()
		h.waitStatus(t, "connected", connected)
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
		if st := h.s.Status(); st.Connected || st.Connecting {
			t.Errorf("status after Run: %v", st)
		}
		h.eng.waitCalls(t, func(c []string) bool { return slices.Contains(c, "stop") })
	})
	t.Run("Run returns nil after Disconnect", func(t *testing.T) {
		h := newHarness(t)
		errc := make(chan error, 1)
		go func() { errc <- h.s.Run(t.Context()) }()
		h.waitStatus(t, "connected", connected)
		if err := h.s.Disconnect(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	})
	t.Run("Close", func(t *testing.T) {
		h := newHarness(t)
		h.s.Connect(t.Context())
		h.waitStatus(t, "connected", connected)
		iterDone := make(chan struct{})
		go func() {
			for range h.s.Statuses(context.Background()) {
			}
			close(iterDone)
		}()
		if err := h.s.Close(); err != nil {
			t.Fatal(err)
		}
		<-iterDone
		if err := h.s.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if err := h.s.Connect(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Connect after Close = %v", err)
		}
		if err := h.s.Run(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close = %v", err)
		}
		if _, err := h.s.Subscribe(t.Context(), "s", nil); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe after Close = %v", err)
		}
		if err := h.s.WaitForFirstSync(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("WaitForFirstSync after Close = %v", err)
		}
	})
	t.Run("Connect twice restarts", func(t *testing.T) {
		h := newHarness(t)
		h.s.Connect(t.Context())
		h.waitStatus(t, "connected", connected)
		h.s.Connect(t.Context())
		h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 2 })
		if got := countPrefix(h.eng.callList(), "stop"); got < 1 {
			t.Errorf("first connection not stopped: %v", h.eng.callList())
		}
	})
}

func TestSyncerSubscriptions(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	if err := h.s.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	sub, err := h.s.Subscribe(ctx, "lists", map[string]any{"owner": "u1"}, SubscriptionTTL(time.Hour), SubscriptionPriority(1))
	if err != nil {
		t.Fatal(err)
	}
	h.eng.waitCalls(t, func(c []string) bool { return slices.Contains(c, `subs:[{"name":"lists","params":{"owner":"u1"}}]`) })
	var ttl, prio int64
	var params string
	if err := h.db.QueryRow(`SELECT ttl, local_priority, local_params FROM ps_stream_subscriptions WHERE stream_name = 'lists'`).Scan(&ttl, &prio, &params); err != nil {
		t.Fatal(err)
	}
	if ttl != 3600 || prio != 1 || params != `{"owner":"u1"}` {
		t.Errorf("stored subscription ttl %d priority %d params %s", ttl, prio, params)
	}
	// A second handle on the same stream changes nothing; releasing both does.
	sub2, _ := h.s.Subscribe(ctx, "lists", map[string]any{"owner": "u1"})
	sub.Unsubscribe()
	sub.Unsubscribe()
	if got := countPrefix(h.eng.callList(), "subs:[]"); got != 0 {
		t.Errorf("stream released while still held")
	}
	sub2.Unsubscribe()
	h.eng.waitCalls(t, func(c []string) bool { return slices.Contains(c, "subs:[]") })

	// Held streams are part of the next start.
	sub3, _ := h.s.Subscribe(ctx, "items", nil)
	defer sub3.Unsubscribe()
	h.s.Connect(ctx)
	h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "start") == 2 })
	h.eng.mu.Lock()
	active := h.eng.start[1].ActiveStreams
	h.eng.mu.Unlock()
	if len(active) != 1 || active[0].Name != "items" || string(active[0].Params) != "null" {
		t.Errorf("active streams at start = %+v", active)
	}
	if err := h.s.UnsubscribeAll(ctx, "lists", map[string]any{"owner": "u1"}); err != nil {
		t.Fatal(err)
	}
	var n int
	h.db.QueryRow(`SELECT count(*) FROM ps_stream_subscriptions WHERE stream_name = 'lists' AND ttl IS NOT NULL`).Scan(&n)
	if n != 0 {
		t.Error("UnsubscribeAll kept the explicit subscription")
	}
}

func TestDisconnectAndClear(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepLocalOnly=%v", keep), func(t *testing.T) {
			h := newHarness(t)
			ctx := t.Context()
			clientID, _ := ClientID(ctx, h.db)
			exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
			exec(t, h.db, `INSERT INTO drafts(id, body) VALUES ('d', 'x')`)
			exec(t, h.db, `INSERT INTO ps_sync_state(priority, last_synced_at) VALUES (2147483647, 1)`)
			b, _ := GetCrudBatch(ctx, h.db, 1)
			RejectCrud(ctx, h.db, errors.New("no"), b.Entries[0])
			exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('b', 'y')`)
			if err := h.s.reloadOfflineStatus(ctx); err != nil {
				t.Fatal(err)
			}
			if !h.s.Status().HasSynced {
				t.Fatal("setup: not synced")
			}
			h.s.Connect(ctx)
			h.waitStatus(t, "connected", connected)
			if err := h.s.DisconnectAndClear(ctx, ClearOptions{KeepLocalOnly: keep}); err != nil {
				t.Fatal(err)
			}
			st := h.s.Status()
			if st.HasSynced || st.Connected || st.Connecting {
				t.Errorf("status after clear: %v", st)
			}
			count := func(q string) int {
				var n int
				if err := h.db.QueryRow(q).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(`SELECT count(*) FROM todos`); n != 0 {
				t.Errorf("todos left: %d", n)
			}
			if n := queueLen(t, h.db); n != 0 {
				t.Errorf("upload queue left: %d", n)
			}
			if n := count(`SELECT count(*) FROM ps_sync_state`); n != 0 {
				t.Errorf("sync state left: %d", n)
			}
			wantDrafts := 0
			if keep {
				wantDrafts = 1
			}
			if n := count(`SELECT count(*) FROM drafts`); n != wantDrafts {
				t.Errorf("drafts = %d, want %d", n, wantDrafts)
			}
			if rej, _ := RejectedCrud(ctx, h.db); len(rej) != 0 {
				t.Errorf("rejected entries left: %v", rej)
			}
			if id, _ := ClientID(ctx, h.db); id != clientID {
				t.Errorf("client id changed")
			}
			// The syncer can connect again.
			h.s.Connect(ctx)
			h.waitStatus(t, "connected", connected)
		})
	}
}

// TestDisconnectAndClearRawTables: with the production state machine, a raw
// table is emptied by its Clear statement, as schema.RawTable documents.
func TestDisconnectAndClearRawTables(t *testing.T) {
	ctx := t.Context()
	sch := testSchema().WithRawTables(schema.RawTable{Name: "users", TableName: "local_users", Clear: `DELETE FROM local_users`})
	conn, err := driver.NewConnector(filepath.Join(t.TempDir(), "raw.db"), driver.WithSchema(sch))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	exec(t, db, `CREATE TABLE local_users(id TEXT PRIMARY KEY, name TEXT)`)
	exec(t, db, `INSERT INTO local_users VALUES ('u1', 'a')`)
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	s, err := New(db, ConnectorFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.DisconnectAndClear(ctx, ClearOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"local_users", "todos", "ps_crud"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s: %d rows left", table, n)
		}
	}
}
