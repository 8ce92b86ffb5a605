package hooks

import (
	"context"
	"iter"
	"slices"
	"testing"
)

func TestQueryTables(t *testing.T) {
	db := openPlain(t)
	for _, q := range []string{
		`CREATE TABLE ps_data__todos(id TEXT PRIMARY KEY, data TEXT)`,
		`CREATE TABLE ps_data_local__drafts(id TEXT PRIMARY KEY, data TEXT)`,
		`CREATE TABLE ps_data__lists(id TEXT PRIMARY KEY, data TEXT)`,
		`CREATE TABLE raw_items(id TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID`,
		`CREATE TABLE ps_crud(id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER)`,
		`CREATE INDEX raw_items_name ON raw_items(name)`,
		`CREATE VIEW todos AS SELECT id, data ->> '$.description' AS description, data ->> '$.list_id' AS list_id FROM ps_data__todos`,
		`CREATE VIEW lists AS SELECT id, data ->> '$.name' AS name FROM ps_data__lists`,
		`CREATE VIEW drafts AS SELECT id, data ->> '$.body' AS body FROM ps_data_local__drafts`,
	} {
		mustExec(t, db, q)
	}
	tests := []struct {
		name  string
		query string
		args  []any
		want  []string
	}{
		{"view", `SELECT * FROM todos`, nil, []string{"todos"}},
		{"join of views", `SELECT l.name, count(t.id) FROM lists l LEFT JOIN todos t ON t.list_id = l.id GROUP BY l.id`, nil, []string{"lists", "todos"}},
		{"local-only view with args", `SELECT * FROM drafts WHERE id = ?`, []any{"x"}, []string{"drafts"}},
		{"raw table through an index", `SELECT id FROM raw_items WHERE name = ?`, []any{"n"}, []string{"raw_items"}},
		{"internal table", `SELECT count(*) FROM ps_crud`, nil, []string{"ps_crud"}},
		{"subquery", `SELECT * FROM todos WHERE list_id IN (SELECT id FROM lists)`, nil, []string{"lists", "todos"}},
		{"no table", `SELECT 1`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QueryTables(t.Context(), db, tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("QueryTables = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := QueryTables(t.Context(), db, `SELECT * FROM nope`); err == nil {
		t.Error("QueryTables of a missing table: no error")
	}
}

func pullResults(t *testing.T, seq iter.Seq2[*Result, error]) (next func() *Result, stop func()) {
	t.Helper()
	n, stop := iter.Pull2(seq)
	return func() *Result {
		t.Helper()
		r, err, ok := n()
		if !ok {
			t.Fatal("watch ended")
		}
		if err != nil {
			t.Fatal(err)
		}
		return r
	}, stop
}

func ids(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r["id"].(string))
	}
	return out
}

func TestWatchModes(t *testing.T) {
	db := openPlain(t)
	mustExec(t, db, `CREATE TABLE ps_data__todos(id TEXT PRIMARY KEY, data TEXT)`)
	mustExec(t, db, `CREATE VIEW todos AS SELECT id, data ->> '$.d' AS d FROM ps_data__todos`)
	mustExec(t, db, `INSERT INTO ps_data__todos VALUES ('a', '{"d":"A"}'), ('b', '{"d":"B"}')`)
	const q = `SELECT id, d FROM todos ORDER BY id`

	write := func(hub *fakeHub, sql string) {
		mustExec(t, db, sql)
		hub.publish("ps_data__todos")
	}

	t.Run("every", func(t *testing.T) {
		hub := newFakeHub()
		next, stop := pullResults(t, Watcher{Throttle: -1}.watchWith(t.Context(), db, q, nil, hub.subscribe))
		defer stop()
		if got := ids(next().Rows); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("first rows %q", got)
		}
		hub.publish("ps_data__todos") // no row changed: still reported
		if got := ids(next().Rows); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("rows %q", got)
		}
		write(hub, `INSERT INTO ps_data__todos VALUES ('c', '{"d":"C"}')`)
		if got := ids(next().Rows); !slices.Equal(got, []string{"a", "b", "c"}) {
			t.Fatalf("rows %q", got)
		}
		write(hub, `DELETE FROM ps_data__todos WHERE id = 'c'`)
		next()
	})

	t.Run("changed", func(t *testing.T) {
		hub := newFakeHub()
		next, stop := pullResults(t, Watcher{Throttle: -1, Mode: ModeChanged}.watchWith(t.Context(), db, q, nil, hub.subscribe))
		defer stop()
		first := next()
		if len(first.Rows) != 2 || first.Columns[1] != "d" {
			t.Fatalf("first = %+v", first)
		}
		hub.publish("ps_data__todos") // same rows: skipped
		write(hub, `UPDATE ps_data__todos SET data = '{"d":"A2"}' WHERE id = 'a'`)
		r := next()
		if r.Rows[0]["d"] != "A2" {
			t.Fatalf("rows = %v", r.Rows)
		}
		write(hub, `UPDATE ps_data__todos SET data = '{"d":"A"}' WHERE id = 'a'`)
	})

	t.Run("diff", func(t *testing.T) {
		hub := newFakeHub()
		next, stop := pullResults(t, Watcher{Throttle: -1, Mode: ModeDiff}.watchWith(t.Context(), db, q, nil, hub.subscribe))
		defer stop()
		r := next()
		if got := ids(r.Added); !slices.Equal(got, []string{"a", "b"}) || r.Removed != nil || r.Updated != nil {
			t.Fatalf("first diff = %+v", r)
		}
		hub.publish("ps_data__todos") // no difference: skipped
		mustExec(t, db, `INSERT INTO ps_data__todos VALUES ('c', '{"d":"C"}')`)
		mustExec(t, db, `DELETE FROM ps_data__todos WHERE id = 'a'`)
		write(hub, `UPDATE ps_data__todos SET data = '{"d":"B2"}' WHERE id = 'b'`)
		r = next()
		if got := ids(r.Added); !slices.Equal(got, []string{"c"}) {
			t.Errorf("Added = %q", got)
		}
		if got := ids(r.Removed); !slices.Equal(got, []string{"a"}) {
			t.Errorf("Removed = %q", got)
		}
		if len(r.Updated) != 1 || r.Updated[0].Old["d"] != "B" || r.Updated[0].New["d"] != "B2" {
			t.Errorf("Updated = %v", r.Updated)
		}
		if got := ids(r.Rows); !slices.Equal(got, []string{"b", "c"}) {
			t.Errorf("Rows = %q", got)
		}
		mustExec(t, db, `DELETE FROM ps_data__todos`)
		mustExec(t, db, `INSERT INTO ps_data__todos VALUES ('a', '{"d":"A"}'), ('b', '{"d":"B"}')`)
	})

	t.Run("diff key missing", func(t *testing.T) {
		hub := newFakeHub()
		seq := Watcher{Throttle: -1, Mode: ModeDiff, Key: []string{"nope"}}.watchWith(t.Context(), db, q, nil, hub.subscribe)
		for _, err := range seq {
			if err == nil {
				t.Fatal("no error for a missing key column")
			}
			break
		}
	})
}

