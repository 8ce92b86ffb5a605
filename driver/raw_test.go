package driver_test

import (
	"path/filepath"
	"slices"
	"testing"

	psdriver "github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/syncop"
	"github.com/gopowersync/powersync/schema"
)

func TestRawTableTriggers(t *testing.T) {
	rt := schema.RawTable{
		Name:          "users",
		TableName:     "local_users",
		SyncedColumns: []string{"email", "name"},
	}
	s := schema.New().WithRawTables(rt)
	db := openDB(t, filepath.Join(t.TempDir(), "a.db"), s)
	ctx := t.Context()
	exec(t, db, `CREATE TABLE local_users(id TEXT PRIMARY KEY, email TEXT, name TEXT, draft INTEGER)`)
	if err := psdriver.CreateRawTableTriggers(ctx, db, &s.RawTables[0]); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO local_users VALUES ('u1', 'a@x', 'A', 0)`)
	exec(t, db, `UPDATE local_users SET draft = 1 WHERE id = 'u1'`) // local-only column: not uploaded
	exec(t, db, `UPDATE local_users SET name = 'B' WHERE id = 'u1'`)
	exec(t, db, `DELETE FROM local_users WHERE id = 'u1'`)

	// The sync client's own writes are not uploaded.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := syncop.Set(conn, true); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO local_users VALUES ('u2', 'b@x', 'synced', 0)`); err != nil {
		t.Fatal(err)
	}
	syncop.Set(conn, false)
	conn.Close()

	// As with the core's own triggers, the update of a local-only column
	// records nothing but still uses up transaction id 2: the trigger could
	// have recorded an entry when the statement started.
	want := []crudRow{
		{1, 1, `{"op":"PUT","id":"u1","type":"users","data":{"email":"a@x","name":"A"}}`},
		{2, 3, `{"op":"PATCH","id":"u1","type":"users","data":{"name":"B"}}`},
		{3, 4, `{"op":"DELETE","id":"u1","type":"users"}`},
	}
	if got := crudRows(t, db); !slices.Equal(got, want) {
		t.Errorf("ps_crud:\n got %v\nwant %v", got, want)
	}

	// Creating them again replaces them.
	if err := psdriver.CreateRawTableTriggers(ctx, db, &s.RawTables[0]); err != nil {
		t.Fatal(err)
	}
	missing := schema.RawTable{Name: "x", TableName: "no_such_table"}
	if err := psdriver.CreateRawTableTriggers(ctx, db, &missing); err == nil {
		t.Error("want an error for a missing local table")
	}
}
