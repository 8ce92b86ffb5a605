package sync

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/synccore"
	"github.com/gopowersync/powersync/sync/pstest"
)

// Environment of the crash child process (TestReliabilityCrashChild).
const (
	crashEnvMode  = "POWERSYNC_CRASH_CHILD" // "download" or "apply"
	crashEnvDB    = "POWERSYNC_CRASH_DB"
	crashEnvURL   = "POWERSYNC_CRASH_URL"
	crashEnvToken = "POWERSYNC_CRASH_TOKEN"
)

// crashRows is the size of the checkpoint the child downloads.
const crashRows = 3000

// TestReliabilityCrashChild is the program the kill -9 tests run in a
// subprocess (this test binary, re-executed with crashEnvMode set). It
// writes locally, then syncs from the service, printing a marker line for
// the parent: "DATA n" after the n-th data line was stored, "APPLY" right
// before checkpoint_complete is processed. Without crashEnvMode it does
// nothing.
func TestReliabilityCrashChild(t *testing.T) {
	mode := os.Getenv(crashEnvMode)
	if mode == "" {
		return
	}
	db := openDBAt(t, os.Getenv(crashEnvDB))
	if _, err := db.Exec(`INSERT INTO drafts(id, body) VALUES ('draft-1', 'local only')`); err != nil {
		t.Fatal(err)
	}
	if mode == "download" {
		// Queued writes block applying, not downloading.
		for _, id := range []string{"crash-1", "crash-2"} {
			if _, err := db.Exec(`INSERT INTO todos(id, title) VALUES (?, 'written before the crash')`, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	fmt.Println("WROTE")
	eng := newDefaultEngine(db, defaultOptions())
	conn := ConnectorFuncs{
		FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
			return &Credentials{Endpoint: os.Getenv(crashEnvURL), Token: os.Getenv(crashEnvToken)}, nil
		},
		UploadDataFunc: func(ctx context.Context, _ *sql.DB) error {
			<-ctx.Done() // the backend never answers
			return ctx.Err()
		},
	}
	s, err := New(db, conn, withEngine(&markingEngine{engine: eng}), WithRetryDelay(rlRetry))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The parent kills the process long before this ends.
	ctx, cancel := context.WithTimeout(t.Context(), rlWait)
	defer cancel()
	<-ctx.Done()
	t.Fatal("crash child was not killed")
}

// markingEngine prints the crash child's markers.
type markingEngine struct {
	engine
	lines int
}

// NextLinesText marks each committed data line ("DATA n") and the start of
// each apply ("APPLY"). A checkpoint_complete that would join a run of data
// lines is held back until the run is committed, so that the lines before
// it are stored when APPLY is printed.
func (m *markingEngine) NextLinesText(ctx context.Context, next func() ([]byte, bool)) ([]synccore.Instruction, error) {
	isComplete := func(l []byte) bool { return bytes.HasPrefix(l, []byte(`{"checkpoint_complete"`)) }
	var out []synccore.Instruction
	var stash []byte
	for {
		data, first := 0, true
		src := func() ([]byte, bool) {
			var l []byte
			if first && stash != nil {
				l, stash = stash, nil
			} else {
				var ok bool
				if l, ok = next(); !ok {
					return nil, false
				}
			}
			if isComplete(l) {
				if !first {
					stash = l
					return nil, false
				}
				fmt.Println("APPLY")
			}
			first = false
			if bytes.HasPrefix(l, []byte(`{"data"`)) {
				data++
			}
			return l, true
		}
		ins, err := m.engine.NextLinesText(ctx, src)
		out = append(out, ins...)
		if err != nil {
			return out, err
		}
		for ; data > 0; data-- {
			m.lines++
			fmt.Println("DATA", m.lines)
		}
		if stash == nil {
			return out, nil
		}
	}
}

// TestReliabilityKill9 kills a syncing process with SIGKILL in the middle
// of a download and in the middle of applying a checkpoint, then continues
// on the same file in this process. The file must be intact, the local
// writes kept, the download resumed from the stored positions (completed
// data is not downloaded again), and the client must converge.
func TestReliabilityKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	tests := []struct {
		mode   string
		killAt string // marker line after which the child is killed
	}{
		{mode: "download", killAt: "DATA 10"},
		{mode: "apply", killAt: "APPLY"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			checkNoLeaks(t)
			r := newRig(t, pstest.WithPageSize(100))
			r.seedRows("s", crashRows)
			path := filepath.Join(t.TempDir(), "crash.db")
			if tt.mode == "download" {
				r.srv.Inject(pstest.Fault{LineDelay: 3 * time.Millisecond})
			}
			runAndKill(t, r.srv, path, tt.mode, tt.killAt)

			// The file is intact and nothing local was lost.
			c := r.newClient(clientOpts{path: path, noSyncer: true})
			c.checkIntegrity()
			var drafts int
			if err := c.db.QueryRow(`SELECT count(*) FROM drafts`).Scan(&drafts); err != nil || drafts != 1 {
				t.Errorf("local-only row lost: %d rows, %v", drafts, err)
			}
			stored := bucketPositions(t, c.db)[pstest.DefaultBucket]
			visible := 0 // rows of the service's checkpoint
			for id := range c.localRows() {
				if strings.HasPrefix(id, "s") {
					visible++
				}
			}
			switch tt.mode {
			case "download":
				if n := c.queue(); n != 2 {
					t.Errorf("upload queue after the crash has %d entries, want 2", n)
				}
				if stored < 10*100 {
					t.Errorf("stored position %d: the data lines committed before the kill are gone", stored)
				}
				if visible != 0 {
					t.Errorf("%d rows of an incomplete checkpoint are visible", visible)
				}
			case "apply":
				if stored != crashRows {
					t.Errorf("stored position %d, want %d (everything downloaded before checkpoint_complete)", stored, crashRows)
				}
				// Atomic: the checkpoint is either fully applied or not at all.
				if visible != 0 && visible != crashRows {
					t.Errorf("%d of %d rows visible: a partially applied checkpoint", visible, crashRows)
				}
				t.Logf("killed during apply: checkpoint applied before the kill: %v", visible == crashRows)
			}
			c.db.Close()

			// Continue in this process.
			c = r.newClient(clientOpts{path: path})
			c.connect()
			reqs := c.tr.waitRequests(t, 1)
			if got := reqs[0].After[pstest.DefaultBucket]; got != stored {
				t.Errorf("restart asked for %s after %d, want the stored position %d", pstest.DefaultBucket, got, stored)
			}
			c.writes["crash-1"], c.writes["crash-2"] = "", ""
			if tt.mode == "download" {
				c.writes["crash-1"], c.writes["crash-2"] = "written before the crash", "written before the crash"
			}
			c.waitConverged()
			if tt.mode == "download" {
				for _, id := range []string{"crash-1", "crash-2"} {
					if n := r.srv.AppliedCount("todos", id); n != 1 {
						t.Errorf("%s applied %d times", id, n)
					}
				}
			}
		})
	}
}

// runAndKill runs the crash child on path and kills it with SIGKILL once it
// printed the marker killAt.
func runAndKill(t *testing.T, srv *pstest.Server, path, mode, killAt string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(exe, "-test.run=^TestReliabilityCrashChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(),
		crashEnvMode+"="+mode, crashEnvDB+"="+path, crashEnvURL+"="+srv.URL, crashEnvToken+"="+srv.Token(testUser))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := make(chan struct{})
	var seen []string
	go func() {
		defer close(killed)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			seen = append(seen, line)
			if line == killAt {
				_ = cmd.Process.Kill() // SIGKILL
				return
			}
		}
	}()
	timer := time.AfterFunc(rlWait, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	<-killed
	err = cmd.Wait()
	if !strings.Contains(fmt.Sprint(err), "killed") {
		t.Fatalf("crash child did not reach %q: %v\nstdout: %v\nstderr: %s", killAt, err, seen, stderr.String())
	}
}
