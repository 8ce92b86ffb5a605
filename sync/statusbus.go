package sync

import (
	"context"
	"iter"
	gosync "sync"

	"github.com/gopowersync/powersync/internal/synccore"
)

// statusQueueLen is how many undelivered changes a slow Statuses consumer
// may fall behind before the oldest are dropped (the latest is always kept).
const statusQueueLen = 64

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
	mu     gosync.Mutex // guards queue
	queue  []Status
	notify chan struct{} // cap 1
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
		s.mu.Lock()
		s.queue = append(s.queue, next)
		if len(s.queue) > statusQueueLen {
			s.queue = s.queue[len(s.queue)-statusQueueLen:]
		}
		s.mu.Unlock()
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

// all yields the current status, then every change until ctx ends or the
// bus is closed.
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
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.notify:
			}
			sub.mu.Lock()
			q := sub.queue
			sub.queue = nil
			sub.mu.Unlock()
			for _, st := range q {
				if ctx.Err() != nil || !yield(st) {
					return
				}
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
