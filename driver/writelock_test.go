package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	psdriver "github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/schema"
)

// busyDB opens a database with the driver's default 5 s busy timeout. The
// tests below hold the write lock until the other writers are seen waiting
// for it, for longer than any busy timeout: a writer that waited in SQLite's
// busy handler instead would fail with SQLITE_BUSY.
func busyDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	return openDB(t, path, todoSchema())
}

// waitForWaiters returns once n writers wait for the write lock of db's
// file, or fails the test if one of the running writers ends first.
func waitForWaiters(t *testing.T, db *sql.DB, n int, ended <-chan error) {
	t.Helper()
	for {
		select {
		case err := <-ended:
			t.Fatalf("a writer ended instead of waiting for the write lock: %v", err)
		default:
		}
		got, err := psdriver.WriteWaiters(t.Context(), db)
		if err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

func countCrud(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM ps_crud`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A writer waits for the one holding the write lock, however long it holds
// it, instead of failing with SQLITE_BUSY: each kind of write (autocommit
// Exec, prepared statement, RETURNING query, BeginTx, WriteTx, a BEGIN
// statement on a sql.Conn, a second *sql.DB on the same file) waits while a
// transaction is open, and all of them succeed once it commits.
func TestWritersWaitForTheWriteLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wait.db")
	db := busyDB(t, path)
	other := busyDB(t, path) // another pool on the same file
	ctx := t.Context()
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('seed', 'x')`)

	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('held', 'first')`); err != nil {
		t.Fatal(err)
	}

	writers := map[string]func() error{
		"exec": func() error {
			_, err := db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('exec', 'w')`)
			return err
		},
		"prepared": func() error {
			st, err := db.PrepareContext(ctx, `UPDATE todos SET completed = 1 WHERE id = ?`)
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.ExecContext(ctx, "seed")
			return err
		},
		"returning": func() error {
			var id string
			return db.QueryRowContext(ctx, `DELETE FROM ps_kv WHERE key = 'nothing' RETURNING key`).Scan(&id)
		},
		"begin": func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('tx', 'w')`); err != nil {
				return err
			}
			return tx.Commit()
		},
		"writetx": func() error {
			return psdriver.WriteTx(ctx, other, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('other', 'w')`)
				return err
			})
		},
		"statement begin": func() error {
			c, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
				return err
			}
			if _, err := c.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES ('manual', 'w')`); err != nil {
				return err
			}
			_, err = c.ExecContext(ctx, `COMMIT`)
			return err
		},
	}
	ended := make(chan error, len(writers))
	results := make(chan string, len(writers))
	var wg sync.WaitGroup
	for name, w := range writers {
		wg.Go(func() {
			err := w()
			if errors.Is(err, sql.ErrNoRows) {
				err = nil // the RETURNING query deleted nothing
			}
			if err != nil {
				ended <- fmt.Errorf("%s: %w", name, err)
				return
			}
			results <- name
		})
	}
	waitForWaiters(t, db, len(writers), ended)
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(ended)
	for err := range ended {
		t.Error(err)
	}
	if len(results) != len(writers) {
		t.Fatalf("%d of %d writers succeeded", len(results), len(writers))
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 { // seed, held, exec, tx, other, manual
		t.Errorf("%d rows, want 6", n)
	}
}

// A writer waiting for the lock gives up when its context ends, with the
// context's error, and takes nothing with it: the next writer gets the lock.
func TestWriteLockWaitEndsWithContext(t *testing.T) {
	db := busyDB(t, filepath.Join(t.TempDir(), "cancel.db"))
	ctx := t.Context()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	waits := map[string]func(context.Context) error{
		"exec": func(ctx context.Context) error {
			_, err := db.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('x')`)
			return err
		},
		"begin": func(ctx context.Context) error {
			tx, err := db.BeginTx(ctx, nil)
			if err == nil {
				tx.Rollback()
			}
			return err
		},
		"writetx": func(ctx context.Context) error {
			return psdriver.WriteTx(ctx, db, func(*sql.Tx) error { return nil })
		},
	}
	for name, w := range waits {
		t.Run(name, func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w(wctx) }()
			waitForWaiters(t, db, 1, done)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	}
	if err := holder.Rollback(); err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO todos(id) VALUES ('after')`)
	if n := countCrud(t, db); n != 1 {
		t.Errorf("%d upload entries, want 1 (the cancelled writers queued nothing)", n)
	}
}

// The lock is released however a write transaction ends: commit, rollback,
// a context that ends while it is open (database/sql rolls it back), a BEGIN
// statement's transaction closed with its connection.
func TestWriteLockReleasedWhenTransactionEnds(t *testing.T) {
	db := busyDB(t, filepath.Join(t.TempDir(), "release.db"))
	db.SetMaxIdleConns(0) // a returned sql.Conn is closed
	ctx := t.Context()

	tctx, cancel := context.WithCancel(ctx)
	tx, err := db.BeginTx(tctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(tctx, `INSERT INTO todos(id) VALUES ('lost')`); err != nil {
		t.Fatal(err)
	}
	cancel()
	// database/sql rolls back in a goroutine of its own: the next writer
	// waits for it.
	exec(t, db, `INSERT INTO todos(id) VALUES ('a')`)
	if err := tx.Commit(); !errors.Is(err, context.Canceled) && !errors.Is(err, sql.ErrTxDone) {
		t.Errorf("Commit after the context ended = %v", err)
	}

	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('closed')`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('b')`)
		done <- err
	}()
	waitForWaiters(t, db, 1, done)
	c.Close() // closes the driver connection: SQLite rolls back, the lock is released
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var ids []string
	rows, err := db.QueryContext(ctx, `SELECT id FROM todos ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if got := strings.Join(ids, ","); got != "a,b" {
		t.Errorf("rows %s, want a,b", got)
	}
}

