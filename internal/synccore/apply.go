package synccore

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

type syncResultKind uint8

const (
	syncApplied syncResultKind = iota
	syncChecksumFailure
	syncPendingLocal
)

type syncResult struct {
	kind   syncResultKind
	detail string
}

const (
	keyTarget    = "target_checkpoint_request_id"
	keySeen      = "last_seen_checkpoint_request_id"
	keyApplied   = "last_applied_checkpoint_request_id"
	keyRequested = "last_requested_checkpoint_request_id"
)

// syncLocal validates a checkpoint and publishes its data (spec
// client-algorithms §5). priority < 0 means a complete sync.
func (c *call) syncLocal(cp *checkpoint, priority int32) (syncResult, error) {
	names := cp.sortedNames()
	var included []string
	for _, n := range names {
		if cp.buckets[n].included(priority) {
			included = append(included, n)
		}
	}
	// 1. validate
	sums := make(map[string][2]uint32, len(included))
	rows, err := c.tx.QueryContext(c.ctx, "SELECT name, add_checksum, op_checksum FROM ps_buckets")
	if err != nil {
		return syncResult{}, err
	}
	for rows.Next() {
		var n string
		var a, o int64
		if err := rows.Scan(&n, &a, &o); err != nil {
			rows.Close()
			return syncResult{}, err
		}
		sums[n] = [2]uint32{uint32(a), uint32(o)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return syncResult{}, err
	}
	var failed []string
	var detail strings.Builder
	for _, n := range included {
		s := sums[n]
		if got := s[0] + s[1]; got != cp.buckets[n].checksum {
			if len(failed) > 0 {
				detail.WriteString(", ")
			}
			fmt.Fprintf(&detail, "%s (expected 0x%08x, got 0x%08x = 0x%08x (op) + 0x%08x (add))",
				n, cp.buckets[n].checksum, got, s[1], s[0])
			failed = append(failed, n)
		}
	}
	if len(failed) > 0 {
		if err := c.deleteBuckets(failed); err != nil {
			return syncResult{}, err
		}
		return syncResult{kind: syncChecksumFailure, detail: "Checksums didn't match, failed for: " + detail.String()}, nil
	}
	// 2. bookkeeping
	inc, _ := json.Marshal(included)
	if len(included) > 0 {
		if _, err := c.exec("UPDATE ps_buckets SET last_op = ? WHERE name IN (SELECT value FROM json_each(?))", cp.lastOpID, string(inc)); err != nil {
			return syncResult{}, err
		}
	}
	if priority < 0 && cp.hasWriteCheckpoint {
		if err := writeKVInt(c.ctx, c.tx, keySeen, cp.writeCheckpoint); err != nil {
			return syncResult{}, err
		}
	}
	// 3. publish
	if priority != 0 {
		ok, err := c.canApply()
		if err != nil {
			return syncResult{}, err
		}
		if !ok {
			return syncResult{kind: syncPendingLocal}, nil
		}
	}
	if err := c.enterSyncOperation(); err != nil {
		return syncResult{}, err
	}
	if err := c.applyRows(priority, string(inc)); err != nil {
		return syncResult{}, err
	}
	code := int64(FullSyncPriority)
	if priority < 0 {
		if _, err := c.exec("UPDATE ps_buckets SET last_applied_op = last_op WHERE last_applied_op != last_op"); err != nil {
			return syncResult{}, err
		}
		if _, err := c.exec("DELETE FROM ps_updated_rows"); err != nil {
			return syncResult{}, err
		}
	} else {
		code = int64(priority)
		if _, err := c.exec("UPDATE ps_buckets SET last_applied_op = last_op WHERE last_applied_op != last_op AND name IN (SELECT value FROM json_each(?))", string(inc)); err != nil {
			return syncResult{}, err
		}
	}
	if _, err := c.exec("DELETE FROM ps_sync_state WHERE priority < ?", code); err != nil {
		return syncResult{}, err
	}
	if _, err := c.exec("INSERT OR REPLACE INTO ps_sync_state(priority, last_synced_at) VALUES (?, ?)", code, c.now); err != nil {
		return syncResult{}, err
	}
	if priority < 0 {
		for _, n := range names {
			b := cp.buckets[n]
			if b.hasCount {
				if _, err := c.exec("UPDATE ps_buckets SET count_since_last = 0, count_at_last = ? WHERE name = ?", b.count, n); err != nil {
					return syncResult{}, err
				}
			}
		}
	}
	// 4. streams
	it := c.e.it
	var synced []int64
	for _, s := range it.streams {
		if priority < 0 || (s.priority != nil && *s.priority <= priority) {
			if _, err := c.exec("UPDATE ps_stream_subscriptions SET last_synced_at = ? WHERE id = ?", c.now, s.id); err != nil {
				return syncResult{}, err
			}
			synced = append(synced, s.id)
		}
	}
	if len(synced) > 0 {
		now := c.now
		c.then(func(it *iteration) {
			for i := range it.streams {
				if slices.Contains(synced, it.streams[i].id) {
					it.streams[i].lastSyncedAt = &now
				}
			}
		})
	}
	return syncResult{kind: syncApplied}, nil
}

// canApply is the local-write gate (spec client-algorithms §5.1).
func (c *call) canApply() (bool, error) {
	var one int
	err := c.tx.QueryRowContext(c.ctx, `SELECT
  EXISTS(SELECT 1 FROM ps_kv AS target
    LEFT JOIN ps_kv AS seen ON seen.key = 'last_seen_checkpoint_request_id'
    WHERE target.key = 'target_checkpoint_request_id'
      AND CAST(target.value AS INTEGER) > COALESCE(CAST(seen.value AS INTEGER), 0))
  OR EXISTS(SELECT 1 FROM ps_crud LIMIT 1)`).Scan(&one)
	if err != nil {
		return false, err
	}
	return one == 0, nil
}

const fullRowsSQL = `INSERT INTO temp.ps_sync_rows(row_type, row_id, data)
WITH updated_rows AS (
    SELECT b.row_type, b.row_id FROM ps_buckets AS buckets
        CROSS JOIN ps_oplog AS b ON b.bucket = buckets.id
        AND (b.op_id > buckets.last_applied_op)
    UNION ALL SELECT row_type, row_id FROM ps_updated_rows
)
SELECT
    b.row_type,
    b.row_id,
    (SELECT iif(max(r.op_id), r.data, null) FROM ps_oplog r
      WHERE r.row_type = b.row_type AND r.row_id = b.row_id) AS data
FROM updated_rows b
GROUP BY b.row_type, b.row_id`

const partialRowsSQL = `INSERT INTO temp.ps_sync_rows(row_type, row_id, data)
WITH
  involved_buckets (id) AS MATERIALIZED (
    SELECT id FROM ps_buckets WHERE name IN (SELECT value FROM json_each(?1))
  ),
  updated_rows AS (
    SELECT b.row_type, b.row_id FROM ps_buckets AS buckets
        CROSS JOIN ps_oplog AS b ON b.bucket = buckets.id
        AND (b.op_id > buckets.last_applied_op)
        WHERE buckets.id IN (SELECT id FROM involved_buckets)
  )
SELECT
    b.row_type,
    b.row_id,
    (SELECT iif(max(r.op_id), r.data, null) FROM ps_oplog r
      WHERE r.row_type = b.row_type AND r.row_id = b.row_id
        AND r.bucket IN (SELECT id FROM involved_buckets)) AS data
FROM updated_rows b
GROUP BY b.row_type, b.row_id`

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// applyRows writes the rows changed by a checkpoint into the data tables.
// The candidate rows are collected in a temporary table, then written with
// one set statement per table.
func (c *call) applyRows(priority int32, involved string) error {
	if _, err := c.tx.ExecContext(c.ctx, "CREATE TEMP TABLE IF NOT EXISTS ps_sync_rows(row_type TEXT, row_id TEXT, data TEXT, PRIMARY KEY (row_type, row_id)) WITHOUT ROWID"); err != nil {
		return err
	}
	c.rowsTemp = true
	var err error
	if priority < 0 {
		_, err = c.tx.ExecContext(c.ctx, fullRowsSQL)
	} else {
		_, err = c.tx.ExecContext(c.ctx, partialRowsSQL, involved)
	}
	if err != nil {
		return fmt.Errorf("powersync: collect synced rows: %w", err)
	}
	types, err := c.distinctTypes()
	if err != nil {
		return err
	}
	if len(types) == 0 {
		return nil
	}
	tables, err := c.jsonTables()
	if err != nil {
		return err
	}
	for _, t := range types {
		if internal, ok := tables[t]; ok {
			q := quoteIdent(internal)
			if _, err := c.tx.ExecContext(c.ctx, "REPLACE INTO "+q+"(id, data) SELECT row_id, data FROM temp.ps_sync_rows WHERE row_type = ? AND data IS NOT NULL", t); err != nil {
				return fmt.Errorf("powersync: apply rows of %q: %w", t, err)
			}
			if _, err := c.tx.ExecContext(c.ctx, "DELETE FROM "+q+" WHERE id IN (SELECT row_id FROM temp.ps_sync_rows WHERE row_type = ? AND data IS NULL)", t); err != nil {
				return fmt.Errorf("powersync: apply rows of %q: %w", t, err)
			}
			continue
		}
		if raw, ok := c.e.it.rawTables[t]; ok {
			if err := c.applyRaw(raw, t); err != nil {
				return err
			}
			continue
		}
		if _, err := c.tx.ExecContext(c.ctx, "REPLACE INTO ps_untyped(type, id, data) SELECT row_type, row_id, data FROM temp.ps_sync_rows WHERE row_type = ? AND data IS NOT NULL", t); err != nil {
			return fmt.Errorf("powersync: apply untyped rows of %q: %w", t, err)
		}
		if _, err := c.tx.ExecContext(c.ctx, "DELETE FROM ps_untyped WHERE type = ? AND id IN (SELECT row_id FROM temp.ps_sync_rows WHERE row_type = ? AND data IS NULL)", t, t); err != nil {
			return fmt.Errorf("powersync: apply untyped rows of %q: %w", t, err)
		}
	}
	return nil
}

func (c *call) distinctTypes() ([]string, error) {
	rows, err := c.tx.QueryContext(c.ctx, "SELECT DISTINCT row_type FROM temp.ps_sync_rows WHERE row_type IS NOT NULL ORDER BY row_type")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// jsonTables maps the synced (non-local) JSON tables' public names to their
// internal table names.
func (c *call) jsonTables() (map[string]string, error) {
	rows, err := c.tx.QueryContext(c.ctx, "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data__*'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out[strings.TrimPrefix(n, "ps_data__")] = n
	}
	return out, rows.Err()
}
