package schema_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/schema"
)

// Vectors from the official core's unit tests (the view and trigger SQL it
// generates for a table).
func TestSpecVectors(t *testing.T) {
	tbl := schema.Table{Name: "table", Columns: []schema.Column{{Name: "a", Type: "text"}, {Name: "b", Type: "integer"}}}
	if got, want := tbl.ViewSQL(), `CREATE VIEW "table"("id", "a", "b") AS SELECT id, CAST(json_extract(data, '$.a') as text), CAST(json_extract(data, '$.b') as integer) FROM "ps_data__table" -- powersync-auto-generated`; got != want {
		t.Errorf("view:\n got %s\nwant %s", got, want)
	}
	tbl.Indexes = []schema.Index{{Name: "index", Columns: []schema.IndexedColumn{schema.Asc("a"), schema.Desc("b")}}}
	idx := tbl.IndexSQL()
	if len(idx) != 1 || idx[0].Name != "ps_data__table__index" ||
		idx[0].SQL != `CREATE INDEX "ps_data__table__index" ON "ps_data__table"(CAST(json_extract(data, '$.a') as text), CAST(json_extract(data, '$.b') as integer) DESC)` {
		t.Errorf("index = %+v", idx)
	}
	fragment := stripSubtypeCalls(`json_object('a', powersync_strip_subtype(NEW."a"), 'b', powersync_strip_subtype(NEW."b"))`)
	ins := tbl.Triggers()[0]
	if !strings.Contains(ins.SQL, `INSERT INTO "ps_data__table" SELECT NEW.id, `+fragment+";\n") {
		t.Errorf("insert trigger lacks the data table insert:\n%s", ins.SQL)
	}

	lists := schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("description")}}
	if got, want := lists.DataTableSQL(), `CREATE TABLE "ps_data__lists"(id TEXT PRIMARY KEY NOT NULL, data TEXT)`; got != want {
		t.Errorf("data table:\n got %s\nwant %s", got, want)
	}
}

