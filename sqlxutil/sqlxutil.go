package sqlxutil

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"reflect"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/jmoiron/sqlx"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
)

// DriverName is the database/sql driver name of PowerSync databases, the
// name sqlx knows the bind type of.
const DriverName = driver.DriverName

func init() {
	// SQLite takes ? placeholders; sqlx must know it for Rebind and In.
	sqlx.BindDriver(DriverName, sqlx.QUESTION)
}

// Open opens a PowerSync database with sqlx, as sql.Open("powersync", dsn)
// would: register the schema with driver.RegisterSchema and name it in the
// DSN ("app.db?_powersync_schema=app"). Importing this package registers the
// driver.
func Open(dsn string) (*sqlx.DB, error) {
	db, err := sqlx.Open(DriverName, dsn)
	if err != nil {
		return nil, pserr.Errorf("powersync: open: %w", err)
	}
	return db, nil
}

// NewDB wraps a database opened with the "powersync" driver (for example by
// sql.OpenDB(driver.NewConnector(...))) for sqlx, with ? placeholders.
func NewDB(db *sql.DB) *sqlx.DB {
	return sqlx.NewDb(db, DriverName)
}

// Get runs query and scans its first row into a T: a struct (columns to
// fields by `db` tag or lower-cased name) or a single-column value. When the
// query returns no row, the error wraps sql.ErrNoRows. q is a *sqlx.DB,
// *sqlx.Tx or *sqlx.Conn.
func Get[T any](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (T, error) {
	var v T
	if err := sqlx.GetContext(ctx, q, &v, query, args...); err != nil {
		var zero T
		return zero, pserr.Errorf("powersync: get: %w", err)
	}
	return v, nil
}

// GetOptional is Get returning nil, and no error, when the query returns no
// row.
func GetOptional[T any](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (*T, error) {
	v := new(T)
	err := sqlx.GetContext(ctx, q, v, query, args...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, pserr.Errorf("powersync: get: %w", err)
	}
	return v, nil
}

// Select runs query and scans every row into a T, as Get does; the SDKs
// call it getAll. No row gives a nil slice (length 0) and no error.
func Select[T any](ctx context.Context, q sqlx.QueryerContext, query string, args ...any) ([]T, error) {
	var v []T
	if err := sqlx.SelectContext(ctx, q, &v, query, args...); err != nil {
		return nil, pserr.Errorf("powersync: select: %w", err)
	}
	return v, nil
}

// Watch watches a query with the default settings; see WatchWith.
func Watch[T any](ctx context.Context, db *sqlx.DB, query string, args ...any) iter.Seq2[[]T, error] {
	return WatchWith[T](ctx, db, hooks.Watcher{}, query, args...)
}

// WatchWith returns an iterator over the rows of query, scanned as Select
// scans them: the rows now, then again after each committed change to a
// table the query reads (or to w.Tables), throttled by w.Throttle, until
// ctx ends or the loop breaks. It behaves as hooks.Watch does, except that
// w.Mode may be hooks.ModeEvery or hooks.ModeChanged (rows compared with
// reflect.DeepEqual); for row differences use hooks.Watch with
// hooks.ModeDiff.
func WatchWith[T any](ctx context.Context, db *sqlx.DB, w hooks.Watcher, query string, args ...any) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		if w.Mode != hooks.ModeEvery && w.Mode != hooks.ModeChanged {
			yield(nil, fmt.Errorf("powersync: watch: mode %d is not supported for typed results", w.Mode))
			return
		}
		query := db.Rebind(query)
		tables := w.Tables
		if len(tables) == 0 {
			var err error
			if tables, err = hooks.QueryTables(ctx, db.DB, query, args...); err != nil {
				if ctx.Err() == nil {
					yield(nil, err)
				}
				return
			}
		}
		run := func(ctx context.Context) ([]T, error) {
			var v []T
			if err := sqlx.SelectContext(ctx, db, &v, query, args...); err != nil {
				return nil, pserr.Errorf("powersync: watch query: %w", err)
			}
			return v, nil
		}
		var prev []T
		first := true
		for v, err := range hooks.WatchFunc(ctx, db.DB, w, tables, run) {
			if err != nil {
				if !yield(nil, err) {
					return
				}
				continue
			}
			if w.Mode == hooks.ModeChanged && !first && reflect.DeepEqual(prev, v) {
				continue
			}
			first, prev = false, v
			if !yield(v, nil) {
				return
			}
		}
	}
}