func TestWatchExplicitTablesAndErrors(t *testing.T) {
	db := openPlain(t)
	mustExec(t, db, `CREATE TABLE items(id TEXT PRIMARY KEY)`)
	hub := newFakeHub()
	// The query reads items, but only changes to "other" re-run it.
	next, stop := iter.Pull2(Watcher{Throttle: -1, Tables: []string{"other"}}.watchWith(t.Context(), db, `SELECT count(*) AS n FROM items`, nil, hub.subscribe))
	defer stop()
	if r, err, _ := next(); err != nil || r.Rows[0]["n"] != int64(0) {
		t.Fatalf("first = %v, %v", r, err)
	}
	mustExec(t, db, `INSERT INTO items VALUES ('x')`)
	hub.publish("items")
	mustExec(t, db, `DROP TABLE items`)
	hub.publish("ps_data__other")
	// The run fails (table dropped): the error is yielded and watching goes on.
	if _, err, ok := next(); err == nil || !ok {
		t.Fatalf("after drop: err %v, ok %v; want an error", err, ok)
	}
	mustExec(t, db, `CREATE TABLE items(id TEXT PRIMARY KEY)`)
	hub.publish("other")
	if r, err, _ := next(); err != nil || r.Rows[0]["n"] != int64(0) {
		t.Fatalf("after re-create = %v, %v", r, err)
	}
}

func TestWatchNoTableEndsWithContext(t *testing.T) {
	db := openPlain(t)
	hub := newFakeHub()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	n := 0
	for r, err := range (Watcher{}).watchWith(ctx, db, `SELECT 1 AS one`, nil, hub.subscribe) {
		if err != nil || r.Rows[0]["one"] != int64(1) {
			t.Fatalf("result %v, %v", r, err)
		}
		n++
		cancel()
	}
	if n != 1 {
		t.Fatalf("%d results, want 1", n)
	}
}
