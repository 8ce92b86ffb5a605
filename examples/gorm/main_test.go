package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	pssync "github.com/gopowersync/powersync/sync"
)

// openTest opens a new database with GORM and returns it with the
// underlying *sql.DB.
func openTest(t *testing.T) (*gorm.DB, *sql.DB) {
	t.Helper()
	gdb, err := open(filepath.Join(t.TempDir(), "todo.db"))
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return gdb.WithContext(t.Context()), sqlDB
}

// queue returns the upload queue.
func queue(t *testing.T, db *sql.DB) []pssync.CrudEntry {
	t.Helper()
	b, err := pssync.GetCrudBatch(t.Context(), db, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		return nil
	}
	return b.Entries
}

// data encodes an entry's data for comparison.
func data(t *testing.T, e pssync.CrudEntry) string {
	t.Helper()
	b, err := json.Marshal(e.Data)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), &out, filepath.Join(t.TempDir(), "todo.db")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[x] milk", "[ ] sourdough bread", "PATCH  todos description", "DELETE todos"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "eggs") {
		t.Errorf("deleted todo still listed:\n%s", out.String())
	}
}

// TestCRUD checks each GORM operation on the views: its result, the rows it
// leaves, and the upload queue entry it records.
func TestCRUD(t *testing.T) {
	db, sqlDB := openTest(t)
	list := List{ID: "l1", Name: "Work", OwnerID: "u1", CreatedAt: "2024-01-01T00:00:00Z"}
	if err := db.Create(&list).Error; err != nil {
		t.Fatal(err)
	}
	seed := Todo{ID: "t1", ListID: "l1", Description: "write", CreatedBy: "u1", CreatedAt: "2024-01-01T00:00:00Z"}
	if err := db.Create(&seed).Error; err != nil {
		t.Fatal(err)
	}
	before := len(queue(t, sqlDB))
	if before != 2 {
		t.Fatalf("queue after two creates has %d entries, want 2", before)
	}

	tests := []struct {
		name     string
		do       func() *gorm.DB
		rows     int64
		op       pssync.Op
		id       string
		wantData string // JSON of the entry's data; "" for none
	}{
		{
			name: "Create",
			do: func() *gorm.DB {
				return db.Create(&Todo{ID: "t2", ListID: "l1", Description: "read", CreatedAt: "2024-01-02T00:00:00Z"})
			},
			rows:     1,
			op:       pssync.OpPut,
			id:       "t2",
			wantData: `{"completed":0,"created_at":"2024-01-02T00:00:00Z","created_by":"","description":"read","list_id":"l1"}`,
		},
		{
			name:     "Update",
			do:       func() *gorm.DB { return db.Model(&Todo{ID: "t1"}).Update("completed", true) },
			rows:     1,
			op:       pssync.OpPatch,
			id:       "t1",
			wantData: `{"completed":1}`,
		},
		{
			name: "Updates with Where",
			do: func() *gorm.DB {
				return db.Model(&Todo{}).Where("list_id = ? AND description = ?", "l1", "read").Updates(Todo{Description: "read more"})
			},
			rows:     1,
			op:       pssync.OpPatch,
			id:       "t2",
			wantData: `{"description":"read more"}`,
		},
		{
			name: "Save existing",
			do: func() *gorm.DB {
				var t1 Todo
				if res := db.First(&t1, "id = ?", "t1"); res.Error != nil {
					return res
				}
				t1.Description = "write tests"
				return db.Save(&t1)
			},
			rows:     1,
			op:       pssync.OpPatch,
			id:       "t1",
			wantData: `{"description":"write tests"}`,
		},
		{
			name: "Delete",
			do:   func() *gorm.DB { return db.Delete(&Todo{ID: "t2"}) },
			rows: 1,
			op:   pssync.OpDelete,
			id:   "t2",
		},
		{
			name: "Update of no row",
			do:   func() *gorm.DB { return db.Model(&Todo{}).Where("id = ?", "missing").Update("completed", true) },
			rows: 0,
		},
		{
			name: "Delete of no row",
			do:   func() *gorm.DB { return db.Delete(&Todo{ID: "missing"}) },
			rows: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(queue(t, sqlDB))
			res := tc.do()
			if res.Error != nil {
				t.Fatal(res.Error)
			}
			if res.RowsAffected != tc.rows {
				t.Errorf("RowsAffected = %d, want %d", res.RowsAffected, tc.rows)
			}
			q := queue(t, sqlDB)
			if tc.op == "" {
				if len(q) != n {
					t.Fatalf("queue grew from %d to %d entries, want no new entry", n, len(q))
				}
				return
			}
			if len(q) != n+1 {
				t.Fatalf("queue grew from %d to %d entries, want one new entry", n, len(q))
			}
			e := q[len(q)-1]
			if e.Op != tc.op || e.Table != "todos" || e.ID != tc.id {
				t.Errorf("entry = %s %s %s, want %s todos %s", e.Op, e.Table, e.ID, tc.op, tc.id)
			}
			if tc.wantData == "" {
				if e.Data != nil {
					t.Errorf("entry data = %v, want none", e.Data)
				}
			} else if got := data(t, e); got != tc.wantData {
				t.Errorf("entry data = %s, want %s", got, tc.wantData)
			}
		})
	}

	var got []Todo
	if err := db.Order("id").Find(&got).Error; err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "t1" || got[0].Description != "write tests" || !got[0].Completed {
		t.Errorf("todos = %+v, want only t1, completed, \"write tests\"", got)
	}
	var lists []List
	if err := db.Preload("Todos").Find(&lists).Error; err != nil {
		t.Fatal(err)
	}
	if len(lists) != 1 || len(lists[0].Todos) != 1 || lists[0].Todos[0].ID != "t1" {
		t.Errorf("preloaded lists = %+v", lists)
	}
}

