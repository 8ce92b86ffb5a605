package schema

import (
	"strconv"
	"strings"
)

// ViewMarker ends the SQL of every generated view. Views whose stored SQL
// ends with it are managed by PowerSync (sqlite_master.sql GLOB
// '*-- powersync-auto-generated').
const ViewMarker = " -- powersync-auto-generated"

// maxJSONObjectPairs is the number of key/value pairs per json_object() call
// in a JSON fragment: SQLite's default limit of 100 function arguments, halved.
const maxJSONObjectPairs = 50

// WriteType is the kind of write a trigger fires on.
type WriteType string

// The write types of triggers.
const (
	WriteInsert WriteType = "INSERT"
	WriteUpdate WriteType = "UPDATE"
	WriteDelete WriteType = "DELETE"
)

// ParseWriteType parses "INSERT", "UPDATE" or "DELETE", the write_type
// argument of powersync_create_raw_table_crud_trigger.
func ParseWriteType(s string) (WriteType, error) {
	switch w := WriteType(s); w {
	case WriteInsert, WriteUpdate, WriteDelete:
		return w, nil
	}
	return "", invalid("unexpected write type %s", s)
}

// Statement is a named schema object and the SQL that creates it.
type Statement struct {
	Name string
	SQL  string
}

// Trigger is a generated trigger: its name, the write it fires on and the
// CREATE TRIGGER statement.
type Trigger struct {
	Name string
	// On is the write the trigger fires on. The ps_view_delete2_ trigger of a
	// table tracking metadata fires on UPDATE.
	On  WriteType
	SQL string
}

// quoteIdent returns s as a double-quoted SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// quoteString returns s as a single-quoted SQL string literal.
func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// jsonExtractCast returns CAST(json_extract(data, '$.<name>') as <type>).
func jsonExtractCast(name string, typ ColumnType) string {
	return "CAST(json_extract(data, " + quoteString("$."+name) + ") as " + string(typ) + ")"
}

// DataTableSQL returns the CREATE TABLE statement of the table's data table,
// exactly as the core writes it.
func (t *Table) DataTableSQL() string {
	return "CREATE TABLE " + quoteIdent(t.DataTableName()) + "(id TEXT PRIMARY KEY NOT NULL, data TEXT)"
}

// ViewSQL returns the CREATE VIEW statement of the table's view, byte for
// byte the core's: the id column, each declared column extracted from the
// JSON data and cast to its type, and _metadata and _deleted (always NULL)
// when the table tracks metadata, ending with [ViewMarker].
func (t *Table) ViewSQL() string {
	var b strings.Builder
	b.WriteString("CREATE VIEW ")
	b.WriteString(quoteIdent(t.ViewName()))
	b.WriteString(`("id"`)
	for _, c := range t.Columns {
		b.WriteString(", ")
		b.WriteString(quoteIdent(c.Name))
	}
	if t.TrackMetadata {
		b.WriteString(`, "_metadata", "_deleted"`)
	}
	b.WriteString(") AS SELECT id")
	for _, c := range t.Columns {
		b.WriteString(", ")
		b.WriteString(jsonExtractCast(c.Name, c.Type))
	}
	if t.TrackMetadata {
		b.WriteString(", NULL, NULL")
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteIdent(t.DataTableName()))
	b.WriteString(ViewMarker)
	return b.String()
}

// IndexName returns the SQLite name of the table's index idx:
// <data table>__<index name>.
func (t *Table) IndexName(idx *Index) string {
	return t.DataTableName() + "__" + idx.Name
}

// IndexSQL returns the name and CREATE INDEX statement of each of the
// table's indexes, byte for byte the core's.
func (t *Table) IndexSQL() []Statement {
	out := make([]Statement, 0, len(t.Indexes))
	for i := range t.Indexes {
		idx := &t.Indexes[i]
		name := t.IndexName(idx)
		exprs := make([]string, len(idx.Columns))
		for j, ic := range idx.Columns {
			e := jsonExtractCast(ic.Name, t.indexColumnType(ic))
			if ic.Descending {
				e += " DESC"
			}
			exprs[j] = e
		}
		out = append(out, Statement{
			Name: name,
			SQL:  "CREATE INDEX " + quoteIdent(name) + " ON " + quoteIdent(t.DataTableName()) + "(" + strings.Join(exprs, ", ") + ")",
		})
	}
	return out
}

