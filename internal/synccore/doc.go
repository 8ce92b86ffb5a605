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
// # API
//
// Besides the Engine's control methods: StreamKey is the element type of
// StartRequest.ActiveStreams and UpdateSubscriptions; raw tables are
// schema.RawTable values, taken from StartRequest;
// CurrentCheckpointRequestID, TargetCheckpointRequestID and
// SetTargetCheckpointRequestID are package functions taking a Querier (they
// need no iteration); CompleteCrud, WriteCheckpointNeeded and
// CommitWriteCheckpoint implement the upload side's gate handling;
// Subscribe and Unsubscribe are the core's 'subscriptions' command;
// OfflineStatus is powersync_offline_sync_status. SeedCheckpointRequestID
// and NextCheckpointRequestID are Engine methods (they need the iteration).
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
