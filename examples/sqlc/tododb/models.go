// Written by hand in the form `sqlc generate` produces; see doc.go.

package tododb

import (
	"database/sql"
)

// List is a row of lists.
type List struct {
	ID        string
	CreatedAt sql.NullString
	Name      sql.NullString
	OwnerID   sql.NullString
}

// Todo is a row of todos.
type Todo struct {
	ID          string
	ListID      sql.NullString
	CreatedAt   sql.NullString
	CompletedAt sql.NullString
	Description sql.NullString
	CreatedBy   sql.NullString
	CompletedBy sql.NullString
	Completed   sql.NullInt64
}
