package hooks_test

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/hooks"
)

// BenchmarkWatchLatency measures the time from a commit to the watcher
// holding the new result of a 1000-row query, and reports its p50 and p99
// (ms). Sub-benchmarks: idle and unthrottled; idle with the default 30 ms
// throttle and commits spaced wider than it (a change after a quiet period
// is reported at once); and unthrottled while another goroutine keeps
// applying 100k-row transactions to another table, as an initial sync does.
//
// Run with a fixed count, for example -benchtime=200x; each iteration of
// the bulk case waits for its 100k-row transaction to finish.
func BenchmarkWatchLatency(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchWatchLatency(b, unthrottled, 0, false) })
	b.Run("idle-throttle30ms", func(b *testing.B) { benchWatchLatency(b, hooks.Watcher{}, 40*time.Millisecond, false) })
	b.Run("during-100k-write", func(b *testing.B) { benchWatchLatency(b, unthrottled, 0, true) })
}

func benchWatchLatency(b *testing.B, w hooks.Watcher, gap time.Duration, bulk bool) {
	db := openDB(b)
	applyCheckpoint(b, db, "todos", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The watcher signals when it holds a result whose first row carries
	// the value last written.
	var want atomic.Int64
	want.Store(-1)
	seen := make(chan time.Time, 1)
	ready := make(chan struct{})
	wg.Go(func() {
		first := true
		for res, err := range w.Watch(ctx, db, `SELECT id, description, list_id, done FROM todos WHERE list_id = 'l1' ORDER BY id`) {
			if err != nil {
				b.Error(err)
				return
			}
			if first {
				if len(res.Rows) != 1000 {
					b.Errorf("watched %d rows, want 1000", len(res.Rows))
				}
				first = false
				close(ready)
				continue
			}
			if v, _ := res.Rows[0]["done"].(int64); v == want.Load() {
				select {
				case seen <- time.Now():
				default:
				}
			}
		}
	})
	<-ready

	var bw bulkWriter
	if bulk {
		bw = runBulkWriter(ctx, db, 100_000)
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if gap > 0 {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
		}
		want.Store(int64(i))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE todos SET done = ? WHERE id = 'todos-0'`, i); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		if bulk {
			bw.start <- struct{}{} // the watch re-runs while 100k rows are written
		}
		lat = append(lat, (<-seen).Sub(start))
		if bulk {
			if err := <-bw.done; err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkWatchFloor runs the watched query of BenchmarkWatchLatency alone,
// read into rows as a watch reads it, and reports its p50 and p99 (ms): the
// floor of the watch latency on this machine.
func BenchmarkWatchFloor(b *testing.B) {
	db := openDB(b)
	applyCheckpoint(b, db, "todos", 1000)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		rows, err := db.QueryContext(ctx, `SELECT id, description, list_id, done FROM todos WHERE list_id = 'l1' ORDER BY id`)
		if err != nil {
			b.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		var out []map[string]any
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				b.Fatal(err)
			}
			m := make(map[string]any, len(cols))
			for i, c := range cols {
				m[c] = vals[i]
			}
			out = append(out, m)
		}
		rows.Close()
		if len(out) != 1000 {
			b.Fatalf("%d rows", len(out))
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
}

// bulkWriter applies a 100k-row transaction to the lists data table each
// time it is told to start, in one INSERT ... SELECT as a checkpoint apply
// does, until ctx ends.
type bulkWriter struct {
	start chan struct{} // a send starts one bulk transaction
	done  chan error    // receives its result
}

func runBulkWriter(ctx context.Context, db *sql.DB, n int) bulkWriter {
	bw := bulkWriter{start: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for round := 0; ; round++ {
			select {
			case <-ctx.Done():
				return
			case <-bw.start:
			}
			_, err := db.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
				INSERT OR REPLACE INTO ps_data__lists(id, data) SELECT 'list-' || i, json_object('name', 'round ' || ?) FROM n`, n-1, round)
			bw.done <- err
		}
	}()
	return bw
}
