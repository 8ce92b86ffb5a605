package main

// schema.sql from the PowerSync schema, then package tododb from it and
// query.sql (sqlc builds without cgo: CGO_ENABLED=0 go generate is quicker).
//go:generate go run ./schemagen -o schema.sql
//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/examples/sqlc/tododb"
	pssync "github.com/gopowersync/powersync/sync"
)

// text is a non-NULL sql.NullString.
func text(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

// now is the current time as ISO 8601 text.
func now() sql.NullString { return text(time.Now().UTC().Format(time.RFC3339Nano)) }

// run opens the database at path and uses it through the sqlc queries,
// printing what it did to w.
func run(ctx context.Context, w io.Writer, path string) error {
	c, err := driver.NewConnector(path, driver.WithSchema(todoschema.Schema()))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	q := tododb.New(db)

	// A transaction: the list and its todos are one upload transaction.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	qtx := q.WithTx(tx)
	list, err := qtx.CreateList(ctx, tododb.CreateListParams{
		ID: uuid.NewString(), CreatedAt: now(), Name: text("Chores"), OwnerID: text("user-1"),
	})
	if err != nil {
		return fmt.Errorf("create list: %w", err)
	}
	var ids []string
	for _, d := range []string{"dishes", "laundry", "vacuum"} {
		todo, err := qtx.CreateTodo(ctx, tododb.CreateTodoParams{
			ID: uuid.NewString(), ListID: text(list.ID), CreatedAt: now(), Description: text(d), CreatedBy: text("user-1"),
		})
		if err != nil {
			return fmt.Errorf("create todo: %w", err)
		}
		ids = append(ids, todo.ID)
	}
	if err := tx.Commit(); err != nil {
		return err
	}

	n, err := q.CompleteTodo(ctx, tododb.CompleteTodoParams{CompletedAt: now(), CompletedBy: text("user-1"), ID: ids[0]})
	if err != nil {
		return fmt.Errorf("complete: %w", err)
	}
	fmt.Fprintf(w, "completed %d\n", n)
	if n, err = q.DeleteTodo(ctx, ids[2]); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	fmt.Fprintf(w, "deleted %d\n", n)

	got, err := q.GetList(ctx, list.ID)
	if err != nil {
		return err
	}
	todos, err := q.ListTodos(ctx, text(list.ID))
	if err != nil {
		return err
	}
	open, err := q.CountOpenTodos(ctx, text(list.ID))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s (%d open):\n", got.Name.String, open)
	for _, t := range todos {
		mark := " "
		if t.Completed.Int64 == 1 {
			mark = "x"
		}
		fmt.Fprintf(w, "  [%s] %s\n", mark, t.Description.String)
	}

	count, _, err := pssync.UploadQueueStats(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "queued for upload: %d changes\n", count)
	return nil
}

func main() {
	path := flag.String("db", "", "database `file` (default: a new file in a temporary directory)")
	flag.Parse()
	if err := start(*path); err != nil {
		fmt.Fprintln(os.Stderr, "sqlc example:", err)
		os.Exit(1)
	}
}

// start runs the example on path, or on a file in a temporary directory
// that is removed afterwards.
func start(path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "powersync-sqlc")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "todo.db")
	}
	return run(context.Background(), os.Stdout, path)
}
