package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/gopowersync/powersync/sqlxutil"
	pssync "github.com/gopowersync/powersync/sync"
)

func openTest(t *testing.T) *sqlx.DB {
	t.Helper()
	db, err := open(filepath.Join(t.TempDir(), "todo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queue(t *testing.T, db *sqlx.DB) []pssync.CrudEntry {
	t.Helper()
	b, err := pssync.GetCrudBatch(t.Context(), db.DB, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		return nil
	}
	return b.Entries
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, filepath.Join(t.TempDir(), "todo.db")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"open todos: [bread, eggs, milk]", "completed 1 todo", "deleted 2 todos", "DELETE todos"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestCRUD checks sqlx writes through the views: rows affected, the rows
// read back, and the upload queue entry of each write.
func TestCRUD(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		query    string
		args     []any
		named    any // for NamedExec instead of args
		rows     int64
		op       pssync.Op
		id       string
		wantData string
	}{
		{
			name:     "insert",
			query:    `INSERT INTO todos (id, list_id, description, completed) VALUES (?, ?, ?, 0)`,
			args:     []any{"t1", "l1", "write"},
			rows:     1,
			op:       pssync.OpPut,
			id:       "t1",
			wantData: `{"completed":0,"description":"write","list_id":"l1"}`,
		},
		{
			name:     "named insert",
			query:    `INSERT INTO todos (id, list_id, description) VALUES (:id, :list_id, :description)`,
			named:    Todo{ID: "t2", ListID: "l1", Description: "read"},
			rows:     1,
			op:       pssync.OpPut,
			id:       "t2",
			wantData: `{"description":"read","list_id":"l1"}`,
		},
		{
			name:     "update",
			query:    `UPDATE todos SET completed = 1 WHERE id = ?`,
			args:     []any{"t1"},
			rows:     1,
			op:       pssync.OpPatch,
			id:       "t1",
			wantData: `{"completed":1}`,
		},
		{
			name:     "update to NULL",
			query:    `UPDATE todos SET description = NULL WHERE id = ?`,
			args:     []any{"t2"},
			rows:     1,
			op:       pssync.OpPatch,
			id:       "t2",
			wantData: `{"description":null}`,
		},
		{
			name:  "update of no row",
			query: `UPDATE todos SET completed = 1 WHERE id = ?`,
			args:  []any{"missing"},
			rows:  0,
		},
		{
			name:  "delete",
			query: `DELETE FROM todos WHERE id = ?`,
			args:  []any{"t2"},
			rows:  1,
			op:    pssync.OpDelete,
			id:    "t2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(queue(t, db))
			var rows int64
			var err error
			if tc.named != nil {
				res, e := db.NamedExecContext(ctx, tc.query, tc.named)
				if err = e; err == nil {
					rows, err = res.RowsAffected()
				}
			} else {
				res, e := db.ExecContext(ctx, tc.query, tc.args...)
				if err = e; err == nil {
					rows, err = res.RowsAffected()
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if rows != tc.rows {
				t.Errorf("RowsAffected = %d, want %d", rows, tc.rows)
			}
			q := queue(t, db)
			if tc.op == "" {
				if len(q) != n {
					t.Errorf("queue grew from %d to %d, want no new entry", n, len(q))
				}
				return
			}
			if len(q) != n+1 {
				t.Fatalf("queue grew from %d to %d, want one new entry", n, len(q))
			}
			e := q[len(q)-1]
			if e.Op != tc.op || e.Table != "todos" || e.ID != tc.id {
				t.Errorf("entry = %s %s %s, want %s todos %s", e.Op, e.Table, e.ID, tc.op, tc.id)
			}
			if tc.wantData != "" {
				b, _ := json.Marshal(e.Data)
				if string(b) != tc.wantData {
					t.Errorf("entry data = %s, want %s", b, tc.wantData)
				}
			}
		})
	}

	got, err := sqlxutil.Select[Todo](ctx, db, `SELECT id, list_id, description, completed FROM todos`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "t1" || !got[0].Completed || got[0].Description != "write" {
		t.Errorf("todos = %+v, want t1 completed", got)
	}
}

// TestUpsertOnView documents that SQLite rejects ON CONFLICT on views and
// that the failed statement queues nothing.
func TestUpsertOnView(t *testing.T) {
	db := openTest(t)
	_, err := db.ExecContext(t.Context(),
		`INSERT INTO lists (id, name) VALUES ('l1', 'a') ON CONFLICT (id) DO UPDATE SET name = excluded.name`)
	if err == nil || !strings.Contains(err.Error(), "cannot UPSERT a view") {
		t.Fatalf("upsert error = %v, want \"cannot UPSERT a view\"", err)
	}
	if q := queue(t, db); len(q) != 0 {
		t.Errorf("queue has %d entries after a failed upsert", len(q))
	}
}
