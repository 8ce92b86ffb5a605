package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	psdriver "github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	"modernc.org/sqlite"
)

func todoSchema() *schema.Schema {
	return schema.New(
		schema.Table{
			Name:    "todos",
			Columns: []schema.Column{schema.Text("description"), schema.Integer("completed"), schema.Text("list_id")},
			Indexes: []schema.Index{schema.IndexOn("list", "list_id")},
		},
		schema.Table{
			Name:               "lists",
			Columns:            []schema.Column{schema.Text("name")},
			TrackMetadata:      true,
			IgnoreEmptyUpdates: true,
		},
		schema.Table{Name: "drafts", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true},
		schema.Table{Name: "logs", Columns: []schema.Column{schema.Text("msg")}, InsertOnly: true},
	)
}

func openDB(t *testing.T, path string, s *schema.Schema) *sql.DB {
	t.Helper()
	c, err := psdriver.NewConnector(path, psdriver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	r, err := db.ExecContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type crudRow struct {
	id, tx int64
	data   string
}

func crudRows(t *testing.T, db *sql.DB) []crudRow {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT id, tx_id, data FROM ps_crud ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []crudRow
	for rows.Next() {
		var r crudRow
		if err := rows.Scan(&r.id, &r.tx, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// The wrapper must offer database/sql exactly the optional interfaces that
// modernc.org/sqlite's connection, statement and rows offer: one more would
// promise behaviour modernc lacks, one fewer would hide a fast path.
func TestWrapperKeepsModerncInterfaces(t *testing.T) {
	connIfaces := []reflect.Type{
		reflect.TypeFor[driver.ConnBeginTx](), reflect.TypeFor[driver.ConnPrepareContext](),
		reflect.TypeFor[driver.ExecerContext](), reflect.TypeFor[driver.QueryerContext](),
		reflect.TypeFor[driver.Execer](), reflect.TypeFor[driver.Queryer](),
		reflect.TypeFor[driver.Pinger](), reflect.TypeFor[driver.SessionResetter](),
		reflect.TypeFor[driver.Validator](), reflect.TypeFor[driver.NamedValueChecker](),
	}
	stmtIfaces := []reflect.Type{
		reflect.TypeFor[driver.StmtExecContext](), reflect.TypeFor[driver.StmtQueryContext](),
		reflect.TypeFor[driver.NamedValueChecker](), reflect.TypeFor[driver.ColumnConverter](),
	}
	rowsIfaces := []reflect.Type{
		reflect.TypeFor[driver.RowsColumnTypeDatabaseTypeName](), reflect.TypeFor[driver.RowsColumnTypeLength](),
		reflect.TypeFor[driver.RowsColumnTypeNullable](), reflect.TypeFor[driver.RowsColumnTypePrecisionScale](),
		reflect.TypeFor[driver.RowsColumnTypeScanType](), reflect.TypeFor[driver.RowsNextResultSet](),
	}
	implemented := func(v any, ifaces []reflect.Type) []string {
		var out []string
		for _, it := range ifaces {
			if reflect.TypeOf(v).Implements(it) {
				out = append(out, it.String())
			}
		}
		return out
	}
	dir := t.TempDir()
	ctx := t.Context()
	inner, err := (&sqlite.Driver{}).Open(filepath.Join(dir, "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	c, err := psdriver.NewConnector(filepath.Join(dir, "ps.db"))
	if err != nil {
		t.Fatal(err)
	}
	outer, err := c.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()

	compare := func(what string, a, b any, ifaces []reflect.Type) {
		t.Helper()
		if got, want := implemented(b, ifaces), implemented(a, ifaces); !slices.Equal(got, want) {
			t.Errorf("%s: wrapper implements %v, modernc implements %v", what, got, want)
		}
	}
	compare("conn", inner, outer, connIfaces)

	prep := func(c driver.Conn) driver.Stmt {
		s, err := c.(driver.ConnPrepareContext).PrepareContext(ctx, "SELECT 1 AS x")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	si, so := prep(inner), prep(outer)
	defer si.Close()
	defer so.Close()
	compare("stmt", si, so, stmtIfaces)

	query := func(s driver.Stmt) driver.Rows {
		r, err := s.(driver.StmtQueryContext).QueryContext(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ri, ro := query(si), query(so)
	defer ri.Close()
	defer ro.Close()
	compare("rows", ri, ro, rowsIfaces)

	if u, ok := outer.(interface{ Unwrap() driver.Conn }); !ok || u.Unwrap() == nil {
		t.Error("the wrapper has no Unwrap returning the modernc connection")
	}
}

func TestRowsAffectedThroughViews(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	tests := []struct {
		q    string
		want int64
	}{
		{`INSERT INTO todos(id, description) VALUES ('a', 'x'), ('b', 'y'), ('c', 'z')`, 3},
		{`UPDATE todos SET completed = 1 WHERE id IN ('a', 'b')`, 2},
		{`UPDATE todos SET completed = 1 WHERE id = 'missing'`, 0},
		{`DELETE FROM todos WHERE id = 'c'`, 1},
		{`INSERT INTO drafts(id, body) VALUES ('d', 'local')`, 1},
		{`INSERT INTO logs(id, msg) VALUES ('l1', 'a'), ('l2', 'b')`, 2},
		{`UPDATE lists SET name = 'n' WHERE id = 'none'`, 0},
	}
	for _, tt := range tests {
		if got := exec(t, db, tt.q); got != tt.want {
			t.Errorf("%s: RowsAffected = %d, want %d", tt.q, got, tt.want)
		}
	}
	// Prepared statements report the same.
	st, err := db.PrepareContext(t.Context(), `UPDATE todos SET description = ? WHERE id = ?`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.ExecContext(t.Context(), "new", "a")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.RowsAffected(); n != 1 {
		t.Errorf("prepared UPDATE: RowsAffected = %d, want 1", n)
	}
}

func TestWriteCaptureTransactions(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	ctx := t.Context()
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('a', 'x')`)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO todos(id, description) VALUES ('b', 'y')`,
		`UPDATE todos SET completed = 1 WHERE id = 'a'`,
		`INSERT INTO drafts(id, body) VALUES ('d', 'z')`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// A rolled back transaction leaves no entry and consumes no id.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM todos WHERE id = 'a'`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `DELETE FROM todos WHERE id = 'b'`)

	want := []crudRow{
		{1, 1, `{"op":"PUT","id":"a","type":"todos","data":{"description":"x"}}`},
		{2, 2, `{"op":"PUT","id":"b","type":"todos","data":{"description":"y"}}`},
		{3, 2, `{"op":"PATCH","id":"a","type":"todos","data":{"completed":1}}`},
		{4, 3, `{"op":"DELETE","id":"b","type":"todos"}`},
	}
	if got := crudRows(t, db); !slices.Equal(got, want) {
		t.Errorf("ps_crud:\n got %v\nwant %v", got, want)
	}
	var gate int64
	if err := db.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'target_checkpoint_request_id'`).Scan(&gate); err != nil || gate != 9223372036854775807 {
		t.Errorf("local-write gate = %d, %v; want MAX_OP_ID", gate, err)
	}
}

func TestIdChecks(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('a', 'x')`)
	for _, tt := range []struct{ q, msg string }{
		{`INSERT INTO todos(description) VALUES ('x')`, "id is required"},
		{`INSERT INTO todos(id, description) VALUES (1, 'x')`, "id should be text"},
		{`UPDATE todos SET id = 'b' WHERE id = 'a'`, "Cannot update id"},
	} {
		_, err := db.ExecContext(t.Context(), tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want %q", tt.q, err, tt.msg)
		}
		var se *sqlite.Error
		if !errors.As(err, &se) {
			t.Errorf("%s: the *sqlite.Error is not reachable with errors.As", tt.q)
		}
	}
	if got := len(crudRows(t, db)); got != 1 {
		t.Errorf("failed writes left %d upload entries, want 1", got)
	}
}

func TestHubNotifiesAfterCommitOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db := openDB(t, path, todoSchema())
	ctx := t.Context()
	hub, err := psdriver.HubOf(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	sub := hub.Subscribe()
	defer sub.Close()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := sub.Take(); len(got) != 0 {
		t.Fatalf("rollback notified %v", got)
	}
	select {
	case <-sub.C:
		t.Fatal("rollback signalled the subscription")
	default:
	}

	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	if got := sub.Take(); len(got) != 0 {
		t.Fatalf("uncommitted write notified %v", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	<-sub.C
	got := sub.Take()
	for _, want := range []string{"ps_data__todos", "ps_crud"} {
		if _, ok := got[want]; !ok {
			t.Errorf("commit notified %v, missing %s", got, want)
		}
	}

	// A second *sql.DB on the same file shares the hub.
	other := openDB(t, path, todoSchema())
	exec(t, other, `INSERT INTO drafts(id) VALUES ('d')`)
	<-sub.C
	if _, ok := sub.Take()["ps_data_local__drafts"]; !ok {
		t.Error("a write through another *sql.DB on the same file was not seen")
	}
}

func TestUpdateSchemaKeepsRows(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	ctx := t.Context()
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('a', 'x')`)
	// Simulate a synced row: written by the sync client straight into storage.
	exec(t, db, `INSERT INTO ps_data__lists(id, data) VALUES ('l1', '{"name":"groceries"}')`)

	without := schema.New(todoSchema().Tables[0])
	if err := psdriver.UpdateSchema(ctx, db, without); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `SELECT * FROM lists`); err == nil {
		t.Fatal("the lists view still exists after it left the schema")
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_untyped WHERE type = 'lists'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("ps_untyped holds %d lists rows (%v), want 1", n, err)
	}
	if err := psdriver.UpdateSchema(ctx, db, todoSchema()); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := db.QueryRowContext(ctx, `SELECT name FROM lists WHERE id = 'l1'`).Scan(&name); err != nil || name != "groceries" {
		t.Fatalf("after the table returned: name = %q, %v", name, err)
	}
	var desc string
	if err := db.QueryRowContext(ctx, `SELECT description FROM todos WHERE id = 'a'`).Scan(&desc); err != nil || desc != "x" {
		t.Fatalf("todos row lost: %q, %v", desc, err)
	}

	// Applying the same schema again changes nothing.
	var before, after int
	if err := db.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := psdriver.UpdateSchema(ctx, db, todoSchema()); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Errorf("re-applying the same schema changed schema_version %d -> %d", before, after)
	}
}

func TestInvalidSchemaIsRefused(t *testing.T) {
	bad := schema.New(schema.Table{Name: "t", Columns: []schema.Column{schema.Text("id")}})
	c, err := psdriver.NewConnector(filepath.Join(t.TempDir(), "a.db"), psdriver.WithSchema(bad))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	err = db.PingContext(t.Context())
	if !errors.Is(err, schema.ErrInvalidSchema) {
		t.Fatalf("err = %v, want schema.ErrInvalidSchema", err)
	}
}

func TestNewerLayoutIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db := openDB(t, path, todoSchema())
	exec(t, db, `INSERT INTO ps_migration(id, down_migrations) VALUES (15, '[]')`)
	db.Close()
	c, _ := psdriver.NewConnector(path, psdriver.WithSchema(todoSchema()))
	db2 := sql.OpenDB(c)
	defer db2.Close()
	if err := db2.PingContext(context.Background()); !errors.Is(err, psdriver.ErrLayout) {
		t.Fatalf("err = %v, want ErrLayout", err)
	}
}

func TestDSNSchemaRegistration(t *testing.T) {
	psdriver.RegisterSchema("dsn-test", todoSchema())
	db, err := sql.Open(psdriver.DriverName, filepath.Join(t.TempDir(), "a.db")+"?_powersync_schema=dsn-test&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec(t, db, `INSERT INTO todos(id) VALUES ('a')`)
	var fk, timeout int
	var mode string
	db.QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk)
	db.QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&timeout)
	db.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode)
	if fk != 1 || timeout != 5000 || mode != "wal" {
		t.Errorf("foreign_keys=%d busy_timeout=%d journal_mode=%s; want the DSN's pragma kept and the defaults added", fk, timeout, mode)
	}
	// An unknown schema name is reported by sql.Open itself.
	if _, err := sql.Open(psdriver.DriverName, "x.db?_powersync_schema=nope"); err == nil || !strings.Contains(err.Error(), "not registered") {
		t.Errorf("unknown schema name: err = %v", err)
	}
}

// A table both local-only and insert-only is local-only, as in the official
// SDKs: rows are kept and readable, and nothing is queued for upload.
func TestLocalOnlyWinsOverInsertOnly(t *testing.T) {
	s := schema.New(schema.Table{Name: "notes", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true, InsertOnly: true})
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), s)
	exec(t, db, `INSERT INTO notes(id, body) VALUES ('n1', 'kept')`)
	if n := exec(t, db, `UPDATE notes SET body = 'changed' WHERE id = 'n1'`); n != 1 {
		t.Errorf("update: RowsAffected = %d, want 1", n)
	}
	var body string
	if err := db.QueryRowContext(t.Context(), `SELECT body FROM notes WHERE id = 'n1'`).Scan(&body); err != nil || body != "changed" {
		t.Errorf("body = %q, %v", body, err)
	}
	if rows := crudRows(t, db); len(rows) != 0 {
		t.Errorf("local-only writes were queued: %v", rows)
	}
}

// Connections of one in-memory connector may open concurrently.
func TestConcurrentConnectsInMemory(t *testing.T) {
	c, err := psdriver.NewConnector("file:concurrent?mode=memory&cache=shared", psdriver.WithSchema(todoSchema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			conn, err := db.Conn(t.Context())
			if err == nil {
				err = conn.Close()
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestCurrentSchema(t *testing.T) {
	ctx := t.Context()
	first := todoSchema()
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), first)
	if got, err := psdriver.CurrentSchema(ctx, db); err != nil || got != first {
		t.Fatalf("after open: CurrentSchema = %p, %v; want the connector's schema %p", got, err, first)
	}
	second := schema.New(first.Tables[0])
	if err := psdriver.UpdateSchema(ctx, db, second); err != nil {
		t.Fatal(err)
	}
	if got, err := psdriver.CurrentSchema(ctx, db); err != nil || got != second {
		t.Fatalf("after UpdateSchema: CurrentSchema = %p, %v; want %p", got, err, second)
	}

	plain, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := psdriver.CurrentSchema(ctx, plain); !errors.Is(err, psdriver.ErrNotPowerSync) {
		t.Errorf("plain SQLite database: err = %v, want ErrNotPowerSync", err)
	}
}

// An application authorizer sits behind the driver's own: it decides what
// may run, and writes it allows are still recorded for upload exactly.
func TestRegisterAuthorizer(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	register := func(fn sqlite.AuthorizerFn) {
		t.Helper()
		err := conn.Raw(func(dc any) error {
			ar, ok := dc.(sqlite.AuthorizerRegisterer)
			if !ok {
				return errors.New("the connection is not a sqlite.AuthorizerRegisterer")
			}
			return ar.RegisterAuthorizer(fn)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	calls := 0
	register(func(action sqlite.AuthorizerActionCode, arg1, _, _, _ string) sqlite.AuthorizerReturnCode {
		calls++
		if action == sqlite.AuthDelete && arg1 == "ps_data__todos" {
			return sqlite.AuthorizerDeny
		}
		return sqlite.AuthorizerOK
	})
	for _, q := range []string{
		`INSERT INTO todos(id, description) VALUES ('a', 'x')`,
		`UPDATE todos SET completed = 1 WHERE id = 'missing'`, // claims tx id 2, writes nothing
		`INSERT INTO todos(id, description) VALUES ('b', 'y')`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if calls == 0 {
		t.Error("the application authorizer was never consulted")
	}
	if _, err := conn.ExecContext(ctx, `DELETE FROM todos WHERE id = 'a'`); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("DELETE denied by the application: err = %v, want not authorized", err)
	}
	register(nil)
	if _, err := conn.ExecContext(ctx, `DELETE FROM todos WHERE id = 'a'`); err != nil {
		t.Fatalf("DELETE after removing the application authorizer: %v", err)
	}
	want := []crudRow{
		{1, 1, `{"op":"PUT","id":"a","type":"todos","data":{"description":"x"}}`},
		{2, 3, `{"op":"PUT","id":"b","type":"todos","data":{"description":"y"}}`},
		{3, 4, `{"op":"DELETE","id":"a","type":"todos"}`},
	}
	if got := crudRows(t, db); !slices.Equal(got, want) {
		t.Errorf("ps_crud:\n got %v\nwant %v", got, want)
	}
}

func TestConnectionFunctions(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	ctx := t.Context()
	var stored, fromFn, version, u1, u2 string
	if err := db.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'client_id'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT powersync_client_id(), powersync_rs_version(), uuid(), gen_random_uuid()`).Scan(&fromFn, &version, &u1, &u2); err != nil {
		t.Fatal(err)
	}
	if stored == "" || fromFn != stored {
		t.Errorf("powersync_client_id() = %q, ps_kv client_id = %q", fromFn, stored)
	}
	if !strings.HasPrefix(version, "0.5.") {
		t.Errorf("powersync_rs_version() = %q, want a 0.5.x core version", version)
	}
	if len(u1) != 36 || len(u2) != 36 || u1 == u2 {
		t.Errorf("uuid() = %q, gen_random_uuid() = %q; want two distinct UUIDs", u1, u2)
	}
}

func TestWithLoggerReportsSchemaChanges(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := psdriver.NewConnector(filepath.Join(t.TempDir(), "a.db"), psdriver.WithSchema(todoSchema()), psdriver.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="powersync: created table" table=todos`, `msg="powersync: created view" view=todos`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

// INSERT OR IGNORE of an id that exists leaves the row alone, and must queue
// nothing: the official core queues a PUT of only the given columns, which
// would replace the whole row on the server and lose its other columns. Rows
// of the same statement that are new are inserted and queued as usual.
func TestInsertOrIgnoreExistingRowQueuesNothing(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "ignore.db"), todoSchema())
	exec(t, db, `INSERT INTO todos(id, description, completed) VALUES ('a', 'keep me', 1)`)
	if n := exec(t, db, `INSERT OR IGNORE INTO todos(id, description) VALUES ('a', 'ignored'), ('b', 'new')`); n != 1 {
		t.Errorf("RowsAffected = %d, want 1 (only the new row)", n)
	}
	exec(t, db, `INSERT OR IGNORE INTO todos(id, description) VALUES ('a', 'ignored again')`)
	var desc string
	var completed int
	if err := db.QueryRowContext(t.Context(), `SELECT description, completed FROM todos WHERE id = 'a'`).Scan(&desc, &completed); err != nil {
		t.Fatal(err)
	}
	if desc != "keep me" || completed != 1 {
		t.Errorf("row a = (%q, %d), want it unchanged", desc, completed)
	}
	// Each statement still uses up a transaction id, as on the core.
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('c', 'next')`)
	var got []string
	for _, r := range crudRows(t, db) {
		got = append(got, fmt.Sprintf("%d %s", r.tx, r.data))
	}
	want := []string{
		`1 {"op":"PUT","id":"a","type":"todos","data":{"completed":1,"description":"keep me"}}`,
		`2 {"op":"PUT","id":"b","type":"todos","data":{"description":"new"}}`,
		`4 {"op":"PUT","id":"c","type":"todos","data":{"description":"next"}}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("ps_crud =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConnectorCloseReleasesState: every connector of a file adds to the
// file's shared state, and DB.Close (through Connector.Close) takes it out
// again, so opening and closing databases does not grow the process.
func TestConnectorCloseReleasesState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	var conns []*psdriver.Connector
	for range 3 {
		c, err := psdriver.NewConnector(path, psdriver.WithSchema(todoSchema()))
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(c)
		if err := db.PingContext(t.Context()); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if got := psdriver.PreparedConnectors(c); got != len(conns) {
			t.Fatalf("after opening %d databases: %d connectors hold state", len(conns), got)
		}
		if len(conns) == 3 {
			db.Close()
			if got := psdriver.PreparedConnectors(c); got != 2 {
				t.Errorf("after DB.Close: %d connectors hold state, want 2", got)
			}
		} else {
			t.Cleanup(func() { db.Close() })
		}
	}
	for _, c := range conns[:2] {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := psdriver.PreparedConnectors(conns[0]); got != 0 {
		t.Errorf("after closing every connector: %d hold state", got)
	}
	// A closed connector still works: it prepares the file again.
	db := sql.OpenDB(conns[0])
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), `INSERT INTO todos(id, description) VALUES ('a', 'x')`); err != nil {
		t.Fatal(err)
	}
	if got := psdriver.PreparedConnectors(conns[0]); got != 1 {
		t.Errorf("after reusing a closed connector: %d hold state, want 1", got)
	}
}

// Every transaction with an upload entry clears the checkpoint request ids
// a sync left (the first entry does it for the transaction), and one whose
// writes leave no entry keeps them.
func TestLocalWritesClearCheckpointRequestIDs(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), todoSchema())
	seen := func() int {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_kv WHERE key IN ('last_seen_checkpoint_request_id', 'last_applied_checkpoint_request_id')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	leave := func() { // what a sync that reached a write checkpoint leaves
		exec(t, db, `INSERT OR REPLACE INTO ps_kv(key, value) VALUES ('last_seen_checkpoint_request_id', 7), ('last_applied_checkpoint_request_id', 7)`)
	}
	for round := range 3 {
		leave()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (?, 'x')`, fmt.Sprintf("r%d-%d", round, i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if n := seen(); n != 0 {
			t.Fatalf("round %d: %d checkpoint request ids left after a local write", round, n)
		}
	}
	// A delete of nothing writes no entry and leaves them.
	leave()
	exec(t, db, `DELETE FROM todos WHERE id = 'none'`)
	if n := seen(); n != 2 {
		t.Fatalf("%d checkpoint request ids after a write of nothing, want 2", n)
	}
}
