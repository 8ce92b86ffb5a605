package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gopowersync/powersync/internal/tty"
	pssync "github.com/gopowersync/powersync/sync"
)

// console writes the app's output. Commands, live changes and the sync
// status print from different goroutines; the console serialises them and,
// on a terminal, keeps the progress bar on the last line below them.
type console struct {
	mu   sync.Mutex // guards w and bar
	w    io.Writer
	tty  bool
	bar  string // the progress bar being shown ("" when none)
	errw io.Writer
}

// isTerminal reports whether v (a reader or writer) is a terminal, where a
// live progress bar makes sense. Pipes, files and /dev/null get plain lines.
func isTerminal(v any) bool { return tty.IsTerminal(v) }

// printf prints one line (a newline is added), above the progress bar.
func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.bar != "" {
		fmt.Fprint(c.w, "\r\033[K")
	}
	fmt.Fprintf(c.w, format+"\n", args...)
	if c.tty && c.bar != "" {
		fmt.Fprint(c.w, c.bar)
	}
}

// errorf prints an error line on the error writer.
func (c *console) errorf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.bar != "" {
		fmt.Fprint(c.w, "\r\033[K")
		defer fmt.Fprint(c.w, c.bar)
	}
	fmt.Fprintf(c.errw, format+"\n", args...)
}

// progress shows the download progress as a bar on a terminal; elsewhere
// it does nothing (a pipe gets the status lines only).
func (c *console) progress(p pssync.ProgressCounts) {
	if !c.tty {
		return
	}
	const width = 30
	f := p.Fraction()
	if f > 1 {
		f = 1
	}
	n := int(f * width)
	bar := fmt.Sprintf("downloading [%s%s] %3.0f%% %d/%d", strings.Repeat("#", n), strings.Repeat(".", width-n), f*100, p.Downloaded, p.Total)
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(c.w, "\r\033[K"+bar)
	c.bar = bar
}

// clearProgress removes the progress bar.
func (c *console) clearProgress() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty && c.bar != "" {
		fmt.Fprint(c.w, "\r\033[K")
	}
	c.bar = ""
}
