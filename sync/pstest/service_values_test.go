package pstest

import (
	"testing"
	"time"
)

// Rows reach clients with Postgres values as the service sends them:
// booleans as 1/0 and timestamptz as text (ISO 8601 with sync streams).
func TestColumnValuesAsTheServiceSendsThem(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.FixedZone("", 2*3600))
	for _, tt := range []struct {
		name string
		opts []Option
		want string
	}{
		{"bucket definitions", nil, `{"at":"2024-05-06 05:08:09.123456Z","done":1,"open":0,"when":null}`},
		{"sync streams", []Option{WithStreams(Stream{Name: "all", Default: true,
			Buckets: func(Subscription) ([]string, error) { return []string{DefaultBucket}, nil }})},
			`{"at":"2024-05-06T05:08:09.123456Z","done":1,"open":0,"when":null}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newTestServer(t, tt.opts...)
			if err := srv.SetRow("todos", "t1", map[string]any{"done": true, "open": false, "at": at, "when": (*time.Time)(nil)}); err != nil {
				t.Fatal(err)
			}
			m := newModel(t)
			for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete() {
				m.apply(l)
			}
			if got := m.rows()["todos"]["t1"]; got != tt.want {
				t.Errorf("row data %s, want %s", got, tt.want)
			}
		})
	}
}

// Like the service, streams are gzip-compressed for a client that accepts
// gzip (Go's transport does by default), and every line is flushed through
// the compressor: a live change arrives while the stream stays open.
func TestStreamsAreGzipped(t *testing.T) {
	srv := newTestServer(t)
	s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
	if !s.resp.Uncompressed {
		t.Fatalf("stream not gzip-compressed (headers %v)", s.resp.Header)
	}
	s.untilComplete()
	if err := srv.SetRow("todos", "t1", map[string]any{"title": "live"}); err != nil {
		t.Fatal(err)
	}
	if lines := s.untilComplete(); lineType(lines[0]) != "checkpoint" && lineType(lines[0]) != "checkpoint_diff" {
		t.Fatalf("live change: %v", lines)
	}
}
