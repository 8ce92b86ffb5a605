package attachments_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/sync/pstest"
)

// linkTodo returns a Save link that inserts a todo referencing the
// attachment.
func linkTodo(todoID string) func(*sql.Tx, attachments.Attachment) error {
	return func(tx *sql.Tx, a attachments.Attachment) error {
		_, err := tx.Exec(`INSERT INTO todos (id, title, photo_id) VALUES (?, ?, ?)`, todoID, "todo "+todoID, a.ID)
		return err
	}
}

func TestSaveUploads(t *testing.T) {
	remote := newMemStorage()
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "app.db"))
	q := openQueue(t, db, fastOptions(remote))
	content := bytes.Repeat([]byte("photo "), 1000)
	a, err := q.Save(t.Context(), bytes.NewReader(content), attachments.File{Filename: "cat.jpg", MediaType: "image/jpeg", MetaData: `{"w":3}`}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	if a.State != attachments.QueuedUpload || a.Size != int64(len(content)) || a.Hash != sha(content) || a.LocalPath != a.ID+".jpg" {
		t.Fatalf("saved %+v", a)
	}
	// The file is local at once, beside the database.
	if b, err := os.ReadFile(filepath.Join(dir, "app.db-attachments", a.ID+".jpg")); err != nil || !bytes.Equal(b, content) {
		t.Fatalf("local file: %v", err)
	}
	got := waitState(t, q, a.ID, attachments.Synced)
	if !got.HasSynced || got.MediaType != "image/jpeg" || got.MetaData != `{"w":3}` || got.Filename != "cat.jpg" {
		t.Fatalf("synced %+v", got)
	}
	if b, ok := remote.file(a.ID); !ok || !bytes.Equal(b, content) {
		t.Fatal("remote file differs")
	}
	if !bytes.Equal(readLocal(t, q, a.ID), content) {
		t.Fatal("local file differs")
	}
	var photo string
	if err := db.QueryRow(`SELECT photo_id FROM todos WHERE id = 't1'`).Scan(&photo); err != nil || photo != a.ID {
		t.Fatalf("todo photo_id %q, %v", photo, err)
	}
	st, err := q.Status(t.Context())
	if err != nil || st.Counts[attachments.Synced] != 1 || st.Pending() != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

func TestSaveLinkFailsLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "app.db"))
	q := openQueue(t, db, fastOptions(newMemStorage()))
	boom := errors.New("boom")
	_, err := q.Save(t.Context(), strings.NewReader("x"), attachments.File{ID: "a1"}, func(*sql.Tx, attachments.Attachment) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Save: %v", err)
	}
	if _, found, _ := q.Get(t.Context(), "a1"); found {
		t.Fatal("row saved")
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "app.db-attachments"))
	if len(entries) != 0 {
		t.Fatalf("files left: %v", entries)
	}
}

func TestOpenWithoutTable(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Skip(err)
	}
	defer db.Close()
	_, err = attachments.Open(t.Context(), db, attachments.Options{Remote: newMemStorage()})
	if !errors.Is(err, attachments.ErrNoTable) {
		t.Fatalf("Open: %v", err)
	}
}

