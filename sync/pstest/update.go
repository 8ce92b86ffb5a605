package pstest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"
)

// Tx collects changes for Server.Update. Its methods only record; the
// changes are applied together, as one new checkpoint, when the function
// given to Update returns nil.
type Tx struct {
	changes []change
	err     error
}

type changeKind int

const (
	chPut changeKind = iota
	chRemove
	chSetRow
	chPatchRow
	chDeleteRow
	chPriority
)

type change struct {
	kind     changeKind
	bucket   string
	table    string
	id       string
	text     string         // chPut
	row      map[string]any // chSetRow, chPatchRow
	priority int            // chPriority
}

// Put records a PUT of row (table, id) into bucket. data is the row: JSON
// object text (string, []byte, json.RawMessage) or a value that encodes to a
// JSON object (a map or struct).
func (tx *Tx) Put(bucket, table, id string, data any) {
	text, err := rowText(data)
	if err != nil {
		tx.fail(fmt.Errorf("powersync: pstest: put %s/%s into %s: %w", table, id, bucket, err))
		return
	}
	tx.changes = append(tx.changes, change{kind: chPut, bucket: bucket, table: table, id: id, text: text})
}

// Remove records a REMOVE of row (table, id) from bucket. Nothing happens if
// the bucket does not hold the row.
func (tx *Tx) Remove(bucket, table, id string) {
	tx.changes = append(tx.changes, change{kind: chRemove, bucket: bucket, table: table, id: id})
}

// SetRow replaces (or creates) a source row. The row is PUT into every
// bucket the server's RowBucketsFunc gives it and REMOVEd from buckets it was
// in before but is not any more. Column values are sent as the service
// sends Postgres values: a bool as 1 or 0, a time.Time as timestamptz text
// in UTC ("2006-01-02 15:04:05.999999Z" for bucket definitions,
// "2006-01-02T15:04:05.999999Z" with WithStreams, as edition 3 sync
// configs do); other values as encoding/json encodes them.
func (tx *Tx) SetRow(table, id string, data map[string]any) {
	tx.changes = append(tx.changes, change{kind: chSetRow, table: table, id: id, row: maps.Clone(data)})
}

// columnValues copies a row, converting values the way the service
// converts Postgres columns for SQLite clients (iso: ISO 8601 timestamps).
func columnValues(data map[string]any, iso bool) map[string]any {
	if data == nil {
		return nil
	}
	out := make(map[string]any, len(data))
	for k, v := range data {
		switch x := v.(type) {
		case bool:
			if x {
				out[k] = 1
			} else {
				out[k] = 0
			}
		case time.Time:
			out[k] = timestamptz(x, iso)
		case *time.Time:
			if x == nil {
				out[k] = nil
			} else {
				out[k] = timestamptz(*x, iso)
			}
		default:
			out[k] = v
		}
	}
	return out
}

// PatchRow merges data into a source row (creating it if missing), like a
// PATCH upload: keys with a nil value are kept as JSON null.
func (tx *Tx) PatchRow(table, id string, data map[string]any) {
	tx.changes = append(tx.changes, change{kind: chPatchRow, table: table, id: id, row: maps.Clone(data)})
}

// DeleteRow deletes a source row: it is REMOVEd from every bucket it is in.
func (tx *Tx) DeleteRow(table, id string) {
	tx.changes = append(tx.changes, change{kind: chDeleteRow, table: table, id: id})
}

// SetPriority sets the priority (0 highest .. 3 default) of a bucket, creating
// the bucket if needed.
func (tx *Tx) SetPriority(bucket string, priority int) {
	if priority < 0 {
		tx.fail(fmt.Errorf("powersync: pstest: priority %d of bucket %s is negative", priority, bucket))
		return
	}
	tx.changes = append(tx.changes, change{kind: chPriority, bucket: bucket, priority: priority})
}

func (tx *Tx) fail(err error) {
	if tx.err == nil {
		tx.err = err
	}
}

