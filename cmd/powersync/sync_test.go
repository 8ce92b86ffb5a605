package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/oracletest"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// newService starts an in-process PowerSync Service with two todos and a
// priority-0 list.
func newService(t *testing.T) *pstest.Server {
	t.Helper()
	srv := pstest.NewServer()
	t.Cleanup(srv.Close)
	seed := `{"priorities": {"lists[]": 0},
		"rows": [{"table": "todos", "id": "t1", "data": {"description": "buy milk", "completed": 0}},
		         {"table": "todos", "id": "t2", "data": {"description": "walk dog", "completed": 1}}],
		"ops": [{"bucket": "lists[]", "table": "lists", "id": "l1", "data": {"name": "Groceries"}}]}`
	if err := srv.LoadSeed(strings.NewReader(seed)); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestSyncOnce(t *testing.T) {
	srv := newService(t)
	path := filepath.Join(t.TempDir(), "app.db")
	r := runApp(t, "sync", path, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.Token("u1"), "--once")
	if r.code != exitOK {
		t.Fatalf("sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"never synced before", "connected", "priority 0 synced", "synced (complete) at", "first complete sync done"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.ContainsAny(r.stdout, "\r\033") {
		t.Errorf("output for a non-terminal has control characters:\n%q", r.stdout)
	}
	st := runInspection(t, path, []string{"status"})
	for _, want := range []string{"(complete sync)", "todos: 2 rows", "lists: 1 row", "Local-write gate:  open"} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status after sync lacks %q:\n%s", want, st.stdout)
		}
	}

	// Local writes, then a second run with the schema read from the file and
	// uploads to the service's upload endpoint: the change comes back.
	driverExec(t, path, "UPDATE todos SET completed = 1 WHERE id = 't1'", "INSERT INTO todos(id, description) VALUES ('t3', 'offline')")
	if cr := runInspection(t, path, []string{"crud"}); !strings.Contains(cr.stdout, "2 entries in 2 transactions") {
		t.Fatalf("crud before upload:\n%s", cr.stdout)
	}
	tok := srv.Token("u1")
	r = runApp(t, "sync", path, "--endpoint", srv.URL, "--token-command", "echo "+tok, "--upload-url", srv.URL+"/upload", "--once")
	if r.code != exitOK {
		t.Fatalf("second sync: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "last synced") || !strings.Contains(r.stdout, "upload queue: 2 entries") {
		t.Errorf("second sync output:\n%s", r.stdout)
	}
	if got, ok := srv.Row("todos", "t3"); !ok || got["description"] != "offline" {
		t.Errorf("uploaded row t3 = %v, %t", got, ok)
	}
	st = runInspection(t, path, []string{"status"})
	if !strings.Contains(st.stdout, "Upload queue:      empty") || !strings.Contains(st.stdout, "todos: 3 rows") {
		t.Errorf("status after upload:\n%s", st.stdout)
	}
}

// driverExec runs statements on a file through the powersync driver with the
// test schema.
func driverExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db := openDriver(t, path)
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestSyncErrors(t *testing.T) {
	srv := newService(t)
	dir := t.TempDir()
	newFile := filepath.Join(dir, "new.db")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad token", []string{"sync", newFile, "--schema", schemaPath, "--endpoint", srv.URL, "--token", "not-a-jwt"}, exitError, "the service rejected the token"},
		{"expired token", []string{"sync", newFile, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.TokenWithTTL("u1", -time.Minute)}, exitError, "the service rejected the token"},
		{"token expired within the service's clock tolerance", []string{"sync", newFile, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.TokenWithTTL("u1", -30*time.Second)}, exitError, "the service rejected the token: powersync: the service reports the token expired"},
		{"bad token from command", []string{"sync", newFile, "--schema", schemaPath, "--endpoint", srv.URL, "--token-command", "echo nope"}, exitError, "the service rejected the token"},
		{"no endpoint", []string{"sync", newFile, "--token", "x"}, exitUsage, "--endpoint is required"},
		{"no token", []string{"sync", newFile, "--endpoint", srv.URL}, exitUsage, "give --token or --token-command"},
		{"two tokens", []string{"sync", newFile, "--endpoint", srv.URL, "--token", "a", "--token-command", "b"}, exitUsage, "not both"},
		{"new file without schema", []string{"sync", filepath.Join(dir, "none.db"), "--endpoint", srv.URL, "--token", "x"}, exitError, "give --schema to create it"},
		{"bad params", []string{"sync", newFile, "--schema", schemaPath, "--endpoint", srv.URL, "--token", "x", "--params", "[1]"}, exitError, "--params: not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runApp(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, "not-a-jwt") && tc.name == "bad token" {
				t.Errorf("the token appears in the output")
			}
		})
	}
}

