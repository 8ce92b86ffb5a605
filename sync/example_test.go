package sync_test

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
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// openExampleDB opens a "powersync" database with a todos table in a
// temporary directory.
func openExampleDB() (*sql.DB, func()) {
	dir, err := os.MkdirTemp("", "pssync-example")
	if err != nil {
		log.Fatal(err)
	}
	s := schema.New(schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title")}})
	c, err := driver.NewConnector(filepath.Join(dir, "app.db"), driver.WithSchema(s))
	if err != nil {
		log.Fatal(err)
	}
	db := sql.OpenDB(c)
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// A syncer against the in-process development service: rows of the service
// arrive locally, local writes reach the service.
func Example() {
	ctx := context.Background()
	srv := pstest.NewServer()
	defer srv.Close()
	srv.SetRow("todos", "t1", map[string]any{"title": "from the server"})

	db, done := openExampleDB()
	defer done()
	connector := pssync.DevConnector(srv.URL, func(context.Context) (string, error) {
		return srv.Token("user-1"), nil
	})
	s, err := pssync.New(db, connector)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(ctx); err != nil {
		log.Fatal(err)
	}
	if err := s.WaitForFirstSync(ctx); err != nil {
		log.Fatal(err)
	}
	var title string
	db.QueryRowContext(ctx, `SELECT title FROM todos WHERE id = 't1'`).Scan(&title)
	fmt.Println("local:", title)

	if _, err := db.ExecContext(ctx, `INSERT INTO todos(id, title) VALUES ('t2', 'written locally')`); err != nil {
		log.Fatal(err)
	}
	// Wait until the upload queue is empty and the change came back.
	_, err = s.WaitForStatus(ctx, func(pssync.Status) bool {
		n, _, _ := pssync.UploadQueueStats(ctx, db)
		_, ok := srv.Row("todos", "t2")
		return n == 0 && ok
	})
	if err != nil {
		log.Fatal(err)
	}
	row, _ := srv.Row("todos", "t2")
	fmt.Println("server:", row["title"])
	// Output:
	// local: from the server
	// server: written locally
}

// A Connector's UploadData drains the queue one transaction at a time and
// sets aside changes the backend can never accept.
func ExampleCrudTransactions() {
	ctx := context.Background()
	db, done := openExampleDB()
	defer done()
	db.ExecContext(ctx, `INSERT INTO todos(id, title) VALUES ('a', 'ok')`)
	db.ExecContext(ctx, `INSERT INTO todos(id, title) VALUES ('b', '')`)

	upload := func(ctx context.Context, db *sql.DB) error {
		for tx, err := range pssync.CrudTransactions(ctx, db) {
			if err != nil {
				return err
			}
			for _, e := range tx.Entries {
				if e.Data["title"] == "" {
					return pssync.Permanent(errors.New("empty title"), e)
				}
				fmt.Println("upload", e.Op, e.Table, e.ID)
			}
			if err := tx.Complete(ctx); err != nil {
				return err
			}
		}
		return nil
	}
	err := upload(ctx, db)
	var perm *pssync.PermanentError
	if errors.As(err, &perm) {
		pssync.RejectCrud(ctx, db, perm.Err, perm.Entries...)
	}
	rejected, _ := pssync.RejectedCrud(ctx, db)
	for _, r := range rejected {
		fmt.Println("set aside", r.Entry.ID+":", r.Reason)
	}
	n, _, _ := pssync.UploadQueueStats(ctx, db)
	fmt.Println("queued:", n)
	// Output:
	// upload PUT todos a
	// set aside b: empty title
	// queued: 0
}

// Statuses yields every status change until its context ends.
func ExampleSyncer_Statuses() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := pstest.NewServer()
	defer srv.Close()
	db, done := openExampleDB()
	defer done()
	s, _ := pssync.New(db, pssync.DevConnector(srv.URL, func(context.Context) (string, error) {
		return srv.Token("user-1"), nil
	}))
	defer s.Close()
	s.Connect(ctx)
	for st := range s.Statuses(ctx) {
		if st.HasSynced {
			fmt.Println("synced; connected:", st.Connected)
			cancel()
		}
	}
	// Output:
	// synced; connected: true
}
