// Package pstest is an in-process PowerSync Service for tests, in the
// spirit of net/http/httptest.
//
// NewServer starts a service on a loopback port. Its URL is the endpoint a
// client's connector returns, and Server.Token mints a development token
// (HS256, with sub, aud, iat and exp claims) that the service accepts:
//
//	srv := pstest.NewServer()
//	defer srv.Close()
//	srv.SetRow("todos", "t1", map[string]any{"title": "buy milk"})
//	creds := pssync.Credentials{Endpoint: srv.URL, Token: srv.Token("user-1")}
//
// The service speaks the sync protocol the way the PowerSync Service does:
// POST /sync/stream answers NDJSON, or BSON documents when the client's
// Accept header prefers application/vnd.powersync.bson-stream; a full
// checkpoint on connect, then checkpoint_diff lines for later changes; data
// lines per bucket after the client's position, in pages (has_more,
// after, next_after); partial_checkpoint_complete after each bucket
// priority but the last and checkpoint_complete at the end; token_expires_in
// keepalives and the final token_expires_in 0 when the token expires. Op ids
// are strings, PUT data is a JSON string when raw_data is requested, and
// checksums are computed as the service computes them (see PutChecksum,
// RemoveChecksum and Subkey).
//
// # Data
//
// Buckets hold oplogs. Change them with Update (one checkpoint for many
// changes) or the single-change helpers Put, Remove, SetRow, DeleteRow and
// SetPriority. Put and Remove act on one bucket directly. SetRow and
// DeleteRow act on source rows, which WithRowBuckets maps to buckets (by
// default every row is in DefaultBucket). Which buckets a connection syncs
// is decided by WithUserBuckets (default: all buckets), or by sync streams
// (WithStreams) with default streams and explicit subscriptions with
// parameters. Every change creates a new checkpoint that connected clients
// receive at once. Compact rewrites oplogs with MOVE and CLEAR ops as the
// service's compactor does, keeping checksums.
//
// # Uploads and write checkpoints
//
// The server also plays the application's backend: POST /upload with
// {"batch": [CrudEntry...]} (or ApplyBatch from Go) applies a client's CRUD
// batch to the source rows, which then stream back to clients. AppliedCount
// tells how often each row received an upload, to check exactly-once
// delivery. GET /write-checkpoint2.json and POST /sync/checkpoint-request
// create write checkpoints; since changes apply immediately, the next
// checkpoint a client receives carries its write checkpoint.
//
// # Faults
//
// Inject schedules failures for the next requests: an HTTP status (5xx or
// 401 with the service's error JSON), a stream that ends after N lines or in
// the middle of a checkpoint, a wrong bucket checksum, delayed lines.
// ExpireTokens revokes every token seen so far, Restart drops every
// connection, Compact compacts buckets.
//
// # Agreement with the PowerSync Service
//
// pstest answers requests as the PowerSync Service 1.25 does; the answers
// in testdata/realservice_requests.json were recorded from a real service
// and TestServiceAnswers checks pstest against them. In particular:
// request bodies are parsed by content type (application/json or
// text/plain; 415, 413 and Fastify's JSON errors otherwise), merged with
// the query string, and validated against the service's schema before the
// token is checked (400 PSYNC_S2001 with the service's details messages, in
// its order); tokens need sub, iat, exp and aud, with a 60 s clock
// tolerance (a token expired less than a minute ago gets a stream of one
// token_expires_in 0 line), and errors carry the service's codes and
// descriptions. Error bodies reproduce the service's "name" member, which
// in its bundled build is a minified class name ("t", "wr"): clients must
// not rely on it. Streams are gzip-compressed when the client accepts gzip.
// Bucket definitions are reported as default streams (a bucket's
// definition is its name up to "["), and row values are converted as the
// service converts Postgres columns (see Tx.SetRow).
//
// Where pstest deliberately differs from the service:
//
//   - it plays the application's backend too: POST /upload (the service
//     has no upload endpoint; it answers 404 there);
//   - it has no zstd: where the service prefers zstd, pstest sends gzip;
//   - bucket names are whatever the test uses (the service prefixes them
//     with the sync config's version, e.g. "1#global[]"), buckets in a
//     checkpoint are sorted by name, stream definitions by name;
//   - row data is what the test gives (the service's rows also carry the
//     id column; nested values of json columns arrive as JSON text there);
//     subkeys are pstest's own;
//   - keepalive lines come every WithKeepalive period exactly (the
//     service jitters its 20 s by ±10%);
//   - 500 answers carry no "stack" member;
//   - faults (Inject), ExpireTokens and Compact have no service counterpart.
//
// # Running standalone
//
// ListenAndServe runs the same service on a fixed address until its context
// ends; cmd/pstest wraps it as a command.
//
// Close ends every stream and returns once all of the server's goroutines
// have stopped.
package pstest