// TestSyncViewTerminal checks the progress bar: drawn and redrawn on a
// terminal below the event lines, absent from plain output.
func TestSyncViewTerminal(t *testing.T) {
	now := func() time.Time { return testNow }
	steps := []viewState{
		{queued: 0},
		{connecting: true, queued: 0},
		{connected: true, downloading: true, progress: pssync.ProgressCounts{Downloaded: 0, Total: 40}, queued: 0},
		{connected: true, downloading: true, progress: pssync.ProgressCounts{Downloaded: 10, Total: 40}, queued: 0},
		{connected: true, downloading: true, progress: pssync.ProgressCounts{Downloaded: 30, Total: 40}, queued: 2},
		{connected: true, hasSynced: true, lastSynced: syncedAt, queued: 2},
	}
	render := func(tty bool) string {
		var b bytes.Buffer
		v := newSyncView(&b, tty, now, false)
		for _, s := range steps {
			v.apply(s)
		}
		v.finish()
		return b.String()
	}
	const clear = "\r\033[K"
	wantTTY := "05:34:05 never synced before\n" +
		"05:34:05 connecting\n" +
		"05:34:05 connected\n" +
		"05:34:05 downloading 40 operations\n" +
		"[------------------------------]   0%  0/40 operations  connected" +
		clear + "[#######-----------------------]  25%  10/40 operations  connected" +
		clear + "05:34:05 upload queue: 2 entries (not uploaded: no --upload-url; downloaded data waits for them)\n" +
		"[#######-----------------------]  25%  10/40 operations  connected" +
		clear + "[######################--------]  75%  30/40 operations  connected" +
		clear + "05:34:05 synced (complete) at 2026-01-02T03:04:05Z\n"
	if got := render(true); got != wantTTY {
		t.Errorf("terminal output:\n%q\nwant:\n%q", got, wantTTY)
	}
	wantPlain := "05:34:05 never synced before\n" +
		"05:34:05 connecting\n" +
		"05:34:05 connected\n" +
		"05:34:05 downloading 40 operations\n" +
		"05:34:05 downloaded 10/40 operations (25%)\n" +
		"05:34:05 upload queue: 2 entries (not uploaded: no --upload-url; downloaded data waits for them)\n" +
		"05:34:05 downloaded 30/40 operations (75%)\n" +
		"05:34:05 synced (complete) at 2026-01-02T03:04:05Z\n"
	if got := render(false); got != wantPlain {
		t.Errorf("plain output:\n%s\nwant:\n%s", got, wantPlain)
	}
}

func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, w := range map[string]io.Writer{"pipe": w, "file": f, "buffer": &bytes.Buffer{}, os.DevNull: null} {
		if isTerminal(w) {
			t.Errorf("%s is reported as a terminal", name)
		}
	}
	if runtime.GOOS != "windows" {
		tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0)
		if err != nil {
			t.Logf("no /dev/tty (%v); terminal case not checked", err)
			return
		}
		defer tty.Close()
		if !isTerminal(tty) {
			t.Errorf("/dev/tty is not reported as a terminal")
		}
	}
}

// TestBinary builds the command and runs it as a user would: inspection of
// a file, an error, and a sync whose piped output stays plain.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "powersync")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.CommandContext(t.Context(), bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return o.String(), e.String(), code
	}

	path := driverFile(t, localWrites(t, "pending"))
	before := fileState(t, path)
	out, errOut, code := run("crud", "--json", path)
	if code != 0 {
		t.Fatalf("crud: exit %d: %s", code, errOut)
	}
	oracletest.Golden(t, filepath.Join("testdata", "golden", "driver", "crud.json.txt"), strings.ReplaceAll(out, path, "FILE"))
	if after := fileState(t, path); after != before {
		t.Errorf("the binary changed the file:\n%s\n%s", before, after)
	}

	_, errOut, code = run("status", filepath.Join(t.TempDir(), "nope.db"))
	if code != exitError || !strings.Contains(errOut, "nope.db: no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}

	srv := newService(t)
	synced := filepath.Join(t.TempDir(), "app.db")
	out, errOut, code = run("sync", synced, "--schema", schemaPath, "--endpoint", srv.URL, "--token", srv.Token("u1"), "--once")
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "synced (complete)") || strings.ContainsAny(out, "\r\033") {
		t.Errorf("piped sync output:\n%q", out)
	}
}

