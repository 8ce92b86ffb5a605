package synccore

import (
	"database/sql"
	"fmt"
	"strings"
	"unsafe"

	"github.com/gopowersync/powersync/internal/pserr"
)

// lookupBucket returns the id, last_applied_op and last_op of a bucket,
// creating its ps_buckets row if needed.
func (c *call) lookupBucket(name string) (id, lastApplied, lastOp int64, err error) {
	st, err := c.prepare(`INSERT INTO ps_buckets(name) VALUES(?)
ON CONFLICT DO UPDATE SET last_applied_op = last_applied_op
RETURNING id, last_applied_op, last_op`)
	if err != nil {
		return 0, 0, 0, err
	}
	err = st.QueryRowContext(c.ctx, name).Scan(&id, &lastApplied, &lastOp)
	return id, lastApplied, lastOp, err
}

// checkOpOrder checks that the op ids of a data line increase, starting
// above the bucket's last op. The service sends a bucket's ops in op id
// order, after the last op the client has (the request's "after"). The
// official core takes the ids as they come: a line with a lower id moves
// the bucket's last_op back, and a row published by that op id can be
// left out of the data tables although its checkpoint reports success.
// Such a line is rejected instead.
func checkOpOrder(d *dataLine, lastOp int64) error {
	prev := lastOp
	for i := range d.ops {
		if id := d.ops[i].opID; id <= prev {
			if i == 0 {
				return fmt.Errorf("%w: data for bucket %q: op_id %d is not after the bucket's last op %d", ErrProtocol, d.bucket, id, prev)
			}
			return fmt.Errorf("%w: data for bucket %q: op_id %d is not after the op before it (%d)", ErrProtocol, d.bucket, id, prev)
		}
		prev = d.ops[i].opID
	}
	return nil
}

const insertBatch = 64

func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func opKey(op *oplogEntry) (string, bool) {
	if !op.hasType || !op.hasID {
		return "", false
	}
	sub := "null"
	if op.hasSub {
		sub = op.subkey
	}
	return op.rowType + "/" + op.rowID + "/" + sub, true
}

type pendingPut struct {
	op      *oplogEntry
	key     string // "" when the op has no key
	dropped bool
}

type rowRef struct{ typ, id string }

