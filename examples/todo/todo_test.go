package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// testConfig is a config for the embedded service with a little data and
// a short retry delay.
func testConfig(t *testing.T) config {
	return config{
		dbPath:     filepath.Join(t.TempDir(), "todo.db"),
		user:       demoUser,
		archived:   120, // more than one data line of the embedded service
		retryDelay: 50 * time.Millisecond,
	}
}

// TestOnce runs a script in -once mode against the embedded service: the
// todos added, completed and removed locally are on the service afterwards
// and the local lists show the synced state.
func TestOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.once = true
	script := strings.Join([]string{
		"# a comment",
		"add Groceries milk",
		"add Groceries bread",
		"add groceries eggs", // the same list, whatever the case
		"done milk",
		"rm eggs",
		"wait",
		"server ls Groceries",
		"ls Archive",
	}, "\n")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), cfg, strings.NewReader(script), &out, &errOut); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^synced: 2 lists, 123 todos$`), // the first sync
		regexp.MustCompile(`(?m)^new list [0-9a-f]{8} Groceries$`),
		regexp.MustCompile(`(?m)^added [0-9a-f]{8} "milk"$`),
		regexp.MustCompile(`(?m)^done [0-9a-f]{8} "milk"$`),
		regexp.MustCompile(`(?m)^removed [0-9a-f]{8} "eggs"$`),
		regexp.MustCompile(`(?m)^synced: local changes uploaded and synced back$`),
		// The service's rows, after the wait.
		regexp.MustCompile(`(?m)^server: [0-9a-f]{8} Groceries \(2 todos, 1 open\)\nserver:   \[x\] [0-9a-f]{8} milk\nserver:   \[ \] [0-9a-f]{8} bread$`),
		regexp.MustCompile(`(?m)^[0-9a-f]{8} Archive \(120 todos, 0 open\)\n  \[x\] [0-9a-f]{8} archived item 1$`),
		// The final listing: the local database.
		regexp.MustCompile(`(?m)^[0-9a-f]{8} Welcome \(3 todos, 3 open\)$`),
		regexp.MustCompile(`(?m)^[0-9a-f]{8} Archive \(120 todos, 0 open; ls Archive shows them\)$`),
		regexp.MustCompile(`(?m)^[0-9a-f]{8} Groceries \(2 todos, 1 open\)\n  \[x\] [0-9a-f]{8} milk\n  \[ \] [0-9a-f]{8} bread\n\z`),
	} {
		if !want.MatchString(got) {
			t.Errorf("output does not match %s:\n%s", want, got)
		}
	}
	if errOut.Len() > 0 {
		t.Errorf("stderr: %s", errOut.String())
	}

	// The local rows are the synced ones now: the service's versions are in
	// the oplog, and nothing waits for upload.
	c, err := driver.NewConnector(cfg.dbPath, driver.WithSchema(todoschema.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	var synced, queued int
	err = db.QueryRowContext(t.Context(), `
		SELECT (SELECT count(*) FROM ps_oplog o JOIN todos t ON o.row_type = 'todos' AND o.row_id = t.id
		        WHERE json_extract(o.data, '$.description') = t.description
		          AND json_extract(o.data, '$.completed') = t.completed
		          AND t.description IN ('milk', 'bread')),
		       (SELECT count(*) FROM ps_crud)`).Scan(&synced, &queued)
	if err != nil {
		t.Fatal(err)
	}
	if synced != 2 || queued != 0 {
		t.Errorf("%d of milk and bread match their synced server state, %d changes queued; want 2 and 0", synced, queued)
	}
}

// TestOnceFails checks that a failing command ends -once with its error.
func TestOnceFails(t *testing.T) {
	cfg := testConfig(t)
	cfg.once = true
	tests := []struct{ script, want string }{
		{"done nothing-like-this", `done nothing-like-this: no todo "nothing-like-this"`},
		{"frobnicate", `unknown command "frobnicate"`},
		{"add Groceries", "usage: add LIST TEXT"},
	}
	for _, tc := range tests {
		t.Run(tc.script, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), cfg, strings.NewReader(tc.script), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// session drives the interactive app through pipes.
type session struct {
	t     *testing.T
	in    *io.PipeWriter
	lines chan string
	done  chan error

	mu  sync.Mutex // guards all
	all []string   // every line read so far
}

func startSession(t *testing.T, cfg config) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, lines: make(chan string, 1000), done: make(chan error, 1)}
	go func() {
		err := run(t.Context(), cfg, inR, outW, outW)
		outW.Close()
		s.done <- err
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			s.mu.Lock()
			s.all = append(s.all, sc.Text())
			s.mu.Unlock()
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		for range s.lines {
		}
	})
	return s
}

// send writes a command line.
func (s *session) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// expect reads lines until one matches re and returns it.
func (s *session) expect(re string) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("output ended before a line matching %s; output:\n%s", re, s.output())
			}
			if rx.MatchString(line) {
				return line
			}
		case <-s.t.Context().Done():
			return ""
		}
	}
}

func (s *session) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.all, "\n")
}

// TestInteractive syncs, receives a change made on the service live, makes
// local changes and sees them on the service.
func TestInteractive(t *testing.T) {
	s := startSession(t, testConfig(t))
	s.expect(`^synced: 2 lists, 123 todos$`)

	// A change on the service arrives live.
	s.send("server add Welcome hello from afar")
	s.expect(`^server: added [0-9a-f]{8} "hello from afar"$`)
	s.expect(`^live: added [0-9a-f]{8} "hello from afar"$`)

	// Local changes go up; the service has them after "wait".
	s.send("done hello from afar")
	s.expect(`^done [0-9a-f]{8} "hello from afar"$`)
	s.send("add Welcome mine")
	s.expect(`^added [0-9a-f]{8} "mine"$`)
	s.send("wait")
	s.expect(`^synced: local changes uploaded and synced back$`)
	s.send("server ls Welcome")
	s.expect(`^server:   \[x\] [0-9a-f]{8} hello from afar$`)
	s.expect(`^server:   \[ \] [0-9a-f]{8} mine$`)
	s.send("status")
	s.expect(`^status: connected, last synced`)
	s.expect(`^upload queue: 0 changes, 0 bytes; set aside by the backend: 0$`)
	s.send("rm Welcome")
	s.expect(`^removed list [0-9a-f]{8} Welcome and 5 todos$`)
	s.send("quit")
	if err := <-s.done; err != nil {
		t.Fatal(err)
	}
	// The app's own changes are not reported as arriving.
	for _, own := range []string{`(?m)^live: added [0-9a-f]{8} "mine"$`, `(?m)^live: done [0-9a-f]{8} "hello from afar"$`} {
		if regexp.MustCompile(own).MatchString(s.output()) {
			t.Errorf("the app's own change was reported as a live change (%s):\n%s", own, s.output())
		}
	}
}

// fakeBackend is a backend in front of a pstest service: it hands out the
// service's tokens and applies uploads to the service's rows, recording
// the Authorization headers it saw.
type fakeBackend struct {
	srv  *pstest.Server
	user string

	mu    sync.Mutex // guards auths
	auths []string
}

func (b *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/auth/token":
		if r.URL.Query().Get("user_id") != b.user {
			http.Error(w, "unknown user", http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"token": b.srv.Token(b.user), "powersync_url": b.srv.URL})
	case r.Method == http.MethodPost && r.URL.Path == "/api/data":
		b.mu.Lock()
		b.auths = append(b.auths, r.Header.Get("Authorization"))
		b.mu.Unlock()
		var req pstest.UploadRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := b.srv.ApplyBatch(r.Context(), b.user, "", req.Batch); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write([]byte(`{"data": {}}`))
	default:
		http.NotFound(w, r)
	}
}

// TestRemote runs the app against a service and backend given by flags,
// with the token from the backend.
func TestRemote(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	const user = "0f0e0d0c-0b0a-4908-8706-050403020100"
	if err := srv.SetRow("lists", "l1", map[string]any{"name": "Work", "owner_id": user}); err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{srv: srv, user: user}
	hs := httptest.NewServer(b)
	defer hs.Close()

	tests := []struct {
		name string
		cfg  config
	}{
		{"endpoint from the backend", config{backend: hs.URL}},
		{"endpoint given", config{backend: hs.URL, endpoint: srv.URL}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.user, cfg.once, cfg.retryDelay = user, true, 50*time.Millisecond
			cfg.dbPath = filepath.Join(t.TempDir(), "todo.db")
			text := "report " + string(rune('A'+i))
			var out, errOut bytes.Buffer
			if err := run(t.Context(), cfg, strings.NewReader("add Work "+text), &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s%s", err, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), "  [ ] ") || !strings.Contains(out.String(), text) {
				t.Errorf("output lacks the new todo:\n%s", out.String())
			}
			found := false
			for _, row := range srv.Rows("todos") {
				if row["description"] == text && row["list_id"] == "l1" && row["created_by"] == user {
					found = true
				}
			}
			if !found {
				t.Errorf("the service has no todo %q: %v", text, srv.Rows("todos"))
			}
		})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.auths) == 0 {
		t.Fatal("no upload reached the backend")
	}
	for _, a := range b.auths {
		if !strings.HasPrefix(a, "Token ey") {
			t.Errorf("upload Authorization = %q, want the service token", a)
		}
	}
}

func TestRemoteNeedsCredentials(t *testing.T) {
	tests := []struct {
		cfg  config
		want string
	}{
		{config{endpoint: "http://127.0.0.1:1"}, "give -token, -token-command, or -backend"},
		{config{endpoint: "http://127.0.0.1:1", token: "t", tokenCmd: "echo t"}, "not both"},
		{config{backend: "http://127.0.0.1:1", tokenCmd: "echo t"}, "need -endpoint"},
	}
	for _, tc := range tests {
		if _, err := connectRemote(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("connectRemote(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// TestRemoteTokenCommand runs the app with its tokens from a command (as
// ps-service.sh token prints them) and uploads to the backend, which sees
// the command's token.
func TestRemoteTokenCommand(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	const user = "0f0e0d0c-0b0a-4908-8706-050403020100"
	if err := srv.SetRow("lists", "l1", map[string]any{"name": "Work", "owner_id": user}); err != nil {
		t.Fatal(err)
	}
	b := &fakeBackend{srv: srv, user: user}
	hs := httptest.NewServer(b)
	defer hs.Close()
	tok := srv.Token(user)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config{endpoint: srv.URL, backend: hs.URL, tokenCmd: "cat '" + tokFile + "'", user: user, once: true,
		retryDelay: 50 * time.Millisecond, dbPath: filepath.Join(dir, "todo.db")}
	var out, errOut bytes.Buffer
	if err := run(t.Context(), cfg, strings.NewReader("add Work from a token command"), &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "synced: local changes uploaded and synced back") || !strings.Contains(out.String(), "from a token command") {
		t.Errorf("output:\n%s", out.String())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.auths) == 0 || b.auths[0] != "Token "+tok {
		t.Errorf("upload Authorization headers %q, want the command's token", b.auths)
	}

	// A failing command: its stderr is in the error.
	r := &remoteCredentials{endpoint: srv.URL, command: "echo no such user >&2; exit 3"}
	if _, err := r.fetch(t.Context()); err == nil || !strings.Contains(err.Error(), "no such user") {
		t.Errorf("fetch with a failing command = %v", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u","exp":1796290538}`))
	if got, want := tokenExpiry("eyJhbGciOiJIUzI1NiJ9."+payload+".sig"), time.Unix(1796290538, 0); !got.Equal(want) {
		t.Errorf("tokenExpiry = %v, want %v", got, want)
	}
	for _, tok := range []string{"", "not-a-jwt", "a.b.c", "a.e30.c"} {
		if got := tokenExpiry(tok); !got.IsZero() {
			t.Errorf("tokenExpiry(%q) = %v, want zero", tok, got)
		}
	}
}

