package synccore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A panic inside a control call (a bug reached by some sync line) rolls the
// call back and returns an error: the connection and the write lock are
// released, and the next write to the database goes through.
func TestControlCallPanicRollsBack(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, filepath.Join(t.TempDir(), "db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	_, err := e.run(ctx, true, func(c *call) error {
		if _, err := c.exec("INSERT INTO ps_kv(key, value) VALUES ('panic-test', '1')"); err != nil {
			return err
		}
		var ids []int
		_ = ids[-1+len(ids)] // index out of range
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "index out of range") {
		t.Fatalf("error %v, want the panic as an internal error", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(wctx, "INSERT INTO ps_kv(key, value) VALUES ('after', '1')"); err != nil {
		t.Fatalf("write after the panic: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ps_kv WHERE key = 'panic-test'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("the panicking call's write: %d rows, %v (want rolled back)", n, err)
	}
	if _, err := e.run(ctx, true, func(*call) error { return nil }); err == nil {
		t.Error("the iteration survived the panic")
	}
}
