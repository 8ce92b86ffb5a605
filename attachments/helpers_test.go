package attachments_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

func testSchema() *schema.Schema {
	return schema.New(
		schema.Table{Name: "todos", Columns: []schema.Column{schema.Text("title"), schema.Text("photo_id")}},
		attachments.Table(""),
	)
}

const watchPhotos = `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	c, err := driver.NewConnector(path, driver.WithSchema(testSchema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// fastOptions are queue options for tests: short retries.
func fastOptions(remote attachments.RemoteStorage) attachments.Options {
	return attachments.Options{
		Remote:        remote,
		Watch:         watchPhotos,
		RetryDelay:    5 * time.Millisecond,
		MaxRetryDelay: 50 * time.Millisecond,
		Throttle:      -1,
	}
}

func openQueue(t testing.TB, db *sql.DB, opts attachments.Options) *attachments.Queue {
	t.Helper()
	q, err := attachments.Open(t.Context(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// client is a database with a queue and a syncer against srv.
type client struct {
	db *sql.DB
	q  *attachments.Queue
	s  *pssync.Syncer
}

func newClient(t *testing.T, srv *pstest.Server, user string, opts attachments.Options) *client {
	t.Helper()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	conn := pssync.DevConnector(srv.URL, func(context.Context) (string, error) { return srv.Token(user), nil })
	s, err := pssync.New(db, conn, pssync.WithRetryDelay(5*time.Millisecond), pssync.WithUploadThrottle(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &client{db: db, q: openQueue(t, db, opts), s: s}
}

// waitState waits for attachment id to reach state.
func waitState(t testing.TB, q *attachments.Queue, id string, st attachments.State) attachments.Attachment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := q.WaitFor(ctx, id, attachments.InState(st))
	if err != nil {
		got, found, _ := q.Get(context.Background(), id)
		t.Fatalf("attachment %s: waiting for %v: %v (now %+v, found %v)", id, st, err, got, found)
	}
	return a
}

func waitGone(t testing.TB, q *attachments.Queue, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := q.WaitFor(ctx, id, attachments.Gone); err != nil {
		got, _, _ := q.Get(context.Background(), id)
		t.Fatalf("attachment %s: waiting for its row to go: %v (now %+v)", id, err, got)
	}
}

// eventually polls cond until it holds or a minute has passed.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after 3 minutes waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLocal(t testing.TB, q *attachments.Queue, id string) []byte {
	t.Helper()
	r, err := q.OpenFile(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// memStorage is a RemoteStorage in memory with fault injection.
type memStorage struct {
	mu    sync.Mutex // guards files and fail
	files map[string][]byte
	fail  func(op attachments.Op, id string) error

	uploads, downloads, deletes atomic.Int64
	running, peak               atomic.Int64
}

func newMemStorage() *memStorage { return &memStorage{files: map[string][]byte{}} }

func (m *memStorage) enter(op attachments.Op, id string) error {
	n := m.running.Add(1)
	for {
		p := m.peak.Load()
		if n <= p || m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	m.mu.Lock()
	f := m.fail
	m.mu.Unlock()
	if f != nil {
		if err := f(op, id); err != nil {
			m.running.Add(-1)
			return err
		}
	}
	return nil
}

func (m *memStorage) setFail(f func(op attachments.Op, id string) error) {
	m.mu.Lock()
	m.fail = f
	m.mu.Unlock()
}

func (m *memStorage) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	if err := m.enter(attachments.OpUpload, a.ID); err != nil {
		return err
	}
	defer m.running.Add(-1)
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(b)) != a.Size {
		return fmt.Errorf("upload %s: got %d bytes, want %d", a.ID, len(b), a.Size)
	}
	m.uploads.Add(1)
	m.mu.Lock()
	m.files[a.ID] = b
	m.mu.Unlock()
	return nil
}

func (m *memStorage) Download(ctx context.Context, a attachments.Attachment, w io.Writer) error {
	if err := m.enter(attachments.OpDownload, a.ID); err != nil {
		return err
	}
	defer m.running.Add(-1)
	m.mu.Lock()
	b, ok := m.files[a.ID]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("download %s: %w", a.ID, attachments.ErrNotFound)
	}
	m.downloads.Add(1)
	_, err := io.Copy(w, bytes.NewReader(b))
	return err
}

func (m *memStorage) Delete(ctx context.Context, a attachments.Attachment) error {
	if err := m.enter(attachments.OpDelete, a.ID); err != nil {
		return err
	}
	defer m.running.Add(-1)
	m.deletes.Add(1)
	m.mu.Lock()
	delete(m.files, a.ID)
	m.mu.Unlock()
	return nil
}

func (m *memStorage) file(id string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[id]
	return b, ok
}

// hashStorage is a memStorage that answers RemoteHash.
type hashStorage struct{ *memStorage }

func (h hashStorage) RemoteHash(ctx context.Context, a attachments.Attachment) (string, error) {
	b, ok := h.file(a.ID)
	if !ok {
		return "", attachments.ErrNotFound
	}
	return sha(b), nil
}

var errOffline = errors.New("network unreachable")
