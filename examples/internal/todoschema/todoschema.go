// Package todoschema is the schema the examples share: the lists and todos
// tables of the PowerSync todo-list demos.
package todoschema

import "github.com/gopowersync/powersync/schema"

// Table names.
const (
	Lists = "lists"
	Todos = "todos"
)

// Schema returns the client schema:
//
//	lists(id, created_at, name, owner_id)
//	todos(id, list_id, created_at, completed_at, description, created_by, completed_by, completed)
//
// with an index on todos.list_id. Times are TEXT (ISO 8601, as the service
// sends Postgres timestamps) and completed is an INTEGER 0 or 1.
func Schema() *schema.Schema {
	return schema.New(
		schema.Table{
			Name: Lists,
			Columns: []schema.Column{
				schema.Text("created_at"),
				schema.Text("name"),
				schema.Text("owner_id"),
			},
		},
		schema.Table{
			Name: Todos,
			Columns: []schema.Column{
				schema.Text("list_id"),
				schema.Text("created_at"),
				schema.Text("completed_at"),
				schema.Text("description"),
				schema.Text("created_by"),
				schema.Text("completed_by"),
				schema.Integer("completed"),
			},
			Indexes: []schema.Index{schema.IndexOn("list", "list_id")},
		},
	)
}

// PhotoID is the column of todos that references a photo (an attachment
// id, see package attachments) in the todo example's -photos mode.
const PhotoID = "photo_id"

// WithPhotos returns Schema with the TEXT column todos.photo_id: the
// schema of the todo example with -photos, and the columns the backend
// accepts in uploads. The attachments table (local-only) is the client's
// own addition.
func WithPhotos() *schema.Schema {
	s := Schema()
	tables := make([]schema.Table, 0, len(s.Tables))
	for _, t := range s.Tables {
		if t.Name == Todos {
			t.Columns = append(append([]schema.Column{}, t.Columns...), schema.Text(PhotoID))
		}
		tables = append(tables, t)
	}
	return schema.New(tables...)
}
