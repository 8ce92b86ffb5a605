package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/sqlxutil"
	pssync "github.com/gopowersync/powersync/sync"
)

// Todo is a row of the todos view; the db tags name its columns.
type Todo struct {
	ID          string         `db:"id"`
	ListID      string         `db:"list_id"`
	Description string         `db:"description"`
	Completed   bool           `db:"completed"`
	CompletedAt sql.NullString `db:"completed_at"`
	CompletedBy sql.NullString `db:"completed_by"`
	CreatedAt   string         `db:"created_at"`
	CreatedBy   string         `db:"created_by"`
}

// open opens the PowerSync database at path for sqlx.
func open(path string) (*sqlx.DB, error) {
	c, err := driver.NewConnector(path, driver.WithSchema(todoschema.Schema()))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return sqlxutil.NewDB(sql.OpenDB(c)), nil
}

// nowSQL is the SQL expression for the current time as ISO 8601 text.
const nowSQL = `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`

// now is the current time as ISO 8601 text, for named queries (whose
// parser would take the colons of nowSQL for parameters).
func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// run opens the database at path, works with it through sqlx and prints
// what it saw to w.
func run(ctx context.Context, w io.Writer, path string) error {
	db, err := open(path)
	if err != nil {
		return err
	}
	defer db.Close()

	// A live query: the open todos now, and again after every commit that
	// changes the todos table. iter.Pull lets this program take one result
	// after each write.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next, stop := iter.Pull2(sqlxutil.Watch[string](ctx, db,
		`SELECT description FROM todos WHERE completed = 0 ORDER BY description`))
	defer stop()
	show := func() error {
		open, err, ok := next()
		if !ok {
			return errors.New("watch ended")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "open todos: [%s]\n", strings.Join(open, ", "))
		return nil
	}
	if err := show(); err != nil {
		return err
	}

	// Insert a list; uuid() makes the id and RETURNING reads it back.
	listID, err := sqlxutil.Get[string](ctx, db,
		`INSERT INTO lists (id, created_at, name, owner_id) VALUES (uuid(), `+nowSQL+`, ?, ?) RETURNING id`,
		"Groceries", "user-1")
	if err != nil {
		return fmt.Errorf("insert list: %w", err)
	}

	// Named inserts in one transaction: one commit, one upload transaction.
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	for _, d := range []string{"milk", "bread", "eggs"} {
		_, err := tx.NamedExecContext(ctx,
			`INSERT INTO todos (id, list_id, created_at, description, completed, created_by)
			 VALUES (uuid(), :list_id, :created_at, :description, 0, :created_by)`,
			map[string]any{"list_id": listID, "created_at": now(), "description": d, "created_by": "user-1"})
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("insert todo: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if err := show(); err != nil {
		return err
	}

	// Typed reads.
	milk, err := sqlxutil.Get[Todo](ctx, db, `SELECT * FROM todos WHERE description = ?`, "milk")
	if err != nil {
		return err
	}
	missing, err := sqlxutil.GetOptional[Todo](ctx, db, `SELECT * FROM todos WHERE description = ?`, "butter")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "butter found: %v\n", missing != nil)

	// Update: RowsAffected counts the rows written through the view.
	res, err := db.ExecContext(ctx,
		`UPDATE todos SET completed = 1, completed_at = `+nowSQL+`, completed_by = ? WHERE id = ?`, "user-1", milk.ID)
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	n, _ := res.RowsAffected()
	fmt.Fprintf(w, "completed %d todo\n", n)
	if err := show(); err != nil {
		return err
	}

	// sqlx.In expands a slice into placeholders.
	q, args, err := sqlx.In(`DELETE FROM todos WHERE description IN (?)`, []string{"bread", "eggs"})
	if err != nil {
		return err
	}
	res, err = db.ExecContext(ctx, db.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	n, _ = res.RowsAffected()
	fmt.Fprintf(w, "deleted %d todos\n", n)
	if err := show(); err != nil {
		return err
	}

	all, err := sqlxutil.Select[Todo](ctx, db, `SELECT * FROM todos ORDER BY description`)
	if err != nil {
		return err
	}
	for _, t := range all {
		fmt.Fprintf(w, "todo %s completed=%v completed_at set=%v\n", t.Description, t.Completed, t.CompletedAt.Valid)
	}

	// What a Syncer would upload, one local transaction at a time.
	fmt.Fprintln(w, "upload queue:")
	for tx, err := range pssync.CrudTransactions(ctx, db.DB) {
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "  transaction:")
		for _, e := range tx.Entries {
			fmt.Fprintf(w, "    %s\n", describe(e))
		}
		// A connector would send the entries to the backend here and then
		// call tx.Complete(ctx). This program leaves them queued.
	}
	return nil
}

// describe prints an upload queue entry without its random ids: the
// operation, the table and the columns it carries.
func describe(e pssync.CrudEntry) string {
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := fmt.Sprintf("%-6s %s", e.Op, e.Table)
	if len(keys) > 0 {
		s += " " + strings.Join(keys, ",")
	}
	return s
}

func main() {
	path := flag.String("db", "", "database `file` (default: a new file in a temporary directory)")
	flag.Parse()
	if err := start(*path); err != nil {
		fmt.Fprintln(os.Stderr, "sqlx example:", err)
		os.Exit(1)
	}
}

// start runs the example on path, or on a file in a temporary directory
// that is removed afterwards.
func start(path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "powersync-sqlx")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "todo.db")
	}
	return run(context.Background(), os.Stdout, path)
}
