package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// Exit codes of the command.
const (
	exitOK    = 0 // success
	exitError = 1 // the command ran and failed (missing file, not a PowerSync database, sync error)
	exitUsage = 2 // bad command line
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args (without the program name) and returns
// the exit code. It is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, now: time.Now, isTerminal: isTerminal}
	return a.run(ctx, args)
}

// app holds what a command needs from its environment, so tests can replace
// the clock and terminal detection.
type app struct {
	stdout, stderr io.Writer
	now            func() time.Time
	isTerminal     func(w io.Writer) bool
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // synopsis and long help, printed by -h
	run     func(a *app, ctx context.Context, args []string) int
}

func commands() []*command {
	return []*command{
		statusCommand(),
		crudCommand(),
		bucketsCommand(),
		schemaCommand(),
		attachmentsCommand(),
		syncCommand(),
		serveCommand(),
		loadCommand(),
	}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

const mainUsage = `powersync inspects and syncs PowerSync SQLite database files.

Usage:
  powersync <command> [flags] [FILE]

Commands:
%s
Inspection commands open FILE read-only and never change it (nor create
-wal/-shm files next to it). Run 'powersync <command> -h' for the flags and
examples of a command.

Examples:
  powersync status app.db
  powersync crud --json app.db | jq '.transactions[0]'
  powersync schema --json app.db > schema.json
  powersync sync app.db --endpoint https://example.powersync.com --token-command 'myapp token'
`

func (a *app) printMainUsage(w io.Writer) {
	var b strings.Builder
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "version", "print the version of this program")
	fmt.Fprintf(w, mainUsage, b.String())
}

func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		a.printMainUsage(a.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if name == "help" && len(args) > 1 {
			if c := findCommand(args[1]); c != nil {
				fmt.Fprint(a.stdout, c.usage)
				return exitOK
			}
			fmt.Fprintf(a.stderr, "powersync: unknown command %q\n", args[1])
			return exitUsage
		}
		a.printMainUsage(a.stdout)
		return exitOK
	case "version", "-version", "--version":
		fmt.Fprintln(a.stdout, "powersync", version())
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(a.stderr, "powersync: unknown command %q\nRun 'powersync -h' for the list of commands.\n", name)
		return exitUsage
	}
	return c.run(a, ctx, args[1:])
}

// version reports the module version the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Version == "" {
		return "(devel)"
	}
	return bi.Main.Version
}

// newFlagSet returns a flag set for command c that reports errors to the
// caller instead of exiting.
func newFlagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("powersync status app.db --json"). It returns the positional arguments,
// or an exit code when parsing ended the command (-h or a bad flag).
func (a *app) parseFlags(c *command, fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var positional []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			a.printCommandUsage(a.stdout, c, fs)
			return nil, exitOK, false
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "powersync %s: %v\nRun 'powersync %s -h' for usage.\n", c.name, err, c.name)
			return nil, exitUsage, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, exitOK, true
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), exitOK, true
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func (a *app) printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprint(w, c.usage)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// oneFile checks that exactly one FILE argument was given.
func (a *app) oneFile(c *command, positional []string) (string, bool) {
	if len(positional) != 1 {
		if len(positional) == 0 {
			fmt.Fprintf(a.stderr, "powersync %s: missing FILE argument\n", c.name)
		} else {
			fmt.Fprintf(a.stderr, "powersync %s: expected one FILE argument, got %d: %s\n", c.name, len(positional), strings.Join(positional, " "))
		}
		fmt.Fprintf(a.stderr, "Run 'powersync %s -h' for usage.\n", c.name)
		return "", false
	}
	return positional[0], true
}

// fileArg parses args for a command c whose only argument is FILE, and
// returns FILE. When ok is false the command ends with code: the usage or
// the error was printed.
func (a *app) fileArg(c *command, fs *flag.FlagSet, args []string) (file string, code int, ok bool) {
	pos, code, ok := a.parseFlags(c, fs, args)
	if !ok {
		return "", code, false
	}
	if file, ok = a.oneFile(c, pos); !ok {
		return "", exitUsage, false
	}
	return file, exitOK, true
}

// openFileArg is fileArg for an inspection command: it also opens FILE
// read-only.
func (a *app) openFileArg(ctx context.Context, c *command, fs *flag.FlagSet, args []string) (d *inspectDB, code int, ok bool) {
	file, code, ok := a.fileArg(c, fs, args)
	if !ok {
		return nil, code, false
	}
	d, err := openInspect(ctx, file)
	if err != nil {
		return nil, a.fail(c, err), false
	}
	return d, exitOK, true
}

// fail prints err for command c and returns exitError.
func (a *app) fail(c *command, err error) int {
	fmt.Fprintf(a.stderr, "powersync %s: %v\n", c.name, err)
	return exitError
}
