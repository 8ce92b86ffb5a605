package sync

// Shared rig of the reliability tests (reliability_*_test.go): a pstest
// service, an HTTP transport that records and disturbs sync streams, and
// helpers that wait for the three end-of-test properties every scenario
// checks: no local write lost, no stuck state, convergence.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/sync/pstest"
)

// rlWait bounds every wait of the reliability tests. It is a liveness bound
// (a wedged client fails the test instead of hanging it), not a timing
// assertion: every wait ends as soon as its condition holds.
const rlWait = 90 * time.Second

// rlRetry is the retry delay of the syncers under test.
const rlRetry = 3 * time.Millisecond

// checkNoLeaks fails the test if goroutines started during it are still
// running once every later cleanup (syncers, servers, databases) ran. Call
// it first in a test, before anything registers a cleanup.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(rlWait)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// eventually waits until cond holds, re-checking it every few milliseconds,
// and fails the test with describe() when rlWait passes first.
func eventually(t testing.TB, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(rlWait)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if describe != nil {
				msg = describe()
			}
			t.Fatalf("never: %s\n%s", what, msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// streamReq is one POST /sync/stream a client sent.
type streamReq struct {
	// After is the position the client asked for, per bucket.
	After map[string]int64
}

// frameCut disturbs one sync stream response: after Frames complete lines
// (NDJSON) or documents (BSON) it delivers half of the next one and then
// ends the body with Err (io.ErrUnexpectedEOF for a broken connection,
// io.EOF for a stream that just ends).
type frameCut struct {
	Frames int
	Err    error
}

// recTransport records the sync requests of a client and can hold or cut
// its streams. Other requests pass through.
type recTransport struct {
	base *http.Transport

	mu       gosync.Mutex // guards the fields below
	reqs     []streamReq
	changed  chan struct{} // closed and replaced on every stream request
	hold     chan struct{} // non-nil: stream requests from holdFrom on wait until it is closed
	holdFrom int
	cuts     map[int]*frameCut // by stream request index
}

func newRecTransport() *recTransport {
	return &recTransport{base: &http.Transport{}, changed: make(chan struct{}), cuts: map[int]*frameCut{}}
}

func (rt *recTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/sync/stream" {
		return rt.base.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var parsed struct {
		Buckets []struct {
			Name  string `json:"name"`
			After string `json:"after"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		return nil, fmt.Errorf("rig: sync request body: %w", err)
	}
	sr := streamReq{After: map[string]int64{}}
	for _, b := range parsed.Buckets {
		v, err := strconv.ParseInt(b.After, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rig: bucket %q after %q: %w", b.Name, b.After, err)
		}
		sr.After[b.Name] = v
	}
	rt.mu.Lock()
	idx := len(rt.reqs)
	rt.reqs = append(rt.reqs, sr)
	close(rt.changed)
	rt.changed = make(chan struct{})
	hold, cut := rt.hold, rt.cuts[idx]
	if idx < rt.holdFrom {
		hold = nil
	}
	rt.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	resp, err := rt.base.RoundTrip(out)
	if err == nil && cut != nil && resp.StatusCode == http.StatusOK {
		resp.Body = &cutBody{rc: resp.Body, br: bufio.NewReader(resp.Body), cut: *cut,
			bson: strings.HasPrefix(resp.Header.Get("Content-Type"), contentBSON)}
	}
	return resp, err
}

// holdStreams makes stream requests number from (0-based) and later wait
// until releaseStreams.
func (rt *recTransport) holdStreams(from int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.hold == nil {
		rt.hold = make(chan struct{})
	}
	rt.holdFrom = from
}

func (rt *recTransport) releaseStreams() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.hold != nil {
		close(rt.hold)
		rt.hold = nil
	}
}

// cutStream disturbs the response to stream request number idx (0-based).
func (rt *recTransport) cutStream(idx int, c frameCut) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.cuts[idx] = &c
}

func (rt *recTransport) requests() []streamReq {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.reqs)
}

// waitRequests waits until at least n stream requests were sent.
func (rt *recTransport) waitRequests(t testing.TB, n int) []streamReq {
	t.Helper()
	timer := time.NewTimer(rlWait)
	defer timer.Stop()
	for {
		rt.mu.Lock()
		got, ch := len(rt.reqs), rt.changed
		rt.mu.Unlock()
		if got >= n {
			return rt.requests()
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("only %d of %d sync requests were sent", got, n)
		}
	}
}

// cutBody passes cut.Frames whole frames, then half of the next, then
// cut.Err.
type cutBody struct {
	rc      io.ReadCloser
	br      *bufio.Reader
	cut     frameCut
	bson    bool
	pending []byte
	frames  int
	done    bool
}

func (c *cutBody) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.done {
			return 0, c.cut.Err
		}
		frame, err := c.nextFrame()
		if err != nil {
			return 0, err
		}
		if c.frames == c.cut.Frames {
			frame, c.done = frame[:len(frame)/2], true
		}
		c.frames++
		c.pending = frame
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *cutBody) nextFrame() ([]byte, error) {
	if !c.bson {
		return c.br.ReadBytes('\n')
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		return nil, err
	}
	doc := make([]byte, binary.LittleEndian.Uint32(hdr[:]))
	copy(doc, hdr[:])
	if _, err := io.ReadFull(c.br, doc[4:]); err != nil {
		return nil, err
	}
	return doc, nil
}

func (c *cutBody) Close() error { return c.rc.Close() }

// logSink collects log records of a syncer.
type logSink struct {
	mu   gosync.Mutex // guards msgs
	msgs []string
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.msgs = append(l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSink) WithGroup(string) slog.Handler      { return l }

// has reports whether a record containing sub was logged.
func (l *logSink) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// rig is a pstest service plus the clients of one reliability test.
type rig struct {
	t   *testing.T
	srv *pstest.Server
}

func newRig(t *testing.T, opts ...pstest.Option) *rig {
	t.Helper()
	srv := pstest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return &rig{t: t, srv: srv}
}

// client is one database with its syncer, syncing as user.
type client struct {
	t      *testing.T
	r      *rig
	user   string
	path   string
	db     *sql.DB
	tr     *recTransport
	http   *http.Client
	s      *Syncer
	logs   *logSink
	writes map[string]string // id -> title this client last wrote ("" = deleted)
	wmu    gosync.Mutex      // guards writes
}

// clientOpts configure a client of the rig.
type clientOpts struct {
	path      string    // database file (default: a new file in t.TempDir())
	connector Connector // default: the pstest dev connector
	opts      []Option  // extra syncer options
	user      string    // default testUser
	noSyncer  bool      // open the database only
	wrap      func(*client, Connector) Connector
}

func (r *rig) newClient(co clientOpts) *client {
	t := r.t
	t.Helper()
	if co.user == "" {
		co.user = testUser
	}
	if co.path == "" {
		co.path = filepath.Join(t.TempDir(), "client.db")
	}
	c := &client{t: t, r: r, user: co.user, path: co.path, tr: newRecTransport(), logs: &logSink{}, writes: map[string]string{}}
	c.http = &http.Client{Transport: c.tr}
	t.Cleanup(c.tr.base.CloseIdleConnections)
	t.Cleanup(c.tr.releaseStreams)
	c.db = openDBAt(t, co.path)
	if co.noSyncer {
		return c
	}
	conn := co.connector
	if conn == nil {
		conn = c.devConnector()
	}
	if co.wrap != nil {
		conn = co.wrap(c, conn)
	}
	base := []Option{WithRetryDelay(rlRetry), WithHTTPClient(c.http), WithUploadThrottle(0), WithLogger(slog.New(c.logs))}
	s, err := New(c.db, conn, append(base, co.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c.s = s
	return c
}

// openDBAt opens (or creates) a "powersync" database file with testSchema.
func openDBAt(t testing.TB, path string) *sql.DB {
	t.Helper()
	conn, err := driver.NewConnector(path, driver.WithSchema(testSchema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// devConnector is pstest's development connector with a fresh token per
// fetch, through the client's transport.
func (c *client) devConnector() *HTTPConnector {
	dc := DevConnector(c.r.srv.URL, func(context.Context) (string, error) { return c.r.srv.Token(c.user), nil })
	dc.Client = c.http
	return dc
}

func (c *client) connect() {
	c.t.Helper()
	if err := c.s.Connect(c.t.Context()); err != nil {
		c.t.Fatal(err)
	}
}

// write runs a local write and records the intended row value. title ""
// deletes the row.
func (c *client) write(id, title string) {
	c.t.Helper()
	if err := c.tryWrite(c.t.Context(), id, title); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) tryWrite(ctx context.Context, id, title string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if title == "" {
		_, err = c.db.ExecContext(ctx, `DELETE FROM todos WHERE id = ?`, id)
	} else {
		// Views take no UPSERT: update, and insert when nothing was updated.
		err = inWriteTx(ctx, c.db, "write", func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE todos SET title = ? WHERE id = ?`, title, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				_, err = tx.ExecContext(ctx, `INSERT INTO todos(id, title) VALUES (?, ?)`, id, title)
			}
			return err
		})
	}
	if err == nil {
		c.writes[id] = title
	}
	return err
}

