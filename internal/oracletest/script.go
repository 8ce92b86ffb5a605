package oracletest

import (
	"bufio"
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"modernc.org/sqlite"
)

//go:embed sqlscript.py
var sqlscriptPy []byte

// Kind is the directive of one script step.
type Kind string

// The directives of a SQL script.
const (
	KindSQL      Kind = "!sql"      // a statement in its own write transaction, or in the open group
	KindFail     Kind = "!fail"     // the same, but the statement must fail; an open group stays open
	KindFailAny  Kind = "!fail-any" // !fail whose error text and code are not compared
	KindBegin    Kind = "!begin"    // start a write transaction (a group)
	KindCommit   Kind = "!commit"   // commit the group
	KindRollback Kind = "!rollback" // roll the group back
	KindQuery    Kind = "!query"    // run a query and record its rows
	KindReopen   Kind = "!reopen"   // close the database and open it again
)

// Step is one directive of a SQL script.
type Step struct {
	Line int    // 1-based line number in the script
	Kind Kind   // the directive
	SQL  string // the statement for !sql, !fail and !query
}

// ParseScript reads a SQL script: the oracle's replay format restricted to local writes,
// one directive a line, surrounding whitespace ignored:
//
//	# comment            (and empty lines) ignored
//	!sql STATEMENT       STATEMENT in its own write transaction (as `oracle.sh replay` runs it),
//	                     or inside the open !begin group
//	!fail STATEMENT      the same, but STATEMENT must fail; an open group stays open. The
//	                     error must carry the core's message and primary result code.
//	!fail-any STATEMENT  !fail for errors whose text is an implementation detail of the core
//	                     (its JSON parser's messages, say): only the failure is compared
//	!begin               start a write transaction; !sql/!fail/!query run in it until
//	!commit | !rollback  ends it
//	!query SQL           run SQL and record its rows
//	!reopen              close the database and open it again with the same schema
//
// A script that only has comments and !sql lines is also a valid `oracle.sh replay` input.
func ParseScript(r io.Reader) ([]Step, error) {
	var steps []Step
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	inTx := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		word, arg, _ := strings.Cut(line, " ")
		arg = strings.TrimSpace(arg)
		st := Step{Line: n, Kind: Kind(word)}
		switch st.Kind {
		case KindSQL, KindFail, KindFailAny, KindQuery:
			if arg == "" {
				return nil, fmt.Errorf("oracletest: script line %d: %s needs a statement", n, word)
			}
			st.SQL = arg
		case KindBegin, KindCommit, KindRollback, KindReopen:
			if arg != "" {
				return nil, fmt.Errorf("oracletest: script line %d: %s takes no argument", n, word)
			}
			switch {
			case st.Kind == KindBegin && inTx:
				return nil, fmt.Errorf("oracletest: script line %d: !begin inside a transaction", n)
			case (st.Kind == KindCommit || st.Kind == KindRollback) && !inTx:
				return nil, fmt.Errorf("oracletest: script line %d: %s without !begin", n, word)
			case st.Kind == KindReopen && inTx:
				return nil, fmt.Errorf("oracletest: script line %d: !reopen inside a transaction", n)
			}
			inTx = st.Kind == KindBegin
		default:
			return nil, fmt.Errorf("oracletest: script line %d: unknown directive %q (SQL scripts hold no sync lines)", n, word)
		}
		steps = append(steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("oracletest: read script: %w", err)
	}
	if inTx {
		return nil, errors.New("oracletest: script ends inside a transaction")
	}
	return steps, nil
}

// ReadScript parses the SQL script in a file; see [ParseScript].
func ReadScript(path string) ([]Step, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("oracletest: %w", err)
	}
	defer f.Close()
	steps, err := ParseScript(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return steps, nil
}

// FormatScript renders steps as script text, each on its original line (other lines
// empty), so that transcripts of a part of a script keep the script's line numbers.
func FormatScript(steps []Step) string {
	var b strings.Builder
	line := 1
	for _, st := range steps {
		for ; line < st.Line; line++ {
			b.WriteByte('\n')
		}
		b.WriteString(string(st.Kind))
		if st.SQL != "" {
			b.WriteByte(' ')
			b.WriteString(st.SQL)
		}
		b.WriteByte('\n')
		line++
	}
	return b.String()
}