// indexColumnType is the type an index column is cast to: its own Type if
// set, otherwise the declared column's.
func (t *Table) indexColumnType(ic IndexedColumn) ColumnType {
	if ic.Type != "" {
		return ic.Type
	}
	if c := t.Column(ic.Name); c != nil {
		return c.Type
	}
	return TypeText
}

// columnNames returns the names of the declared columns.
func (t *Table) columnNames() []string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return names
}

// jsonFragment returns the SQL expression building a JSON object of the
// given columns of prefix (NEW or OLD), as the core does: json_object() with
// 'name', powersync_strip_subtype(P."name") pairs, split into calls of at
// most 50 pairs combined with powersync_json_merge() when there are more.
func jsonFragment(prefix string, columns []string) string {
	if len(columns) <= maxJSONObjectPairs {
		return jsonObject(prefix, columns)
	}
	var b strings.Builder
	b.WriteString("powersync_json_merge(")
	for i := 0; i < len(columns); i += maxJSONObjectPairs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(jsonObject(prefix, columns[i:min(i+maxJSONObjectPairs, len(columns))]))
	}
	b.WriteString(")")
	return b.String()
}

// stripSubtype returns the SQL expression of col's value without a JSON
// subtype, the core's powersync_strip_subtype(col): text made by a JSON
// function is stored as a string, not embedded as JSON. Only text values
// carry the subtype (json_object embeds text with it verbatim), and
// concatenating ” copies text without it; other values pass as they are.
// SQLite evaluates this itself, without a call into Go per column.
func stripSubtype(col string) string {
	return "CASE typeof(" + col + ") WHEN 'text' THEN " + col + " || '' ELSE " + col + " END"
}

func jsonObject(prefix string, columns []string) string {
	var b strings.Builder
	b.WriteString("json_object(")
	for i, c := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteString(c))
		b.WriteString(", ")
		b.WriteString(stripSubtype(prefix + "." + quoteIdent(c)))
	}
	b.WriteString(")")
	return b.String()
}

// filterColumns returns the columns that are in keep, in the order of
// columns. A nil keep keeps all.
func filterColumns(columns, keep []string) []string {
	if keep == nil {
		return columns
	}
	set := make(map[string]bool, len(keep))
	for _, k := range keep {
		set[k] = true
	}
	out := []string{}
	for _, c := range columns {
		if set[c] {
			out = append(out, c)
		}
	}
	return out
}

// Fixed statements of the generated triggers.
const (
	checkIDValid     = "SELECT CASE WHEN (NEW.id IS NULL) THEN RAISE (FAIL, 'id is required') WHEN (typeof(NEW.id) != 'text') THEN RAISE (FAIL, 'id should be text') END;\n"
	checkIDUnchanged = "SELECT CASE WHEN (OLD.id != NEW.id) THEN RAISE (FAIL, 'Cannot update id') END;\n"
	// crudKept guards the bookkeeping after a CRUD entry that may have been
	// dropped as an empty update.
	crudKept = "powersync_crud_kept()"
)

// crudEntry describes the upload entry a trigger records, the arguments of
// powersync_crud_entry.
type crudEntry struct {
	op       string // PUT, PATCH or DELETE
	id       string // SQL expression of the row id
	typ      string // the table name ("type" of the entry)
	data     string // SQL expression or ""
	old      string // SQL expression or ""
	metadata string // SQL expression or ""
	options  int
	// put, when set, is the SQL expression of the whole entry, in place of
	// powersync_crud_entry(...) built from the fields above.
	put string
	// guarded entries may be dropped (ignored empty updates): the
	// bookkeeping only runs when powersync_crud_kept().
	guarded bool
}

func orNull(expr string) string {
	if expr == "" {
		return "NULL"
	}
	return expr
}

