package pstest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
)

// Operation kinds as they appear on the wire.
const (
	OpPut    = "PUT"
	OpRemove = "REMOVE"
	OpMove   = "MOVE"
	OpClear  = "CLEAR"
)

// DefaultPriority is the priority of a bucket whose priority was never set.
const DefaultPriority = 3

// op is one operation in a bucket's oplog.
type op struct {
	id       int64
	kind     string // OpPut, OpRemove, OpMove or OpClear
	table    string // PUT, REMOVE
	rowID    string // PUT, REMOVE
	subkey   string // PUT, REMOVE
	data     string // PUT: the row as JSON object text
	checksum uint32
}

type rowKey struct{ table, id string }

// bucket is one bucket's oplog and derived state.
type bucket struct {
	name     string
	priority int
	ops      []op   // ascending op ids; replaced (never edited in place) on compaction
	checksum uint32 // sum of all op checksums, mod 2^32
	// rows holds the data of every row whose latest op in this bucket is a PUT.
	rows map[rowKey]string
}

func newBucket(name string) *bucket {
	return &bucket{name: name, priority: DefaultPriority, rows: map[rowKey]string{}}
}

// PutChecksum is the checksum the PowerSync Service gives a PUT operation: the
// first four bytes, little-endian, of SHA-256("put." + table + "." + id + "." + data).
func PutChecksum(table, id, data string) uint32 {
	return hashPrefix("put." + table + "." + id + "." + data)
}

// RemoveChecksum is the checksum the PowerSync Service gives a REMOVE operation:
// the first four bytes, little-endian, of SHA-256("delete." + subkey).
func RemoveChecksum(subkey string) uint32 {
	return hashPrefix("delete." + subkey)
}

func hashPrefix(s string) uint32 {
	sum := sha256.Sum256([]byte(s))
	return binary.LittleEndian.Uint32(sum[:4])
}

// Subkey is the source-row key pstest gives a row, in the service's form
// "<source table id>/<replica id uuid>": a 24-hex-digit id derived from the
// table name and a UUID-shaped hash of the row id. It is sent as the subkey of
// PUT and REMOVE operations and hashed into REMOVE checksums.
func Subkey(table, id string) string {
	t := sha256.Sum256([]byte("pstest-table." + table))
	r := sha256.Sum256([]byte("pstest-row." + table + "." + id))
	r[6] = r[6]&0x0f | 0x50 // version 5
	r[8] = r[8]&0x3f | 0x80 // RFC 4122 variant
	u := hex.EncodeToString(r[:16])
	return hex.EncodeToString(t[:12]) + "/" + u[0:8] + "-" + u[8:12] + "-" + u[12:16] + "-" + u[16:20] + "-" + u[20:32]
}

// appendOp adds an op with the next id to b.
func (st *store) appendOp(b *bucket, o op) {
	st.lastOpID++
	o.id = st.lastOpID
	b.ops = append(b.ops, o)
	b.checksum += o.checksum
	k := rowKey{o.table, o.rowID}
	switch o.kind {
	case OpPut:
		b.rows[k] = o.data
	case OpRemove:
		delete(b.rows, k)
	}
}

// store is the service's data: buckets, source rows and the op counter.
// It is guarded by Server.mu.
type store struct {
	lastOpID int64
	buckets  map[string]*bucket
	// rows are source rows changed through the row API, with the buckets
	// each row was last put in.
	rows       map[rowKey]map[string]any
	rowBuckets map[rowKey][]string
	// applied counts the uploaded CRUD entries applied per row.
	applied map[rowKey]int
}

func newStore() *store {
	return &store{
		buckets:    map[string]*bucket{},
		rows:       map[rowKey]map[string]any{},
		rowBuckets: map[rowKey][]string{},
		applied:    map[rowKey]int{},
	}
}

func (st *store) bucket(name string) *bucket {
	b := st.buckets[name]
	if b == nil {
		b = newBucket(name)
		st.buckets[name] = b
	}
	return b
}

// put records a PUT of (table, id) with JSON object text data in bucket.
func (st *store) put(bucketName, table, id, data string) {
	b := st.bucket(bucketName)
	st.appendOp(b, op{kind: OpPut, table: table, rowID: id, subkey: Subkey(table, id), data: data,
		checksum: PutChecksum(table, id, data)})
}

