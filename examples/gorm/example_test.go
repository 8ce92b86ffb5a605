package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// The whole example program: GORM writes through the views and every write
// is queued for upload.
func Example() {
	dir, _ := os.MkdirTemp("", "gorm-example")
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, filepath.Join(dir, "todo.db")); err != nil {
		fmt.Println(err)
	}
	// Output:
	// completed 1 todo
	// deleted 1 todo
	// list Groceries:
	//   [x] milk
	//   [ ] sourdough bread
	// upload queue:
	//   PUT    lists created_at,name,owner_id
	//   PUT    todos completed,created_at,created_by,description,list_id
	//   PUT    todos completed,created_at,created_by,description,list_id
	//   PUT    todos completed,created_at,created_by,description,list_id
	//   PATCH  todos completed,completed_at,completed_by
	//   PATCH  todos description
	//   DELETE todos
}

// Opening GORM on a PowerSync database: a schema registered by name, and
// GORM's SQLite dialect with the "powersync" driver.
func Example_open() {
	type Note struct {
		ID   string `gorm:"primaryKey"`
		Body string `db:"body"`
	}
	notes, _ := schema.TableFrom[Note]("notes")
	driver.RegisterSchema("notes-example", schema.New(notes))

	dir, _ := os.MkdirTemp("", "gorm-example")
	defer os.RemoveAll(dir)
	dsn := filepath.Join(dir, "notes.db") + "?_powersync_schema=notes-example"
	db, err := gorm.Open(sqlite.New(sqlite.Config{DriverName: "powersync", DSN: dsn}),
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		fmt.Println(err)
		return
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()

	db.Create(&Note{ID: "n1", Body: "hello"})
	res := db.Model(&Note{ID: "n1"}).Update("body", "hello, world")
	var n Note
	db.First(&n, "id = ?", "n1")
	fmt.Println(n.Body, res.RowsAffected)

	// A row that does not exist yet cannot be saved: Save falls back to an
	// upsert, which SQLite does not run on views. Create it instead.
	err = db.Save(&Note{ID: "n2", Body: "new"}).Error
	fmt.Println(err)
	// Output:
	// hello, world 1
	// SQL logic error: cannot UPSERT a view (1)
}
