package pstest

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/bson"
)

// BenchmarkInitialSync serves a 100k-row initial sync (the oracle's
// node-bench size) and reads it raw, NDJSON and BSON.
func BenchmarkInitialSync(b *testing.B) {
	const n = 100_000
	srv := NewServer()
	defer srv.Close()
	if err := srv.Update(func(tx *Tx) error {
		for i := range n {
			tx.Put("items[]", "items", fmt.Sprintf("item-%07d", i),
				fmt.Sprintf(`{"name":"item %d","qty":%d,"price":%d.5,"sku":"SKU-%d","note":"note for item %d"}`, i, i%100, i%1000, i, i))
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	tok := srv.Token("bench")
	for _, accept := range []string{"", acceptBSON} {
		name := "ndjson"
		if accept != "" {
			name = "bson"
		}
		b.Run(name, func(b *testing.B) {
			var bytesRead int64
			for b.Loop() {
				req, _ := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL+"/sync/stream",
					strings.NewReader(`{"client_id":"c","raw_data":true}`))
				req.Header.Set("Authorization", "Token "+tok)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", accept)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				br := bufio.NewReaderSize(resp.Body, 1<<20)
				var buf []byte
				for {
					var line []byte
					if accept == "" {
						line, err = br.ReadSlice('\n')
						if err == bufio.ErrBufferFull {
							err = nil
						}
					} else {
						line, err = bson.ReadDocument(br, buf, 0)
						buf = line
					}
					if err != nil {
						b.Fatal(err)
					}
					bytesRead += int64(len(line))
					// The last line: checkpoint_complete (not a partial_checkpoint_complete).
					if bytes.HasPrefix(line, []byte(`{"checkpoint_complete"`)) ||
						bytes.HasPrefix(line[min(len(line), 4):], []byte("\x03checkpoint_complete\x00")) {
						break
					}
				}
				resp.Body.Close()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.SetBytes(bytesRead / int64(b.N))
		})
	}
}