// TestTriggerShape checks the complete trigger text of a plain synced table
// against the contract's shape.
func TestTriggerShape(t *testing.T) {
	tbl := schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}}
	fn := stripSubtypeCalls(`json_object('name', powersync_strip_subtype(NEW."name"))`)
	fo := stripSubtypeCalls(`json_object('name', powersync_strip_subtype(OLD."name"))`)
	bookkeeping := func(id string) string {
		return "INSERT INTO ps_updated_rows(row_type, row_id) SELECT 'lists', " + id + " WHERE true ON CONFLICT DO NOTHING;\n" +
			"INSERT INTO ps_kv(key, value) SELECT 'target_checkpoint_request_id', 9223372036854775807 WHERE powersync_gate_once() ON CONFLICT(key) DO UPDATE SET value = excluded.value;\n" +
			"DELETE FROM ps_kv WHERE key IN ('last_seen_checkpoint_request_id', 'last_applied_checkpoint_request_id');\n"
	}
	claim := "UPDATE ps_tx SET next_tx = next_tx + powersync_tx_claim(0, next_tx) WHERE id = powersync_tx_unclaimed();\n"
	crud := "INSERT INTO ps_crud(tx_id, data) SELECT (SELECT next_tx - 1 FROM ps_tx WHERE id = 1), e FROM (SELECT "
	want := []schema.Trigger{
		{Name: "ps_view_insert_lists", On: schema.WriteInsert, SQL: `CREATE TRIGGER "ps_view_insert_lists" INSTEAD OF INSERT ON "lists" FOR EACH ROW BEGIN` + "\n" +
			"SELECT CASE WHEN (NEW.id IS NULL) THEN RAISE (FAIL, 'id is required') WHEN (typeof(NEW.id) != 'text') THEN RAISE (FAIL, 'id should be text') END;\n" +
			`INSERT INTO "ps_data__lists" SELECT NEW.id, ` + fn + ";\n" +
			"SELECT RAISE (IGNORE) WHERE changes() = 0;\n" +
			claim +
			crud + "powersync_crud_put(NEW.id, 'lists', " + fn + ", NULL) AS e) WHERE e IS NOT NULL;\n" +
			bookkeeping("NEW.id") + "END"},
		{Name: "ps_view_update_lists", On: schema.WriteUpdate, SQL: `CREATE TRIGGER "ps_view_update_lists" INSTEAD OF UPDATE ON "lists" FOR EACH ROW BEGIN` + "\n" +
			"SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\n" +
			`UPDATE "ps_data__lists" SET data = ` + fn + " WHERE id = NEW.id;\n" +
			claim +
			crud + "powersync_crud_entry('PATCH', NEW.id, 'lists', json(powersync_diff(" + fo + ", " + fn + ")), NULL, NULL, 0) AS e) WHERE e IS NOT NULL;\n" +
			bookkeeping("NEW.id") + "END"},
		{Name: "ps_view_delete_lists", On: schema.WriteDelete, SQL: `CREATE TRIGGER "ps_view_delete_lists" INSTEAD OF DELETE ON "lists" FOR EACH ROW BEGIN` + "\n" +
			`DELETE FROM "ps_data__lists" WHERE id = OLD.id;` + "\n" +
			claim +
			crud + "powersync_crud_entry('DELETE', OLD.id, 'lists', NULL, NULL, NULL, 0) AS e) WHERE e IS NOT NULL;\n" +
			bookkeeping("OLD.id") + "END"},
	}
	got := tbl.Triggers()
	if len(got) != len(want) {
		t.Fatalf("%d triggers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("trigger %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestTriggerKinds(t *testing.T) {
	cols := []schema.Column{schema.Text("a")}
	tests := []struct {
		name  string
		table schema.Table
		names []string
		// substrings that must (or, with a leading !, must not) appear in
		// every trigger
		contains []string
	}{
		{
			name:     "local-only records nothing",
			table:    schema.Table{Name: "t", Columns: cols, LocalOnly: true},
			names:    []string{"ps_view_insert_t", "ps_view_update_t", "ps_view_delete_t"},
			contains: []string{"ps_data_local__t", "!ps_crud", "!ps_tx", "!ps_kv", "!ps_updated_rows", "!id is required"},
		},
		{
			name:     "insert-only uses the manual form",
			table:    schema.Table{Name: "t", Columns: cols, InsertOnly: true, TrackMetadata: true},
			names:    []string{"ps_view_insert_t"},
			contains: []string{"powersync_tx_claim(1, next_tx)", stripSubtypeCalls("VALUES (powersync_tx_id(1), json_object('op', 'PUT', 'type', 't', 'id', NEW.id, 'data', json(powersync_diff('{}', json_object('a', powersync_strip_subtype(NEW.\"a\"))))));\nEND"), "!ps_data__t", "!ps_kv", "!ps_updated_rows", "!powersync_crud_entry", "id is required"},
		},
		{
			name:     "view name override",
			table:    schema.Table{Name: "t", ViewNameOverride: "v", Columns: cols},
			names:    []string{"ps_view_insert_v", "ps_view_update_v", "ps_view_delete_v"},
			contains: []string{` ON "v" FOR EACH ROW`, `"ps_data__t"`, ", 't', "},
		},
		{
			name:     "metadata adds delete2",
			table:    schema.Table{Name: "t", Columns: cols, TrackMetadata: true},
			names:    []string{"ps_view_insert_t", "ps_view_update_t", "ps_view_delete_t", "ps_view_delete2_t"},
			contains: []string{"!powersync_crud_kept"},
		},
		{
			name:     "ignore empty updates guards the update bookkeeping",
			table:    schema.Table{Name: "t", Columns: cols, IgnoreEmptyUpdates: true},
			names:    []string{"ps_view_insert_t", "ps_view_update_t", "ps_view_delete_t"},
			contains: []string{"ps_crud"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trs := tt.table.Triggers()
			var names []string
			for _, tr := range trs {
				names = append(names, tr.Name)
				for _, c := range tt.contains {
					if neg, ok := strings.CutPrefix(c, "!"); ok {
						if strings.Contains(tr.SQL, neg) {
							t.Errorf("%s contains %q:\n%s", tr.Name, neg, tr.SQL)
						}
					} else if !strings.Contains(tr.SQL, c) {
						t.Errorf("%s lacks %q:\n%s", tr.Name, c, tr.SQL)
					}
				}
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.names) {
				t.Errorf("triggers %v, want %v", names, tt.names)
			}
		})
	}
}

func TestIgnoreEmptyUpdateGuards(t *testing.T) {
	tbl := schema.Table{Name: "t", Columns: []schema.Column{schema.Text("a")}, IgnoreEmptyUpdates: true}
	for _, tr := range tbl.Triggers() {
		// ps_updated_rows and the ps_kv delete are guarded; the gate itself
		// is set by powersync_gate_once(), which checks the same condition.
		guarded := strings.Count(tr.SQL, "powersync_crud_kept()")
		want := 0
		if tr.On == schema.WriteUpdate {
			want = 2
		}
		if guarded != want {
			t.Errorf("%s has %d powersync_crud_kept() guards, want %d:\n%s", tr.Name, guarded, want, tr.SQL)
		}
	}
	upd := tbl.Triggers()[1].SQL
	for _, s := range []string{
		"INSERT INTO ps_updated_rows(row_type, row_id) SELECT 't', NEW.id WHERE powersync_crud_kept() ON CONFLICT DO NOTHING;",
		"INSERT INTO ps_kv(key, value) SELECT 'target_checkpoint_request_id', 9223372036854775807 WHERE powersync_gate_once() ON CONFLICT(key) DO UPDATE SET value = excluded.value;",
		"DELETE FROM ps_kv WHERE key IN ('last_seen_checkpoint_request_id', 'last_applied_checkpoint_request_id') AND powersync_crud_kept();",
		", NULL, NULL, 16) AS e) WHERE e IS NOT NULL;",
	} {
		if !strings.Contains(upd, s) {
			t.Errorf("update trigger lacks %q:\n%s", s, upd)
		}
	}
}

func TestJSONFragmentChunks(t *testing.T) {
	var cols []schema.Column
	for i := range 101 {
		cols = append(cols, schema.Integer(fmt.Sprintf("c%d", i)))
	}
	tbl := schema.Table{Name: "t", Columns: cols}
	upd := tbl.Triggers()[1].SQL
	if !strings.Contains(upd, `UPDATE "ps_data__t" SET data = powersync_json_merge(json_object('c0', `) {
		t.Fatalf("no powersync_json_merge:\n%s", upd)
	}
	// 101 columns: chunks of 50, 50 and 1.
	if !strings.Contains(upd, stripSubtypeCalls(`'c49', powersync_strip_subtype(NEW."c49")), json_object('c50', `)) ||
		!strings.Contains(upd, stripSubtypeCalls(`'c99', powersync_strip_subtype(NEW."c99")), json_object('c100', powersync_strip_subtype(NEW."c100"))) WHERE id = NEW.id;`)) {
		t.Errorf("chunks not split at 50 pairs:\n%s", upd)
	}
	// Exactly 50 columns fit one json_object.
	tbl.Columns = cols[:50]
	if strings.Contains(tbl.Triggers()[0].SQL, "powersync_json_merge") {
		t.Error("50 columns should not be merged")
	}
	// No columns: an empty object.
	empty := schema.Table{Name: "e"}
	if !strings.Contains(empty.Triggers()[0].SQL, `INSERT INTO "ps_data__e" SELECT NEW.id, json_object();`) {
		t.Errorf("empty table insert:\n%s", empty.Triggers()[0].SQL)
	}
}

func TestStatements(t *testing.T) {
	tbl := todos()
	st := tbl.Statements()
	if len(st) != 1+1+1+3 {
		t.Fatalf("%d statements", len(st))
	}
	if st[0] != tbl.DataTableSQL() || st[1] != tbl.IndexSQL()[0].SQL || st[2] != tbl.ViewSQL() || st[3] != tbl.Triggers()[0].SQL {
		t.Errorf("statements out of order: %q", st)
	}
}

func TestParseWriteType(t *testing.T) {
	for _, s := range []string{"INSERT", "UPDATE", "DELETE"} {
		if w, err := schema.ParseWriteType(s); err != nil || string(w) != s {
			t.Errorf("ParseWriteType(%s) = %v, %v", s, w, err)
		}
	}
	if _, err := schema.ParseWriteType("insert"); err == nil || !strings.Contains(err.Error(), "unexpected write type insert") {
		t.Errorf("ParseWriteType(insert) = %v", err)
	}
}

// Vectors from the official core's unit tests of inferred raw-table
// statements.
func TestInferStatements(t *testing.T) {
	r := schema.RawTable{Name: "sync_type", TableName: "tbl"}
	put, del, err := r.InferStatements([]string{"id", "foo", "bar"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `INSERT INTO "tbl" (id, "foo", "bar") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "foo" = ?2, "bar" = ?3`; put.SQL != want {
		t.Errorf("put:\n got %s\nwant %s", put.SQL, want)
	}
	if fmt.Sprint(put.Params) != "[Id Column(foo) Column(bar)]" {
		t.Errorf("put params %v", put.Params)
	}
	if del.SQL != `DELETE FROM "tbl" WHERE id = ?` || fmt.Sprint(del.Params) != "[Id]" {
		t.Errorf("delete %+v", del)
	}

	// id may be anywhere; synced columns filter, in table order.
	r.SyncedColumns = []string{"bar", "baz"}
	put, _, err = r.InferStatements([]string{"foo", "bar", "id", "baz"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `INSERT INTO "tbl" (id, "bar", "baz") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "bar" = ?2, "baz" = ?3`; put.SQL != want {
		t.Errorf("filtered put:\n got %s\nwant %s", put.SQL, want)
	}

	// Only the id.
	r.SyncedColumns = nil
	put, _, err = r.InferStatements([]string{"id"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `INSERT INTO "tbl" (id) VALUES (?1) ON CONFLICT (id) DO NOTHING`; put.SQL != want {
		t.Errorf("id-only put: %s", put.SQL)
	}

	// Explicit statements are returned as they are; a missing one is inferred.
	explicit := &schema.PendingStatement{SQL: "DELETE FROM tbl WHERE id = ?", Params: []schema.Param{schema.IDParam()}}
	r.Delete = explicit
	put, del, err = r.InferStatements([]string{"id", "foo"})
	if err != nil || del != explicit || !strings.HasPrefix(put.SQL, `INSERT INTO "tbl" (id, "foo")`) {
		t.Errorf("half explicit: %v %v %v", put, del, err)
	}
	r.Put = &schema.PendingStatement{SQL: "x"}
	if p, d, err := r.InferStatements(nil); err != nil || p != r.Put || d != explicit {
		t.Errorf("fully explicit: %v %v %v", p, d, err)
	}
}

func TestRawTableErrors(t *testing.T) {
	tests := []struct {
		raw   schema.RawTable
		local []string
		want  string
	}{
		{schema.RawTable{Name: "r"}, []string{"id"}, "raw table r has no local name"},
		{schema.RawTable{Name: "r", TableName: "t"}, nil, "could not find t in local schema"},
		{schema.RawTable{Name: "r", TableName: "t"}, []string{"a", "b"}, "table t has no id column"},
	}
	for _, tt := range tests {
		_, _, err := tt.raw.InferStatements(tt.local)
		if err == nil || !errors.Is(err, schema.ErrInvalidSchema) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("InferStatements(%+v, %v) = %v, want %q", tt.raw, tt.local, err, tt.want)
		}
		_, err = tt.raw.TriggerSQL("x", schema.WriteInsert, tt.local)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("TriggerSQL(%+v, %v) = %v, want %q", tt.raw, tt.local, err, tt.want)
		}
	}
	r := schema.RawTable{Name: "r", TableName: "t"}
	if _, err := r.TriggerSQL("x", "UPSERT", []string{"id"}); err == nil {
		t.Error("TriggerSQL accepted write type UPSERT")
	}
}

// Vectors from the official core's unit tests of raw-table CRUD triggers,
// in our CRUD form.
func TestRawTableTriggers(t *testing.T) {
	local := []string{"id", "email", "email_verified"}
	r := schema.RawTable{Name: "sync_type", TableName: "users"}
	fn := stripSubtypeCalls(`json_object('email', powersync_strip_subtype(NEW."email"), 'email_verified', powersync_strip_subtype(NEW."email_verified"))`)
	fo := strings.ReplaceAll(fn, "NEW.", "OLD.")
	tests := []struct {
		write    schema.WriteType
		contains []string
	}{
		{schema.WriteInsert, []string{
			`CREATE TRIGGER "test" AFTER INSERT ON "users" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN` + "\n",
			"powersync_crud_entry('PUT', NEW.id, 'sync_type', json(powersync_diff('{}', " + fn + ")), NULL, NULL, 0)",
			"SELECT 'sync_type', NEW.id WHERE true ON CONFLICT DO NOTHING;",
		}},
		{schema.WriteUpdate, []string{
			`CREATE TRIGGER "test" AFTER UPDATE ON "users" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN` + "\n" +
				"SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\n",
			"powersync_crud_entry('PATCH', NEW.id, 'sync_type', json(powersync_diff(" + fo + ", " + fn + ")), NULL, NULL, 0)",
		}},
		{schema.WriteDelete, []string{
			`CREATE TRIGGER "test" AFTER DELETE ON "users" FOR EACH ROW WHEN NOT powersync_in_sync_operation() BEGIN` + "\n",
			"powersync_crud_entry('DELETE', OLD.id, 'sync_type', NULL, NULL, NULL, 0)",
		}},
	}
	for _, tt := range tests {
		sql, err := r.TriggerSQL("test", tt.write, local)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range tt.contains {
			if !strings.Contains(sql, c) {
				t.Errorf("%s trigger lacks %q:\n%s", tt.write, c, sql)
			}
		}
		if !strings.HasSuffix(sql, "\nEND") {
			t.Errorf("%s trigger does not end with END:\n%s", tt.write, sql)
		}
	}

	// Synced columns restrict the update trigger to changes of those columns.
	r2 := schema.RawTable{Name: "t", TableName: "t", SyncedColumns: []string{"synced_a", "synced_b"}}
	sql, err := r2.TriggerSQL("u", schema.WriteUpdate, []string{"id", "synced_a", "local_a", "synced_b", "local_b"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "WHEN NOT powersync_in_sync_operation() AND\n(OLD.\"synced_a\" IS NOT NEW.\"synced_a\" OR OLD.\"synced_b\" IS NOT NEW.\"synced_b\") BEGIN\n") ||
		strings.Contains(sql, "local_") {
		t.Errorf("synced columns update trigger:\n%s", sql)
	}

	// Insert-only: manual insert, updates and deletes fail.
	r3 := schema.RawTable{Name: "sync_type", TableName: "users", InsertOnly: true}
	ins, err := r3.TriggerSQL("i", schema.WriteInsert, local)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ins, "powersync_tx_claim(1, next_tx)") || !strings.Contains(ins, "json_object('op', 'PUT', 'type', 'sync_type', 'id', NEW.id, 'data', json(powersync_diff('{}', "+fn+"))))") {
		t.Errorf("insert-only insert:\n%s", ins)
	}
	for _, w := range []schema.WriteType{schema.WriteUpdate, schema.WriteDelete} {
		sql, err := r3.TriggerSQL("x", w, local)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(sql, "BEGIN\nSELECT RAISE(FAIL, 'Unexpected update on insert-only table');\nEND") {
			t.Errorf("insert-only %s:\n%s", w, sql)
		}
	}
}
