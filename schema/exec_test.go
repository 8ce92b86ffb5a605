package schema_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"testing"

	"modernc.org/sqlite"

	"github.com/gopowersync/powersync/schema"
)

// This file runs the generated SQL on plain SQLite with simplified stand-ins
// for the driver's functions: every statement must be accepted, and writes
// through the views must reach the data tables and ps_crud the way the
// contract says. (The driver's own tests check the exact ps_crud JSON.)

// stubState is the per-transaction state of the stand-in functions. The test
// database has a single connection, so one value is enough.
type stubState struct {
	claimed map[int64]int64 // kind -> tx id
	kept    bool
	inSync  bool // powersync_in_sync_operation()
}

type connector struct {
	d   *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.d }

func openStubDB(t *testing.T) (*sql.DB, *stubState) {
	t.Helper()
	st := &stubState{claimed: map[int64]int64{}}
	d := &sqlite.Driver{}
	text := func(v driver.Value) string {
		switch v := v.(type) {
		case string:
			return v
		case []byte:
			return string(v)
		case nil:
			return ""
		}
		return fmt.Sprint(v)
	}
	funcs := map[string]struct {
		n int32
		f func(args []driver.Value) (driver.Value, error)
	}{
		"powersync_strip_subtype": {1, func(a []driver.Value) (driver.Value, error) { return a[0], nil }},
		// Enough of powersync_diff for these tests: equal objects give {}.
		"powersync_diff": {2, func(a []driver.Value) (driver.Value, error) {
			if text(a[0]) == text(a[1]) {
				return "{}", nil
			}
			return text(a[1]), nil
		}},
		"powersync_json_merge": {-1, func(a []driver.Value) (driver.Value, error) {
			var parts []string
			for _, v := range a {
				s := text(v)
				if inner := s[1 : len(s)-1]; inner != "" {
					parts = append(parts, inner)
				}
			}
			return "{" + strings.Join(parts, ",") + "}", nil
		}},
		"powersync_crud_entry": {7, func(a []driver.Value) (driver.Value, error) {
			op, data, options := text(a[0]), text(a[3]), a[6].(int64)
			if options&16 != 0 && op == "PATCH" && data == "{}" {
				st.kept = false
				return nil, nil
			}
			st.kept = true
			return fmt.Sprintf("%s %s %s data=%s old=%s meta=%s", op, text(a[1]), text(a[2]), data, text(a[4]), text(a[5])), nil
		}},
		// The stand-in sets the gate for every kept entry; once per
		// transaction is the driver's business (and tested there).
		"powersync_gate_once": {0, func([]driver.Value) (driver.Value, error) {
			if st.kept {
				return int64(1), nil
			}
			return int64(0), nil
		}},
		"powersync_crud_kept": {0, func([]driver.Value) (driver.Value, error) {
			if st.kept {
				return int64(1), nil
			}
			return int64(0), nil
		}},
		"powersync_tx_claim": {2, func(a []driver.Value) (driver.Value, error) {
			kind := a[0].(int64)
			if _, ok := st.claimed[kind]; ok {
				return int64(0), nil
			}
			st.claimed[kind] = a[1].(int64)
			return int64(1), nil
		}},
		"powersync_tx_unclaimed": {0, func([]driver.Value) (driver.Value, error) {
			if _, ok := st.claimed[0]; ok {
				return nil, nil
			}
			return int64(1), nil
		}},
		"powersync_crud_put": {4, func(a []driver.Value) (driver.Value, error) {
			st.kept = true
			return fmt.Sprintf("PUT %s %s data=%s old= meta=%s", text(a[0]), text(a[1]), text(a[2]), text(a[3])), nil
		}},
		"powersync_tx_id": {1, func(a []driver.Value) (driver.Value, error) { return st.claimed[a[0].(int64)], nil }},
		"powersync_in_sync_operation": {0, func([]driver.Value) (driver.Value, error) {
			if st.inSync {
				return int64(1), nil
			}
			return int64(0), nil
		}},
	}
	for name, fn := range funcs {
		if err := d.RegisterScalarFunction(name, fn.n, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			return fn.f(args)
		}); err != nil {
			t.Fatal(err)
		}
	}
	db := sql.OpenDB(connector{d: d, dsn: ":memory:"})
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	for _, stmt := range []string{
		"CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER)",
		"CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER)",
		"INSERT INTO ps_tx(id, current_tx, next_tx) VALUES (1, NULL, 1)",
		"CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB)",
		"CREATE TABLE ps_updated_rows(row_type TEXT, row_id TEXT, PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID",
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	return db, st
}