// writeCrud appends the statements recording e in ps_crud, the Go
// equivalent of the core's INSERT INTO powersync_crud(...): claim a
// transaction id, insert the entry, mark the row for re-evaluation by the
// next sync_local and set the local-write gate in ps_kv.
func writeCrud(b *strings.Builder, e crudEntry) {
	typ := quoteString(e.typ)
	// The transaction's first entry claims its id (powersync_tx_unclaimed()
	// is NULL afterwards, so later rows skip the statement without reading
	// ps_tx); every entry then has the id next_tx - 1.
	b.WriteString("UPDATE ps_tx SET next_tx = next_tx + powersync_tx_claim(0, next_tx) WHERE id = powersync_tx_unclaimed();\n")
	b.WriteString("INSERT INTO ps_crud(tx_id, data) SELECT (SELECT next_tx - 1 FROM ps_tx WHERE id = 1), e FROM (SELECT ")
	if e.put != "" {
		b.WriteString(e.put)
	} else {
		b.WriteString("powersync_crud_entry(")
		b.WriteString(quoteString(e.op))
		b.WriteString(", ")
		b.WriteString(e.id)
		b.WriteString(", ")
		b.WriteString(typ)
		b.WriteString(", ")
		b.WriteString(orNull(e.data))
		b.WriteString(", ")
		b.WriteString(orNull(e.old))
		b.WriteString(", ")
		b.WriteString(orNull(e.metadata))
		b.WriteString(", ")
		b.WriteString(strconv.Itoa(e.options))
		b.WriteString(")")
	}
	b.WriteString(" AS e) WHERE e IS NOT NULL;\n")

	where, and := " WHERE true", ""
	if e.guarded {
		where, and = " WHERE "+crudKept, " AND "+crudKept
	}
	// SQLite applies the conflict clause of the statement that fired the
	// trigger (INSERT OR ROLLBACK INTO todos ...) to every statement in it,
	// in place of their own OR IGNORE or OR REPLACE; an upsert clause is
	// kept, so these two writes hold whatever clause the user's statement has.
	b.WriteString("INSERT INTO ps_updated_rows(row_type, row_id) SELECT ")
	b.WriteString(typ)
	b.WriteString(", ")
	b.WriteString(e.id)
	b.WriteString(where)
	b.WriteString(" ON CONFLICT DO NOTHING;\n")
	// The gate is set by the transaction's first kept entry only: writing
	// the same ps_kv row for every row written would cost a page write each.
	b.WriteString("INSERT INTO ps_kv(key, value) SELECT 'target_checkpoint_request_id', 9223372036854775807 WHERE powersync_gate_once() ON CONFLICT(key) DO UPDATE SET value = excluded.value;\n")
	b.WriteString("DELETE FROM ps_kv WHERE key IN ('last_seen_checkpoint_request_id', 'last_applied_checkpoint_request_id')")
	b.WriteString(and)
	b.WriteString(";\n")
}

// skipIgnoredInsert ends the insert trigger for a row that the data table
// did not take: under INSERT OR IGNORE of an id that already exists, the
// insert into the data table is ignored, and an upload entry recorded
// anyway would be a PUT of only the given columns, which replaces the whole
// row on the server. The official core records that PUT; this driver
// records nothing for the row (RAISE(IGNORE) skips to the next row of the
// statement).
const skipIgnoredInsert = "SELECT RAISE (IGNORE) WHERE changes() = 0;\n"

// writeManualPut appends the statements recording an insert of an
// insert-only table: a tx id of its own kind and a ps_crud entry built with
// json_object, without touching ps_updated_rows or the write gate.
func writeManualPut(b *strings.Builder, typ, fragment string) {
	b.WriteString("UPDATE ps_tx SET next_tx = next_tx + 1 WHERE id = 1 AND powersync_tx_claim(1, next_tx);\n")
	b.WriteString("INSERT INTO ps_crud(tx_id, data) VALUES (powersync_tx_id(1), json_object('op', 'PUT', 'type', ")
	b.WriteString(quoteString(typ))
	b.WriteString(", 'id', NEW.id, 'data', json(powersync_diff('{}', ")
	b.WriteString(fragment)
	b.WriteString("))));\n")
}

// oldValues returns the expression of the previous values recorded for an
// update or delete (the table's include_old), or "" when they are not tracked.
func oldValues(columns []string, track *TrackPreviousValues, update bool) string {
	if track == nil {
		return ""
	}
	cols := filterColumns(columns, track.Columns)
	old := jsonFragment("OLD", cols)
	if update && track.OnlyWhenChanged {
		return "json(powersync_diff(" + jsonFragment("NEW", cols) + ", " + old + "))"
	}
	return old
}

