package schema

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
)

// ErrInvalidSchema is wrapped by every error of the Validate methods, by the
// errors of [Parse] for input that is not a schema, and by the errors of the
// raw-table generators for a table they cannot handle. Test for it with
// errors.Is.
var ErrInvalidSchema = errors.New("invalid schema")

// MaxColumns is the largest number of columns a table may declare (the
// implicit id column not counted). The limit comes from SQLite's default
// SQLITE_MAX_COLUMN of 2000.
const MaxColumns = 1999

// ColumnType is the SQLite type of a column, used verbatim in the
// CAST(... as TYPE) of the generated view. PowerSync supports [TypeText],
// [TypeInteger] and [TypeReal]; a parsed schema keeps the spelling it was given
// (e.g. "text"), so that the generated SQL matches the official core's.
type ColumnType string

// The column types PowerSync supports.
const (
	TypeText    ColumnType = "TEXT"
	TypeInteger ColumnType = "INTEGER"
	TypeReal    ColumnType = "REAL"
)

// valid reports whether t is TEXT, INTEGER or REAL, in any letter case.
func (t ColumnType) valid() bool {
	switch strings.ToUpper(string(t)) {
	case string(TypeText), string(TypeInteger), string(TypeReal):
		return true
	}
	return false
}

// Schema is the set of tables a PowerSync database exposes: JSON-backed
// tables (each a view over a ps_data__ table) and raw tables (ordinary SQLite
// tables the application creates itself).
//
// The zero value is an empty schema. A Schema is plain data; build it with
// [New] or a struct literal, check it with [Schema.Validate], and hand it to
// the driver.
type Schema struct {
	// Tables are the JSON-backed tables, in the order they are declared.
	Tables []Table
	// RawTables are the tables the application manages itself.
	RawTables []RawTable
}

// New returns a schema of the given tables. It does not validate them: call
// [Schema.Validate] (the driver does when the schema is applied).
func New(tables ...Table) *Schema {
	return &Schema{Tables: tables}
}

// WithRawTables adds raw tables to s and returns s, so that it chains after
// [New]:
//
//	s := schema.New(todos, lists).WithRawTables(schema.RawTable{Name: "users", TableName: "users"})
func (s *Schema) WithRawTables(tables ...RawTable) *Schema {
	s.RawTables = append(s.RawTables, tables...)
	return s
}

