package tty_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/tty"
)

func TestNotTerminals(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	file, err := os.Create(filepath.Join(t.TempDir(), "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { null.Close() })
	closed, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()

	for _, c := range []struct {
		name string
		v    any
	}{
		{"the read end of a pipe", r},
		{"the write end of a pipe", w},
		{"a regular file", file},
		{os.DevNull + " (a character device)", null},
		{"a closed file", closed},
		{"a nil *os.File", (*os.File)(nil)},
		{"a bytes.Buffer", &bytes.Buffer{}},
		{"a strings.Reader", strings.NewReader("")},
		{"nil", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if tty.IsTerminal(c.v) {
				t.Errorf("%s is reported as a terminal", c.name)
			}
		})
	}
	// The file is still usable as before: SyscallConn does not switch the
	// pipe to blocking mode, so a deadline still works on it.
	if err := r.SetReadDeadline(time.Now()); err != nil {
		t.Errorf("SetReadDeadline on the pipe after IsTerminal: %v", err)
	}
}

// TestTerminal checks the positive case on a pseudo-terminal: the master
// side of a new pty answers terminal ioctls (there is no /dev/tty in CI).
func TestTerminal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("opens /dev/ptmx")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if !tty.IsTerminal(ptmx) {
		t.Error("a pseudo-terminal is not reported as a terminal")
	}
}
