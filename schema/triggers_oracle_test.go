package schema_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
	"github.com/gopowersync/powersync/schema"
)

// scanSQL calls f for every byte of sql outside string literals and quoted
// identifiers, with the parenthesis depth; f returning false stops.
func scanSQL(sql string, f func(i int, depth int) bool) {
	depth := 0
	var quote byte
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
			continue
		case '(':
			depth++
		case ')':
			depth--
		}
		if !f(i, depth) {
			return
		}
	}
}

// splitTrigger splits CREATE TRIGGER text into its header (up to and
// including BEGIN) and its body statements (trimmed, without ';').
func splitTrigger(t *testing.T, sql string) (header string, stmts []string) {
	t.Helper()
	begin := -1
	scanSQL(sql, func(i, depth int) bool {
		if depth == 0 && strings.HasPrefix(sql[i:], "BEGIN") && i > 0 && (sql[i-1] == ' ') {
			begin = i + len("BEGIN")
			return false
		}
		return true
	})
	if begin < 0 || !strings.HasSuffix(sql, "END") {
		t.Fatalf("not a trigger: %s", sql)
	}
	header = sql[:begin]
	body := sql[begin : len(sql)-len("END")]
	start := 0
	scanSQL(body, func(i, depth int) bool {
		if depth == 0 && body[i] == ';' {
			stmts = append(stmts, strings.TrimSpace(body[start:i]))
			start = i + 1
		}
		return true
	})
	if rest := strings.TrimSpace(body[start:]); rest != "" {
		t.Fatalf("trigger body does not end with ';': %q", rest)
	}
	return header, stmts
}

// splitArgs splits a comma-separated SQL list at the top level.
func splitArgs(list string) []string {
	var out []string
	start := 0
	scanSQL(list, func(i, depth int) bool {
		if depth == 0 && list[i] == ',' {
			out = append(out, strings.TrimSpace(list[start:i]))
			start = i + 1
		}
		return true
	})
	return append(out, strings.TrimSpace(list[start:]))
}

// compareTrigger checks that our trigger does what the core's does: the same
// header (name, timing, event, WHEN clause), the same statements apart from
// the CRUD recording, in the same order, and for each of the core's
// INSERT INTO powersync_crud / powersync_crud_ a recording with exactly the
// same arguments.
func compareTrigger(t *testing.T, ours, core string) {
	t.Helper()
	coreHeader, coreStmts := splitTrigger(t, core)
	ourHeader, ourStmts := splitTrigger(t, ours)
	if strings.TrimSpace(coreHeader) != strings.TrimSpace(ourHeader) {
		t.Errorf("header:\n got %s\nwant %s", ourHeader, coreHeader)
	}
	next := 0 // position in ourStmts
	find := func(want ...string) {
		t.Helper()
		for ; next < len(ourStmts); next++ {
			for _, w := range want {
				if ourStmts[next] == w {
					next++
					return
				}
			}
		}
		t.Errorf("statement missing or out of order:\n%s\nin\n%s", strings.Join(want, "\nor\n"), ours)
	}
	const crud, manual = "INSERT INTO powersync_crud(", "INSERT INTO powersync_crud_(data) VALUES("
	for _, st := range coreStmts {
		st = stripSubtypeCalls(st)
		switch {
		case strings.HasPrefix(st, crud):
			cols := strings.Split(st[len(crud):strings.Index(st, ")")], ",")
			vi := strings.Index(st, " VALUES (")
			vals := splitArgs(st[vi+len(" VALUES (") : len(st)-1])
			if len(vals) != len(cols) {
				t.Fatalf("cannot parse %s", st)
			}
			arg := map[string]string{"data": "NULL", "old_values": "NULL", "metadata": "NULL", "options": "0"}
			for i, c := range cols {
				arg[c] = vals[i]
			}
			want := "powersync_crud_entry(" + strings.Join([]string{
				arg["op"], arg["id"], arg["type"], arg["data"], arg["old_values"], arg["metadata"], arg["options"],
			}, ", ") + ") AS e) WHERE e IS NOT NULL"
			// an insert's PUT may be made by powersync_crud_put in one call
			var put string
			if d, ok := strings.CutPrefix(arg["data"], "json(powersync_diff('{}', "); ok && arg["op"] == "'PUT'" && arg["old_values"] == "NULL" && arg["options"] == "0" {
				put = "powersync_crud_put(" + strings.Join([]string{arg["id"], arg["type"], strings.TrimSuffix(d, "))"), arg["metadata"]}, ", ") + ") AS e) WHERE e IS NOT NULL"
			}
			const crudInsert = "INSERT INTO ps_crud(tx_id, data) SELECT (SELECT next_tx - 1 FROM ps_tx WHERE id = 1), e FROM (SELECT "
			find("UPDATE ps_tx SET next_tx = next_tx + powersync_tx_claim(0, next_tx) WHERE id = powersync_tx_unclaimed()")
			find(crudInsert+want, crudInsert+put)
		case strings.HasPrefix(st, manual):
			find("UPDATE ps_tx SET next_tx = next_tx + 1 WHERE id = 1 AND powersync_tx_claim(1, next_tx)")
			find("INSERT INTO ps_crud(tx_id, data) VALUES (powersync_tx_id(1), " + st[len(manual):])
		default:
			find(st)
		}
	}
}