// Table returns the table whose (synced) name is name, or nil.
func (s *Schema) Table(name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// RawTable returns the raw table whose name is name, or nil.
func (s *Schema) RawTable(name string) *RawTable {
	for i := range s.RawTables {
		if s.RawTables[i].Name == name {
			return &s.RawTables[i]
		}
	}
	return nil
}

// Table is a JSON-backed PowerSync table: rows are stored as JSON objects in
// the data table ps_data__<Name> (ps_data_local__<Name> when local-only) and
// read and written through a view with typed columns plus the implicit
// "id TEXT" primary key.
//
// The option fields have the same meaning as in the Dart and JavaScript SDKs
// (localOnly, insertOnly, viewName, trackMetadata, trackPreviousValues,
// ignoreEmptyUpdates).
type Table struct {
	// Name is the table name in the sync rules: the object_type of synced
	// rows, and the "type" of upload entries.
	Name string
	// Columns are the declared columns, without id (it is always present).
	Columns []Column
	// Indexes are indexes on the data table over column values.
	Indexes []Index

	// ViewNameOverride names the view; empty means the view is named Name.
	ViewNameOverride string
	// LocalOnly tables are never synced: writes are not uploaded and the
	// table is not filled from the service.
	LocalOnly bool
	// InsertOnly tables only record inserts for upload; the view always reads
	// empty and updates and deletes fail. It has no effect on a LocalOnly
	// table, as in the official SDKs.
	InsertOnly bool
	// TrackMetadata adds a write-only _metadata column whose value is
	// attached to the upload entry of each write, and a _deleted column:
	// UPDATE ... SET _deleted = TRUE, _metadata = ? deletes a row with
	// metadata.
	TrackMetadata bool
	// TrackPrevious, when set, records previous column values of updates and
	// deletes in the upload entries.
	TrackPrevious *TrackPreviousValues
	// IgnoreEmptyUpdates drops the upload entry of an UPDATE that changes no
	// value.
	IgnoreEmptyUpdates bool
}

// TrackPreviousValues configures previous values in upload entries
// ("include_old" in the schema JSON).
type TrackPreviousValues struct {
	// Columns limits tracking to these columns. Nil tracks all columns; a
	// non-nil empty slice tracks none (an empty object is recorded).
	Columns []string
	// OnlyWhenChanged records, for updates, only the columns whose value
	// changed.
	OnlyWhenChanged bool
}

// Column is a declared column of a [Table].
type Column struct {
	Name string
	Type ColumnType
}

// Text returns a TEXT column.
func Text(name string) Column { return Column{Name: name, Type: TypeText} }

// Integer returns an INTEGER column.
func Integer(name string) Column { return Column{Name: name, Type: TypeInteger} }

// Real returns a REAL column.
func Real(name string) Column { return Column{Name: name, Type: TypeReal} }

// Index is an index on the data table of a [Table]. It is created as
// <data table>__<Name> over CAST(json_extract(data, '$.<column>') as <type>)
// expressions.
type Index struct {
	Name    string
	Columns []IndexedColumn
}

// IndexedColumn is one column of an [Index].
type IndexedColumn struct {
	// Name is the indexed column; it must be a declared column of the table.
	Name string
	// Descending orders the index entries of this column in descending order.
	Descending bool
	// Type overrides the type the value is cast to in the index expression.
	// Empty means the column's declared type (what the SDKs send). A parsed
	// schema keeps the type it was given.
	Type ColumnType
}

// Asc returns an ascending index column.
func Asc(column string) IndexedColumn { return IndexedColumn{Name: column} }

// Desc returns a descending index column.
func Desc(column string) IndexedColumn { return IndexedColumn{Name: column, Descending: true} }

// IndexOn returns an index named name over the given columns, all ascending.
func IndexOn(name string, columns ...string) Index {
	idx := Index{Name: name, Columns: make([]IndexedColumn, len(columns))}
	for i, c := range columns {
		idx.Columns[i] = Asc(c)
	}
	return idx
}

// ViewName returns the name of the table's view: ViewNameOverride if set,
// otherwise Name.
func (t *Table) ViewName() string {
	if t.ViewNameOverride != "" {
		return t.ViewNameOverride
	}
	return t.Name
}

// DataTableName returns the name of the SQLite table holding the rows:
// ps_data__<Name>, or ps_data_local__<Name> for local-only tables.
func (t *Table) DataTableName() string {
	if t.LocalOnly {
		return "ps_data_local__" + t.Name
	}
	return "ps_data__" + t.Name
}

// Column returns the declared column named name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// insertOnly reports whether the table behaves as insert-only: like the core,
// local-only wins over insert-only.
func (t *Table) insertOnly() bool { return t.InsertOnly && !t.LocalOnly }

// Option flags of the schema JSON, folded into the integer options of the
// core (and of powersync_crud_entry).
const (
	flagLocalOnly                 = 1
	flagInsertOnly                = 2
	flagIncludeMetadata           = 4
	flagIncludeOldOnlyWhenChanged = 8
	flagIgnoreEmptyUpdate         = 16
)

// Flags returns the table's options as the core's bit set: local-only 1,
// insert-only 2, metadata 4, previous values only when changed 8, ignore
// empty updates 16. It is the options argument of the update trigger's CRUD
// entry.
func (t *Table) Flags() int {
	f := 0
	if t.LocalOnly {
		f |= flagLocalOnly
	}
	if t.InsertOnly {
		f |= flagInsertOnly
	}
	if t.TrackMetadata {
		f |= flagIncludeMetadata
	}
	if t.TrackPrevious != nil && t.TrackPrevious.OnlyWhenChanged {
		f |= flagIncludeOldOnlyWhenChanged
	}
	if t.IgnoreEmptyUpdates {
		f |= flagIgnoreEmptyUpdate
	}
	return f
}

// invalidNameChars are the characters the SDKs forbid in table, view, column
// and index names (besides whitespace).
const invalidNameChars = `"'%,.#[]`

// nulMessage says why a name with a NUL byte is refused: SQLite reads names
// and SQL text as C strings, so everything after the NUL would be cut off.
const nulMessage = "contains a NUL byte (SQLite cannot hold one in a name)"

// checkName returns a description of what is wrong with name, or "".
func checkName(name string) string {
	if name == "" {
		return "is empty"
	}
	if strings.IndexByte(name, 0) >= 0 {
		return nulMessage
	}
	for _, r := range name {
		if strings.ContainsRune(invalidNameChars, r) || isSpace(r) {
			return fmt.Sprintf("contains invalid character %q (names may not contain whitespace or any of %s)", r, invalidNameChars)
		}
	}
	return ""
}

// isSpace matches the JavaScript \s class the SDKs use.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// foldASCII lower-cases ASCII letters only, as SQLite does when it compares
// identifiers.
func foldASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// reservedName reports whether a view or raw table name would collide with
// PowerSync's or SQLite's own tables.
func reservedName(name string) bool {
	n := foldASCII(name)
	switch n {
	case "ps_buckets", "ps_oplog", "ps_crud", "ps_tx", "ps_kv", "ps_untyped", "ps_updated_rows",
		"ps_migration", "ps_sync_state", "ps_stream_subscriptions":
		return true
	}
	return strings.HasPrefix(n, "sqlite_") || strings.HasPrefix(n, "ps_data__") || strings.HasPrefix(n, "ps_data_local__")
}

func invalid(format string, args ...any) error {
	return pserr.Errorf("powersync: %w: %s", ErrInvalidSchema, fmt.Sprintf(format, args...))
}

// Validate checks the table on its own, with the rules of the official SDKs
// and a few more that the core would otherwise trip over later:
//
//   - the table name, the view name override, column and index names are
//     not empty and contain no whitespace, none of " ' % , . # [ ] and no
//     NUL byte (which the SDKs let through and SQLite would cut the name at);
//   - there is no declared id column, no duplicate column or index (letter
//     case ignored, as SQLite does), and at most [MaxColumns] columns;
//   - column types are TEXT, INTEGER or REAL;
//   - indexes have columns, all of them declared;
//   - local-only tables don't track metadata or previous values and are not
//     insert-only; tracked previous-value columns are declared; tables
//     tracking metadata don't declare _metadata or _deleted;
//   - the view name is not one of PowerSync's or SQLite's own tables.
//
// The error wraps [ErrInvalidSchema] and names the table and column.
func (t *Table) Validate() error {
	if msg := checkName(t.Name); msg != "" {
		return invalid("table name %q %s", t.Name, msg)
	}
	if t.ViewNameOverride != "" {
		if msg := checkName(t.ViewNameOverride); msg != "" {
			return invalid("table %s: view name %q %s", t.Name, t.ViewNameOverride, msg)
		}
	}
	if reservedName(t.ViewName()) {
		return invalid("table %s: view name %q is reserved for PowerSync or SQLite", t.Name, t.ViewName())
	}
	if len(t.Columns) > MaxColumns {
		return invalid("table %s has %d columns, more than the maximum of %d", t.Name, len(t.Columns), MaxColumns)
	}
	if t.LocalOnly && t.TrackMetadata {
		return invalid("table %s: local-only tables can't track metadata", t.Name)
	}
	if t.LocalOnly && t.TrackPrevious != nil {
		return invalid("table %s: local-only tables can't track previous values", t.Name)
	}

	seen := make(map[string]string, len(t.Columns)+1)
	for _, c := range t.Columns {
		if msg := checkName(c.Name); msg != "" {
			return invalid("table %s: column name %q %s", t.Name, c.Name, msg)
		}
		key := foldASCII(c.Name)
		if key == "id" {
			return invalid("table %s: column %s: an id column is added automatically, custom id columns are not supported", t.Name, c.Name)
		}
		if t.TrackMetadata && (key == "_metadata" || key == "_deleted") {
			return invalid("table %s: column %s is reserved when the table tracks metadata", t.Name, c.Name)
		}
		if prev, ok := seen[key]; ok {
			return invalid("table %s: duplicate column %s (also declared as %s)", t.Name, c.Name, prev)
		}
		seen[key] = c.Name
		if !c.Type.valid() {
			return invalid("table %s: column %s: unsupported type %q (want TEXT, INTEGER or REAL)", t.Name, c.Name, c.Type)
		}
	}

	if t.TrackPrevious != nil {
		for _, name := range t.TrackPrevious.Columns {
			if t.Column(name) == nil {
				return invalid("table %s: column %s, tracked for previous values, is not declared", t.Name, name)
			}
		}
	}

	indexes := make(map[string]bool, len(t.Indexes))
	for _, idx := range t.Indexes {
		if msg := checkName(idx.Name); msg != "" {
			return invalid("table %s: index name %q %s", t.Name, idx.Name, msg)
		}
		key := foldASCII(idx.Name)
		if indexes[key] {
			return invalid("table %s: duplicate index %s", t.Name, idx.Name)
		}
		indexes[key] = true
		if len(idx.Columns) == 0 {
			return invalid("table %s: index %s has no columns", t.Name, idx.Name)
		}
		for _, ic := range idx.Columns {
			if t.Column(ic.Name) == nil {
				return invalid("table %s: column %s not found for index %s", t.Name, ic.Name, idx.Name)
			}
			if ic.Type != "" && !ic.Type.valid() {
				return invalid("table %s: index %s: column %s: unsupported type %q (want TEXT, INTEGER or REAL)", t.Name, idx.Name, ic.Name, ic.Type)
			}
		}
	}
	return nil
}

// Validate checks every table (see [Table.Validate]) and raw table (see
// [RawTable.Validate]) and the rules between them: no two tables with the
// same name or the same view name, no two indexes with the same SQLite name,
// and no raw table whose name or local table name clashes with a table or
// view. Names are compared ignoring ASCII
// letter case, as SQLite compares identifiers. The error wraps
// [ErrInvalidSchema].
func (s *Schema) Validate() error {
	names := make(map[string]string, len(s.Tables))
	types := make(map[string]bool, len(s.Tables)) // table names as the row types they are, case kept
	views := make(map[string]string, len(s.Tables))
	indexes := make(map[string]string)
	for i := range s.Tables {
		t := &s.Tables[i]
		if err := t.Validate(); err != nil {
			return err
		}
		key := foldASCII(t.Name)
		if prev, ok := names[key]; ok {
			return invalid("duplicate table name %s (also declared as %s)", t.Name, prev)
		}
		names[key] = t.Name
		types[t.Name] = true
		view := foldASCII(t.ViewName())
		if prev, ok := views[view]; ok {
			return invalid("table %s: view name %s is already used by table %s", t.Name, t.ViewName(), prev)
		}
		views[view] = t.Name
		for j := range t.Indexes {
			full := foldASCII(t.IndexName(&t.Indexes[j]))
			if prev, ok := indexes[full]; ok {
				return invalid("table %s: index %s is named %s in SQLite, like an index of table %s", t.Name, t.Indexes[j].Name, t.IndexName(&t.Indexes[j]), prev)
			}
			indexes[full] = t.Name
		}
	}

	raw := make(map[string]bool, len(s.RawTables))
	for i := range s.RawTables {
		r := &s.RawTables[i]
		if err := r.Validate(); err != nil {
			return err
		}
		if raw[r.Name] {
			return invalid("duplicate raw table %s", r.Name)
		}
		raw[r.Name] = true
		if types[r.Name] {
			return invalid("raw table %s: the name is already used by a table", r.Name)
		}
		if r.TableName != "" {
			if prev, ok := views[foldASCII(r.TableName)]; ok {
				return invalid("raw table %s: local table %s clashes with the view of table %s", r.Name, r.TableName, prev)
			}
		}
	}
	return nil
}
