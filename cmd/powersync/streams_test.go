package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"
	"time"

	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

func TestStreamFlag(t *testing.T) {
	good := []struct {
		arg, name, params string
	}{
		{"my_lists", "my_lists", ""},
		{`list_todos:{"list_id": "a"}`, "list_todos", `{"list_id":"a"}`},
		{` list_todos : {"list_id":"a:b","n":1} `, "list_todos", `{"list_id":"a:b","n":1}`},
		{"s:{}", "s", "{}"},
	}
	for _, tc := range good {
		var f streamFlags
		if err := f.Set(tc.arg); err != nil {
			t.Errorf("Set(%q): %v", tc.arg, err)
			continue
		}
		if len(f) != 1 || f[0].name != tc.name || string(f[0].params) != tc.params {
			t.Errorf("Set(%q) = %+v; want %s %s", tc.arg, f, tc.name, tc.params)
		}
	}
	bad := []struct{ arg, want string }{
		{"", "empty stream name"},
		{`:{"a":1}`, "empty stream name"},
		{"s:", "no parameters after the colon"},
		{"s:[1]", "must be a JSON object"},
		{`s:"x"`, "must be a JSON object"},
		{"s:null", "must be a JSON object"},
		{"s:{bad", "not valid JSON"},
		{`s:{"a":1} {"b":2}`, "not valid JSON"},
	}
	for _, tc := range bad {
		var f streamFlags
		if err := f.Set(tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%q) = %v; want an error with %q", tc.arg, err, tc.want)
		}
	}

	// On the command line: a usage error naming the flag, before anything
	// is opened or connected.
	path := filepath.Join(t.TempDir(), "new.db")
	r := runApp(t, "sync", path, "--schema", schemaPath, "--endpoint", "http://127.0.0.1:1", "--token", "x", "--stream", "list_todos:[1]")
	if r.code != exitUsage || !strings.Contains(r.stderr, `invalid value "list_todos:[1]" for flag -stream: stream list_todos: parameters must be a JSON object`) {
		t.Errorf("bad --stream: exit %d, stderr %q", r.code, r.stderr)
	}
}

