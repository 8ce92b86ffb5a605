package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"reflect"

	"modernc.org/sqlite"
)

// conn wraps a modernc.org/sqlite connection. It implements exactly the
// optional database/sql/driver interfaces modernc's connection implements
// (a test keeps the two sets equal), tracks the tables each transaction
// changes, and reports RowsAffected for writes through PowerSync views.
type conn struct {
	c    driver.Conn
	slot *slot
	st   *connState
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Execer             = (*conn)(nil) //nolint:staticcheck // modernc implements it
	_ driver.Queryer            = (*conn)(nil) //nolint:staticcheck // modernc implements it
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

// modernc's connection implements all of these.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Execer  //nolint:staticcheck
	driver.Queryer //nolint:staticcheck
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	sqlite.HookRegisterer
	sqlite.AuthorizerRegisterer
}

func newConn(raw driver.Conn, s *slot, st *connState) (*conn, error) {
	ic, ok := raw.(innerConn)
	if !ok {
		return nil, fmt.Errorf("powersync: modernc.org/sqlite connection %T lacks an expected interface", raw)
	}
	ic.RegisterPreUpdateHook(func(d sqlite.SQLitePreUpdateData) {
		if st.txTables == nil {
			st.txTables = make(map[string]struct{})
		}
		st.txTables[d.TableName] = struct{}{}
		if d.Depth() == 1 {
			if isDataTable(d.TableName) {
				st.dataWrites++
			} else if d.TableName == "ps_crud" {
				st.crudWrites++
			}
		}
	})
	ic.RegisterCommitHook(func() int32 {
		if len(st.txTables) > 0 {
			if st.committed == nil {
				st.committed = st.txTables
			} else {
				for t := range st.txTables {
					st.committed[t] = struct{}{}
				}
			}
			st.txTables = nil
		}
		st.endTx()
		st.manualTx = false
		return 0
	})
	ic.RegisterRollbackHook(func() {
		st.txTables = nil
		st.rolledBack = true
		st.endTx()
		st.manualTx = false
	})
	c := &conn{c: raw, slot: s, st: st}
	if err := c.installAuthorizer(); err != nil {
		return nil, err
	}
	return c, nil
}

// installAuthorizer installs the driver's authorizer, which notes while a
// statement is prepared whether its triggers record upload entries, refuses
// writes that cannot happen and takes the write lock for a write about to
// run (see conn.authorize), and then defers to the application's
// authorizer, if any.
func (c *conn) installAuthorizer() error {
	st := c.st
	return c.inner().RegisterAuthorizer(func(action sqlite.AuthorizerActionCode, arg1, arg2, dbName, trigger string) sqlite.AuthorizerReturnCode {
		if action == sqlite.AuthInsert && arg1 == "ps_crud" && trigger != "" {
			st.prepCaptures = true
		}
		if rc := c.authorize(action, arg1, arg2, dbName, trigger); rc != sqlite.AuthorizerOK {
			return rc
		}
		if st.userAuth != nil {
			return st.userAuth(action, arg1, arg2, dbName, trigger)
		}
		return sqlite.AuthorizerOK
	})
}

// RegisterAuthorizer installs an application authorizer on this connection,
// as modernc.org/sqlite's connection does (see sqlite.AuthorizerRegisterer).
// The driver keeps its own bookkeeping authorizer in front of it; nil removes
// the application's.
func (c *conn) RegisterAuthorizer(fn sqlite.AuthorizerFn) error {
	c.st.userAuth = fn
	return c.installAuthorizer() // reinstalling expires prepared statements
}

