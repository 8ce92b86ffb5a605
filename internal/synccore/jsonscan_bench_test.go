package synccore

import (
	"encoding/json"
	"testing"
)

// stdDataLine is a data line as encoding/json would decode it: the fields
// the engine reads, with pointers for the optional ones.
type stdDataLine struct {
	Data *struct {
		Bucket string `json:"bucket"`
		Data   []struct {
			OpID       string  `json:"op_id"`
			Op         string  `json:"op"`
			ObjectType *string `json:"object_type"`
			ObjectID   *string `json:"object_id"`
			Subkey     *string `json:"subkey"`
			Data       *string `json:"data"`
			Checksum   int64   `json:"checksum"`
		} `json:"data"`
	} `json:"data"`
}

// BenchmarkScanDataLine decodes a 1000-op data line with the engine's
// scanner and with encoding/json into structs that hold the same fields
// (BenchmarkScanDataLineJSONv2, built with GOEXPERIMENT=jsonv2, adds
// encoding/json/v2). The scanner does less: it neither validates the line
// in a separate pass nor reflects over struct fields, and a PUT's data
// string without escapes is used in place. Run:
//
//	go test -run NONE -bench 'ScanDataLine' ./internal/synccore/
//	GOEXPERIMENT=jsonv2 go test -run NONE -bench 'ScanDataLine' ./internal/synccore/
func BenchmarkScanDataLine(b *testing.B) {
	line := benchLines(1000, 1000)[1]
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseTextLine(line); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(line)))
		b.ReportAllocs()
		for b.Loop() {
			var l stdDataLine
			if err := json.Unmarshal(line, &l); err != nil || len(l.Data.Data) != 1000 {
				b.Fatal(err)
			}
		}
	})
}
