package schema_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/schema"
)

func todos() schema.Table {
	return schema.Table{
		Name:    "todos",
		Columns: []schema.Column{schema.Text("description"), schema.Integer("completed"), schema.Real("weight")},
		Indexes: []schema.Index{schema.IndexOn("desc", "description")},
	}
}

func TestValidate(t *testing.T) {
	manyColumns := make([]schema.Column, schema.MaxColumns+1)
	for i := range manyColumns {
		manyColumns[i] = schema.Text(fmt.Sprintf("c%d", i))
	}
	tests := []struct {
		name   string
		modify func(s *schema.Schema)
		want   string // "" = valid; else a substring of the error
	}{
		{"valid", func(s *schema.Schema) {}, ""},
		{"empty schema", func(s *schema.Schema) { s.Tables = nil }, ""},
		{"max columns", func(s *schema.Schema) {
			s.Tables[0].Columns = manyColumns[:schema.MaxColumns]
			s.Tables[0].Indexes = nil
		}, ""},
		{"all options", func(s *schema.Schema) {
			t := &s.Tables[0]
			t.ViewNameOverride = "todo_view"
			t.TrackMetadata = true
			t.TrackPrevious = &schema.TrackPreviousValues{Columns: []string{"completed"}, OnlyWhenChanged: true}
			t.IgnoreEmptyUpdates = true
		}, ""},
		{"insert-only with metadata", func(s *schema.Schema) { s.Tables[0].InsertOnly = true; s.Tables[0].TrackMetadata = true }, ""},
		{"local-only ignoring empty updates", func(s *schema.Schema) { s.Tables[0].LocalOnly = true; s.Tables[0].IgnoreEmptyUpdates = true }, ""},

		{"empty table name", func(s *schema.Schema) { s.Tables[0].Name = "" }, `table name "" is empty`},
		{"table name with space", func(s *schema.Schema) { s.Tables[0].Name = "my todos" }, `table name "my todos" contains invalid character ' '`},
		{"table name with tab", func(s *schema.Schema) { s.Tables[0].Name = "a\tb" }, `invalid character '\t'`},
		{"table name with non-breaking space", func(s *schema.Schema) { s.Tables[0].Name = "a\u00a0b" }, `invalid character`},
		{"table name with dot", func(s *schema.Schema) { s.Tables[0].Name = "main.todos" }, `invalid character '.'`},
		{"table name with NUL", func(s *schema.Schema) { s.Tables[0].Name = "to\x00dos" }, `table name "to\x00dos" contains a NUL byte`},
		{"column name with NUL", func(s *schema.Schema) { s.Tables[0].Columns[1].Name = "a\x00" }, `table todos: column name "a\x00" contains a NUL byte`},
		{"view name with NUL", func(s *schema.Schema) { s.Tables[0].ViewNameOverride = "\x00" }, `view name "\x00" contains a NUL byte`},
		{"index name with NUL", func(s *schema.Schema) { s.Tables[0].Indexes[0].Name = "d\x00" }, `index name "d\x00" contains a NUL byte`},
		{"view name with quote", func(s *schema.Schema) { s.Tables[0].ViewNameOverride = `to"dos` }, `table todos: view name "to\"dos" contains invalid character '"'`},
		{"reserved view name", func(s *schema.Schema) { s.Tables[0].Name = "ps_crud" }, `view name "ps_crud" is reserved`},
		{"reserved view prefix", func(s *schema.Schema) { s.Tables[0].ViewNameOverride = "sqlite_stuff" }, `is reserved`},
		{"too many columns", func(s *schema.Schema) { s.Tables[0].Columns = manyColumns; s.Tables[0].Indexes = nil }, "table todos has 2000 columns, more than the maximum of 1999"},
		{"id column", func(s *schema.Schema) { s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Text("id")) }, "table todos: column id: an id column is added automatically"},
		{"ID column", func(s *schema.Schema) { s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Text("ID")) }, "column ID: an id column"},
		{"duplicate column", func(s *schema.Schema) {
			s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Integer("description"))
		}, "table todos: duplicate column description"},
		{"duplicate column other case", func(s *schema.Schema) {
			s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Integer("Description"))
		}, "duplicate column Description (also declared as description)"},
		{"empty column name", func(s *schema.Schema) { s.Tables[0].Columns[1].Name = "" }, `table todos: column name "" is empty`},
		{"column name with comma", func(s *schema.Schema) { s.Tables[0].Columns[1].Name = "a,b" }, `table todos: column name "a,b" contains invalid character ','`},
		{"column type", func(s *schema.Schema) { s.Tables[0].Columns[1].Type = "BLOB" }, `table todos: column completed: unsupported type "BLOB"`},
		{"column type empty", func(s *schema.Schema) { s.Tables[0].Columns[1].Type = "" }, `unsupported type ""`},
		{"lower-case type", func(s *schema.Schema) { s.Tables[0].Columns[1].Type = "integer" }, ""},
		{"metadata column", func(s *schema.Schema) {
			s.Tables[0].TrackMetadata = true
			s.Tables[0].Columns = append(s.Tables[0].Columns, schema.Text("_metadata"))
		}, "column _metadata is reserved when the table tracks metadata"},
		{"index column missing", func(s *schema.Schema) { s.Tables[0].Indexes[0].Columns[0].Name = "nope" }, "table todos: column nope not found for index desc"},
		{"index on id", func(s *schema.Schema) { s.Tables[0].Indexes[0].Columns[0].Name = "id" }, "column id not found for index desc"},
		{"index without columns", func(s *schema.Schema) { s.Tables[0].Indexes[0].Columns = nil }, "index desc has no columns"},
		{"duplicate index", func(s *schema.Schema) {
			s.Tables[0].Indexes = append(s.Tables[0].Indexes, schema.IndexOn("DESC", "completed"))
		}, "table todos: duplicate index DESC"},
		{"index name with bracket", func(s *schema.Schema) { s.Tables[0].Indexes[0].Name = "a[0]" }, `index name "a[0]" contains invalid character '['`},
		{"index type", func(s *schema.Schema) { s.Tables[0].Indexes[0].Columns[0].Type = "DATE" }, `index desc: column description: unsupported type "DATE"`},
		{"local-only with metadata", func(s *schema.Schema) { s.Tables[0].LocalOnly = true; s.Tables[0].TrackMetadata = true }, "table todos: local-only tables can't track metadata"},
		{"local-only with previous values", func(s *schema.Schema) {
			s.Tables[0].LocalOnly = true
			s.Tables[0].TrackPrevious = &schema.TrackPreviousValues{}
		}, "table todos: local-only tables can't track previous values"},
		{"previous values of unknown column", func(s *schema.Schema) {
			s.Tables[0].TrackPrevious = &schema.TrackPreviousValues{Columns: []string{"completed", "title"}}
		}, "table todos: column title, tracked for previous values, is not declared"},
		{"duplicate table", func(s *schema.Schema) { s.Tables = append(s.Tables, todos()) }, "duplicate table name todos"},
		{"duplicate table other case", func(s *schema.Schema) {
			u := todos()
			u.Name = "Todos"
			s.Tables = append(s.Tables, u)
		}, "duplicate table name Todos (also declared as todos)"},
		{"view name clash", func(s *schema.Schema) {
			s.Tables = append(s.Tables, schema.Table{Name: "todos_v2", ViewNameOverride: "todos", Columns: []schema.Column{schema.Text("a")}})
		}, "table todos_v2: view name todos is already used by table todos"},
		{"view name clash with local-only", func(s *schema.Schema) {
			s.Tables[0].ViewNameOverride = "items"
			s.Tables = append(s.Tables, schema.Table{Name: "items", LocalOnly: true})
		}, "table items: view name items is already used by table todos"},
		{"index name clash", func(s *schema.Schema) {
			s.Tables[0].Indexes = append(s.Tables[0].Indexes, schema.IndexOn("x__y", "completed"))
			s.Tables = append(s.Tables, schema.Table{Name: "todos__x", Columns: []schema.Column{schema.Text("a")}, Indexes: []schema.Index{schema.IndexOn("y", "a")}})
		}, "table todos__x: index y is named ps_data__todos__x__y in SQLite, like an index of table todos"},
		{"raw table clashes with table", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "todos", TableName: "todos_raw"}}
		}, "raw table todos: the name is already used by a table"},
		{"raw local table clashes with view", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "users", TableName: "Todos"}}
		}, "raw table users: local table Todos clashes with the view of table todos"},
		{"duplicate raw table", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "users", TableName: "users"}, {Name: "users", TableName: "users2"}}
		}, "duplicate raw table users"},
		{"raw table without name", func(s *schema.Schema) { s.RawTables = []schema.RawTable{{TableName: "users"}} }, "raw table name is empty"},
		{"inferred raw table without table name", func(s *schema.Schema) { s.RawTables = []schema.RawTable{{Name: "users"}} }, "raw table users: table_name is required"},
		{"explicit raw table without table name", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{
				Name:   "users",
				Put:    &schema.PendingStatement{SQL: "INSERT INTO u (id, x) VALUES (?, ?)", Params: []schema.Param{schema.IDParam(), schema.ColumnParam("x")}},
				Delete: &schema.PendingStatement{SQL: "DELETE FROM u WHERE id = ?", Params: []schema.Param{schema.IDParam()}},
			}}
		}, ""},
		{"raw delete with column", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{
				Name:   "users",
				Put:    &schema.PendingStatement{SQL: "INSERT INTO u (id) VALUES (?)", Params: []schema.Param{schema.IDParam()}},
				Delete: &schema.PendingStatement{SQL: "DELETE FROM u WHERE id = ? AND x = ?", Params: []schema.Param{schema.IDParam(), schema.ColumnParam("x")}},
			}}
		}, "raw table users: delete statement parameter 2 is Column(x): raw delete statement parameters must only reference id"},
		{"raw put without SQL", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "users", TableName: "users", Put: &schema.PendingStatement{SQL: " "}}}
		}, "raw table users: put statement has no SQL"},
		{"raw put with empty column", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "users", TableName: "users", Put: &schema.PendingStatement{SQL: "x", Params: []schema.Param{schema.ColumnParam("")}}}}
		}, "put statement parameter 1: empty column name"},
		{"raw put with bad param", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "users", TableName: "users", Put: &schema.PendingStatement{SQL: "x", Params: []schema.Param{{}}}}}
		}, "put statement parameter 1: unknown kind 0"},
		{"raw reserved table", func(s *schema.Schema) { s.RawTables = []schema.RawTable{{Name: "x", TableName: "ps_oplog"}} }, `local table name "ps_oplog" is reserved`},
		{"raw local table with NUL", func(s *schema.Schema) { s.RawTables = []schema.RawTable{{Name: "x", TableName: "t\x00"}} }, `raw table x: local table name "t\x00" contains a NUL byte`},
		{"raw synced column with NUL", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "x", TableName: "t", SyncedColumns: []string{"a\x00"}}}
		}, `raw table x: synced column "a\x00" contains a NUL byte`},
		{"raw duplicate synced column", func(s *schema.Schema) {
			s.RawTables = []schema.RawTable{{Name: "x", TableName: "x", SyncedColumns: []string{"a", "a"}}}
		}, "raw table x: duplicate synced column a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := schema.New(todos())
			tt.modify(s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.want)
			}
			if !errors.Is(err, schema.ErrInvalidSchema) {
				t.Errorf("error %v does not wrap ErrInvalidSchema", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "powersync: invalid schema: ") {
				t.Errorf("error %q lacks the powersync prefix", err)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		table schema.Table
		want  int
	}{
		{schema.Table{}, 0},
		{schema.Table{LocalOnly: true}, 1},
		{schema.Table{InsertOnly: true}, 2},
		{schema.Table{TrackMetadata: true}, 4},
		{schema.Table{TrackPrevious: &schema.TrackPreviousValues{}}, 0},
		{schema.Table{TrackPrevious: &schema.TrackPreviousValues{OnlyWhenChanged: true}}, 8},
		{schema.Table{IgnoreEmptyUpdates: true}, 16},
		{schema.Table{TrackMetadata: true, TrackPrevious: &schema.TrackPreviousValues{OnlyWhenChanged: true}, IgnoreEmptyUpdates: true}, 28},
	}
	for _, tt := range tests {
		if got := tt.table.Flags(); got != tt.want {
			t.Errorf("%+v.Flags() = %d, want %d", tt.table, got, tt.want)
		}
	}
	r := schema.RawTable{InsertOnly: true, IgnoreEmptyUpdates: true, TrackPrevious: &schema.TrackPreviousValues{OnlyWhenChanged: true}}
	if got := r.Flags(); got != 26 {
		t.Errorf("raw Flags() = %d, want 26", got)
	}
}

func TestLookups(t *testing.T) {
	s := schema.New(todos()).WithRawTables(schema.RawTable{Name: "users", TableName: "users"})
	if s.Table("todos") == nil || s.Table("nope") != nil {
		t.Error("Schema.Table lookup")
	}
	if s.RawTable("users") == nil || s.RawTable("todos") != nil {
		t.Error("Schema.RawTable lookup")
	}
	tb := s.Table("todos")
	if c := tb.Column("completed"); c == nil || c.Type != schema.TypeInteger {
		t.Errorf("Column(completed) = %v", c)
	}
	if tb.Column("id") != nil {
		t.Error("Column(id) should be nil")
	}
	// Lookups return pointers into the schema.
	tb.LocalOnly = true
	if !s.Tables[0].LocalOnly || s.Tables[0].DataTableName() != "ps_data_local__todos" {
		t.Error("Table() does not point into the schema")
	}
}
