package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"

	"github.com/gopowersync/powersync/internal/pserr"
	"modernc.org/sqlite"
)

// ErrReadOnly is wrapped by the error of a write that cannot happen: in a
// read-only transaction (sql.TxOptions{ReadOnly: true}, ReadTx), or on a
// database opened read-only (mode=ro in the DSN).
var ErrReadOnly = errors.New("powersync: read-only")

// ErrNonFinite is wrapped by the error of a write through a PowerSync view
// with a NaN or ±Inf argument. Rows are JSON, which has neither, and SQLite
// would store NaN as NULL without a word.
var ErrNonFinite = errors.New("powersync: NaN and ±Inf cannot be stored in a PowerSync table")

// writeLock serialises the writers of one database file in this process, as
// the official SDKs queue writes behind their one write connection: a writer
// waits for its turn, for as long as its context allows, instead of failing
// with SQLITE_BUSY once the busy timeout has passed. The busy timeout now
// only matters for writers in other processes.
//
// It is a channel of capacity one: holding the lock is having put a value
// in it, so that a wait can end with the caller's context and the lock can
// be released from another goroutine (database/sql rolls back a transaction
// whose context ended from a goroutine of its own).
type writeLock struct {
	ch      chan struct{}
	waiting *atomic.Int32 // writers waiting for the lock, for tests
}

func newWriteLock() writeLock {
	return writeLock{ch: make(chan struct{}, 1), waiting: new(atomic.Int32)}
}

// acquire waits for the lock until ctx ends. A done context never takes it.
func (l writeLock) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case l.ch <- struct{}{}:
		return nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	select {
	case l.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l writeLock) release() { <-l.ch }

// lockHold says why a connection holds its file's write lock.
type lockHold uint8

const (
	lockNone   lockHold = iota
	lockTx              // a write transaction begun with BeginTx, until it ends
	lockStmt            // an autocommit write, until the call returns
	lockManual          // a transaction begun by a BEGIN or SAVEPOINT statement, until it ends
	lockSetup           // the first connection of a connector migrates and applies the schema
)

// stmtKind is what the authorizer saw while a statement was prepared.
type stmtKind struct {
	writes    bool // it writes the database file
	begins    bool // it is BEGIN or SAVEPOINT, which may open a transaction
	viewWrite bool // it writes through a PowerSync view (its triggers run)
}

// writeAction reports whether an authorizer action writes the database file.
// Writes to the temp database take no lock.
func writeAction(action sqlite.AuthorizerActionCode, arg1, arg2, dbName string) bool {
	switch action {
	case sqlite.AuthInsert, sqlite.AuthUpdate, sqlite.AuthDelete:
		return dbName != "temp"
	case sqlite.AuthCreateIndex, sqlite.AuthCreateTable, sqlite.AuthCreateTrigger, sqlite.AuthCreateView,
		sqlite.AuthDropIndex, sqlite.AuthDropTable, sqlite.AuthDropTrigger, sqlite.AuthDropView,
		sqlite.AuthAlterTable, sqlite.AuthReindex, sqlite.AuthAnalyze, sqlite.AuthCreateVTable, sqlite.AuthDropVTable:
		return dbName != "temp"
	case sqlite.AuthPragma:
		switch strings.ToLower(arg1) {
		case "journal_mode", "user_version", "application_id", "schema_version", "auto_vacuum", "page_size":
			return arg2 != ""
		case "incremental_vacuum", "optimize":
			return true
		}
	}
	return false
}

// authorize is the driver's part of the authorizer for writes: it refuses
// writes that cannot happen (read-only transaction or database) and takes
// the file's write lock for a write that is about to run outside a write
// transaction, waiting inside the prepare for its turn.
func (c *conn) authorize(action sqlite.AuthorizerActionCode, arg1, arg2, dbName, trigger string) sqlite.AuthorizerReturnCode {
	st := c.st
	begins := (action == sqlite.AuthTransaction || action == sqlite.AuthSavepoint) && arg1 == "BEGIN"
	writes := !begins && writeAction(action, arg1, arg2, dbName)
	if !begins && !writes {
		return sqlite.AuthorizerOK
	}
	if writes {
		if err := st.readOnlyErr(arg1); err != nil {
			st.deny(err)
			return sqlite.AuthorizerDeny
		}
		if strings.HasPrefix(trigger, "ps_view_") {
			st.prep.viewWrite = true
		}
	}
	if st.preparing {
		st.prep.writes = st.prep.writes || writes
		st.prep.begins = st.prep.begins || begins
		return sqlite.AuthorizerOK
	}
	if err := c.lockFor(st.callCtx, writes, begins); err != nil {
		st.deny(err)
		return sqlite.AuthorizerDeny
	}
	return sqlite.AuthorizerOK
}

