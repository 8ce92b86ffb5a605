package schema_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
	"github.com/gopowersync/powersync/schema"
)

// masterEntry is one sqlite_master entry printed by `oracle.sh schema`.
type masterEntry struct {
	typ, name, tbl, sql string
}

var entryHeader = regexp.MustCompile(`^== (\S+) (.+) \((.*)\)$`)

// parseOracleOutput parses the output of `oracle.sh schema X --schema-only`.
func parseOracleOutput(t *testing.T, out []byte) []masterEntry {
	t.Helper()
	var entries []masterEntry
	var sql []string
	flush := func() {
		if len(entries) > 0 {
			entries[len(entries)-1].sql = strings.Join(sql, "\n")
		}
		sql = nil
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if i == 0 && strings.HasPrefix(line, "-- core ") {
			continue
		}
		if m := entryHeader.FindStringSubmatch(line); m != nil {
			flush()
			entries = append(entries, masterEntry{typ: m[1], name: m[2], tbl: m[3]})
			continue
		}
		if len(entries) == 0 {
			t.Fatalf("unexpected oracle output line %q", line)
		}
		sql = append(sql, line)
	}
	flush()
	return entries
}

func caseSchema(t *testing.T, c oracleCase) *schema.Schema {
	t.Helper()
	if c.schema != nil {
		return c.schema()
	}
	data, err := os.ReadFile(c.input)
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", c.input, err)
	}
	return s
}

// TestOracleGolden compares the generated data tables, views and indexes
// byte for byte, and the trigger names and events, with what the official
// core creates for the same schema JSON (our MarshalJSON output). The
// golden files in testdata/oracle hold the JSON and the oracle's output;
// when the oracle is available it is also run live and must agree with them.
func TestOracleGolden(t *testing.T) {
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			s := caseSchema(t, c)
			if err := s.Validate(); (err == nil) != c.valid {
				t.Fatalf("Validate() = %v, want valid %v", err, c.valid)
			}
			js, err := s.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			js = append(js, '\n')
			jsonPath := filepath.Join("testdata", "oracle", c.name+".json")
			txtPath := filepath.Join("testdata", "oracle", c.name+".txt")
			if oracletest.Updating() {
				if err := os.WriteFile(jsonPath, js, 0o644); err != nil {
					t.Fatal(err)
				}
				out := runOracleSchema(t, jsonPath)
				if err := os.WriteFile(txtPath, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantJSON, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatalf("%v (run go test -update with the oracle to create it)", err)
			}
			if !bytes.Equal(js, wantJSON) {
				t.Errorf("MarshalJSON differs from %s:\n got %s\nwant %s", jsonPath, js, wantJSON)
			}
			golden, err := os.ReadFile(txtPath)
			if err != nil {
				t.Fatal(err)
			}
			compareWithOracle(t, s, parseOracleOutput(t, golden))
		})
	}
}

// TestOracleLive runs the oracle on the golden JSON files and checks that
// its output is still the recorded one.
func TestOracleLive(t *testing.T) {
	if oracletest.Updating() {
		t.Skip("golden files are being rewritten")
	}
	oracletest.Require(t)
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			jsonPath := filepath.Join("testdata", "oracle", c.name+".json")
			got := runOracleSchema(t, jsonPath)
			want, err := os.ReadFile(filepath.Join("testdata", "oracle", c.name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("oracle output for %s differs from the golden file:\n%s", jsonPath, got)
			}
		})
	}
}

func runOracleSchema(t *testing.T, jsonPath string) []byte {
	t.Helper()
	r := oracletest.Command(t, "schema", jsonPath, "--schema-only")
	if r.ExitCode != 0 {
		t.Fatalf("oracle.sh schema %s: exit %d\n%s", jsonPath, r.ExitCode, r.Stderr)
	}
	return []byte(r.Stdout)
}

var triggerEvent = regexp.MustCompile(`INSTEAD OF (INSERT|UPDATE|DELETE) ON`)

func compareWithOracle(t *testing.T, s *schema.Schema, entries []masterEntry) {
	t.Helper()
	type key struct{ typ, name string }
	oracle := map[key]masterEntry{}
	for _, e := range entries {
		if e.typ == "index" && strings.HasPrefix(e.name, "sqlite_autoindex_") {
			continue
		}
		oracle[key{e.typ, e.name}] = e
	}
	check := func(typ, name, tbl, sql string) {
		t.Helper()
		e, ok := oracle[key{typ, name}]
		if !ok {
			t.Errorf("the core creates no %s %s", typ, name)
			return
		}
		delete(oracle, key{typ, name})
		if e.tbl != tbl {
			t.Errorf("%s %s: on %q, the core's on %q", typ, name, tbl, e.tbl)
		}
		if sql != "" && e.sql != sql {
			t.Errorf("%s %s:\n got %s\nwant %s", typ, name, sql, e.sql)
		}
	}
	for i := range s.Tables {
		tb := &s.Tables[i]
		check("table", tb.DataTableName(), tb.DataTableName(), tb.DataTableSQL())
		check("view", tb.ViewName(), tb.ViewName(), tb.ViewSQL())
		for _, idx := range tb.IndexSQL() {
			check("index", idx.Name, tb.DataTableName(), idx.SQL)
		}
		for _, tr := range tb.Triggers() {
			e, ok := oracle[key{"trigger", tr.Name}]
			check("trigger", tr.Name, tb.ViewName(), "")
			if !ok {
				continue
			}
			m := triggerEvent.FindStringSubmatch(e.sql)
			if m == nil || schema.WriteType(m[1]) != tr.On {
				t.Errorf("trigger %s fires on %s, the core's on %v", tr.Name, tr.On, m)
			}
		}
	}
	var extra []string
	for k := range oracle {
		extra = append(extra, k.typ+" "+k.name)
	}
	slices.Sort(extra)
	if len(extra) > 0 {
		t.Errorf("the core also creates %v", extra)
	}
}
