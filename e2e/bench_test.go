package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/hooks"
)

// BenchmarkLiveChangeLatency measures how long a row committed in Postgres
// takes to reach a connected client's view through the real service:
// from the INSERT's commit until the client's commit that applies it is
// visible to a reader. It reports the median and the 95th percentile.
//
//	go test ./e2e/ -run NONE -bench LiveChangeLatency -benchtime 50x
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
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		name := "latency " + uuid.NewString()
		start := time.Now()
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
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(0, "ns/op")
}
