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
//	-retry-delay D                     wait D before reconnecting or retrying an upload (default 5s)
package main
