package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// RawTable is a table the application creates and manages itself (with its
// own columns, constraints and indexes) and that the sync client writes into
// with the statements given here, or with statements inferred from the local
// table (when Put or Delete is nil).
//
// Local writes to a raw table are uploaded by triggers the application
// creates, typically with the SQL function
// powersync_create_raw_table_crud_trigger (see [RawTable.TriggerSQL]).
type RawTable struct {
	// Name is the object_type of the synced rows routed to this table, and
	// the "type" of its upload entries. It need not equal TableName.
	Name string
	// TableName is the local SQLite table. It is required when Put or Delete
	// is nil (inferred statements) and for generated triggers.
	TableName string
	// SyncedColumns restricts the synced and uploaded columns; the others are
	// local-only columns. Nil means all columns except id.
	SyncedColumns []string
	// Put upserts a synced row; nil infers it from the local table.
	Put *PendingStatement
	// Delete deletes a synced row; nil infers it from the local table.
	Delete *PendingStatement
	// Clear is run to empty the table when the database is cleared (e.g. on
	// disconnect and clear); empty runs nothing.
	Clear string

	// InsertOnly makes the generated triggers record inserts only; updates
	// and deletes fail.
	InsertOnly bool
	// TrackPrevious, when set, records previous values of updates and deletes
	// in the upload entries.
	TrackPrevious *TrackPreviousValues
	// IgnoreEmptyUpdates drops the upload entry of an UPDATE that changes no
	// synced value.
	IgnoreEmptyUpdates bool
}

// PendingStatement is a statement the sync client runs for a synced row,
// with a source for each of its bind parameters.
type PendingStatement struct {
	SQL    string
	Params []Param
}

// ParamKind says what a [Param] binds.
type ParamKind uint8

// The kinds of statement parameters.
const (
	// ParamID binds the row id.
	ParamID ParamKind = iota + 1
	// ParamColumn binds the value of one column of the synced row.
	ParamColumn
	// ParamRest binds a JSON object of all values of the synced row not bound
	// by an ID or Column parameter of the same statement (NULL when there
	// are none).
	ParamRest
)

// Param is the source of one bind parameter of a [PendingStatement]. In the
// schema JSON it is "Id", {"Column": "name"} or "Rest".
type Param struct {
	Kind ParamKind
	// Column is the column name of a ParamColumn parameter.
	Column string
}

// IDParam returns a parameter bound to the row id.
func IDParam() Param { return Param{Kind: ParamID} }

// ColumnParam returns a parameter bound to the value of column name.
func ColumnParam(name string) Param { return Param{Kind: ParamColumn, Column: name} }

// RestParam returns a parameter bound to the JSON object of the values not
// bound by other parameters.
func RestParam() Param { return Param{Kind: ParamRest} }

// String returns the parameter as in the schema JSON, e.g. Id or Column(name).
func (p Param) String() string {
	switch p.Kind {
	case ParamID:
		return "Id"
	case ParamColumn:
		return "Column(" + p.Column + ")"
	case ParamRest:
		return "Rest"
	}
	return "Param(" + strconv.Itoa(int(p.Kind)) + ")"
}

// Flags returns the raw table's options as the core's bit set (see
// [Table.Flags]).
func (r *RawTable) Flags() int {
	t := Table{InsertOnly: r.InsertOnly, TrackPrevious: r.TrackPrevious, IgnoreEmptyUpdates: r.IgnoreEmptyUpdates}
	return t.Flags()
}

// Inferred reports whether the sync client infers at least one of the put
// and delete statements from the local table.
func (r *RawTable) Inferred() bool { return r.Put == nil || r.Delete == nil }

// Validate checks the raw table: a name; a local table name when statements
// are inferred; non-empty statements whose Column parameters name a column;
// a delete statement binding only the id; no reserved local table name;
// no duplicate synced columns; no NUL byte in the names. The error wraps
// [ErrInvalidSchema].
func (r *RawTable) Validate() error {
	if r.Name == "" {
		return invalid("raw table name is empty")
	}
	if strings.IndexByte(r.Name, 0) >= 0 {
		return invalid("raw table name %q %s", r.Name, nulMessage)
	}
	if strings.IndexByte(r.TableName, 0) >= 0 {
		return invalid("raw table %s: local table name %q %s", r.Name, r.TableName, nulMessage)
	}
	if r.Inferred() && r.TableName == "" {
		return invalid("raw table %s: table_name is required when the put or delete statement is inferred", r.Name)
	}
	if r.TableName != "" && reservedName(r.TableName) {
		return invalid("raw table %s: local table name %q is reserved for PowerSync or SQLite", r.Name, r.TableName)
	}
	seen := make(map[string]bool, len(r.SyncedColumns))
	for _, c := range r.SyncedColumns {
		if c == "" {
			return invalid("raw table %s: empty synced column name", r.Name)
		}
		if strings.IndexByte(c, 0) >= 0 {
			return invalid("raw table %s: synced column %q %s", r.Name, c, nulMessage)
		}
		if seen[c] {
			return invalid("raw table %s: duplicate synced column %s", r.Name, c)
		}
		seen[c] = true
	}
	for _, st := range []struct {
		what string
		stmt *PendingStatement
	}{{"put", r.Put}, {"delete", r.Delete}} {
		if st.stmt == nil {
			continue
		}
		if strings.TrimSpace(st.stmt.SQL) == "" {
			return invalid("raw table %s: %s statement has no SQL", r.Name, st.what)
		}
		for i, p := range st.stmt.Params {
			switch p.Kind {
			case ParamID:
			case ParamColumn:
				if p.Column == "" {
					return invalid("raw table %s: %s statement parameter %d: empty column name", r.Name, st.what, i+1)
				}
			case ParamRest:
			default:
				return invalid("raw table %s: %s statement parameter %d: unknown kind %d", r.Name, st.what, i+1, p.Kind)
			}
			if st.what == "delete" && p.Kind != ParamID {
				return invalid("raw table %s: delete statement parameter %d is %s: raw delete statement parameters must only reference id", r.Name, i+1, p)
			}
		}
	}
	return nil
}