// tx runs the statements in one transaction, then forgets the claimed tx
// ids as the driver's commit hook does.
func tx(t *testing.T, db *sql.DB, st *stubState, stmts ...string) {
	t.Helper()
	defer clear(st.claimed)
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(t.Context(), s); err != nil {
			tx.Rollback()
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func query(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var fields []string
		for _, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fields = append(fields, fmt.Sprint(v))
		}
		out = append(out, strings.Join(fields, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// TestGeneratedSQLRuns creates every object of every test schema on SQLite.
func TestGeneratedSQLRuns(t *testing.T) {
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			db, st := openStubDB(t)
			s := caseSchema(t, c)
			for i := range s.Tables {
				for _, stmt := range s.Tables[i].Statements() {
					if _, err := db.ExecContext(t.Context(), stmt); err != nil {
						t.Fatalf("%v\n%s", err, stmt)
					}
				}
			}
			for _, r := range s.RawTables {
				if r.TableName == "" {
					continue
				}
				cols := rawLocalTables[r.TableName]
				defs := strings.Replace(strings.Join(cols, ", "), "id", "id TEXT PRIMARY KEY", 1)
				if _, err := db.ExecContext(t.Context(), "CREATE TABLE "+r.TableName+" ("+defs+")"); err != nil {
					t.Fatal(err)
				}
				for _, w := range []schema.WriteType{schema.WriteInsert, schema.WriteUpdate, schema.WriteDelete} {
					sql, err := r.TriggerSQL(r.Name+"_"+strings.ToLower(string(w)), w, cols)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := db.ExecContext(t.Context(), sql); err != nil {
						t.Fatalf("%v\n%s", err, sql)
					}
				}
				put, del, err := r.InferStatements(cols)
				if err != nil {
					t.Fatal(err)
				}
				// The sync client runs them in a sync operation: the CRUD
				// triggers stay inert.
				st.inSync = true
				for _, p := range []*schema.PendingStatement{put, del} {
					args := make([]any, len(p.Params))
					for i := range args {
						args[i] = "v"
					}
					if _, err := db.ExecContext(t.Context(), p.SQL, args...); err != nil {
						t.Fatalf("%v\n%s", err, p.SQL)
					}
				}
				st.inSync = false
				if got := query(t, db, "SELECT count(*) FROM ps_crud"); got != "0" {
					t.Errorf("writes of the sync client recorded %s CRUD entries", got)
				}
			}
		})
	}
}

// TestWritesThroughViews checks the effect of writes through the generated
// views with the stand-in functions.
func TestWritesThroughViews(t *testing.T) {
	db, st := openStubDB(t)
	s := schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title"), schema.Integer("done")}, IgnoreEmptyUpdates: true},
		schema.Table{Name: "logs", Columns: []schema.Column{schema.Text("msg")}, InsertOnly: true},
		schema.Table{Name: "drafts", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true},
		schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}, TrackMetadata: true, TrackPrevious: &schema.TrackPreviousValues{}},
	)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for i := range s.Tables {
		for _, stmt := range s.Tables[i].Statements() {
			if _, err := db.ExecContext(t.Context(), stmt); err != nil {
				t.Fatalf("%v\n%s", err, stmt)
			}
		}
	}

	tx(t, db, st,
		"INSERT INTO todos(id, title, done) VALUES ('t1', 'a', 0)",
		"INSERT INTO logs(id, msg) VALUES ('l1', 'hello')",
		"INSERT INTO drafts(id, body) VALUES ('d1', 'x')",
	)
	if got, want := query(t, db, "SELECT id, data FROM ps_data__todos"), `t1|{"title":"a","done":0}`; got != want {
		t.Errorf("ps_data__todos = %s, want %s", got, want)
	}
	if got := query(t, db, "SELECT count(*) FROM ps_data__logs"); got != "0" {
		t.Errorf("insert-only table stores rows: %s", got)
	}
	if got, want := query(t, db, "SELECT data FROM ps_data_local__drafts"), `{"body":"x"}`; got != want {
		t.Errorf("local-only data = %s, want %s", got, want)
	}
	// Simple and manual entries claim their own tx ids (kinds 0 and 1).
	if got, want := query(t, db, "SELECT tx_id, data FROM ps_crud ORDER BY id"),
		"1|PUT t1 todos data={\"title\":\"a\",\"done\":0} old= meta=\n"+
			`2|{"op":"PUT","type":"logs","id":"l1","data":{"msg":"hello"}}`; got != want {
		t.Errorf("ps_crud:\n%s\nwant\n%s", got, want)
	}
	if got, want := query(t, db, "SELECT row_type, row_id FROM ps_updated_rows"), "todos|t1"; got != want {
		t.Errorf("ps_updated_rows = %s, want %s", got, want)
	}
	if got, want := query(t, db, "SELECT key, value FROM ps_kv"), "target_checkpoint_request_id|9223372036854775807"; got != want {
		t.Errorf("ps_kv = %s, want %s", got, want)
	}

	// An empty update of an ignore_empty_update table records nothing, and
	// leaves the gate and ps_updated_rows alone, but uses up a tx id.
	if _, err := db.ExecContext(t.Context(), "DELETE FROM ps_kv; DELETE FROM ps_updated_rows"); err != nil {
		t.Fatal(err)
	}
	tx(t, db, st, "UPDATE todos SET title = title WHERE id = 't1'")
	if got := query(t, db, "SELECT count(*) FROM ps_crud"); got != "2" {
		t.Errorf("empty update recorded: %s entries", got)
	}
	if got := query(t, db, "SELECT (SELECT count(*) FROM ps_kv) + (SELECT count(*) FROM ps_updated_rows)"); got != "0" {
		t.Errorf("empty update touched ps_kv or ps_updated_rows")
	}
	tx(t, db, st, "UPDATE todos SET done = 1 WHERE id = 't1'")
	if got, want := query(t, db, "SELECT tx_id, data FROM ps_crud WHERE id = 3"), "4|PATCH t1 todos data={\"title\":\"a\",\"done\":1} old= meta="; got != want {
		t.Errorf("update entry = %s, want %s", got, want)
	}
	if got := query(t, db, "SELECT count(*) FROM ps_kv"); got != "1" {
		t.Errorf("update did not set the gate")
	}

	// Id checks.
	for stmt, msg := range map[string]string{
		"INSERT INTO todos(id, title) VALUES (NULL, 'x')": "id is required",
		"INSERT INTO todos(id, title) VALUES (1, 'x')":    "id should be text",
		"UPDATE todos SET id = 't2' WHERE id = 't1'":      "Cannot update id",
		"UPDATE drafts SET id = 'd2' WHERE id = 'd1'":     "Cannot update id",
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", stmt, err, msg)
		}
	}
	// Local-only tables accept any id; insert-only tables reject updates.
	tx(t, db, st, "INSERT INTO drafts(id, body) VALUES (2, 'y')")
	if _, err := db.ExecContext(t.Context(), "UPDATE logs SET msg = 'x'"); err == nil {
		t.Error("update of an insert-only view succeeded")
	}

	// Metadata: insert, update and delete through _deleted carry it; a plain
	// delete records previous values.
	if _, err := db.ExecContext(t.Context(), "DELETE FROM ps_crud"); err != nil {
		t.Fatal(err)
	}
	tx(t, db, st,
		"INSERT INTO lists(id, name, _metadata) VALUES ('a', 'A', 'm1')",
		"INSERT INTO lists(id, name) VALUES ('b', 'B')",
		"UPDATE lists SET name = 'A2', _metadata = 'm2' WHERE id = 'a'",
		"UPDATE lists SET _deleted = TRUE, _metadata = 'm3' WHERE id = 'a'",
		"DELETE FROM lists WHERE id = 'b'",
	)
	want := strings.Join([]string{
		`PUT a lists data={"name":"A"} old= meta=m1`,
		`PUT b lists data={"name":"B"} old= meta=`,
		`PATCH a lists data={"name":"A2"} old={"name":"A"} meta=m2`,
		`DELETE a lists data= old={"name":"A2"} meta=m3`,
		`DELETE b lists data= old={"name":"B"} meta=`,
	}, "\n")
	if got := query(t, db, "SELECT data FROM ps_crud ORDER BY id"); got != want {
		t.Errorf("ps_crud:\n%s\nwant\n%s", got, want)
	}
	if got := query(t, db, "SELECT count(*) FROM ps_data__lists"); got != "0" {
		t.Errorf("%s rows left in ps_data__lists", got)
	}
}

