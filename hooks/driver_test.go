package hooks_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/internal/syncop"
	"github.com/gopowersync/powersync/schema"

	_ "modernc.org/sqlite"
)

var testSchema = schema.New(
	schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("description"), schema.Text("list_id"), schema.Integer("done")}},
	schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}},
	schema.Table{Name: "drafts", LocalOnly: true, Columns: []schema.Column{schema.Text("body")}},
)

// openDB opens a PowerSync database in a temporary directory.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func exec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

var unthrottled = hooks.Watcher{Throttle: -1}

func listen(t *testing.T, db *sql.DB, w hooks.Watcher, tables ...string) *hooks.Listener {
	t.Helper()
	l, err := w.Listen(t.Context(), db, tables...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func next(t *testing.T, l *hooks.Listener) []string {
	t.Helper()
	c, err := l.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c.Tables
}

func TestNoNotificationAfterRollback(t *testing.T) {
	db := openDB(t)
	l := listen(t, db, unthrottled, "todos", "lists")

	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `INSERT INTO todos(id, description) VALUES (uuid(), 'rolled back')`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The next notification must be the committed write only.
	exec(t, db, `INSERT INTO lists(id, name) VALUES (uuid(), 'kept')`)
	if got := next(t, l); !slices.Equal(got, []string{"lists"}) {
		t.Fatalf("after rollback and commit: %q, want [lists]", got)
	}
}

func TestNotificationNames(t *testing.T) {
	db := openDB(t)
	exec(t, db, `CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT)`)
	tests := []struct {
		name   string
		tables []string
		write  []string
		want   []string
	}{
		{"all tables, public names", nil,
			[]string{`INSERT INTO todos(id, description) VALUES (uuid(), 'x')`, `INSERT INTO drafts(id, body) VALUES (uuid(), 'y')`, `INSERT INTO notes VALUES (uuid(), 'z')`},
			[]string{"drafts", "notes", "todos"}},
		{"upload queue by its name", []string{"ps_crud"},
			[]string{`INSERT INTO todos(id, description) VALUES (uuid(), 'x')`},
			[]string{"ps_crud"}},
		{"local-only table", []string{"drafts", "lists"},
			[]string{`INSERT INTO drafts(id, body) VALUES (uuid(), 'y')`},
			[]string{"drafts"}},
		{"sync engine write to storage table", []string{"todos"},
			[]string{`INSERT INTO ps_data__todos(id, data) VALUES (uuid(), '{}')`},
			[]string{"todos"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := listen(t, db, unthrottled, tt.tables...)
			tx, err := db.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range tt.write {
				if _, err := tx.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := next(t, l); !slices.Equal(got, tt.want) {
				t.Fatalf("tables %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadAfterNotificationSeesChange(t *testing.T) {
	db := openDB(t)
	l := listen(t, db, unthrottled, "todos")
	for i := range 20 {
		done := make(chan error, 1)
		go func() {
			_, err := db.ExecContext(t.Context(), `INSERT INTO todos(id, description) VALUES (uuid(), ?)`, fmt.Sprint(i))
			done <- err
		}()
		next(t, l)
		var n int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM todos`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != i+1 {
			t.Fatalf("after notification %d: %d rows, want %d", i, n, i+1)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// applyCheckpoint writes n rows into a data table in one transaction, as the
// sync engine applies a checkpoint.
func applyCheckpoint(t testing.TB, db *sql.DB, table string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := syncop.Set(conn, true); err != nil {
		t.Fatal(err)
	}
	defer syncop.Set(conn, false)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO ps_data__`+table+`(id, data) VALUES (?, json_object('description', ?, 'list_id', 'l1'))`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := stmt.ExecContext(ctx, fmt.Sprintf("%s-%d", table, i), fmt.Sprint("item ", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckpointGivesOneUpdate(t *testing.T) {
	db := openDB(t)
	l := listen(t, db, unthrottled, "todos", "lists")
	res, stop := iter.Pull2(unthrottled.Watch(t.Context(), db, `SELECT count(*) AS n FROM todos`))
	defer stop()
	count := func() int64 {
		t.Helper()
		r, err, ok := res()
		if !ok || err != nil {
			t.Fatalf("watch: %v, %v", err, ok)
		}
		return r.Rows[0]["n"].(int64)
	}
	if n := count(); n != 0 {
		t.Fatalf("first count %d", n)
	}

	applyCheckpoint(t, db, "todos", 10_000)

	if got := next(t, l); !slices.Equal(got, []string{"todos"}) {
		t.Fatalf("after checkpoint: %q", got)
	}
	if n := count(); n != 10_000 {
		t.Fatalf("count after checkpoint %d", n)
	}
	// One more write of each table: had the checkpoint given more than one
	// notification, the leftover would come first.
	exec(t, db, `INSERT INTO lists(id, name) VALUES (uuid(), 'marker')`)
	if got := next(t, l); !slices.Equal(got, []string{"lists"}) {
		t.Fatalf("after marker: %q, want [lists]", got)
	}
	exec(t, db, `INSERT INTO todos(id, description) VALUES (uuid(), 'marker')`)
	if n := count(); n != 10_001 {
		t.Fatalf("count after marker %d, want 10001 (an extra result for the checkpoint?)", n)
	}
}

func TestSilentListenerDoesNotBlockWriter(t *testing.T) {
	db := openDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// A listener that never calls Next, an OnChange loop stuck in its body,
	// and a watch nobody pulls after the first result.
	listen(t, db, hooks.Watcher{}, "todos")
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for range hooks.OnChange(ctx, db, "todos") {
			<-release
		}
	})
	res, stop := iter.Pull2(hooks.Watch(ctx, db, `SELECT * FROM todos`))
	defer stop()
	if _, err, _ := res(); err != nil {
		t.Fatal(err)
	}

	const n = 200
	for i := range n {
		exec(t, db, `INSERT INTO todos(id, description) VALUES (uuid(), ?)`, fmt.Sprint(i))
	}
	var got int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&got); err != nil || got != n {
		t.Fatalf("count %d, %v; want %d", got, err, n)
	}
	cancel()
	close(release)
	wg.Wait()
}

func TestNoGoroutineAfterContextEnds(t *testing.T) {
	db := openDB(t)
	// Warm the pool and the hub so that their goroutines count as baseline.
	exec(t, db, `INSERT INTO lists(id, name) VALUES (uuid(), 'warm')`)
	l := listen(t, db, hooks.Watcher{}, "todos")
	l.Close()
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	wg.Go(func() {
		for range hooks.OnChange(ctx, db, "todos") {
		}
	})
	wg.Go(func() {
		for range hooks.Watch(ctx, db, `SELECT * FROM todos`) {
			select {
			case started <- struct{}{}:
			default:
			}
		}
	})
	wg.Go(func() {
		for range (hooks.Watcher{Mode: hooks.ModeDiff}).Watch(ctx, db, `SELECT * FROM todos`) {
			select {
			case started <- struct{}{}:
			default:
			}
		}
	})
	<-started
	<-started
	for i := range 20 {
		exec(t, db, `INSERT INTO todos(id, description) VALUES (uuid(), ?)`, fmt.Sprint(i))
	}
	cancel()
	wg.Wait()

	// database/sql may still be closing connections it took for the
	// cancelled queries; wait for the count to settle.
	for i := 0; runtime.NumGoroutine() > base; i++ {
		if i == 500 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListenNeedsPowerSyncDatabase(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := hooks.Listen(t.Context(), db); !errors.Is(err, driver.ErrNotPowerSync) {
		t.Fatalf("Listen on a plain SQLite database: %v, want driver.ErrNotPowerSync", err)
	}
	for _, err := range (hooks.Watcher{Tables: []string{"x"}}).Watch(t.Context(), db, `SELECT 1`) {
		if !errors.Is(err, driver.ErrNotPowerSync) {
			t.Fatalf("Watch on a plain SQLite database: %v, want driver.ErrNotPowerSync", err)
		}
	}
}
