// Package attachments syncs files (photos, documents, recordings) beside
// the rows of a PowerSync database, as the official SDKs' attachment
// helpers do.
//
// Files are not put in synced rows. A row references a file by an id (for
// example todos.photo_id), and a [Queue] keeps a local-only attachments
// table, the files on this device ([LocalStorage]) and the files in a
// remote storage ([RemoteStorage]) in step with the ids the app's rows
// reference.
//
// # Setup
//
// Add the attachments table to the schema and open a queue with a remote
// storage and a query yielding the referenced ids:
//
//	s := schema.New(todos, attachments.Table(""))
//	db := sql.OpenDB(must(driver.NewConnector("app.db", driver.WithSchema(s))))
//	q, err := attachments.Open(ctx, db, attachments.Options{
//		Remote: remote, // s3.New(...), &attachments.HTTPStorage{...}, your own
//		Watch:  `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
//	})
//	defer q.Close()
//
// Files live in a directory beside the database (app.db-attachments) unless
// Options.Local says otherwise. The S3-compatible storage is in the nested
// module github.com/gopowersync/powersync/attachments/s3, so that its
// client library is built only by programs that use it; [HTTPStorage]
// sends requests that the app's backend signs, with net/http alone;
// [DirRemote] keeps the remote files in a directory (development, tests,
// a shared network file system).
//
// # Life of an attachment
//
// An attachment is in one [State]:
//
//   - [Queue.Save] writes the file locally at once and, in one transaction
//     with the app's own write (its link function), records it as
//     QueuedUpload; the upload follows, and the attachment is Synced;
//   - an id that the Watch query yields and this device does not have is
//     recorded as QueuedDownload, downloaded and Synced;
//   - an id no longer yielded is Archived: its file stays (a row may come
//     back, as after an undo) until the cache limits (Options.MaxArchived,
//     Options.MaxArchivedBytes) remove the oldest archived files;
//   - [Queue.Delete] records QueuedDelete, with the app's write in the same
//     transaction; the remote file is deleted, then the local one and the
//     row.
//
// The other clients of the same data learn of a new attachment through
// the synced row that references it, and download it; of a deleted one
// through the row that no longer does, and archive it.
//
// # Failures, offline and crashes
//
// A failed upload, download or delete is retried after a backoff
// (Options.RetryDelay, doubling up to Options.MaxRetryDelay), for as long
// as Options.OnError says to: offline, a queue keeps its work and does it
// when the storage answers again ([Queue.RetryNow] tries at once). A
// download of a file that is not uploaded yet fails with [ErrNotFound] and
// is retried the same way.
//
// Nothing is lost when the process dies at any point. Save makes the file
// durable (written to a temporary name, synced, renamed) before the
// transaction that records it commits; a file whose row never committed is
// removed by the next [Open], which also downloads again the files of
// synced attachments that went missing. Uploads and downloads left half
// done start over; an upload that finished but was not recorded is
// recognised by its content hash when the storage implements
// [HashStorage], and not repeated.
//
// # Beyond the official helpers
//
//   - Progress: [Queue.Transfers] and [Queue.WatchStatus] report the bytes
//     moved by each transfer under way, and the counts by state.
//   - Content hashes: every file's SHA-256 is kept ([Attachment.Hash]);
//     saving content identical to a synced attachment queues nothing, and a
//     [HashStorage] skips uploads of content it already holds.
//   - Streaming: files are never held in memory whole, in Save, uploads or
//     downloads; memory stays bounded by Options.Concurrency buffers
//     whatever the number and size of the files.
//   - Atomic links: Save and Delete take the app's write as a function run
//     in the same transaction, so a row never references an attachment the
//     device has not recorded.
//
// # Lifetimes
//
// A Queue's goroutines (its loop, the Watch query and at most
// Options.Concurrency transfers) run from Open until [Queue.Close], which
// cancels transfers under way and waits for them; nothing runs after it.
// Every method takes a context and stops when it ends. Failures are
// logged to Options.Logger, silent by default. One queue per attachments
// table and database file is supported at a time.
package attachments