// SplitAtReopen splits a script at its first !reopen: the steps before it and the steps
// after it. ok is false when the script has no !reopen.
func SplitAtReopen(steps []Step) (before, after []Step, ok bool) {
	for i, st := range steps {
		if st.Kind == KindReopen {
			return steps[:i], steps[i+1:], true
		}
	}
	return steps, nil, false
}

// OnlySQL reports whether a script has only !sql steps, so that `oracle.sh replay` can
// play it as well.
func OnlySQL(steps []Step) bool {
	for _, st := range steps {
		if st.Kind != KindSQL {
			return false
		}
	}
	return true
}

// Entry is the outcome of one !fail or !query step.
type Entry struct {
	Line  int    `json:"line"`
	Error string `json:"error,omitempty"` // !fail: the error message
	Code  int    `json:"code,omitempty"`  // !fail: the SQLite (extended) result code, 0 if unknown
	Rows  string `json:"rows,omitempty"`  // !query: the rows as Python's json.dumps prints them
	Any   bool   `json:"any,omitempty"`   // !fail-any: only the failure counts
}

// Transcript is what playing a script recorded: one entry per !fail and !query step.
type Transcript []Entry

// String renders a transcript one JSON object a line.
func (tr Transcript) String() string {
	var b strings.Builder
	for _, e := range tr {
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseTranscript reads the JSON lines that [Transcript.String] and the oracle's runner print.
func ParseTranscript(text string) (Transcript, error) {
	var tr Transcript
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("oracletest: transcript line %q: %w", line, err)
		}
		tr = append(tr, e)
	}
	return tr, nil
}

// CompareTranscripts checks the transcript of an implementation (got) against the
// official core's (want): the same steps, query rows identical, and every expected
// failure with an error whose text contains the core's message and whose primary result
// code (code & 0xff) is the core's. It returns one line per difference.
func CompareTranscripts(want, got Transcript) []string {
	var diffs []string
	byLine := map[int]Entry{}
	for _, e := range got {
		byLine[e.Line] = e
	}
	for _, w := range want {
		g, ok := byLine[w.Line]
		delete(byLine, w.Line)
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("line %d: no result (want %s)", w.Line, describe(w)))
		case w.Any || g.Any:
			if w.Rows != "" || g.Rows != "" {
				diffs = append(diffs, fmt.Sprintf("line %d: want %s, got %s", w.Line, describe(w), describe(g)))
			}
		case w.Rows != "" || g.Rows != "":
			if w.Rows != g.Rows {
				diffs = append(diffs, fmt.Sprintf("line %d: query rows differ\n  want %s\n  got  %s", w.Line, w.Rows, g.Rows))
			}
		default:
			if !strings.Contains(g.Error, w.Error) {
				diffs = append(diffs, fmt.Sprintf("line %d: error %q does not contain the core's %q", w.Line, g.Error, w.Error))
			}
			if w.Code&0xff != g.Code&0xff {
				diffs = append(diffs, fmt.Sprintf("line %d: result code %d, the core's is %d (error %q)", w.Line, g.Code, w.Code, g.Error))
			}
		}
	}
	for _, g := range got {
		if _, extra := byLine[g.Line]; extra {
			diffs = append(diffs, fmt.Sprintf("line %d: unexpected result %s", g.Line, describe(g)))
		}
	}
	return diffs
}

func describe(e Entry) string {
	if e.Rows != "" {
		return "rows " + e.Rows
	}
	return fmt.Sprintf("error %q (code %d)", e.Error, e.Code)
}

