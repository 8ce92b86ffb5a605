package synccore

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchLines is the stream of the oracle's bench/gen_checkpoint.py: one
// checkpoint, n PUTs into table items in data lines of per ops, and
// checkpoint_complete.
func benchLines(n, per int) [][]byte {
	type op struct {
		OpID       string `json:"op_id"`
		Op         string `json:"op"`
		ObjectType string `json:"object_type"`
		ObjectID   string `json:"object_id"`
		Checksum   uint32 `json:"checksum"`
		Data       string `json:"data"`
	}
	var total uint32
	ops := make([]op, 0, per)
	var lines [][]byte
	mk := func(v any) []byte { b, _ := json.Marshal(v); return b }
	var data [][]byte
	for i := 1; i <= n; i++ {
		price := math.Round(math.Mod(float64(i)*0.37, 500)*100) / 100
		d := fmt.Sprintf(`{"name":"item number %d","qty":%d,"price":%s,"sku":"SKU-%08d","note":"lorem ipsum dolor sit amet"}`,
			i, i%1000, strconv.FormatFloat(price, 'f', -1, 64), i)
		cs := crc32.ChecksumIEEE([]byte(d))
		total += cs
		ops = append(ops, op{strconv.Itoa(i), "PUT", "items", fmt.Sprintf("00000000-0000-4000-8000-%012d", i), cs, d})
		if len(ops) == per || i == n {
			data = append(data, mk(map[string]any{"data": map[string]any{"bucket": "global[]", "has_more": i < n, "data": ops}}))
			ops = ops[:0]
		}
	}
	lines = append(lines, mk(map[string]any{"checkpoint": map[string]any{"last_op_id": strconv.Itoa(n), "write_checkpoint": nil,
		"buckets": []any{map[string]any{"bucket": "global[]", "checksum": total, "priority": 3, "count": n}}}}))
	lines = append(lines, data...)
	lines = append(lines, []byte(fmt.Sprintf(`{"checkpoint_complete":{"last_op_id":"%d"}}`, n)))
	return lines
}

const benchSchema = `{"tables": [{"name": "items", "columns": [
  {"name": "name", "type": "TEXT"}, {"name": "qty", "type": "INTEGER"}, {"name": "price", "type": "REAL"},
  {"name": "sku", "type": "TEXT"}, {"name": "note", "type": "TEXT"}], "indexes": []}]}`

func replayBench(b *testing.B, n int) {
	lines := benchLines(n, 1000)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	dir := b.TempDir()
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, []byte(benchSchema), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		db := openTestDB(b, filepath.Join(dir, fmt.Sprintf("bench%d.db", i))+"?_pragma=synchronous(NORMAL)", schemaPath)
		e := New(db, Options{})
		b.StartTimer()
		if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
			b.Fatal(err)
		}
		if _, err := e.ConnectionEstablished(ctx); err != nil {
			b.Fatal(err)
		}
		var last []Instruction
		for _, l := range lines {
			ins, err := e.LineText(ctx, l)
			if err != nil {
				b.Fatal(err)
			}
			last = ins
		}
		b.StopTimer()
		ok := false
		for _, in := range last {
			_, ok = in.(DidCompleteSync)
			if ok {
				break
			}
		}
		var rows int
		if err := db.QueryRow("SELECT count(*) FROM ps_data__items").Scan(&rows); err != nil || !ok || rows != n {
			b.Fatalf("checkpoint not applied: rows %d, err %v, instructions %v", rows, err, last)
		}
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReplay100k is the oracle's case B: an initial sync of 100k rows
// (NDJSON in memory -> start, 102 lines -> ps_data__items).
func BenchmarkReplay100k(b *testing.B) { replayBench(b, 100_000) }

// checkpointBench applies one-row checkpoints (checkpoint_diff, a data line
// of one op, checkpoint_complete) to a database that holds n synced rows:
// what a live app receives all day. remove makes every other op a REMOVE of
// the row the op before it put.
func checkpointBench(b *testing.B, n int, remove bool) {
	lines := benchLines(n, 1000)
	dir := b.TempDir()
	schemaPath := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schemaPath, []byte(benchSchema), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db := openTestDB(b, filepath.Join(dir, "ck.db")+"?_pragma=synchronous(NORMAL)", schemaPath)
	defer db.Close()
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.ConnectionEstablished(ctx); err != nil {
		b.Fatal(err)
	}
	var total uint32
	for _, l := range lines {
		if _, err := e.LineText(ctx, l); err != nil {
			b.Fatal(err)
		}
	}
	// the bucket's checksum after the initial sync
	var sum int64
	if err := db.QueryRow(`SELECT add_checksum + op_checksum FROM ps_buckets WHERE name = 'global[]'`).Scan(&sum); err != nil {
		b.Fatal(err)
	}
	total = uint32(sum)
	op := n
	b.ResetTimer()
	for i := range b.N {
		op++
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", 1+i%n)
		var line string
		if remove && i%2 == 1 {
			cs := uint32(i)
			total += cs
			line = fmt.Sprintf(`{"data":{"bucket":"global[]","has_more":false,"data":[{"op_id":"%d","op":"REMOVE","object_type":"items","object_id":"%s","checksum":%d}]}}`, op, id, cs)
		} else {
			d := fmt.Sprintf(`{"name":"item %d","qty":%d,"price":1.5,"sku":"SKU","note":"changed"}`, i, i)
			cs := crc32.ChecksumIEEE([]byte(d))
			total += cs
			dj, _ := json.Marshal(d)
			line = fmt.Sprintf(`{"data":{"bucket":"global[]","has_more":false,"data":[{"op_id":"%d","op":"PUT","object_type":"items","object_id":"%s","checksum":%d,"data":%s}]}}`, op, id, cs, dj)
		}
		diff := fmt.Sprintf(`{"checkpoint_diff":{"last_op_id":"%d","write_checkpoint":null,"updated_buckets":[{"bucket":"global[]","checksum":%d,"priority":3,"count":%d}],"removed_buckets":[]}}`, op, total, op)
		complete := fmt.Sprintf(`{"checkpoint_complete":{"last_op_id":"%d"}}`, op)
		applied := false
		for _, l := range []string{diff, line, complete} {
			ins, err := e.LineText(ctx, []byte(l))
			if err != nil {
				b.Fatal(err)
			}
			for _, in := range ins {
				switch in.(type) {
				case DidCompleteSync:
					applied = true
				case CloseSyncStream:
					b.Fatalf("checkpoint %d: %v", op, ins)
				}
			}
		}
		if !applied {
			b.Fatalf("checkpoint %d was not applied", op)
		}
	}
}

// BenchmarkCheckpointOneRow: a one-row PUT checkpoint with 100k rows present.
func BenchmarkCheckpointOneRow(b *testing.B) { checkpointBench(b, 100_000, false) }

// BenchmarkCheckpointOneRowRemove: one-row checkpoints with 100k rows
// present, every other one a REMOVE.
func BenchmarkCheckpointOneRowRemove(b *testing.B) { checkpointBench(b, 100_000, true) }
