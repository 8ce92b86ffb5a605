package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// maxOpID is the target_checkpoint_request_id that local writes set:
	// "local writes pending, no write checkpoint yet".
	maxOpID = math.MaxInt64
	// fullSyncPriority is the ps_sync_state priority of a complete sync.
	fullSyncPriority = math.MaxInt32
	// legacyLocalBucket is the ps_buckets row that held the write gate in
	// layouts before version 14.
	legacyLocalBucket = "$local"
)

// bucketInfo is one row of ps_buckets plus what the oplog holds for it.
type bucketInfo struct {
	ID             int64            `json:"id"`
	Name           string           `json:"name"`
	LastAppliedOp  int64            `json:"last_applied_op"`
	LastOp         int64            `json:"last_op"`
	Checksum       uint32           `json:"checksum"`
	AddChecksum    uint32           `json:"add_checksum"`
	OpChecksum     uint32           `json:"op_checksum"`
	CountAtLast    int64            `json:"count_at_last"`
	CountSinceLast int64            `json:"count_since_last"`
	DownloadedSize int64            `json:"downloaded_size"`
	PendingDelete  bool             `json:"pending_delete"`
	StoredOps      int64            `json:"stored_ops"`
	RowTypes       map[string]int64 `json:"row_types"`
}

// unapplied reports whether the bucket has downloaded operations that are not
// yet published to the data tables.
func (b *bucketInfo) unapplied() bool { return b.LastOp > b.LastAppliedOp }

// readBuckets reads ps_buckets (without the legacy $local row).
func (d *inspectDB) readBuckets(ctx context.Context) ([]*bucketInfo, error) {
	col := func(name string) (string, error) {
		ok, err := d.hasColumn(ctx, "ps_buckets", name)
		if err != nil || !ok {
			return "0", err
		}
		return name, nil
	}
	var extra []string
	for _, c := range []string{"add_checksum", "op_checksum", "pending_delete", "count_at_last", "count_since_last", "downloaded_size"} {
		e, err := col(c)
		if err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
		extra = append(extra, e)
	}
	q := "SELECT id, name, last_applied_op, last_op, " + strings.Join(extra, ", ") +
		" FROM ps_buckets WHERE name != '" + legacyLocalBucket + "' ORDER BY name"
	rows, err := d.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read buckets: %w", err)
	}
	defer rows.Close()
	var out []*bucketInfo
	byID := map[int64]*bucketInfo{}
	for rows.Next() {
		b := &bucketInfo{RowTypes: map[string]int64{}}
		var add, op, pending int64
		if err := rows.Scan(&b.ID, &b.Name, &b.LastAppliedOp, &b.LastOp, &add, &op, &pending,
			&b.CountAtLast, &b.CountSinceLast, &b.DownloadedSize); err != nil {
			return nil, fmt.Errorf("read buckets: %w", err)
		}
		b.AddChecksum, b.OpChecksum = uint32(add), uint32(op)
		b.Checksum = b.AddChecksum + b.OpChecksum
		b.PendingDelete = pending != 0
		out = append(out, b)
		byID[b.ID] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read buckets: %w", err)
	}
	if d.version < 5 {
		return out, nil // the oplog is keyed by bucket name; counts are not shown
	}
	rows, err = d.conn.QueryContext(ctx, "SELECT bucket, ifnull(row_type, ''), count(*) FROM ps_oplog GROUP BY bucket, row_type")
	if err != nil {
		return nil, fmt.Errorf("read oplog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, n int64
		var typ string
		if err := rows.Scan(&id, &typ, &n); err != nil {
			return nil, fmt.Errorf("read oplog: %w", err)
		}
		if b := byID[id]; b != nil {
			b.StoredOps += n
			b.RowTypes[typ] += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read oplog: %w", err)
	}
	return out, nil
}

// kvInt reads an integer ps_kv value; ok is false when the key is absent.
func (d *inspectDB) kvInt(ctx context.Context, key string) (v int64, ok bool, err error) {
	var raw any
	err = d.conn.QueryRowContext(ctx, "SELECT value FROM ps_kv WHERE key = ?", key).Scan(&raw)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read ps_kv %s: %w", key, err)
	}
	switch x := raw.(type) {
	case int64:
		return x, true, nil
	case float64:
		return int64(x), true, nil
	case nil:
		return 0, false, nil
	case string:
		v, err = strconv.ParseInt(strings.TrimSpace(x), 10, 64)
	case []byte:
		v, err = strconv.ParseInt(strings.TrimSpace(string(x)), 10, 64)
	default:
		err = fmt.Errorf("unexpected type %T", raw)
	}
	if err != nil {
		return 0, false, fmt.Errorf("read ps_kv %s: %w", key, err)
	}
	return v, true, nil
}