// RunScript plays a SQL script on the official core into dbPath (an existing file is
// continued; a new one gets client_id 'oracle-client') with the schema in schemaPath
// ("" for none), and returns its transcript. It fails the test when the script is
// malformed, a !sql statement fails or a !fail statement succeeds.
func RunScript(tb testing.TB, scriptPath, schemaPath, dbPath string) Transcript {
	tb.Helper()
	py := filepath.Join(tb.TempDir(), "sqlscript.py")
	if err := os.WriteFile(py, sqlscriptPy, 0o644); err != nil {
		tb.Fatal(err)
	}
	args := []string{py, scriptPath, "--db", dbPath}
	if schemaPath != "" {
		args = append(args, "--schema", schemaPath)
	}
	r := Py(tb, args...)
	if r.ExitCode != 0 {
		tb.Fatalf("oracle sqlscript %s: exit %d\n%s", scriptPath, r.ExitCode, tail(r.Stderr, 40))
	}
	tr, err := ParseTranscript(r.Stdout)
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// RunSteps is [RunScript] for steps in memory (written to a temporary file with their
// original line numbers).
func RunSteps(tb testing.TB, steps []Step, schemaPath, dbPath string) Transcript {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "script.sql.ndjson")
	if err := os.WriteFile(path, []byte(FormatScript(steps)), 0o644); err != nil {
		tb.Fatal(err)
	}
	return RunScript(tb, path, schemaPath, dbPath)
}

// Opener opens the database a script plays on; [ExecScript] closes it.
type Opener func(ctx context.Context) (*sql.DB, error)

// ExecScript plays steps on the database that open returns, the way the oracle's runner
// plays them on the core: each !sql/!fail outside a group in its own transaction
// (BeginTx, ExecContext, Commit, or Rollback on error), groups as one transaction, !reopen
// as Close and open again. It closes the database at the end. It returns the transcript
// and, joined, every step that did not behave as the script says (a failing !sql, a
// succeeding !fail, a failing transaction control or query); it keeps going after those.
func ExecScript(ctx context.Context, steps []Step, open Opener) (Transcript, error) {
	db, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("oracletest: open: %w", err)
	}
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	var (
		tr   Transcript
		errs []error
		tx   *sql.Tx
	)
	problem := func(st Step, format string, args ...any) {
		errs = append(errs, fmt.Errorf("line %d (%s): %s", st.Line, st.Kind, fmt.Sprintf(format, args...)))
	}
	for _, st := range steps {
		switch st.Kind {
		case KindSQL, KindFail, KindFailAny:
			failing := st.Kind != KindSQL
			var err error
			if tx != nil {
				_, err = tx.ExecContext(ctx, st.SQL)
			} else {
				err = execInTx(ctx, db, st.SQL)
			}
			switch {
			case failing && err != nil:
				tr = append(tr, Entry{Line: st.Line, Error: err.Error(), Code: ErrorCode(err), Any: st.Kind == KindFailAny})
			case failing:
				problem(st, "statement succeeded but %s expects an error: %s", st.Kind, st.SQL)
			case err != nil:
				problem(st, "%v\n    statement: %s", err, st.SQL)
			}
		case KindBegin:
			t, err := db.BeginTx(ctx, nil)
			if err != nil {
				problem(st, "%v", err)
				continue
			}
			tx = t
		case KindCommit, KindRollback:
			if tx == nil {
				problem(st, "no open transaction (did !begin fail?)")
				continue
			}
			var err error
			if st.Kind == KindCommit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			tx = nil
			if err != nil {
				problem(st, "%v", err)
			}
		case KindQuery:
			var q Querier = db
			if tx != nil {
				q = tx
			}
			rows, err := queryRows(ctx, q, st.SQL)
			if err != nil {
				problem(st, "%v", err)
				continue
			}
			tr = append(tr, Entry{Line: st.Line, Rows: PyJSONRows(rows)})
		case KindReopen:
			if err := db.Close(); err != nil {
				problem(st, "close: %v", err)
			}
			db = nil
			d, err := open(ctx)
			if err != nil {
				problem(st, "open: %v", err)
				return tr, errors.Join(errs...)
			}
			db = d
		}
	}
	if tx != nil {
		_ = tx.Rollback()
	}
	err = db.Close()
	db = nil
	if err != nil {
		errs = append(errs, fmt.Errorf("close: %w", err))
	}
	return tr, errors.Join(errs...)
}

func execInTx(ctx context.Context, db *sql.DB, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ErrorCode returns the SQLite result code of the first *sqlite.Error in err's chain, or 0.
func ErrorCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}
