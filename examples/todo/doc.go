// Command todo is a command-line todo app on PowerSync: lists and todos in
// a local SQLite database that syncs with a PowerSync Service, works
// offline, and uploads local changes to the app's backend.
//
//	go run ./todo   # in examples/, a module of its own
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
//	printf 'add Groceries milk\nwait\nls\n' | go run ./todo
//
// With -once the app waits for the first sync, runs the commands of its
// standard input, waits until they are uploaded and synced back, prints the
// lists and exits (exit status 1 if a command failed): a scriptable check.
//
// # A real service
//
// With -endpoint and/or -backend the app syncs with a real PowerSync Service
// and uploads to a real backend: examples/backend on the Postgres database
// the service replicates, with the lists and todos tables and a sync config
// that syncs both (the service's bucket definitions or default streams).
// With the service of ../shared/realservice, from the repository root:
//
//	S=../shared/realservice/ps-service.sh
//	$S start /tmp/ps1 && eval "$($S env /tmp/ps1)"
//	go run ./backend -postgres "$PSSERVICE_PG_URL" -listen 127.0.0.1:6060 \
//	    -jwt-secret 'powersync-dev-secret-key-32bytes!!' -jwt-kid dev-key-1 -audience powersync-dev \
//	    -powersync-url "$PSSERVICE_URL" &
//	printf 'add Groceries milk\n' | go run ./todo -backend http://127.0.0.1:6060 -db todo.db -once
//	$S psql /tmp/ps1 -c 'SELECT description FROM todos'    # milk, applied by the backend
//
// The -jwt-secret is $PSSERVICE_JWT_SECRET_B64URL decoded. Tokens come
// from the backend's GET /api/auth/token?user_id=ID, or from -token, or from
// -token-command, a shell command run for every new token (such as
// "$PSSERVICE_TOKEN_CMD --sub $TODO_USER", which examples/backend accepts
// as well, since both sign with the same key). Uploads go to the backend's
// POST /api/data. The user id must be a UUID for examples/backend's
// tables. Without -backend, local changes stay in the upload queue. Every
// flag has an environment variable:
//
//	-db FILE             TODO_DB                  local database (default: a temporary file)
//	-endpoint URL        POWERSYNC_URL            PowerSync Service (default: the one the backend names)
//	-token JWT           POWERSYNC_TOKEN          a fixed token instead of the backend's
//	-token-command CMD   POWERSYNC_TOKEN_COMMAND  a command printing a token, run for every new token
//	-backend URL         BACKEND_URL              backend base URL
//	-user ID             TODO_USER                the user's id (a UUID for examples/backend)
//	-once                                         run stdin's commands after the first sync and exit
//	-archived N                                   embedded service: archived todos to seed (default 1000)
//	-retry-delay D                                wait D before reconnecting or retrying an upload (default 5s)
//	-photos DIR|URL      TODO_PHOTOS              photo storage (see Photos; default: no photos)
//
// # Photos
//
// With -photos, todos get a photo_id column and photos sync beside them
// (package attachments): "photo ID FILE" attaches a file to a todo, which
// is stored at once and uploaded in the background; "photos" lists the
// photos and their states. The other clients of the same data download a
// photo when its todo arrives. The storage is a directory the clients
// share (standing in for a bucket), or a backend URL whose
// POST /api/attachments/sign signs the requests (attachments.Signer, sent
// with the app's token): examples/backend with -attachments-dir. The
// service and the backend must sync and accept todos.photo_id: the
// embedded service, pstest and examples/backend do (examples/README.md
// shows the round against ps-service.sh). Two clients on one machine:
//
//	printf 'add Work picnic\nphoto picnic cat.jpg\n' | go run ./todo -backend URL -db one.db -photos /tmp/bucket -once
//	printf 'wait\nphotos\n' | go run ./todo -backend URL -db two.db -photos /tmp/bucket -once
//
// "wait" and -once use Syncer.Flush: they return once every local change
// is uploaded and a checkpoint that contains it has been applied, and,
// with -photos, until no photo is queued.
package main
