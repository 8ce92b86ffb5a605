package attachments

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
)

// Defaults of [Options].
const (
	DefaultConcurrency   = 4
	DefaultMaxArchived   = 100
	DefaultRetryDelay    = time.Second
	DefaultMaxRetryDelay = 5 * time.Minute
	DefaultInterval      = 30 * time.Second
)

// ErrClosed is returned by the methods of a closed [Queue].
var ErrClosed = errors.New("attachments: queue closed")

// ErrNoTable is wrapped by the error of [Open] when the database's schema
// has no attachments table; add [Table] to the schema.
var ErrNoTable = errors.New("attachments: no attachments table in the schema")

// Op is an operation of the queue on the remote storage.
type Op int

const (
	// OpUpload sends a saved file to the remote storage.
	OpUpload Op = iota
	// OpDownload fetches a file another client saved.
	OpDownload
	// OpDelete removes a deleted attachment's file from the remote storage.
	OpDelete
)

// String returns "upload", "download" or "delete".
func (o Op) String() string {
	switch o {
	case OpUpload:
		return "upload"
	case OpDownload:
		return "download"
	case OpDelete:
		return "delete"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Decision is what an [ErrorHandler] decides for a failed operation.
type Decision int

const (
	// Retry tries the operation again after a backoff.
	Retry Decision = iota
	// GiveUp stops trying: a failed upload or download leaves the
	// attachment archived, a failed delete removes the local file and the
	// row (the remote file stays).
	GiveUp
)

// ErrorHandler decides, for an attachment whose operation failed, whether
// to try again. a.Attempts counts the failures before this one. It runs on
// the queue's goroutines and must not block for long.
type ErrorHandler func(ctx context.Context, op Op, a Attachment, err error) Decision

// Options configure a [Queue]. Remote is required.
type Options struct {
	// Remote is where the files are uploaded to and downloaded from.
	Remote RemoteStorage
	// Local holds the files on this device. Nil means a [FileStorage] in
	// the directory of the database file named after it with
	// "-attachments" appended (app.db-attachments for app.db).
	Local LocalStorage
	// Table is the attachments table's name; empty means [DefaultTable].
	// The table must be in the database's schema (see [Table]).
	Table string

	// Watch is a query that yields the ids of the attachments the app's
	// rows reference, in its first column, and optionally a file name in
	// its second (its extension names the local file). It is re-run when
	// the tables it reads change (see package hooks). Referenced ids with
	// no local file are downloaded; attachments no longer referenced are
	// archived. Empty means no downloads and no archiving: only Save and
	// Delete drive the queue.
	//
	//	SELECT photo_id FROM todos WHERE photo_id IS NOT NULL
	Watch string
	// WatchArgs are the arguments of Watch.
	WatchArgs []any
	// NoDownload keeps referenced attachments from being downloaded.
	NoDownload bool

	// Concurrency is the number of uploads, downloads and deletes at once;
	// 0 means DefaultConcurrency.
	Concurrency int
	// MaxArchived is the number of archived attachments whose files are
	// kept, the most recently archived first; the others are removed with
	// their rows. 0 means DefaultMaxArchived; negative keeps none.
	MaxArchived int
	// MaxArchivedBytes also bounds the total size of the kept archived
	// files; 0 means no bound by size.
	MaxArchivedBytes int64

	// RetryDelay is the wait after the first failure of an operation; it
	// doubles with each further failure up to MaxRetryDelay. 0 means
	// DefaultRetryDelay and DefaultMaxRetryDelay.
	RetryDelay, MaxRetryDelay time.Duration
	// Interval is how often the queue looks at its table even when nothing
	// told it to (rows written by other processes); 0 means
	// DefaultInterval.
	Interval time.Duration
	// Throttle is the minimum time between two re-runs of Watch; 0 means
	// hooks.DefaultThrottle.
	Throttle time.Duration
	// OnError decides whether failed operations are retried; nil retries
	// every failure.
	OnError ErrorHandler
	// Logger receives the queue's failures; nil is silent.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Queue keeps the local files and the remote storage in step with an
// attachments table. Its goroutines run from [Open] until [Queue.Close].
type Queue struct {
	db     *sql.DB
	sq     *stmts // prepared statements on db
	opts   Options
	table  string // quoted table name for SQL
	local  LocalStorage
	remote RemoteStorage
	log    *slog.Logger
	now    func() time.Time

	cancel context.CancelFunc
	ctx    context.Context // the queue's own lifetime, ended by Close
	wg     sync.WaitGroup  // the queue's goroutines and workers
	wake   chan struct{}   // capacity 1: something to do
	sem    chan struct{}   // capacity Concurrency: running workers

	// syncMu makes each "query the watched ids, then bring the table in
	// step" one step, so that a set read earlier is never applied after
	// one read later (which would archive ids referenced meanwhile).
	syncMu sync.Mutex

	// fileMu serializes the steps that commit or remove an attachment's
	// local file together with the row write that decides it (Save, a
	// download's commit, a delete's or eviction's removal), so that a file
	// one step just committed is never removed by another acting on an
	// older row.
	fileMu sync.Mutex

	mu         sync.Mutex // guards the fields below
	closed     bool
	watched    map[string]string // referenced id -> file name, from Watch
	watchedVer int               // incremented with each new watched set
	reconciled int               // watchedVer at the last reconcile
	inflight   map[string]*transfer
	subs       map[chan struct{}]struct{} // WatchStatus subscribers
}

// Open starts a queue over db's attachments table. It first removes local
// files no row knows (left by a crash between writing a file and
// committing its row) and repairs rows whose files are gone, then starts
// the queue's goroutines, which run until Close.
func Open(ctx context.Context, db *sql.DB, opts Options) (*Queue, error) {
	if opts.Remote == nil {
		return nil, errors.New("attachments: Options.Remote is nil")
	}
	if opts.Table == "" {
		opts.Table = DefaultTable
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxArchived == 0 {
		opts.MaxArchived = DefaultMaxArchived
	} else if opts.MaxArchived < 0 {
		opts.MaxArchived = 0
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.MaxRetryDelay <= 0 {
		opts.MaxRetryDelay = max(DefaultMaxRetryDelay, opts.RetryDelay)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	q := &Queue{
		db:       db,
		sq:       &stmts{db: db},
		opts:     opts,
		table:    `"` + strings.ReplaceAll(opts.Table, `"`, `""`) + `"`,
		local:    opts.Local,
		remote:   opts.Remote,
		log:      opts.Logger,
		now:      opts.Now,
		wake:     make(chan struct{}, 1),
		sem:      make(chan struct{}, opts.Concurrency),
		inflight: map[string]*transfer{},
		subs:     map[chan struct{}]struct{}{},
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	if q.now == nil {
		q.now = time.Now
	}
	var n int
	err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type IN ('view', 'table') AND name = ?`, opts.Table).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("attachments: open: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("attachments: open: table %q: %w", opts.Table, ErrNoTable)
	}
	if q.local == nil {
		var seq int
		var name, file string
		if err := db.QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
			return nil, fmt.Errorf("attachments: open: %w", err)
		}
		if file == "" {
			return nil, errors.New("attachments: open: the database has no file; set Options.Local")
		}
		q.local = &FileStorage{Dir: filepath.Clean(file) + "-attachments"}
	}
	if err := q.repair(ctx); err != nil {
		return nil, err
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	if opts.Watch != "" {
		q.wg.Add(1)
		go q.watch(q.ctx)
	}
	q.wg.Add(1)
	go q.run(q.ctx)
	return q, nil
}

// Close stops the queue's goroutines and waits for them: transfers under
// way are cancelled and resume when a queue is opened again. Close does not
// close the database.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait()
	q.sq.close()
	return nil
}

// kick wakes the queue's loop without blocking.
func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// File describes a file given to [Queue.Save].
type File struct {
	// ID is the attachment's id; empty means a new random UUID.
	ID string
	// Filename is the file's name; its extension names the local file.
	// Empty means the ID.
	Filename string
	// MediaType is the file's media type, e.g. "image/jpeg".
	MediaType string
	// MetaData is stored with the attachment as given.
	MetaData string
}

// Save stores the content of r as a new attachment and queues its upload.
//
// The file is written to the local storage first (streamed: r is never
// held in memory whole) and made durable; then, in one write transaction,
// the attachment's row is written in state QueuedUpload and link is called
// with the transaction, for the app to reference the attachment from its
// own row (link may be nil):
//
//	a, err := q.Save(ctx, f, attachments.File{Filename: "cat.jpg", MediaType: "image/jpeg"},
//		func(tx *sql.Tx, a attachments.Attachment) error {
//			_, err := tx.ExecContext(ctx, `UPDATE todos SET photo_id = ? WHERE id = ?`, a.ID, todoID)
//			return err
//		})
//
// link runs inside the queue's write transaction, so it must use tx and
// must not call the queue's Save or Delete. If link fails, nothing is saved. A crash after the file is written and
// before the transaction commits leaves a file that the next Open removes;
// after the commit, the upload goes on when a queue is opened again.
//
// Saving an id again replaces its file; when the content is the same as
// that of a synced attachment (same SHA-256), no upload is queued.
func (q *Queue) Save(ctx context.Context, r io.Reader, f File, link func(*sql.Tx, Attachment) error) (Attachment, error) {
	if q.isClosed() {
		return Attachment{}, ErrClosed
	}
	if f.ID == "" {
		f.ID = uuid.NewString()
	}
	if f.Filename == "" {
		f.Filename = f.ID
	}
	key := localKey(f.ID, f.Filename)
	pf, err := q.local.Create(ctx, key)
	if err != nil {
		return Attachment{}, fmt.Errorf("attachments: save %s: %w", f.ID, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(pf, h), ctxReader{ctx, r})
	if err != nil {
		pf.Abort()
		return Attachment{}, fmt.Errorf("attachments: save %s: %w", f.ID, err)
	}
	hash := hex.EncodeToString(h.Sum(nil))

	a := Attachment{
		ID: f.ID, Filename: f.Filename, MediaType: f.MediaType, Size: n, State: QueuedUpload,
		LocalPath: key, MetaData: f.MetaData, Hash: hash,
	}
	// The row is read, the file committed and the row written in one
	// transaction, and fileMu keeps the queue's own file steps out of the
	// way, so the decision below sees the row as the last writer left it.
	q.fileMu.Lock()
	defer q.fileMu.Unlock()
	var prev Attachment
	var found, same, committed bool
	err = driver.WriteTx(ctx, q.db, func(tx *sql.Tx) error {
		var err error
		prev, found, err = q.get(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		same = found && prev.LocalPath == key && prev.Hash == hash && prev.State == Synced
		if same {
			// The same content is stored already: keep the file, relink.
			pf.Abort()
			a = prev
			return q.link(tx, link, a)
		}
		if err := pf.Commit(); err != nil {
			return err
		}
		committed = true
		if err := saveHook(ctx, "file-written"); err != nil {
			return err
		}
		a.Timestamp = q.now()
		return q.write(ctx, tx, a, link)
	})
	if err != nil {
		pf.Abort()
		if committed && (!found || prev.LocalPath != key) {
			q.local.Remove(context.WithoutCancel(ctx), key)
		}
		return Attachment{}, fmt.Errorf("attachments: save %s: %w", f.ID, err)
	}
	if !same && found && prev.LocalPath != "" && prev.LocalPath != key {
		q.local.Remove(ctx, prev.LocalPath)
	}
	if !same {
		q.kick()
	}
	return a, nil
}

// saveHook is called between the steps of Save, for the crash tests.
var saveHook = func(ctx context.Context, step string) error { return nil }

// write writes a whole attachment row and then calls link, when there is
// one, in the same transaction.
func (q *Queue) write(ctx context.Context, tx *sql.Tx, a Attachment, link func(*sql.Tx, Attachment) error) error {
	if err := q.upsert(ctx, tx, a); err != nil {
		return err
	}
	return q.link(tx, link, a)
}

// link calls the app's link function, when there is one.
func (q *Queue) link(tx *sql.Tx, link func(*sql.Tx, Attachment) error, a Attachment) error {
	if link == nil {
		return nil
	}
	return link(tx, a)
}

// upsert writes a whole attachment row. The table is a view, on which
// SQLite has no upsert clause, hence an UPDATE and then, for a new id, an
// INSERT.
func (q *Queue) upsert(ctx context.Context, tx *sql.Tx, a Attachment) error {
	args := []any{millis(a.Timestamp), nullable(a.Filename), nullable(a.LocalPath), nullable(a.MediaType), a.Size,
		int(a.State), a.HasSynced, nullable(a.MetaData), nullable(a.Hash), a.Attempts, millis(a.RetryAt), nullable(a.LastError)}
	res, err := tx.ExecContext(ctx, `UPDATE `+q.table+` SET timestamp = ?, filename = ?, local_uri = ?, media_type = ?,
		size = ?, state = ?, has_synced = ?, meta_data = ?, content_hash = ?, attempts = ?, retry_at = ?, last_error = ?
		WHERE id = ?`, append(args, a.ID)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO `+q.table+` (timestamp, filename, local_uri, media_type, size, state,
		has_synced, meta_data, content_hash, attempts, retry_at, last_error, id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, append(args, a.ID)...)
	return err
}

// Delete queues the deletion of an attachment from the remote storage and
// then locally, and calls link (which may be nil) in the same transaction,
// for the app to drop its reference. Deleting an id this client never had
// still deletes the remote file.
func (q *Queue) Delete(ctx context.Context, id string, link func(*sql.Tx, Attachment) error) error {
	if q.isClosed() {
		return ErrClosed
	}
	err := driver.WriteTx(ctx, q.db, func(tx *sql.Tx) error {
		a, found, err := q.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			a = Attachment{ID: id}
		}
		a.State, a.Timestamp, a.Attempts, a.RetryAt, a.LastError = QueuedDelete, q.now(), 0, time.Time{}, ""
		return q.write(ctx, tx, a, link)
	})
	if err != nil {
		return fmt.Errorf("attachments: delete %s: %w", id, err)
	}
	q.kick()
	return nil
}

// Get returns the attachment of id, and whether there is one.
func (q *Queue) Get(ctx context.Context, id string) (Attachment, bool, error) {
	return q.get(ctx, q.sq, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (q *Queue) get(ctx context.Context, db querier, id string) (Attachment, bool, error) {
	a, err := scanAttachment(db.QueryRowContext(ctx, `SELECT `+columns+` FROM `+q.table+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Attachment{}, false, nil
	}
	if err != nil {
		return Attachment{}, false, fmt.Errorf("attachments: get %s: %w", id, err)
	}
	return a, true, nil
}

// List returns every attachment, oldest change first.
func (q *Queue) List(ctx context.Context) ([]Attachment, error) {
	return q.list(ctx, `SELECT `+columns+` FROM `+q.table+` ORDER BY timestamp, id`)
}

func (q *Queue) list(ctx context.Context, query string, args ...any) ([]Attachment, error) {
	rows, err := q.sq.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("attachments: list: %w", err)
	}
	defer rows.Close()
	var out []Attachment
	for rows.Next() {
		a, err := scanAttachment(rows)
		if err != nil {
			return nil, fmt.Errorf("attachments: list: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attachments: list: %w", err)
	}
	return out, nil
}

// OpenFile opens the local file of an attachment for reading. The error wraps
// ErrNotFound when the attachment has no local file (yet).
func (q *Queue) OpenFile(ctx context.Context, id string) (io.ReadCloser, error) {
	a, found, err := q.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !found || a.LocalPath == "" {
		return nil, fmt.Errorf("attachments: open %s: %w", id, ErrNotFound)
	}
	return q.local.Open(ctx, a.LocalPath)
}

// WaitFor waits until the attachment of id satisfies cond (called with
// found false while there is no row), until ctx ends, and returns it.
func (q *Queue) WaitFor(ctx context.Context, id string, cond func(a Attachment, found bool) bool) (Attachment, error) {
	l, err := hooks.Watcher{Throttle: -1}.Listen(ctx, q.db, q.opts.Table)
	if err != nil {
		return Attachment{}, err
	}
	defer l.Close()
	for {
		a, found, err := q.Get(ctx, id)
		if err != nil {
			return Attachment{}, err
		}
		if cond(a, found) {
			return a, nil
		}
		if _, err := l.Next(ctx); err != nil {
			return Attachment{}, err
		}
	}
}

// InState is a condition for WaitFor: the attachment exists and is in one
// of the states.
func InState(states ...State) func(Attachment, bool) bool {
	return func(a Attachment, found bool) bool {
		for _, s := range states {
			if found && a.State == s {
				return true
			}
		}
		return false
	}
}

// Gone is a condition for WaitFor: the attachment has no row.
func Gone(_ Attachment, found bool) bool { return !found }

// RetryNow makes every failed operation due at once, e.g. when the app
// knows the network is back.
func (q *Queue) RetryNow(ctx context.Context) error {
	if q.isClosed() {
		return ErrClosed
	}
	_, err := q.sq.ExecContext(ctx, `UPDATE `+q.table+` SET retry_at = 0 WHERE state IN (0, 1, 2) AND retry_at > 0`)
	if err != nil {
		return fmt.Errorf("attachments: retry: %w", err)
	}
	q.kick()
	return nil
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// Refresh runs the Watch query now and brings the table in step with the
// ids it yields, without waiting for the watch to notice a change: after a
// sync applied rows that reference new attachments, their downloads are
// queued when Refresh returns.
func (q *Queue) Refresh(ctx context.Context) error {
	if q.isClosed() {
		return ErrClosed
	}
	if q.opts.Watch == "" {
		return nil
	}
	if err := q.syncWatched(ctx); err != nil {
		return fmt.Errorf("attachments: refresh: %w", err)
	}
	q.kick()
	return nil
}

// syncWatched runs the Watch query and brings the table in step with the
// ids it yields, as one step (see syncMu).
func (q *Queue) syncWatched(ctx context.Context) error {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	ids, err := q.queryWatched(ctx)
	if err != nil {
		return err
	}
	return q.reconcile(ctx, ids)
}

// queryWatched runs the Watch query once.
func (q *Queue) queryWatched(ctx context.Context) (map[string]string, error) {
	rows, err := q.db.QueryContext(ctx, q.opts.Watch, q.opts.WatchArgs...)
	if err != nil {
		return nil, fmt.Errorf("attachments: watch query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("attachments: watch query: %w", err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	ids := map[string]string{}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("attachments: watch query: %w", err)
		}
		id := text(vals[0])
		if id == "" {
			continue
		}
		name := ""
		if len(vals) > 1 {
			name = text(vals[1])
		}
		ids[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("attachments: watch query: %w", err)
	}
	return ids, nil
}

// WaitIdle refreshes the queue (see Refresh) and waits until no attachment
// is queued for upload, download or delete and no transfer runs, until ctx
// ends. While the remote storage fails, that is until ctx ends.
func (q *Queue) WaitIdle(ctx context.Context) error {
	if err := q.Refresh(ctx); err != nil {
		return err
	}
	for st, err := range q.WatchStatus(ctx) {
		if err != nil {
			return err
		}
		if st.Pending() == 0 && len(st.Transfers) == 0 {
			return nil
		}
	}
	return ctx.Err()
}
