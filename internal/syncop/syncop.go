// Package syncop lets the sync engine mark a connection of the "powersync"
// driver as applying synced data. While the mark is set,
// powersync_in_sync_operation() returns 1 and writes record no upload
// entries (docs/storage.md, "Upload capture"). It also lets the engine see
// whether other writers wait for the file's write lock, so that a long run
// of synced lines can commit and let them in.
//
// The flag is not part of the driver's public API: an application that set
// it would stop recording its own changes. The driver registers the setter
// in its init function; internal/synccore and tests call Set.
package syncop

import (
	"database/sql"
	"errors"
)

// waiters is registered by package driver before any connection exists.
var waiters func(c *sql.Conn) (func() int, error)

// RegisterWaiters installs the function Waiters calls. Package driver
// calls it from init.
func RegisterWaiters(f func(c *sql.Conn) (func() int, error)) { waiters = f }

// Waiters returns a function that reports how many writers of this process
// wait for the write lock of c's database file. c must be a connection of
// the "powersync" driver; the function is cheap (one atomic load) and stays
// valid for as long as the file is open.
func Waiters(c *sql.Conn) (func() int, error) {
	if waiters == nil {
		return nil, errors.New("powersync: write lock waiters: the powersync driver is not linked in")
	}
	return waiters(c)
}

// setter is registered by package driver before any connection exists.
var setter func(c *sql.Conn, on bool) error

// Register installs the function Set calls. Package driver calls it from
// init.
func Register(f func(c *sql.Conn, on bool) error) { setter = f }

// Set marks c as applying synced data (on) or not. c must be a connection
// of the "powersync" driver.
func Set(c *sql.Conn, on bool) error {
	if setter == nil {
		return errors.New("powersync: sync operation flag: the powersync driver is not linked in")
	}
	return setter(c, on)
}
