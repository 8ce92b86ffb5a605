package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/sqlxutil"
)

// The whole example program: sqlx writes through the views, a live query
// follows them, and every write is queued for upload.
func Example() {
	dir, _ := os.MkdirTemp("", "sqlx-example")
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, filepath.Join(dir, "todo.db")); err != nil {
		fmt.Println(err)
	}
	// Output:
	// open todos: []
	// open todos: [bread, eggs, milk]
	// butter found: false
	// completed 1 todo
	// open todos: [bread, eggs]
	// deleted 2 todos
	// open todos: []
	// todo milk completed=true completed_at set=true
	// upload queue:
	//   transaction:
	//     PUT    lists created_at,name,owner_id
	//   transaction:
	//     PUT    todos completed,created_at,created_by,description,list_id
	//     PUT    todos completed,created_at,created_by,description,list_id
	//     PUT    todos completed,created_at,created_by,description,list_id
	//   transaction:
	//     PATCH  todos completed,completed_at,completed_by
	//   transaction:
	//     DELETE todos
	//     DELETE todos
}

// Opening with sqlxutil.Open and a schema registered by name, then typed
// reads.
func Example_open() {
	driver.RegisterSchema("todo-example", todoschema.Schema())
	dir, _ := os.MkdirTemp("", "sqlx-example")
	defer os.RemoveAll(dir)
	db, err := sqlxutil.Open(filepath.Join(dir, "todo.db") + "?_powersync_schema=todo-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	ctx := context.Background()

	db.MustExecContext(ctx, `INSERT INTO lists (id, name) VALUES ('l1', 'Work')`)
	type List struct {
		ID   string `db:"id"`
		Name string `db:"name"`
	}
	l, _ := sqlxutil.Get[List](ctx, db, `SELECT id, name FROM lists WHERE id = ?`, "l1")
	n, _ := sqlxutil.Get[int](ctx, db, `SELECT count(*) FROM lists`)
	none, _ := sqlxutil.GetOptional[List](ctx, db, `SELECT id, name FROM lists WHERE id = ?`, "l2")
	fmt.Println(l.Name, n, none == nil)
	// Output:
	// Work 1 true
}
