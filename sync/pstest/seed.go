package pstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Seed is the content of a seed file (see LoadSeed).
type Seed struct {
	// Priorities sets bucket priorities by bucket name.
	Priorities map[string]int `json:"priorities,omitempty"`
	// Rows are source rows, put into buckets by the server's RowBucketsFunc.
	Rows []SeedRow `json:"rows,omitempty"`
	// Ops are rows put directly into a bucket.
	Ops []SeedOp `json:"ops,omitempty"`
}

// SeedRow is a source row of a seed file.
type SeedRow struct {
	Table string         `json:"table"`
	ID    string         `json:"id"`
	Data  map[string]any `json:"data"`
}

// SeedOp is a PUT into one bucket in a seed file.
type SeedOp struct {
	Bucket string          `json:"bucket"`
	Table  string          `json:"table"`
	ID     string          `json:"id"`
	Data   json.RawMessage `json:"data"`
}

// LoadSeed reads a JSON Seed from r and applies it as one checkpoint, e.g.
//
//	{"priorities": {"lists[]": 0},
//	 "rows": [{"table": "todos", "id": "t1", "data": {"title": "a"}}],
//	 "ops": [{"bucket": "lists[]", "table": "lists", "id": "l1", "data": {"name": "x"}}]}
func (s *Server) LoadSeed(r io.Reader) error {
	var seed Seed
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&seed); err != nil {
		return fmt.Errorf("powersync: pstest: read seed: %w", err)
	}
	return s.Update(func(tx *Tx) error {
		for _, b := range sortedKeys(seed.Priorities) {
			tx.SetPriority(b, seed.Priorities[b])
		}
		for i, row := range seed.Rows {
			if row.Table == "" || row.ID == "" {
				return fmt.Errorf("powersync: pstest: seed row %d: table and id are required", i)
			}
			tx.SetRow(row.Table, row.ID, row.Data)
		}
		for i, op := range seed.Ops {
			if op.Bucket == "" || op.Table == "" || op.ID == "" {
				return fmt.Errorf("powersync: pstest: seed op %d: bucket, table and id are required", i)
			}
			var data bytes.Buffer
			if err := json.Compact(&data, op.Data); err != nil {
				return fmt.Errorf("powersync: pstest: seed op %d: %w", i, err)
			}
			tx.Put(op.Bucket, op.Table, op.ID, data.Bytes())
		}
		return nil
	})
}
