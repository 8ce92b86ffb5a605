package synccore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
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

// syncLocal validates a checkpoint and publishes its data (docs/sync.md,
// "Validating and applying a checkpoint"). priority < 0 means a complete
// sync.
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
	rows, err := c.query("SELECT name, add_checksum, op_checksum FROM ps_buckets")
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
	synced := make(map[int64]struct{})
	for _, s := range it.streams {
		if priority < 0 || (s.priority != nil && *s.priority <= priority) {
			if _, err := c.exec("UPDATE ps_stream_subscriptions SET last_synced_at = ? WHERE id = ?", c.now, s.id); err != nil {
				return syncResult{}, err
			}
			synced[s.id] = struct{}{}
		}
	}
	if len(synced) > 0 {
		now := c.now
		c.then(func(it *iteration) {
			for i := range it.streams {
				if _, ok := synced[it.streams[i].id]; ok {
					it.streams[i].lastSyncedAt = &now
				}
			}
		})
	}
	return syncResult{kind: syncApplied}, nil
}

// canApply is the local-write gate (docs/storage.md, "The local-write gate").
func (c *call) canApply() (bool, error) {
	var one int
	err := c.queryRow(`SELECT
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

const fullRowsSQL = `WITH updated_rows AS (
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

const partialRowsSQL = `WITH
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

// oplogTypesSQL lists the distinct non-NULL row types in the oplog, in order,
// with one ps_oplog_row index seek per type instead of a scan.
const oplogTypesSQL = `WITH RECURSIVE t(type) AS (
    SELECT min(row_type) FROM ps_oplog
    UNION ALL
    SELECT (SELECT min(row_type) FROM ps_oplog WHERE row_type > t.type) FROM t WHERE t.type IS NOT NULL
)
SELECT type FROM t WHERE type IS NOT NULL`

// typeRowsSQL gives, for one row type, the rows fullRowsSQL gives for it when
// every row of the oplog is new (see oplogAllNew): each row of the oplog,
// grouped straight from the ps_oplog_row index, with the data of its latest
// operation. The core's query sorts the whole oplog instead.
const typeRowsSQL = `SELECT row_id, iif(max(op_id), data, null) AS data
FROM ps_oplog WHERE row_type = ?1 GROUP BY row_id`

// oplogAllNew reports whether typeRowsSQL may replace fullRowsSQL: nothing
// waits in ps_updated_rows, and no bucket holds an operation at or below its
// last applied one. The first sync of a database is such a case. It costs
// one index lookup per bucket.
func (c *call) oplogAllNew() (bool, error) {
	var ok bool
	err := c.queryRow(`SELECT NOT EXISTS(SELECT 1 FROM ps_updated_rows)
  AND NOT EXISTS(SELECT 1 FROM ps_buckets AS b
    WHERE (SELECT min(op_id) FROM ps_oplog WHERE bucket = b.id) <= b.last_applied_op)`).Scan(&ok)
	return ok, err
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// applyRows writes the rows changed by a checkpoint into the data tables.
// The changed rows are streamed from one query (the core's) and written with
// multi-row statements per table, so memory stays flat however many rows a
// checkpoint touches. Rows of raw tables go through their statements one by
// one.
func (c *call) applyRows(priority int32, involved string) error {
	tables, err := c.jsonTables()
	if err != nil {
		return err
	}
	if priority < 0 {
		allNew, err := c.oplogAllNew()
		if err != nil {
			return err
		}
		if allNew {
			return c.applyAllNew(tables)
		}
	}
	var rows *sql.Rows
	if priority < 0 {
		rows, err = c.query(fullRowsSQL)
	} else {
		rows, err = c.query(partialRowsSQL, involved)
	}
	if err != nil {
		return pserr.Errorf("powersync: collect synced rows: %w", err)
	}
	defer rows.Close()
	w := &rowWriter{c: c, batches: map[string]*rowBatch{}}
	for rows.Next() {
		var typ, id, data sql.NullString
		if err := rows.Scan(&typ, &id, &data); err != nil {
			return err
		}
		if !typ.Valid || !id.Valid {
			continue
		}
		if err := w.apply(tables, typ.String, id.String, data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return w.flushAll()
}

// apply writes one changed row: into its JSON table (batched), through its
// raw table's statements, or into ps_untyped (batched).
func (w *rowWriter) apply(tables map[string]string, t, id string, data sql.NullString) error {
	if internal, ok := tables[t]; ok {
		return w.add(internal, false, t, id, data)
	}
	if raw, ok := w.c.e.it.rawTables[t]; ok {
		return w.c.applyRaw(raw, t, id, data)
	}
	return w.add("ps_untyped", true, t, id, data)
}

// applyAllNew is applyRows when every oplog row is new (a first sync): type
// by type in the order of the core's query, JSON tables are written by one
// INSERT ... SELECT each, so rows go from the oplog to the table without a
// sort and without passing through Go; raw and untyped rows are applied one
// by one as usual.
func (c *call) applyAllNew(tables map[string]string) error {
	types, err := c.queryNames(oplogTypesSQL)
	if err != nil {
		return pserr.Errorf("powersync: collect synced rows: %w", err)
	}
	w := &rowWriter{c: c, batches: map[string]*rowBatch{}}
	for _, t := range types {
		if internal, ok := tables[t]; ok {
			if err := c.applyTypeToTable(internal, t); err != nil {
				return pserr.Errorf("powersync: apply rows of %q: %w", t, err)
			}
			continue
		}
		if err := c.applyTypeRows(w, tables, t); err != nil {
			return err
		}
	}
	return w.flushAll()
}

// applyTypeToTable writes the rows of type t into the JSON table internal
// (quoted) in one pass over the oplog. A row whose latest data is NULL is
// written and then deleted again in the same transaction, which leaves what
// the core's delete leaves: REPLACE gives every row it writes a rowid above
// the table's largest before it, so the delete looks at those rows only.
func (c *call) applyTypeToTable(internal, t string) error {
	var before int64
	if err := c.queryRow(`SELECT coalesce(max(rowid), 0) FROM ` + internal).Scan(&before); err != nil {
		return err
	}
	if _, err := c.exec(`REPLACE INTO `+internal+`(id, data) SELECT row_id, data FROM (`+typeRowsSQL+`) WHERE row_id IS NOT NULL`, t); err != nil {
		return err
	}
	_, err := c.exec(`DELETE FROM `+internal+` WHERE rowid > ? AND data IS NULL`, before)
	return err
}

// applyTypeRows applies the rows of one raw or untyped row type row by row.
func (c *call) applyTypeRows(w *rowWriter, tables map[string]string, t string) error {
	rows, err := c.query(typeRowsSQL, t)
	if err != nil {
		return pserr.Errorf("powersync: collect synced rows: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, data sql.NullString
		if err := rows.Scan(&id, &data); err != nil {
			return err
		}
		if !id.Valid {
			continue
		}
		if err := w.apply(tables, t, id.String, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

const applyBatch = 64

type rowBatch struct {
	table   string // quoted target table
	untyped bool
	typ     string
	puts    []any // id, data pairs (untyped: type, id, data)
	nPuts   int
	dels    []any // ids
}

type rowWriter struct {
	c       *call
	batches map[string]*rowBatch
	order   []*rowBatch
}

func (w *rowWriter) add(table string, untyped bool, typ, id string, data sql.NullString) error {
	key := table
	if untyped {
		key = "\x00" + typ
	}
	b := w.batches[key]
	if b == nil {
		b = &rowBatch{table: table, untyped: untyped, typ: typ}
		w.batches[key] = b
		w.order = append(w.order, b)
	}
	if data.Valid {
		if untyped {
			b.puts = append(b.puts, typ, id, data.String)
		} else {
			b.puts = append(b.puts, id, data.String)
		}
		b.nPuts++
		if b.nPuts == applyBatch {
			return w.flushPuts(b)
		}
		return nil
	}
	b.dels = append(b.dels, id)
	if len(b.dels) == applyBatch {
		return w.flushDels(b)
	}
	return nil
}

func (w *rowWriter) flushPuts(b *rowBatch) error {
	if b.nPuts == 0 {
		return nil
	}
	var q strings.Builder
	if b.untyped {
		q.WriteString("REPLACE INTO ps_untyped(type, id, data) VALUES (?, ?, ?)")
		q.WriteString(strings.Repeat(", (?, ?, ?)", b.nPuts-1))
	} else {
		q.WriteString("REPLACE INTO " + b.table + "(id, data) VALUES (?, ?)")
		q.WriteString(strings.Repeat(", (?, ?)", b.nPuts-1))
	}
	if _, err := w.c.exec(q.String(), b.puts...); err != nil {
		return pserr.Errorf("powersync: apply rows of %q: %w", b.typ, err)
	}
	b.puts, b.nPuts = b.puts[:0], 0
	return nil
}

func (w *rowWriter) flushDels(b *rowBatch) error {
	if len(b.dels) == 0 {
		return nil
	}
	var q strings.Builder
	args := b.dels
	if b.untyped {
		q.WriteString("DELETE FROM ps_untyped WHERE type = ? AND id IN (?")
		args = append([]any{b.typ}, args...)
	} else {
		q.WriteString("DELETE FROM " + b.table + " WHERE id IN (?")
	}
	q.WriteString(strings.Repeat(", ?", len(b.dels)-1))
	q.WriteString(")")
	if _, err := w.c.exec(q.String(), args...); err != nil {
		return pserr.Errorf("powersync: apply rows of %q: %w", b.typ, err)
	}
	b.dels = b.dels[:0]
	return nil
}

func (w *rowWriter) flushAll() error {
	for _, b := range w.order {
		if err := w.flushPuts(b); err != nil {
			return err
		}
		if err := w.flushDels(b); err != nil {
			return err
		}
	}
	return nil
}

// jsonTables maps the synced (non-local) JSON tables' public names to their
// internal table names, quoted.
func (c *call) jsonTables() (map[string]string, error) {
	names, err := c.queryNames("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data__*'")
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[strings.TrimPrefix(n, "ps_data__")] = quoteIdent(n)
	}
	return out, nil
}
