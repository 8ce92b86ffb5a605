package hooks

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"iter"
	"reflect"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
)

// Mode selects which results a watched query reports.
type Mode int

const (
	// ModeEvery reports the result of every re-run, as the official SDKs do.
	ModeEvery Mode = iota
	// ModeChanged reports a re-run only when its rows differ from the last
	// reported result.
	ModeChanged
	// ModeDiff reports a re-run only when its rows differ from the last
	// reported result, and fills Result.Added, Removed and Updated, matching
	// rows by the Watcher's Key columns.
	ModeDiff
)

// Row is one result row, by column name. Values are as database/sql scans
// them into an any: int64, float64, string, []byte, bool, time.Time or nil.
type Row map[string]any

// RowUpdate is a row whose key stayed and whose values changed.
type RowUpdate struct {
	Old, New Row
}

// Result is one result of a watched query.
type Result struct {
	// Columns are the result's column names, in order.
	Columns []string
	// Rows is the whole result, in the query's order.
	Rows []Row

	// Added, Removed and Updated are filled in ModeDiff: the rows whose key
	// is new, gone, or kept with other values, compared with the previous
	// reported result (for the first result, every row is added). Added and
	// Updated follow the order of Rows, Removed that of the previous result.
	Added   []Row
	Removed []Row
	Updated []RowUpdate
}

// Watch watches a query with the default settings; see [Watcher.Watch].
func Watch(ctx context.Context, db *sql.DB, query string, args ...any) iter.Seq2[*Result, error] {
	return Watcher{}.Watch(ctx, db, query, args...)
}

// Watch returns an iterator over the results of query on db: its result
// now, then again after each committed change to a table it reads, until ctx
// ends or the loop breaks. The tables are found from the query itself (see
// [QueryTables]; views count as the tables they read) unless w.Tables names
// them. Re-runs are throttled (w.Throttle), so a burst of commits, or one
// transaction writing many rows such as an applied sync checkpoint, gives one
// new result. w.Mode can drop results equal to the previous one or report
// row differences.
//
// A range subscribes before the first run, so no commit is missed between a
// result and the next. A failing run yields its error and watching goes on;
// a failure to subscribe or to find the tables is yielded and ends it.
// Nothing runs after the range ends.
func (w Watcher) Watch(ctx context.Context, db *sql.DB, query string, args ...any) iter.Seq2[*Result, error] {
	return w.watchWith(ctx, db, query, args, subscribe)
}

func (w Watcher) watchWith(ctx context.Context, db *sql.DB, query string, args []any, sf subscribeFunc) iter.Seq2[*Result, error] {
	return func(yield func(*Result, error) bool) {
		tables := w.Tables
		if len(tables) == 0 {
			var err error
			if tables, err = QueryTables(ctx, db, query, args...); err != nil {
				if ctx.Err() == nil {
					yield(nil, err)
				}
				return
			}
		}
		run := func(ctx context.Context) (*Result, error) {
			return runQuery(ctx, db, query, args)
		}
		var prev *Result
		for r, err := range watchFuncWith(ctx, db, w, tables, run, sf) {
			if err != nil {
				if !yield(nil, err) {
					return
				}
				continue
			}
			switch w.Mode {
			case ModeChanged:
				if prev != nil && rowsEqual(prev.Rows, r.Rows) {
					continue
				}
			case ModeDiff:
				if err := diff(prev, r, w.Key); err != nil {
					if !yield(nil, err) {
						return
					}
					continue
				}
				if prev != nil && len(r.Added) == 0 && len(r.Removed) == 0 && len(r.Updated) == 0 {
					continue
				}
			}
			prev = r
			if !yield(r, nil) {
				return
			}
		}
	}
}

// WatchFunc is the building block of watched queries: it returns an
// iterator over the results of run, called now and again after each
// committed change to tables (named as for [Watcher.Listen]), throttled by
// w.Throttle, until ctx ends or the loop breaks. With no tables, run is
// called once and the iterator then waits for ctx to end, as for a query
// that reads no table. It ignores w.Tables, w.Mode and w.Key. Errors of run
// are yielded and watching goes on; a failure to subscribe is yielded and
// ends it. run is not called once ctx has ended.
func WatchFunc[T any](ctx context.Context, db *sql.DB, w Watcher, tables []string, run func(context.Context) (T, error)) iter.Seq2[T, error] {
	return watchFuncWith(ctx, db, w, tables, run, subscribe)
}

