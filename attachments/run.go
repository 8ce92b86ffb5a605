package attachments

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
)

// repair removes local files no row knows and fixes rows whose local file
// is gone. It runs in Open before any goroutine.
func (q *Queue) repair(ctx context.Context) error {
	keys, err := q.local.Keys(ctx)
	if err != nil {
		return fmt.Errorf("attachments: open: %w", err)
	}
	all, err := q.List(ctx)
	if err != nil {
		return err
	}
	known := make(map[string]bool, len(all))
	for _, a := range all {
		if a.LocalPath != "" {
			known[a.LocalPath] = true
		}
	}
	for _, k := range keys {
		if !known[k] {
			q.log.Info("attachments: removing a file no attachment knows", "key", k)
			if err := q.local.Remove(ctx, k); err != nil {
				return fmt.Errorf("attachments: open: %w", err)
			}
		}
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[k] = true
	}
	return driver.WriteTx(ctx, q.db, func(tx *sql.Tx) error {
		for _, a := range all {
			if a.LocalPath == "" || present[a.LocalPath] {
				continue
			}
			var err error
			switch a.State {
			case Synced:
				// The file was lost: fetch it again.
				_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 1, local_uri = NULL WHERE id = ?`, a.ID)
			case Archived:
				_, err = tx.ExecContext(ctx, `DELETE FROM `+q.table+` WHERE id = ?`, a.ID)
			case QueuedUpload:
				q.log.Warn("attachments: the local file of a queued upload is gone", "id", a.ID)
				_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 4, local_uri = NULL, last_error = 'local file missing' WHERE id = ?`, a.ID)
			default:
				_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET local_uri = NULL WHERE id = ?`, a.ID)
			}
			if err != nil {
				return fmt.Errorf("attachments: open: repair %s: %w", a.ID, err)
			}
		}
		return nil
	})
}

// watch runs the app's Watch query and hands each id set to the loop.
func (q *Queue) watch(ctx context.Context) {
	defer q.wg.Done()
	w := hooks.Watcher{Throttle: q.opts.Throttle}
	for res, err := range w.Watch(ctx, q.db, q.opts.Watch, q.opts.WatchArgs...) {
		if err != nil {
			q.log.Error("attachments: watch query", "err", err)
			continue
		}
		ids := make(map[string]string, len(res.Rows))
		for _, row := range res.Rows {
			id := text(row[res.Columns[0]])
			if id == "" {
				continue
			}
			name := ""
			if len(res.Columns) > 1 {
				name = text(row[res.Columns[1]])
			}
			ids[id] = name
		}
		q.mu.Lock()
		q.watched = ids
		q.watchedVer++
		q.mu.Unlock()
		q.kick()
	}
}

func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// run is the queue's loop: after each wake-up, a timer or the interval it
// brings the table in step with the watched ids, removes archived files
// past the cache limits and starts the operations that are due.
func (q *Queue) run(ctx context.Context) {
	defer q.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastFull := time.Time{}
	for {
		full := q.now().Sub(lastFull) >= q.opts.Interval
		if full {
			lastFull = q.now()
		}
		next, err := q.pass(ctx, full)
		if err != nil && ctx.Err() == nil {
			q.log.Error("attachments: queue pass", "err", err)
			next = q.now().Add(q.opts.RetryDelay)
		}
		d := q.opts.Interval
		if !next.IsZero() {
			d = min(d, max(next.Sub(q.now()), time.Millisecond))
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// pass does one round of the loop's work and returns when it wants to run
// again (zero: no retry is waiting).
func (q *Queue) pass(ctx context.Context, full bool) (time.Time, error) {
	q.mu.Lock()
	watched, ver := q.watched, q.watchedVer
	doReconcile := watched != nil && (full || ver != q.reconciled)
	q.mu.Unlock()
	if doReconcile {
		// The watch's set only says that something changed: the ids are
		// read again here, so that a set older than one a Refresh applied
		// meanwhile is never applied after it.
		if err := q.syncWatched(ctx); err != nil {
			return time.Time{}, err
		}
		q.mu.Lock()
		q.reconciled = ver
		q.mu.Unlock()
		if err := q.evict(ctx); err != nil {
			return time.Time{}, err
		}
	}
	return q.dispatch(ctx)
}

// reconcile queues downloads for referenced ids, brings back archived ones
// referenced again and archives those no longer referenced.
func (q *Queue) reconcile(ctx context.Context, watched map[string]string) error {
	return driver.WriteTx(ctx, q.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, coalesce(state, 0), coalesce(local_uri, '') FROM `+q.table)
		if err != nil {
			return err
		}
		type row struct {
			state State
			local string
		}
		have := map[string]row{}
		for rows.Next() {
			var id string
			var r row
			if err := rows.Scan(&id, &r.state, &r.local); err != nil {
				rows.Close()
				return err
			}
			have[id] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		now := millis(q.now())
		for id, name := range watched {
			r, ok := have[id]
			switch {
			case !ok && !q.opts.NoDownload:
				if name == "" {
					name = id
				}
				_, err = tx.ExecContext(ctx, `INSERT INTO `+q.table+` (id, timestamp, filename, state, size, has_synced, attempts, retry_at)
					VALUES (?, ?, ?, 1, 0, 0, 0, 0)`, id, now, name)
			case ok && r.state == Archived && r.local != "":
				_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 3, timestamp = ? WHERE id = ?`, now, id)
			case ok && r.state == Archived && !q.opts.NoDownload:
				_, err = tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 1, timestamp = ?, attempts = 0, retry_at = 0, last_error = NULL WHERE id = ?`, now, id)
			}
			if err != nil {
				return err
			}
		}
		for id, r := range have {
			if _, ok := watched[id]; ok || (r.state != Synced && r.state != QueuedDownload) {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE `+q.table+` SET state = 4, timestamp = ? WHERE id = ?`, now, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// evict removes the archived attachments past the cache limits, the
// oldest archived first.
func (q *Queue) evict(ctx context.Context) error {
	archived, err := q.list(ctx, `SELECT `+columns+` FROM `+q.table+` WHERE state = 4 ORDER BY timestamp DESC, id`)
	if err != nil {
		return err
	}
	var kept int
	var bytes int64
	for _, a := range archived {
		if kept < q.opts.MaxArchived && (q.opts.MaxArchivedBytes == 0 || bytes+a.Size <= q.opts.MaxArchivedBytes) {
			kept++
			bytes += a.Size
			continue
		}
		if err := q.evictOne(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// evictOne removes an archived attachment's row and then its file.
func (q *Queue) evictOne(ctx context.Context, a Attachment) error {
	err := q.removeRowAndFile(ctx, a, Archived)
	var fe fileError
	if errors.As(err, &fe) {
		q.log.Warn("attachments: evict", "id", a.ID, "err", fe.err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("attachments: evict %s: %w", a.ID, err)
	}
	return nil
}

// removeRowAndFile deletes a's row while it is in state st and then, when
// the row was there, its local file, under fileMu (see Queue.fileMu). A
// failed file removal is a fileError.
func (q *Queue) removeRowAndFile(ctx context.Context, a Attachment, st State) error {
	q.fileMu.Lock()
	defer q.fileMu.Unlock()
	res, err := q.sq.ExecContext(ctx, `DELETE FROM `+q.table+` WHERE id = ? AND state = ?`, a.ID, int(st))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 && a.LocalPath != "" {
		if err := q.local.Remove(ctx, a.LocalPath); err != nil {
			return fileError{err}
		}
	}
	return nil
}

// fileError is a local file's removal failing after its row was deleted.
type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }
func (e fileError) Unwrap() error { return e.err }

// dispatch starts the due operations, as many as there are free workers:
// of each queued state, the rows due longest, in turn.
func (q *Queue) dispatch(ctx context.Context) (time.Time, error) {
	now := millis(q.now())
	q.mu.Lock()
	busy := len(q.inflight)
	q.mu.Unlock()
	free := q.opts.Concurrency - busy
	states := []State{QueuedDelete, QueuedUpload, QueuedDownload}
	if q.opts.NoDownload {
		states = states[:2]
	}
	var next time.Time
	var due [][]Attachment
	for _, st := range states {
		if free > 0 {
			// The index on (state, retry_at) makes this a range scan.
			list, err := q.list(ctx, `SELECT `+columns+` FROM `+q.table+` WHERE state = ? AND retry_at <= ?
				ORDER BY retry_at LIMIT ?`, int(st), now, free+busy)
			if err != nil {
				return time.Time{}, err
			}
			due = append(due, list)
		}
		var later sql.NullInt64
		err := q.sq.QueryRowContext(ctx, `SELECT min(retry_at) FROM `+q.table+` WHERE state = ? AND retry_at > ?`, int(st), now).Scan(&later)
		if err != nil {
			return time.Time{}, fmt.Errorf("attachments: %w", err)
		}
		if t := fromMillis(later.Int64); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for i := 0; free > 0; i++ {
		any := false
		for _, list := range due {
			if i < len(list) {
				any = true
				if free > 0 && q.start(ctx, list[i]) {
					free--
				}
			}
		}
		if !any {
			break
		}
	}
	return next, nil
}

// start runs the operation of a in a worker unless one runs for its id.
func (q *Queue) start(ctx context.Context, a Attachment) bool {
	op := map[State]Op{QueuedUpload: OpUpload, QueuedDownload: OpDownload, QueuedDelete: OpDelete}[a.State]
	t := &transfer{id: a.ID, op: op}
	t.total.Store(a.Size)
	q.mu.Lock()
	if _, ok := q.inflight[a.ID]; ok {
		q.mu.Unlock()
		return false
	}
	q.inflight[a.ID] = t
	q.mu.Unlock()
	q.notify()
	q.sem <- struct{}{} // never blocks: free counts the empty slots
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		defer func() {
			<-q.sem
			q.mu.Lock()
			delete(q.inflight, a.ID)
			q.mu.Unlock()
			q.notify()
			q.kick()
		}()
		q.work(ctx, t, a)
	}()
	return true
}

// work runs one operation and records its outcome.
func (q *Queue) work(ctx context.Context, t *transfer, a Attachment) {
	// The row may have changed since dispatch read it (an earlier attempt
	// that ended meanwhile): go on only if it is still due as read.
	cur, found, err := q.Get(ctx, a.ID)
	if err != nil || !found || cur.State != a.State || cur.Attempts != a.Attempts || cur.RetryAt.After(q.now()) {
		return
	}
	a = cur
	switch t.op {
	case OpUpload:
		err = q.upload(ctx, t, a)
	case OpDownload:
		err = q.download(ctx, t, a)
	case OpDelete:
		err = q.delete(ctx, a)
	}
	if err == nil || ctx.Err() != nil {
		return
	}
	q.fail(ctx, t.op, a, err)
}

// bookkeeping returns a context for the row update after an operation: it
// is not cancelled by Close, so that a finished transfer is recorded.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func (q *Queue) upload(ctx context.Context, t *transfer, a Attachment) error {
	skip := false
	if hs, ok := q.remote.(HashStorage); ok && a.Hash != "" {
		h, err := hs.RemoteHash(ctx, a)
		skip = err == nil && h == a.Hash
	}
	if !skip {
		f, err := q.local.Open(ctx, a.LocalPath)
		if errors.Is(err, ErrNotFound) {
			return giveUp{fmt.Errorf("local file missing: %w", err)}
		}
		if err != nil {
			return err
		}
		err = q.remote.Upload(ctx, a, &countingReader{r: ctxReader{ctx, f}, n: &t.done, notify: q.notify})
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := uploadHook(ctx, a); err != nil {
		return err
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	_, err := q.sq.ExecContext(bctx, `UPDATE `+q.table+` SET state = 3, has_synced = 1, attempts = 0, retry_at = 0,
		last_error = NULL, timestamp = ? WHERE id = ? AND state = 0 AND coalesce(content_hash, '') = ?`, millis(q.now()), a.ID, a.Hash)
	if err != nil {
		return fmt.Errorf("attachments: upload %s: %w", a.ID, err)
	}
	return nil
}

// uploadHook is called after an upload before its row is updated, for the
// crash tests.
var uploadHook = func(ctx context.Context, a Attachment) error { return nil }

func (q *Queue) download(ctx context.Context, t *transfer, a Attachment) error {
	key := localKey(a.ID, a.Filename)
	pf, err := q.local.Create(ctx, key)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countingWriter{w: pf, h: h, n: &t.done, notify: q.notify}
	if err := q.remote.Download(ctx, a, cw); err != nil {
		pf.Abort()
		return err
	}
	q.fileMu.Lock()
	defer q.fileMu.Unlock()
	if err := pf.Commit(); err != nil {
		return err
	}
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	// A media type or file name the storage reported fills in what the
	// row lacks (a downloaded attachment's file name is its id).
	res, err := q.sq.ExecContext(bctx, `UPDATE `+q.table+` SET local_uri = ?, size = ?, content_hash = ?, has_synced = 1,
		attempts = 0, retry_at = 0, last_error = NULL, timestamp = ?, state = CASE state WHEN 1 THEN 3 ELSE state END,
		media_type = CASE WHEN coalesce(media_type, '') = '' AND ? != '' THEN ? ELSE media_type END,
		filename = CASE WHEN coalesce(filename, '') IN ('', id) AND ? != '' THEN ? ELSE filename END
		WHERE id = ? AND state IN (1, 4)`, key, cw.size, hex.EncodeToString(h.Sum(nil)), millis(q.now()),
		cw.mediaType, cw.mediaType, cw.filename, cw.filename, a.ID)
	if err != nil {
		q.local.Remove(bctx, key)
		return fmt.Errorf("attachments: download %s: %w", a.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		q.local.Remove(bctx, key) // deleted meanwhile
	}
	return nil
}

func (q *Queue) delete(ctx context.Context, a Attachment) error {
	if err := q.remote.Delete(ctx, a); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return q.dropRow(ctx, a)
}

// dropRow removes a queued delete's row and then its local file.
func (q *Queue) dropRow(ctx context.Context, a Attachment) error {
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	err := q.removeRowAndFile(bctx, a, QueuedDelete)
	var fe fileError
	if err != nil && !errors.As(err, &fe) {
		return fmt.Errorf("attachments: delete %s: %w", a.ID, err)
	}
	return err
}

// giveUp marks an error no retry can fix.
type giveUp struct{ error }

func (g giveUp) Unwrap() error { return g.error }

// fail records a failed operation: a retry after a backoff, or giving up.
func (q *Queue) fail(ctx context.Context, op Op, a Attachment, err error) {
	decision := Retry
	var g giveUp
	if errors.As(err, &g) {
		decision = GiveUp
	} else if q.opts.OnError != nil {
		decision = q.opts.OnError(ctx, op, a, err)
	}
	q.log.Warn("attachments: "+op.String()+" failed", "id", a.ID, "attempts", a.Attempts+1, "err", err, "give_up", decision == GiveUp)
	bctx, cancel := bookkeeping(ctx)
	defer cancel()
	var dberr error
	switch {
	case decision == GiveUp && op == OpDelete:
		dberr = q.dropRow(ctx, a)
	case decision == GiveUp:
		_, dberr = q.sq.ExecContext(bctx, `UPDATE `+q.table+` SET state = 4, attempts = attempts + 1, last_error = ?, timestamp = ?
			WHERE id = ? AND state = ?`, err.Error(), millis(q.now()), a.ID, int(a.State))
	default:
		retry := q.now().Add(q.backoff(a.Attempts + 1))
		_, dberr = q.sq.ExecContext(bctx, `UPDATE `+q.table+` SET attempts = coalesce(attempts, 0) + 1, retry_at = ?, last_error = ?
			WHERE id = ? AND state = ?`, millis(retry), err.Error(), a.ID, int(a.State))
	}
	if dberr != nil {
		q.log.Error("attachments: record failure", "id", a.ID, "err", dberr)
	}
}

// backoff is the wait before attempt n+1 after n failures: RetryDelay
// doubled per failure, capped at MaxRetryDelay, with up to a quarter less
// at random so that many failures do not retry in step.
func (q *Queue) backoff(n int) time.Duration {
	d := q.opts.RetryDelay
	for i := 1; i < n && d < q.opts.MaxRetryDelay; i++ {
		d *= 2
	}
	d = min(d, q.opts.MaxRetryDelay)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

type countingReader struct {
	r      io.Reader
	n      interface{ Add(int64) int64 }
	notify func()
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.notify()
	}
	return n, err
}

type countingWriter struct {
	w      io.Writer
	h      hash.Hash
	size   int64
	n      interface{ Add(int64) int64 }
	notify func()

	mediaType, filename string // reported by the storage
}

// SetFileInfo implements [FileInfoWriter].
func (c *countingWriter) SetFileInfo(mediaType, filename string) {
	c.mediaType, c.filename = mediaType, filename
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.size += int64(n)
	c.n.Add(int64(n))
	c.notify()
	return n, err
}
