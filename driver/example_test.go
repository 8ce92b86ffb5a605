package driver_test

import (
	"context"
	"database/sql"
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