// localRows returns the client's synced todos rows: id -> data JSON text.
func (c *client) localRows() map[string]string {
	c.t.Helper()
	rows, err := c.db.Query(`SELECT id, data FROM ps_data__todos`)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var data sql.NullString
		if err := rows.Scan(&id, &data); err != nil {
			c.t.Fatal(err)
		}
		out[id] = data.String
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// serverRows returns the todos rows the service syncs to the client's user.
func (c *client) serverRows() map[string]string {
	rows := c.r.srv.SyncedRows(c.user)["todos"]
	if rows == nil {
		rows = map[string]string{}
	}
	return rows
}

func (c *client) queue() int {
	c.t.Helper()
	var n int
	if err := c.db.QueryRow(`SELECT count(*) FROM ps_crud`).Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// settled reports whether the status shows a healthy, idle connection.
func settled(st Status) bool {
	return st.Connected && !st.Connecting && !st.Downloading && !st.Uploading && st.HasSynced &&
		st.UploadError == nil && st.DownloadError == nil
}

// converged reports whether the client's queue is empty, its status settled
// and its rows equal the service's.
func (c *client) converged() bool {
	ok, err := c.convergedErr()
	if err != nil {
		c.t.Fatal(err)
	}
	return ok
}

// convergedErr is converged for goroutines other than the test's.
func (c *client) convergedErr() (bool, error) {
	var n int
	if err := c.db.QueryRow(`SELECT count(*) FROM ps_crud`).Scan(&n); err != nil {
		return false, err
	}
	if n != 0 || !settled(c.s.Status()) {
		return false, nil
	}
	rows, err := c.db.Query(`SELECT id, data FROM ps_data__todos`)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	local := map[string]string{}
	for rows.Next() {
		var id string
		var data sql.NullString
		if err := rows.Scan(&id, &data); err != nil {
			return false, err
		}
		local[id] = data.String
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return maps.Equal(local, c.serverRows()), nil
}

func (c *client) describe() string {
	return fmt.Sprintf("status: %v\nqueue: %d\nlocal:  %v\nserver: %v\nlogs (last 10): %v",
		c.s.Status(), c.queue(), c.localRows(), c.serverRows(), c.lastLogs(10))
}

func (c *client) lastLogs(n int) []string {
	c.logs.mu.Lock()
	defer c.logs.mu.Unlock()
	return slices.Clone(c.logs.msgs[max(0, len(c.logs.msgs)-n):])
}

// waitConverged waits for convergence and then checks that no local write
// was lost: every row this client wrote holds, on the service, the value it
// last wrote (or is deleted there). Rows written by others are not checked
// here.
func (c *client) waitConverged() {
	c.t.Helper()
	eventually(c.t, "client converged with the service", c.converged, c.describe)
	c.checkWritesOnServer()
	c.checkIntegrity()
}

// checkWritesOnServer checks that the service holds every value this
// client last wrote.
func (c *client) checkWritesOnServer() {
	c.t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for id, title := range c.writes {
		row, ok := c.r.srv.Row("todos", id)
		switch {
		case title == "" && ok:
			c.t.Errorf("local delete of %s lost: the service still has %v", id, row)
		case title != "" && (!ok || row["title"] != title):
			c.t.Errorf("local write %s=%q lost: the service has %v (exists %v)", id, title, row, ok)
		}
	}
}

// checkIntegrity runs PRAGMA integrity_check and checks the bookkeeping
// invariants between the sync tables.
func (c *client) checkIntegrity() {
	c.t.Helper()
	checkDBIntegrity(c.t, c.db)
}

func checkDBIntegrity(t testing.TB, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check: %q, %v", res, err)
	}
	var orphans int
	if err := db.QueryRow(`SELECT count(*) FROM ps_oplog WHERE bucket NOT IN (SELECT id FROM ps_buckets)`).Scan(&orphans); err != nil || orphans != 0 {
		t.Errorf("oplog entries without a bucket: %d, %v", orphans, err)
	}
	var bad int
	if err := db.QueryRow(`SELECT count(*) FROM ps_buckets WHERE last_applied_op > last_op`).Scan(&bad); err != nil || bad != 0 {
		t.Errorf("buckets applied beyond their downloaded position: %d, %v", bad, err)
	}
}

// bucketPositions returns last_op per bucket from ps_buckets.
func bucketPositions(t testing.TB, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT name, last_op FROM ps_buckets WHERE pending_delete = 0`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var n string
		var v int64
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// seedRows puts n rows "<prefix>0".."<prefix>n-1" on the service.
func (r *rig) seedRows(prefix string, n int) {
	r.t.Helper()
	err := r.srv.Update(func(tx *pstest.Tx) error {
		for i := range n {
			id := prefix + strconv.Itoa(i)
			tx.SetRow("todos", id, map[string]any{"title": "server " + id})
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// gatedConnector delays uploads until open is closed.
type gatedConnector struct {
	Connector
	open chan struct{}
}

func (g gatedConnector) UploadData(ctx context.Context, db *sql.DB) error {
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Connector.UploadData(ctx, db)
}

var errRig = errors.New("rig: injected failure")