// kvText reads a ps_kv value as text ("" when absent).
func (d *inspectDB) kvText(ctx context.Context, key string) (string, error) {
	var v sql.NullString
	err := d.conn.QueryRowContext(ctx, "SELECT CAST(value AS TEXT) FROM ps_kv WHERE key = ?", key).Scan(&v)
	if err == sql.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read ps_kv %s: %w", key, err)
	}
	return v.String, nil
}

// gateStatus is the local-write gate: whether downloaded checkpoints may be
// published to the data tables (core can_apply).
type gateStatus struct {
	Open bool `json:"open"`
	// Reason says why the gate is closed, or what opened it.
	Reason string `json:"reason"`
	// PendingUpload is true while local writes wait for upload and for a
	// write checkpoint (target is MAX_OP_ID).
	PendingUpload bool `json:"pending_upload"`
	// Target is target_checkpoint_request_id: the write checkpoint a complete
	// checkpoint must reach before downloaded data is applied.
	Target *int64 `json:"target_checkpoint_request_id"`
	// LastSeen is the write checkpoint of the last validated complete checkpoint.
	LastSeen *int64 `json:"last_seen_checkpoint_request_id"`
	// LastApplied is the write checkpoint of the last applied complete checkpoint.
	LastApplied *int64 `json:"last_applied_checkpoint_request_id"`
	// UploadQueue is the number of ps_crud entries (any entry closes the gate).
	UploadQueue int64 `json:"upload_queue_entries"`
}

// readGate computes the gate like the core's can_apply (layout 14, or the
// $local bucket row of older layouts).
func (d *inspectDB) readGate(ctx context.Context, crudEntries int64) (gateStatus, error) {
	g := gateStatus{UploadQueue: crudEntries}
	opt := func(v int64, ok bool) *int64 {
		if !ok {
			return nil
		}
		return &v
	}
	if d.version >= 14 {
		for _, k := range []struct {
			key string
			dst **int64
		}{
			{"target_checkpoint_request_id", &g.Target},
			{"last_seen_checkpoint_request_id", &g.LastSeen},
			{"last_applied_checkpoint_request_id", &g.LastApplied},
		} {
			v, ok, err := d.kvInt(ctx, k.key)
			if err != nil {
				return g, err
			}
			*k.dst = opt(v, ok)
		}
	} else {
		// Layouts <= 13: $local.target_op is the target, last_op the last seen
		// write checkpoint and last_applied_op the applied one.
		var target, lastOp, applied int64
		err := d.conn.QueryRowContext(ctx, "SELECT target_op, last_op, last_applied_op FROM ps_buckets WHERE name = ?", legacyLocalBucket).Scan(&target, &lastOp, &applied)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return g, fmt.Errorf("read $local bucket: %w", err)
		default:
			g.Target = opt(target, target > 0)
			g.LastSeen = opt(lastOp, lastOp > 0)
			g.LastApplied = opt(applied, applied > 0)
		}
	}
	var seen int64
	if g.LastSeen != nil {
		seen = *g.LastSeen
	}
	waitingForCheckpoint := g.Target != nil && *g.Target > seen
	g.PendingUpload = g.Target != nil && *g.Target == maxOpID
	queued := fmt.Sprintf("%s in the upload queue", plural(crudEntries, "entry", "entries"))
	switch {
	case waitingForCheckpoint && !g.PendingUpload:
		g.Reason = fmt.Sprintf("waiting for write checkpoint %d (last seen %s)", *g.Target, optText(g.LastSeen, "none"))
		if crudEntries > 0 {
			g.Reason += "; " + queued
		}
	case crudEntries > 0:
		g.Reason = queued
	case waitingForCheckpoint:
		g.Reason = "local writes uploaded, waiting for a write checkpoint from the backend"
	case g.Target != nil && *g.Target > 0:
		g.Open = true
		g.Reason = fmt.Sprintf("write checkpoint %d reached, last seen %s", *g.Target, optText(g.LastSeen, "none"))
	default:
		g.Open = true
		g.Reason = "no local writes pending"
	}
	return g, nil
}

func optText(v *int64, none string) string {
	if v == nil {
		return none
	}
	return strconv.FormatInt(*v, 10)
}

// priorityStatus is one row of ps_sync_state.
type priorityStatus struct {
	Priority     int64     `json:"priority"`
	LastSyncedAt time.Time `json:"last_synced_at"`
}

// readSyncState reads ps_sync_state, ascending by priority.
func (d *inspectDB) readSyncState(ctx context.Context) ([]priorityStatus, error) {
	if !d.tables["ps_sync_state"] {
		return nil, nil
	}
	rows, err := d.conn.QueryContext(ctx, "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority")
	if err != nil {
		return nil, fmt.Errorf("read ps_sync_state: %w", err)
	}
	defer rows.Close()
	var out []priorityStatus
	for rows.Next() {
		var p priorityStatus
		var at any
		if err := rows.Scan(&p.Priority, &at); err != nil {
			return nil, fmt.Errorf("read ps_sync_state: %w", err)
		}
		p.LastSyncedAt = parseSyncTime(at)
		out = append(out, p)
	}
	return out, rows.Err()
}

