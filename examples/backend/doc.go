// Command backend is the application backend of the todo example: it
// receives the upload batches of PowerSync clients and applies them to
// Postgres, the database the PowerSync Service replicates from, as the
// PowerSync demo backends do.
//
//	go run ./backend -postgres postgres://user:pass@localhost/app -init
//	go run ./todo -endpoint https://…powersync… -backend http://127.0.0.1:6060
//
// # Endpoints
//
// POST /api/data takes what a client's connector posts
// (pssync.HTTPConnector; the official SDKs' CrudEntry JSON):
//
//	{"batch": [{"op_id": 1, "op": "PUT", "type": "todos", "id": "…", "tx_id": 1, "data": {…}}, …]}
//
// and applies the batch in one Postgres transaction: PUT inserts the row or
// sets the columns it carries on the existing one, PATCH updates the given
// columns, DELETE deletes the row. Table and column names must be in the
// allow-list made from the client schema (examples/internal/todoschema);
// they are quoted, never interpolated raw, and values are query parameters,
// converted to the column types by Postgres' json_populate_record.
//
// Answers tell the client what to do with the batch: 2xx applied; 400 (not
// an upload request) and 422 (an unknown table or column, or data Postgres
// refuses: an invalid uuid, a NOT NULL or foreign key violation) are
// permanent, and the client sets the batch aside; 401 asks for a new token;
// 500 (Postgres unreachable, a deadlock) is retried.
//
// GET /api/auth/token?user_id=ID returns a development token for the user,
// signed with -jwt-secret (HS256), which the PowerSync Service accepts when
// its client_auth lists the same key; with -jwt-secret, POST /api/data also
// requires such a token ("Authorization: Token <jwt>" or "Bearer <jwt>"):
// HS256 and no other algorithm, signed with the secret, kid -jwt-kid,
// audience -audience, not expired, with a subject (checked with
// github.com/golang-jwt/jwt/v5; see Auth). Without -jwt-secret there is no
// authentication at all: for local development only.
//
// # Flags and environment
//
//	-listen ADDR        BACKEND_LISTEN         default 127.0.0.1:6060
//	-postgres DSN       DATABASE_URL           required
//	-init                                      create the tables if missing
//	-jwt-secret S       POWERSYNC_JWT_SECRET   HS256 secret shared with the service
//	-jwt-kid K          POWERSYNC_JWT_KID      key id (default powersync-dev)
//	-audience A         POWERSYNC_AUDIENCE     token audience (default powersync-dev)
//	-powersync-url URL  POWERSYNC_URL          returned with tokens
package main