func watchFuncWith[T any](ctx context.Context, db *sql.DB, w Watcher, tables []string, run func(context.Context) (T, error), sf subscribeFunc) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		if len(tables) == 0 {
			// Nothing to listen to: the result never changes.
			if v, err := run(ctx); ctx.Err() == nil && yield(v, err) {
				<-ctx.Done()
			}
			return
		}
		l, err := w.listenWith(ctx, db, tables, sf)
		if err != nil {
			if ctx.Err() == nil {
				var zero T
				yield(zero, err)
			}
			return
		}
		defer l.Close()
		for ctx.Err() == nil {
			v, err := run(ctx)
			if ctx.Err() != nil || !yield(v, err) {
				return
			}
			if _, err := l.Next(ctx); err != nil {
				return
			}
		}
	}
}

// runQuery runs query and reads its whole result.
func runQuery(ctx context.Context, db *sql.DB, query string, args []any) (*Result, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, pserr.Errorf("powersync: watch query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, pserr.Errorf("powersync: watch query: %w", err)
	}
	res := &Result{Columns: cols}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, pserr.Errorf("powersync: watch query: %w", err)
		}
		row := make(Row, len(cols))
		for i, c := range cols {
			row[c] = vals[i]
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, pserr.Errorf("powersync: watch query: %w", err)
	}
	return res, nil
}

func rowsEqual(a, b []Row) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !rowEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func rowEqual(a, b Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, va := range a {
		vb, ok := b[k]
		if !ok || !valueEqual(va, vb) {
			return false
		}
	}
	return true
}

func valueEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case int64:
		b, ok := b.(int64)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case string:
		b, ok := b.(string)
		return ok && a == b
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	}
	return reflect.DeepEqual(a, b)
}

// diff fills cur's Added, Removed and Updated against prev (nil for the
// first result), matching rows by the key columns.
func diff(prev, cur *Result, key []string) error {
	if len(key) == 0 {
		key = []string{"id"}
	}
	cols := make([]string, len(key))
	for i, k := range key {
		j, ok := columnIndex(cur.Columns, k)
		if !ok {
			return fmt.Errorf("powersync: watch diff: key column %q not in result columns %q", k, cur.Columns)
		}
		cols[i] = cur.Columns[j]
	}
	key = cols
	if prev == nil {
		cur.Added = cur.Rows
		return nil
	}
	old := keyRows(prev.Rows, key)
	seen := make(map[string]bool, len(cur.Rows))
	for k, r := range keyedRows(cur.Rows, key) {
		seen[k] = true
		o, ok := old[k]
		switch {
		case !ok:
			cur.Added = append(cur.Added, r)
		case !rowEqual(o, r):
			cur.Updated = append(cur.Updated, RowUpdate{Old: o, New: r})
		}
	}
	for k, r := range keyedRows(prev.Rows, key) {
		if !seen[k] {
			cur.Removed = append(cur.Removed, r)
		}
	}
	return nil
}

func columnIndex(cols []string, name string) (int, bool) {
	for i, c := range cols {
		if strings.EqualFold(c, name) {
			return i, true
		}
	}
	return 0, false
}

func keyRows(rows []Row, key []string) map[string]Row {
	m := make(map[string]Row, len(rows))
	for k, r := range keyedRows(rows, key) {
		m[k] = r
	}
	return m
}

// keyedRows yields each row with a string encoding of its key values. Rows
// sharing a key are told apart by their occurrence number, so duplicates
// pair up in order.
func keyedRows(rows []Row, key []string) iter.Seq2[string, Row] {
	return func(yield func(string, Row) bool) {
		count := make(map[string]int)
		var b strings.Builder
		for _, r := range rows {
			b.Reset()
			for _, k := range key {
				fmt.Fprintf(&b, "%T:%v\x00", r[k], r[k])
			}
			base := b.String()
			n := count[base]
			count[base] = n + 1
			if !yield(fmt.Sprintf("%s%d", base, n), r) {
				return
			}
		}
	}
}
