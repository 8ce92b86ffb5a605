package schema_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/schema"
)

type Base struct {
	ID        string    `db:"id"`
	CreatedAt time.Time `db:"created_at"`
}

type Status int

type everything struct {
	Base
	Name     string
	Title    string `db:"title,omitempty"`
	Done     bool   `db:"done"`
	I        int
	I8       int8
	I16      int16
	I32      int32
	I64      int64
	U        uint
	U8       uint8
	U16      uint16
	U32      uint32
	U64      uint64
	F32      float32
	F64      float64
	Bytes    []byte          `db:"bytes"`
	Raw      json.RawMessage `db:"raw"`
	Status   Status          `db:"status"`
	PtrName  *string         `db:"ptr_name"`
	PtrPtr   **float64       `db:"ptr_ptr"`
	NS       sql.NullString  `db:"ns"`
	NI       sql.NullInt64   `db:"ni"`
	NI32     sql.NullInt32   `db:"ni32"`
	NI16     sql.NullInt16   `db:"ni16"`
	NB       sql.NullByte    `db:"nb"`
	NBool    sql.NullBool    `db:"nbool"`
	NF       sql.NullFloat64 `db:"nf"`
	NT       sql.NullTime    `db:"nt"`
	NG       sql.Null[float32]
	Tags     map[string]string `db:"tags" powersync:"text"`
	Skipped  string            `db:"-"`
	private  string
	EmptyTag string `db:""`
}

func TestTableFrom(t *testing.T) {
	got, err := schema.TableFrom[everything]("things")
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.Column{
		schema.Text("created_at"),
		schema.Text("name"), schema.Text("title"), schema.Integer("done"),
		schema.Integer("i"), schema.Integer("i8"), schema.Integer("i16"), schema.Integer("i32"), schema.Integer("i64"),
		schema.Integer("u"), schema.Integer("u8"), schema.Integer("u16"), schema.Integer("u32"), schema.Integer("u64"),
		schema.Real("f32"), schema.Real("f64"),
		schema.Text("bytes"), schema.Text("raw"), schema.Integer("status"),
		schema.Text("ptr_name"), schema.Real("ptr_ptr"),
		schema.Text("ns"), schema.Integer("ni"), schema.Integer("ni32"), schema.Integer("ni16"), schema.Integer("nb"),
		schema.Integer("nbool"), schema.Real("nf"), schema.Text("nt"), schema.Real("ng"),
		schema.Text("tags"), schema.Text("emptytag"),
	}
	if !reflect.DeepEqual(got.Columns, want) {
		t.Errorf("columns:\n got %v\nwant %v", got.Columns, want)
	}
	if got.Name != "things" {
		t.Errorf("name %q", got.Name)
	}
	_ = everything{}.private

	// FromStruct accepts values and pointers alike.
	for _, v := range []any{everything{}, &everything{}} {
		ft, err := schema.FromStruct("things", v)
		if err != nil || !reflect.DeepEqual(ft, got) {
			t.Errorf("FromStruct(%T) = %v, %v", v, ft, err)
		}
	}
}

func TestTableFromOptions(t *testing.T) {
	type todo struct {
		ID     string
		ListID string `db:"list_id"`
		Body   string `db:"body"`
	}
	tbl, err := schema.TableFrom[todo]("todos",
		schema.WithViewName("todo_view"),
		schema.WithMetadata(),
		schema.WithPreviousValues(schema.TrackPreviousValues{Columns: []string{"body"}, OnlyWhenChanged: true}),
		schema.WithIgnoreEmptyUpdates(),
		schema.WithIndexes(schema.IndexOn("list", "list_id")),
	)
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Table{
		Name:               "todos",
		Columns:            []schema.Column{schema.Text("list_id"), schema.Text("body")},
		Indexes:            []schema.Index{schema.IndexOn("list", "list_id")},
		ViewNameOverride:   "todo_view",
		TrackMetadata:      true,
		TrackPrevious:      &schema.TrackPreviousValues{Columns: []string{"body"}, OnlyWhenChanged: true},
		IgnoreEmptyUpdates: true,
	}
	if !reflect.DeepEqual(tbl, want) {
		t.Errorf("got %+v\nwant %+v", tbl, want)
	}

	local, err := schema.TableFrom[todo]("drafts", schema.WithLocalOnly())
	if err != nil || !local.LocalOnly {
		t.Errorf("local-only: %+v %v", local, err)
	}
	insert, err := schema.TableFrom[todo]("logs", schema.WithInsertOnly())
	if err != nil || !insert.InsertOnly {
		t.Errorf("insert-only: %+v %v", insert, err)
	}
}

