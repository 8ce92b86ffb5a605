package synccore

import (
	"context"
	"fmt"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/schema"
)

// ClearFlags select what Clear removes (the core's powersync_clear flags).
type ClearFlags int

const (
	// ClearLocalTables also empties the local-only tables (ps_data_local__*).
	ClearLocalTables ClearFlags = 1
	// ClearSoft keeps the downloaded buckets and oplog, so that the next
	// connection resumes and re-applies everything from the oplog.
	ClearSoft ClearFlags = 2
)

var errIterationActive = fmt.Errorf("%w: Cannot clear or trigger resync while a sync iteration is active.", ErrState)

// Clear removes synced data and sync state as powersync_clear(flags) does:
// buckets and oplog (unless ClearSoft), the upload queue, ps_untyped,
// ps_updated_rows, every ps_kv key except client_id, stream subscriptions,
// ps_sync_state and the rows of every synced table (and local-only tables
// with ClearLocalTables). Raw tables with a clear statement are emptied with
// it while the connection is flagged as applying synced data. A soft clear is
// refused while an iteration is active.
func (e *Engine) Clear(ctx context.Context, flags ClearFlags, rawTables []schema.RawTable) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if flags&ClearSoft != 0 && e.it != nil {
		return errIterationActive
	}
	_, err := e.runLocked(ctx, callKind{}, func(c *call) error {
		stmts := []string{}
		if flags&ClearSoft != 0 {
			stmts = append(stmts, "UPDATE ps_buckets SET last_applied_op = 0")
		} else {
			stmts = append(stmts, "DELETE FROM ps_oplog", "DELETE FROM ps_buckets")
		}
		stmts = append(stmts,
			"DELETE FROM ps_crud", "DELETE FROM ps_untyped", "DELETE FROM ps_updated_rows",
			"DELETE FROM ps_kv WHERE key != 'client_id'",
			"DELETE FROM ps_stream_subscriptions",
			"DELETE FROM ps_sync_state", "UPDATE ps_stream_subscriptions SET last_synced_at = NULL")
		for _, q := range stmts {
			if _, err := c.tx.ExecContext(ctx, q); err != nil {
				return pserr.Errorf("powersync: clear: %w", err)
			}
		}
		glob := "ps_data__*"
		if flags&ClearLocalTables != 0 {
			glob = "ps_data_*"
		}
		tables, err := c.queryNames("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?", glob)
		if err != nil {
			return err
		}
		for _, t := range tables {
			q := quoteIdent(t)
			// One row first, so that change notifications report the table
			// (SQLite's truncate optimisation bypasses the update hooks).
			if _, err := c.tx.ExecContext(ctx, "DELETE FROM "+q+" WHERE rowid IN (SELECT rowid FROM "+q+" LIMIT 1)"); err != nil {
				return pserr.Errorf("powersync: clear %s: %w", t, err)
			}
			if _, err := c.tx.ExecContext(ctx, "DELETE FROM "+q); err != nil {
				return pserr.Errorf("powersync: clear %s: %w", t, err)
			}
		}
		for _, r := range rawTables {
			if r.Clear == "" {
				continue
			}
			if err := c.enterSyncOperation(); err != nil {
				return err
			}
			if _, err := c.tx.ExecContext(ctx, r.Clear); err != nil {
				return pserr.Errorf("powersync: clear raw table %s: %w", r.Name, err)
			}
		}
		return nil
	})
	return err
}

// TriggerResync marks every bucket as not applied, so that the next complete
// checkpoint republishes all rows from the oplog (powersync_trigger_resync).
// With clearProgress the completed-sync state (ps_sync_state, stream
// last_synced_at) is cleared too. It is refused while an iteration is active.
func (e *Engine) TriggerResync(ctx context.Context, clearProgress bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.it != nil {
		return errIterationActive
	}
	_, err := e.runLocked(ctx, callKind{}, func(c *call) error {
		stmts := []string{"UPDATE ps_buckets SET last_applied_op = 0"}
		if clearProgress {
			stmts = append(stmts, "DELETE FROM ps_sync_state", "UPDATE ps_stream_subscriptions SET last_synced_at = NULL")
		}
		for _, q := range stmts {
			if _, err := c.tx.ExecContext(ctx, q); err != nil {
				return pserr.Errorf("powersync: trigger resync: %w", err)
			}
		}
		return nil
	})
	return err
}

// queryNames returns the single text column of a query's rows.
func (c *call) queryNames(q string, args ...any) ([]string, error) {
	rows, err := c.query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
