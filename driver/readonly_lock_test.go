package driver_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// A read-only transaction takes no write lock: it begins while a write
// transaction is open, and after it ends a writer is not kept waiting.
func TestReadOnlyTxTakesNoWriteLock(t *testing.T) {
	s := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title")}})
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	// A generous deadline so that a regression fails instead of hanging.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for range 3 {
		w, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only begin while a write transaction is open: %v", err)
		}
		var n int
		if err := r.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := r.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ExecContext(ctx, `INSERT INTO todos (id, title) VALUES (uuid(), 'x')`); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		// The lock is free: an autocommit write goes through.
		if _, err := db.ExecContext(ctx, `INSERT INTO todos (id, title) VALUES (uuid(), 'y')`); err != nil {
			t.Fatalf("write after the read-only transaction: %v", err)
		}
	}
}
