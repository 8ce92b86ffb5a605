package sync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestReadLine(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		max   int
		want  []string
		fails bool
	}{
		{"lines", "{\"a\":1}\n{\"b\":2}\n", 100, []string{`{"a":1}`, `{"b":2}`}, false},
		{"blank lines and CRLF skipped", "\n\r\n{\"a\":1}\r\n\n", 100, []string{`{"a":1}`}, false},
		{"last line without newline", "{\"a\":1}\n{\"b\":2}", 100, []string{`{"a":1}`, `{"b":2}`}, false},
		{"line longer than the reader buffer", strings.Repeat("x", 100) + "\n", 1000, []string{strings.Repeat("x", 100)}, false},
		{"line over the limit", strings.Repeat("x", 100) + "\n", 50, nil, true},
		{"long line with blanks around it", "  " + strings.Repeat("y", 40) + " \r\n", 100, []string{strings.Repeat("y", 40)}, false},
		{"long blank line skipped", strings.Repeat(" ", 40) + "\n{}\n", 100, []string{"{}"}, false},
		{"long last line without newline", "{}\n" + strings.Repeat("z", 40), 100, []string{"{}", strings.Repeat("z", 40)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
			var got []string
			for {
				l, err := readLine(br, tt.max)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					if !tt.fails {
						t.Fatal(err)
					}
					return
				}
				got = append(got, string(l))
			}
			if tt.fails {
				t.Fatal("no error for an over-long line")
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func bsonDoc(n int) []byte {
	d := make([]byte, n)
	binary.LittleEndian.PutUint32(d, uint32(n))
	return d
}

func TestReadBSONDocument(t *testing.T) {
	two := append(bsonDoc(5), bsonDoc(12)...)
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    []int
		wantErr string
	}{
		{"two documents", two, 100, []int{5, 12}, ""},
		{"empty stream", nil, 100, nil, ""},
		{"length below 5", bsonDoc(4)[:4], 100, nil, "invalid BSON document length"},
		{"over the limit", bsonDoc(200), 100, nil, "longer than"},
		{"truncated document", bsonDoc(20)[:10], 100, nil, "ended inside"},
		{"truncated length", []byte{1, 0}, 100, nil, "ended inside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(string(tt.in)))
			var got []int
			for {
				d, err := readBSONDocument(br, tt.max)
				if errors.Is(err, io.EOF) && tt.wantErr == "" {
					break
				}
				if err != nil {
					if tt.wantErr == "" || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("error %v, want %q", err, tt.wantErr)
					}
					return
				}
				got = append(got, len(d))
			}
			if tt.wantErr != "" {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("documents %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReceivedLines: the source of a batch yields the first line, then only
// lines already received, and leaves the end of the stream for the loop.
func TestReceivedLines(t *testing.T) {
	ch := make(chan lineMsg, 3)
	ch <- lineMsg{data: []byte("b")}
	ch <- lineMsg{err: io.EOF}
	ch <- lineMsg{data: []byte("c")}
	var held *lineMsg
	taken := 0
	next := receivedLines(lineMsg{data: []byte("a")}, ch, &held, &taken)
	var got []string
	for {
		l, ok := next()
		if !ok {
			break
		}
		got = append(got, string(l))
	}
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("lines %q, want [a b]", got)
	}
	if taken != 1 {
		t.Errorf("taken %d bytes from the channel, want 1 (the first line is the caller's)", taken)
	}
	if held == nil || !errors.Is(held.err, io.EOF) {
		t.Errorf("held %v, want the end of the stream", held)
	}
	if _, ok := next(); ok || len(ch) != 1 {
		t.Errorf("a line was taken after the end of the stream (ok %v, %d left)", ok, len(ch))
	}

	// Nothing received yet: next returns at once instead of waiting.
	held = nil
	next = receivedLines(lineMsg{data: []byte("x")}, make(chan lineMsg), &held, &taken)
	if l, ok := next(); !ok || string(l) != "x" {
		t.Fatalf("first = %q, %v", l, ok)
	}
	if _, ok := next(); ok || held != nil {
		t.Errorf("ok %v, held %v with nothing received", ok, held)
	}
}

func FuzzReadLine(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n\n{\"b\":2}"), 8)
	f.Add([]byte("\r\n\r\n"), 1)
	f.Fuzz(func(t *testing.T, in []byte, max int) {
		if max <= 0 || max > 1<<16 {
			return
		}
		br := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		total := 0
		for {
			l, err := readLine(br, max)
			if err != nil {
				return
			}
			if len(l) == 0 || len(l) > max+2 || strings.ContainsAny(string(l[:1]), " \t\r\n") {
				t.Fatalf("bad line %q", l)
			}
			total += len(l)
			if total > len(in) {
				t.Fatal("read more than the input")
			}
		}
	})
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// The reader hands over small lines without waiting for them to be
// applied, but a line that does not fit in what is left of readAheadBytes
// waits until the lines before it were applied: a stream of large lines
// holds about two of them, not readAhead of them.
func TestReadLinesBoundsBufferedBytes(t *testing.T) {
	s := &Syncer{o: options{maxLineSize: 64 << 20}}
	open := func(lines ...string) (<-chan lineMsg, *lineBudget, *countingReader, func()) {
		body := &countingReader{r: strings.NewReader(strings.Join(lines, "\n") + "\n")}
		resp := &http.Response{Header: http.Header{"Content-Type": {contentNDJSON}}, Body: io.NopCloser(body)}
		ch, budget, stop := s.readLines(resp)
		t.Cleanup(stop)
		return ch, budget, body, stop
	}
	recv := func(ch <-chan lineMsg) lineMsg {
		t.Helper()
		select {
		case m := <-ch:
			return m
		case <-t.Context().Done():
			t.Fatal("no line")
			return lineMsg{}
		}
	}

	small := strings.Repeat("s", 1024)
	ch, _, _, _ := open(small, small, small, small)
	for i := range 4 {
		if m := recv(ch); m.err != nil || len(m.data) != len(small) {
			t.Fatalf("small line %d: %d bytes, %v", i, len(m.data), m.err)
		}
	}

	big := strings.Repeat("b", readAheadBytes*3/4)
	ch, budget, body, _ := open(big, big, big)
	first := recv(ch)
	// Once the second line was read off the stream, it must not be handed
	// over while the first is unapplied.
	for body.n.Load() < int64(2*(len(big)+1)) {
		time.Sleep(time.Millisecond)
	}
	for range 100 {
		if len(ch) != 0 {
			t.Fatal("a second large line was handed over before the first was applied")
		}
		time.Sleep(2 * time.Millisecond)
	}
	budget.release(len(first.data))
	if m := recv(ch); len(m.data) != len(big) {
		t.Fatalf("second line: %d bytes, %v", len(m.data), m.err)
	}
}
