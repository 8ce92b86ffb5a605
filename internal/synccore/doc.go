// Package synccore is the sync state machine of a PowerSync client: the Go
// equivalent of the official core extension's powersync_control (core 0.5.3,
// internal schema layout 14).
//
// An Engine is driven by the sync loop exactly as the SDKs drive
// powersync_control: Start, ConnectionEstablished, one LineText/LineBinary
// per received line, local events (CompletedUpload, RefreshedToken,
// UpdateSubscriptions), ConnectionEnd and Stop. Each call runs in its own
// write transaction on one connection of the database and returns the
// instructions the caller acts on (LogLine, UpdateSyncStatus,
// EstablishSyncStream, FetchCredentials, CloseSyncStream, DidCompleteSync).
//
// Where the official SDKs make one call per line, LinesText and
// NextLinesText (and their binary forms) take several received lines and
// write each run of consecutive data lines in one transaction; every other
// line still has its own. This is what a client uses during a download: it
// leaves the same state and instructions as line by line, except that status
// updates come once per run.
//
// # Storage
//
// Downloaded operations go to ps_oplog (only the current PUT per bucket and
// key) with per-bucket checksum accumulators in ps_buckets. A checkpoint is
// published into the ps_data__* tables, ps_untyped and raw tables only after
// every bucket's checksum matched and no local write is pending (the
// target_checkpoint_request_id gate in ps_kv). Publishing streams the changed
// rows from one query and writes them with multi-row statements per table
// while the connection is flagged as applying synced data. When every oplog
// row is new (a first sync), each JSON table is written by one INSERT ...
// SELECT over the ps_oplog_row index instead, with no sort.
//
// # Errors
//
// A malformed line returns an error wrapping ErrProtocol; the call's
// transaction is rolled back and the iteration ends. Only SQLITE_BUSY and
// SQLITE_LOCKED keep the iteration alive so the event can be retried.
//
// # Hostile input
//
// No line a server sends may crash the process, and a line the engine
// rejects leaves the database as it was. Where the official core takes a
// line, the engine takes it too and does the same with it, except where
// that would leave the database unreadable or silently wrong:
//
//   - Nesting. Values the engine does not read (unknown lines, unknown
//     keys) are skipped whatever their depth, as the core skips them (a
//     10 MB line nested five million levels deep is an unknown line to it).
//     The skip keeps its nesting on a bit stack, not on the goroutine
//     stack. BSON lines are read the same way: values the engine does not
//     read are skipped at any depth (the core's deserializer has no limit
//     either), their nesting kept on a slice of document ends.
//   - Strings that are not UTF-8. In a text line their bytes are stored as
//     they are, in row data, ids, types and bucket names, whether or not
//     the string also has an escape: the core stores the same bytes.
//     Escapes must be well-formed, and a string that is read may not hold
//     a lone surrogate escape (the core rejects both); a skipped one may.
//     BSON strings must be UTF-8, as in the core.
//   - Op ids. The ops of a data line must have increasing op ids, the
//     first above the bucket's last_op; otherwise the line is an
//     ErrProtocol error. The core takes such a line: the bucket's last_op
//     moves back, and a row sent with the lower op id can be missing from
//     its table after a checkpoint that was reported as applied. (When the
//     line is part of a batched run, the whole run is rolled back.) A
//     checkpoint's last_op_id is taken as the core takes it.
//   - Row data. The data of a PUT must be one JSON value that SQLite's
//     JSON functions can read (strict JSON, nested at most 1000 levels);
//     otherwise the line is an ErrProtocol error naming the row. The core
//     stores any string: the checkpoint then fails to apply when the table
//     has an index on a column, and otherwise the row reaches the table and
//     every read of the table's view fails with "malformed JSON".
//
// testdata/trust holds these cases; trust_test.go checks ours, and the
// core's transcripts are kept under testdata/golden.
//
// # API
//
// Besides the Engine's control methods, the package functions below take a
// Querier (they need no iteration). They are the one implementation of each
// rule: the Syncer in package sync calls them, and the differential tests
// replay the core's commands through them.
//
//   - Checkpoint requests: CurrentCheckpointRequestID,
//     SeedCheckpointRequests and AllocateCheckpointRequestID. The core also
//     refuses to allocate before the counter was seeded on the current
//     connection; the Syncer keeps that state itself, and the tests add the
//     check (checkpointreq_test.go).
//   - The local-write gate: TargetCheckpointRequestID and
//     SetTargetCheckpointRequestID; CompleteCrud, WriteCheckpointNeeded and
//     CommitWriteCheckpoint build the upload side on them;
//     UploadsAcknowledged is what Flush waits for.
//   - Subscribe and Unsubscribe are the core's 'subscriptions' command;
//     OfflineStatus is powersync_offline_sync_status.
//
// StreamKey is the element type of StartRequest.ActiveStreams and
// UpdateSubscriptions; raw tables are schema.RawTable values, taken from
// StartRequest.
//
// # Testing
//
// harness_test.go replays line files in the oracle's format (testdata/examples,
// testdata/lines) and random streams (random_test.go, -seed or
// SYNCCORE_SEEDS) through the Engine and through the official core, and
// compares the instruction transcripts and the final database states. The
// core's transcripts are kept under testdata/golden for runs without the
// oracle.
package synccore