// stripSubtypeCalls rewrites the core's powersync_strip_subtype(X) calls
// into the SQL expression our triggers use in their place.
func stripSubtypeCalls(st string) string {
	const call = "powersync_strip_subtype("
	for {
		i := strings.Index(st, call)
		if i < 0 {
			return st
		}
		end := -1
		arg := st[i+len(call):]
		scanSQL(arg, func(j, depth int) bool {
			if depth < 0 {
				end = j
				return false
			}
			return true
		})
		if end < 0 {
			return st
		}
		x := arg[:end]
		st = st[:i] + "CASE typeof(" + x + ") WHEN 'text' THEN " + x + " || '' ELSE " + x + " END" + arg[end+1:]
	}
}

// compareTriggers compares each of our triggers with the core's of the same
// name in the oracle output.
func compareTriggers(t *testing.T, s *schema.Schema, entries []masterEntry) {
	t.Helper()
	core := map[string]string{}
	for _, e := range entries {
		if e.typ == "trigger" {
			core[e.name] = e.sql
		}
	}
	for i := range s.Tables {
		for _, tr := range s.Tables[i].Triggers() {
			if sql, ok := core[tr.Name]; ok {
				t.Run(tr.Name, func(t *testing.T) { compareTrigger(t, tr.SQL, sql) })
			}
		}
	}
}

func TestOracleTriggers(t *testing.T) {
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			golden, err := os.ReadFile(filepath.Join("testdata", "oracle", c.name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			compareTriggers(t, caseSchema(t, c), parseOracleOutput(t, golden))
		})
	}
}

// rawLocalTables are the local tables of the raw tables in rawSchema.
var rawLocalTables = map[string][]string{
	"local_users": {"id", "email", "name", "local_flag"},
	"logs":        {"id", "msg", "level"},
}

// TestOracleRawTriggers compares the raw-table CRUD triggers with the
// core's powersync_create_raw_table_crud_trigger for the raw tables of
// testdata/oracle/raw.json (golden file raw_triggers.txt, and live when the
// oracle is available).
func TestOracleRawTriggers(t *testing.T) {
	golden := filepath.Join("testdata", "oracle", "raw_triggers.txt")
	if oracletest.Updating() || os.Getenv("CI") == "true" || oracletest.Available() {
		tables, err := json.Marshal(rawLocalTables)
		if err != nil {
			t.Fatal(err)
		}
		tablesPath := filepath.Join(t.TempDir(), "tables.json")
		if err := os.WriteFile(tablesPath, tables, 0o644); err != nil {
			t.Fatal(err)
		}
		r := oracletest.Py(t, filepath.Join("testdata", "oracle", "raw_triggers.py"), filepath.Join("testdata", "oracle", "raw.json"), tablesPath)
		if r.ExitCode != 0 {
			t.Fatalf("raw_triggers.py: exit %d\n%s", r.ExitCode, r.Stderr)
		}
		oracletest.Golden(t, golden, r.Stdout)
	}
	out, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	entries := parseOracleOutput(t, out)
	if len(entries) != 6 {
		t.Fatalf("%d triggers in %s, want 6", len(entries), golden)
	}
	s := rawSchema()
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			name, write, _ := strings.Cut(e.name, "_")
			rt := s.RawTable(name)
			w, err := schema.ParseWriteType(strings.ToUpper(write))
			if err != nil {
				t.Fatal(err)
			}
			ours, err := rt.TriggerSQL(e.name, w, rawLocalTables[rt.TableName])
			if err != nil {
				t.Fatal(err)
			}
			compareTrigger(t, ours, e.sql)
		})
	}
}