// insertOperations stores the ops of one data line (docs/sync.md,
// "Storing operations and checksums"). The effect equals applying the ops one by one; superseded rows are
// found with one batched DELETE per run of ops and new rows are written with
// multi-row INSERTs.
func (c *call) insertOperations(d *dataLine, size int) error {
	bucketID, lastApplied, lastOp, err := c.lookupBucket(d.bucket)
	if err != nil {
		return pserr.Errorf("powersync: store data for bucket %q: %w", d.bucket, err)
	}
	if err := checkOpOrder(d, lastOp); err != nil {
		return err
	}
	isEmpty := lastApplied == 0
	var hasRows bool
	if err := c.queryRow("SELECT EXISTS(SELECT 1 FROM ps_oplog WHERE bucket = ?)", bucketID).Scan(&hasRows); err != nil {
		return err
	}
	filter := c.keyFilter(d.bucket, bucketID, hasRows)
	var add, opsum uint32
	var updated []rowRef

	ops := d.ops
	// Sized for the PUT and REMOVE ops: a line of MOVE ops needs none of
	// this.
	nPuts, nKeyed := 0, 0
	for i := range ops {
		switch ops[i].op {
		case opPut:
			nPuts++
			nKeyed++
		case opRemove:
			nKeyed++
		}
	}
	puts := make([]pendingPut, 0, nPuts)
	pendingByKey := make(map[string]int, nPuts)
	var keys []string // of PUT and REMOVE ops, by op; "" when an op has none; nil when no op has one
	if nKeyed > 0 {
		keys = make([]string, len(ops))
		for i := range ops {
			if ops[i].op == opPut || ops[i].op == opRemove {
				keys[i], _ = opKey(&ops[i])
			}
		}
	}
	for start := 0; start < len(ops); {
		end := start
		for end < len(ops) && ops[end].op != opClear {
			end++
		}
		// Rows of earlier lines superseded by this run of ops.
		var dbHashes map[string][]int32
		if hasRows && end > start && keys != nil {
			lookup := keys[start:end]
			if filter != nil {
				lookup = filter.present(lookup)
			}
			dbHashes, err = c.deleteKeys(bucketID, lookup)
			if err != nil {
				return err
			}
		}
		for i := start; i < end; i++ {
			op := &ops[i]
			switch op.op {
			case opPut, opRemove:
				key := keys[i]
				superseded := false
				if key != "" {
					if hs, ok := dbHashes[key]; ok {
						for _, h := range hs {
							add += uint32(h)
							opsum -= uint32(h)
						}
						delete(dbHashes, key)
						superseded = !isEmpty
					}
					if idx, ok := pendingByKey[key]; ok {
						p := &puts[idx]
						add += p.op.checksum
						opsum -= p.op.checksum
						p.dropped = true
						delete(pendingByKey, key)
						superseded = superseded || !isEmpty
					}
				}
				if op.op == opRemove {
					add += op.checksum
					if superseded {
						updated = append(updated, rowRef{op.rowType, op.rowID})
					}
					continue
				}
				if key != "" {
					pendingByKey[key] = len(puts)
				}
				puts = append(puts, pendingPut{op: op, key: key})
				opsum += op.checksum
			case opMove:
				add += op.checksum
			}
		}
		if end == len(ops) {
			break
		}
		// CLEAR: every row of the bucket so far is marked and dropped.
		clr := &ops[end]
		for i := range puts {
			p := &puts[i]
			if !p.dropped {
				p.dropped = true
				if p.op.hasType && p.op.hasID {
					updated = append(updated, rowRef{p.op.rowType, p.op.rowID})
				}
			}
		}
		clear(pendingByKey)
		if hasRows {
			if _, err := c.exec("INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT row_type, row_id FROM ps_oplog WHERE bucket = ?", bucketID); err != nil {
				return err
			}
			if _, err := c.exec("DELETE FROM ps_oplog WHERE bucket = ?", bucketID); err != nil {
				return err
			}
		}
		if _, err := c.exec("UPDATE ps_buckets SET last_applied_op = 0, add_checksum = ?, op_checksum = 0 WHERE id = ?", int64(int32(clr.checksum)), bucketID); err != nil {
			return err
		}
		add, opsum, isEmpty, hasRows = 0, 0, true, false
		start = end + 1
	}

	if err := c.insertPuts(bucketID, puts); err != nil {
		return err
	}
	if filter != nil {
		for i := range puts {
			if p := &puts[i]; !p.dropped && p.key != "" {
				filter.add(p.key)
			}
		}
	}
	for _, u := range updated {
		if _, err := c.exec("INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES (?, ?)", u.typ, u.id); err != nil {
			return err
		}
	}
	if len(ops) > 0 {
		last := ops[len(ops)-1].opID
		if _, err := c.exec(`UPDATE ps_buckets SET last_op = ?,
  add_checksum = (add_checksum + ?) & 0xffffffff,
  op_checksum = (op_checksum + ?) & 0xffffffff,
  count_since_last = count_since_last + ?,
  downloaded_size = downloaded_size + ?
WHERE id = ?`, last, int64(int32(add)), int64(int32(opsum)), len(ops), size, bucketID); err != nil {
			return err
		}
	}
	return nil
}

// keyFilter returns the key filter of a bucket in this iteration, starting
// one when the bucket has no oplog rows (see keyFilter), or nil.
func (c *call) keyFilter(name string, bucketID int64, hasRows bool) *keyFilter {
	it := c.e.it
	if it == nil {
		return nil
	}
	if f := it.keyFilters[bucketID]; f != nil || hasRows {
		return f
	}
	expected := 0
	if it.cp != nil {
		if b, ok := it.cp.buckets[name]; ok && b.hasCount {
			expected = int(min(b.count, 1<<24))
		}
	}
	if it.keyFilters == nil {
		it.keyFilters = map[int64]*keyFilter{}
	}
	f := newKeyFilter(expected)
	it.keyFilters[bucketID] = f
	return f
}

