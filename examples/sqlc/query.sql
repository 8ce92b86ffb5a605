-- Queries for sqlc (see sqlc.yaml). The tables are PowerSync views; their
-- CREATE TABLE form is in schema.sql, written by go generate. The comment
-- under each name becomes the doc comment of its method.

-- name: CreateList :one
-- CreateList inserts a list and returns it.
INSERT INTO lists (id, created_at, name, owner_id)
VALUES (?, ?, ?, ?)
RETURNING *;

-- name: GetList :one
-- GetList returns a list by id.
SELECT * FROM lists
WHERE id = ?;

-- name: CreateTodo :one
-- CreateTodo inserts an open todo and returns it.
INSERT INTO todos (id, list_id, created_at, description, created_by, completed)
VALUES (?, ?, ?, ?, ?, 0)
RETURNING *;

-- name: ListTodos :many
-- ListTodos returns the todos of a list by description.
SELECT * FROM todos
WHERE list_id = ?
ORDER BY description, id;

-- name: CompleteTodo :execrows
-- CompleteTodo marks a todo completed and returns the number of rows changed.
UPDATE todos
SET completed = 1, completed_at = ?, completed_by = ?
WHERE id = ?;

-- name: DeleteTodo :execrows
-- DeleteTodo deletes a todo and returns the number of rows deleted.
DELETE FROM todos
WHERE id = ?;

-- name: CountOpenTodos :one
-- CountOpenTodos counts the todos of a list that are not completed.
SELECT count(*) FROM todos
WHERE list_id = ? AND completed = 0;
