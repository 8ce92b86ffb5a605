package sync

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/gopowersync/powersync/schema"
)

// testSchema has a synced table, a table tracking metadata and previous
// values, and a local-only table.
func testSchema() *schema.Schema {
	return schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title"), schema.Integer("done")}},
		schema.Table{Name: "notes", Columns: []schema.Column{schema.Text("body")}, TrackMetadata: true,
			TrackPrevious: &schema.TrackPreviousValues{}},
		schema.Table{Name: "drafts", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true},
	)
}

// openDB opens a fresh "powersync" database with testSchema.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	return openDBAt(t, filepath.Join(t.TempDir(), "test.db"))
}

func exec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// writeTx runs statements in one transaction.
func writeTx(t testing.TB, db *sql.DB, qs ...string) {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if _, err := tx.Exec(q); err != nil {
			tx.Rollback()
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func kvInt(t testing.TB, db *sql.DB, key string) (int64, bool) {
	t.Helper()
	var v sql.NullInt64
	err := db.QueryRow(`SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?`, key).Scan(&v)
	if err == sql.ErrNoRows {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64, v.Valid
}

func queueLen(t testing.TB, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ps_crud`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
