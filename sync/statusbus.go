package sync

import (
	"context"
	"iter"
	"slices"
	gosync "sync"

	"github.com/gopowersync/powersync/internal/synccore"
)

// statusQueueLen and statusQueueStreams bound what waits for a slow
// Statuses consumer: at most statusQueueLen statuses, holding at most
// statusQueueStreams stream statuses between them, except that the newest
// is always kept. When a change would exceed either bound, it replaces the
// newest waiting status (the changes in between are dropped). A stalled
// consumer so holds at most about two statuses' worth of memory once
// statuses are large (many streams), not statusQueueLen of them.
const (
	statusQueueLen     = 64
	statusQueueStreams = 4096
)

// statusBus holds the current status and delivers changes to subscribers.
type statusBus struct {
	mu      gosync.Mutex // guards every field below
	core    synccore.CoreStatus
	sdk     sdkStatus
	cur     Status
	changed chan struct{} // closed and replaced on every change
	subs    map[*statusSub]struct{}
	closed  bool
}

type statusSub struct {
	mu      gosync.Mutex // guards queue and streams
	queue   []Status
	streams int           // stream statuses in queue
	notify  chan struct{} // cap 1
}

// push queues st, coalescing the tail of the queue into st while the queue
// is over its bounds (see statusQueueLen).
func (s *statusSub) push(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, st)
	s.streams += len(st.Streams)
	for n := len(s.queue); n > 1 && (n > statusQueueLen || s.streams > statusQueueStreams); n = len(s.queue) {
		s.streams -= len(s.queue[n-2].Streams)
		s.queue = slices.Delete(s.queue, n-2, n-1)
	}
}

// pop takes the oldest queued status.
func (s *statusSub) pop() (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return Status{}, false
	}
	st := s.queue[0]
	s.streams -= len(st.Streams)
	s.queue = slices.Delete(s.queue, 0, 1)
	return st, true
}

func newStatusBus() *statusBus {
	b := &statusBus{changed: make(chan struct{}), subs: map[*statusSub]struct{}{}}
	b.cur = buildStatus(b.core, b.sdk)
	return b
}

// update applies f to the status parts and publishes the result if it
// changed.
func (b *statusBus) update(f func(core *synccore.CoreStatus, sdk *sdkStatus)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.core, &b.sdk)
	next := buildStatus(b.core, b.sdk)
	if equalStatus(next, b.cur) {
		return
	}
	b.cur = next
	close(b.changed)
	b.changed = make(chan struct{})
	for s := range b.subs {
		s.push(next)
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// snapshot returns the current status, a channel closed at the next change,
// and whether the bus is closed.
func (b *statusBus) snapshot() (Status, <-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur, b.changed, b.closed
}

func (b *statusBus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	close(b.changed)
	b.changed = make(chan struct{})
	for s := range b.subs {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// all yields the current status, then the changes queued for it (see
// statusQueueLen) until ctx ends or the bus is closed.
func (b *statusBus) all(ctx context.Context) iter.Seq[Status] {
	return func(yield func(Status) bool) {
		sub := &statusSub{notify: make(chan struct{}, 1)}
		b.mu.Lock()
		first, closed := b.cur, b.closed
		if !closed {
			b.subs[sub] = struct{}{}
		}
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			delete(b.subs, sub)
			b.mu.Unlock()
		}()
		if ctx.Err() != nil || !yield(first) || closed {
			return
		}
		last := first
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.notify:
			}
			// One at a time, so that a consumer that stalls in yield holds
			// one status besides the queue.
			for {
				st, ok := sub.pop()
				if !ok {
					break
				}
				if equalStatus(st, last) {
					continue // coalescing came back to what was yielded
				}
				if ctx.Err() != nil || !yield(st) {
					return
				}
				last = st
			}
			b.mu.Lock()
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
		}
	}
}

// wait returns the first status (the current one included) for which pred
// is true.
func (b *statusBus) wait(ctx context.Context, pred func(Status) bool) (Status, error) {
	for {
		st, ch, closed := b.snapshot()
		if pred(st) {
			return st, nil
		}
		if closed {
			return st, ErrClosed
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-ch:
		}
	}
}
