package sync

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// uploadLoop runs the connector's UploadData whenever the upload queue
// changes, at connect, after the first line of every connection, and after
// the retry delay while an upload keeps failing. One run at a time.
func (s *Syncer) uploadLoop(ctx context.Context, sess *session) {
	var feedC <-chan struct{}
	feed, err := s.o.changes(ctx, s.db)
	if err != nil {
		s.log.Warn("powersync: cannot watch the upload queue; uploading only on (re)connect", "error", err)
	} else if feed != nil {
		defer feed.Close()
		feedC = feed.C()
	}
	sess.kickUpload() // upload at connect
	for {
		select {
		case <-ctx.Done():
			return
		case <-sess.uploadKick:
		case <-feedC:
			if _, ok := feed.Take()["ps_crud"]; !ok {
				continue
			}
		}
		if s.o.uploadThrottle > 0 {
			if s.o.sleep(ctx, s.o.uploadThrottle) != nil {
				return
			}
		}
		// Writes during the throttle window are covered by this run.
		select {
		case <-sess.uploadKick:
		default:
		}
		if feed != nil {
			feed.Take()
		}
		s.uploadAll(ctx, sess)
	}
}

// uploadAll uploads until the queue is empty, then replaces the write gate
// with a concrete write checkpoint and tells the state machine
// (docs/upload.md, "The loop"). Errors are recorded in the status
// and retried after the retry delay, also when no new write happens.
func (s *Syncer) uploadAll(ctx context.Context, sess *session) {
	defer s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploading = false })
	checked := int64(-1)
	for ctx.Err() == nil {
		err := s.uploadStep(ctx, sess, &checked)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			return
		}
		err = s.redact(err)
		checked = -1
		s.log.Warn("powersync: upload failed; retrying after the retry delay", "error", err)
		s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploadError, sdk.uploading = err, false })
		if s.o.sleep(ctx, s.o.jitter(s.o.retryDelay)) != nil {
			return
		}
	}
}

// uploadStep calls UploadData while entries remain and finishes with the
// write checkpoint. It returns nil when done.
func (s *Syncer) uploadStep(ctx context.Context, sess *session, checked *int64) error {
	for ctx.Err() == nil {
		var head int64
		err := s.db.QueryRowContext(ctx, `SELECT id FROM ps_crud ORDER BY id ASC LIMIT 1`).Scan(&head)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := s.updateLocalTarget(ctx, sess); err != nil {
				return pserr.Errorf("powersync: create write checkpoint: %w", err)
			}
			// The upload round is complete: an error of an earlier attempt
			// (e.g. a failed write checkpoint request) no longer applies.
			s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploadError = nil })
			// Always tell the state machine: a checkpoint blocked by the
			// local writes may be applicable now.
			sess.post(func() { sess.evUpload = true })
			return nil
		}
		if err != nil {
			return pserr.Errorf("powersync: read upload queue: %w", err)
		}
		s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploading = true })
		if head == *checked {
			s.log.Warn("powersync: UploadData returned but the oldest upload queue entry is still queued; call Complete after uploading", "entry", head)
			return ErrIncompleteUpload
		}
		*checked = head
		err = s.callUploadBounded(ctx)
		var perm *PermanentError
		if errors.As(err, &perm) {
			if rerr := s.rejectPermanent(ctx, perm, head); rerr != nil {
				return rerr
			}
			*checked = -1
			continue
		}
		if err != nil {
			return pserr.Errorf("powersync: upload: %w", err)
		}
		s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploadError = nil })
	}
	return ctx.Err()
}

// rejectPermanent sets aside the entries a permanent error names (or the
// oldest entry when it names none).
func (s *Syncer) rejectPermanent(ctx context.Context, perm *PermanentError, head int64) error {
	entries := perm.Entries
	if len(entries) == 0 {
		entries = []CrudEntry{{ClientID: head}}
	}
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ClientID
	}
	s.log.Warn("powersync: backend rejected upload entries permanently; set aside", "entries", ids, "reason", perm.Err)
	return RejectCrud(ctx, s.db, perm.Err, entries...)
}

// callUploadBounded calls UploadData with a context that ends after the
// upload timeout. When the timeout passes, the status shows an
// ErrUploadTimeout upload error at once, even while an UploadData that
// ignores its context is still running (the loop waits for it to return:
// never two at once).
func (s *Syncer) callUploadBounded(ctx context.Context) error {
	d := s.o.uploadTimeout
	if d <= 0 {
		return callUpload(ctx, s.conn, s.db)
	}
	timedOut := uploadTimeout(d, nil)
	_, late, err := callWithin(ctx, timedOut, func() {
		s.log.Warn("powersync: UploadData did not return within the upload timeout; its context is cancelled", "timeout", d)
		s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.uploadError = timedOut })
	}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, callUpload(ctx, s.conn, s.db)
	})
	if late && err != nil {
		return uploadTimeout(d, err)
	}
	return err // nil when it finished after all
}

// uploadTimeout is the error of an UploadData that did not return within d.
func uploadTimeout(d time.Duration, err error) *callTimeoutError {
	return &callTimeoutError{call: "powersync: UploadData", setting: "upload timeout", is: ErrUploadTimeout, d: d, err: err}
}
