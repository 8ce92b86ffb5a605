// Command powersync inspects and syncs PowerSync SQLite database files.
//
// Install it with
//
//	go install github.com/gopowersync/powersync/cmd/powersync@latest
//
// # Inspection
//
// These commands open a file read-only with plain SQLite (never with the
// powersync driver, which would write its tables and schema) and leave it
// byte-identical; they create no -wal or -shm files next to it. They work on
// files written by this module and by the official SDKs (layout version 14,
// and the older layouts where noted). Each has --json.
//
//	powersync status FILE    last sync per priority, buckets, what is downloaded
//	                         but not applied, upload queue, local-write gate,
//	                         tables, untyped rows, stream subscriptions
//	powersync crud FILE      the upload queue grouped by transaction
//	powersync buckets FILE   buckets with positions, counts and checksums
//	powersync schema FILE    the schema as CREATE TABLE statements or (--json)
//	                         the official schema JSON, reconstructed from the
//	                         views, triggers and indexes
//
// # Syncing
//
//	powersync sync FILE --endpoint URL --token T   sync until Ctrl-C (or --once)
//	    [--stream NAME[:{"param": value}]]...      subscribe to sync streams
//	    [--upload-url URL]                         upload the queue to a backend
//	powersync serve                                a local test service (pstest)
//
// sync prints a line per change of state, the error text of every failed
// connection or upload attempt, and, when stdout is a terminal, a progress
// bar while downloading. Exit status: 0 success, 1 failure (for
// example a missing file, a file that is not a PowerSync database, or a token
// the service rejects), 2 bad command line. Run 'powersync <command> -h' for
// flags and examples.
//
// # Load testing
//
//	powersync load --endpoint URL --clients N      N complete clients in this process
//	    [--scenario steady|storm|churn]            hold, reconnect all at once, or churn
//	    [--upload-url URL --writes-per-min W]      measure fan-out of written markers
//
// load reports initial sync, fan-out, delivery and upload latencies
// (p50/p95/p99/max), errors by kind, reconnects, and its own CPU and memory
// per client.
package main
