package main

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	pssync "github.com/gopowersync/powersync/sync"
)

// maxSamples bounds the durations a distribution keeps; past it, samples
// are kept by reservoir sampling, so memory stays bounded on long runs.
const maxSamples = 1 << 16

// distribution collects durations and summarises them as percentiles.
type distribution struct {
	mu      sync.Mutex // guards the fields below
	samples []time.Duration
	count   int64
	max     time.Duration
	rng     *rand.Rand
}

func (d *distribution) add(v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.count++
	d.max = max(d.max, v)
	if len(d.samples) < maxSamples {
		d.samples = append(d.samples, v)
		return
	}
	if d.rng == nil {
		d.rng = rand.New(rand.NewPCG(1, 2))
	}
	if i := d.rng.Int64N(d.count); i < maxSamples {
		d.samples[i] = v
	}
}

// distSummary is a distribution as reported: milliseconds.
type distSummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (d *distribution) summary() distSummary {
	d.mu.Lock()
	s := slices.Clone(d.samples)
	out := distSummary{Count: d.count, Max: ms(d.max)}
	d.mu.Unlock()
	if len(s) == 0 {
		return out
	}
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	out.P50, out.P95, out.P99 = q(0.50), q(0.95), q(0.99)
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// String renders "p50 12ms  p95 40ms  p99 80ms  max 95ms  (n=300)".
func (s distSummary) String() string {
	if s.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p95 %s  p99 %s  max %s  (n=%d)", msText(s.P50), msText(s.P95), msText(s.P99), msText(s.Max), s.Count)
}

func msText(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.1fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	default:
		return fmt.Sprintf("%.1fms", v)
	}
}

// errorCounts counts errors by kind.
type errorCounts struct {
	mu sync.Mutex // guards m
	m  map[string]int64
	// first is called, outside the lock, with the first error of each kind.
	first func(kind string, err error)
}

func (e *errorCounts) add(kind string, err error) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[kind]++
	isFirst := e.m[kind] == 1
	e.mu.Unlock()
	if isFirst && e.first != nil {
		e.first(kind, err)
	}
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

func (e *errorCounts) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, v := range e.m {
		n += v
	}
	return n
}

// errorKind names the class of a sync or upload error, without the parts
// that differ between occurrences (addresses, ids), so that errors can be
// counted by kind: "HTTP 503", "timeout", "connection refused", "stream
// ended".
func errorKind(err error) string {
	var herr *pssync.HTTPError
	var nerr net.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &herr):
		if herr.Code != "" {
			return fmt.Sprintf("HTTP %d %s", herr.StatusCode, herr.Code)
		}
		return fmt.Sprintf("HTTP %d", herr.StatusCode)
	case errors.Is(err, pssync.ErrResponseTimeout), errors.Is(err, pssync.ErrUploadTimeout):
		return "timeout"
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "stream ended"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		msg = msg[i+2:]
	}
	if len(msg) > 60 {
		msg = msg[:60] + "…"
	}
	return msg
}

// usage is the resource use of this process at one moment.
type usage struct {
	at         time.Time
	rss        uint64        // resident memory, 0 if unknown
	goTotal    uint64        // memory held by the Go runtime (mapped and not released)
	goHeap     uint64        // live and unswept heap objects
	goStacks   uint64        // goroutine stacks
	goroutines int           // goroutines
	cpu        time.Duration // user + system CPU time since the start
}

var usageMetrics = []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes", "/memory/classes/heap/stacks:bytes"}

// sampleUsage reads the process's resource use. With settle it first
// collects garbage and returns freed memory to the system, so that the
// resident size shows what is live.
func sampleUsage(settle bool) usage {
	if settle {
		runtime.GC()
		debug.FreeOSMemory()
	}
	s := make([]metrics.Sample, len(usageMetrics))
	for i, n := range usageMetrics {
		s[i].Name = n
	}
	metrics.Read(s)
	u := usage{at: time.Now(), goroutines: runtime.NumGoroutine(), rss: residentBytes(), cpu: cpuTime()}
	v := make([]uint64, len(s))
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s[i].Value.Uint64()
		}
	}
	u.goTotal = v[0] - min(v[1], v[0]) // memory the runtime holds, not what it gave back
	u.goHeap, u.goStacks = v[2], v[3]
	return u
}

// residentBytes is the resident set size from /proc/self/statm (Linux), or
// else the peak resident size getrusage reports.
func residentBytes() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var size, res uint64
		if _, err := fmt.Sscan(string(b), &size, &res); err == nil {
			return res * uint64(os.Getpagesize())
		}
	}
	return peakResidentBytes()
}

func bytesText(b float64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", b/(1<<10))
	}
}
