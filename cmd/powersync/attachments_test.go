package main

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// attachmentsFile writes a database with an attachments table in three
// states and the local file of one of them.
func attachmentsFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	s := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("photo_id")}}, attachments.Table(""))
	c, err := driver.NewConnector(path, driver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	ts := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	for _, row := range []struct {
		id, name, local string
		state, attempts int
		size            int64
		retry           int64
		lastErr         any
	}{
		{"a1", "cat.jpg", "a1.jpg", 3, 0, 2048, 0, nil},
		{"a2", "dog.jpg", "a2.jpg", 0, 3, 4096, ts + 60_000, "PUT: 503 Service Unavailable"},
		{"a3", "a3", "", 1, 0, 0, 0, nil},
	} {
		_, err := db.Exec(`INSERT INTO attachments (id, timestamp, filename, local_uri, media_type, size, state, has_synced,
			attempts, retry_at, last_error) VALUES (?, ?, ?, ?, 'image/jpeg', ?, ?, 0, ?, ?, ?)`,
			row.id, ts, row.name, row.local, row.size, row.state, row.attempts, row.retry, row.lastErr)
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	os.MkdirAll(path+"-attachments", 0o755)
	os.WriteFile(filepath.Join(path+"-attachments", "a1.jpg"), make([]byte, 2048), 0o644)
	return path
}

func TestAttachmentsCommand(t *testing.T) {
	path := attachmentsFile(t)
	r := runInspection(t, path, []string{"attachments"})
	for _, want := range []string{
		"Attachments (table attachments): 3 attachments, 6.0 KiB: 1 queued_upload, 1 queued_download, 1 synced; 1 waiting to retry after a failure",
		"a1  synced",
		"yes",
		"missing",
		"PUT: 503 Service Unavailable",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runInspection(t, path, []string{"attachments", "--state", "queued_upload", "--json"})
	var out struct {
		Attachments []attachmentRow `json:"attachments"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Attachments) != 1 || out.Attachments[0].ID != "a2" || out.Attachments[0].Attempts != 3 || out.Attachments[0].RetryAt == nil {
		t.Fatalf("filtered: %+v", out.Attachments)
	}
	r = runInspection(t, path, []string{"status"})
	if !strings.Contains(r.stdout, "Attachments:") || !strings.Contains(r.stdout, "1 synced") {
		t.Errorf("status lacks the attachments:\n%s", r.stdout)
	}
}
