package sync_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/schema"
	"github.com/gopowersync/powersync/sqlxutil"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// TestErrorsReadOnce walks errors of every package, made by real calls
// through several layers each, and checks that each message starts with
// "powersync: " and says it only once (see internal/pserr).
func TestErrorsReadOnce(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	todos := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title")}})
	open := func(dsn string) *sql.DB {
		c, err := driver.NewConnector(dsn, driver.WithSchema(todos))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		t.Cleanup(func() { db.Close() })
		return db
	}
	path := filepath.Join(dir, "app.db")
	db := open(path)
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}

	errs := map[string]error{}
	add := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		errs[name] = err
	}

	// driver
	ro, _ := sql.Open(driver.DriverName, path+"?mode=ro")
	t.Cleanup(func() { ro.Close() })
	_, err := ro.ExecContext(ctx, "INSERT INTO todos(id, title) VALUES ('a', 'b')")
	add("driver: write to a read-only database", err)
	_, err = sql.Open(driver.DriverName, path+"?"+driver.SchemaParam+"=nope")
	if err == nil {
		_, err = driver.NewConnector(path + "?" + driver.SchemaParam + "=nope")
	}
	add("driver: unregistered schema", err)
	newer := filepath.Join(dir, "newer.db")
	ndb := open(newer)
	if _, err := ndb.ExecContext(ctx, "INSERT INTO ps_migration(id, down_migrations) VALUES (999, NULL)"); err != nil {
		t.Fatal(err)
	}
	ndb.Close()
	add("driver: newer layout", open(newer).PingContext(ctx))

	// schema
	_, err = schema.Parse([]byte(`{"raw_tables":[]}`))
	add("schema: parse", err)
	bad, err := driver.NewConnector(filepath.Join(dir, "bad.db"), driver.WithSchema(schema.New(schema.Table{Name: "x y"})))
	if err != nil {
		t.Fatal(err)
	}
	add("schema: applied by the driver", sql.OpenDB(bad).PingContext(ctx))

	// sqlxutil
	_, err = sqlxutil.Open(path + "?" + driver.SchemaParam + "=nope")
	add("sqlxutil: open", err)
	_, err = sqlxutil.Get[int](ctx, sqlxutil.NewDB(db), "SELECT nope FROM todos")
	add("sqlxutil: get", err)

	// hooks
	plain, _ := sql.Open("sqlite", filepath.Join(dir, "plain.db"))
	t.Cleanup(func() { plain.Close() })
	_, err = hooks.Listen(ctx, plain, "todos")
	add("hooks: listen on a plain database", err)
	_, err = hooks.QueryTables(ctx, db, "SELECT * FROM nowhere")
	add("hooks: query tables", err)

	// sync: the upload and download paths through the service.
	srv := pstest.NewServer()
	defer srv.Close()
	srv.Inject(pstest.Fault{Path: "/upload", Status: 503, Count: 1 << 30})
	sy, err := pssync.New(db, pssync.DevConnector(srv.URL, func(context.Context) (string, error) {
		return srv.Token("user-1"), nil
	}), pssync.WithRetryDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pssync.New(open(path), pssync.ConnectorFuncs{})
	add("sync: second syncer", err)
	if err := sy.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO todos(id, title) VALUES ('t1', 'x')"); err != nil {
		t.Fatal(err)
	}
	st, err := sy.WaitForStatus(ctx, func(st pssync.Status) bool { return st.UploadError != nil })
	if err != nil {
		t.Fatal(err)
	}
	add("sync: upload error", st.UploadError)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	add("sync: flush", sy.Flush(cctx))
	b, err := pssync.GetCrudBatch(ctx, db, 0)
	if err != nil || b == nil {
		t.Fatalf("GetCrudBatch = %v, %v", b, err)
	}
	add("sync: complete with a bad write checkpoint", b.CompleteWithWriteCheckpoint(ctx, "x"))
	sy.Close()
	_, err = sy.Subscribe(ctx, "s", nil)
	add("sync: subscribe after close", err)

	closed := open(filepath.Join(dir, "closed.db"))
	sy2, err := pssync.New(closed, pssync.ConnectorFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	defer sy2.Close()
	closed.Close()
	_, err = sy2.Subscribe(ctx, "s", nil)
	add("sync: subscribe on a closed database", err)
	add("sync: unsubscribe on a closed database", sy2.UnsubscribeAll(ctx, "s", nil))

	for name, err := range errs {
		msg := err.Error()
		t.Logf("%s: %s", name, msg)
		if !strings.HasPrefix(msg, "powersync: ") || strings.Count(msg, "powersync:") != 1 {
			t.Errorf("%s: %q does not say \"powersync: \" once, at the start", name, msg)
		}
	}
	if !errors.Is(errs["driver: newer layout"], driver.ErrLayout) || !errors.Is(errs["sync: second syncer"], pssync.ErrAlreadySyncing) {
		t.Errorf("the chain lost its sentinels: %v; %v", errs["driver: newer layout"], errs["sync: second syncer"])
	}
}
