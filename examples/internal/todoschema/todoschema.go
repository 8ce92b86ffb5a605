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
