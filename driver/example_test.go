package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// appSchema is the schema of the examples: a synced table and a local-only one.
var appSchema = schema.New(
	schema.Table{
		Name:    "todos",
		Columns: []schema.Column{schema.Text("description"), schema.Integer("completed")},
	},
	schema.Table{Name: "settings", Columns: []schema.Column{schema.Text("value")}, LocalOnly: true},
)

func tempPath(name string) (string, func()) {
	dir, err := os.MkdirTemp("", "powersync-example")
	if err != nil {
		log.Fatal(err)
	}
	return filepath.Join(dir, name), func() { os.RemoveAll(dir) }
}

// Open a PowerSync database with database/sql: register the schema under a
// name and name it in the DSN.
func Example() {
	path, cleanup := tempPath("app.db")
	defer cleanup()

	driver.RegisterSchema("app", appSchema)
	db, err := sql.Open("powersync", path+"?_powersync_schema=app")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO todos(id, description, completed) VALUES (uuid(), ?, 0)`, "buy milk"); err != nil {
		log.Fatal(err)
	}
	var description string
	if err := db.QueryRowContext(ctx, `SELECT description FROM todos`).Scan(&description); err != nil {
		log.Fatal(err)
	}
	fmt.Println(description)
	// Output: buy milk
}

// NewConnector passes the schema without a global registration.
func ExampleNewConnector() {
	path, cleanup := tempPath("app.db")
	defer cleanup()

	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	res, err := db.Exec(`INSERT INTO todos(id, description) VALUES ('t1', 'write docs'), ('t2', 'ship')`)
	if err != nil {
		log.Fatal(err)
	}
	n, _ := res.RowsAffected()
	fmt.Println("inserted", n)
	// Output: inserted 2
}

// Every write to a synced table is queued for upload in ps_crud, one entry a
// row, grouped by transaction. Local-only tables queue nothing.
func Example_uploadQueue() {
	path, cleanup := tempPath("app.db")
	defer cleanup()
	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()

	tx, err := db.Begin()
	if err != nil {
		log.Fatal(err)
	}
	tx.Exec(`INSERT INTO todos(id, description, completed) VALUES ('t1', 'write docs', 0)`)
	tx.Exec(`UPDATE todos SET completed = 1 WHERE id = 't1'`)
	tx.Exec(`INSERT INTO settings(id, value) VALUES ('theme', 'dark')`)
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	db.Exec(`DELETE FROM todos WHERE id = 't1'`)

	rows, err := db.Query(`SELECT tx_id, data FROM ps_crud ORDER BY id`)
	if err != nil {
		log.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tx int
		var data string
		rows.Scan(&tx, &data)
		fmt.Println(tx, data)
	}
	// Output:
	// 1 {"op":"PUT","id":"t1","type":"todos","data":{"completed":0,"description":"write docs"}}
	// 1 {"op":"PATCH","id":"t1","type":"todos","data":{"completed":1}}
	// 2 {"op":"DELETE","id":"t1","type":"todos"}
}

// UpdateSchema changes the tables without migrations and without losing rows.
func ExampleUpdateSchema() {
	path, cleanup := tempPath("app.db")
	defer cleanup()
	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	db.Exec(`INSERT INTO todos(id, description) VALUES ('t1', 'write docs')`)

	// Add a column: existing rows read it as NULL until it is set.
	withDue := schema.New(
		schema.Table{
			Name:    "todos",
			Columns: []schema.Column{schema.Text("description"), schema.Integer("completed"), schema.Text("due")},
		},
		appSchema.Tables[1],
	)
	if err := driver.UpdateSchema(context.Background(), db, withDue); err != nil {
		log.Fatal(err)
	}
	db.Exec(`UPDATE todos SET due = '2026-12-01' WHERE id = 't1'`)
	var description, due string
	db.QueryRow(`SELECT description, due FROM todos`).Scan(&description, &due)
	fmt.Println(description, due)
	// Output: write docs 2026-12-01
}

// WriteTx runs a write transaction: it commits when the function returns
// nil and rolls back when it returns an error or panics. Writers of the same
// file in this process wait for their turn instead of failing with
// SQLITE_BUSY.
func ExampleWriteTx() {
	path, cleanup := tempPath("app.db")
	defer cleanup()
	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx := context.Background()

	err = driver.WriteTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description, completed) VALUES ('t1', 'write docs', 0)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE todos SET completed = 1 WHERE id = 't1'`)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	err = driver.WriteTx(ctx, db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM todos`); err != nil {
			return err
		}
		return errors.New("changed my mind") // rolls back: nothing deleted, nothing queued
	})
	fmt.Println(err)

	var n, queued int
	db.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n)
	db.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(&queued)
	fmt.Println(n, "todo,", queued, "upload entries")
	// Output:
	// changed my mind
	// 1 todo, 2 upload entries
}

// ReadTx runs a read-only transaction: its queries see one snapshot, and a
// write in it fails with an error wrapping ErrReadOnly.
func ExampleReadTx() {
	path, cleanup := tempPath("app.db")
	defer cleanup()
	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	ctx := context.Background()
	db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('t1', 'write docs')`)

	err = driver.ReadTx(ctx, db, func(tx *sql.Tx) error {
		var description string
		if err := tx.QueryRowContext(ctx, `SELECT description FROM todos WHERE id = 't1'`).Scan(&description); err != nil {
			return err
		}
		fmt.Println(description)
		_, err := tx.ExecContext(ctx, `DELETE FROM todos`)
		return err
	})
	fmt.Println(errors.Is(err, driver.ErrReadOnly), err)
	// Output:
	// write docs
	// true powersync: read-only: cannot write "todos" in a read-only transaction
}

// A database file can be opened for reading only, with mode=ro in the DSN:
// nothing is created or changed, and writes fail with ErrReadOnly.
func ExampleNewConnector_readOnly() {
	path, cleanup := tempPath("app.db")
	defer cleanup()
	c, err := driver.NewConnector(path, driver.WithSchema(appSchema))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	db.Exec(`INSERT INTO todos(id, description) VALUES ('t1', 'write docs')`)
	db.Close()

	ro, err := driver.NewConnector(path + "?mode=ro")
	if err != nil {
		log.Fatal(err)
	}
	rdb := sql.OpenDB(ro)
	defer rdb.Close()
	var description string
	rdb.QueryRow(`SELECT description FROM todos`).Scan(&description)
	fmt.Println(description)
	_, err = rdb.Exec(`DELETE FROM todos`)
	fmt.Println(err)
	// Output:
	// write docs
	// powersync: read-only: cannot write "todos": the database was opened read-only (mode=ro)
}