// parseSyncTime converts a stored sync timestamp: integer microseconds
// (layout >= 13) or SQLite datetime() text (older layouts).
func parseSyncTime(v any) time.Time {
	switch x := v.(type) {
	case int64:
		return time.UnixMicro(x).UTC()
	case float64:
		return time.UnixMicro(int64(x)).UTC()
	case string:
		if t, err := time.Parse(time.DateTime, x); err == nil {
			return t.UTC()
		}
	case time.Time:
		return x.UTC()
	}
	return time.Time{}
}

// microTime converts an optional µs timestamp.
func microTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// streamInfo is one row of ps_stream_subscriptions.
type streamInfo struct {
	Name          string     `json:"name"`
	Parameters    jsonText   `json:"parameters"`
	Active        bool       `json:"active"`
	IsDefault     bool       `json:"is_default"`
	Explicit      bool       `json:"has_explicit_subscription"`
	LocalPriority *int64     `json:"local_priority"`
	TTLSeconds    *int64     `json:"ttl_seconds"`
	ExpiresAt     *time.Time `json:"expires_at"`
	LastSyncedAt  *time.Time `json:"last_synced_at"`
}

// readStreams reads ps_stream_subscriptions (layout >= 11).
func (d *inspectDB) readStreams(ctx context.Context) ([]streamInfo, error) {
	if !d.tables["ps_stream_subscriptions"] {
		return nil, nil
	}
	rows, err := d.conn.QueryContext(ctx, `SELECT stream_name, local_params, active, is_default, local_priority, ttl, expires_at, last_synced_at
		FROM ps_stream_subscriptions ORDER BY stream_name, local_params`)
	if err != nil {
		return nil, fmt.Errorf("read ps_stream_subscriptions: %w", err)
	}
	defer rows.Close()
	var out []streamInfo
	for rows.Next() {
		var s streamInfo
		var params string
		var prio, ttl, exp, last sql.NullInt64
		if err := rows.Scan(&s.Name, &params, &s.Active, &s.IsDefault, &prio, &ttl, &exp, &last); err != nil {
			return nil, fmt.Errorf("read ps_stream_subscriptions: %w", err)
		}
		s.Parameters = jsonText(params)
		if prio.Valid {
			s.LocalPriority = &prio.Int64
		}
		if ttl.Valid {
			s.TTLSeconds = &ttl.Int64
			s.Explicit = true
		}
		s.ExpiresAt, s.LastSyncedAt = microTime(exp), microTime(last)
		out = append(out, s)
	}
	return out, rows.Err()
}

// dataTable is one ps_data__ / ps_data_local__ table.
type dataTable struct {
	Name      string `json:"name"`
	LocalOnly bool   `json:"local_only"`
	Rows      int64  `json:"rows"`
}

// readDataTables lists the data tables with their row counts, by name.
func (d *inspectDB) readDataTables(ctx context.Context) ([]dataTable, error) {
	var out []dataTable
	for t := range d.tables {
		name, local, ok := dataTableName(t)
		if !ok {
			continue
		}
		dt := dataTable{Name: name, LocalOnly: local}
		if err := d.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(t)).Scan(&dt.Rows); err != nil {
			return nil, fmt.Errorf("count rows of %s: %w", t, err)
		}
		out = append(out, dt)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return !out[i].LocalOnly
	})
	return out, nil
}

// dataTableName maps a data table to its schema table name.
func dataTableName(t string) (name string, localOnly, ok bool) {
	if n, ok := strings.CutPrefix(t, "ps_data_local__"); ok && n != "" {
		return n, true, true
	}
	if n, ok := strings.CutPrefix(t, "ps_data__"); ok && n != "" {
		return n, false, true
	}
	return "", false, false
}

// typeCount counts rows of one type.
type typeCount struct {
	Type string `json:"type"`
	Rows int64  `json:"rows"`
}

// readUntyped counts ps_untyped rows per type.
func (d *inspectDB) readUntyped(ctx context.Context) ([]typeCount, error) {
	if !d.tables["ps_untyped"] {
		return nil, nil
	}
	rows, err := d.conn.QueryContext(ctx, "SELECT type, count(*) FROM ps_untyped GROUP BY type ORDER BY type")
	if err != nil {
		return nil, fmt.Errorf("read ps_untyped: %w", err)
	}
	defer rows.Close()
	var out []typeCount
	for rows.Next() {
		var c typeCount
		if err := rows.Scan(&c.Type, &c.Rows); err != nil {
			return nil, fmt.Errorf("read ps_untyped: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// count runs a count query.
func (d *inspectDB) count(ctx context.Context, q string) (int64, error) {
	var n int64
	if err := d.conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", q, err)
	}
	return n, nil
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// plural formats "1 entry" / "3 entries".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// formatBytes formats a byte count: "412 B", "1.5 KiB", "3.2 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
