package main

import (
	"context"
	"database/sql"
	"fmt"
)

// createTables creates the server tables of the todo-list demo (the
// tables of the PowerSync demo backends, and todos.photo_id for the todo
// example's photos), if missing. Ids are UUIDs and
// times timestamps: the PowerSync Service sends them to clients as text.
const createTables = `
CREATE TABLE IF NOT EXISTS lists (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  name text NOT NULL,
  owner_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS todos (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  description text NOT NULL,
  completed boolean NOT NULL DEFAULT false,
  created_by uuid,
  completed_by uuid,
  list_id uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE
);
ALTER TABLE todos ADD COLUMN IF NOT EXISTS photo_id text;
`

// initTables creates the tables if they do not exist.
func initTables(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, createTables); err != nil {
		return fmt.Errorf("create tables: %w", err)
	}
	return nil
}
