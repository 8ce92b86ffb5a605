package hooks

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// fakeHub stands in for the driver's change hub: tests publish the raw
// table names of a commit after committing it.
type fakeHub struct {
	mu   sync.Mutex // guards subs
	subs map[*fakeSub]bool
}

type fakeSub struct {
	hub *fakeHub
	c   chan struct{}

	mu    sync.Mutex // guards names
	names map[string]struct{}
}

func newFakeHub() *fakeHub { return &fakeHub{subs: map[*fakeSub]bool{}} }

func (h *fakeHub) subscribe(context.Context, *sql.DB) (subscription, error) {
	s := &fakeSub{hub: h, c: make(chan struct{}, 1), names: map[string]struct{}{}}
	h.mu.Lock()
	h.subs[s] = true
	h.mu.Unlock()
	return s, nil
}

func (h *fakeHub) publish(raw ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		for _, r := range raw {
			s.names[r] = struct{}{}
		}
		s.mu.Unlock()
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
}

func (h *fakeHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (s *fakeSub) ready() <-chan struct{} { return s.c }

func (s *fakeSub) take() map[string]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.names
	s.names = map[string]struct{}{}
	return n
}

func (s *fakeSub) close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// fakeClock is a clock whose time moves only when the test says so and
// whose timers fire only when the test fires them.
type fakeClock struct {
	mu     sync.Mutex // guards t
	t      time.Time
	timers chan fakeTimer
}

type fakeTimer struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Unix(1_000_000, 0), timers: make(chan fakeTimer, 16)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) timer(d time.Duration) (<-chan time.Time, func() bool) {
	ft := fakeTimer{d: d, fire: make(chan time.Time, 1)}
	c.timers <- ft
	return ft.fire, func() bool { return true }
}

// openPlain opens a plain SQLite database (no PowerSync driver) for tests
// of the query side.
func openPlain(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}