func TestTableFromErrors(t *testing.T) {
	type nested struct{ X int }
	type badType struct {
		Nested nested `db:"nested"`
	}
	type badTag struct {
		X string `powersync:"blob"`
	}
	type dup struct {
		A string `db:"a"`
		B string `db:"a"`
	}
	type withID struct {
		Name string `db:"id"`
		Meta string `db:"_metadata"`
	}
	tests := []struct {
		name string
		v    any
		opts []schema.TableOption
		want string
	}{
		{"not a struct", 3, nil, "powersync: table t from struct: int is not a struct"},
		{"nil", nil, nil, "got nil"},
		{"nested struct", badType{}, nil, `field Nested: no column type for Go type schema_test.nested`},
		{"channel", struct{ C chan int }{}, nil, "field C: no column type for Go type chan int"},
		{"bad powersync tag", badTag{}, nil, `field X: powersync tag "blob"`},
		{"duplicate column", dup{}, nil, "duplicate column a"},
		{"invalid table", withID{}, []schema.TableOption{schema.WithMetadata()}, "column _metadata is reserved"},
		{"invalid option", withID{}, []schema.TableOption{schema.WithLocalOnly(), schema.WithMetadata()}, "local-only tables can't track metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := schema.FromStruct("t", tt.v, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("FromStruct = %v, want error containing %q", err, tt.want)
			}
		})
	}
	// Validation errors keep their sentinel.
	_, err := schema.FromStruct("t", withID{}, schema.WithMetadata())
	if !errors.Is(err, schema.ErrInvalidSchema) {
		t.Errorf("%v does not wrap ErrInvalidSchema", err)
	}
}

func TestTableFromEmbeddedPointer(t *testing.T) {
	type Audit struct {
		UpdatedBy string `db:"updated_by"`
	}
	type row struct {
		*Audit
		ID    string
		Count int `db:"count"`
	}
	tbl, err := schema.TableFrom[*row]("rows")
	if err != nil {
		t.Fatal(err)
	}
	want := []schema.Column{schema.Text("updated_by"), schema.Integer("count")}
	if !reflect.DeepEqual(tbl.Columns, want) {
		t.Errorf("columns %v, want %v", tbl.Columns, want)
	}
}

func TestCreateTableSQL(t *testing.T) {
	s := schema.New(
		schema.Table{Name: "items_internal", ViewNameOverride: "items", Columns: []schema.Column{{Name: "col", Type: "text"}, schema.Real("weight")}},
		schema.Table{Name: "order", Columns: []schema.Column{schema.Integer("group"), schema.Text("2nd"), schema.Text("ok_1")}, LocalOnly: true},
		schema.Table{Name: "empty"},
	).WithRawTables(schema.RawTable{Name: "users", TableName: "users"})
	got := s.CreateTableSQL()
	want := `-- The tables of a PowerSync schema as queries see them (the views over the
-- JSON data tables). For type-checking tools such as sqlc; not for execution.

CREATE TABLE items (
  id TEXT PRIMARY KEY,
  col TEXT,
  weight REAL
);

CREATE TABLE "order" (
  id TEXT PRIMARY KEY,
  "group" INTEGER,
  "2nd" TEXT,
  ok_1 TEXT
);

CREATE TABLE empty (
  id TEXT PRIMARY KEY
);
`
	if got != want {
		t.Errorf("CreateTableSQL:\n%s\nwant\n%s", got, want)
	}
}