// lockFor takes the write lock, if needed, for a statement that writes or
// begins a transaction and is about to run.
func (c *conn) lockFor(ctx context.Context, writes, begins bool) error {
	st := c.st
	if st.lock == lockTx || st.lock == lockSetup || st.readOnlyTx || st.readOnlyDB {
		return nil
	}
	if begins {
		// A transaction begun by a statement holds the lock until it ends:
		// the commit and rollback hooks clear manualTx.
		st.manualTx = true
	}
	if st.lock == lockNone {
		if ctx == nil {
			ctx = context.Background()
		}
		if err := st.file.wlock.acquire(ctx); err != nil {
			if begins {
				st.manualTx = false
			}
			return err
		}
		st.lock = lockStmt
	}
	if begins {
		st.lock = lockManual
	}
	return nil
}

// settleLock releases the write lock at the end of a call unless a
// transaction still needs it.
func (c *conn) settleLock() {
	st := c.st
	if (st.lock == lockStmt || st.lock == lockManual) && !st.manualTx {
		st.lock = lockNone
		st.file.wlock.release()
	}
}

// dropLock releases the write lock whatever holds it (the transaction ended
// or the connection is closing).
func (c *conn) dropLock() {
	st := c.st
	if st.lock != lockNone {
		st.lock = lockNone
		st.manualTx = false
		st.file.wlock.release()
	}
}

// readOnlyErr returns why a write (to table, if known) cannot happen, or nil.
func (st *connState) readOnlyErr(table string) error {
	if !st.readOnlyDB && !st.readOnlyTx {
		return nil
	}
	what := "write"
	if table != "" {
		what = fmt.Sprintf("write %q", table)
	}
	if st.readOnlyDB {
		return fmt.Errorf("%w: cannot %s: the database was opened read-only (mode=ro)", ErrReadOnly, what)
	}
	return fmt.Errorf("%w: cannot %s in a read-only transaction", ErrReadOnly, what)
}

// deny records why the authorizer refused a statement; the call reports it
// instead of SQLite's "not authorized".
func (st *connState) deny(err error) {
	if st.denyErr == nil {
		st.denyErr = err
	}
}

// takeDenyErr returns err, or the authorizer's reason if it refused the
// statement.
func (st *connState) takeDenyErr(err error) error {
	if d := st.denyErr; d != nil {
		st.denyErr = nil
		if err != nil {
			return d
		}
	}
	return err
}

// checkFinite refuses NaN and ±Inf arguments of a write through a view.
func checkFinite(args []driver.NamedValue) error {
	for _, a := range args {
		f, ok := a.Value.(float64)
		if !ok || !(math.IsNaN(f) || math.IsInf(f, 0)) {
			continue
		}
		name := fmt.Sprintf("argument %d", a.Ordinal)
		if a.Name != "" {
			name = "argument " + a.Name
		}
		return fmt.Errorf("%w: %s is %v", ErrNonFinite, name, f)
	}
	return nil
}

// hasNonFinite reports whether an argument is NaN or ±Inf.
func hasNonFinite(args []driver.NamedValue) bool {
	for _, a := range args {
		if f, ok := a.Value.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return true
		}
	}
	return false
}

// WriteTx runs fn in a write transaction of db: it commits when fn returns
// nil and rolls back when fn returns an error or panics (the panic goes on).
// Like the official SDKs' writeTransaction, it waits, until ctx ends, for
// the other writers of the database file in this process to finish; the
// transaction holds the file's write lock from its BEGIN (BEGIN IMMEDIATE),
// so no statement in it fails with SQLITE_BUSY because of this process.
//
// Inside fn, use the *sql.Tx and never db itself for writes: a write through
// db waits for the lock that fn's transaction holds, until ctx ends.
func WriteTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	return runTx(ctx, db, nil, fn)
}

// ReadTx runs fn in a read-only transaction of db, which sees one snapshot
// of the database and never waits for writers (WAL). A write in it fails
// with an error wrapping ErrReadOnly and leaves nothing queued for upload.
// It commits when fn returns nil and rolls back when fn returns an error or
// panics (the panic goes on).
func ReadTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	return runTx(ctx, db, &sql.TxOptions{ReadOnly: true}, fn)
}

func runTx(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(*sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return pserr.Errorf("powersync: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tx.Rollback() // fn panicked; the panic goes on
		}
	}()
	if err := fn(tx); err != nil {
		done = true
		if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
			return errors.Join(err, pserr.Errorf("powersync: rollback: %w", rerr))
		}
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return pserr.Errorf("powersync: commit: %w", err)
	}
	return nil
}