// Many writers on one pool, of every kind, with a pool smaller than the
// number of writers and one that is larger: none fails with SQLITE_BUSY,
// none deadlocks, and every write is queued once.
func TestConcurrentWritersNeverBusy(t *testing.T) {
	for _, maxOpen := range []int{1, 3, 0} {
		t.Run(fmt.Sprintf("max_open_%d", maxOpen), func(t *testing.T) {
			db := busyDB(t, filepath.Join(t.TempDir(), "many.db"))
			db.SetMaxOpenConns(maxOpen)
			ctx := t.Context()
			const writers, each = 6, 20
			errs := make(chan error, writers*each)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						id := fmt.Sprintf("w%d-%d", w, i)
						var err error
						switch (w + i) % 3 {
						case 0:
							_, err = db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (?, 'x')`, id)
						case 1:
							err = psdriver.WriteTx(ctx, db, func(tx *sql.Tx) error {
								_, err := tx.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (?, 'x')`, id)
								return err
							})
						default:
							err = psdriver.ReadTx(ctx, db, func(tx *sql.Tx) error {
								var n int
								return tx.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n)
							})
							if err == nil {
								_, err = db.ExecContext(ctx, `INSERT INTO todos(id, description) VALUES (?, 'x')`, id)
							}
						}
						if err != nil {
							errs <- fmt.Errorf("%s: %w", id, err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := countCrud(t, db); n != writers*each {
				t.Errorf("%d upload entries, want %d", n, writers*each)
			}
		})
	}
}

