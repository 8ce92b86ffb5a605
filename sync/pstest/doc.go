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
// # Running standalone
//
// ListenAndServe runs the same service on a fixed address until its context
// ends; cmd/pstest wraps it as a command.
//
// Close ends every stream and returns once all of the server's goroutines
// have stopped.
package pstest
