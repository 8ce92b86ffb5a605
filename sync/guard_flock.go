//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package sync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive flock(2) on path, creating the file. The
// kernel releases it when the file is closed or the process ends (also on
// a crash or kill -9). A file system without flock support (ENOLCK,
// EOPNOTSUPP, ENOSYS) gets no lock: only the in-process registry guards the
// file there.
func lockFile(path string) (interface{ Close() error }, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
		return nil, fmt.Errorf("another process holds %s: %w", path, ErrAlreadySyncing)
	case errors.Is(err, syscall.ENOLCK), errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOSYS):
		f.Close()
		return nil, nil
	default:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
}
