//go:build goexperiment.jsonv2

package synccore

import (
	jsonv2 "encoding/json/v2"
	"testing"
)

// BenchmarkScanDataLineJSONv2 is BenchmarkScanDataLine's encoding/json case
// with encoding/json/v2 (Go 1.26: GOEXPERIMENT=jsonv2).
func BenchmarkScanDataLineJSONv2(b *testing.B) {
	line := benchLines(1000, 1000)[1]
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var l stdDataLine
		if err := jsonv2.Unmarshal(line, &l); err != nil || len(l.Data.Data) != 1000 {
			b.Fatal(err)
		}
	}
}
