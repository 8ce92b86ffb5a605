package oracletest

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLocate(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv(EnvOracle, "some/where/oracle.sh")
		got, err := Locate()
		if err != nil {
			t.Fatal(err)
		}
		wd, _ := os.Getwd()
		if want := filepath.Join(wd, "some/where/oracle.sh"); got != want {
			t.Errorf("Locate() = %q, want %q", got, want)
		}
	})
	t.Run("beside repository", func(t *testing.T) {
		t.Setenv(EnvOracle, "")
		got, err := Locate()
		if err != nil {
			t.Fatal(err)
		}
		root, err := RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
			t.Fatalf("RepoRoot() = %q has no go.mod", root)
		}
		if want := filepath.Join(filepath.Dir(root), "shared", "oracle", "oracle.sh"); got != want {
			t.Errorf("Locate() = %q, want %q", got, want)
		}
	})
}

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}, {"TRUE", true}} {
		t.Setenv("CI", tc.val)
		if got := InCI(); got != tc.want {
			t.Errorf("CI=%q: InCI() = %v, want %v", tc.val, got, tc.want)
		}
	}
}

// recorder is a testing.TB that records Skipf/Fatalf/Errorf instead of stopping or
// failing the test.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skipf(string, ...any)  { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }
func (r *recorder) Errorf(string, ...any) { r.failed = true }

