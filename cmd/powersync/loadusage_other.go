//go:build !unix

package main

import (
	"runtime/metrics"
	"time"
)

// cpuTime is the CPU time of this process as the Go runtime estimates it.
func cpuTime() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

// peakResidentBytes is unknown here.
func peakResidentBytes() uint64 { return 0 }
