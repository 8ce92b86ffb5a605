// Command backend is the application backend of the todo example: it
// receives the upload batches of PowerSync clients and applies them to
// Postgres, the database the PowerSync Service replicates from, as the
// PowerSync demo backends do, and can store the todos' photos behind
// signed URLs.
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
// # What the client is told
//
// Answers tell the client what to do with the batch, following the upload
// loop of the PowerSync SDKs (an error is retried after a delay, with the
// same batch at the head of the queue; a permanent error sets the batch
// aside, or it would block every later upload):
//
//   - 200: applied, all of it.
//   - 400 (not an upload request) and 422 (an unknown table, column or
//     operation, or data Postgres refuses: SQLSTATE classes 22 data
//     exception, 23 integrity constraint violation such as 23505 unique,
//     23503 foreign key, 23514 check, 23502 not null, and 42 such as a
//     column the server table lacks; also a deferred constraint failing at
//     COMMIT): nothing was applied, and retrying cannot help. The client
//     sets the batch aside (pssync.HTTPConnector treats 400 and 422 as
//     permanent).
//   - 401: no valid token; the client fetches a new one.
//   - 500: nothing was applied, or, after a COMMIT that failed for a lost
//     connection, possibly all of it; the client retries. Applying a batch
//     again leaves the same rows, so the retry is safe. Postgres being
//     unreachable, a statement canceled, a server shutting down are such
//     failures.
//
// A serialization failure (40001) or deadlock (40P01) aborts the
// transaction because of another one; the backend runs the transaction
// again itself, up to three times in all, and answers 500 only when it
// failed every time.
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
// # Attachments
//
// With -attachments-dir, the backend also stores the files of
// attachments (package attachments; the todo example's -photos URL mode)
// in that directory. POST /api/attachments/sign takes what
// attachments.Signer posts, {"op": "upload", "id": "…", "filename": "…",
// "media_type": "…", "size": N}, with the same token as uploads, and
// answers {"method": "PUT", "url": "…", "headers": {…}}: a URL under
// /api/attachments/files/ID valid for -attachments-ttl, for that method
// and id only, signed with HMAC-SHA256 (-attachments-key, or a random key
// per run). The file endpoints need no token but that signature: 403 for
// a missing, altered or expired one, 400 for an id that is not a safe
// file name (letters, digits, '-', '_'), 413 for a body over
// -attachments-max (also when sizes are signed). A PUT is streamed to a
// temporary file and renamed into place, with the media type and file
// name of the sign request beside it; a GET streams the file with them
// (Content-Type, Content-Disposition), which attachments.HTTPStorage
// records on the downloading client; a DELETE removes it. See Files.
//
// # Flags and environment
//
//	-listen ADDR        BACKEND_LISTEN         default 127.0.0.1:6060
//	-postgres DSN       DATABASE_URL           required
//	-init                                      create the tables if missing
//	-jwt-secret S       POWERSYNC_JWT_SECRET   HS256 secret shared with the service
//	-jwt-kid K          POWERSYNC_JWT_KID      key id (default powersync-dev)
//	-audience A         POWERSYNC_AUDIENCE     token audience (default powersync-dev)
//	-jwt-secret-b64url S  POWERSYNC_JWT_SECRET_B64URL  the same secret in base64url
//	-powersync-url URL  POWERSYNC_URL          returned with tokens
//	-attachments-dir D  ATTACHMENTS_DIR        serve attachment files from D
//	-attachments-key K  ATTACHMENTS_KEY        HMAC key of the signed URLs
//	-attachments-max N                         largest file (default 32 MiB)
//	-attachments-ttl T                         signed URL lifetime (default 15m)
//	-public-url URL     BACKEND_PUBLIC_URL     start of the signed URLs
package main
