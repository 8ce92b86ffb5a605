package driver_test

// Conformance of write capture with the official core.
//
// Every testdata/conformance/NAME.sql.ndjson is a SQL script (see oracletest.ParseScript)
// over the schema NAME.json, or the one named by a "# schema: FILE" comment. For each:
//
//   - ours: the script runs through this driver. Its final state (ps_data*, ps_crud JSON,
//     tx ids, ps_kv, ...) and transcript (failed statements, query rows) must equal the
//     golden file NAME.golden.txt, which holds what the official core produced, plus the
//     DDL of the views, data tables and their indexes. With the oracle, the core also runs
//     the script live and `oracle.sh diff` of the two files must be empty.
//   - core_then_ours / ours_then_core: the script's steps before its first !reopen run on
//     one implementation, the rest on the other, in the same file: each must open the
//     other's file, regenerate its triggers and continue ids and tx ids exactly.
//   - replay_agrees: the oracle's own `oracle.sh replay` of the script's leading plain
//     statements gives the same state as the script runner, so the runner plays !sql
//     lines exactly as the oracle does.
//
// Run with -update (or UPDATE_GOLDEN=1) and the oracle installed to rewrite the golden files.

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/oracletest"
	"github.com/gopowersync/powersync/schema"
)

const conformanceDir = "testdata/conformance"

type conformanceCase struct {
	name       string
	scriptPath string
	schemaPath string // absolute
	steps      []oracletest.Step
	schema     *schema.Schema
}

func loadConformanceCases(t *testing.T) []conformanceCase {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(conformanceDir, "*.sql.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatalf("no scripts in %s", conformanceDir)
	}
	var cases []conformanceCase
	for _, p := range scripts {
		name := strings.TrimSuffix(filepath.Base(p), ".sql.ndjson")
		steps, err := oracletest.ReadScript(p)
		if err != nil {
			t.Fatal(err)
		}
		schemaFile := name + ".json"
		if f := schemaComment(t, p); f != "" {
			schemaFile = f
		}
		sp, err := filepath.Abs(filepath.Join(conformanceDir, schemaFile))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(sp)
		if err != nil {
			t.Fatalf("%s: schema: %v", p, err)
		}
		s, err := schema.Parse(raw)
		if err != nil {
			t.Fatalf("%s: schema.Parse: %v", sp, err)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, conformanceCase{name: name, scriptPath: abs, schemaPath: sp, steps: steps, schema: s})
	}
	return cases
}

// schemaComment returns FILE from a "# schema: FILE" line of a script, or "".
func schemaComment(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# schema:"); ok {
			return strings.TrimSpace(rest)
		}
	}
	return ""
}

// opener opens path through this driver with schema s, the way an application does.
func opener(path string, s *schema.Schema) oracletest.Opener {
	return func(ctx context.Context) (*sql.DB, error) {
		c, err := driver.NewConnector(path, driver.WithSchema(s))
		if err != nil {
			return nil, err
		}
		db := sql.OpenDB(c)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, err
		}
		return db, nil
	}
}

// masterDDL renders the sqlite_master entries a schema owns: views, ps_data* tables and
// their indexes. Triggers are left out: this driver records CRUD without the core's
// virtual tables, so its trigger bodies differ by design.
func masterDDL(t *testing.T, path string) string {
	t.Helper()
	entries, err := oracletest.ReadMaster(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("######## schema (views, data tables, their indexes)\n")
	for _, e := range entries {
		if e.Type == "view" || strings.HasPrefix(e.TblName, "ps_data") && (e.Type == "table" || e.Type == "index") {
			b.WriteString(e.String())
		}
	}
	return b.String()
}

// goldenText is the content of a golden file: the transcript (one "#> " JSON line per
// failed statement or query), the state dump and the schema's DDL.
func goldenText(tr oracletest.Transcript, dump, ddl string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(tr.String(), "\n"), "\n") {
		if line != "" {
			b.WriteString("#> " + line + "\n")
		}
	}
	b.WriteString(dump)
	b.WriteString(ddl)
	return b.String()
}

// parseGolden splits a golden file into its transcript and the rest (dump and DDL).
func parseGolden(t *testing.T, text string) (oracletest.Transcript, string) {
	t.Helper()
	var tr, rest strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if j, ok := strings.CutPrefix(line, "#> "); ok {
			tr.WriteString(j)
		} else {
			rest.WriteString(line)
		}
	}
	parsed, err := oracletest.ParseTranscript(tr.String())
	if err != nil {
		t.Fatal(err)
	}
	return parsed, rest.String()
}

func linesAfter(tr oracletest.Transcript, line int) oracletest.Transcript {
	var out oracletest.Transcript
	for _, e := range tr {
		if e.Line > line {
			out = append(out, e)
		}
	}
	return out
}

func reportTranscript(t *testing.T, who string, want, got oracletest.Transcript) {
	t.Helper()
	if d := oracletest.CompareTranscripts(want, got); len(d) > 0 {
		t.Errorf("%s: statement results differ from the core's:\n  %s", who, strings.Join(d, "\n  "))
	}
}

