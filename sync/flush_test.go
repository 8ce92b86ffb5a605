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
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

func flushClient(t *testing.T, srv *pstest.Server) (*sql.DB, *pssync.Syncer) {
	t.Helper()
	s := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title")}})
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	sy, err := pssync.New(db, pssync.DevConnector(srv.URL, func(context.Context) (string, error) {
		return srv.Token("user-1"), nil
	}), pssync.WithRetryDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sy.Close() })
	return db, sy
}

// TestFlush: Flush returns once a local write is uploaded and the
// checkpoint acknowledging it is applied, so a program can exit right
// after it; without a connection it says so instead of waiting.
func TestFlush(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	db, sy := flushClient(t, srv)
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, "INSERT INTO todos(id, title) VALUES ('t1', 'offline')"); err != nil {
		t.Fatal(err)
	}
	if err := sy.Flush(ctx); !errors.Is(err, pssync.ErrNotConnected) {
		t.Fatalf("Flush before Connect = %v, want ErrNotConnected", err)
	}
	if err := sy.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := db.ExecContext(ctx, "UPDATE todos SET title = ? WHERE id = 't1'", strings.Repeat("v", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sy.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var queued int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ps_crud").Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("after Flush: %d queued entries, %v", queued, err)
	}
	row, ok := srv.Row("todos", "t1")
	if !ok || row["title"] != "vvv" {
		t.Fatalf("server row after Flush: %v, %v", row, ok)
	}
	// The acknowledging checkpoint is applied: ps_oplog holds the server's
	// copy of the row.
	var data string
	if err := db.QueryRowContext(ctx, "SELECT data FROM ps_oplog WHERE row_id = 't1'").Scan(&data); err != nil || !strings.Contains(data, "vvv") {
		t.Fatalf("server copy after Flush: %q, %v", data, err)
	}
	// Nothing queued: at once.
	if err := sy.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFlushReportsUploadError: while the backend refuses uploads, Flush
// waits until its context ends and then names the upload error.
func TestFlushReportsUploadError(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	srv.Inject(pstest.Fault{Path: "/upload", Status: 503, Count: 1 << 30})
	db, sy := flushClient(t, srv)
	if err := sy.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO todos(id, title) VALUES ('t1', 'stuck')"); err != nil {
		t.Fatal(err)
	}
	if _, err := sy.WaitForStatus(t.Context(), func(st pssync.Status) bool { return st.UploadError != nil }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := sy.Flush(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "last upload error") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Flush = %v, want the context's error with the upload error", err)
	}
}
