package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/oracletest"
	"github.com/gopowersync/powersync/schema"
)

// Fixed times: fixture files get syncedAt as every sync timestamp, and the
// commands run at testNow.
var (
	syncedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	testNow  = syncedAt.Add(2*time.Hour + 30*time.Minute)
)

const schemaPath = "testdata/schema.json"

// result is the outcome of one command run.
type result struct {
	code           int
	stdout, stderr string
}

// runApp runs the command line in-process with the fixed clock and no terminal.
func runApp(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, now: func() time.Time { return testNow }, isTerminal: func(io.Writer) bool { return false }}
	code := a.run(t.Context(), args)
	return result{code, out.String(), errb.String()}
}

// oracleFixture replays testdata/fixtures/NAME.ndjson with the official core
// into a new file and pins its wall-clock timestamps to syncedAt.
func oracleFixture(t *testing.T, name string) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), name+".db")
	oracletest.Replay(t, filepath.Join("testdata", "fixtures", name+".ndjson"), schemaPath, db, "")
	pinTimestamps(t, db)
	return db
}

// pinTimestamps sets every sync timestamp in the file to syncedAt (stream
// expiry one hour later), so that outputs are reproducible. It is test setup,
// done with a plain writable connection.
func pinTimestamps(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	us := syncedAt.UnixMicro()
	for _, q := range []string{
		"UPDATE ps_sync_state SET last_synced_at = ?1",
		"UPDATE ps_stream_subscriptions SET last_synced_at = ?1 WHERE last_synced_at IS NOT NULL",
		"UPDATE ps_stream_subscriptions SET expires_at = ?1 + 3600000000 WHERE expires_at IS NOT NULL",
	} {
		if _, err := db.Exec(q, us); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// localWrites returns the !sql statements of a fixture.
func localWrites(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if q, ok := strings.CutPrefix(line, "!sql "); ok {
			out = append(out, q)
		}
	}
	return out
}

// driverFile creates a file with this module's driver and the test schema,
// runs the statements as local writes and pins the client id to the one the
// oracle uses, so outputs can be compared with the official core's.
func driverFile(t *testing.T, stmts []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "driver.db")
	db := openDriver(t, path)
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			db.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(t.Context(), "UPDATE ps_kv SET value = 'oracle-client' WHERE key = 'client_id'"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// openDriver opens path with this module's driver and the test schema.
func openDriver(t *testing.T, path string) *sql.DB {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(path, driver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	return sql.OpenDB(c)
}

// fileState fingerprints a database file and its companions: the hash of
// the file and of its -wal, and which of -wal, -shm, -journal exist.
func fileState(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		data, err := os.ReadFile(path + suffix)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b.WriteString(suffix + ": absent\n")
		case err != nil:
			t.Fatal(err)
		case suffix == "-shm":
			b.WriteString(suffix + ": present\n") // shared memory: readers may update it
		default:
			sum := sha256.Sum256(data)
			b.WriteString(suffix + ": " + hex.EncodeToString(sum[:]) + "\n")
		}
	}
	return b.String()
}

// inspectionCommands are the read-only commands every fixture is shown with.
var inspectionCommands = [][]string{
	{"status"}, {"status", "--json"},
	{"crud"}, {"crud", "--json"},
	{"buckets"}, {"buckets", "--json"},
	{"schema"}, {"schema", "--json"},
}

// goldenName names the golden file of a command: "status", "status.json".
func goldenName(args []string) string {
	name := args[0]
	if len(args) > 1 && args[1] == "--json" {
		name += ".json"
	}
	return name + ".txt"
}

// transcript renders a run for a golden file, with the file path replaced.
func transcript(r result, path string) string {
	out := strings.ReplaceAll(r.stdout, path, "FILE")
	if r.stderr != "" {
		out += "--- stderr\n" + strings.ReplaceAll(r.stderr, path, "FILE")
	}
	return out
}

// runInspection runs one inspection command on path and checks that it
// succeeded and left the file byte-identical.
func runInspection(t *testing.T, path string, args []string) result {
	t.Helper()
	before := fileState(t, path)
	full := append(append([]string{}, args...), path)
	r := runApp(t, full...)
	if r.code != exitOK {
		t.Fatalf("powersync %s: exit %d\nstderr: %s", strings.Join(full, " "), r.code, r.stderr)
	}
	if after := fileState(t, path); after != before {
		t.Errorf("powersync %s changed the file:\nbefore:\n%safter:\n%s", strings.Join(args, " "), before, after)
	}
	if strings.Contains(strings.Join(args, " "), "--json") && !json.Valid([]byte(r.stdout)) {
		t.Errorf("powersync %s: output is not JSON:\n%s", strings.Join(args, " "), r.stdout)
	}
	return r
}

// TestGolden runs every inspection command on files written by the official
// core (oracle replay of testdata/fixtures) and compares with
// testdata/golden/FIXTURE/COMMAND.txt (rewrite with -update).
func TestGolden(t *testing.T) {
	for _, fixture := range []string{"synced", "pending", "waiting", "downloading", "empty", "legacy13"} {
		t.Run(fixture, func(t *testing.T) {
			path := oracleFixture(t, fixture)
			for _, args := range inspectionCommands {
				t.Run(strings.Join(args, "_"), func(t *testing.T) {
					r := runInspection(t, path, args)
					oracletest.Golden(t, filepath.Join("testdata", "golden", fixture, goldenName(args)), transcript(r, path))
				})
			}
		})
	}
}

// TestDriverFileMatchesCore checks that a file written by this module's
// driver inspects exactly like one the official core wrote after the same
// local writes.
func TestDriverFileMatchesCore(t *testing.T) {
	stmts := localWrites(t, "pending")
	lines := filepath.Join(t.TempDir(), "writes.ndjson")
	if err := os.WriteFile(lines, []byte("!sql "+strings.Join(stmts, "\n!sql ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	core := filepath.Join(t.TempDir(), "core.db")
	oracletest.Replay(t, lines, schemaPath, core, "")
	ours := driverFile(t, stmts)
	for _, args := range inspectionCommands {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			want := transcript(runInspection(t, core, args), core)
			got := transcript(runInspection(t, ours, args), ours)
			if d := oracletest.LineDiff(want, got); d != "" {
				t.Errorf("driver file differs from the core's (- core, + driver):\n%s", d)
			}
		})
	}
	// The golden file of the driver's file: the same text as the core's.
	r := runInspection(t, ours, []string{"crud"})
	oracletest.Golden(t, filepath.Join("testdata", "golden", "driver", "crud.txt"), transcript(r, ours))
}

// TestSchemaRoundTrip checks that the reconstructed schema JSON makes the
// official core generate exactly the SQL the original schema did, for files
// written by the core and by this module's driver.
func TestSchemaRoundTrip(t *testing.T) {
	orig, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	wide := wideSchema()
	cases := []struct {
		name   string
		schema string
		file   func(t *testing.T, schemaFile string) string
	}{
		{"core", string(orig), func(t *testing.T, s string) string {
			return coreFile(t, s)
		}},
		{"core-wide", wide, func(t *testing.T, s string) string {
			return coreFile(t, s)
		}},
		{"driver", string(orig), func(t *testing.T, s string) string {
			return driverFile(t, nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schemaFile := filepath.Join(t.TempDir(), "schema.json")
			if err := os.WriteFile(schemaFile, []byte(tc.schema), 0o644); err != nil {
				t.Fatal(err)
			}
			path := tc.file(t, schemaFile)
			r := runInspection(t, path, []string{"schema", "--json"})
			if r.stderr != "" {
				t.Errorf("unexpected notes:\n%s", r.stderr)
			}
			want := oracletest.Schema(t, tc.schema, "--schema-only")
			got := oracletest.Schema(t, r.stdout, "--schema-only")
			if d := oracletest.LineDiff(want, got); d != "" {
				t.Errorf("the reconstructed schema generates different SQL (- original, + reconstructed):\n%s", d)
			}
		})
	}
}

// coreFile applies a schema with the official core (an empty replay).
func coreFile(t *testing.T, schemaFile string) string {
	t.Helper()
	dir := t.TempDir()
	lines := filepath.Join(dir, "empty.ndjson")
	if err := os.WriteFile(lines, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "core.db")
	oracletest.Replay(t, lines, schemaFile, db, "")
	return db
}

// wideSchema has a table with more than 50 columns (JSON fragments merged
// with powersync_json_merge), odd names and a parameterised type.
func wideSchema() string {
	var cols []map[string]string
	var old []string
	for i := range 60 {
		name := "c" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + itoa(i)
		cols = append(cols, map[string]string{"name": name, "type": "INTEGER"})
		if i%7 == 0 {
			old = append(old, name)
		}
	}
	cols = append(cols, map[string]string{"name": `we"ird name`, "type": "VARCHAR(10)"})
	s := map[string]any{"tables": []any{
		map[string]any{"name": "wide", "columns": cols, "include_metadata": true, "include_old": old,
			"indexes": []any{map[string]any{"name": "ix", "columns": []any{
				map[string]any{"name": `we"ird name`, "ascending": false, "type": "VARCHAR(10)"},
				map[string]any{"name": cols[0]["name"], "ascending": true, "type": "INTEGER"},
			}}}},
		map[string]any{"name": "all_old", "columns": cols[:55], "include_old": true, "include_old_only_when_changed": true, "ignore_empty_update": true},
		map[string]any{"name": "bare", "columns": []any{}},
	}}
	b, _ := json.Marshal(s)
	return string(b)
}

func itoa(i int) string {
	return strings.TrimLeft(string([]byte{byte('0' + i/10), byte('0' + i%10)}), "0")
}

// TestWALFilesUntouched checks that inspecting a WAL-mode file neither
// creates -wal/-shm files when none exist nor changes the file or its -wal
// while another connection has the file open.
func TestWALFilesUntouched(t *testing.T) {
	ctx := t.Context()
	path := driverFile(t, localWrites(t, "pending")) // the driver uses WAL
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("expected no -wal file after closing the database: %v", err)
	}
	t.Run("closed", func(t *testing.T) {
		for _, args := range inspectionCommands {
			runInspection(t, path, args)
		}
		for _, suffix := range []string{"-wal", "-shm"} {
			if _, err := os.Stat(path + suffix); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("inspection created %s", suffix)
			}
		}
	})
	t.Run("open by an app", func(t *testing.T) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.SetMaxOpenConns(1)
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A committed write that lives only in the -wal file.
		if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO ps_crud(tx_id, data) VALUES (99, '{"op":"DELETE","id":"l2","type":"lists"}')`); err != nil {
			t.Fatal(err)
		}
		for _, args := range inspectionCommands {
			runInspection(t, path, args)
		}
		r := runInspection(t, path, []string{"crud"})
		if !strings.Contains(r.stdout, "#5  DELETE  lists/l2") {
			t.Errorf("the write in the -wal file is not shown:\n%s", r.stdout)
		}
	})
}

// TestErrors checks the messages and exit codes for bad input, and that a
// failed inspection changes nothing.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	text := filepath.Join(dir, "notes.txt")
	plain := filepath.Join(dir, "plain.db")
	missing := filepath.Join(dir, "missing.db")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(text, []byte(strings.Repeat("just some text\n", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE todos(id TEXT PRIMARY KEY, title TEXT)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"missing file", []string{"status", missing}, exitError, "missing.db: no such file"},
		{"directory", []string{"crud", dir}, exitError, "is a directory, not a database file"},
		{"empty file", []string{"buckets", empty}, exitError, "not a PowerSync database (the file is empty)"},
		{"text file", []string{"schema", text}, exitError, "not a PowerSync database (not a SQLite database file)"},
		{"plain SQLite", []string{"status", "--json", plain}, exitError, "not a PowerSync database (missing table ps_migration, ps_buckets, ps_oplog, ps_crud, ps_kv)"},
		{"no command", nil, exitUsage, "Usage:"},
		{"unknown command", []string{"stats", plain}, exitUsage, `unknown command "stats"`},
		{"no file", []string{"status"}, exitUsage, "missing FILE argument"},
		{"two files", []string{"crud", plain, empty}, exitUsage, "expected one FILE argument, got 2"},
		{"unknown flag", []string{"buckets", "--verbose", plain}, exitUsage, "flag provided but not defined: -verbose"},
		{"bad limit", []string{"crud", "--limit", "-1", plain}, exitUsage, "--limit must be >= 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before []string
			for _, p := range []string{empty, text, plain} {
				before = append(before, fileState(t, p))
			}
			r := runApp(t, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("unexpected stdout %q", r.stdout)
			}
			for i, p := range []string{empty, text, plain} {
				if after := fileState(t, p); after != before[i] {
					t.Errorf("%s changed:\n%s\n%s", p, before[i], after)
				}
			}
			if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the missing file was created")
			}
		})
	}
}

// TestHelp checks that every command has a help text with examples, on
// stdout with exit code 0.
func TestHelp(t *testing.T) {
	r := runApp(t, "-h")
	if r.code != exitOK || !strings.Contains(r.stdout, "Commands:") {
		t.Fatalf("powersync -h: exit %d, stdout %q", r.code, r.stdout)
	}
	for _, c := range commands() {
		if !strings.Contains(r.stdout, "  "+c.name+" ") {
			t.Errorf("main help does not list %s", c.name)
		}
		for _, args := range [][]string{{c.name, "-h"}, {"help", c.name}} {
			r := runApp(t, args...)
			if r.code != exitOK {
				t.Errorf("%v: exit %d", args, r.code)
			}
			if !strings.Contains(r.stdout, "Usage: powersync "+c.name) || !strings.Contains(r.stdout, "Examples:") {
				t.Errorf("%v: help lacks usage or examples:\n%s", args, r.stdout)
			}
		}
	}
}

// TestFlagsAfterFile checks that flags may follow the file argument.
func TestFlagsAfterFile(t *testing.T) {
	path := driverFile(t, localWrites(t, "pending"))
	a := runInspection(t, path, []string{"crud", "--json", "--limit", "2"})
	b := runApp(t, "crud", path, "--limit", "2", "--json")
	if b.code != exitOK || a.stdout != b.stdout {
		t.Errorf("flags after FILE give a different result (exit %d):\n%s\nvs\n%s", b.code, a.stdout, b.stdout)
	}
	var v struct {
		Entries   int  `json:"entry_count"`
		Truncated bool `json:"truncated"`
		Txs       []struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal([]byte(a.stdout), &v); err != nil {
		t.Fatal(err)
	}
	shown := 0
	for _, tx := range v.Txs {
		shown += len(tx.Entries)
	}
	if v.Entries != 4 || !v.Truncated || shown != 2 {
		t.Errorf("--limit 2: entry_count %d, truncated %t, shown %d; want 4, true, 2", v.Entries, v.Truncated, shown)
	}
}
