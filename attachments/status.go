package attachments

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gopowersync/powersync/hooks"
)

// transfer is an operation under way.
type transfer struct {
	id    string
	op    Op
	done  atomic.Int64 // bytes moved so far
	total atomic.Int64 // bytes expected, 0 if unknown
}

// Transfer is the progress of an operation under way.
type Transfer struct {
	ID string
	Op Op
	// Bytes is the number of bytes moved so far.
	Bytes int64
	// Total is the file's size, or 0 while unknown (a download of a file
	// this client never had).
	Total int64
}

// Status is a snapshot of a queue.
type Status struct {
	// Counts is the number of attachments in each state.
	Counts map[State]int
	// Transfers are the operations under way, ordered by id.
	Transfers []Transfer
	// Failing is the number of queued attachments that wait for a retry
	// after a failed attempt.
	Failing int
}

// Pending is the number of attachments queued for upload, download or
// delete.
func (s Status) Pending() int {
	return s.Counts[QueuedUpload] + s.Counts[QueuedDownload] + s.Counts[QueuedDelete]
}

// Transfers returns the operations under way and their progress.
func (q *Queue) Transfers() []Transfer {
	q.mu.Lock()
	out := make([]Transfer, 0, len(q.inflight))
	for _, t := range q.inflight {
		out = append(out, Transfer{ID: t.id, Op: t.op, Bytes: t.done.Load(), Total: t.total.Load()})
	}
	q.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Status returns the queue's state now.
func (q *Queue) Status(ctx context.Context) (Status, error) {
	st := Status{Counts: map[State]int{}}
	for state := QueuedUpload; state <= Archived; state++ {
		var n, failing int
		err := q.sq.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(retry_at > 0), 0) FROM `+q.table+` WHERE state = ?`, int(state)).Scan(&n, &failing)
		if err != nil {
			return st, fmt.Errorf("attachments: status: %w", err)
		}
		if n > 0 {
			st.Counts[state] = n
		}
		if state <= QueuedDelete {
			st.Failing += failing
		}
	}
	st.Transfers = q.Transfers()
	return st, nil
}

// statusThrottle is the least time between two statuses of WatchStatus.
const statusThrottle = 50 * time.Millisecond

// WatchStatus yields the queue's status now and again when it changes (a
// row of the table, or the progress of a transfer), at most every 50 ms,
// until ctx ends or the loop breaks.
func (q *Queue) WatchStatus(ctx context.Context) iter.Seq2[Status, error] {
	return func(yield func(Status, error) bool) {
		l, err := hooks.Watcher{Throttle: -1}.Listen(ctx, q.db, q.opts.Table)
		if err != nil {
			yield(Status{}, err)
			return
		}
		defer l.Close()
		ch := make(chan struct{}, 1)
		q.mu.Lock()
		q.subs[ch] = struct{}{}
		q.mu.Unlock()
		defer func() {
			q.mu.Lock()
			delete(q.subs, ch)
			q.mu.Unlock()
		}()
		// A goroutine of this range turns table changes into signals; it
		// ends with the range.
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		defer func() { cancel(); <-done }()
		go func() {
			defer close(done)
			for {
				if _, err := l.Next(ctx); err != nil {
					return
				}
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}()
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			st, err := q.Status(ctx)
			if ctx.Err() != nil || !yield(st, err) {
				return
			}
			t.Reset(statusThrottle)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select {
			case <-ctx.Done():
				return
			case <-ch:
			}
		}
	}
}

// notify signals the WatchStatus subscribers without blocking.
func (q *Queue) notify() {
	q.mu.Lock()
	for ch := range q.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	q.mu.Unlock()
}
