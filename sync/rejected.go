package sync

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// rejectedTable keeps upload queue entries the application set aside. It is
// ours, not part of the official layout, so the core and other SDKs ignore it.
const rejectedTable = "powersync_go_rejected_crud"

const createRejectedTable = `CREATE TABLE IF NOT EXISTS ` + rejectedTable + ` (
  id INTEGER PRIMARY KEY,
  tx_id INTEGER,
  data TEXT NOT NULL,
  reason TEXT NOT NULL,
  rejected_at INTEGER NOT NULL
)`

// RejectedEntry is an upload queue entry that was set aside because the
// backend can never accept it.
type RejectedEntry struct {
	// Entry is the change as it was queued (ClientID keeps its queue id).
	Entry CrudEntry
	// Reason is the text of the error given when it was set aside.
	Reason string
	// RejectedAt is when it was set aside.
	RejectedAt time.Time
}

// RejectCrud sets entries aside: it removes them from the upload queue and
// keeps them, with reason, in a table of this package (listed by
// [RejectedCrud]), in one transaction. Later changes are no longer blocked by
// them. The local rows keep their local values until the next checkpoint from
// the service replaces them with the server's state.
//
// Entries no longer in the queue are ignored.
func RejectCrud(ctx context.Context, db *sql.DB, reason error, entries ...CrudEntry) error {
	if db == nil {
		return errors.New("powersync: reject upload entry: no database")
	}
	why := "rejected"
	if reason != nil {
		why = reason.Error()
	}
	now := time.Now().UnixMicro()
	return inWriteTx(ctx, db, "reject upload entry", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, createRejectedTable); err != nil {
			return err
		}
		for _, e := range entries {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO `+rejectedTable+`(id, tx_id, data, reason, rejected_at)
SELECT id, tx_id, data, ?, ? FROM ps_crud WHERE id = ?`, why, now, e.ClientID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ps_crud WHERE id = ?`, e.ClientID); err != nil {
				return err
			}
		}
		// Changes were removed without reaching the backend: the gate stays
		// closed until a write checkpoint is created for the remaining state.
		_, _, err := synccore.SetTargetCheckpointRequestID(ctx, tx, synccore.MaxOpID)
		return err
	})
}

// RejectedCrud lists the entries set aside by [RejectCrud], a
// [*PermanentError] or the Reject methods, oldest first.
func RejectedCrud(ctx context.Context, db *sql.DB) ([]RejectedEntry, error) {
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`, rejectedTable).Scan(&exists); err != nil {
		return nil, pserr.Errorf("powersync: list rejected entries: %w", err)
	}
	if exists == 0 {
		return nil, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT id, tx_id, data, reason, rejected_at FROM `+rejectedTable+` ORDER BY id`)
	if err != nil {
		return nil, pserr.Errorf("powersync: list rejected entries: %w", err)
	}
	defer rows.Close()
	var out []RejectedEntry
	for rows.Next() {
		var (
			id, at int64
			tx     sql.NullInt64
			data   string
			reason string
		)
		if err := rows.Scan(&id, &tx, &data, &reason, &at); err != nil {
			return nil, pserr.Errorf("powersync: list rejected entries: %w", err)
		}
		e, err := parseCrudEntry(id, tx, data)
		if err != nil {
			return nil, err
		}
		out = append(out, RejectedEntry{Entry: e, Reason: reason, RejectedAt: time.UnixMicro(at)})
	}
	if err := rows.Err(); err != nil {
		return nil, pserr.Errorf("powersync: list rejected entries: %w", err)
	}
	return out, nil
}

// DeleteRejectedCrud removes set-aside entries once the application has dealt
// with them. Without ids it removes all of them.
func DeleteRejectedCrud(ctx context.Context, db *sql.DB, ids ...int64) error {
	return inWriteTx(ctx, db, "delete rejected entries", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, createRejectedTable); err != nil {
			return err
		}
		if len(ids) == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM `+rejectedTable)
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+rejectedTable+` WHERE id = ?`, id); err != nil {
				return err
			}
		}
		return nil
	})
}
