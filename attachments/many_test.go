package attachments_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
)

// genReader yields n bytes derived from seed, without holding them.
type genReader struct {
	state uint64
	left  int64
}

func newGenReader(seed string, n int64) *genReader {
	h := fnv.New64a()
	io.WriteString(h, seed)
	return &genReader{state: h.Sum64() | 1, left: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.left)]
	for i := 0; i < len(p); i += 8 {
		g.state ^= g.state << 13
		g.state ^= g.state >> 7
		g.state ^= g.state << 17
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], g.state)
		copy(p[i:], b[:])
	}
	g.left -= int64(len(p))
	return len(p), nil
}

func genHash(seed string, n int64) string {
	h := sha256.New()
	io.Copy(h, newGenReader(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

// genStorage is a remote storage that keeps only the hashes of uploads and
// serves downloads generated from the id, so that memory measures the
// queue, not the storage.
type genStorage struct {
	size             int64
	mu               sync.Mutex // guards hashes
	hashes           map[string]string
	running, peak    atomic.Int64
	uploads, downlds atomic.Int64
}

func (g *genStorage) enter() func() {
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	return func() { g.running.Add(-1) }
}

func (g *genStorage) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	defer g.enter()()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	g.mu.Lock()
	g.hashes[a.ID] = hex.EncodeToString(h.Sum(nil))
	g.mu.Unlock()
	g.uploads.Add(1)
	return nil
}

func (g *genStorage) Download(ctx context.Context, a attachments.Attachment, w io.Writer) error {
	defer g.enter()()
	g.downlds.Add(1)
	_, err := io.Copy(w, newGenReader(a.ID, g.size))
	return err
}

func (g *genStorage) Delete(ctx context.Context, a attachments.Attachment) error { return nil }

// heapSampler records the peak of the live heap while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapAlloc)
			select {
			case <-s.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

func openBulkDB(t testing.TB) *sql.DB {
	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "app.db"), driver.WithSchema(testSchema()))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// upAndDown saves n files of size bytes on one database and downloads
// them on another, and returns the peak heap seen.
func upAndDown(t testing.TB, n int, size int64, concurrency int) (peak uint64, remote *genStorage) {
	remote = &genStorage{size: size, hashes: map[string]string{}}
	opts := attachments.Options{Remote: remote, Watch: watchPhotos, Concurrency: concurrency, Throttle: -1}
	up := openBulkDB(t)
	down := openBulkDB(t)
	qu, err := attachments.Open(context.Background(), up, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer qu.Close()
	qd, err := attachments.Open(context.Background(), down, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer qd.Close()
	runtime.GC()
	s := sampleHeap()
	ctx := context.Background()
	start := time.Now()
	for i := range n {
		id := fmt.Sprint("f", i)
		if _, err := qu.Save(ctx, newGenReader(id, size), attachments.File{ID: id, Filename: id + ".bin"}, linkTodo(id)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("saved in %v", time.Since(start))
	waitPending(t, qu)
	t.Logf("uploaded in %v", time.Since(start))
	// The second database gets the rows as sync would bring them.
	tx, err := down.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tx.Exec(`INSERT INTO todos (id, photo_id) VALUES (?, ?)`, fmt.Sprint("t", i), fmt.Sprint("f", i))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "downloads", func() bool {
		st, err := qd.Status(ctx)
		return err == nil && st.Counts[attachments.Synced] == n
	})
	t.Logf("downloaded in %v", time.Since(start))
	return s.Stop(), remote
}

func waitPending(t testing.TB, q *attachments.Queue) {
	eventually(t, "uploads", func() bool {
		st, err := q.Status(context.Background())
		return err == nil && st.Pending() == 0 && len(st.Transfers) == 0
	})
}

// A thousand attachments go up and down with at most Concurrency
// transfers at once, and with a heap far smaller than the data moved.
// Under the race detector (and -short) it moves 200; .ci/run also runs it
// without the race detector at full size.
func TestThousandAttachments(t *testing.T) {
	n, size := 1000, int64(100_000)
	if testing.Short() || raceEnabled {
		n = 200
	}
	peak, remote := upAndDown(t, n, size, 4)
	if p := remote.peak.Load(); p > 4 || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..4", p)
	}
	if remote.uploads.Load() != int64(n) || remote.downlds.Load() != int64(n) {
		t.Fatalf("%d uploads, %d downloads", remote.uploads.Load(), remote.downlds.Load())
	}
	for _, id := range []string{"f0", fmt.Sprint("f", n-1)} {
		if remote.hashes[id] != genHash(id, size) {
			t.Fatalf("hash of %s differs", id)
		}
	}
	moved := uint64(n) * uint64(size) * 2
	t.Logf("moved %d MB, peak heap %.1f MB", moved>>20, float64(peak)/(1<<20))
	if limit := uint64(48 << 20); peak > limit && moved > 2*limit {
		t.Fatalf("peak heap %d MB, want under %d MB", peak>>20, limit>>20)
	}
}

// BenchmarkUpDown1000x100KB saves 1000 attachments of 100 KB on one
// database and downloads them on another.
func BenchmarkUpDown1000x100KB(b *testing.B) {
	const n, size = 1000, 100_000
	var peak uint64
	for b.Loop() {
		p, _ := upAndDown(b, n, size, 8)
		peak = max(peak, p)
	}
	b.ReportMetric(float64(n*size*2*b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(n*2*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}
