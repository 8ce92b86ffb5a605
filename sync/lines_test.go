package sync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
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
	next := receivedLines(lineMsg{data: []byte("a")}, ch, &held)
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
	if held == nil || !errors.Is(held.err, io.EOF) {
		t.Errorf("held %v, want the end of the stream", held)
	}
	if _, ok := next(); ok || len(ch) != 1 {
		t.Errorf("a line was taken after the end of the stream (ok %v, %d left)", ok, len(ch))
	}

	// Nothing received yet: next returns at once instead of waiting.
	held = nil
	next = receivedLines(lineMsg{data: []byte("x")}, make(chan lineMsg), &held)
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
