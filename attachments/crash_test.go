package attachments_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
)

// The crash tests re-run the test binary as a child with these variables
// set; the child runs up to a step, prints crashReached and waits to be
// killed with SIGKILL.
const (
	crashStepEnv = "ATTACHMENTS_CRASH_STEP"
	crashDirEnv  = "ATTACHMENTS_CRASH_DIR"
	crashReached = "REACHED"
)

func TestMain(m *testing.M) {
	if step := os.Getenv(crashStepEnv); step != "" {
		crashChild(step, os.Getenv(crashDirEnv))
		return
	}
	os.Exit(m.Run())
}

var crashContent = bytes.Repeat([]byte("crash-safe "), 10_000)

// reached tells the parent the step is reached and waits for the kill.
func reached() {
	fmt.Println(crashReached)
	select {}
}

// crashRemote is a DirRemote that stops in the middle of a transfer.
type crashRemote struct {
	attachments.DirRemote
	step string
}

func (c crashRemote) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	if c.step == "mid-upload" {
		io.CopyN(io.Discard, r, a.Size/2)
		reached()
	}
	return c.DirRemote.Upload(ctx, a, r)
}

func (c crashRemote) Download(ctx context.Context, a attachments.Attachment, w io.Writer) error {
	if c.step == "mid-download" {
		w.Write(crashContent[:len(crashContent)/2])
		reached()
	}
	return c.DirRemote.Download(ctx, a, w)
}

func crashChild(step, dir string) {
	fail := func(err error) {
		fmt.Println("child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := driver.NewConnector(filepath.Join(dir, "app.db"), driver.WithSchema(testSchema()))
	if err != nil {
		fail(err)
	}
	db := sql.OpenDB(c)
	switch step {
	case "file-written":
		attachments.SetSaveHook(func(ctx context.Context, s string) error {
			if s == step {
				reached()
			}
			return nil
		})
	case "uploaded":
		attachments.SetUploadHook(func(context.Context, attachments.Attachment) error { reached(); return nil })
	}
	opts := attachments.Options{Remote: crashRemote{attachments.DirRemote{Dir: filepath.Join(dir, "remote")}, step}, Watch: watchPhotos}
	q, err := attachments.Open(ctx, db, opts)
	if err != nil {
		fail(err)
	}
	if step == "mid-download" {
		if _, err := db.Exec(`INSERT INTO todos (id, photo_id) VALUES ('t1', 'remote-1')`); err != nil {
			fail(err)
		}
	} else if _, err := q.Save(ctx, bytes.NewReader(crashContent), attachments.File{ID: "a1", Filename: "a1.bin"}, linkTodo("t1")); err != nil {
		fail(err)
	}
	time.Sleep(time.Minute)
	fail(fmt.Errorf("step %s never reached", step))
}

// countingRemote counts the transfers of a DirRemote.
type countingRemote struct {
	attachments.DirRemote
	uploads, downloads *atomic.Int64
}

func (c countingRemote) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	c.uploads.Add(1)
	return c.DirRemote.Upload(ctx, a, r)
}

func (c countingRemote) Download(ctx context.Context, a attachments.Attachment, w io.Writer) error {
	c.downloads.Add(1)
	return c.DirRemote.Download(ctx, a, w)
}

// A process killed with SIGKILL between the steps of a save, an upload or
// a download loses nothing: the next queue on the database finishes the
// work, or removes what was never committed.
func TestCrashBetweenSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	for _, step := range []string{"file-written", "mid-upload", "uploaded", "mid-download"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			remoteDir := filepath.Join(dir, "remote")
			if step == "mid-download" {
				os.MkdirAll(remoteDir, 0o755)
				os.WriteFile(filepath.Join(remoteDir, "remote-1"), crashContent, 0o644)
			}
			runCrashChild(t, step, dir)

			var uploads, downloads atomic.Int64
			remote := countingRemote{attachments.DirRemote{Dir: remoteDir}, &uploads, &downloads}
			db := openDB(t, filepath.Join(dir, "app.db"))
			opts := fastOptions(remote)
			q := openQueue(t, db, opts)
			local := filepath.Join(dir, "app.db-attachments")
			switch step {
			case "file-written":
				// The row never committed: no todo, no attachment, and the
				// file is removed.
				var n int
				db.QueryRow(`SELECT count(*) FROM todos`).Scan(&n)
				if _, found, _ := q.Get(t.Context(), "a1"); found || n != 0 {
					t.Fatalf("row found %v, %d todos", found, n)
				}
				if entries, _ := os.ReadDir(local); len(entries) != 0 {
					t.Fatalf("local files left: %v", entries)
				}
				if uploads.Load() != 0 {
					t.Fatal("uploaded")
				}
			case "mid-upload", "uploaded":
				waitState(t, q, "a1", attachments.Synced)
				b, err := os.ReadFile(filepath.Join(remoteDir, "a1"))
				if err != nil || !bytes.Equal(b, crashContent) {
					t.Fatalf("remote file: %v", err)
				}
				want := int64(1)
				if step == "uploaded" {
					want = 0 // the remote hash matches: not uploaded again
				}
				if uploads.Load() != want {
					t.Fatalf("%d uploads after restart, want %d", uploads.Load(), want)
				}
			case "mid-download":
				waitState(t, q, "remote-1", attachments.Synced)
				if !bytes.Equal(readLocal(t, q, "remote-1"), crashContent) {
					t.Fatal("downloaded content differs")
				}
				entries, _ := os.ReadDir(local)
				if len(entries) != 1 {
					t.Fatalf("local files: %v", entries)
				}
			}
		})
	}
}

func runCrashChild(t *testing.T, step, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashStepEnv+"="+step, crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ok := false
	var lines []string
	for sc.Scan() {
		if sc.Text() == crashReached {
			ok = true
			break
		}
		lines = append(lines, sc.Text())
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	if !ok {
		t.Fatalf("child did not reach %s: %s %s", step, strings.Join(lines, "\n"), stderr.String())
	}
}