// WriteTx commits when fn returns nil, rolls back when it returns an error
// or panics, and lets the panic go on.
func TestWriteTxAndReadTx(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "helpers.db"), todoSchema())
	ctx := t.Context()
	insert := func(id string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO todos(id) VALUES (?)`, id)
			return err
		}
	}
	if err := psdriver.WriteTx(ctx, db, insert("committed")); err != nil {
		t.Fatal(err)
	}
	errFn := errors.New("fn failed")
	err := psdriver.WriteTx(ctx, db, func(tx *sql.Tx) error {
		if err := insert("rolled back")(tx); err != nil {
			return err
		}
		return errFn
	})
	if !errors.Is(err, errFn) {
		t.Errorf("WriteTx = %v, want the error of fn", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic of fn", r)
			}
		}()
		_ = psdriver.WriteTx(ctx, db, func(tx *sql.Tx) error {
			if err := insert("panicked")(tx); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	var ids []string
	err = psdriver.ReadTx(ctx, db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM todos ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != "committed" {
		t.Errorf("rows %q, want only the committed one", got)
	}
	// The lock was released by the rollbacks: a writer does not wait.
	exec(t, db, `INSERT INTO todos(id) VALUES ('after')`)
}

// A read-only transaction refuses every write, with an error wrapping
// ErrReadOnly, and queues nothing; the connection writes again afterwards.
func TestReadOnlyTransactionRefusesWrites(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "ro.db"), todoSchema())
	db.SetMaxOpenConns(1) // the same connection before, in and after the transaction
	ctx := t.Context()
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('a', 'x')`)
	before := countCrud(t, db)
	prepared, err := db.PrepareContext(ctx, `UPDATE todos SET description = 'y' WHERE id = 'a'`)
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()

	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO todos(id, description) VALUES ('b', 'x')`,
		`UPDATE todos SET description = 'y' WHERE id = 'a'`,
		`DELETE FROM todos`,
		`INSERT INTO drafts(id, body) VALUES ('d', 'local-only')`,
		`DELETE FROM ps_crud`,
		`CREATE TABLE t(x)`,
		`PRAGMA user_version = 7`,
		`INSERT INTO todos(id) VALUES ('c'); SELECT 1`,
	} {
		if _, err := tx.ExecContext(ctx, q); !errors.Is(err, psdriver.ErrReadOnly) {
			t.Errorf("%s: err = %v, want ErrReadOnly", q, err)
		} else if !strings.Contains(err.Error(), "read-only transaction") {
			t.Errorf("%s: error %q does not say why", q, err)
		}
	}
	if _, err := tx.StmtContext(ctx, prepared).ExecContext(ctx); !errors.Is(err, psdriver.ErrReadOnly) {
		t.Errorf("prepared statement: err = %v, want ErrReadOnly", err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM todos`).Scan(&n); err != nil || n != 1 {
		t.Errorf("read in the read-only transaction: %d rows, %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := countCrud(t, db); got != before {
		t.Errorf("%d upload entries after the read-only transaction, want %d", got, before)
	}
	var desc string
	if err := db.QueryRowContext(ctx, `SELECT description FROM todos WHERE id = 'a'`).Scan(&desc); err != nil || desc != "x" {
		t.Errorf("row a = %q, %v; want it unchanged", desc, err)
	}
	exec(t, db, `INSERT INTO todos(id) VALUES ('after')`)
	if _, err := prepared.ExecContext(ctx); err != nil {
		t.Errorf("prepared statement after the read-only transaction: %v", err)
	}
}

