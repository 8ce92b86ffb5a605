package sync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A second Syncer on a database file held by a Syncer of this process is
// refused with ErrAlreadySyncing, whichever *sql.DB and whichever name of
// the file it uses; after Close the file can be held again.
func TestSecondSyncerOnFileRefused(t *testing.T) {
	checkNoLeaks(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db1 := openDBAt(t, path)
	s1, err := New(db1, ConnectorFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s1.Close() })

	db2 := openDBAt(t, path)
	if _, err := New(db1, ConnectorFuncs{}); !errors.Is(err, ErrAlreadySyncing) {
		t.Errorf("second New on the same *sql.DB = %v, want ErrAlreadySyncing", err)
	}
	if _, err := New(db2, ConnectorFuncs{}); !errors.Is(err, ErrAlreadySyncing) {
		t.Errorf("second New on another *sql.DB of the file = %v, want ErrAlreadySyncing", err)
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, "link.db")
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		if _, err := New(openDBAt(t, link), ConnectorFuncs{}); !errors.Is(err, ErrAlreadySyncing) {
			t.Errorf("New through a symbolic link = %v, want ErrAlreadySyncing", err)
		}
	}
	// A connected syncer holds it as well.
	if err := s1.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := New(db2, ConnectorFuncs{}); !errors.Is(err, ErrAlreadySyncing) {
		t.Errorf("New beside a connected syncer = %v, want ErrAlreadySyncing", err)
	}

	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := New(db2, ConnectorFuncs{})
	if err != nil {
		t.Fatalf("New after Close of the first syncer: %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// Another file is independent.
	s3, err := New(openDB(t), ConnectorFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
}

// In-memory databases have no file to hold: each gets its syncer.
func TestInMemoryDatabaseNotHeld(t *testing.T) {
	for _, dsn := range []string{":memory:", "file:guardmem?mode=memory&cache=shared"} {
		db := openDBAt(t, dsn)
		s1, err := New(db, ConnectorFuncs{})
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		s2, err := New(db, ConnectorFuncs{})
		if err != nil {
			t.Fatalf("%s: second syncer: %v", dsn, err)
		}
		s1.Close()
		s2.Close()
	}
}

// Environment of the lock child process (TestSyncerFileLockChild).
const lockEnvDB = "POWERSYNC_LOCK_CHILD_DB"

// TestSyncerFileLockChild is the program TestSecondProcessRefused runs in a
// subprocess (this test binary, re-executed with lockEnvDB set): it holds
// the database file with a Syncer, prints HELD and waits to be killed.
// Without lockEnvDB it does nothing.
func TestSyncerFileLockChild(t *testing.T) {
	path := os.Getenv(lockEnvDB)
	if path == "" {
		return
	}
	s, err := New(openDBAt(t, path), ConnectorFuncs{})
	if err != nil {
		fmt.Println("ERROR", err)
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("HELD")
	// The parent kills the process long before this ends.
	ctx, cancel := context.WithTimeout(t.Context(), rlWait)
	defer cancel()
	<-ctx.Done()
	t.Fatal("lock child was not killed")
}

// A Syncer in another process holds the file: New here is refused until
// that process dies (kill -9, no Close), and then succeeds.
func TestSecondProcessRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" &&
		!strings.Contains("dragonfly freebsd netbsd openbsd", runtime.GOOS) {
		t.Skip("no cross-process lock on " + runtime.GOOS)
	}
	checkNoLeaks(t)
	path := filepath.Join(t.TempDir(), "shared.db")
	db := openDBAt(t, path) // creates the file before the child opens it

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(exe, "-test.run=^TestSyncerFileLockChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), lockEnvDB+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(rlWait, func() { _ = cmd.Process.Kill() }) // liveness bound only
	defer timer.Stop()
	held := false
	var seen []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		seen = append(seen, line)
		if line == "HELD" {
			held = true
			break
		}
	}
	if !held {
		_ = cmd.Process.Kill()
		err := cmd.Wait()
		t.Fatalf("lock child never held the file: %v\nstdout: %v\nstderr: %s", err, seen, stderr.String())
	}

	_, err = New(db, ConnectorFuncs{})
	if !errors.Is(err, ErrAlreadySyncing) {
		t.Errorf("New while another process holds the file = %v, want ErrAlreadySyncing", err)
	} else if !strings.Contains(err.Error(), "another process") {
		t.Errorf("error %q does not say another process holds the file", err)
	}

	_ = cmd.Process.Kill() // SIGKILL: the child never closes its syncer
	if err := cmd.Wait(); !strings.Contains(fmt.Sprint(err), "killed") && runtime.GOOS != "windows" {
		t.Fatalf("lock child: %v\nstderr: %s", err, stderr.String())
	}
	s, err := New(db, ConnectorFuncs{})
	if err != nil {
		t.Fatalf("New after the holding process died: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNewContextBoundsReads: NewContext makes its reads under the caller's
// context, so an ended context fails it (and holds nothing).
func TestNewContextBoundsReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if s, err := NewContext(ctx, openDBAt(t, path), ConnectorFuncs{}); !errors.Is(err, context.Canceled) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("NewContext with an ended context = %v, want context.Canceled", err)
	}
	s, err := NewContext(t.Context(), openDBAt(t, path), ConnectorFuncs{})
	if err != nil {
		t.Fatalf("NewContext after a failed one: %v", err)
	}
	s.Close()
}
