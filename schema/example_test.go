package schema_test

import (
	"database/sql"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gopowersync/powersync/schema"
)

func Example() {
	s := schema.New(
		schema.Table{
			Name:    "todos",
			Columns: []schema.Column{schema.Text("description"), schema.Integer("completed"), schema.Text("list_id")},
			Indexes: []schema.Index{schema.IndexOn("list", "list_id")},
		},
		schema.Table{
			Name:          "lists",
			Columns:       []schema.Column{schema.Text("name"), schema.Text("owner_id")},
			TrackMetadata: true,
			TrackPrevious: &schema.TrackPreviousValues{Columns: []string{"name"}, OnlyWhenChanged: true},
		},
		schema.Table{Name: "drafts", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true},
	)
	if err := s.Validate(); err != nil {
		log.Fatal(err)
	}
	for _, t := range s.Tables {
		fmt.Println(t.ViewName(), "stored in", t.DataTableName())
	}
	todos := s.Table("todos")
	fmt.Println(todos.ViewSQL())
	for _, idx := range todos.IndexSQL() {
		fmt.Println(idx.SQL)
	}
	// Output:
	// todos stored in ps_data__todos
	// lists stored in ps_data__lists
	// drafts stored in ps_data_local__drafts
	// CREATE VIEW "todos"("id", "description", "completed", "list_id") AS SELECT id, CAST(json_extract(data, '$.description') as TEXT), CAST(json_extract(data, '$.completed') as INTEGER), CAST(json_extract(data, '$.list_id') as TEXT) FROM "ps_data__todos" -- powersync-auto-generated
	// CREATE INDEX "ps_data__todos__list" ON "ps_data__todos"(CAST(json_extract(data, '$.list_id') as TEXT))
}

func ExampleSchema_Validate() {
	s := schema.New(schema.Table{
		Name:    "todos",
		Columns: []schema.Column{schema.Text("id"), schema.Text("description")},
	})
	err := s.Validate()
	fmt.Println(errors.Is(err, schema.ErrInvalidSchema))
	fmt.Println(err)
	// Output:
	// true
	// powersync: invalid schema: table todos: column id: an id column is added automatically, custom id columns are not supported
}

func ExampleSchema_MarshalJSON() {
	s := schema.New(schema.Table{
		Name:    "todos",
		Columns: []schema.Column{schema.Text("description"), schema.Integer("completed")},
		Indexes: []schema.Index{{Name: "recent", Columns: []schema.IndexedColumn{schema.Desc("completed")}}},
	})
	data, err := s.MarshalJSON()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))

	parsed, err := schema.Parse(data)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(parsed.Tables[0].Name, len(parsed.Tables[0].Columns), parsed.Tables[0].Indexes[0].Columns[0].Descending)
	// Output:
	// {"tables":[{"name":"todos","columns":[{"name":"description","type":"TEXT"},{"name":"completed","type":"INTEGER"}],"indexes":[{"name":"recent","columns":[{"name":"completed","ascending":false,"type":"INTEGER"}]}],"local_only":false,"insert_only":false,"include_metadata":false,"include_old":false,"include_old_only_when_changed":false,"ignore_empty_update":false}],"raw_tables":[]}
	// todos 2 true
}

func ExampleTableFrom() {
	type Todo struct {
		ID          string         `db:"id"`
		Description string         `db:"description"`
		Completed   bool           `db:"completed"`
		Weight      *float64       `db:"weight"`
		ListID      sql.NullString `db:"list_id"`
		CreatedAt   time.Time      `db:"created_at"`
		Cached      string         `db:"-"`
	}
	todos, err := schema.TableFrom[Todo]("todos", schema.WithIndexes(schema.IndexOn("list", "list_id")))
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range todos.Columns {
		fmt.Println(c.Name, c.Type)
	}
	// Output:
	// description TEXT
	// completed INTEGER
	// weight REAL
	// list_id TEXT
	// created_at TEXT
}

func ExampleSchema_CreateTableSQL() {
	s := schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("description"), schema.Integer("completed")}},
		schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}, TrackMetadata: true},
	)
	fmt.Print(s.CreateTableSQL())
	// Output:
	// -- The tables of a PowerSync schema as queries see them (the views over the
	// -- JSON data tables). For type-checking tools such as sqlc; not for execution.
	//
	// CREATE TABLE todos (
	//   id TEXT PRIMARY KEY,
	//   description TEXT,
	//   completed INTEGER
	// );
	//
	// CREATE TABLE lists (
	//   id TEXT PRIMARY KEY,
	//   name TEXT,
	//   _metadata TEXT,
	//   _deleted INTEGER
	// );
}

func ExampleRawTable() {
	users := schema.RawTable{
		Name:          "users",
		TableName:     "users",
		SyncedColumns: []string{"email", "name"},
	}
	// The column names of the local table, as pragma_table_info lists them.
	local := []string{"id", "email", "name", "last_opened"}
	put, del, err := users.InferStatements(local)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(put.SQL, put.Params)
	fmt.Println(del.SQL, del.Params)
	// Output:
	// INSERT INTO "users" (id, "email", "name") VALUES (?1, ?2, ?3) ON CONFLICT (id) DO UPDATE SET "email" = ?2, "name" = ?3 [Id Column(email) Column(name)]
	// DELETE FROM "users" WHERE id = ? [Id]
}