// claimMissedTx gives a statement that could record upload entries the
// transaction id the official core gives it. The core claims one when such a
// statement starts, whether or not a row changes and even if the statement
// then fails: the id stays used unless the whole transaction rolls back.
// Here the claim happens in the triggers, so a statement that wrote no row,
// or failed, catches up afterwards.
func (c *conn) claimMissedTx(ctx context.Context, captures bool, claimsBefore uint64, failed bool) {
	st := c.st
	if !captures {
		return
	}
	var q string
	switch {
	case failed && st.rolledBack:
		return // the transaction is gone, and its claim with it
	case failed && st.txID != 0:
		// A claim made inside the failed statement was undone with it.
		q = `UPDATE ps_tx SET next_tx = powersync_tx_id(0) + 1 WHERE id = 1 AND next_tx <= powersync_tx_id(0)`
	case st.txID != 0 || st.claims != claimsBefore:
		return
	default:
		q = `UPDATE ps_tx SET next_tx = next_tx + 1 WHERE id = 1 AND powersync_tx_claim(0, next_tx)`
	}
	if _, err := c.inner().ExecContext(ctx, q, nil); err != nil {
		// The statement's own result stands; only the grouping of later
		// upload entries by transaction can be off.
		st.log.Warn("powersync: claim a transaction id for a statement that recorded no upload entry", "err", err)
	}
	c.flush()
}

func (c *conn) inner() innerConn { return c.c.(innerConn) }

// Unwrap returns the modernc.org/sqlite connection, for its own extensions
// (backups, serialization). Writes made through it are captured like any other.
func (c *conn) Unwrap() driver.Conn { return c.c }

// flush hands the tables of committed transactions to the hub. It runs after
// every call that may have committed, so watchers are told only once the
// commit has returned.
func (c *conn) flush() {
	if t := c.st.committed; len(t) > 0 {
		c.st.committed = nil
		c.st.file.hub.publish(t)
	}
}

// Close closes the connection. A transaction still open is rolled back by
// SQLite and the write lock it held is released.
func (c *conn) Close() error {
	err := c.c.Close()
	c.dropLock()
	if c.slot != nil {
		releaseSlot(c.slot)
		c.slot = nil
	}
	return err
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx begins a transaction. A write transaction first waits, until ctx
// ends, for the file's write lock, and holds it until it ends (with
// BEGIN IMMEDIATE, so its writes never wait). A read-only transaction, and
// any transaction of a database opened with mode=ro, is a plain BEGIN that
// takes no lock, and refuses writes.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	st := c.st
	if opts.ReadOnly || st.readOnlyDB {
		opts.ReadOnly = true
		// Set before the BEGIN runs: the authorizer sees its BEGIN and
		// would otherwise take the write lock for a manual transaction,
		// which a read-only transaction's end (no commit or rollback hook
		// for a transaction that wrote nothing) may never release.
		st.readOnlyTx = true
		tx, err := c.inner().BeginTx(ctx, opts)
		if err != nil {
			st.readOnlyTx = false
			return nil, err
		}
		return &txw{tx: tx, c: c}, nil
	}
	took := st.lock == lockNone
	if took {
		if err := st.file.wlock.acquire(ctx); err != nil {
			return nil, err
		}
		st.lock = lockTx
	}
	tx, err := c.inner().BeginTx(ctx, opts)
	if err != nil {
		if took {
			c.dropLock()
		}
		return nil, err
	}
	return &txw{tx: tx, c: c}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st := c.st
	st.prepCaptures, st.prep, st.denyErr = false, stmtKind{}, nil
	st.preparing = true
	s, err := c.inner().PrepareContext(ctx, query)
	st.preparing = false
	if err = st.takeDenyErr(err); err != nil {
		return nil, err
	}
	return &stmt{s: s, c: c, captures: st.prepCaptures, kind: st.prep}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if hasNonFinite(args) {
		// Rare: whether the statement writes through a view is known once
		// it is prepared, so prepare it first (see stmt.check).
		s, err := c.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return s.(*stmt).ExecContext(ctx, args)
	}
	c.st.prepCaptures = false // set by the authorizer while run prepares
	return c.exec(ctx, &c.st.prepCaptures, func() (driver.Result, error) {
		return c.inner().ExecContext(ctx, query, args)
	})
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if hasNonFinite(args) {
		s, err := c.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		r, err := s.(*stmt).QueryContext(ctx, args)
		if err != nil {
			s.Close()
			return nil, err
		}
		r.(*rows).stmt = s
		return r, nil
	}
	c.st.prepCaptures = false // set by the authorizer while run prepares
	return c.query(ctx, &c.st.prepCaptures, func() (driver.Rows, error) {
		return c.inner().QueryContext(ctx, query, args)
	})
}

