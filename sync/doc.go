// Package sync keeps a local "powersync" database in sync with a PowerSync
// Service. Import it as pssync:
//
//	import pssync "github.com/gopowersync/powersync/sync"
//
// A [Syncer] streams server changes into the database and uploads local
// changes through the application's [Connector]:
//
//	db := sql.OpenDB(connector)              // a "powersync" database (package driver)
//	s, err := pssync.New(db, myConnector, pssync.WithLogger(logger))
//	if err != nil { ... }
//	defer s.Close()
//	if err := s.Connect(ctx); err != nil { ... }
//	if err := s.WaitForFirstSync(ctx); err != nil { ... }
//
// Reads and writes go through plain database/sql on db at any time, online
// or offline.
//
// One Syncer at a time may use a database file, in this process or any
// other: [New] returns [ErrAlreadySyncing] while another holds it, from its
// New until its Close (or the end of its process). Two syncers on one file
// would upload the same local changes twice.
//
// # Connector
//
// The application implements [Connector]: FetchCredentials returns the
// service endpoint and a token for the signed-in user, UploadData sends
// queued local changes to the application's backend. Credentials are cached,
// refreshed shortly before they expire, when the service says the token
// expired (the status then shows [ErrTokenExpired]), and after a 401; they
// are never fetched in a loop, and the token
// never appears in logs, errors or [Status]. [HTTPConnector] uploads the
// queue as JSON to a backend URL; [DevConnector] talks to the development
// service of package pstest.
//
// # Upload queue
//
// Every local write to a synced table is queued (ps_crud). UploadData reads
// the queue with [GetCrudBatch], [NextCrudTransaction] or
// [CrudTransactions] and, once the backend accepted a batch, calls its
// Complete method (or CompleteWithWriteCheckpoint for backends with custom
// write checkpoints). The syncer calls UploadData after local writes
// (throttled, [WithUploadThrottle]), on every connect, and again after the
// retry delay while an upload fails, also when no new write happens; never
// two at once. When the queue is drained it asks the service for a write
// checkpoint, so that downloaded data is applied only once the service has
// the uploaded changes: a pending local change is never replaced by an
// older server value. [Syncer.Flush] waits until that has happened for
// every queued write: call it before a program that writes exits.
//
// A change the backend can never accept would block the queue forever.
// Return [Permanent] from UploadData (or call the Reject method of the batch
// or transaction) to set such entries aside: they leave the queue, are kept
// in a table of this package and are listed by [RejectedCrud] for the
// application to inspect, and the local row returns to the server's state.
//
// # Status
//
// [Syncer.Status] returns a snapshot: connected, connecting, downloading
// (with progress per priority), uploading, last sync time, whether a sync
// ever completed, per-priority and per-stream state, and the last upload and
// download errors. [Syncer.Statuses] yields the changes (the latest always,
// intermediate ones dropped for a consumer that falls behind), and
// [Syncer.WaitForStatus], [Syncer.WaitForFirstSync] and
// [Syncer.WaitForFirstSyncPriority] wait for a condition.
//
// # Sync streams
//
// [Syncer.Subscribe] subscribes to a sync stream with parameters, a TTL and
// a priority, and returns a [Subscription] with WaitForFirstSync and
// Unsubscribe. A running connection picks changes up at once.
// [WithIncludeDefaultStreams] turns the service's default streams off.
//
// # Connections and retries
//
// After an error or a closed stream the syncer reconnects after the retry
// delay ([WithRetryDelay], 5 s with ±10 % jitter), never in a hot loop. A
// stream on which nothing arrives for [WithStreamIdleTimeout] is treated as
// dead. Every request to the service gets its response in a bounded time
// ([WithResponseTimeout], 30 s: the headers of the stream, the whole
// answer of the other requests), and every UploadData call returns within
// [WithUploadTimeout] (5 min) or its context ends and the status shows
// [ErrUploadTimeout]; likewise FetchCredentials within
// [WithCredentialsTimeout] (30 s, [ErrCredentialsTimeout]): a server,
// backend or token source that never answers shows up as an error in
// [Status] and the log, never as "connecting" or "uploading" forever. The default HTTP client is the syncer's own, with bounded
// dialing and TLS handshakes ([WithHTTPClient] replaces it). Redirects are
// followed only within the endpoint's origin; one to another scheme, host
// or port fails with [ErrRedirectRefused], so the token never goes to, and
// no data comes from, another server. A server whose error response
// repeats the token does not leak it either: the request's Authorization
// value is redacted from errors, the status and the log.
// [Syncer.Disconnect] stops everything and waits for it;
// [Syncer.DisconnectAndClear] also deletes the synced data and the queue
// (e.g. at sign-out); [Syncer.Close] releases the syncer. Every goroutine the
// syncer starts ends by then.
//
// By default write checkpoints use GET /write-checkpoint2.json, which every
// service supports; [WithCheckpointRequests] switches to the newer
// POST /sync/checkpoint-request.
package sync
