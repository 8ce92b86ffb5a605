-- Queries for sqlc (see sqlc.yaml). The tables are PowerSync views; their
-- CREATE TABLE form is in schema.sql, written by go generate.

-- name: CreateList :one
INSERT INTO lists (id, created_at, name, owner_id)
VALUES (?, ?, ?, ?)
RETURNING *;

-- name: GetList :one
SELECT * FROM lists
WHERE id = ?;

-- name: CreateTodo :one
INSERT INTO todos (id, list_id, created_at, description, created_by, completed)
VALUES (?, ?, ?, ?, ?, 0)
RETURNING *;

-- name: ListTodos :many
SELECT * FROM todos
WHERE list_id = ?
ORDER BY description, id;

-- name: CompleteTodo :execrows
UPDATE todos
SET completed = 1, completed_at = ?, completed_by = ?
WHERE id = ?;

-- name: DeleteTodo :execrows
DELETE FROM todos
WHERE id = ?;

-- name: CountOpenTodos :one
SELECT count(*) FROM todos
WHERE list_id = ? AND completed = 0;
