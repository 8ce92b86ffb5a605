package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

// A photo attached on one client arrives on a second one: the todo row
// through the service, the file through the shared photo directory.
func TestPhotoReachesSecondClient(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	const user = "0f0e0d0c-0b0a-4908-8706-050403020100"
	if err := srv.SetRow("lists", "l1", map[string]any{"name": "Work", "owner_id": user}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(&fakeBackend{srv: srv, user: user})
	defer hs.Close()
	photos := filepath.Join(t.TempDir(), "bucket")
	picture := bytes.Repeat([]byte("not really a jpeg "), 1000)
	file := filepath.Join(t.TempDir(), "picnic.jpg")
	if err := os.WriteFile(file, picture, 0o644); err != nil {
		t.Fatal(err)
	}
	client := func(db, commands string) string {
		cfg := config{backend: hs.URL, user: user, once: true, retryDelay: 50 * time.Millisecond, photos: photos, dbPath: db}
		var out, errOut bytes.Buffer
		if err := run(t.Context(), cfg, strings.NewReader(commands), &out, &errOut); err != nil {
			t.Fatalf("run: %v\n%s%s", err, out.String(), errOut.String())
		}
		return out.String()
	}
	out := client(filepath.Join(t.TempDir(), "one.db"), "add Work picnic\nphoto picnic "+file+"\n")
	if !strings.Contains(out, "attached to") || !strings.Contains(out, "photos: none queued") {
		t.Fatalf("first client:\n%s", out)
	}
	second := filepath.Join(t.TempDir(), "two.db")
	out = client(second, "wait\nphotos\n")
	if !strings.Contains(out, `"picnic": photo`) || !strings.Contains(out, "synced, 17.6 KiB") {
		t.Fatalf("second client:\n%s", out)
	}
	entries, err := os.ReadDir(second + "-attachments")
	if err != nil || len(entries) != 1 {
		t.Fatalf("second client's photo files: %v, %v", entries, err)
	}
	got, _ := os.ReadFile(filepath.Join(second+"-attachments", entries[0].Name()))
	if !bytes.Equal(got, picture) {
		t.Fatal("the photo differs on the second client")
	}
}
