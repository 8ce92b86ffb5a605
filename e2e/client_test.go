package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
)

// clientSchema is the client schema matching testdata/app.sql.
func clientSchema() *schema.Schema {
	return schema.New(
		schema.Table{Name: "lists", Columns: []schema.Column{
			schema.Text("created_at"), schema.Text("name"), schema.Text("owner_id"),
		}},
		schema.Table{Name: "todos", Columns: []schema.Column{
			schema.Text("list_id"), schema.Text("created_at"), schema.Text("completed_at"),
			schema.Text("description"), schema.Text("created_by"), schema.Text("completed_by"),
			schema.Integer("completed"),
		}},
		schema.Table{Name: "typed", Columns: []schema.Column{
			schema.Text("t_uuid"), schema.Text("t_ts"), schema.Integer("t_bool"), schema.Text("t_num"),
			schema.Integer("t_int"), schema.Real("t_float"), schema.Text("t_text"), schema.Text("t_json"),
			schema.Text("t_date"),
		}},
	)
}

// clientOpts configure a test client.
type clientOpts struct {
	user string // default a new uuid
	// token, when set, returns the token for each credentials fetch.
	token    func() (string, time.Time)
	bson     bool
	requests bool // checkpoint requests instead of write-checkpoint2.json
	opts     []pssync.Option
	// defaults leaves every option at its default but the logger.
	defaults bool
	// schema is the client schema; nil means clientSchema().
	schema *schema.Schema
}

// client is one app instance: a local database and its syncer.
type client struct {
	t      testing.TB
	user   string
	db     *sql.DB
	s      *pssync.Syncer
	logs   *logBuffer
	fetchN func() int
}

func newClient(t testing.TB, o clientOpts) *client {
	t.Helper()
	if o.user == "" {
		o.user = uuid.NewString()
	}
	sch := o.schema
	if sch == nil {
		sch = clientSchema()
	}
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(sch))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	var mu gosync.Mutex
	fetches := 0
	tokenFn := o.token
	if tokenFn == nil {
		tokenFn = func() (string, time.Time) { return svc.token(tokenOpts{sub: o.user}) }
	}
	conn := &pssync.HTTPConnector{
		Credentials: func(ctx context.Context) (*pssync.Credentials, error) {
			mu.Lock()
			fetches++
			mu.Unlock()
			tok, exp := tokenFn()
			return &pssync.Credentials{Endpoint: svc.url, Token: tok, ExpiresAt: exp}, nil
		},
		UploadURL: svc.backendURL + "/api/data",
		Authorize: func(ctx context.Context, req *http.Request) error {
			tok, _ := svc.token(tokenOpts{sub: o.user})
			req.Header.Set("Authorization", "Token "+tok)
			return nil
		},
	}
	logs := &logBuffer{}
	opts := []pssync.Option{
		pssync.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	if !o.defaults {
		opts = append(opts, pssync.WithBSON(o.bson), pssync.WithCheckpointRequests(o.requests),
			pssync.WithRetryDelay(500*time.Millisecond))
	}
	s, err := pssync.New(db, conn, append(opts, o.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("client %s log:\n%s", o.user, logs.tail(60))
		}
	})
	return &client{t: t, user: o.user, db: db, s: s, logs: logs, fetchN: func() int {
		mu.Lock()
		defer mu.Unlock()
		return fetches
	}}
}

func (c *client) connect() {
	c.t.Helper()
	if err := c.s.Connect(context.Background()); err != nil {
		c.t.Fatal(err)
	}
}

// waitSynced waits for the first complete sync.
func (c *client) waitSynced() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.s.WaitForFirstSync(ctx); err != nil {
		c.t.Fatalf("first sync: %v; status %v", err, c.s.Status())
	}
}

// flush waits until the local writes are uploaded and acknowledged.
func (c *client) flush() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.s.Flush(ctx); err != nil {
		c.t.Fatalf("flush: %v; status %v", err, c.s.Status())
	}
}

func (c *client) exec(query string, args ...any) {
	c.t.Helper()
	if _, err := c.db.Exec(query, args...); err != nil {
		c.t.Fatalf("%s: %v", query, err)
	}
}

// crudCount is the number of entries in the upload queue.
func (c *client) crudCount() int {
	c.t.Helper()
	var n int
	if err := c.db.QueryRow("SELECT count(*) FROM ps_crud").Scan(&n); err != nil {
		c.t.Fatal(err)
	}
	return n
}

// waitLimit bounds every wait of the suite: far beyond the 50-250 ms a
// change takes here, so that only a change that never arrives fails.
const waitLimit = 90 * time.Second

// eventually polls cond until it reports true, failing the test with the
// last description when waitLimit passes.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last string
	for {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached after %v: %s", what, waitLimit, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logBuffer keeps a client's log lines.
type logBuffer struct {
	mu    gosync.Mutex
	lines []string
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lines = append(b.lines, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (b *logBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.lines
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (b *logBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.lines {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// pgExec runs a statement on the app database.
func pgExec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := svc.pg.Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("postgres: %s: %v", query, err)
	}
}

// pgInt runs a query returning one integer.
func pgInt(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := svc.pg.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("postgres: %s: %v", query, err)
	}
	return n
}

// serviceTime parses a timestamp as the service sends Postgres timestamptz
// values ("2006-01-02 15:04:05.999999Z").
func serviceTime(s string) (time.Time, error) {
	return time.Parse("2006-01-02 15:04:05.999999999Z07:00", s)
}

func describe(v any) string { return fmt.Sprintf("%v", v) }

// waitReplicated returns once the service has replicated everything
// written to Postgres before the call: it writes a marker list and waits
// until a probe client has it (replication keeps the order of commits).
// It returns the marker's name.
func waitReplicated(t testing.TB) string {
	t.Helper()
	marker := "replicated " + uuid.NewString()
	pgExec(t, "INSERT INTO lists(name) VALUES ($1)", marker)
	p := newClient(t, clientOpts{})
	p.connect()
	eventually(t, "the service replicated the test's rows", func() (bool, string) {
		var n int
		p.db.QueryRow("SELECT count(*) FROM lists WHERE name = ?", marker).Scan(&n)
		return n == 1, p.s.Status().String()
	})
	p.s.Close()
	return marker
}
