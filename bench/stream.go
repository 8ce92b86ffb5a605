package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The stream format is that of the oracle's bench/gen_checkpoint.py: one
// checkpoint line, data lines of per PUT ops into table "items" of one
// bucket, and checkpoint_complete. Rows and checksums are byte for byte the
// same; only the ids differ when random ids are asked for.

// bucketName is the one bucket of the generated streams.
const bucketName = "global[]"

// idSource yields the object ids of rows 1, 2, 3, ... in order.
type idSource func() string

// newIDs returns the id sequence of kind "seq" (the oracle's
// 00000000-0000-4000-8000-%012d) or "random" (UUID v4 from a fixed seed,
// so every run and every process sees the same ids).
func newIDs(kind string) (idSource, error) {
	switch kind {
	case "seq":
		i := 0
		return func() string { i++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }, nil
	case "random":
		r := rand.New(rand.NewPCG(0x5eed, 0xbe7c))
		return func() string { return randomUUID(r) }, nil
	}
	return nil, fmt.Errorf("unknown id kind %q (want random or seq)", kind)
}

// randomUUID formats 16 random bytes as a version 4 UUID.
func randomUUID(r *rand.Rand) string {
	var b [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for k := range 8 {
		b[k] = byte(hi >> (8 * k))
		b[8+k] = byte(lo >> (8 * k))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for k, c := range b {
		if k == 4 || k == 6 || k == 8 || k == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

// pyFloat formats f as Python's repr does for the values the generator
// produces (shortest round trip, ".0" on integral values).
func pyFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// rowValues are the five column values of row i (gen_checkpoint.py's row).
func rowValues(i int) (name string, qty int, price float64, sku, note string) {
	price = math.Round(math.Mod(float64(i)*0.37, 500)*100) / 100
	return fmt.Sprintf("item number %d", i), i % 1000, price, fmt.Sprintf("SKU-%08d", i), "lorem ipsum dolor sit amet"
}

// rowData is the JSON text of row i, as json.dumps(row(i), separators=(",", ":")).
func rowData(i int) string {
	name, qty, price, sku, note := rowValues(i)
	return fmt.Sprintf(`{"name":"%s","qty":%d,"price":%s,"sku":"%s","note":"%s"}`, name, qty, pyFloat(price), sku, note)
}

// appendJSONString appends s as a JSON string; s holds only printable ASCII.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for k := 0; k < len(s); k++ {
		if c := s[k]; c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// putOp is one PUT op of a data line.
type putOp struct {
	opID   int64
	id     string
	data   string
	remove bool // a REMOVE of the row (data unused)
}

// removeChecksum is the checksum of a REMOVE op of row id.
func removeChecksum(id string) uint32 { return crc32.ChecksumIEEE([]byte("remove " + id)) }

func appendOp(b []byte, o putOp) []byte {
	b = append(b, `{"op_id":"`...)
	b = strconv.AppendInt(b, o.opID, 10)
	if o.remove {
		b = append(b, `","op":"REMOVE","object_type":"items","object_id":"`...)
		b = append(b, o.id...)
		b = append(b, `","checksum":`...)
		b = strconv.AppendUint(b, uint64(removeChecksum(o.id)), 10)
		return append(b, '}')
	}
	b = append(b, `","op":"PUT","object_type":"items","object_id":"`...)
	b = append(b, o.id...)
	b = append(b, `","checksum":`...)
	b = strconv.AppendUint(b, uint64(crc32.ChecksumIEEE([]byte(o.data))), 10)
	b = append(b, `,"data":`...)
	b = appendJSONString(b, o.data)
	return append(b, '}')
}

// appendDataLine appends a data line (with its newline) holding ops; after
// is the op id the line follows (0 for none).
func appendDataLine(b []byte, ops []putOp, after int64, hasMore bool) []byte {
	b = append(b, `{"data":{"bucket":"`+bucketName+`","has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"after":`...)
	if after == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = strconv.AppendInt(b, after, 10)
		b = append(b, '"')
	}
	b = append(b, `,"next_after":"`...)
	b = strconv.AppendInt(b, ops[len(ops)-1].opID, 10)
	b = append(b, `","data":[`...)
	for k, o := range ops {
		if k > 0 {
			b = append(b, ',')
		}
		b = appendOp(b, o)
	}
	return append(b, "]}}\n"...)
}

// streamChecksum is the bucket checksum of an n-row stream: the wrapping
// u32 sum of the op checksums.
func streamChecksum(n int) uint32 {
	var total uint32
	for i := 1; i <= n; i++ {
		total += crc32.ChecksumIEEE([]byte(rowData(i)))
	}
	return total
}

// writeStream writes an n-row initial-sync stream with per ops per data line.
func writeStream(w io.Writer, n, per int, ids idSource) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	fmt.Fprintf(bw, `{"checkpoint":{"last_op_id":"%d","write_checkpoint":null,"buckets":[{"bucket":"%s","checksum":%d,"priority":3,"count":%d}]}}`+"\n",
		n, bucketName, streamChecksum(n), n)
	ops := make([]putOp, 0, per)
	var line []byte
	for i := 1; i <= n; i++ {
		ops = append(ops, putOp{opID: int64(i), id: ids(), data: rowData(i)})
		if len(ops) == per || i == n {
			line = appendDataLine(line[:0], ops, ops[0].opID-1, i < n)
			if _, err := bw.Write(line); err != nil {
				return err
			}
			ops = ops[:0]
		}
	}
	fmt.Fprintf(bw, `{"checkpoint_complete": {"last_op_id": "%d"}}`+"\n", n)
	return bw.Flush()
}

// writeDiffs writes the incremental checkpoints applied on top of an n-row
// stream from the same id source: small one-row checkpoints, then big ones of
// 1000 ops. Each updates existing rows (picked with a fixed seed) and is a
// checkpoint_diff, one data line and checkpoint_complete. A line
// "# small" or "# big" precedes each checkpoint, so that a replayer can time
// them by group; then remove checkpoints ("# remove") of one REMOVE each,
// of rows not changed before.
func writeDiffs(w io.Writer, n, small, big, remove int, ids idSource) error {
	all := make([]string, n)
	for k := range all {
		all[k] = ids()
	}
	total := streamChecksum(n)
	count := n
	op := int64(n)
	r := rand.New(rand.NewPCG(7, 11))
	bw := bufio.NewWriter(w)
	var line []byte
	emit := func(group string, size int) error {
		ops := make([]putOp, size)
		after := op
		for k := range ops {
			op++
			j := 1 + r.IntN(n)
			if group == "remove" {
				ops[k] = putOp{opID: op, id: all[j-1], remove: true}
				total += removeChecksum(all[j-1])
				count++
				continue
			}
			d := strings.Replace(rowData(j), `"note":"lorem`, fmt.Sprintf(`"note":"v%d lorem`, op), 1)
			ops[k] = putOp{opID: op, id: all[j-1], data: d}
			total += crc32.ChecksumIEEE([]byte(d))
			count++
		}
		fmt.Fprintf(bw, "# %s\n", group)
		fmt.Fprintf(bw, `{"checkpoint_diff":{"last_op_id":"%d","write_checkpoint":null,"updated_buckets":[{"bucket":"%s","checksum":%d,"priority":3,"count":%d}],"removed_buckets":[]}}`+"\n",
			op, bucketName, total, count)
		line = appendDataLine(line[:0], ops, after, false)
		bw.Write(line)
		_, err := fmt.Fprintf(bw, `{"checkpoint_complete":{"last_op_id":"%d"}}`+"\n", op)
		return err
	}
	for range small {
		if err := emit("small", 1); err != nil {
			return err
		}
	}
	for range big {
		if err := emit("big", 1000); err != nil {
			return err
		}
	}
	for range remove {
		if err := emit("remove", 1); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// splitLines splits NDJSON text into lines without their newlines (slices
// of all), skipping empty lines.
func splitLines(all []byte) [][]byte {
	var out [][]byte
	for len(all) > 0 {
		l, rest, _ := bytes.Cut(all, []byte("\n"))
		if len(l) > 0 {
			out = append(out, l)
		}
		all = rest
	}
	return out
}

// streamRow is one PUT of a stream.
type streamRow struct {
	Type, ID, Data string
}

// eachRow calls f with every PUT op of the data lines read from r.
func eachRow(r io.Reader, f func(streamRow)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"data"`)) {
			continue
		}
		var l struct {
			Data struct {
				Data []struct {
					Op         string `json:"op"`
					ObjectType string `json:"object_type"`
					ObjectID   string `json:"object_id"`
					Data       string `json:"data"`
				} `json:"data"`
			} `json:"data"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("parse data line: %w", err)
		}
		for _, o := range l.Data.Data {
			if o.Op == "PUT" {
				f(streamRow{o.ObjectType, o.ObjectID, o.Data})
			}
		}
	}
	return sc.Err()
}
