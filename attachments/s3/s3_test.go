package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/attachments/s3"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// newBucket starts an S3 server on 127.0.0.1 (gofakes3, in memory) with
// one bucket and returns a client for it.
func newBucket(t testing.TB) *minio.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4("test-key", "test-secret", ""),
		Secure:       false,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(t.Context(), "photos", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestStorage(t *testing.T) {
	c := newBucket(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		size int
	}{
		{"empty", 0},
		{"small", 1000},
		{"multipart", 12 << 20}, // three parts of 5 MiB
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s3.New(c, "photos", "att/")
			s.PartSize = 5 << 20
			content := bytes.Repeat([]byte{7, 1, 9}, tc.size/3+1)[:tc.size]
			a := attachments.Attachment{ID: tc.name, Size: int64(tc.size), MediaType: "image/png", Hash: sha(content)}
			var buf bytes.Buffer
			if err := s.Download(ctx, a, &buf); !errors.Is(err, attachments.ErrNotFound) {
				t.Fatalf("download before upload: %v", err)
			}
			if _, err := s.RemoteHash(ctx, a); !errors.Is(err, attachments.ErrNotFound) {
				t.Fatalf("hash before upload: %v", err)
			}
			// An io.Reader that is not seekable, as the queue gives.
			if err := s.Upload(ctx, a, io.MultiReader(bytes.NewReader(content))); err != nil {
				t.Fatal(err)
			}
			if h, err := s.RemoteHash(ctx, a); err != nil || h != a.Hash {
				t.Fatalf("remote hash %q, %v", h, err)
			}
			info, err := c.StatObject(ctx, "photos", "att/"+tc.name, minio.StatObjectOptions{})
			if err != nil || info.ContentType != "image/png" || info.Size != int64(tc.size) {
				t.Fatalf("object %+v, %v", info, err)
			}
			if err := s.Download(ctx, a, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
				t.Fatalf("download: %d bytes, %v", buf.Len(), err)
			}
			if err := s.Delete(ctx, a); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, a); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if err := s.Download(ctx, a, io.Discard); !errors.Is(err, attachments.ErrNotFound) {
				t.Fatalf("download after delete: %v", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	u, _ := url.Parse(srv.URL)
	srv.Close()
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4("k", "s", ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := s3.New(c, "photos", "")
	err = s.Upload(t.Context(), attachments.Attachment{ID: "x", Size: 1}, bytes.NewReader([]byte{1}))
	if err == nil || errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("upload to a closed server: %v", err)
	}
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	s := schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title"), schema.Text("photo_id")}},
		attachments.Table(""),
	)
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(s))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// client is a database syncing through srv with a queue on the bucket.
func client(t *testing.T, srv *pstest.Server, remote attachments.RemoteStorage) (*sql.DB, *attachments.Queue) {
	t.Helper()
	db := openDB(t)
	conn := pssync.DevConnector(srv.URL, func(context.Context) (string, error) { return srv.Token("user-1"), nil })
	s, err := pssync.New(db, conn, pssync.WithRetryDelay(5*time.Millisecond), pssync.WithUploadThrottle(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	q, err := attachments.Open(t.Context(), db, attachments.Options{
		Remote:        remote,
		Watch:         `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
		RetryDelay:    5 * time.Millisecond,
		MaxRetryDelay: 50 * time.Millisecond,
		MaxArchived:   -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return db, q
}

func wait(t *testing.T, q *attachments.Queue, id string, cond func(attachments.Attachment, bool) bool) attachments.Attachment {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	a, err := q.WaitFor(ctx, id, cond)
	if err != nil {
		t.Fatalf("attachment %s: %v", id, err)
	}
	return a
}

// A photo saved on one client goes to the bucket, arrives on a second
// client through sync, and its deletion empties the bucket and the second
// client.
func TestTwoClientsThroughBucket(t *testing.T) {
	c := newBucket(t)
	remote := s3.New(c, "photos", "att/")
	srv := pstest.NewServer()
	t.Cleanup(srv.Close)
	_, qa := client(t, srv, remote)
	_, qb := client(t, srv, remote)

	photo := bytes.Repeat([]byte("jpeg"), 200_000)
	a, err := qa.Save(t.Context(), bytes.NewReader(photo), attachments.File{Filename: "cat.jpg", MediaType: "image/jpeg"},
		func(tx *sql.Tx, a attachments.Attachment) error {
			_, err := tx.Exec(`INSERT INTO todos (id, title, photo_id) VALUES ('t1', 'cat', ?)`, a.ID)
			return err
		})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, qa, a.ID, attachments.InState(attachments.Synced))
	got := wait(t, qb, a.ID, attachments.InState(attachments.Synced))
	if got.Hash != sha(photo) || got.Size != int64(len(photo)) {
		t.Fatalf("on b: %+v", got)
	}
	r, err := qb.OpenFile(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(b, photo) {
		t.Fatal("content differs")
	}

	err = qa.Delete(t.Context(), a.ID, func(tx *sql.Tx, _ attachments.Attachment) error {
		_, err := tx.Exec(`DELETE FROM todos WHERE id = 't1'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, qa, a.ID, attachments.Gone)
	if _, err := c.StatObject(t.Context(), "photos", "att/"+a.ID, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "NoSuchKey" {
		t.Fatalf("object after delete: %v", err)
	}
	wait(t, qb, a.ID, attachments.Gone)
}
