//go:build windows

package sync

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// errorSharingViolation is Windows' ERROR_SHARING_VIOLATION.
const errorSharingViolation syscall.Errno = 32

// lockFile opens path (creating it) with no sharing allowed, so that no
// other handle to it can be opened until this one is closed; Windows closes
// it when the process ends, however it ends.
func lockFile(path string) (interface{ Close() error }, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if errors.Is(err, errorSharingViolation) {
		return nil, fmt.Errorf("another process holds %s: %w", path, ErrAlreadySyncing)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	return os.NewFile(uintptr(h), path), nil
}
