package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
)

// List is a todo list. GORM names its table "lists"; the db tags name the
// columns for schema.TableFrom (GORM's own column names are the same).
type List struct {
	ID        string `gorm:"primaryKey"`
	CreatedAt string `db:"created_at"`
	Name      string `db:"name"`
	OwnerID   string `db:"owner_id"`
	// Todos are loaded with Preload("Todos"); not a column.
	Todos []Todo `db:"-"`
}

// BeforeCreate gives a new list a UUID and a creation time.
func (l *List) BeforeCreate(*gorm.DB) error {
	if l.ID == "" {
		l.ID = uuid.NewString()
	}
	if l.CreatedAt == "" {
		l.CreatedAt = now()
	}
	return nil
}

// Todo is an item of a list, in the table "todos".
type Todo struct {
	ID          string  `gorm:"primaryKey"`
	ListID      string  `db:"list_id"`
	CreatedAt   string  `db:"created_at"`
	CompletedAt *string `db:"completed_at"`
	Description string  `db:"description"`
	CreatedBy   string  `db:"created_by"`
	CompletedBy *string `db:"completed_by"`
	Completed   bool    `db:"completed"`
}

// BeforeCreate gives a new todo a UUID and a creation time.
func (t *Todo) BeforeCreate(*gorm.DB) error {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.CreatedAt == "" {
		t.CreatedAt = now()
	}
	return nil
}

// now is the current time as the ISO 8601 text stored in the tables.
func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// appSchema derives the PowerSync schema from the models' db tags.
func appSchema() (*schema.Schema, error) {
	lists, err := schema.TableFrom[List]("lists")
	if err != nil {
		return nil, err
	}
	todos, err := schema.TableFrom[Todo]("todos", schema.WithIndexes(schema.IndexOn("list", "list_id")))
	if err != nil {
		return nil, err
	}
	return schema.New(lists, todos), nil
}

// schemaName is the name the schema is registered under for DSNs.
const schemaName = "gorm-example"

// open opens the PowerSync database at path with GORM.
func open(path string) (*gorm.DB, error) {
	s, err := appSchema()
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	driver.RegisterSchema(schemaName, s)
	db, err := gorm.Open(sqlite.New(sqlite.Config{
		DriverName: driver.DriverName,
		DSN:        path + "?" + driver.SchemaParam + "=" + schemaName,
	}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// run opens the database at path, writes through GORM and prints what it
// did and the upload queue to w.
func run(ctx context.Context, w io.Writer, path string) error {
	gdb, err := open(path)
	if err != nil {
		return err
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	db := gdb.WithContext(ctx)

	// Create: the hooks set ids; both rows are queued as PUT.
	list := List{Name: "Groceries", OwnerID: "user-1"}
	if err := db.Create(&list).Error; err != nil {
		return fmt.Errorf("create list: %w", err)
	}
	todos := []Todo{
		{ListID: list.ID, Description: "milk", CreatedBy: "user-1"},
		{ListID: list.ID, Description: "bread", CreatedBy: "user-1"},
		{ListID: list.ID, Description: "eggs", CreatedBy: "user-1"},
	}
	if err := db.Create(&todos).Error; err != nil {
		return fmt.Errorf("create todos: %w", err)
	}

	// Update one column: queued as a PATCH of that column.
	res := db.Model(&Todo{}).Where("description = ?", "milk").
		Updates(map[string]any{"completed": true, "completed_at": now(), "completed_by": "user-1"})
	if res.Error != nil {
		return fmt.Errorf("complete: %w", res.Error)
	}
	fmt.Fprintf(w, "completed %d todo\n", res.RowsAffected)

	// Save an existing row: an UPDATE of every column, queued as a PATCH of
	// the columns whose value changed.
	var bread Todo
	if err := db.First(&bread, "description = ?", "bread").Error; err != nil {
		return fmt.Errorf("find: %w", err)
	}
	bread.Description = "sourdough bread"
	if err := db.Save(&bread).Error; err != nil {
		return fmt.Errorf("save: %w", err)
	}

	// Delete: queued as DELETE.
	res = db.Where("description = ?", "eggs").Delete(&Todo{})
	if res.Error != nil {
		return fmt.Errorf("delete: %w", res.Error)
	}
	fmt.Fprintf(w, "deleted %d todo\n", res.RowsAffected)

	// Read back with an association.
	var lists []List
	if err := db.Preload("Todos", func(db *gorm.DB) *gorm.DB { return db.Order("description") }).Find(&lists).Error; err != nil {
		return fmt.Errorf("find lists: %w", err)
	}
	for _, l := range lists {
		fmt.Fprintf(w, "list %s:\n", l.Name)
		for _, t := range l.Todos {
			mark := " "
			if t.Completed {
				mark = "x"
			}
			fmt.Fprintf(w, "  [%s] %s\n", mark, t.Description)
		}
	}

	// What a Syncer would upload.
	batch, err := pssync.GetCrudBatch(ctx, sqlDB, 0)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "upload queue:")
	if batch != nil {
		for _, e := range batch.Entries {
			fmt.Fprintf(w, "  %s\n", describe(e))
		}
	}
	return nil
}

// describe prints an upload queue entry without its random ids: the
// operation, the table and the columns it carries.
func describe(e pssync.CrudEntry) string {
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := fmt.Sprintf("%-6s %s", e.Op, e.Table)
	if len(keys) > 0 {
		s += " " + strings.Join(keys, ",")
	}
	return s
}

func main() {
	path := flag.String("db", "", "database `file` (default: a new file in a temporary directory)")
	flag.Parse()
	if err := start(*path); err != nil {
		fmt.Fprintln(os.Stderr, "gorm example:", err)
		os.Exit(1)
	}
}

// start runs the example on path, or on a file in a temporary directory
// that is removed afterwards.
func start(path string) error {
	if path == "" {
		dir, err := os.MkdirTemp("", "powersync-gorm")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "todo.db")
	}
	return run(context.Background(), os.Stdout, path)
}