// TestRejectedEntries checks that entries set aside by package sync show up
// in crud and status.
func TestRejectedEntries(t *testing.T) {
	path := driverFile(t, localWrites(t, "pending"))
	db := openDriver(t, path)
	tx, err := pssync.NextCrudTransaction(t.Context(), db)
	if err != nil || tx == nil {
		t.Fatalf("next transaction: %v, %v", tx, err)
	}
	if err := pssync.RejectCrud(t.Context(), db, errors.New("name too long"), tx.Entries[1]); err != nil {
		t.Fatal(err)
	}
	db.Close()
	cr := runInspection(t, path, []string{"crud"})
	if !strings.Contains(cr.stdout, "3 entries in 3 transactions") ||
		!regexp.MustCompile(`Set aside \(rejected by the backend, no longer uploaded\): 1 entry\n  #2  PUT  lists/l2  \S+  reason: name too long\n`).MatchString(cr.stdout) {
		t.Errorf("crud:\n%s", cr.stdout)
	}
	st := runInspection(t, path, []string{"status"})
	if !strings.Contains(st.stdout, "Set aside:       1 entry rejected by the backend") {
		t.Errorf("status:\n%s", st.stdout)
	}
	js := runInspection(t, path, []string{"crud", "--json"})
	var v struct {
		Rejected []struct {
			OpID   int64  `json:"op_id"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal([]byte(js.stdout), &v); err != nil || len(v.Rejected) != 1 || v.Rejected[0].OpID != 2 || v.Rejected[0].Reason != "name too long" {
		t.Errorf("crud --json rejected = %+v (%v)", v.Rejected, err)
	}
}

// TestServe runs the serve command in-process on a free port, syncs a file
// from it with the printed endpoint and token, and stops it.
func TestServe(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(`{"rows": [{"table": "todos", "id": "t1", "data": {"description": "seeded"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out := &lockedBuffer{ready: make(chan struct{})}
	done := make(chan int, 1)
	go func() {
		a := &app{stdout: out, stderr: out, now: time.Now, isTerminal: func(io.Writer) bool { return false }}
		done <- a.run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--seed", seed, "--user", "alice"})
	}()
	select {
	case <-out.ready:
	case code := <-done:
		cancel()
		t.Fatalf("serve ended with %d:\n%s", code, out.String())
	}
	text := out.String()
	m := regexp.MustCompile(`listening on (\S+)\n(?:.*\n)*?Token for user "alice" \(valid 1h\):\n(\S+)\n`).FindStringSubmatch(text)
	if m == nil {
		cancel()
		t.Fatalf("serve output:\n%s", text)
	}
	path := filepath.Join(t.TempDir(), "app.db")
	r := runApp(t, "sync", path, "--schema", schemaPath, "--endpoint", m[1], "--token", m[2], "--once")
	if r.code != exitOK {
		t.Errorf("sync from serve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if st := runInspection(t, path, []string{"status"}); !strings.Contains(st.stdout, "todos: 1 row") {
		t.Errorf("status after sync from serve:\n%s", st.stdout)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exit %d:\n%s", code, out.String())
	}

	if r := runApp(t, "serve", "--addr", "127.0.0.1:0", "--seed", filepath.Join(t.TempDir(), "none.json")); r.code != exitError || !strings.Contains(r.stderr, "seed:") {
		t.Errorf("missing seed: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := runApp(t, "serve", "extra"); r.code != exitUsage {
		t.Errorf("serve extra: exit %d", r.code)
	}
}

// lockedBuffer is an io.Writer safe for concurrent use that closes ready once
// the serve banner (its "Sync a file with" line) was written.
type lockedBuffer struct {
	mu     gosync.Mutex // guards b and closed
	b      bytes.Buffer
	ready  chan struct{}
	closed bool
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.b.Write(p)
	if !l.closed && strings.Contains(l.b.String(), "Sync a file with") {
		l.closed = true
		close(l.ready)
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUploaderBody checks what --upload-url receives: one POST per local
// transaction, {"batch": [entries]} in the SDKs' CrudEntry JSON with the
// token, and the queue emptied once the backend accepts.
func TestUploaderBody(t *testing.T) {
	path := driverFile(t, localWrites(t, "pending"))
	db := openDriver(t, path)
	t.Cleanup(func() { db.Close() })
	var (
		mu      gosync.Mutex // guards bodies and auth
		bodies  []string
		auth    []string
		request = func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			bodies = append(bodies, string(b))
			auth = append(auth, r.Header.Get("Authorization"))
		}
	)
	srv := httptest.NewServer(http.HandlerFunc(request))
	t.Cleanup(srv.Close)
	up := &uploader{url: srv.URL, creds: &credentialSource{endpoint: "unused", token: "tok"}, client: srv.Client()}
	if err := up.upload(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"batch":[{"op_id":1,"op":"PUT","type":"lists","id":"l1","tx_id":1,"data":{"name":"Groceries","owner_id":"u1"},"metadata":"created offline"},` +
			`{"op_id":2,"op":"PUT","type":"lists","id":"l2","tx_id":1,"data":{"name":"Work","owner_id":"u1"}}]}`,
		`{"batch":[{"op_id":3,"op":"PATCH","type":"lists","id":"l1","tx_id":2,"data":{"name":"Shopping"},"old":{"name":"Groceries"}}]}`,
		`{"batch":[{"op_id":4,"op":"PUT","type":"logs","id":"log1","tx_id":3,"data":{"level":1,"msg":"app started"}}]}`,
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != len(want) {
		t.Fatalf("got %d requests, want %d:\n%s", len(bodies), len(want), strings.Join(bodies, "\n"))
	}
	for i := range want {
		var got, exp any
		if err := json.Unmarshal([]byte(bodies[i]), &got); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		json.Unmarshal([]byte(want[i]), &exp) //nolint:errcheck // a literal
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("request %d body:\n%s\nwant:\n%s", i, bodies[i], want[i])
		}
	}
	for i, a := range auth {
		if a != "Token tok" {
			t.Errorf("request %d: Authorization %q", i, a)
		}
	}
	if n, _, err := pssync.UploadQueueStats(t.Context(), db); err != nil || n != 0 {
		t.Errorf("upload queue after upload: %d entries (%v)", n, err)
	}
}
