package hooks

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"sync"
	"time"
)

// DefaultThrottle is the minimum time between two notifications of one
// listener or watch when [Watcher.Throttle] is zero, as in the official SDKs.
const DefaultThrottle = 30 * time.Millisecond

// ErrClosed is returned by [Listener.Next] after [Listener.Close].
var ErrClosed = errors.New("powersync: listener closed")

// Change is one notification: the tables written by the transactions
// committed since the previous notification.
type Change struct {
	// Tables holds the changed tables, sorted, under the names the listener
	// was given (or their public names when it listens to every table).
	Tables []string
}

// Watcher holds the settings of listeners and watched queries. The zero
// value is ready to use: default throttle, tables found from the query,
// every re-run reported.
type Watcher struct {
	// Throttle is the minimum time between two notifications (or re-runs of a
	// watched query). Changes committed in between are merged into the next
	// one. Zero means DefaultThrottle; a negative value disables throttling.
	// A change after a quiet period is reported at once.
	Throttle time.Duration

	// Tables, when not empty, names the tables whose changes re-run a watched
	// query instead of those the query reads. It is not used by Listen and
	// OnChange, which take their tables as arguments.
	Tables []string

	// Mode selects which results a watched query reports; see Mode.
	Mode Mode

	// Key names the columns that identify a row for ModeDiff; when empty,
	// the "id" column.
	Key []string
}

func (w Watcher) throttle() time.Duration {
	switch {
	case w.Throttle == 0:
		return DefaultThrottle
	case w.Throttle < 0:
		return 0
	}
	return w.Throttle
}

// Listener receives the committed changes of a set of tables, pulled one
// notification at a time with Next. It runs no goroutine: while nobody calls
// Next, changes are merged into one pending notification, and writers are
// never slowed down.
//
// A Listener is for one goroutine at a time; Close may be called from any.
type Listener struct {
	sub      subscription
	match    matcher
	throttle time.Duration
	clock    clock

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	// Owned by the goroutine calling Next.
	last   time.Time // when Next last returned a change
	primed bool      // a ready signal was consumed but the names not yet taken
}

// Listen subscribes to the committed changes of tables with the default
// settings; see [Watcher.Listen].
func Listen(ctx context.Context, db *sql.DB, tables ...string) (*Listener, error) {
	return Watcher{}.Listen(ctx, db, tables...)
}

// Listen subscribes to the committed changes of tables on db, a database
// opened with the "powersync" driver. A table is named as users know it: a
// PowerSync table by its name (its ps_data__ and ps_data_local__ storage
// tables report under that name), a raw or plain table by its own name, an
// internal table such as ps_crud by its full name. With no tables, every
// change to a table other than the internal ps_ tables is reported under
// its public name.
//
// Changes are reported only after their transaction commits, never for a
// rollback, and a read started after Next returns sees them. Changes
// committed before Listen returns are not reported. The caller must Close
// the Listener.
func (w Watcher) Listen(ctx context.Context, db *sql.DB, tables ...string) (*Listener, error) {
	return w.listenWith(ctx, db, tables, subscribe)
}

// subscribeFunc subscribes to the committed changes of a database; it is
// subscribe except in tests.
type subscribeFunc func(context.Context, *sql.DB) (subscription, error)

func (w Watcher) listenWith(ctx context.Context, db *sql.DB, tables []string, sf subscribeFunc) (*Listener, error) {
	sub, err := sf(ctx, db)
	if err != nil {
		return nil, err
	}
	return w.listen(sub, tables), nil
}

func (w Watcher) listen(sub subscription, tables []string) *Listener {
	return &Listener{
		sub:      sub,
		match:    newMatcher(tables),
		throttle: w.throttle(),
		clock:    realClock{},
		done:     make(chan struct{}),
	}
}

// Next blocks until a listened table has changed and returns the tables
// changed since the previous call. It returns no sooner than the throttle
// after its previous return, merging what commits in between. It returns
// ctx.Err() when ctx ends and ErrClosed after Close.
func (l *Listener) Next(ctx context.Context) (Change, error) {
	for {
		if !l.primed {
			select {
			case <-ctx.Done():
				return Change{}, ctx.Err()
			case <-l.done:
				return Change{}, ErrClosed
			case <-l.sub.ready():
				l.primed = true
			}
		}
		if l.throttle > 0 && !l.last.IsZero() {
			if d := l.last.Add(l.throttle).Sub(l.clock.now()); d > 0 {
				c, stop := l.clock.timer(d)
				select {
				case <-ctx.Done():
					stop()
					return Change{}, ctx.Err()
				case <-l.done:
					stop()
					return Change{}, ErrClosed
				case <-c:
				}
			}
		}
		l.primed = false
		if tables := l.match.names(l.sub.take()); len(tables) > 0 {
			l.last = l.clock.now()
			return Change{Tables: tables}, nil
		}
	}
}

// Close ends the subscription. It is safe to call more than once and from
// another goroutine than the one calling Next, which then returns ErrClosed.
func (l *Listener) Close() {
	l.closeOnce.Do(func() {
		close(l.done)
		l.sub.close()
	})
}

// OnChange reports the committed changes of tables with the default
// settings; see [Watcher.OnChange].
func OnChange(ctx context.Context, db *sql.DB, tables ...string) iter.Seq2[Change, error] {
	return Watcher{}.OnChange(ctx, db, tables...)
}

// OnChange returns an iterator over the committed changes of tables (named
// as for [Watcher.Listen]; none means every table). Each range subscribes
// when it starts and ends when ctx ends or the loop breaks; the only error
// it yields is a failure to subscribe, after which it ends. Changes that
// commit while the loop body runs are merged into the next notification.
func (w Watcher) OnChange(ctx context.Context, db *sql.DB, tables ...string) iter.Seq2[Change, error] {
	return w.onChangeWith(ctx, db, tables, subscribe)
}

func (w Watcher) onChangeWith(ctx context.Context, db *sql.DB, tables []string, sf subscribeFunc) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		l, err := w.listenWith(ctx, db, tables, sf)
		if err != nil {
			if ctx.Err() == nil {
				yield(Change{}, err)
			}
			return
		}
		defer l.Close()
		for {
			c, err := l.Next(ctx)
			if err != nil || !yield(c, nil) {
				return
			}
		}
	}
}

// subscription is the part of the driver's change hub a Listener uses.
type subscription interface {
	// ready is signalled (capacity 1) when take would return something.
	ready() <-chan struct{}
	// take returns the raw table names committed since the last take.
	take() map[string]struct{}
	close()
}

// clock is time as a Listener sees it; tests replace it.
type clock interface {
	now() time.Time
	timer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

type realClock struct{}

func (realClock) now() time.Time { return time.Now() }

func (realClock) timer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}
