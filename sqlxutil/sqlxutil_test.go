package sqlxutil_test

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/schema"
	"github.com/gopowersync/powersync/sqlxutil"
)

var testSchema = schema.New(
	schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("description"), schema.Integer("done")}},
	schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}},
)

type todo struct {
	ID          string `db:"id"`
	Description string `db:"description"`
	Done        bool   `db:"done"`
}

func openDB(t *testing.T) *sqlx.DB {
	t.Helper()
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	db := sqlxutil.NewDB(sql.OpenDB(c))
	t.Cleanup(func() { db.Close() })
	db.MustExecContext(t.Context(), `INSERT INTO todos(id, description, done) VALUES ('t1', 'buy milk', 0), ('t2', 'walk the dog', 1)`)
	return db
}

func TestGet(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	t.Run("struct", func(t *testing.T) {
		got, err := sqlxutil.Get[todo](ctx, db, `SELECT id, description, done FROM todos WHERE id = ?`, "t2")
		if err != nil || got != (todo{"t2", "walk the dog", true}) {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	})
	t.Run("scalar", func(t *testing.T) {
		n, err := sqlxutil.Get[int](ctx, db, `SELECT count(*) FROM todos`)
		if err != nil || n != 2 {
			t.Fatalf("Get = %d, %v", n, err)
		}
	})
	t.Run("no row", func(t *testing.T) {
		_, err := sqlxutil.Get[todo](ctx, db, `SELECT id, description, done FROM todos WHERE id = ?`, "nope")
		if !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("Get of no row: %v, want sql.ErrNoRows", err)
		}
	})
	t.Run("in a transaction", func(t *testing.T) {
		tx := db.MustBeginTx(ctx, nil)
		defer tx.Rollback()
		tx.MustExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('t3', 'uncommitted')`)
		n, err := sqlxutil.Get[int](ctx, tx, `SELECT count(*) FROM todos`)
		if err != nil || n != 3 {
			t.Fatalf("Get in tx = %d, %v", n, err)
		}
	})
}

func TestGetOptional(t *testing.T) {
	db := openDB(t)
	tests := []struct {
		id   string
		want *todo
	}{
		{"t1", &todo{"t1", "buy milk", false}},
		{"nope", nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, err := sqlxutil.GetOptional[todo](t.Context(), db, `SELECT id, description, done FROM todos WHERE id = ?`, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Fatalf("GetOptional = %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := sqlxutil.GetOptional[todo](t.Context(), db, `SELECT nope FROM todos`); err == nil {
		t.Fatal("GetOptional of a bad query: no error")
	}
}

func TestSelect(t *testing.T) {
	db := openDB(t)
	got, err := sqlxutil.Select[todo](t.Context(), db, `SELECT id, description, done FROM todos ORDER BY id`)
	want := []todo{{"t1", "buy milk", false}, {"t2", "walk the dog", true}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Select = %+v, %v", got, err)
	}
	none, err := sqlxutil.Select[todo](t.Context(), db, `SELECT id, description, done FROM todos WHERE id = 'nope'`)
	if err != nil || len(none) != 0 {
		t.Fatalf("Select of no row = %+v, %v", none, err)
	}
	// sqlx.In expands a slice argument with ? placeholders.
	q, args, err := sqlx.In(`SELECT id, description, done FROM todos WHERE id IN (?) ORDER BY id`, []string{"t1", "t2"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := sqlxutil.Select[todo](t.Context(), db, db.Rebind(q), args...); err != nil || len(got) != 2 {
		t.Fatalf("Select with In = %+v, %v", got, err)
	}
}

func TestOpenWithRegisteredSchema(t *testing.T) {
	driver.RegisterSchema("sqlxutil-test", testSchema)
	db, err := sqlxutil.Open(filepath.Join(t.TempDir(), "app.db") + "?" + driver.SchemaParam + "=sqlxutil-test")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.DriverName() != driver.DriverName || db.Rebind("a = ?") != "a = ?" {
		t.Fatalf("driver %q, rebind %q", db.DriverName(), db.Rebind("a = ?"))
	}
	// Named queries need the bind type.
	if _, err := db.NamedExecContext(t.Context(), `INSERT INTO todos(id, description) VALUES (:id, :description)`, todo{ID: "n1", Description: "named"}); err != nil {
		t.Fatal(err)
	}
	if got, err := sqlxutil.Get[string](t.Context(), db, `SELECT description FROM todos WHERE id = 'n1'`); err != nil || got != "named" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestWatch(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	tests := []struct {
		name string
		mode hooks.Mode
		// want lists the descriptions of each reported result.
		want [][]string
	}{
		// The second write changes nothing the query returns.
		{"every", hooks.ModeEvery, [][]string{{"buy milk", "walk the dog"}, {"buy milk", "walk the dog"}, {"buy milk", "walk the dog", "write tests"}}},
		{"changed", hooks.ModeChanged, [][]string{{"buy milk", "walk the dog"}, {"buy milk", "walk the dog", "write tests"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db.MustExecContext(ctx, `DELETE FROM todos WHERE id = 't3'`)
			w := hooks.Watcher{Throttle: -1, Mode: tt.mode}
			next, stop := iter.Pull2(sqlxutil.WatchWith[todo](ctx, db, w, `SELECT id, description, done FROM todos ORDER BY id`))
			defer stop()
			writes := []string{
				`UPDATE todos SET done = done WHERE id = 't1'`,
				`INSERT INTO todos(id, description, done) VALUES ('t3', 'write tests', 0)`,
			}
			var got [][]string
			for range tt.want {
				rows, err, ok := next()
				if !ok || err != nil {
					t.Fatalf("watch: %v, %v", err, ok)
				}
				var d []string
				for _, r := range rows {
					d = append(d, r.Description)
				}
				got = append(got, d)
				for len(writes) > 0 {
					db.MustExecContext(ctx, writes[0])
					writes = writes[1:]
					if tt.mode == hooks.ModeEvery {
						break
					}
				}
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("results %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWatchTypedDiffUnsupported(t *testing.T) {
	db := openDB(t)
	for _, err := range sqlxutil.WatchWith[todo](t.Context(), db, hooks.Watcher{Mode: hooks.ModeDiff}, `SELECT * FROM todos`) {
		if err == nil {
			t.Fatal("ModeDiff with typed rows: no error")
		}
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	db := openDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	for counts, err := range sqlxutil.Watch[int](ctx, db, `SELECT count(*) FROM todos`) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 1 {
			db.MustExecContext(ctx, `INSERT INTO todos(id, description) VALUES (uuid(), 'x')`)
			continue
		}
		if counts[0] != 3 {
			t.Fatalf("count %d, want 3", counts[0])
		}
		cancel()
	}
	if n != 2 {
		t.Fatalf("%d results, want 2", n)
	}
}