// NaN and ±Inf cannot be written to a PowerSync table: the write fails with
// ErrNonFinite and queues nothing. (SQLite stores a NaN argument as NULL;
// the official core then queues NULL and fails on ±Inf with "number out of
// range".) A literal infinity (1e999) fails with a message that says so.
func TestNonFiniteNumbersAreRefused(t *testing.T) {
	s := schema.New(
		schema.Table{Name: "m", Columns: []schema.Column{schema.Real("v")}},
		schema.Table{Name: "l", Columns: []schema.Column{schema.Real("v")}, LocalOnly: true},
	)
	db := openDB(t, filepath.Join(t.TempDir(), "nan.db"), s)
	ctx := t.Context()
	nan, inf := math.NaN(), math.Inf(1)
	exec(t, db, `INSERT INTO m(id, v) VALUES ('u', 1)`)
	prepared, err := db.PrepareContext(ctx, `UPDATE m SET v = ? WHERE id = 'u'`)
	if err != nil {
		t.Fatal(err)
	}
	defer prepared.Close()
	cases := []struct {
		name string
		run  func() error
	}{
		{"insert NaN", func() error { _, err := db.ExecContext(ctx, `INSERT INTO m(id, v) VALUES ('n', ?)`, nan); return err }},
		{"insert +Inf", func() error { _, err := db.ExecContext(ctx, `INSERT INTO m(id, v) VALUES ('i', ?)`, inf); return err }},
		{"insert -Inf local-only", func() error {
			_, err := db.ExecContext(ctx, `INSERT INTO l(id, v) VALUES ('i', ?)`, -inf)
			return err
		}},
		{"update NaN prepared", func() error { _, err := prepared.ExecContext(ctx, nan); return err }},
		{"update NaN in tx", func() error {
			return psdriver.WriteTx(ctx, db, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `UPDATE m SET v = ? WHERE id = 'u'`, nan)
				return err
			})
		}},
		{"returning", func() error {
			var id string
			return db.QueryRowContext(ctx, `UPDATE ps_kv SET value = value WHERE ? IS NULL RETURNING key`, nan).Scan(&id)
		}},
	}
	for _, c := range cases {
		err := c.run()
		if c.name == "returning" {
			// not a write through a view: plain SQLite behaviour
			if !errors.Is(err, sql.ErrNoRows) && err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, psdriver.ErrNonFinite) {
			t.Errorf("%s: err = %v, want ErrNonFinite", c.name, err)
		}
	}
	_, err = db.ExecContext(ctx, `INSERT INTO m(id, v) VALUES ('lit', 1e999)`)
	if err == nil || !strings.Contains(err.Error(), "Inf") {
		t.Errorf("literal infinity: err = %v, want one that names Inf", err)
	}
	if n := countCrud(t, db); n != 1 {
		t.Errorf("%d upload entries, want 1 (only the first insert)", n)
	}
	var v float64
	if err := db.QueryRowContext(ctx, `SELECT v FROM m WHERE id = 'u'`).Scan(&v); err != nil || v != 1 {
		t.Errorf("row u: v = %v, %v; want 1", v, err)
	}
	// Other statements keep plain SQLite's behaviour.
	var isNull bool
	if err := db.QueryRowContext(ctx, `SELECT ? IS NULL`, nan).Scan(&isNull); err != nil || !isNull {
		t.Errorf("SELECT ? IS NULL with NaN = %v, %v", isNull, err)
	}
}

// A database file can be opened for reading with mode=ro in the DSN, as a
// plain path or a file: URI: nothing is created or migrated, reads work,
// every write fails with ErrReadOnly and the file is unchanged.
func TestOpenReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.db")
	db := openDB(t, path, todoSchema())
	exec(t, db, `INSERT INTO todos(id, description) VALUES ('a', 'x')`)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{path + "?mode=ro", "file:" + path + "?mode=ro"} {
		t.Run(dsn[len(dir):], func(t *testing.T) {
			c, err := psdriver.NewConnector(dsn, psdriver.WithSchema(todoSchema()))
			if err != nil {
				t.Fatal(err)
			}
			ro := sql.OpenDB(c)
			defer ro.Close()
			ctx := t.Context()
			var desc string
			if err := ro.QueryRowContext(ctx, `SELECT description FROM todos WHERE id = 'a'`).Scan(&desc); err != nil || desc != "x" {
				t.Fatalf("read: %q, %v", desc, err)
			}
			if _, err := ro.ExecContext(ctx, `INSERT INTO todos(id) VALUES ('b')`); !errors.Is(err, psdriver.ErrReadOnly) || !strings.Contains(err.Error(), "mode=ro") {
				t.Errorf("write: err = %v, want ErrReadOnly naming mode=ro", err)
			}
			err = psdriver.WriteTx(ctx, ro, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM todos`)
				return err
			})
			if !errors.Is(err, psdriver.ErrReadOnly) {
				t.Errorf("WriteTx: err = %v, want ErrReadOnly", err)
			}
			err = psdriver.ReadTx(ctx, ro, func(tx *sql.Tx) error {
				return tx.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(new(int))
			})
			if err != nil {
				t.Errorf("ReadTx: %v", err)
			}
		})
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("the read-only opens changed the file")
	}
	// A file that is not a PowerSync database yet is refused, not created.
	if _, err := sql.OpenDB(mustConnector(t, filepath.Join(dir, "missing.db")+"?mode=ro")).ExecContext(t.Context(), `SELECT 1`); err == nil {
		t.Error("opening a missing file read-only succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the read-only open created the file: %v", err)
	}
}

func mustConnector(t *testing.T, dsn string) *psdriver.Connector {
	t.Helper()
	c, err := psdriver.NewConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
