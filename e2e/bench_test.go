package e2e

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/hooks"
)

// BenchmarkLiveChangeLatency measures how long a row committed in Postgres
// takes to reach a connected client's view through the real service:
// from the INSERT's commit until the client's commit that applies it is
// visible to a reader. It reports the median and the 95th percentile, and
// beside them the same for a raw HTTP reader of the sync stream that
// applies nothing (service-p50-ms, service-p95-ms): the part of the
// latency that is the service's.
//
//	go -C e2e test . -run NONE -bench LiveChangeLatency -benchtime 50x
func BenchmarkLiveChangeLatency(b *testing.B) {
	c := newClient(b, clientOpts{})
	c.connect()
	c.waitSynced()
	// A zero throttle: the listener wakes at every commit.
	l, err := hooks.Watcher{Throttle: -1}.Listen(context.Background(), c.db, "lists")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	raw := startRawStream(b)
	lat := make([]time.Duration, 0, b.N)
	var rawLat []time.Duration
	for b.Loop() {
		name := "latency " + uuid.NewString()
		start := time.Now()
		raw.expect(name, start)
		pgExec(b, "INSERT INTO lists(name) VALUES ($1)", name)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		for {
			var n int
			if err := c.db.QueryRow("SELECT count(*) FROM lists WHERE name = ?", name).Scan(&n); err != nil {
				b.Fatal(err)
			}
			if n == 1 {
				break
			}
			if _, err := l.Next(ctx); err != nil {
				b.Fatalf("row %q did not arrive: %v; status %v", name, err, c.s.Status())
			}
		}
		cancel()
		lat = append(lat, time.Since(start))
		if d, ok := raw.wait(name); ok {
			rawLat = append(rawLat, d)
		}
	}
	b.ReportMetric(percentile(lat, 0.5), "p50-ms")
	b.ReportMetric(percentile(lat, 0.95), "p95-ms")
	if len(rawLat) > 0 {
		b.ReportMetric(percentile(rawLat, 0.5), "service-p50-ms")
		b.ReportMetric(percentile(rawLat, 0.95), "service-p95-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// percentile returns the p-quantile of d in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
}

// rawStream reads a sync stream with plain HTTP and notes when a line
// mentioning an expected name arrives.
type rawStream struct {
	mu      gosync.Mutex
	started map[string]time.Time
	arrived map[string]chan time.Duration
}

func startRawStream(b *testing.B) *rawStream {
	tok, _ := svc.token(tokenOpts{sub: uuid.NewString()})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, svc.url+"/sync/stream",
		strings.NewReader(`{"parameters":{},"raw_data":true,"include_checksum":true,"buckets":[]}`))
	req.Header.Set("Authorization", "Token "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("raw stream: %s", resp.Status)
	}
	r := &rawStream{started: map[string]time.Time{}, arrived: map[string]chan time.Duration{}}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			for name, at := range r.started {
				if strings.Contains(line, name) {
					r.arrived[name] <- time.Since(at)
					delete(r.started, name)
				}
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *rawStream) expect(name string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[name] = at
	r.arrived[name] = make(chan time.Duration, 1)
}

// wait returns when the raw reader saw name (at most waitLimit).
func (r *rawStream) wait(name string) (time.Duration, bool) {
	r.mu.Lock()
	ch := r.arrived[name]
	r.mu.Unlock()
	select {
	case d := <-ch:
		return d, true
	case <-time.After(waitLimit):
		return 0, false
	}
}