// exec runs one statement with the bookkeeping every write needs, for
// conn and stmt alike: counters reset before; after, watchers told of a
// commit, a missed transaction id claimed (see claimMissedTx) and
// RowsAffected corrected for views. *captures is read once run returns.
func (c *conn) exec(ctx context.Context, captures *bool, run func() (driver.Result, error)) (driver.Result, error) {
	st := c.st
	st.dataWrites, st.crudWrites, st.rolledBack = 0, 0, false
	st.callCtx, st.denyErr = ctx, nil
	claims := st.claims
	r, err := run()
	c.flush()
	c.claimMissedTx(ctx, *captures, claims, err != nil)
	err = st.takeDenyErr(err)
	c.settleLock()
	st.callCtx = nil
	if err != nil {
		return nil, err
	}
	return c.result(r), nil
}

// query is exec for statements returning rows: the statement may still be
// running when run returns, so the claim waits for the rows to end.
// The write lock taken for an autocommit write with RETURNING is released
// when its rows end.
func (c *conn) query(ctx context.Context, captures *bool, run func() (driver.Rows, error)) (driver.Rows, error) {
	st := c.st
	st.rolledBack = false
	st.callCtx, st.denyErr = ctx, nil
	claims := st.claims
	r, err := run()
	c.flush()
	if err != nil {
		c.claimMissedTx(ctx, *captures, claims, true)
		err = st.takeDenyErr(err)
		c.settleLock()
		st.callCtx = nil
		return nil, err
	}
	return &rows{r: r, c: c, captures: *captures, claims: claims}, nil
}

func (c *conn) Exec(query string, args []driver.Value) (driver.Result, error) {
	return c.ExecContext(context.Background(), query, namedValues(args))
}

func (c *conn) Query(query string, args []driver.Value) (driver.Rows, error) {
	return c.QueryContext(context.Background(), query, namedValues(args))
}

func (c *conn) Ping(ctx context.Context) error { return c.inner().Ping(ctx) }

func (c *conn) ResetSession(ctx context.Context) error {
	c.st.inSync = false
	return c.inner().ResetSession(ctx)
}

func (c *conn) IsValid() bool { return c.inner().IsValid() }

