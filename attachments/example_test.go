package attachments_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// A photo saved with the row that references it is uploaded, and a second
// database whose rows reference it downloads it. (Here the two databases
// share a folder as their remote storage, and the row reaches the second
// database by hand rather than through a PowerSync service.)
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "attachments-example")
	defer os.RemoveAll(dir)
	remote := attachments.DirRemote{Dir: filepath.Join(dir, "bucket")}
	s := schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title"), schema.Text("photo_id")}},
		attachments.Table(""),
	)
	open := func(name string) (*sql.DB, *attachments.Queue) {
		c, err := driver.NewConnector(filepath.Join(dir, name), driver.WithSchema(s))
		if err != nil {
			log.Fatal(err)
		}
		db := sql.OpenDB(c)
		q, err := attachments.Open(ctx, db, attachments.Options{
			Remote: remote,
			Watch:  `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
		})
		if err != nil {
			log.Fatal(err)
		}
		return db, q
	}
	phoneDB, phone := open("phone.db")
	defer phoneDB.Close()
	defer phone.Close()
	laptopDB, laptop := open("laptop.db")
	defer laptopDB.Close()
	defer laptop.Close()

	a, err := phone.Save(ctx, strings.NewReader("a picture of a cat"), attachments.File{Filename: "cat.jpg", MediaType: "image/jpeg"},
		func(tx *sql.Tx, a attachments.Attachment) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO todos (id, title, photo_id) VALUES ('t1', 'feed the cat', ?)`, a.ID)
			return err
		})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := phone.WaitFor(ctx, a.ID, attachments.InState(attachments.Synced)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("phone: uploaded", a.Filename)

	// Sync brings the todo to the laptop.
	laptopDB.ExecContext(ctx, `INSERT INTO todos (id, title, photo_id) VALUES ('t1', 'feed the cat', ?)`, a.ID)
	got, err := laptop.WaitFor(ctx, a.ID, attachments.InState(attachments.Synced))
	if err != nil {
		log.Fatal(err)
	}
	f, err := laptop.OpenFile(ctx, a.ID)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	fmt.Printf("laptop: %s, %d bytes: %s\n", got.State, got.Size, b)
	// Output:
	// phone: uploaded cat.jpg
	// laptop: synced, 18 bytes: a picture of a cat
}
