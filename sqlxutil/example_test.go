package sqlxutil_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/jmoiron/sqlx"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	"github.com/gopowersync/powersync/sqlxutil"
)

type Todo struct {
	ID          string `db:"id"`
	Description string `db:"description"`
	Done        bool   `db:"done"`
}

// openExample opens a PowerSync database with a todos table in a new
// temporary directory; cleanup closes it and removes the directory.
func openExample() (db *sqlx.DB, cleanup func()) {
	dir, err := os.MkdirTemp("", "sqlxutil-example")
	if err != nil {
		log.Fatal(err)
	}
	s := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("description"), schema.Integer("done")}})
	c, err := driver.NewConnector(filepath.Join(dir, "app.db"), driver.WithSchema(s))
	if err != nil {
		log.Fatal(err)
	}
	db = sqlxutil.NewDB(sql.OpenDB(c))
	return db, func() {
		db.Close()
		os.RemoveAll(dir)
	}
}

func Example() {
	db, cleanup := openExample()
	defer cleanup()
	ctx := context.Background()

	db.MustExecContext(ctx, `INSERT INTO todos(id, description, done) VALUES ('t1', 'buy milk', 0), ('t2', 'walk the dog', 1)`)

	todo, err := sqlxutil.Get[Todo](ctx, db, `SELECT id, description, done FROM todos WHERE id = ?`, "t1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("get: %+v\n", todo)

	n, err := sqlxutil.Get[int](ctx, db, `SELECT count(*) FROM todos WHERE done`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("done:", n)

	_, err = sqlxutil.Get[Todo](ctx, db, `SELECT id, description, done FROM todos WHERE id = ?`, "nope")
	fmt.Println("missing is sql.ErrNoRows:", errors.Is(err, sql.ErrNoRows))

	opt, err := sqlxutil.GetOptional[Todo](ctx, db, `SELECT id, description, done FROM todos WHERE id = ?`, "nope")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("optional:", opt)

	all, err := sqlxutil.Select[Todo](ctx, db, `SELECT id, description, done FROM todos ORDER BY id`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("select: %+v\n", all)
	// Output:
	// get: {ID:t1 Description:buy milk Done:false}
	// done: 1
	// missing is sql.ErrNoRows: true
	// optional: <nil>
	// select: [{ID:t1 Description:buy milk Done:false} {ID:t2 Description:walk the dog Done:true}]
}

func ExampleWatch() {
	db, cleanup := openExample()
	defer cleanup()
	ctx := context.Background()

	writes := []string{
		`INSERT INTO todos(id, description, done) VALUES ('t1', 'buy milk', 0)`,
		`UPDATE todos SET done = 1 WHERE id = 't1'`,
	}
	for todos, err := range sqlxutil.Watch[Todo](ctx, db, `SELECT id, description, done FROM todos`) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%+v\n", todos)
		if len(writes) == 0 {
			break
		}
		db.MustExecContext(ctx, writes[0])
		writes = writes[1:]
	}
	// Output:
	// []
	// [{ID:t1 Description:buy milk Done:false}]
	// [{ID:t1 Description:buy milk Done:true}]
}
