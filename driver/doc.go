// Package driver is the "powersync" database/sql driver: a local SQLite
// database (modernc.org/sqlite, pure Go) laid out as the official PowerSync
// SDKs lay it out, so that a PowerSync Service can sync it and every local
// write is queued for upload.
//
// Importing the package registers the driver:
//
//	import _ "github.com/gopowersync/powersync/driver"
//
//	driver.RegisterSchema("app", appSchema)
//	db, err := sql.Open("powersync", "app.db?_powersync_schema=app")
//
// or, with options and no global registration:
//
//	c, err := driver.NewConnector("app.db", driver.WithSchema(appSchema))
//	db := sql.OpenDB(c)
//
// sqlx, GORM and any other database/sql code work on that *sql.DB unchanged.
//
// # Tables are views
//
// Each table of the schema (see package schema) is a view over a storage
// table ("ps_data__todos") that keeps the row as JSON. INSERT, UPDATE and
// DELETE on the view go through INSTEAD OF triggers that write the storage
// table and append an entry to the upload queue (ps_crud) in the same
// transaction, exactly as the official core records it: the same JSON, the
// same transaction ids, the same local-write gate in ps_kv. Consequences a
// user sees:
//
//   - RowsAffected is correct for writes through views (SQLite itself reports
//     0 for INSTEAD OF triggers; the driver counts the rows the triggers wrote).
//   - LastInsertId is meaningless for views: ids are text (use uuid()).
//   - ALTER TABLE and CREATE TABLE for schema tables are not how tables change:
//     pass a new schema to UpdateSchema. Rows are never lost by a schema change;
//     rows of a table that leaves the schema are kept aside and return with it.
//   - UPSERT (INSERT ... ON CONFLICT) is not supported on views by SQLite
//     ("cannot UPSERT a view", as with the official core); use INSERT OR
//     IGNORE followed by UPDATE.
//   - INSERT OR IGNORE of an id that already exists leaves the row as it is
//     and queues nothing. The official core (0.5.3) queues a PUT of only the
//     columns the statement names, which replaces the whole row on the
//     server, losing its other columns; this driver deliberately differs.
//   - INSERT OR REPLACE of an existing id replaces the whole row, locally and
//     on the server: columns the statement does not name become NULL, and the
//     PUT queued holds only the named ones (as with the core).
//   - Other conflict clauses (UPDATE OR ROLLBACK, INSERT OR FAIL, ...) apply
//     to the row written, never to the upload bookkeeping, as in the core.
//   - Columns are TEXT, INTEGER or REAL, as in the official SDKs. A time.Time
//     argument is written as text in modernc.org/sqlite's format (Go's
//     Time.String unless the DSN sets _time_format) and reads back as a
//     string, not a time.Time. Store times as RFC 3339 text you format and
//     parse yourself, or as integer Unix times.
//   - NaN and ±Inf cannot be written to a column: rows are JSON, which has
//     neither. A write through a view with such an argument fails with an
//     error wrapping ErrNonFinite, and a literal infinity (1e999) fails in
//     powersync_diff with "out of range". The official core stores a NaN
//     argument as NULL without a word (SQLite does so when it binds NaN) and
//     fails on ±Inf with "number out of range"; this driver refuses NaN too.
//     Statements that write no view keep SQLite's behaviour.
//
// # Connections
//
// Every connection uses WAL journaling, a 5 s busy timeout, BEGIN IMMEDIATE
// for write transactions, a 16 MiB page cache, in-memory temporary storage
// and a WAL checkpoint once the WAL holds 10000 pages (about 40 MiB),
// unless the DSN sets these itself with modernc's own parameters
// (_pragma=..., _txlock=...), which all keep working. The checkpoint
// threshold is ten times SQLite's default because a sync writes pages all
// over the oplog's indexes: at 1000 pages, an application's write during a
// large sync would copy the sync's recent pages into the database file
// each time it commits.
//
// # Writers wait for their turn
//
// The writers of one database file in this process (every *sql.DB opened on
// it, and the sync client, which writes through this driver too) take turns,
// as the official SDKs queue writes behind one write connection: a writer
// waits until the one before it is done, for as long as its context allows,
// and never fails with SQLITE_BUSY because of another writer of this
// process. The busy timeout only matters for writers in other processes.
//
//   - A write transaction (BeginTx, WriteTx) waits at its BEGIN, until ctx
//     ends, and holds the turn until it commits or rolls back, or its
//     connection is closed. A wait that ends with ctx returns ctx.Err().
//   - A write outside a transaction (Exec of INSERT, UPDATE, DELETE, DDL, a
//     RETURNING query) waits before it runs and holds the turn until it is
//     done. Reads never wait, and never make a writer wait (WAL).
//   - A transaction begun with a BEGIN or SAVEPOINT statement on a sql.Conn
//     counts as a write transaction from that statement to its end.
//   - Inside a write transaction, write through its *sql.Tx only: a write
//     through the *sql.DB (another connection) from the goroutine holding the
//     transaction waits for that transaction, until its context ends. With
//     SetMaxOpenConns, waiting writers hold pool connections: a transaction
//     that needs a second connection of a full pool waits for them.
//
// A transaction opened with sql.TxOptions{ReadOnly: true} (ReadTx) is a
// plain deferred BEGIN that takes no turn; a write in it fails with an error
// wrapping ErrReadOnly and queues nothing.
//
// # Read-only databases
//
// With mode=ro in the DSN ("app.db?mode=ro" or "file:app.db?mode=ro") the
// file is opened read-only: it must already be a PowerSync database; nothing
// is created, migrated or applied (the schema option is not applied: the
// views are those the file has), every transaction is a read transaction,
// and writes fail with an error wrapping ErrReadOnly. A file whose
// permissions allow no writing can be opened this way.
//
// The first connection to a file creates the internal tables at layout version
// 14 (the official core 0.5.x layout) or upgrades a file written by an older
// official SDK (layout 9 to 13), then applies the schema. A file at a layout
// this driver cannot use is refused with an error wrapping ErrLayout; it is
// never changed silently.
//
// # Opening a file twice
//
// Several *sql.DB values in one process may open the same file: they share one
// change hub (so a watcher on one sees writes made through another) and the
// file's client id. Each applies its own schema when it first connects; the
// last applied schema is the one the file has. An in-memory database
// (":memory:") is private to each connection, as in SQLite; use a file, or
// "file:name?mode=memory&cache=shared", to share one between connections.
//
// # SQL functions
//
// Every connection has the functions the official core registers for
// applications and triggers: uuid(), gen_random_uuid(), powersync_diff,
// powersync_json_merge, powersync_strip_subtype, powersync_client_id(),
// powersync_in_sync_operation() and powersync_rs_version(), plus the helpers
// the generated triggers use to record uploads (powersync_crud_entry,
// powersync_tx_claim, powersync_tx_id, powersync_crud_kept,
// powersync_gate_once).
//
// # Change notifications
//
// HubOf returns the database's Hub, which reports the tables each committed
// transaction changed, after the commit has returned and never for a
// rollback. Package hooks builds table-change listeners and live queries on it.
package driver
