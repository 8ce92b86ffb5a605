package sync

import (
	"context"
	"errors"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// ErrNotConnected is returned by [Syncer.Flush] when the syncer is not
// connected (no [Syncer.Connect] or [Syncer.Run] is in effect), so nothing
// would ever upload the queue.
var ErrNotConnected = errors.New("powersync: not connected")

// flushPoll bounds how long Flush sleeps between checks when no status
// change wakes it (the checks are cheap reads).
const flushPoll = 500 * time.Millisecond

// Flush uploads every write queued when it is called and waits until the
// service has acknowledged them: the upload queue is empty and a checkpoint
// that includes the uploaded writes has been applied, so the local tables
// show the server's state after them. It is what a program that writes and
// then exits calls before exiting (the JavaScript SDK's "caught up" idea).
//
// Flush returns nil at once when nothing is queued and no acknowledgement
// is pending. It waits while the syncer is offline or retrying (the last
// error is in [Syncer.Status]); when ctx ends it returns ctx's error, with
// the latest upload or download error beside it. It returns
// [ErrNotConnected] when the syncer is neither connected nor running, and
// [ErrClosed] after [Syncer.Close]. Entries the backend rejects for good
// are set aside (see [RejectedCrud]) and no longer wait.
func (s *Syncer) Flush(ctx context.Context) error {
	if _, _, closed := s.bus.snapshot(); closed {
		return ErrClosed
	}
	for {
		done, err := synccore.UploadsAcknowledged(ctx, s.db)
		if err != nil {
			if ctx.Err() != nil {
				return flushError(ctx.Err(), s.Status())
			}
			return pserr.Errorf("powersync: flush: %w", err)
		}
		if done {
			return nil
		}
		_, changed, closed := s.bus.snapshot()
		if closed {
			return ErrClosed
		}
		s.mu.Lock()
		sess := s.sess
		s.mu.Unlock()
		if sess == nil {
			return ErrNotConnected
		}
		sess.kickUpload()
		t := time.NewTimer(flushPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return flushError(ctx.Err(), s.Status())
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

func flushError(err error, st Status) error {
	switch {
	case st.UploadError != nil:
		return pserr.Errorf("powersync: flush: %w (last upload error: %v)", err, st.UploadError)
	case st.DownloadError != nil:
		return pserr.Errorf("powersync: flush: %w (last download error: %v)", err, st.DownloadError)
	}
	return pserr.Errorf("powersync: flush: %w", err)
}
