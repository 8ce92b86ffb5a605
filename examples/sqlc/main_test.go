package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/examples/sqlc/tododb"
	pssync "github.com/gopowersync/powersync/sync"
)

// TestSchemaSQLUpToDate checks that schema.sql is what go generate writes.
func TestSchemaSQLUpToDate(t *testing.T) {
	got, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if want := todoschema.Schema().CreateTableSQL(); string(got) != want {
		t.Errorf("schema.sql is out of date; run go generate ./sqlc in examples/\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// column is a column as PRAGMA table_info reports it, with its type reduced
// to its SQLite affinity: a view reports the affinity of each expression
// ("INT" for CAST(... AS INTEGER)), a table its declared type.
type column struct{ name, affinity string }

// affinity is the SQLite type affinity of a declared type
// (https://sqlite.org/datatype3.html#determination_of_column_affinity).
func affinity(decl string) string {
	d := strings.ToUpper(decl)
	switch {
	case strings.Contains(d, "INT"):
		return "INTEGER"
	case strings.Contains(d, "CHAR"), strings.Contains(d, "CLOB"), strings.Contains(d, "TEXT"):
		return "TEXT"
	case d == "", strings.Contains(d, "BLOB"):
		return "BLOB"
	case strings.Contains(d, "REAL"), strings.Contains(d, "FLOA"), strings.Contains(d, "DOUB"):
		return "REAL"
	}
	return "NUMERIC"
}

// columns returns the columns of each table or view of db whose type is
// kind ("table" or "view"), leaving out PowerSync's own (ps_*).
func columns(t *testing.T, db *sql.DB, kind string) map[string][]column {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT m.name, p.name, p.type
		FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = ? AND m.name NOT LIKE 'ps\_%' ESCAPE '\' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\'
		ORDER BY m.name, p.cid`, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string][]column{}
	for rows.Next() {
		var table, name, typ string
		if err := rows.Scan(&table, &name, &typ); err != nil {
			t.Fatal(err)
		}
		m[table] = append(m[table], column{name, affinity(typ)})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSchemaSQLMatchesViews checks that the tables schema.sql declares, which
// sqlc type-checks against, have the names, columns, column order and types
// of the views the PowerSync schema creates, which the queries run on.
func TestSchemaSQLMatchesViews(t *testing.T) {
	ddl, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	if _, err := plain.ExecContext(t.Context(), string(ddl)); err != nil {
		t.Fatalf("schema.sql does not run on SQLite: %v", err)
	}
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "todo.db"), driver.WithSchema(todoschema.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	ps := sql.OpenDB(c)
	defer ps.Close()

	tables, views := columns(t, plain, "table"), columns(t, ps, "view")
	if len(views) != len(todoschema.Schema().Tables) {
		t.Errorf("the PowerSync database has views %v, want one per schema table", views)
	}
	if !reflect.DeepEqual(tables, views) {
		t.Errorf("schema.sql declares\n%v\nbut the PowerSync views are\n%v", tables, views)
	}
}

// queries returns the named statements of query.sql.
func queries(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("query.sql")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^-- name: (\w+) :\w+\n((?:[^\n]+\n?)+)`)
	m := map[string]string{}
	for _, g := range re.FindAllStringSubmatch(string(b), -1) {
		m[g[1]] = strings.TrimSpace(g[2])
	}
	if len(m) == 0 {
		t.Fatal("no queries found in query.sql")
	}
	return m
}

// TestQueriesCheckAgainstSchemaSQL prepares every query of query.sql on a
// plain SQLite database made from schema.sql, as sqlc's type check would,
// and on a PowerSync database, where the queries really run.
func TestQueriesCheckAgainstSchemaSQL(t *testing.T) {
	ddl, err := os.ReadFile("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := sql.Open("sqlite", ":memory:") // modernc.org/sqlite, registered by its package
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetMaxOpenConns(1)
	if _, err := plain.ExecContext(t.Context(), string(ddl)); err != nil {
		t.Fatalf("schema.sql does not run on SQLite: %v", err)
	}
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "todo.db"), driver.WithSchema(todoschema.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	ps := sql.OpenDB(c)
	defer ps.Close()
	for name, q := range queries(t) {
		t.Run(name, func(t *testing.T) {
			for db, what := range map[*sql.DB]string{plain: "schema.sql", ps: "the PowerSync views"} {
				st, err := db.PrepareContext(t.Context(), q)
				if err != nil {
					t.Errorf("on %s: %v", what, err)
					continue
				}
				st.Close()
			}
		})
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, filepath.Join(t.TempDir(), "todo.db")); err != nil {
		t.Fatal(err)
	}
	want := "completed 1\ndeleted 1\nChores (1 open):\n  [x] dishes\n  [ ] laundry\nqueued for upload: 6 changes\n"
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestQueriesQueueUploads checks the upload queue entries the typed
// queries leave.
func TestQueriesQueueUploads(t *testing.T) {
	ctx := t.Context()
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "todo.db"), driver.WithSchema(todoschema.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	q := tododb.New(db)
	if _, err := q.CreateList(ctx, tododb.CreateListParams{ID: "l1", Name: text("a")}); err != nil {
		t.Fatal(err)
	}
	todo, err := q.CreateTodo(ctx, tododb.CreateTodoParams{ID: "t1", ListID: text("l1"), Description: text("x")})
	if err != nil {
		t.Fatal(err)
	}
	if todo.ID != "t1" || todo.Completed.Int64 != 0 || !todo.Completed.Valid || todo.Description.String != "x" {
		t.Errorf("CreateTodo returned %+v", todo)
	}
	if n, err := q.CompleteTodo(ctx, tododb.CompleteTodoParams{ID: "t1", CompletedBy: text("u")}); err != nil || n != 1 {
		t.Errorf("CompleteTodo = %d, %v; want 1 row", n, err)
	}
	if n, err := q.DeleteTodo(ctx, "t1"); err != nil || n != 1 {
		t.Errorf("DeleteTodo = %d, %v; want 1 row", n, err)
	}
	if n, err := q.DeleteTodo(ctx, "t1"); err != nil || n != 0 {
		t.Errorf("second DeleteTodo = %d, %v; want 0 rows", n, err)
	}
	b, err := pssync.GetCrudBatch(ctx, db, 100)
	if err != nil || b == nil {
		t.Fatalf("GetCrudBatch = %v, %v", b, err)
	}
	var got []string
	for _, e := range b.Entries {
		got = append(got, string(e.Op)+" "+e.Table+" "+e.ID)
	}
	want := []string{"PUT lists l1", "PUT todos t1", "PATCH todos t1", "DELETE todos t1"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("queue = %v, want %v", got, want)
	}
}
