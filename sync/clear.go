package sync

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// clearer is implemented by a state machine that clears the database itself
// (powersync_clear).
type clearer interface {
	Clear(ctx context.Context, clearLocal bool) error
}

// clearDatabase deletes synced data, the upload queue and the sync state
// (client-algorithms.md §12 powersync_clear), keeping the client id, and the
// entries set aside by RejectCrud.
func clearDatabase(ctx context.Context, db *sql.DB, eng engine, clearLocal bool) error {
	if c, ok := eng.(clearer); ok {
		if err := c.Clear(ctx, clearLocal); err != nil {
			return fmt.Errorf("powersync: clear: %w", err)
		}
		return inWriteTx(ctx, db, "clear", func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+rejectedTable)
			return err
		})
	}
	return inWriteTx(ctx, db, "clear", func(tx *sql.Tx) error {
		for _, q := range []string{
			`DELETE FROM ps_oplog`,
			`DELETE FROM ps_buckets`,
			`DELETE FROM ps_crud`,
			`DELETE FROM ps_untyped`,
			`DELETE FROM ps_updated_rows`,
			`DELETE FROM ps_kv WHERE key != 'client_id'`,
			`DELETE FROM ps_stream_subscriptions`,
			`DELETE FROM ps_sync_state`,
			`DROP TABLE IF EXISTS ` + rejectedTable,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		pattern := "ps_data__*"
		if clearLocal {
			pattern = "ps_data_*"
		}
		rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?`, pattern)
		if err != nil {
			return err
		}
		var tables []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			tables = append(tables, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, t := range tables {
			q := `"` + strings.ReplaceAll(t, `"`, `""`) + `"`
			// Delete one row by rowid first: a plain DELETE FROM is
			// optimised into a truncate that change hooks do not see.
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+q+` WHERE rowid IN (SELECT rowid FROM `+q+` LIMIT 1)`); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+q); err != nil {
				return err
			}
		}
		return nil
	})
}