func TestRequireDecision(t *testing.T) {
	for _, tc := range []struct {
		ci           string
		err          error
		skip, failed bool
	}{
		{"", nil, false, false},
		{"true", nil, false, false},
		{"", errors.New("no oracle"), true, false},
		{"true", errors.New("no oracle"), false, true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		got := decide(r, "/x/oracle.sh", tc.err)
		if r.skipped != tc.skip || r.failed != tc.failed || (tc.err == nil && got != "/x/oracle.sh") {
			t.Errorf("CI=%q err=%v: skipped=%v failed=%v path=%q", tc.ci, tc.err, r.skipped, r.failed, got)
		}
	}
}

func TestPyJSON(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{int64(-9223372036854775808), "-9223372036854775808"},
		{0.1, "0.1"},
		{1.0, "1.0"},
		{-2.5, "-2.5"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e16, "1.5e+16"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1.25e-7, "1.25e-07"},
		{1e300, "1e+300"},
		{math.Inf(1), "Infinity"},
		{math.Copysign(0, -1), "-0.0"},
		{"plain", `"plain"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\r\t\b\f\x01\x7f", `"\n\r\t\b\f\u0001\u007f"`},
		{"é€😀", `"\u00e9\u20ac\ud83d\ude00"`},
		{[]byte{0, 'a', '\'', 0xff}, `"b\"\\x00a'\\xff\""`},
		{[]byte("x"), `"b'x'"`},
	} {
		if got := PyJSON(tc.in); got != tc.want {
			t.Errorf("PyJSON(%#v) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got, want := PyJSONObject([]string{"id", "data", "id"}, []any{"a", nil, "b"}), `{"id": "b", "data": null}`; got != want {
		t.Errorf("PyJSONObject = %s, want %s", got, want)
	}
	if got, want := PyJSONRows([][]any{{int64(1), "x"}, {nil, 2.0}}), `[[1, "x"], [null, 2.0]]`; got != want {
		t.Errorf("PyJSONRows = %s, want %s", got, want)
	}
}

func TestParseScript(t *testing.T) {
	src := "# a comment\n\n!sql INSERT INTO t VALUES ('a')  \n!begin\n!sql UPDATE t SET x = 1\n!fail INSERT INTO t VALUES (NULL)\n!commit\n!reopen\n!query SELECT * FROM t\n"
	steps, err := ParseScript(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{3, KindSQL, "INSERT INTO t VALUES ('a')"},
		{4, KindBegin, ""},
		{5, KindSQL, "UPDATE t SET x = 1"},
		{6, KindFail, "INSERT INTO t VALUES (NULL)"},
		{7, KindCommit, ""},
		{8, KindReopen, ""},
		{9, KindQuery, "SELECT * FROM t"},
	}
	if !slices.Equal(steps, want) {
		t.Fatalf("ParseScript = %+v\nwant %+v", steps, want)
	}
	again, err := ParseScript(strings.NewReader(FormatScript(steps)))
	if err != nil || !slices.Equal(again, steps) {
		t.Errorf("FormatScript does not round-trip: %+v, %v", again, err)
	}
	before, after, ok := SplitAtReopen(steps)
	if !ok || len(before) != 5 || len(after) != 1 || after[0].Line != 9 {
		t.Errorf("SplitAtReopen = %v, %v, %v", before, after, ok)
	}
	if OnlySQL(steps) || !OnlySQL(steps[:1]) {
		t.Error("OnlySQL wrong")
	}

	for _, bad := range []string{
		"!sql",
		"!begin\n!begin\n!commit",
		"!commit",
		"!begin\n!sql X",
		"!begin\n!reopen\n!commit",
		"!dump",
		`{"checkpoint": {}}`,
		"!reopen now",
	} {
		if _, err := ParseScript(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseScript(%q) succeeded, want an error", bad)
		}
	}
}

func TestCompareTranscripts(t *testing.T) {
	want := Transcript{{Line: 2, Error: "id is required", Code: 1811}, {Line: 5, Rows: `[[1]]`}}
	if d := CompareTranscripts(want, Transcript{
		{Line: 2, Error: "constraint failed: id is required (1811)", Code: 1811},
		{Line: 5, Rows: `[[1]]`},
	}); len(d) != 0 {
		t.Errorf("equal transcripts reported different: %v", d)
	}
	d := CompareTranscripts(want, Transcript{
		{Line: 2, Error: "something else", Code: 1},
		{Line: 5, Rows: `[[2]]`},
		{Line: 7, Rows: `[]`},
	})
	if len(d) != 4 {
		t.Errorf("want 4 differences (message, code, rows, extra), got %d: %q", len(d), d)
	}
	tr, err := ParseTranscript(want.String())
	if err != nil || !slices.Equal(tr, want) {
		t.Errorf("ParseTranscript(String()) = %v, %v", tr, err)
	}
}

func TestLineDiff(t *testing.T) {
	if d := LineDiff("a\nb\n", "a\nb\n"); d != "" {
		t.Errorf("LineDiff of equal texts = %q", d)
	}
	d := LineDiff("1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\nX\n5\n6\n7\n8\n")
	want := " 2\n 3\n-4\n+X\n 5\n 6\n"
	if d != want {
		t.Errorf("LineDiff = %q, want %q", d, want)
	}
}

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden.txt")
	t.Setenv("UPDATE_GOLDEN", "1")
	Golden(t, path, "hello\n")
	t.Setenv("UPDATE_GOLDEN", "")
	if Updating() {
		t.Skip("test binary runs with -update")
	}
	Golden(t, path, "hello\n")
	r := &recorder{TB: t}
	Golden(r, path, "goodbye\n")
	if !r.failed {
		t.Error("Golden accepted text that differs from the golden file")
	}
}

// TestExecScript plays a script on plain SQLite (no PowerSync) and checks the transcript,
// the grouping into transactions and the reported problems.
func TestExecScript(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain.db")
	opens := 0
	open := func(ctx context.Context) (*sql.DB, error) {
		opens++
		return sql.Open("sqlite", path)
	}
	src := `!sql CREATE TABLE t(x INTEGER PRIMARY KEY, y)
!begin
!sql INSERT INTO t VALUES (1, 'a')
!fail INSERT INTO t VALUES (1, 'dup')
!sql INSERT INTO t VALUES (2, 0.5)
!commit
!begin
!sql INSERT INTO t VALUES (3, 'rolled back')
!rollback
!reopen
!query SELECT x, y FROM t ORDER BY x
!sql INSERT INTO t VALUES (1, 'dup again')
!fail SELECT 1
`
	steps, err := ParseScript(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ExecScript(t.Context(), steps, open)
	if opens != 2 {
		t.Errorf("opened %d times, want 2", opens)
	}
	if len(tr) != 2 || tr[0].Line != 4 || !strings.Contains(tr[0].Error, "UNIQUE constraint failed") ||
		tr[0].Code&0xff != 19 || tr[1].Line != 11 || tr[1].Rows != `[[1, "a"], [2, 0.5]]` {
		t.Errorf("transcript:\n%s", tr)
	}
	if err == nil || !strings.Contains(err.Error(), "line 12 (!sql)") || !strings.Contains(err.Error(), "line 13 (!fail)") {
		t.Errorf("problems = %v, want lines 12 and 13", err)
	}
}

// TestOracleSelf checks the oracle wrappers and that the pure-Go dump and row formatting
// print exactly what the oracle prints.
func TestOracleSelf(t *testing.T) {
	dir := Dir(t)
	tmp := t.TempDir()
	ex := filepath.Join(dir, "examples")

	a := filepath.Join(tmp, "a.db")
	out := Replay(t, filepath.Join(ex, "sync_two_buckets.ndjson"), filepath.Join(ex, "schema_todos.json"), a, "")
	if !strings.Contains(out, "######## final state") {
		t.Fatalf("replay output has no final state:\n%s", out)
	}
	if same, d := Diff(t, a, a, true); !same {
		t.Errorf("a file differs from itself:\n%s", d)
	}
	oracleDump := Dump(t, a)
	goDump, err := DumpFile(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	if d := LineDiff(oracleDump, goDump); d != "" {
		t.Errorf("DumpFile differs from oracle dump (- oracle, + Go):\n%s", d)
	}
	if !strings.HasSuffix(Normalize(out), oracleDump) {
		t.Errorf("replay's final state is not the dump of its file")
	}

	// Tricky values through the core, a SQL script, the oracle's dump and queries.
	schema := filepath.Join(tmp, "s.json")
	if err := os.WriteFile(schema, []byte(`{"tables":[{"name":"t","columns":[{"name":"v","type":"TEXT"},{"name":"n","type":"REAL"}]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	query := `SELECT 1e16, 1e15, 0.1, -0.00001, 9223372036854775807, x'00ff27', 'é😀' || char(1, 127), NULL, 'a"b\c'`
	script := filepath.Join(tmp, "s.sql.ndjson")
	src := "!sql INSERT INTO t(id, v, n) VALUES ('é\\😀\"' || char(10, 1, 127), 'x' || char(9) || '\u2028', 1e16)\n" +
		"!sql INSERT INTO t(id, v, n) VALUES ('b', json_object('k', 1), 0.1)\n" +
		"!fail INSERT INTO t(id, v) VALUES (NULL, 'x')\n" +
		"!query " + query + "\n" +
		"!sql INSERT OR REPLACE INTO ps_kv(key, value) VALUES ('z_real', 2.5), ('z_blob', x'0a27'), ('z_text', 'é')\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(tmp, "b.db")
	tr := RunScript(t, script, schema, b)
	if len(tr) != 2 || tr[0].Error != "id is required" || tr[0].Code != 1811 {
		t.Errorf("oracle transcript:\n%s", tr)
	}
	oracleDump = Dump(t, b)
	goDump, err = DumpFile(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	if d := LineDiff(oracleDump, goDump); d != "" {
		t.Errorf("DumpFile differs from oracle dump (- oracle, + Go):\n%s", d)
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := queryRows(t.Context(), db, query)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr) == 2 && PyJSONRows(rows) != tr[1].Rows {
		t.Errorf("query rows:\n  oracle %s\n  Go     %s", tr[1].Rows, PyJSONRows(rows))
	}
}

func TestCompareTranscriptsFailAny(t *testing.T) {
	want := Transcript{{Line: 3, Error: "malformed JSON", Code: 1, Any: true}}
	if d := CompareTranscripts(want, Transcript{{Line: 3, Error: "bad json at 4", Code: 787, Any: true}}); len(d) != 0 {
		t.Errorf("!fail-any compared the error text or code: %v", d)
	}
	if d := CompareTranscripts(want, Transcript{{Line: 3, Rows: `[]`}}); len(d) != 1 {
		t.Errorf("!fail-any against query rows: want 1 difference, got %q", d)
	}
	if d := CompareTranscripts(want, nil); len(d) != 1 {
		t.Errorf("missing result: want 1 difference, got %q", d)
	}
}

func TestPyStr(t *testing.T) {
	for _, tc := range []struct {
		in     any
		str    string
		truthy bool
	}{
		{nil, "None", false},
		{int64(0), "0", false},
		{int64(-3), "-3", true},
		{0.0, "0.0", false},
		{2.5, "2.5", true},
		{math.NaN(), "nan", true},
		{math.Inf(-1), "-inf", true},
		{"", "", false},
		{"0", "0", true},
		{[]byte{}, "b''", false},
		{[]byte("a\n"), `b'a\n'`, true},
	} {
		if got := pyStr(tc.in); got != tc.str {
			t.Errorf("pyStr(%#v) = %q, want %q", tc.in, got, tc.str)
		}
		if got := pyTruthy(tc.in); got != tc.truthy {
			t.Errorf("pyTruthy(%#v) = %v, want %v", tc.in, got, tc.truthy)
		}
	}
}

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "...\nb\nc"},
		{"a\nb\n", 2, "a\nb"},
		{"", 2, ""},
	} {
		if got := tail(tc.in, tc.n); got != tc.want {
			t.Errorf("tail(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestReadMaster(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE TABLE t(a TEXT PRIMARY KEY, b)",
		"CREATE INDEX t_b ON t(b)",
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := ReadMaster(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.String())
	}
	want := "== index sqlite_autoindex_t_1 (t)\n<no sql: auto index>\n" +
		"== index t_b (t)\nCREATE INDEX t_b ON t(b)\n" +
		"== table t (t)\nCREATE TABLE t(a TEXT PRIMARY KEY, b)\n"
	if got := b.String(); got != want {
		t.Errorf("ReadMaster entries:\n%s\nwant\n%s", got, want)
	}
	if _, err := ReadMaster(t.Context(), filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("ReadMaster of a missing file succeeded")
	}
}