// TestConsoleProgress checks the progress bar on a terminal: drawn on the
// last line, kept below printed lines, removed at the end; and absent when
// the output is not a terminal.
func TestConsoleProgress(t *testing.T) {
	var b bytes.Buffer
	c := &console{w: &b, errw: &b, tty: true}
	c.progress(pssync.ProgressCounts{Downloaded: 50, Total: 200})
	c.printf("line")
	c.clearProgress()
	bar := "downloading [#######.......................]  25% 50/200"
	want := "\r\033[K" + bar + "\r\033[Kline\n" + bar + "\r\033[K"
	if b.String() != want {
		t.Errorf("terminal output %q, want %q", b.String(), want)
	}

	b.Reset()
	c = &console{w: &b, errw: &b, tty: false}
	c.progress(pssync.ProgressCounts{Downloaded: 50, Total: 200})
	c.printf("line")
	c.clearProgress()
	if b.String() != "line\n" {
		t.Errorf("plain output %q, want only the line", b.String())
	}
	if isTerminal(&b) {
		t.Error("a buffer counts as a terminal")
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("POWERSYNC_URL", "https://ps.example")
	t.Setenv("BACKEND_URL", "http://127.0.0.1:6060")
	t.Setenv("TODO_USER", "")
	t.Setenv("POWERSYNC_TOKEN_COMMAND", "ps-service.sh token")
	c, err := parseFlags([]string{"-once", "-db", "x.db"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.endpoint != "https://ps.example" || c.tokenCmd != "ps-service.sh token" || c.backend != "http://127.0.0.1:6060" || !c.once || c.dbPath != "x.db" || c.user != demoUser || c.embedded() {
		t.Errorf("parseFlags = %+v", c)
	}
	if _, err := parseFlags([]string{"ls"}, io.Discard); err == nil {
		t.Error("parseFlags accepted a positional argument")
	}
}