// TestRawTableWrites checks the effect of local writes on a raw table with
// generated CRUD triggers and the stand-in functions.
func TestRawTableWrites(t *testing.T) {
	db, st := openStubDB(t)
	r := schema.RawTable{
		Name: "users", TableName: "local_users", SyncedColumns: []string{"email", "name"},
		TrackPrevious: &schema.TrackPreviousValues{Columns: []string{"email"}},
	}
	cols := []string{"id", "email", "name", "local_flag"}
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE local_users (id TEXT PRIMARY KEY, email TEXT, name TEXT, local_flag INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for _, w := range []schema.WriteType{schema.WriteInsert, schema.WriteUpdate, schema.WriteDelete} {
		sql, err := r.TriggerSQL("users_"+strings.ToLower(string(w)), w, cols)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(t.Context(), sql); err != nil {
			t.Fatalf("%v\n%s", err, sql)
		}
	}
	tx(t, db, st,
		"INSERT INTO local_users VALUES ('u1', 'a@x', 'A', 0)",
		"UPDATE local_users SET local_flag = 1 WHERE id = 'u1'", // local-only column: not uploaded
		"UPDATE local_users SET email = 'b@x' WHERE id = 'u1'",
		"DELETE FROM local_users WHERE id = 'u1'",
	)
	want := strings.Join([]string{
		`1|PUT u1 users data={"email":"a@x","name":"A"} old= meta=`,
		`1|PATCH u1 users data={"email":"b@x","name":"A"} old={"email":"a@x"} meta=`,
		`1|DELETE u1 users data= old={"email":"b@x"} meta=`,
	}, "\n")
	if got := query(t, db, "SELECT tx_id, data FROM ps_crud ORDER BY id"); got != want {
		t.Errorf("ps_crud:\n%s\nwant\n%s", got, want)
	}
	if got := query(t, db, "SELECT row_type, row_id FROM ps_updated_rows"); got != "users|u1" {
		t.Errorf("ps_updated_rows = %s", got)
	}
	if _, err := db.ExecContext(t.Context(), "UPDATE local_users SET id = 'x'"); err != nil {
		t.Errorf("update of no rows failed: %v", err)
	}
}