// Triggers returns the INSTEAD OF triggers of the table's view, in the order
// insert, update, delete, and delete2 (tables tracking metadata only).
//
// They have the core's names (ps_view_insert_<view>, ps_view_update_<view>,
// ps_view_delete_<view>, ps_view_delete2_<view>), id checks, data table
// statements and JSON fragments. Instead of the core's powersync_crud
// virtual table they record upload entries with plain statements on ps_tx,
// ps_crud, ps_updated_rows and ps_kv and the SQL functions
// powersync_tx_claim, powersync_tx_id, powersync_crud_entry,
// powersync_crud_kept and powersync_gate_once, which the driver registers on
// every connection.
//
// Insert-only tables have only the insert trigger, which records a manual
// entry and stores nothing. Local-only tables record nothing.
func (t *Table) Triggers() []Trigger {
	view := t.ViewName()
	data := quoteIdent(t.DataTableName())
	cols := t.columnNames()
	fnew := jsonFragment("NEW", cols)
	synced := !t.LocalOnly

	header := func(prefix string, on WriteType) string {
		return "CREATE TRIGGER " + quoteIdent(prefix+view) + " INSTEAD OF " + string(on) + " ON " + quoteIdent(view) + " FOR EACH ROW "
	}
	var metadata string
	if t.TrackMetadata {
		metadata = "NEW._metadata"
	}

	// INSERT
	var b strings.Builder
	b.WriteString(header("ps_view_insert_", WriteInsert))
	b.WriteString("BEGIN\n")
	if synced {
		b.WriteString(checkIDValid)
	}
	if t.insertOnly() {
		writeManualPut(&b, t.Name, fnew)
	} else {
		b.WriteString("INSERT INTO " + data + " SELECT NEW.id, " + fnew + ";\n")
		if synced {
			b.WriteString(skipIgnoredInsert)
			writeCrud(&b, crudEntry{
				op: "PUT", id: "NEW.id", typ: t.Name,
				put: "powersync_crud_put(NEW.id, " + quoteString(t.Name) + ", " + fnew + ", " + orNull(metadata) + ")",
			})
		}
	}
	b.WriteString("END")
	triggers := []Trigger{{Name: "ps_view_insert_" + view, On: WriteInsert, SQL: b.String()}}
	if t.insertOnly() {
		return triggers
	}

	// UPDATE
	fold := jsonFragment("OLD", cols)
	b.Reset()
	b.WriteString(header("ps_view_update_", WriteUpdate))
	if t.TrackMetadata {
		b.WriteString(" WHEN NEW._deleted IS NOT TRUE ")
	}
	b.WriteString("BEGIN\n")
	b.WriteString(checkIDUnchanged)
	b.WriteString("UPDATE " + data + " SET data = " + fnew + " WHERE id = NEW.id;\n")
	if synced {
		writeCrud(&b, crudEntry{
			op: "PATCH", id: "NEW.id", typ: t.Name,
			data:     "json(powersync_diff(" + fold + ", " + fnew + "))",
			old:      oldValues(cols, t.TrackPrevious, true),
			metadata: metadata,
			options:  t.Flags(),
			guarded:  t.IgnoreEmptyUpdates,
		})
	}
	b.WriteString("END")
	triggers = append(triggers, Trigger{Name: "ps_view_update_" + view, On: WriteUpdate, SQL: b.String()})

	// DELETE
	b.Reset()
	b.WriteString(header("ps_view_delete_", WriteDelete))
	b.WriteString("BEGIN\n")
	b.WriteString("DELETE FROM " + data + " WHERE id = OLD.id;\n")
	if synced {
		writeCrud(&b, crudEntry{op: "DELETE", id: "OLD.id", typ: t.Name, old: oldValues(cols, t.TrackPrevious, false)})
	}
	b.WriteString("END")
	triggers = append(triggers, Trigger{Name: "ps_view_delete_" + view, On: WriteDelete, SQL: b.String()})

	// DELETE2: UPDATE ... SET _deleted = TRUE deletes with metadata.
	if synced && t.TrackMetadata {
		b.Reset()
		b.WriteString(header("ps_view_delete2_", WriteUpdate))
		b.WriteString("WHEN NEW._deleted IS TRUE BEGIN\n")
		b.WriteString("DELETE FROM " + data + " WHERE id = OLD.id;\n")
		writeCrud(&b, crudEntry{
			op: "DELETE", id: "OLD.id", typ: t.Name,
			old:      oldValues(cols, t.TrackPrevious, false),
			metadata: metadata,
		})
		b.WriteString("END")
		triggers = append(triggers, Trigger{Name: "ps_view_delete2_" + view, On: WriteUpdate, SQL: b.String()})
	}
	return triggers
}

// Statements returns every statement creating the table's objects, in an
// order that can be executed as is: the data table, the indexes, the view
// and its triggers.
func (t *Table) Statements() []string {
	out := []string{t.DataTableSQL()}
	for _, s := range t.IndexSQL() {
		out = append(out, s.SQL)
	}
	out = append(out, t.ViewSQL())
	for _, tr := range t.Triggers() {
		out = append(out, tr.SQL)
	}
	return out
}
