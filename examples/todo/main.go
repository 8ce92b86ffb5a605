// Command todo is a command-line todo app on PowerSync: lists and todos in
// a local SQLite database that syncs with a PowerSync Service, works
// offline, and uploads local changes to the app's backend.
//
//	go run ./examples/todo
//
// By default it starts a PowerSync Service in-process (package pstest) with
// some demo data; that service also plays the app's backend, applying
// uploads to its rows at once. The app syncs, shows the progress of the first
// download (a bar on a terminal), and then reads commands, one per line:
//
//	ls [LIST]              the lists and their todos
//	add LIST TEXT          add a todo to LIST (created if missing)
//	done ID | undo ID      complete a todo, or reopen it (ID: its first characters)
//	rm ID                  delete a todo, or a list with its todos
//	status                 the sync status and the upload queue
//	wait                   wait until local changes are uploaded and synced back
//	server ls              the embedded service's data
//	server add LIST TEXT   add a todo on the embedded service, as another user would
//	quit
//
// Changes that arrive from the service are printed as they are committed
// ("live: added …"). Commands can come from a pipe as well as a terminal:
//
//	printf 'add Groceries milk\nwait\nls\n' | go run ./examples/todo
//
// With -once the app waits for the first sync, runs the commands of its
// standard input, waits until they are uploaded and synced back, prints the
// lists and exits (exit status 1 if a command failed): a scriptable check.
//
// # A real service
//
// With -endpoint and/or -backend the app syncs with a real PowerSync Service
// and uploads to a real backend, such as examples/backend on the Postgres
// database the service replicates:
//
//	go run ./examples/backend -postgres "$DATABASE_URL" -init -jwt-secret "$SECRET" -powersync-url https://…
//	go run ./examples/todo -backend http://127.0.0.1:6060 -user 8f0e…(a UUID) -db todo.db
//
// Tokens come from the backend's /api/auth/token (or -token), uploads go to
// its /api/data. Every flag has an environment variable:
//
//	-db FILE          TODO_DB          local database (default: a temporary file)
//	-endpoint URL     POWERSYNC_URL    PowerSync Service
//	-token JWT        POWERSYNC_TOKEN  a fixed token instead of the backend's
//	-backend URL      BACKEND_URL      backend base URL
//	-user ID          TODO_USER        the user's id (a UUID for examples/backend)
//	-once                              run stdin's commands after the first sync and exit
//	-archived N                        embedded service: archived todos to seed (default 1000)
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
	fs.StringVar(&c.backend, "backend", os.Getenv("BACKEND_URL"), "backend base `URL` for uploads and tokens")
	fs.StringVar(&c.user, "user", envOr("TODO_USER", demoUser), "user `id`")
	fs.BoolVar(&c.once, "once", false, "run the commands of stdin after the first sync, wait for their upload, print and exit")
	fs.IntVar(&c.archived, "archived", 1000, "embedded service: number of archived todos to seed")
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