// deleteKeys deletes the stored rows of a bucket with the given keys ("" and
// repeats are skipped) and returns their hashes by key.
func (c *call) deleteKeys(bucketID int64, opKeys []string) (map[string][]int32, error) {
	var keys []string
	seen := make(map[string]struct{}, len(opKeys))
	for _, k := range opKeys {
		if _, dup := seen[k]; k != "" && !dup {
			seen[k] = struct{}{}
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	out := make(map[string][]int32)
	for i := 0; i < len(keys); i += deleteBatch {
		chunk := keys[i:min(i+deleteBatch, len(keys))]
		// The statement has a fixed number of placeholders, the smallest
		// size class that holds the chunk; the last key fills the rest
		// (binding and sorting 100 copies of one key cost a one-row
		// checkpoint a seventh of its time).
		size := deleteBatch
		for _, n := range deleteSizes {
			if n >= len(chunk) {
				size = n
				break
			}
		}
		st, err := c.prepare(deleteKeysSQL(size))
		if err != nil {
			return nil, err
		}
		args := make([]any, size+1)
		args[0] = bucketID
		for j := range size {
			args[j+1] = chunk[min(j, len(chunk)-1)]
		}
		rows, err := st.QueryContext(c.ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k string
			var h int64
			if err := rows.Scan(&k, &h); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = append(out[k], int32(h))
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deleteBatch is the most keys one deleteKeys statement takes, and
// deleteSizes the smaller statements used for fewer keys.
const deleteBatch = 100

var deleteSizes = [...]int{1, 10}

// deleteKeysSQL is the DELETE of the oplog rows of a bucket with one of n
// keys, returning their keys and hashes.
func deleteKeysSQL(n int) string {
	var q strings.Builder
	q.WriteString("DELETE FROM ps_oplog WHERE bucket = ? AND key IN (?")
	for range n - 1 {
		q.WriteString(", ?")
	}
	q.WriteString(") RETURNING key, hash")
	return q.String()
}

// insertSQL is the multi-row INSERT of n oplog rows. OR FAIL rather than the
// default ABORT: no row can violate a constraint of ps_oplog (its NOT NULL
// columns are always bound), and with ABORT SQLite keeps a statement
// journal so that a failing row could undo the statement's earlier rows,
// copying every page the statement touches first (13% of a first sync's
// CPU). A failed call is rolled back whole anyway.
func insertSQL(n int) string {
	var q strings.Builder
	q.WriteString("INSERT OR FAIL INTO ps_oplog(bucket, op_id, key, row_type, row_id, data, hash) VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
	}
	return q.String()
}

func (c *call) insertPuts(bucketID int64, puts []pendingPut) error {
	args := c.insertArgs[:0]
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		st, err := c.prepare(insertSQL(n))
		if err != nil {
			return err
		}
		_, err = st.ExecContext(c.ctx, args...)
		args, n = args[:0], 0
		return err
	}
	for i := range puts {
		p := &puts[i]
		if p.dropped {
			continue
		}
		op := p.op
		var key, typ, id, data any
		if p.key != "" {
			key = p.key
		}
		if op.hasType {
			typ = op.rowType
		}
		if op.hasID {
			id = op.rowID
		}
		if op.hasData {
			data = bstr(op.data)
		}
		args = append(args, bucketID, op.opID, key, typ, id, data, int64(int32(op.checksum)))
		n++
		if n == insertBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	err := flush()
	c.insertArgs = args[:0]
	return err
}

// deleteBuckets deletes buckets and their oplog rows; the rows they held are
// marked for re-evaluation by the next complete sync_local.
func (c *call) deleteBuckets(names []string) error {
	for _, name := range names {
		var id int64
		err := c.tx.QueryRowContext(c.ctx, "DELETE FROM ps_buckets WHERE name = ? RETURNING id", name).Scan(&id)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return pserr.Errorf("powersync: delete bucket %q: %w", name, err)
		}
		if _, err := c.exec("INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) SELECT row_type, row_id FROM ps_oplog WHERE bucket = ?", id); err != nil {
			return err
		}
		if _, err := c.exec("DELETE FROM ps_oplog WHERE bucket = ?", id); err != nil {
			return err
		}
	}
	return nil
}

// loadProgress computes the download progress of a new checkpoint from the
// persisted counters (docs/status.md, "Download progress").
func (c *call) loadProgress(cp *checkpoint) (map[string]*progressEntry, error) {
	p := make(map[string]*progressEntry, len(cp.buckets))
	entries := make([]progressEntry, len(cp.buckets)) // one allocation, not one per bucket
	i := 0
	for name, b := range cp.buckets {
		e := &entries[i]
		i++
		e.priority = b.priority
		if b.hasCount {
			e.target = b.count
		}
		p[name] = e
	}
	rows, err := c.query("SELECT name, count_at_last, count_since_last FROM ps_buckets")
	if err != nil {
		return nil, err
	}
	reset := false
	for rows.Next() {
		var name string
		var at, since int64
		if err := rows.Scan(&name, &at, &since); err != nil {
			rows.Close()
			return nil, err
		}
		if e, ok := p[name]; ok {
			e.atLast, e.sinceLast = at, since
			if e.target < at+since {
				reset = true
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if reset {
		for _, e := range p {
			e.atLast, e.sinceLast = 0, 0
		}
		if _, err := c.exec("UPDATE ps_buckets SET count_since_last = 0, count_at_last = 0"); err != nil {
			return nil, err
		}
	}
	return p, nil
}