func dumpOf(t *testing.T, path string) string {
	t.Helper()
	d, err := oracletest.DumpFile(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestConformance(t *testing.T) {
	cases := loadConformanceCases(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			goldenPath := filepath.Join(conformanceDir, c.name+".golden.txt")
			oracle := oracletest.Available() || oracletest.InCI()
			tmp := t.TempDir()
			official := filepath.Join(tmp, "official.db")
			var officialTr oracletest.Transcript
			var officialText string
			if oracle {
				oracletest.Require(t)
				officialTr = oracletest.RunScript(t, c.scriptPath, c.schemaPath, official)
				officialText = goldenText(officialTr, dumpOf(t, official), masterDDL(t, official))
				if oracletest.Updating() {
					oracletest.WriteGolden(t, goldenPath, officialText)
				}
			} else if oracletest.Updating() {
				t.Fatal("-update needs the oracle: golden files hold what the official core produced")
			}
			raw, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("golden file: %v (create it with -update and the oracle installed)", err)
			}
			golden := string(raw)
			if oracle && golden != officialText {
				t.Errorf("the core's result differs from %s (regenerate with -update if the script changed):\n%s",
					goldenPath, oracletest.LineDiff(golden, officialText))
			}
			goldenTr, goldenState := parseGolden(t, golden)

			t.Run("ours", func(t *testing.T) {
				ours := filepath.Join(t.TempDir(), "ours.db")
				tr, err := oracletest.ExecScript(t.Context(), c.steps, opener(ours, c.schema))
				if err != nil {
					t.Errorf("statements that did not behave as on the core:\n%v", err)
				}
				reportTranscript(t, "ours", goldenTr, tr)
				if d := oracletest.LineDiff(goldenState, dumpOf(t, ours)+masterDDL(t, ours)); d != "" {
					t.Errorf("state differs from the core's (%s; - core, + ours):\n%s", goldenPath, d)
				}
				if oracle {
					if same, d := oracletest.Diff(t, official, ours, false); !same {
						t.Errorf("oracle.sh diff official.db ours.db:\n%s", d)
					}
				}
			})

			before, after, ok := oracletest.SplitAtReopen(c.steps)
			if !ok {
				t.Fatalf("%s has no !reopen: the interop subtests hand the file over there", c.scriptPath)
			}
			reopenLine := after[0].Line - 1
			if len(before) > 0 {
				reopenLine = before[len(before)-1].Line
			}

			t.Run("core_then_ours", func(t *testing.T) {
				oracletest.Require(t)
				path := filepath.Join(t.TempDir(), "handover.db")
				oracletest.RunSteps(t, before, c.schemaPath, path)
				tr, err := oracletest.ExecScript(t.Context(), after, opener(path, c.schema))
				if err != nil {
					t.Errorf("on the core's file, statements that did not behave as on the core:\n%v", err)
				}
				reportTranscript(t, "ours on the core's file", linesAfter(officialTr, reopenLine), tr)
				if same, d := oracletest.Diff(t, official, path, false); !same {
					t.Errorf("core's file continued by ours differs from the core alone:\n%s", d)
				}
			})

			t.Run("ours_then_core", func(t *testing.T) {
				oracletest.Require(t)
				path := filepath.Join(t.TempDir(), "handover.db")
				if _, err := oracletest.ExecScript(t.Context(), before, opener(path, c.schema)); err != nil {
					t.Errorf("statements that did not behave as on the core:\n%v", err)
				}
				tr := oracletest.RunSteps(t, after, c.schemaPath, path)
				reportTranscript(t, "the core on our file", linesAfter(officialTr, reopenLine), tr)
				if same, d := oracletest.Diff(t, official, path, false); !same {
					t.Errorf("our file continued by the core differs from the core alone:\n%s", d)
				}
			})

			t.Run("replay_agrees", func(t *testing.T) {
				oracletest.Require(t)
				var plain []oracletest.Step
				var lines strings.Builder
				for _, st := range c.steps {
					if st.Kind == oracletest.KindQuery || st.Kind == oracletest.KindReopen {
						continue
					}
					if st.Kind != oracletest.KindSQL {
						break
					}
					plain = append(plain, st)
					fmt.Fprintf(&lines, "!sql %s\n", st.SQL)
				}
				if len(plain) == 0 {
					t.Skip("the script starts with no plain statement")
				}
				dir := t.TempDir()
				script := filepath.Join(dir, "plain.ndjson")
				if err := os.WriteFile(script, []byte(lines.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				replayed, ran := filepath.Join(dir, "replay.db"), filepath.Join(dir, "runner.db")
				oracletest.Replay(t, script, c.schemaPath, replayed, "")
				oracletest.RunSteps(t, plain, c.schemaPath, ran)
				if same, d := oracletest.Diff(t, replayed, ran, true); !same {
					t.Errorf("oracle.sh replay and the script runner disagree:\n%s", d)
				}
			})
		})
	}
}

// TestConformanceTodosSchemaIsTheOracles keeps testdata/conformance/todos.json equal to the
// oracle's examples/schema_todos.json.
func TestConformanceTodosSchemaIsTheOracles(t *testing.T) {
	dir := oracletest.Dir(t)
	want, err := os.ReadFile(filepath.Join(dir, "examples", "schema_todos.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(conformanceDir, "todos.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s/todos.json differs from the oracle's examples/schema_todos.json", conformanceDir)
	}
}
