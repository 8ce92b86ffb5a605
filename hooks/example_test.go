package hooks_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/schema"
)

// openExample opens a PowerSync database with todos and lists tables in a
// new temporary directory; cleanup closes it and removes the directory.
func openExample() (db *sql.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "hooks-example")
	if err != nil {
		log.Fatal(err)
	}
	s := schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("description"), schema.Integer("done")}},
		schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}},
	)
	c, err := driver.NewConnector(filepath.Join(dir, "app.db"), driver.WithSchema(s))
	if err != nil {
		log.Fatal(err)
	}
	db = sql.OpenDB(c)
	return db, func() {
		db.Close()
		os.RemoveAll(dir)
	}
}

func ExampleWatch() {
	db, cleanup := openExample()
	defer cleanup()
	ctx := context.Background()

	todo := []string{"buy milk", "walk the dog"}
	for res, err := range hooks.Watch(ctx, db, `SELECT description FROM todos ORDER BY description`) {
		if err != nil {
			log.Fatal(err)
		}
		var names []any
		for _, row := range res.Rows {
			names = append(names, row["description"])
		}
		fmt.Println(len(res.Rows), "todos:", names)
		if len(todo) == 0 {
			break
		}
		// Another part of the program writes; the watch re-runs the query.
		if _, err := db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (uuid(), ?)`, todo[0]); err != nil {
			log.Fatal(err)
		}
		todo = todo[1:]
	}
	// Output:
	// 0 todos: []
	// 1 todos: [buy milk]
	// 2 todos: [buy milk walk the dog]
}

func ExampleWatcher_Watch() {
	db, cleanup := openExample()
	defer cleanup()
	ctx := context.Background()

	// Each step is written after the previous result is reported.
	steps := [][]string{
		{`INSERT INTO todos(id, description, done) VALUES ('t1', 'buy milk', 0), ('t2', 'walk the dog', 0)`},
		{
			`UPDATE todos SET done = 0 WHERE id = 't1'`, // changes no row: nothing reported
			`UPDATE todos SET done = 1 WHERE id = 't1'`,
		},
		{`DELETE FROM todos WHERE id = 't2'`},
	}
	w := hooks.Watcher{Mode: hooks.ModeDiff}
	for res, err := range w.Watch(ctx, db, `SELECT id, description, done FROM todos`) {
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range res.Added {
			fmt.Println("added", r["id"], r["description"])
		}
		for _, u := range res.Updated {
			fmt.Println("updated", u.New["id"], "done:", u.Old["done"], "->", u.New["done"])
		}
		for _, r := range res.Removed {
			fmt.Println("removed", r["id"])
		}
		if len(steps) == 0 {
			break
		}
		for _, q := range steps[0] {
			if _, err := db.ExecContext(ctx, q); err != nil {
				log.Fatal(err)
			}
		}
		steps = steps[1:]
	}
	// Output:
	// added t1 buy milk
	// added t2 walk the dog
	// updated t1 done: 0 -> 1
	// removed t2
}

func ExampleListen() {
	db, cleanup := openExample()
	defer cleanup()
	ctx := context.Background()

	l, err := hooks.Listen(ctx, db, "todos")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	// A rolled back write is never reported; a write to another table is not
	// either.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (uuid(), 'never')`); err != nil {
		log.Fatal(err)
	}
	tx.Rollback()
	if _, err := db.ExecContext(ctx, `INSERT INTO lists(id, name) VALUES (uuid(), 'groceries')`); err != nil {
		log.Fatal(err)
	}
	// Two commits before Next merge into one notification.
	for _, d := range []string{"buy milk", "walk the dog"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (uuid(), ?)`, d); err != nil {
			log.Fatal(err)
		}
	}
	c, err := l.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println("changed:", c.Tables, "todos:", n)
	// Output:
	// changed: [todos] todos: 2
}

func ExampleOnChange() {
	db, cleanup := openExample()
	defer cleanup()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Elsewhere in the program, a writer keeps adding todos and lists.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			db.ExecContext(ctx, `INSERT INTO lists(id, name) VALUES (uuid(), 'l')`)
			db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (uuid(), 't')`)
		}
	}()

	for c, err := range hooks.OnChange(ctx, db, "todos") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("changed:", c.Tables)
		break
	}
	cancel()
	<-done
	// Output:
	// changed: [todos]
}
