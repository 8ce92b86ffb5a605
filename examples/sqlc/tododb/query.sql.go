// Written by hand in the form `sqlc generate` produces; see doc.go.
// source: query.sql

package tododb

import (
	"context"
	"database/sql"
)

const completeTodo = `-- name: CompleteTodo :execrows
UPDATE todos
SET completed = 1, completed_at = ?, completed_by = ?
WHERE id = ?
`

// CompleteTodoParams are the parameters of CompleteTodo.
type CompleteTodoParams struct {
	CompletedAt sql.NullString
	CompletedBy sql.NullString
	ID          string
}

// CompleteTodo marks a todo completed and returns the number of rows
// changed.
func (q *Queries) CompleteTodo(ctx context.Context, arg CompleteTodoParams) (int64, error) {
	result, err := q.db.ExecContext(ctx, completeTodo, arg.CompletedAt, arg.CompletedBy, arg.ID)
	if err != nil {
		return 0, err
	}
	return result.RowsAffected()
}

const countOpenTodos = `-- name: CountOpenTodos :one
SELECT count(*) FROM todos
WHERE list_id = ? AND completed = 0
`

// CountOpenTodos counts the todos of a list that are not completed.
func (q *Queries) CountOpenTodos(ctx context.Context, listID sql.NullString) (int64, error) {
	row := q.db.QueryRowContext(ctx, countOpenTodos, listID)
	var count int64
	err := row.Scan(&count)
	return count, err
}

const createList = `-- name: CreateList :one
INSERT INTO lists (id, created_at, name, owner_id)
VALUES (?, ?, ?, ?)
RETURNING id, created_at, name, owner_id
`

// CreateListParams are the parameters of CreateList.
type CreateListParams struct {
	ID        string
	CreatedAt sql.NullString
	Name      sql.NullString
	OwnerID   sql.NullString
}

// CreateList inserts a list and returns it.
func (q *Queries) CreateList(ctx context.Context, arg CreateListParams) (List, error) {
	row := q.db.QueryRowContext(ctx, createList,
		arg.ID,
		arg.CreatedAt,
		arg.Name,
		arg.OwnerID,
	)
	var i List
	err := row.Scan(
		&i.ID,
		&i.CreatedAt,
		&i.Name,
		&i.OwnerID,
	)
	return i, err
}

const createTodo = `-- name: CreateTodo :one
INSERT INTO todos (id, list_id, created_at, description, created_by, completed)
VALUES (?, ?, ?, ?, ?, 0)
RETURNING id, list_id, created_at, completed_at, description, created_by, completed_by, completed
`

// CreateTodoParams are the parameters of CreateTodo.
type CreateTodoParams struct {
	ID          string
	ListID      sql.NullString
	CreatedAt   sql.NullString
	Description sql.NullString
	CreatedBy   sql.NullString
}

// CreateTodo inserts a todo and returns it.
func (q *Queries) CreateTodo(ctx context.Context, arg CreateTodoParams) (Todo, error) {
	row := q.db.QueryRowContext(ctx, createTodo,
		arg.ID,
		arg.ListID,
		arg.CreatedAt,
		arg.Description,
		arg.CreatedBy,
	)
	var i Todo
	err := row.Scan(
		&i.ID,
		&i.ListID,
		&i.CreatedAt,
		&i.CompletedAt,
		&i.Description,
		&i.CreatedBy,
		&i.CompletedBy,
		&i.Completed,
	)
	return i, err
}

const deleteTodo = `-- name: DeleteTodo :execrows
DELETE FROM todos
WHERE id = ?
`

// DeleteTodo deletes a todo and returns the number of rows deleted.
func (q *Queries) DeleteTodo(ctx context.Context, id string) (int64, error) {
	result, err := q.db.ExecContext(ctx, deleteTodo, id)
	if err != nil {
		return 0, err
	}
	return result.RowsAffected()
}

const getList = `-- name: GetList :one
SELECT id, created_at, name, owner_id FROM lists
WHERE id = ?
`

// GetList returns a list by id.
func (q *Queries) GetList(ctx context.Context, id string) (List, error) {
	row := q.db.QueryRowContext(ctx, getList, id)
	var i List
	err := row.Scan(
		&i.ID,
		&i.CreatedAt,
		&i.Name,
		&i.OwnerID,
	)
	return i, err
}

const listTodos = `-- name: ListTodos :many
SELECT id, list_id, created_at, completed_at, description, created_by, completed_by, completed FROM todos
WHERE list_id = ?
ORDER BY description, id
`

// ListTodos returns the todos of a list by description.
func (q *Queries) ListTodos(ctx context.Context, listID sql.NullString) ([]Todo, error) {
	rows, err := q.db.QueryContext(ctx, listTodos, listID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []Todo
	for rows.Next() {
		var i Todo
		if err := rows.Scan(
			&i.ID,
			&i.ListID,
			&i.CreatedAt,
			&i.CompletedAt,
			&i.Description,
			&i.CreatedBy,
			&i.CompletedBy,
			&i.Completed,
		); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return items, nil
}
