package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/schema"
)

// photoSchema is clientSchema with todos.photo_id and the attachments
// table, as the todo example has it with -photos.
func photoSchema() *schema.Schema {
	var tables []schema.Table
	for _, t := range clientSchema().Tables {
		if t.Name == "todos" {
			t.Columns = append(append([]schema.Column{}, t.Columns...), schema.Text("photo_id"))
		}
		tables = append(tables, t)
	}
	return schema.New(append(tables, attachments.Table(""))...)
}

// photoQueue opens an attachments queue on c's database that stores files
// through examples/backend's signed URLs, with c's token.
func photoQueue(t *testing.T, c *client) *attachments.Queue {
	t.Helper()
	signer := &attachments.Signer{
		URL: svc.backendURL + "/api/attachments/sign",
		Authorize: func(ctx context.Context, req *http.Request) error {
			tok, _ := svc.token(tokenOpts{sub: c.user})
			req.Header.Set("Authorization", "Token "+tok)
			return nil
		},
	}
	q, err := attachments.Open(context.Background(), c.db, attachments.Options{
		Remote:        &attachments.HTTPStorage{Sign: signer.Sign},
		Watch:         `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
		RetryDelay:    200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestPhotos: client A attaches a photo to a todo through its attachments
// queue; the file goes to examples/backend through signed URLs and the
// todo's photo_id through the backend into Postgres. Client B, a second
// database, syncs the todo from the service and downloads the photo: the
// same bytes, with the media type and file name A gave.
func TestPhotos(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	a := newClient(t, clientOpts{schema: photoSchema()})
	a.connect()
	a.waitSynced()
	qa := photoQueue(t, a)

	list, todo := uuid.NewString(), uuid.NewString()
	a.exec("INSERT INTO lists(id, name, owner_id) VALUES (?, ?, ?)", list, "photos "+list[:8], a.user)
	a.exec("INSERT INTO todos(id, list_id, description, completed) VALUES (?, ?, 'water the plants', 0)", todo, list)
	photo := make([]byte, 300<<10)
	rand.Read(photo)
	att, err := qa.Save(ctx, bytes.NewReader(photo), attachments.File{Filename: "plants.jpg", MediaType: "image/jpeg"},
		func(tx *sql.Tx, att attachments.Attachment) error {
			_, err := tx.ExecContext(ctx, "UPDATE todos SET photo_id = ? WHERE id = ?", att.ID, todo)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := qa.WaitFor(ctx, att.ID, attachments.InState(attachments.Synced)); err != nil {
		got, _, _ := qa.Get(context.Background(), att.ID)
		t.Fatalf("upload: %v (attachment %+v)", err, got)
	}
	a.flush()
	var pgPhoto string
	if err := svc.pg.QueryRow(ctx, "SELECT coalesce(photo_id, '') FROM todos WHERE id = $1", todo).Scan(&pgPhoto); err != nil || pgPhoto != att.ID {
		t.Fatalf("todos.photo_id in Postgres: %q, %v; want %s", pgPhoto, err, att.ID)
	}

	b := newClient(t, clientOpts{schema: photoSchema()})
	qb := photoQueue(t, b)
	b.connect()
	got, err := qb.WaitFor(ctx, att.ID, attachments.InState(attachments.Synced))
	if err != nil {
		cur, _, _ := qb.Get(context.Background(), att.ID)
		t.Fatalf("download on the second client: %v (attachment %+v; sync status %v)", err, cur, b.s.Status())
	}
	f, err := qb.OpenFile(ctx, att.ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, photo) {
		t.Errorf("the second client's photo: %d bytes, not the %d saved", len(data), len(photo))
	}
	if got.MediaType != "image/jpeg" || got.Filename != "plants.jpg" || got.Hash != att.Hash {
		t.Errorf("the second client's attachment: %+v; want image/jpeg, plants.jpg, hash %s", got, att.Hash)
	}
}
