package driver_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	psdriver "github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	_ "modernc.org/sqlite"
)

// benchRows is the size of the local-write benchmarks, the same workload the
// oracle's "bench" command times for the official core (100k rows, 5 columns).
const benchRows = 100_000

// itemsSchema is the oracle's benchmark schema (bench/schema_items.json).
func itemsSchema() *schema.Schema {
	return schema.New(schema.Table{Name: "items", Columns: []schema.Column{
		schema.Text("name"), schema.Integer("qty"), schema.Real("price"), schema.Text("note"), schema.Integer("flag"),
	}})
}

// insertRows inserts benchRows rows with one prepared statement in one
// transaction, as an application importing data would.
func insertRows(b *testing.B, db *sql.DB, query string) {
	tx, err := db.BeginTx(b.Context(), nil)
	if err != nil {
		b.Fatal(err)
	}
	st, err := tx.PrepareContext(b.Context(), query)
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchRows {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		if _, err := st.ExecContext(b.Context(), id, fmt.Sprintf("item %d", i), i%100, float64(i)*0.25, "note", i%2); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkInsertThroughView: 100k INSERTs through a PowerSync view in one
// transaction, each also queued for upload (the oracle's case A).
func BenchmarkInsertThroughView(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		c, err := psdriver.NewConnector(filepath.Join(b.TempDir(), "v.db"), psdriver.WithSchema(itemsSchema()))
		if err != nil {
			b.Fatal(err)
		}
		db := sql.OpenDB(c)
		if err := db.PingContext(b.Context()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		insertRows(b, db, `INSERT INTO items(id, name, qty, price, note, flag) VALUES (?, ?, ?, ?, ?, ?)`)
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInsertPlainTable is the floor: the same rows into a plain table
// (id, JSON data) with modernc.org/sqlite alone and no upload queue.
func BenchmarkInsertPlainTable(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		db, err := sql.Open("sqlite", filepath.Join(b.TempDir(), "p.db")+"?_pragma=journal_mode(WAL)&_txlock=immediate")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.ExecContext(b.Context(), `CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, data TEXT)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		insertRows(b, db, `INSERT INTO t(id, data) VALUES (?1, json_object('name', ?2, 'qty', ?3, 'price', ?4, 'note', ?5, 'flag', ?6))`)
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
