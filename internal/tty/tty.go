// Package tty tells whether a program's input or output is a terminal, for
// the command-line tools that draw a live progress bar there and print plain
// lines to pipes and files.
package tty

import (
	"os"

	"golang.org/x/term"
)

// IsTerminal reports whether v (an io.Reader or io.Writer) is an *os.File
// open on a terminal, as golang.org/x/term decides it (a successful terminal
// ioctl, not merely a character device: /dev/null is none). The descriptor
// is read through SyscallConn, so unlike (*os.File).Fd this leaves the file
// in the I/O mode it had.
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	tty := false
	if err := rc.Control(func(fd uintptr) { tty = term.IsTerminal(int(fd)) }); err != nil {
		return false
	}
	return tty
}