// remove records a REMOVE of (table, id) in bucket if the row is there; it
// reports whether an op was added.
func (st *store) remove(bucketName, table, id string) bool {
	b := st.buckets[bucketName]
	if b == nil {
		return false
	}
	if _, ok := b.rows[rowKey{table, id}]; !ok {
		return false
	}
	sk := Subkey(table, id)
	st.appendOp(b, op{kind: OpRemove, table: table, rowID: id, subkey: sk, checksum: RemoveChecksum(sk)})
	return true
}

// setRow replaces a source row and puts it into the buckets rowBuckets
// gives, removing it from buckets it left.
func (st *store) setRow(table, id string, data map[string]any, mapper RowBucketsFunc) error {
	text, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("powersync: pstest: encode row %s/%s: %w", table, id, err)
	}
	if data == nil {
		text = []byte("{}")
		data = map[string]any{}
	}
	k := rowKey{table, id}
	next := dedupe(mapper(Row{Table: table, ID: id, Data: data}))
	for _, old := range st.rowBuckets[k] {
		if !slices.Contains(next, old) {
			st.remove(old, table, id)
		}
	}
	for _, bn := range next {
		st.put(bn, table, id, string(text))
	}
	st.rows[k] = data
	st.rowBuckets[k] = next
	return nil
}

// deleteRow deletes a source row and removes it from all its buckets.
func (st *store) deleteRow(table, id string) {
	k := rowKey{table, id}
	for _, old := range st.rowBuckets[k] {
		st.remove(old, table, id)
	}
	delete(st.rows, k)
	delete(st.rowBuckets, k)
}

func dedupe(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// compact rewrites a bucket the way the service's compactor does: every PUT
// or REMOVE superseded by a later op on the same row becomes a MOVE with the
// same op id and checksum, and the longest prefix of the oplog made only of
// MOVE, REMOVE and CLEAR ops becomes a single CLEAR op (with the id of the
// last op it replaces and the sum of their checksums). The bucket checksum and
// the rows it holds do not change.
func (b *bucket) compact() {
	if len(b.ops) == 0 {
		return
	}
	ops := slices.Clone(b.ops)
	seen := make(map[rowKey]bool, len(b.rows))
	for i := len(ops) - 1; i >= 0; i-- {
		o := &ops[i]
		if o.kind != OpPut && o.kind != OpRemove {
			continue
		}
		k := rowKey{o.table, o.rowID}
		if seen[k] {
			*o = op{id: o.id, kind: OpMove, checksum: o.checksum}
			continue
		}
		seen[k] = true
	}
	n := 0
	var sum uint32
	for n < len(ops) && ops[n].kind != OpPut {
		sum += ops[n].checksum
		n++
	}
	if n > 1 || (n == 1 && ops[0].kind != OpClear) {
		clear := op{id: ops[n-1].id, kind: OpClear, checksum: sum}
		ops = append([]op{clear}, ops[n:]...)
	}
	b.ops = ops
}

// page returns up to limit ops of b with after < id <= upTo, and whether more
// such ops exist after them.
func (b *bucket) page(after, upTo int64, limit int) ([]op, bool) {
	i := sort.Search(len(b.ops), func(i int) bool { return b.ops[i].id > after })
	j := i
	for j < len(b.ops) && j-i < limit && b.ops[j].id <= upTo {
		j++
	}
	more := j < len(b.ops) && b.ops[j].id <= upTo
	return slices.Clone(b.ops[i:j]), more
}

// errNotObject is returned for row data that is not a JSON object.
var errNotObject = errors.New("row data must be a JSON object")

// rowText converts row data given to the Go API into JSON object text.
func rowText(data any) (string, error) {
	var b []byte
	switch d := data.(type) {
	case nil:
		return "{}", nil
	case string:
		b = []byte(d)
	case []byte:
		b = d
	case json.RawMessage:
		b = d
	default:
		var err error
		if b, err = json.Marshal(d); err != nil {
			return "", err
		}
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil || probe == nil {
		return "", errNotObject
	}
	return string(b), nil
}