func namedValues(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

// result corrects RowsAffected for writes through a view: SQLite counts no
// changes for INSTEAD OF triggers, so the rows the triggers wrote to the
// storage tables are counted instead (ps_crud for insert-only tables).
func (c *conn) result(r driver.Result) driver.Result {
	n, err := r.RowsAffected()
	if err != nil || n != 0 {
		return r
	}
	switch {
	case c.st.dataWrites > 0:
		return viewResult{r, c.st.dataWrites}
	case c.st.crudWrites > 0:
		return viewResult{r, c.st.crudWrites}
	}
	return r
}

type viewResult struct {
	driver.Result
	n int64
}

func (v viewResult) RowsAffected() (int64, error) { return v.n, nil }

// txw wraps a transaction to notify watchers after it commits.
type txw struct {
	tx driver.Tx
	c  *conn
}

func (t *txw) Commit() error {
	err := t.tx.Commit()
	t.end()
	return err
}

func (t *txw) Rollback() error {
	err := t.tx.Rollback()
	t.end()
	return err
}

// end tells watchers of a commit and releases the write lock.
func (t *txw) end() {
	t.c.flush()
	t.c.st.readOnlyTx = false
	if t.c.st.lock == lockTx {
		t.c.dropLock()
	}
}

// stmt wraps a prepared statement like conn wraps a connection.
type stmt struct {
	s        driver.Stmt
	c        *conn
	captures bool     // its triggers record upload entries
	kind     stmtKind // what it does, for the write lock
}

var (
	_ driver.Stmt             = (*stmt)(nil)
	_ driver.StmtExecContext  = (*stmt)(nil)
	_ driver.StmtQueryContext = (*stmt)(nil)
)

type innerStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (s *stmt) Close() error  { return s.s.Close() }
func (s *stmt) NumInput() int { return s.s.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	is, ok := s.s.(innerStmt)
	if !ok {
		return nil, errors.New("powersync: statement lacks ExecContext")
	}
	if err := s.check(ctx, args); err != nil {
		return nil, err
	}
	return s.c.exec(ctx, &s.captures, func() (driver.Result, error) { return is.ExecContext(ctx, args) })
}

// check runs before the statement: it refuses a write that cannot happen
// or has a NaN or ±Inf argument for a view, and takes the write lock for a
// write outside a write transaction. (The authorizer does the same when
// SQLite prepares the statement again, or the next one of a script.)
func (s *stmt) check(ctx context.Context, args []driver.NamedValue) error {
	if !s.kind.writes && !s.kind.begins {
		return nil
	}
	st := s.c.st
	if s.kind.writes {
		if err := st.readOnlyErr(""); err != nil {
			return err
		}
	}
	if s.kind.viewWrite {
		if err := checkFinite(args); err != nil {
			return err
		}
	}
	if err := s.c.lockFor(ctx, s.kind.writes, s.kind.begins); err != nil {
		return err
	}
	// exec and query release the lock when the statement is done.
	return nil
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	is, ok := s.s.(innerStmt)
	if !ok {
		return nil, errors.New("powersync: statement lacks QueryContext")
	}
	if err := s.check(ctx, args); err != nil {
		return nil, err
	}
	return s.c.query(ctx, &s.captures, func() (driver.Rows, error) { return is.QueryContext(ctx, args) })
}

// rows wraps result rows; an autocommit write with RETURNING commits when
// its rows end, so watchers are told then.
type rows struct {
	r driver.Rows
	c *conn
	// captures and claims carry the statement's upload bookkeeping to its
	// end (see conn.claimMissedTx).
	captures bool
	claims   uint64
	done     bool
	stmt     driver.Stmt // closed with the rows, if set
}

var (
	_ driver.Rows                           = (*rows)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)
	_ driver.RowsColumnTypeLength           = (*rows)(nil)
	_ driver.RowsColumnTypeNullable         = (*rows)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rows)(nil)
	_ driver.RowsColumnTypeScanType         = (*rows)(nil)
)

type innerRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

func (r *rows) inner() innerRows { return r.r.(innerRows) }

func (r *rows) Columns() []string { return r.r.Columns() }

func (r *rows) Close() error {
	err := r.r.Close()
	r.end(err)
	if r.stmt != nil {
		r.stmt.Close()
		r.stmt = nil
	}
	return err
}

func (r *rows) Next(dest []driver.Value) error {
	err := r.r.Next(dest)
	if err != nil {
		r.end(err)
	}
	return err
}

// end runs once when the statement behind the rows has finished.
func (r *rows) end(err error) {
	r.c.flush()
	if r.done {
		return
	}
	r.done = true
	r.c.claimMissedTx(context.Background(), r.captures, r.claims, err != nil && !errors.Is(err, io.EOF))
	r.c.settleLock()
	r.c.st.callCtx = nil
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	return r.inner().ColumnTypeDatabaseTypeName(i)
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) { return r.inner().ColumnTypeLength(i) }

func (r *rows) ColumnTypeNullable(i int) (bool, bool) { return r.inner().ColumnTypeNullable(i) }

func (r *rows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.inner().ColumnTypePrecisionScale(i)
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type { return r.inner().ColumnTypeScanType(i) }
