package schema

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
)

// TableOption sets an option of a table built by [TableFrom] or
// [FromStruct].
type TableOption func(*Table)

// WithViewName names the table's view (see Table.ViewNameOverride).
func WithViewName(name string) TableOption {
	return func(t *Table) { t.ViewNameOverride = name }
}

// WithLocalOnly makes the table local-only (see Table.LocalOnly).
func WithLocalOnly() TableOption { return func(t *Table) { t.LocalOnly = true } }

// WithInsertOnly makes the table insert-only (see Table.InsertOnly).
func WithInsertOnly() TableOption { return func(t *Table) { t.InsertOnly = true } }

// WithMetadata adds the _metadata and _deleted columns (see
// Table.TrackMetadata).
func WithMetadata() TableOption { return func(t *Table) { t.TrackMetadata = true } }

// WithPreviousValues records previous values in upload entries (see
// Table.TrackPrevious).
func WithPreviousValues(p TrackPreviousValues) TableOption {
	return func(t *Table) { t.TrackPrevious = &p }
}

// WithIgnoreEmptyUpdates drops upload entries of updates that change nothing
// (see Table.IgnoreEmptyUpdates).
func WithIgnoreEmptyUpdates() TableOption { return func(t *Table) { t.IgnoreEmptyUpdates = true } }

// WithIndexes adds indexes to the table.
func WithIndexes(indexes ...Index) TableOption {
	return func(t *Table) { t.Indexes = append(t.Indexes, indexes...) }
}

// TableFrom returns the table named name whose columns are the fields of
// the struct type T; see [FromStruct] for the mapping.
func TableFrom[T any](name string, opts ...TableOption) (Table, error) {
	return tableFromType(name, reflect.TypeFor[T](), opts)
}

// FromStruct returns the table named name whose columns are the fields of
// v's struct type (v may be a struct or a pointer to one), in field order,
// then applies opts and validates the table.
//
// A field's column name is its db tag (as used by sqlx), or the lower-cased
// field name without one; options after a comma in the tag are ignored. The
// field named id (tag db:"id", or a field ID without a tag) is the row id
// and not a column. Fields tagged db:"-" and unexported fields are skipped,
// and the fields of embedded structs are promoted, as sqlx does.
//
// The Go type decides the column type: string and []byte map to TEXT; bool
// and all integer types to INTEGER; float32 and float64 to REAL; time.Time to
// TEXT. A pointer, sql.Null[T] or sql.NullString and friends map like the
// type they wrap, as do named types by their underlying kind. A tag
// powersync:"text", "integer" or "real" sets the type of any other field
// type.
func FromStruct(name string, v any, opts ...TableOption) (Table, error) {
	typ := reflect.TypeOf(v)
	if typ == nil {
		return Table{}, fmt.Errorf("powersync: table %s from struct: got nil", name)
	}
	return tableFromType(name, typ, opts)
}

var timeType = reflect.TypeFor[time.Time]()

func tableFromType(name string, typ reflect.Type, opts []TableOption) (Table, error) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct {
		return Table{}, fmt.Errorf("powersync: table %s from struct: %s is not a struct", name, typ)
	}
	t := Table{Name: name}
	if err := addFields(&t, typ, map[reflect.Type]bool{}); err != nil {
		return Table{}, pserr.Errorf("powersync: table %s from struct %s: %w", name, typ, err)
	}
	for _, o := range opts {
		o(&t)
	}
	if err := t.Validate(); err != nil {
		return Table{}, err
	}
	return t, nil
}

func addFields(t *Table, typ reflect.Type, visiting map[reflect.Type]bool) error {
	if visiting[typ] {
		return fmt.Errorf("recursive embedding of %s", typ)
	}
	visiting[typ] = true
	defer delete(visiting, typ)

	for i := range typ.NumField() {
		f := typ.Field(i)
		tag, hasTag := f.Tag.Lookup("db")
		tag, _, _ = strings.Cut(tag, ",")
		if tag == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && tag == "" && ft.Kind() == reflect.Struct && ft != timeType && !isSQLNull(ft) {
			if err := addFields(t, ft, visiting); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		col := tag
		if !hasTag || col == "" {
			col = strings.ToLower(f.Name)
		}
		if col == "id" {
			continue
		}
		var ct ColumnType
		if override := f.Tag.Get("powersync"); override != "" {
			ct = ColumnType(strings.ToUpper(override))
			if !ct.valid() {
				return fmt.Errorf("field %s: powersync tag %q: want text, integer or real", f.Name, override)
			}
		} else {
			var ok bool
			if ct, ok = goColumnType(f.Type); !ok {
				return fmt.Errorf("field %s: no column type for Go type %s (tag it powersync:\"text\", \"integer\" or \"real\", or db:\"-\")", f.Name, f.Type)
			}
		}
		t.Columns = append(t.Columns, Column{Name: col, Type: ct})
	}
	return nil
}

// isSQLNull reports whether typ is one of database/sql's Null types.
func isSQLNull(typ reflect.Type) bool {
	return typ.PkgPath() == "database/sql" && strings.HasPrefix(typ.Name(), "Null") &&
		typ.Kind() == reflect.Struct && typ.NumField() == 2
}

// goColumnType maps a Go type to a column type.
func goColumnType(typ reflect.Type) (ColumnType, bool) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == timeType {
		return TypeText, true
	}
	if isSQLNull(typ) {
		// NullString{String, Valid}, NullInt64{Int64, Valid}, Null[T]{V, Valid}, ...
		return goColumnType(typ.Field(0).Type)
	}
	switch typ.Kind() {
	case reflect.String:
		return TypeText, true
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return TypeInteger, true
	case reflect.Float32, reflect.Float64:
		return TypeReal, true
	case reflect.Slice:
		if typ.Elem().Kind() == reflect.Uint8 {
			return TypeText, true
		}
	}
	return "", false
}
