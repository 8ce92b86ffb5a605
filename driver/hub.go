package driver

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"sync"

	"github.com/gopowersync/powersync/internal/pserr"
)

// Hub fans out the names of the tables that committed transactions changed,
// for one database file. Names are SQLite's own table names: writes through a
// view are reported under its storage table ("ps_data__todos"), and internal
// tables ("ps_crud", "ps_oplog", ...) are reported too. The hooks package maps
// them to the names users know.
//
// A Hub is shared by every connection and every *sql.DB of the process that
// opened the same file. Notifications are sent after the commit has returned,
// never for a rolled back transaction, and never block a writer: each
// Subscription accumulates names until it takes them.
type Hub struct {
	mu   sync.Mutex // guards subs
	subs map[*Subscription]struct{}
}

func newHub() *Hub { return &Hub{subs: make(map[*Subscription]struct{})} }

// Subscription receives the tables changed since it last called Take.
type Subscription struct {
	// C receives a value when Take has something to return. It has a buffer
	// of one: bursts of commits merge into one signal.
	C <-chan struct{}

	c   chan struct{}
	hub *Hub

	mu      sync.Mutex // guards pending
	pending map[string]struct{}
}

// Subscribe starts a subscription. Call Close when done with it.
func (h *Hub) Subscribe() *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, hub: h, pending: make(map[string]struct{})}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Take returns the table names changed since the previous Take and clears
// them. It returns an empty map when nothing changed.
func (s *Subscription) Take() map[string]struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.pending
	s.pending = make(map[string]struct{})
	return out
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// publish records tables on every subscription and signals it.
func (h *Hub) publish(tables map[string]struct{}) {
	if len(tables) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		s.mu.Lock()
		maps.Copy(s.pending, tables)
		s.mu.Unlock()
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
}

// ErrNotPowerSync is returned when a *sql.DB or connection is not one of this
// driver's.
var ErrNotPowerSync = errors.New("powersync: not a powersync database")

// HubOf returns the change hub of the database behind db, which must have been
// opened with this driver.
func HubOf(ctx context.Context, db *sql.DB) (*Hub, error) {
	var hub *Hub
	err := withConn(ctx, db, func(c *conn) error {
		hub = c.st.file.hub
		return nil
	})
	return hub, err
}

// withConn runs fn with the driver connection behind one pooled connection.
func withConn(ctx context.Context, db *sql.DB, fn func(*conn) error) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return pserr.Errorf("powersync: %w", err)
	}
	defer c.Close()
	return rawConn(c, fn)
}

func rawConn(c *sql.Conn, fn func(*conn) error) error {
	var inner error
	err := c.Raw(func(dc any) error {
		pc, ok := dc.(*conn)
		if !ok {
			return ErrNotPowerSync
		}
		inner = fn(pc)
		return nil
	})
	if err != nil {
		return err
	}
	return inner
}

// setSyncOperation marks the connection as applying synced data (on) or not.
// While set, powersync_in_sync_operation() returns 1 and writes record no
// upload entries, so the triggers of raw tables stay inert. The sync engine
// sets it around applying a checkpoint and clearing data, through
// internal/syncop (registered in init).
// writeWaiters returns a function reporting how many writers wait for the
// write lock of c's file (see syncop.Waiters).
func writeWaiters(c *sql.Conn) (func() int, error) {
	var f func() int
	err := rawConn(c, func(pc *conn) error {
		w := pc.st.file.wlock.waiting
		f = func() int { return int(w.Load()) }
		return nil
	})
	return f, err
}

func setSyncOperation(c *sql.Conn, on bool) error {
	return rawConn(c, func(pc *conn) error {
		pc.st.inSync = on
		return nil
	})
}
