package main

import (
	"io"

	"github.com/gopowersync/powersync/internal/tty"
)

// isTerminal reports whether w is a terminal, where a live progress bar
// makes sense. Pipes, files and /dev/null get plain lines.
func isTerminal(w io.Writer) bool { return tty.IsTerminal(w) }
