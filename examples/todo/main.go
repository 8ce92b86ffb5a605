package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// demoUser is the default user id. It is a UUID, as examples/backend's
// tables want.
const demoUser = "5b8c3d1e-7a2f-4c6b-9e0d-1f2a3b4c5d6e"

// envOr returns the environment variable key, or def when it is empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// parseFlags reads the command line (and environment) into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("todo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dbPath, "db", os.Getenv("TODO_DB"), "local database `file` (default: a temporary file)")
	fs.StringVar(&c.endpoint, "endpoint", os.Getenv("POWERSYNC_URL"), "PowerSync Service `URL` (default: an embedded service)")
	fs.StringVar(&c.token, "token", os.Getenv("POWERSYNC_TOKEN"), "a fixed `JWT` for the service (default: from the backend)")
	fs.StringVar(&c.tokenCmd, "token-command", os.Getenv("POWERSYNC_TOKEN_COMMAND"), "a shell `command` printing a token, run for every new token")
	fs.StringVar(&c.backend, "backend", os.Getenv("BACKEND_URL"), "backend base `URL` for uploads and tokens")
	fs.StringVar(&c.user, "user", envOr("TODO_USER", demoUser), "user `id`")
	fs.BoolVar(&c.once, "once", false, "run the commands of stdin after the first sync, wait for their upload, print and exit")
	fs.IntVar(&c.archived, "archived", 1000, "embedded service: number of archived todos to seed")
	fs.StringVar(&c.photos, "photos", os.Getenv("TODO_PHOTOS"), "photo storage: a `DIR` the clients share, or a backend URL that signs requests (default: no photos)")
	fs.DurationVar(&c.retryDelay, "retry-delay", 0, "delay before reconnecting or retrying an upload (default 5s)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q (commands are read from standard input)", fs.Args())
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "todo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdin, os.Stdout, os.Stderr); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "todo:", err)
		stop()
		os.Exit(1)
	}
}
