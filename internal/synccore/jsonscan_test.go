package synccore

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// nested returns a JSON value nested depth levels deep: arrays, or objects
// with key "k" when obj is set, around inner.
func nested(depth int, obj bool, inner string) []byte {
	open, close := "[", "]"
	if obj {
		open, close = `{"k":`, "}"
	}
	var b bytes.Buffer
	b.Grow(depth*(len(open)+len(close)) + len(inner))
	for range depth {
		b.WriteString(open)
	}
	b.WriteString(inner)
	for range depth {
		b.WriteString(close)
	}
	return b.Bytes()
}

// unknownLine wraps v as the value of an unknown sync line.
func unknownLine(v []byte) []byte {
	return append(append([]byte(`{"unknown":`), v...), '}')
}

func TestSkip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"scalars", `[1, -2.5e3, "s", true, false, null]`, true},
		{"empty containers", `[{}, [], {"a": []}, [[]]]`, true},
		{"object", `{"a": {"b": [1, {"c": "d"}]}, "e": null}`, true},
		{"escapes", `["\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]`, true},
		{"lone surrogate is only syntax here", `["\ud800", "\udc00x"]`, true},
		{"invalid utf-8 bytes", "[\"\xff\xfe\"]", true},
		{"deep arrays", string(nested(10000, false, "1")), true},
		{"deep objects", string(nested(10000, true, "{}")), true},
		{"wide", "[" + strings.Repeat(`{"a":[1,2]},`, 10000) + "0]", true},
		{"mismatched close", `[1}`, false},
		{"mismatched close in object", `{"a":1]`, false},
		{"unclosed", string(nested(1000, false, "1"))[:1500], false},
		{"trailing comma", `[1,]`, false},
		{"trailing comma in object", `{"a":1,}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"non-string key", `{1:2}`, false},
		{"leading comma", `[,1]`, false},
		{"bad escape", `["\x"]`, false},
		{"short unicode escape", `["\u12"]`, false},
		{"control character", "[\"\x01\"]", false},
		{"unterminated string", `["abc`, false},
		{"bad literal", `[tru]`, false},
		{"bad number", `[01]`, false},
		{"empty", ``, false},
		{"close only", `]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &scanner{b: []byte(tt.in)}
			err := s.skip()
			if err == nil {
				err = s.end()
			}
			if (err == nil) != tt.ok {
				t.Fatalf("skip(%.60q): %v, want ok=%v", tt.in, err, tt.ok)
			}
			if got := json.Valid([]byte(tt.in)) || strings.HasPrefix(tt.name, "deep"); got != tt.ok {
				t.Fatalf("test case disagrees with encoding/json: Valid=%v", got)
			}
		})
	}
}

func TestSkipValueDepthLimit(t *testing.T) {
	for _, obj := range []bool{false, true} {
		in := nested(5, obj, "1")
		s := &scanner{b: in}
		if d, err := s.skipValue(5); err != nil || d != 5 {
			t.Errorf("%s at the limit: depth %d, %v", in, d, err)
		}
		s = &scanner{b: in}
		_, err := s.skipValue(4)
		if err == nil || !strings.Contains(err.Error(), "nested deeper than 4 levels") {
			t.Errorf("%s over the limit: %v", in, err)
		}
	}
}

// TestDeepUnknownLine sends the attack line (an unknown line nested five
// million levels deep, 10 MB) through an Engine in a child process whose
// goroutine stacks are limited to 64 MiB. A recursive parser overflows the
// stack there, which is a fatal error no recover can catch; the child keeps
// that from taking this test binary down with it. The official core treats
// the line as an unknown line, and so must we.
func TestDeepUnknownLine(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperDeepUnknownLine$", "-test.v")
	cmd.Env = append(os.Environ(), "SYNCCORE_DEEP_LINE_CHILD=1")
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte("stack overflow")) {
		t.Fatalf("a deeply nested line overflowed the stack:\n%.2000s", out)
	}
	if err != nil || !bytes.Contains(out, []byte("deep line handled")) {
		t.Fatalf("child: %v\n%.2000s", err, out)
	}
}

// TestHelperDeepUnknownLine is the child of TestDeepUnknownLine; it does
// nothing unless started by it.
func TestHelperDeepUnknownLine(t *testing.T) {
	if os.Getenv("SYNCCORE_DEEP_LINE_CHILD") != "1" {
		return
	}
	debug.SetMaxStack(64 << 20)
	db := openTestDB(t, filepath.Join(t.TempDir(), "deep.db"), "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	ctx := t.Context()
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ConnectionEstablished(ctx); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []bool{false, true} {
		line := unknownLine(nested(5_000_000, obj, "1"))
		ins, err := e.LineText(ctx, line)
		if err != nil {
			t.Fatalf("deep line (objects %v): %v", obj, err)
		}
		if len(ins) != 1 || ins[0] != (LogLine{Severity: "DEBUG", Line: "Unknown sync line"}) {
			t.Fatalf("deep line (objects %v): %v, want the unknown line log", obj, ins)
		}
	}
	// The same depth under a known line's unknown key.
	line := append([]byte(`{"checkpoint_complete":{"x":`), nested(5_000_000, false, "1")...)
	line = append(line, "}}"...)
	if _, err := parseTextLine(line); err != nil {
		t.Fatalf("deep value under a known line: %v", err)
	}
	t.Log("deep line handled")
}

// FuzzSkip checks skip against encoding/json on arbitrary bytes: they accept
// the same values (encoding/json stops at 10000 levels), and skip never
// panics. The seeds are deep and wide values.
func FuzzSkip(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2,{"b":null}],"c":"\u00e9"}`, `[[[[[[[[[[]]]]]]]]]]`, `{"a":{"a":{"a":{"a":{}}}}}`,
		"[" + strings.Repeat(`1,"x",{},[],`, 20) + "0]", `["\ud800"]`, "[\"\xff\"]", `[1}`, `{"a" 1}`,
	} {
		f.Add([]byte(s))
	}
	// Deeper values are FuzzSkipNested's: the fuzzing engine minimizes every
	// input that finds new coverage, in time quadratic in its size.
	f.Add(nested(200, false, "[]"))
	f.Add(nested(200, true, `"v"`))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &scanner{b: in}
		deepest, err := s.skipValue(0)
		if err == nil {
			err = s.end()
		}
		_, lineErr := parseTextLine(unknownLine(in))
		if deepest > 10000 {
			return
		}
		if valid := json.Valid(in); (err == nil) != valid || (lineErr == nil) != valid {
			t.Fatalf("skip: %v, as an unknown line: %v, json.Valid: %v", err, lineErr, valid)
		}
	})
}

// FuzzSkipNested builds values far deeper and wider than the byte mutator
// reaches (up to 65535 levels, 255 elements per level, a mix of arrays and
// objects chosen by shape) and checks that the scanner accepts them, and
// that cutting one byte off the end makes them invalid.
func FuzzSkipNested(f *testing.F) {
	f.Add(uint16(1), uint8(0), []byte{0})
	f.Add(uint16(60000), uint8(1), []byte{0, 1})
	f.Add(uint16(300), uint8(20), []byte{1, 1, 0})
	f.Add(uint16(9), uint8(255), []byte{})
	f.Fuzz(func(t *testing.T, depth uint16, width uint8, shape []byte) {
		var b bytes.Buffer
		closers := make([]byte, 0, depth)
		want := int(depth) // the deepest level
		for d := range int(depth) {
			obj := len(shape) > 0 && shape[d%len(shape)]&1 == 1
			if obj {
				b.WriteString(`{"k":`)
				closers = append(closers, '}')
			} else {
				b.WriteByte('[')
				closers = append(closers, ']')
			}
			// siblings before the nested element (at most a few levels
			// get them, so the value stays small)
			if d%4096 == 0 && width > 0 {
				want = max(want, d+3) // level d+1 holds {"w":[...]}
				for i := range int(width) {
					if obj {
						b.WriteString(`{"w":[1,"s",null]},"k`)
						b.WriteByte(byte('a' + i%26))
						b.WriteString(`":`)
					} else {
						b.WriteString(`{"w":[1,"s",null]},`)
					}
				}
			}
		}
		b.WriteString("0")
		for i := len(closers) - 1; i >= 0; i-- {
			b.WriteByte(closers[i])
		}
		in := b.Bytes()
		s := &scanner{b: in}
		deepest, err := s.skipValue(0)
		if err == nil {
			err = s.end()
		}
		if err != nil || deepest != want {
			t.Fatalf("depth %d width %d: reached %d, %v", depth, width, deepest, err)
		}
		if _, err := parseTextLine(unknownLine(in)); err != nil {
			t.Fatalf("as an unknown line: %v", err)
		}
		if depth > 0 {
			s = &scanner{b: in[:len(in)-1]}
			if err := s.skip(); err == nil {
				t.Fatalf("depth %d: a value without its last byte was accepted", depth)
			}
		}
	})
}