// streamService is a pstest service with sync streams: all_lists (default)
// and list_todos, which needs a list_id parameter.
func streamService(t *testing.T) *pstest.Server {
	t.Helper()
	srv := pstest.NewServer(pstest.WithStreams(
		pstest.Stream{Name: "all_lists", Default: true, Buckets: func(pstest.Subscription) ([]string, error) {
			return []string{"all_lists[]"}, nil
		}},
		pstest.Stream{Name: "list_todos", Buckets: func(s pstest.Subscription) ([]string, error) {
			p, _ := s.Parameters.(map[string]any)
			id, ok := p["list_id"].(string)
			if !ok {
				return nil, errors.New("parameter list_id is required")
			}
			return []string{fmt.Sprintf("list_todos[%q]", id)}, nil
		}},
	))
	t.Cleanup(srv.Close)
	if err := srv.Update(func(tx *pstest.Tx) error {
		tx.Put("all_lists[]", "lists", "a", map[string]any{"name": "A"})
		tx.Put("all_lists[]", "lists", "b", map[string]any{"name": "B"})
		tx.Put(`list_todos["a"]`, "todos", "t1", map[string]any{"description": "in a", "list_id": "a"})
		tx.Put(`list_todos["b"]`, "todos", "t2", map[string]any{"description": "in b", "list_id": "b"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestSyncStreams(t *testing.T) {
	srv := streamService(t)
	path := filepath.Join(t.TempDir(), "app.db")
	r := runApp(t, "sync", path, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.Token("u1"),
		"--stream", `list_todos:{"list_id": "a"}`, "--once")
	if r.code != exitOK {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`subscribed to stream list_todos {"list_id":"a"}`,
		`stream list_todos {"list_id":"a"} synced`,
		"stream all_lists synced",
		"first complete sync done",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	st := runInspection(t, path, []string{"status"})
	for _, want := range []string{"todos: 1 row", "lists: 2 rows", `list_todos {"list_id":"a"}: active, subscribed`} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}

	// Another subscription in the next run; the first one is stored in the
	// file and still synced.
	r = runApp(t, "sync", path, "--endpoint", srv.URL, "--token", srv.Token("u1"),
		"--stream", `list_todos:{"list_id":"b"}`, "--once")
	if r.code != exitOK {
		t.Fatalf("second sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`stream list_todos {"list_id":"a"} synced`,
		`stream list_todos {"list_id":"b"} synced`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("second output lacks %q:\n%s", want, r.stdout)
		}
	}
	if st := runInspection(t, path, []string{"status"}); !strings.Contains(st.stdout, "todos: 2 rows") {
		t.Errorf("status after the second sync:\n%s", st.stdout)
	}
}

// TestSyncViewErrors checks that an error is printed when it appears or
// changes and for every new occurrence (each failed connection or upload
// attempt records a new error value, with the same text when it fails the
// same way), and not for later statuses that still carry it.
func TestSyncViewErrors(t *testing.T) {
	refused := func() error {
		return fmt.Errorf("powersync: POST /sync/stream: %w", errors.New(`Post "http://127.0.0.1:1/sync/stream": dial tcp 127.0.0.1:1: connect: connection refused`))
	}
	eof := errors.New("powersync: read sync stream: unexpected EOF")
	unauthorized := &pssync.HTTPError{Op: "POST /sync/stream", StatusCode: 401, Code: "PSYNC_S2101", Message: "Could not find an appropriate key in the keystore"}
	down := func() error {
		return &pssync.HTTPError{Op: "POST http://127.0.0.1:6060/api/data", StatusCode: 500, Message: "database is down"}
	}
	r1, r2, r3, d1, d2 := refused(), refused(), refused(), down(), down()
	steps := []pssync.Status{
		{Connected: true},
		{DownloadError: eof}, // the stream broke
		{Connecting: true, DownloadError: eof},
		{DownloadError: eof}, // the core's "disconnected" before the attempt's error is recorded
		{DownloadError: r1},
		{Connecting: true, DownloadError: r1},
		{DownloadError: r1},
		{DownloadError: r2}, // the same failure again
		{DownloadError: r2}, // no change: nothing printed
		{Connecting: true, DownloadError: r2},
		{DownloadError: r3},
		{DownloadError: unauthorized},
		{Connecting: true, DownloadError: unauthorized},
		{Connected: true},
		{Connected: true, Uploading: true},
		{Connected: true, UploadError: d1},
		{Connected: true, Uploading: true, UploadError: d1},
		{Connected: true, UploadError: d2},
		{Connected: true, UploadError: d2},
		{Connected: true, Uploading: true, UploadError: d2},
		{Connected: true},
	}
	var b bytes.Buffer
	v := newSyncView(&b, false, func() time.Time { return testNow }, true)
	for _, s := range steps {
		v.update(s, -1)
	}
	want := "05:34:05 connected\n" +
		"05:34:05 never synced before\n" +
		"05:34:05 disconnected\n" +
		"05:34:05 download error: " + eof.Error() + "\n" +
		"05:34:05 connecting\n" +
		"05:34:05 disconnected\n" +
		"05:34:05 download error: " + r1.Error() + "\n" +
		"05:34:05 connecting\n" +
		"05:34:05 disconnected\n" +
		"05:34:05 download error: " + r1.Error() + "\n" +
		"05:34:05 connecting\n" +
		"05:34:05 disconnected\n" +
		"05:34:05 download error: " + r1.Error() + "\n" +
		"05:34:05 download error: " + unauthorized.Error() + "\n" +
		"05:34:05 connecting\n" +
		"05:34:05 connected\n" +
		"05:34:05 uploading\n" +
		"05:34:05 upload error: " + d1.Error() + "\n" +
		"05:34:05 uploading\n" +
		"05:34:05 upload error: " + d1.Error() + "\n" +
		"05:34:05 uploading\n"
	if got := b.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

// TestSyncShowsErrors runs sync against a service that fails the first two
// connections and a backend that fails the first two uploads: every failed
// attempt prints the error text, and the sync then completes.
func TestSyncShowsErrors(t *testing.T) {
	srv := newService(t)
	srv.Inject(pstest.Fault{Status: http.StatusServiceUnavailable, Count: 2})
	var mu gosync.Mutex
	failures := 2
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := failures > 0
		if fail {
			failures--
		}
		mu.Unlock()
		if fail {
			http.Error(w, "database is down", http.StatusInternalServerError)
			return
		}
		// Then pass the batch on to the service's upload endpoint.
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, srv.URL+"/upload", bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(backend.Close)

	path := filepath.Join(t.TempDir(), "app.db")
	r := runApp(t, "sync", path, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.Token("u1"), "--retry-delay", "1ms", "--once")
	if r.code != exitOK {
		t.Fatalf("first sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	dlErr := "download error: powersync: POST /sync/stream: HTTP 503 Service Unavailable"
	if n := strings.Count(r.stdout, dlErr); n != 2 {
		t.Errorf("%q printed %d times, want once per failed connection (2):\n%s", dlErr, n, r.stdout)
	}

	driverExec(t, path, "INSERT INTO todos(id, description) VALUES ('t3', 'offline')")
	r = runApp(t, "sync", path, "--endpoint", srv.URL, "--token", srv.Token("u1"), "--upload-url", backend.URL, "--retry-delay", "1ms", "--once")
	if r.code != exitOK {
		t.Fatalf("sync with uploads: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	upErr := "POST " + backend.URL + ": HTTP 500 Internal Server Error: database is down\n"
	if n := strings.Count(r.stdout, upErr); n != 2 || strings.Count(r.stdout, "upload error: ") != 2 {
		t.Errorf("%q printed %d times, want once per failed upload (2):\n%s", upErr, n, r.stdout)
	}
	if got, ok := srv.Row("todos", "t3"); !ok || got["description"] != "offline" {
		t.Errorf("uploaded row t3 = %v, %t", got, ok)
	}
}

// TestSyncViewStreams checks the stream lines: one when a stream first
// syncs in this run, and a warning for a subscription the service left out
// of its checkpoint (the real service does so for an unknown stream).
func TestSyncViewStreams(t *testing.T) {
	before := syncedAt.Add(-time.Hour)
	p := json.RawMessage(`{"list_id":"a"}`)
	steps := []viewState{
		{queued: 0, streams: []pssync.StreamStatus{{Name: "all_lists", Active: true, LastSyncedAt: before}}},
		{connected: true, queued: 0, streams: []pssync.StreamStatus{
			{Name: "all_lists", Active: true, LastSyncedAt: before},
			{Name: "list_todos", Parameters: p, Active: true},
			{Name: "nope", Parameters: json.RawMessage("null")},
		}},
		{connected: true, queued: 0, hasSynced: true, lastSynced: syncedAt, streams: []pssync.StreamStatus{
			{Name: "all_lists", Active: true, LastSyncedAt: syncedAt},
			{Name: "list_todos", Parameters: p, Active: true, LastSyncedAt: syncedAt},
			{Name: "nope", Parameters: json.RawMessage("null"), LastSyncedAt: syncedAt},
		}},
		{connected: true, queued: 0, hasSynced: true, lastSynced: syncedAt.Add(time.Second), streams: []pssync.StreamStatus{
			{Name: "all_lists", Active: true, LastSyncedAt: syncedAt.Add(time.Second)},
			{Name: "list_todos", Parameters: p, Active: true, LastSyncedAt: syncedAt.Add(time.Second)},
			{Name: "nope", Parameters: json.RawMessage("null"), LastSyncedAt: syncedAt.Add(time.Second)},
		}},
	}
	var b bytes.Buffer
	v := newSyncView(&b, false, func() time.Time { return testNow }, false)
	for _, s := range steps {
		v.apply(s)
	}
	want := "05:34:05 never synced before\n" +
		"05:34:05 connected\n" +
		"05:34:05 stream all_lists synced\n" +
		`05:34:05 stream list_todos {"list_id":"a"} synced` + "\n" +
		"05:34:05 stream nope: not in the service's checkpoint (no such stream, or its parameters are wrong)\n" +
		"05:34:05 synced (complete) at 2026-01-02T03:04:05Z\n" +
		"05:34:05 synced (complete) at 2026-01-02T03:04:06Z\n"
	if got := b.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}
