package sync

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strings"
	gosync "sync"
	"testing"
	"time"
)

// BenchmarkLargeLines measures the peak heap of a sync whose data lines are
// each one large row (the service's limit for one row is 15 MB), several
// lines in a row: what a service can make the client hold at once. It
// reports the peak heap growth over the heap before the sync, in MiB and
// as a multiple of one line's size.
func BenchmarkLargeLines(b *testing.B) {
	for _, tc := range []struct {
		lines, size int
	}{{8, 4 << 20}, {6, 15 << 20}, {4, 30 << 20}} {
		b.Run(fmt.Sprintf("%dx%dMiB", tc.lines, tc.size>>20), func(b *testing.B) {
			// The service side writes each line in pieces, so that only the
			// client's memory grows during the sync.
			chunk := strings.Repeat("x", 64<<10)
			writeTitle := func(w io.Writer) {
				for n := tc.size; n > 0; n -= len(chunk) {
					io.WriteString(w, chunk[:min(n, len(chunk))])
				}
			}
			var sum uint32
			sums := make([]uint32, tc.lines)
			for i := range tc.lines {
				h := sha256.New()
				fmt.Fprintf(h, `put.todos.r%d.{"title":"`, i)
				writeTitle(h)
				io.WriteString(h, `"}`)
				sums[i] = binary.LittleEndian.Uint32(h.Sum(nil)[:4])
				sum += sums[i]
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/sync/stream" {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", contentNDJSON)
				fmt.Fprintf(w, `{"checkpoint":{"last_op_id":"%d","write_checkpoint":null,"buckets":[{"bucket":"b","checksum":%d,"priority":3,"count":%d}]}}`+"\n",
					tc.lines, int32(sum), tc.lines)
				for i := range tc.lines {
					fmt.Fprintf(w, `{"data":{"bucket":"b","data":[{"op_id":"%d","op":"PUT","object_type":"todos","object_id":"r%d","checksum":%d,"data":"{\"title\":\"`,
						i+1, i, sums[i])
					writeTitle(w)
					io.WriteString(w, `\"}"}]}}`+"\n")
				}
				fmt.Fprintf(w, `{"checkpoint_complete":{"last_op_id":"%d"}}`+"\n", tc.lines)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			defer srv.Close()
			conn := ConnectorFuncs{FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
				return &Credentials{Endpoint: srv.URL, Token: "t"}, nil
			}}
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				db := openDB(b)
				s, err := New(db, conn)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				base := heapBytes()
				stop := sampleHeap(base, &peak)
				b.StartTimer()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				if err := s.Connect(ctx); err != nil {
					b.Fatal(err)
				}
				for st := range s.Statuses(ctx) {
					if st.HasSynced {
						break
					}
				}
				b.StopTimer()
				stop()
				cancel()
				s.Close()
				db.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peak)/float64(tc.size), "peak/line")
		})
	}
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// sampleHeap records the largest heap growth over base, sampled every
// millisecond, until the returned stop is called.
func sampleHeap(base uint64, peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg gosync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := heapBytes(); h > base && h-base > *peak {
				*peak = h - base
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
