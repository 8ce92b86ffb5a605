package main

import (
	"io"
	"os"
)

// isTerminal reports whether w is a terminal (a character device), where a
// live progress bar makes sense. Pipes and files get plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