// Update runs fn and applies the changes it records atomically: connected
// clients see them in one new checkpoint. If fn (or a change) fails, nothing
// is applied.
func (s *Server) Update(fn func(tx *Tx) error) error {
	tx := &Tx{}
	if err := fn(tx); err != nil {
		return err
	}
	if tx.err != nil {
		return tx.err
	}
	// Encode rows before taking the lock so a bad row changes nothing.
	for _, c := range tx.changes {
		if c.kind == chSetRow || c.kind == chPatchRow {
			if _, err := json.Marshal(c.row); err != nil {
				return fmt.Errorf("powersync: pstest: encode row %s/%s: %w", c.table, c.id, err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyLocked(tx.changes)
	return nil
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// applyLocked applies changes and notifies streams if anything changed. s.mu must be held.
func (s *Server) applyLocked(changes []change) {
	st := s.st
	before := st.lastOpID
	notify := false
	for _, c := range changes {
		switch c.kind {
		case chPut:
			st.put(c.bucket, c.table, c.id, c.text)
		case chRemove:
			st.remove(c.bucket, c.table, c.id)
		case chSetRow:
			_ = st.setRow(c.table, c.id, nonNil(columnValues(c.row, len(s.cfg.streams) > 0)), s.cfg.rowBuckets)
		case chPatchRow:
			row := maps.Clone(st.rows[rowKey{c.table, c.id}])
			if row == nil {
				row = map[string]any{}
			}
			maps.Copy(row, columnValues(c.row, len(s.cfg.streams) > 0))
			_ = st.setRow(c.table, c.id, row, s.cfg.rowBuckets)
		case chDeleteRow:
			st.deleteRow(c.table, c.id)
		case chPriority:
			b := st.bucket(c.bucket)
			if b.priority != c.priority {
				b.priority = c.priority
				notify = true
			}
		}
	}
	if notify || st.lastOpID != before {
		s.notifyLocked()
	}
}

// Put PUTs one row into a bucket as its own checkpoint; see Tx.Put.
func (s *Server) Put(bucket, table, id string, data any) error {
	return s.Update(func(tx *Tx) error { tx.Put(bucket, table, id, data); return nil })
}

// Remove REMOVEs one row from a bucket as its own checkpoint; see Tx.Remove.
func (s *Server) Remove(bucket, table, id string) error {
	return s.Update(func(tx *Tx) error { tx.Remove(bucket, table, id); return nil })
}

// SetRow replaces one source row as its own checkpoint; see Tx.SetRow.
func (s *Server) SetRow(table, id string, data map[string]any) error {
	return s.Update(func(tx *Tx) error { tx.SetRow(table, id, data); return nil })
}

// DeleteRow deletes one source row as its own checkpoint; see Tx.DeleteRow.
func (s *Server) DeleteRow(table, id string) error {
	return s.Update(func(tx *Tx) error { tx.DeleteRow(table, id); return nil })
}

// SetPriority sets a bucket's priority; see Tx.SetPriority.
func (s *Server) SetPriority(bucket string, priority int) error {
	return s.Update(func(tx *Tx) error { tx.SetPriority(bucket, priority); return nil })
}

// Compact compacts the named buckets (all buckets when none are named) the
// way the service's compactor does: superseded PUT and REMOVE ops become
// MOVE ops and the leading run of MOVE/REMOVE/CLEAR ops becomes one CLEAR op.
// Bucket checksums do not change, so clients holding older ops stay valid;
// no new checkpoint is created.
func (s *Server) Compact(buckets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(buckets) == 0 {
		buckets = sortedKeys(s.st.buckets)
	}
	for _, n := range buckets {
		if b := s.st.buckets[n]; b != nil {
			b.compact()
		}
	}
}

// Op is an operation of a bucket's oplog, as a client would receive it.
type Op struct {
	OpID       int64
	Op         string // OpPut, OpRemove, OpMove or OpClear
	ObjectType string // PUT and REMOVE
	ObjectID   string // PUT and REMOVE
	Subkey     string // PUT and REMOVE
	Data       string // PUT: JSON object text
	Checksum   uint32
}

// BucketOps returns the current oplog of a bucket (after any compaction).
func (s *Server) BucketOps(bucket string) []Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[bucket]
	if b == nil {
		return nil
	}
	out := make([]Op, len(b.ops))
	for i, o := range b.ops {
		out[i] = Op{OpID: o.id, Op: o.kind, ObjectType: o.table, ObjectID: o.rowID, Subkey: o.subkey,
			Data: o.data, Checksum: o.checksum}
	}
	return out
}

// BucketChecksum returns a bucket's checksum (the sum of its op checksums
// mod 2^32) and its op count, as the current checkpoint reports them.
func (s *Server) BucketChecksum(bucket string) (checksum uint32, count int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.buckets[bucket]
	if b == nil {
		return 0, 0
	}
	return b.checksum, len(b.ops)
}

// Buckets returns the names of all buckets, sorted.
func (s *Server) Buckets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedKeys(s.st.buckets)
}

// BucketRows returns the rows a bucket holds: table -> id -> JSON object text.
func (s *Server) BucketRows(bucket string) map[string]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]string{}
	if b := s.st.buckets[bucket]; b != nil {
		addRows(out, b)
	}
	return out
}

func addRows(out map[string]map[string]string, b *bucket) {
	for k, data := range b.rows {
		if out[k.table] == nil {
			out[k.table] = map[string]string{}
		}
		out[k.table][k.id] = data
	}
}

// SyncedRows returns the rows a client of userID syncs with default
// subscriptions and no client parameters: the union of the rows of its
// buckets, table -> id -> JSON object text. This is what a fully synced
// client's tables should contain.
func (s *Server) SyncedRows(userID string) map[string]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.resolveLocked(&syncRequest{Streams: streamsRequest{IncludeDefaults: true}}, Client{UserID: userID})
	out := map[string]map[string]string{}
	for _, n := range sortedKeys(set.buckets) {
		if b := s.st.buckets[n]; b != nil {
			addRows(out, b)
		}
	}
	return out
}

// Row returns a copy of a source row and whether it exists.
func (s *Server) Row(table, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.st.rows[rowKey{table, id}]
	return maps.Clone(r), ok
}

// Rows returns copies of the source rows of a table by id.
func (s *Server) Rows(table string) map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]any{}
	for k, r := range s.st.rows {
		if k.table == table {
			out[k.id] = maps.Clone(r)
		}
	}
	return out
}

// RowTables returns the tables that have source rows, sorted.
func (s *Server) RowTables() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.st.rows {
		if !slices.Contains(out, k.table) {
			out = append(out, k.table)
		}
	}
	sort.Strings(out)
	return out
}

// timestamptz formats t as the service sends a timestamptz column.
func timestamptz(t time.Time, iso bool) string {
	if iso {
		return t.UTC().Format("2006-01-02T15:04:05.999999Z")
	}
	return t.UTC().Format("2006-01-02 15:04:05.999999Z")
}