// syncedColumns returns the columns of the local table that are synced,
// given all its column names (as listed by pragma_table_info, id included),
// with the core's errors for a missing table or id column.
func (r *RawTable) syncedColumns(localColumns []string) ([]string, error) {
	if r.TableName == "" {
		return nil, invalid("raw table %s has no local name", r.Name)
	}
	hasID := false
	var cols []string
	for _, c := range localColumns {
		if c == "id" {
			hasID = true
			continue
		}
		cols = append(cols, c)
	}
	if !hasID && len(cols) == 0 {
		return nil, invalid("raw table %s: could not find %s in local schema", r.Name, r.TableName)
	}
	if !hasID {
		return nil, invalid("raw table %s: table %s has no id column", r.Name, r.TableName)
	}
	cols = filterColumns(cols, r.SyncedColumns)
	if len(cols) > MaxColumns {
		return nil, invalid("raw table %s: %d synced columns, more than the maximum of %d", r.Name, len(cols), MaxColumns)
	}
	return cols, nil
}

// InferStatements returns the put and delete statements the sync client
// uses for the raw table, given the column names of its local table in
// table order (as listed by pragma_table_info, id included): the explicit
// statements where set, otherwise the core's inferred ones,
//
//	INSERT INTO "tbl" (id, "c1", "c2") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "c1" = ?2, "c2" = ?3
//	DELETE FROM "tbl" WHERE id = ?
//
// over the synced columns (local-only columns are left untouched).
func (r *RawTable) InferStatements(localColumns []string) (put, del *PendingStatement, err error) {
	put, del = r.Put, r.Delete
	if !r.Inferred() {
		return put, del, nil
	}
	cols, err := r.syncedColumns(localColumns)
	if err != nil {
		return nil, nil, err
	}
	tbl := quoteIdent(r.TableName)
	if put == nil {
		var b strings.Builder
		params := []Param{IDParam()}
		b.WriteString("INSERT INTO " + tbl + " (id")
		for _, c := range cols {
			b.WriteString(", " + quoteIdent(c))
			params = append(params, ColumnParam(c))
		}
		b.WriteString(") VALUES (?1")
		for i := range cols {
			fmt.Fprintf(&b, ", ?%d", i+2)
		}
		b.WriteString(") ON CONFLICT (id) DO ")
		if len(cols) == 0 {
			b.WriteString("NOTHING")
		} else {
			b.WriteString("UPDATE SET ")
			for i, c := range cols {
				if i > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s = ?%d", quoteIdent(c), i+2)
			}
		}
		put = &PendingStatement{SQL: b.String(), Params: params}
	}
	if del == nil {
		del = &PendingStatement{SQL: "DELETE FROM " + tbl + " WHERE id = ?", Params: []Param{IDParam()}}
	}
	return put, del, nil
}

// TriggerSQL returns the CREATE TRIGGER statement that uploads local writes
// of kind write to the raw table, like the core's
// powersync_create_raw_table_crud_trigger(table, name, write), given the
// column names of the local table in table order (as listed by
// pragma_table_info, id included).
//
// The trigger is AFTER write ON the local table, WHEN NOT
// powersync_in_sync_operation() (so writes of the sync client are not
// uploaded) and, for updates with SyncedColumns, only when a synced column
// changed. It records the upload entry with the same statements as the
// view triggers (see [Table.Triggers]); insert-only raw tables record a
// manual entry on insert and reject updates and deletes.
func (r *RawTable) TriggerSQL(name string, write WriteType, localColumns []string) (string, error) {
	if _, err := ParseWriteType(string(write)); err != nil {
		return "", err
	}
	cols, err := r.syncedColumns(localColumns)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("CREATE TRIGGER " + quoteIdent(name) + " AFTER " + string(write) + " ON " + quoteIdent(r.TableName) + " FOR EACH ROW WHEN NOT powersync_in_sync_operation()")
	if write == WriteUpdate && r.SyncedColumns != nil && len(cols) > 0 {
		b.WriteString(" AND\n(")
		for i, c := range cols {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("OLD." + quoteIdent(c) + " IS NOT NEW." + quoteIdent(c))
		}
		b.WriteString(")")
	}
	b.WriteString(" BEGIN\n")

	fnew := jsonFragment("NEW", cols)
	switch {
	case r.InsertOnly && write != WriteInsert:
		b.WriteString("SELECT RAISE(FAIL, 'Unexpected update on insert-only table');\n")
	case r.InsertOnly:
		writeManualPut(&b, r.Name, fnew)
	case write == WriteInsert:
		writeCrud(&b, crudEntry{op: "PUT", id: "NEW.id", typ: r.Name, data: "json(powersync_diff('{}', " + fnew + "))"})
	case write == WriteUpdate:
		b.WriteString(checkIDUnchanged)
		writeCrud(&b, crudEntry{
			op: "PATCH", id: "NEW.id", typ: r.Name,
			data:    "json(powersync_diff(" + jsonFragment("OLD", cols) + ", " + fnew + "))",
			old:     oldValues(cols, r.TrackPrevious, true),
			options: r.Flags(),
			guarded: r.IgnoreEmptyUpdates,
		})
	default:
		writeCrud(&b, crudEntry{op: "DELETE", id: "OLD.id", typ: r.Name, old: oldValues(cols, r.TrackPrevious, false)})
	}
	b.WriteString("END")
	return b.String(), nil
}
