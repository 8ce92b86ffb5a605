package synccore

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
	_ "modernc.org/sqlite" // "sqlite" driver: plain SQLite, to read the core's database and to check JSON
)

// The cases under testdata/trust are lines a server should never send,
// where we decided how far the engine trusts the server (see "Hostile
// input" in the package doc). Where we do what the core does, the core's
// result is compared with ours; where we reject a line the core takes, the
// core's transcript is kept under testdata/golden (checked against the
// oracle when it runs) to document what it does, and ours must end with
// the rejection and leave the database as it was before that line.

var reDumpTitle = regexp.MustCompile(`(?m)^######## .*$`)

func TestTrustRejectedLines(t *testing.T) {
	tests := []struct {
		name    string
		errLine int    // the line our engine rejects
		errText string // in our error
	}{
		{"trust_op_id_backwards", 9, `data for bucket "b": op_id 3 is not after the bucket's last op 5`},
		{"trust_op_id_unordered", 5, `data for bucket "b": op_id 4 is not after the op before it (9)`},
		{"trust_data_not_json", 6, `PUT data of todos/t1 (op_id 2) is not valid JSON: unexpected end of input at offset 15`},
		{"trust_data_not_json_lists", 5, `PUT data of lists/l1 (op_id 1) is not valid JSON: expected value at offset 0`},
		{"trust_data_too_deep", 4, `PUT data of lists/l1 (op_id 1) is not valid JSON: JSON nested deeper than 1000 levels at offset 1000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := replayCase{name: tt.name, lines: filepath.Join("testdata", "trust", tt.name+".ndjson"),
				schema: filepath.Join("testdata", "lines", "schema_todos.json"), mode: "legacy"}
			dir := t.TempDir()
			core, _ := oracleTranscript(t, c, filepath.Join(dir, "official.db"))
			if strings.Contains(core, fmt.Sprintf("! line %d:", tt.errLine)) {
				t.Errorf("the core rejects line %d too; this is not a deviation any more:\n%s", tt.errLine, core)
			}

			db := openTestDB(t, filepath.Join(dir, "ours.db"), c.schema)
			r := &replayer{t: t, ctx: t.Context(), db: db, e: New(db, Options{})}
			r.run(c.lines, c.mode)
			out := r.out.String()
			want := fmt.Sprintf("! line %d: Error: ", tt.errLine)
			i := strings.Index(out, want)
			if i < 0 {
				t.Fatalf("line %d was not rejected:\n%s", tt.errLine, out)
			}
			msg, _, _ := strings.Cut(out[i+len(want):], "\n")
			if !strings.Contains(msg, tt.errText) || !strings.Contains(msg, ErrProtocol.Error()) {
				t.Errorf("error %q, want a protocol error with %q", msg, tt.errText)
			}
			if len(r.dumps) != 2 {
				t.Fatalf("%d state dumps, want the one before line %d and the final one", len(r.dumps), tt.errLine)
			}
			before, after := reDumpTitle.ReplaceAllString(r.dumps[0], ""), reDumpTitle.ReplaceAllString(r.dumps[1], "")
			if d := oracletest.LineDiff(before, after); d != "" {
				t.Errorf("the rejected line changed the database (- before, + after):\n%s", d)
			}
		})
	}
}

// TestTrustInvalidUTF8 sends strings that are not UTF-8 (with and without
// escapes, in data, ids, types and the bucket name) and checks that the
// bytes stored are the ones the core stores.
func TestTrustInvalidUTF8(t *testing.T) {
	lines := filepath.Join("testdata", "trust", "utf8_bytes.ndjson")
	schema := filepath.Join("testdata", "lines", "schema_todos.json")
	golden := filepath.Join("testdata", "golden", "trust_utf8_bytes.txt")
	dir := t.TempDir()

	var want string
	if !oracletest.Available() && !oracletest.InCI() {
		b, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		want = string(b)
	} else {
		official := filepath.Join(dir, "official.db")
		res := oracletest.Py(t, filepath.Join("testdata", "trust", "replay_bytes.py"), lines, schema, official)
		if res.ExitCode != 0 || strings.Contains(res.Stdout, "! line") {
			t.Fatalf("the core did not take the lines: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
		}
		db, err := sql.Open("sqlite", "file:"+official+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		want = storedBytes(t, db)
		oracletest.Golden(t, golden, want)
	}

	db := openTestDB(t, filepath.Join(dir, "ours.db"), schema)
	e := New(db, Options{})
	ctx := t.Context()
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(lines)
	if err != nil {
		t.Fatal(err)
	}
	for n, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if _, err := e.LineText(ctx, []byte(l)); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
	}
	if got := storedBytes(t, db); got != want {
		t.Errorf("stored bytes differ from the core's (- core, + ours):\n%s", oracletest.LineDiff(want, got))
	}
}

// storedBytes lists, in hex, what the sync tables and the todos table hold.
func storedBytes(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT 'bucket', hex(name), last_op, last_applied_op FROM ps_buckets ORDER BY name`,
		`SELECT 'oplog', op_id, hex(row_type), hex(row_id), hex(key), hex(data), hash FROM ps_oplog ORDER BY op_id`,
		`SELECT 'todos', hex(id), hex(data) FROM ps_data__todos ORDER BY id`,
		`SELECT 'untyped', hex(type), hex(id), hex(data) FROM ps_untyped ORDER BY type, id`,
	} {
		rows, err := db.QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if i > 0 {
					b.WriteByte(' ')
				}
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				fmt.Fprint(&b, v)
			}
			b.WriteByte('\n')
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// FuzzDataJSONReadable checks the rule for PUT data against SQLite itself:
// whatever validDataJSON accepts, SQLite's JSON functions (through which
// every read of a synced table goes) must read without an error. The
// validator may be stricter than SQLite (which also reads JSON5).
func FuzzDataJSONReadable(f *testing.F) {
	noMinimize(f)
	for _, s := range []string{`{"a":1}`, `{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[]`, `5`, `"s"`, `{"a":"\ud800"}`,
		"{\"a\":\"\xff\"}", `{"a":1e400}`, `{"a":-0.0}`, `{"":{}}`, `not json`, `{"a":}`, `{a:1}`, string(nested(1000, false, ""))} {
		f.Add([]byte(s))
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		f.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	f.Cleanup(func() { db.Close() })
	st, err := db.PrepareContext(f.Context(), `SELECT json_extract(?1, '$.a'), json_valid(?1)`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if validDataJSON(data) != nil {
			return
		}
		var v any
		var valid bool
		if err := st.QueryRowContext(t.Context(), string(data)).Scan(&v, &valid); err != nil || !valid {
			t.Fatalf("accepted %q, but SQLite reads it with error %v (json_valid %v)", data, err, valid)
		}
	})
}