// Two databases synced through a PowerSync service: a photo saved on one
// arrives on the other, and its deletion reaches the remote storage and
// the other client.
func TestSyncToSecondClient(t *testing.T) {
	srv := pstest.NewServer()
	t.Cleanup(srv.Close)
	remote := newMemStorage()
	opts := fastOptions(remote)
	opts.MaxArchived = -1 // remove archived files at once
	a := newClient(t, srv, "user-1", opts)
	b := newClient(t, srv, "user-1", opts)

	content := bytes.Repeat([]byte{1, 2, 3, 4}, 50_000)
	att, err := a.q.Save(t.Context(), bytes.NewReader(content), attachments.File{Filename: "p.png", MediaType: "image/png"}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, a.q, att.ID, attachments.Synced)
	got := waitState(t, b.q, att.ID, attachments.Synced)
	if got.Size != int64(len(content)) || got.Hash != sha(content) || !got.HasSynced {
		t.Fatalf("downloaded %+v", got)
	}
	if !bytes.Equal(readLocal(t, b.q, att.ID), content) {
		t.Fatal("downloaded content differs")
	}
	if remote.uploads.Load() != 1 {
		t.Fatalf("%d uploads", remote.uploads.Load())
	}

	// Delete on a, with the todo in the same transaction.
	err = a.q.Delete(t.Context(), att.ID, func(tx *sql.Tx, _ attachments.Attachment) error {
		_, err := tx.Exec(`DELETE FROM todos WHERE id = 't1'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, a.q, att.ID)
	if _, ok := remote.file(att.ID); ok {
		t.Fatal("remote file not deleted")
	}
	// b sees the todo go: the attachment is archived, then evicted.
	waitGone(t, b.q, att.ID)
	if _, err := b.q.OpenFile(t.Context(), att.ID); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("local file on b: %v", err)
	}
	eventually(t, "b's file removed", func() bool {
		entries, _ := os.ReadDir(filepath.Join(filepath.Dir(dbPath(t, b.db)), "app.db-attachments"))
		return len(entries) == 0
	})
}

func dbPath(t testing.TB, db *sql.DB) string {
	var seq int
	var name, file string
	if err := db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestArchiveAndEviction(t *testing.T) {
	for _, tc := range []struct {
		name        string
		maxArchived int
		maxBytes    int64
		keep        int // of the 5 archived, the newest kept
	}{
		{"count", 2, 0, 2},
		{"bytes", 0, 350, 3}, // files of 100 bytes
		{"none", -1, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
			opts := fastOptions(newMemStorage())
			opts.MaxArchived, opts.MaxArchivedBytes = tc.maxArchived, tc.maxBytes
			now := atomic.Int64{}
			now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
			opts.Now = func() time.Time { return time.UnixMilli(now.Add(1000)) }
			q := openQueue(t, db, opts)
			var ids []string
			for i := range 5 {
				a, err := q.Save(t.Context(), bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 100)), attachments.File{}, linkTodo(fmt.Sprint("t", i)))
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, a.ID)
				waitState(t, q, a.ID, attachments.Synced)
			}
			// Unreference them one at a time, oldest first.
			for i, id := range ids {
				if _, err := db.Exec(`UPDATE todos SET photo_id = NULL WHERE id = ?`, fmt.Sprint("t", i)); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				_, err := q.WaitFor(ctx, id, func(a attachments.Attachment, found bool) bool { return !found || a.State == attachments.Archived })
				cancel()
				if err != nil {
					t.Fatal(err)
				}
			}
			for i, id := range ids {
				if i >= len(ids)-tc.keep {
					a := waitState(t, q, id, attachments.Archived)
					if len(readLocal(t, q, a.ID)) != 100 {
						t.Fatal("archived file lost")
					}
				} else {
					waitGone(t, q, id)
				}
			}
			if tc.keep > 0 {
				// Referenced again, an archived attachment is synced again
				// without a download.
				last := ids[len(ids)-1]
				if _, err := db.Exec(`UPDATE todos SET photo_id = ? WHERE id = 't4'`, last); err != nil {
					t.Fatal(err)
				}
				waitState(t, q, last, attachments.Synced)
			}
		})
	}
}

func TestOfflineThenOnline(t *testing.T) {
	srv := pstest.NewServer()
	t.Cleanup(srv.Close)
	remote := newMemStorage()
	remote.setFail(func(attachments.Op, string) error { return errOffline })
	opts := fastOptions(remote)
	a := newClient(t, srv, "user-1", opts)
	b := newClient(t, srv, "user-1", opts)

	att, err := a.q.Save(t.Context(), strings.NewReader("offline photo"), attachments.File{}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	// Both sides fail and keep trying while the storage is unreachable.
	for _, q := range []*attachments.Queue{a.q, b.q} {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		got, err := q.WaitFor(ctx, att.ID, func(a attachments.Attachment, found bool) bool { return found && a.Attempts >= 3 })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got.State == attachments.Synced || !strings.Contains(got.LastError, errOffline.Error()) {
			t.Fatalf("while offline: %+v", got)
		}
	}
	if st, _ := a.q.Status(t.Context()); st.Failing != 1 {
		t.Fatalf("status while offline: %+v", st)
	}
	remote.setFail(nil)
	a.q.RetryNow(t.Context())
	waitState(t, a.q, att.ID, attachments.Synced)
	got := waitState(t, b.q, att.ID, attachments.Synced)
	if got.Attempts != 0 || got.LastError != "" {
		t.Fatalf("after coming online: %+v", got)
	}
	if string(readLocal(t, b.q, att.ID)) != "offline photo" {
		t.Fatal("content differs")
	}
}

func TestErrorHandlerGivesUp(t *testing.T) {
	remote := newMemStorage()
	remote.setFail(func(op attachments.Op, id string) error {
		if op == attachments.OpUpload {
			return errors.New("403 forbidden")
		}
		return nil
	})
	opts := fastOptions(remote)
	var calls atomic.Int64
	opts.OnError = func(ctx context.Context, op attachments.Op, a attachments.Attachment, err error) attachments.Decision {
		calls.Add(1)
		if a.Attempts >= 2 {
			return attachments.GiveUp
		}
		return attachments.Retry
	}
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	q := openQueue(t, db, opts)
	att, err := q.Save(t.Context(), strings.NewReader("x"), attachments.File{}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	got := waitState(t, q, att.ID, attachments.Archived)
	if calls.Load() != 3 || got.Attempts != 3 || !strings.Contains(got.LastError, "403") {
		t.Fatalf("%d calls, %+v", calls.Load(), got)
	}
}

// A row that references a file not uploaded yet: the download is retried
// until the file is there.
func TestDownloadWaitsForUpload(t *testing.T) {
	remote := newMemStorage()
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	q := openQueue(t, db, fastOptions(remote))
	if _, err := db.Exec(`INSERT INTO todos (id, photo_id) VALUES ('t1', 'later')`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := q.WaitFor(ctx, "later", func(a attachments.Attachment, found bool) bool { return found && a.Attempts >= 2 }); err != nil {
		t.Fatal(err)
	}
	remote.mu.Lock()
	remote.files["later"] = []byte("here now")
	remote.mu.Unlock()
	waitState(t, q, "later", attachments.Synced)
	if string(readLocal(t, q, "later")) != "here now" {
		t.Fatal("content differs")
	}
}

func TestHashSkipsReupload(t *testing.T) {
	remote := hashStorage{newMemStorage()}
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	q := openQueue(t, db, fastOptions(remote))
	a, err := q.Save(t.Context(), strings.NewReader("same"), attachments.File{ID: "a1"}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, q, a.ID, attachments.Synced)
	// The same content again: nothing is queued.
	again, err := q.Save(t.Context(), strings.NewReader("same"), attachments.File{ID: "a1"}, nil)
	if err != nil || again.State != attachments.Synced {
		t.Fatalf("save again: %+v, %v", again, err)
	}
	// Forget that it was uploaded: the upload is skipped by hash.
	if _, err := db.Exec(`UPDATE attachments SET state = 0 WHERE id = 'a1'`); err != nil {
		t.Fatal(err)
	}
	q.RetryNow(t.Context())
	waitState(t, q, a.ID, attachments.Synced)
	// New content is uploaded.
	if _, err := q.Save(t.Context(), strings.NewReader("different"), attachments.File{ID: "a1"}, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, q, a.ID, attachments.Synced)
	if n := remote.uploads.Load(); n != 2 {
		t.Fatalf("%d uploads, want 2", n)
	}
	if b, _ := remote.file("a1"); string(b) != "different" {
		t.Fatalf("remote %q", b)
	}
}

// A synced attachment whose local file went missing is downloaded again
// when a queue opens.
func TestRepairMissingFile(t *testing.T) {
	remote := newMemStorage()
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "app.db"))
	q, err := attachments.Open(t.Context(), db, fastOptions(remote))
	if err != nil {
		t.Fatal(err)
	}
	a, err := q.Save(t.Context(), strings.NewReader("keep me"), attachments.File{Filename: "k.txt"}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, q, a.ID, attachments.Synced)
	q.Close()
	if err := os.Remove(filepath.Join(dir, "app.db-attachments", a.LocalPath)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "app.db-attachments", "stray.bin"), []byte("?"), 0o644)
	q = openQueue(t, db, fastOptions(remote))
	waitState(t, q, a.ID, attachments.Synced)
	if string(readLocal(t, q, a.ID)) != "keep me" || remote.downloads.Load() != 1 {
		t.Fatalf("repaired: downloads %d", remote.downloads.Load())
	}
	if _, err := os.Stat(filepath.Join(dir, "app.db-attachments", "stray.bin")); !os.IsNotExist(err) {
		t.Fatalf("stray file: %v", err)
	}
}

func TestProgressAndClose(t *testing.T) {
	release := make(chan struct{})
	remote := &slowStorage{memStorage: newMemStorage(), release: release}
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	before := runtime.NumGoroutine()
	q, err := attachments.Open(t.Context(), db, fastOptions(remote))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	content := bytes.Repeat([]byte("z"), 1<<20)
	a, err := q.Save(ctx, bytes.NewReader(content), attachments.File{}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	var seen attachments.Transfer
	for st, err := range q.WatchStatus(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Transfers) == 1 && st.Transfers[0].Bytes >= 1<<19 {
			seen = st.Transfers[0]
			break
		}
	}
	if seen.ID != a.ID || seen.Op != attachments.OpUpload || seen.Total != 1<<20 {
		t.Fatalf("transfer %+v", seen)
	}
	close(release)
	waitState(t, q, a.ID, attachments.Synced)
	// The transfer leaves the list once its worker has recorded the result.
	eventually(t, "the transfer to end", func() bool { return len(q.Transfers()) == 0 })
	q.Close()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if _, err := q.Save(ctx, strings.NewReader("x"), attachments.File{}, nil); !errors.Is(err, attachments.ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
}

// slowStorage reads half of an upload, then waits for release.
type slowStorage struct {
	*memStorage
	release chan struct{}
}

func (s *slowStorage) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	half := make([]byte, a.Size/2)
	if _, err := io.ReadFull(r, half); err != nil {
		return err
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.memStorage.Upload(ctx, a, io.MultiReader(bytes.NewReader(half), r))
}

// WaitIdle catches up with rows written just before it, without waiting
// for the watch to notice them, and returns once their files are here.
func TestWaitIdle(t *testing.T) {
	remote := newMemStorage()
	remote.files["p1"] = []byte("one")
	remote.files["p2"] = []byte("two")
	db := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	q := openQueue(t, db, fastOptions(remote))
	if _, err := db.Exec(`INSERT INTO todos (id, photo_id) VALUES ('t1', 'p1'), ('t2', 'p2')`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := q.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p1", "p2"} {
		if a, _, _ := q.Get(ctx, id); a.State != attachments.Synced {
			t.Fatalf("%s after WaitIdle: %+v", id, a)
		}
	}
	if string(readLocal(t, q, "p2")) != "two" {
		t.Fatal("content differs")
	}
}

// Saves of one id racing each other and the queue's own uploads and
// deletes leave the row pointing at a file that exists and holds the
// content the row's hash names.
func TestConcurrentSavesKeepRowAndFileTogether(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "app.db"))
	q := openQueue(t, db, fastOptions(newMemStorage()))
	const id = "shared"
	names := []string{"a.jpg", "a.png", "a.jpg", "a.gif"}
	errs := make(chan error, 40)
	for i := range 40 {
		go func() {
			content := []byte(fmt.Sprintf("content %d", i))
			var err error
			if i%10 == 9 {
				err = q.Delete(t.Context(), id, nil)
			} else {
				_, err = q.Save(t.Context(), bytes.NewReader(content), attachments.File{ID: id, Filename: names[i%len(names)]}, nil)
			}
			errs <- err
		}()
	}
	for range 40 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// A last save decides the final state; the queue then uploads it.
	last := []byte("the last content")
	if _, err := q.Save(t.Context(), bytes.NewReader(last), attachments.File{ID: id, Filename: "a.png"}, nil); err != nil {
		t.Fatal(err)
	}
	a := waitState(t, q, id, attachments.Synced)
	if a.Hash != sha(last) || !bytes.Equal(readLocal(t, q, id), last) {
		t.Fatalf("row %+v does not match its file", a)
	}
	// No file but the row's is left behind.
	entries, err := os.ReadDir(filepath.Join(dir, "app.db-attachments"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != a.LocalPath {
			t.Errorf("stray file %s beside %s", e.Name(), a.LocalPath)
		}
	}
}

// DirRemote keeps what it is given, says ErrNotFound for a file it does
// not have, knows the hash of what it has, and deletes a missing file
// without an error.
func TestDirRemote(t *testing.T) {
	ctx := t.Context()
	d := attachments.DirRemote{Dir: filepath.Join(t.TempDir(), "remote")}
	a := attachments.Attachment{ID: "a1"}
	var buf bytes.Buffer
	if err := d.Download(ctx, a, &buf); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("download before upload: %v, want ErrNotFound", err)
	}
	if _, err := d.RemoteHash(ctx, a); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("hash before upload: %v, want ErrNotFound", err)
	}
	content := []byte("the file")
	if err := d.Upload(ctx, a, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	if err := d.Download(ctx, a, &buf); err != nil || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("download: %q, %v", buf.Bytes(), err)
	}
	if h, err := d.RemoteHash(ctx, a); err != nil || h != sha(content) {
		t.Fatalf("hash %q, %v; want %q", h, err, sha(content))
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, a); err != nil {
		t.Fatalf("deleting a missing file: %v", err)
	}
	if err := d.Download(ctx, a, &buf); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("download after delete: %v, want ErrNotFound", err)
	}
}