// TestHooksGiveIDs checks that rows created without an id get a UUID.
func TestHooksGiveIDs(t *testing.T) {
	db, sqlDB := openTest(t)
	l := List{Name: "x"}
	if err := db.Create(&l).Error; err != nil {
		t.Fatal(err)
	}
	if len(l.ID) != 36 || l.CreatedAt == "" {
		t.Errorf("created list id %q, created_at %q; want a UUID and a time", l.ID, l.CreatedAt)
	}
	q := queue(t, sqlDB)
	if len(q) != 1 || q[0].ID != l.ID {
		t.Errorf("queue = %+v, want one PUT of %s", q, l.ID)
	}
}

// TestTransaction checks that a GORM transaction is one upload transaction,
// and that a rolled back one queues nothing.
func TestTransaction(t *testing.T) {
	db, sqlDB := openTest(t)
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&List{ID: "l1", Name: "a"}).Error; err != nil {
			return err
		}
		return tx.Create(&Todo{ID: "t1", ListID: "l1"}).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&List{ID: "l2", Name: "b"})
		return gorm.ErrInvalidData // roll back
	})
	next, err := pssync.NextCrudTransaction(t.Context(), sqlDB)
	if err != nil {
		t.Fatal(err)
	}
	if next == nil || len(next.Entries) != 2 {
		t.Fatalf("first upload transaction = %+v, want the two creates", next)
	}
	if q := queue(t, sqlDB); len(q) != 2 {
		t.Errorf("queue has %d entries, want 2 (nothing from the rollback)", len(q))
	}
	var n int64
	db.Model(&List{}).Where("id = ?", "l2").Count(&n)
	if n != 0 {
		t.Error("rolled back list exists")
	}
}

// TestLimits checks what the package comment says does not work on views,
// and that a failed write leaves the upload queue as it was.
func TestLimits(t *testing.T) {
	db, sqlDB := openTest(t)
	if err := db.Create(&List{ID: "l1", Name: "a"}).Error; err != nil {
		t.Fatal(err)
	}
	type Counter struct {
		ID   int `gorm:"primaryKey"` // auto-increment in GORM's eyes
		Name string
	}
	tests := []struct {
		name    string
		do      func() error
		wantErr string
	}{
		{"AutoMigrate", func() error { return db.AutoMigrate(&List{}) }, "already exists"},
		{"Save of a new row", func() error { return db.Save(&List{ID: "l2", Name: "b"}).Error }, "cannot UPSERT a view"},
		{"OnConflict", func() error {
			return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&List{ID: "l1", Name: "c"}).Error
		}, "cannot UPSERT a view"},
		{"association created with its parent", func() error {
			return db.Create(&List{ID: "l3", Todos: []Todo{{ID: "t3"}}}).Error
		}, "cannot UPSERT a view"},
		{"auto-increment id", func() error { return db.Table("lists").Create(&Counter{Name: "x"}).Error }, "id is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(queue(t, sqlDB))
			err := tc.do()
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
			if got := len(queue(t, sqlDB)); got != n {
				t.Errorf("queue went from %d to %d entries after a failed write", n, got)
			}
		})
	}

	// RETURNING works on views.
	var l List
	res := db.Model(&l).Clauses(clause.Returning{}).Where("id = ?", "l1").Update("name", "renamed")
	if res.Error != nil || l.Name != "renamed" || l.ID != "l1" {
		t.Errorf("UPDATE ... RETURNING: err %v, row %+v", res.Error, l)
	}
}
