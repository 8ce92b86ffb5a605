package synccore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gopowersync/powersync/internal/bson"
	"github.com/gopowersync/powersync/internal/pserr"
)

// parseBinaryLineViaJSON is how BSON lines were decoded before
// parseBinaryLine read them directly: into a bson.D tree, rewritten as JSON
// (integral doubles as integers) and scanned as a text line. It is kept as
// the reference the direct decoder is checked against.
func parseBinaryLineViaJSON(doc []byte) (syncLine, error) {
	d, err := bson.DecodeD(doc)
	if err != nil {
		return syncLine{}, pserr.Errorf("%w: invalid binary line: %w", ErrProtocol, err)
	}
	buf, err := appendBSONJSON(nil, d)
	if err != nil {
		return syncLine{}, pserr.Errorf("%w: invalid binary line: %w", ErrProtocol, err)
	}
	return parseTextLine(buf)
}

func appendBSONJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return strconv.AppendInt(b, int64(x), 10), nil
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v is not representable", x)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case string:
		s, _ := json.Marshal(x)
		return append(b, s...), nil
	case bson.D:
		b = append(b, '{')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(e.Key)
			b = append(append(b, k...), ':')
			var err error
			if b, err = appendBSONJSON(b, e.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendBSONJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return nil, fmt.Errorf("unsupported BSON value of type %T", v)
}

// referenceLenient reports whether err, from parseBinaryLineViaJSON, is one
// the direct decoder does not make, on purpose: it takes, where the engine
// does not read them, values nested deeper than bson.MaxDepth, binary
// values and non-finite doubles, and it reads any non-zero boolean byte as
// true, as the core does.
func referenceLenient(err error) bool {
	msg := err.Error()
	for _, s := range []string{"nesting deeper than", "unsupported BSON value of type bson.Binary", "is not representable", "boolean byte"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// checkBinaryAgainstReference decodes doc both ways and fails t unless they
// agree: the same line, or both an error (or only the reference an error of
// a kind referenceLenient names).
func checkBinaryAgainstReference(t *testing.T, doc []byte) (syncLine, error) {
	t.Helper()
	got, err := parseBinaryLine(doc)
	want, refErr := parseBinaryLineViaJSON(doc)
	switch {
	case err != nil && !errors.Is(err, ErrProtocol):
		t.Fatalf("error does not wrap ErrProtocol: %v", err)
	case err == nil && refErr == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("direct decode differs from the reference:\n got %s\nwant %s", dumpLine(got), dumpLine(want))
		}
	case err != nil && refErr == nil:
		t.Fatalf("direct decode failed (%v), the reference took the line: %s", err, dumpLine(want))
	case err == nil && refErr != nil && !referenceLenient(refErr):
		t.Fatalf("direct decode took the line (%s), the reference failed: %v", dumpLine(got), refErr)
	}
	return got, err
}

func dumpLine(l syncLine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", l)
	if l.checkpoint != nil {
		fmt.Fprintf(&b, " checkpoint %+v", *l.checkpoint)
	}
	if l.data != nil {
		fmt.Fprintf(&b, " data %q:", l.data.bucket)
		for _, op := range l.data.ops {
			fmt.Fprintf(&b, " %+v(data %q)", op, op.data)
		}
	}
	return b.String()
}

// jsonToBSON converts a JSON value to BSON keeping the order of keys (and
// duplicates), integral numbers as int64 and others as double, as the
// service's serializer would write the same line. ok is false for input that
// is not a JSON object, is not UTF-8 or escapes a surrogate (which a BSON
// string cannot hold), or nests deeper than bson.MaxDepth.
func jsonToBSON(line []byte) (doc []byte, ok bool) {
	if !utf8.Valid(line) || bytes.Contains(bytes.ToLower(line), []byte(`\ud`)) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var value func(depth int) (any, error)
	value = func(depth int) (any, error) {
		if depth > bson.MaxDepth {
			return nil, errors.New("too deep")
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch x := tok.(type) {
		case json.Delim:
			if x == '[' {
				arr := bson.A{}
				for dec.More() {
					v, err := value(depth + 1)
					if err != nil {
						return nil, err
					}
					arr = append(arr, v)
				}
				_, err := dec.Token()
				return arr, err
			}
			d := bson.D{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := value(depth + 1)
				if err != nil {
					return nil, err
				}
				d = append(d, bson.E{Key: k.(string), Value: v})
			}
			_, err := dec.Token()
			return d, err
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i, nil
			}
			f, err := x.Float64()
			return f, err
		}
		return tok, nil
	}
	v, err := value(1)
	if err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	d, isDoc := v.(bson.D)
	if !isDoc {
		return nil, false
	}
	doc, err = bson.Marshal(d)
	return doc, err == nil
}

// testLines returns the lines of the NDJSON files under testdata (without
// the huge nesting and width probes).
func testLines(t testing.TB) [][]byte {
	var out [][]byte
	for _, dir := range []string{"testdata/examples", "testdata/lines"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range bytes.Split(b, []byte("\n")) {
				if l = bytes.TrimSpace(l); len(l) > 0 && l[0] == '{' && len(l) <= 1<<16 {
					out = append(out, l)
				}
			}
		}
	}
	return out
}

// TestBinaryLinesMatchText decodes every line of the line files as NDJSON
// and as the BSON the service would send for it: the two decode alike,
// and the BSON decodes as the reference decodes it.
func TestBinaryLinesMatchText(t *testing.T) {
	lines := append(testLines(t), benchLines(3000, 1000)...)
	compared := 0
	for _, l := range lines {
		doc, ok := jsonToBSON(l)
		if !ok {
			continue
		}
		text, textErr := parseTextLine(l)
		bin, binErr := checkBinaryAgainstReference(t, doc)
		switch {
		case textErr == nil && binErr != nil:
			t.Errorf("%s: text line decodes, BSON fails: %v", l, binErr)
		case textErr == nil && !reflect.DeepEqual(text, bin):
			t.Errorf("%s: BSON decodes differently:\n text %s\n bson %s", l, dumpLine(text), dumpLine(bin))
		case textErr != nil && binErr == nil:
			// Only a float where an integer is expected: BSON numbers
			// are read leniently.
			if !bytes.ContainsAny(l, ".eE") {
				t.Errorf("%s: text line fails (%v), BSON decodes: %s", l, textErr, dumpLine(bin))
			}
		}
		compared++
	}
	if compared < 50 {
		t.Fatalf("only %d lines compared", compared)
	}
}

// bsonDoc builds a document from raw elements (type, name, value bytes).
func bsonDoc(elems ...[]byte) []byte {
	n := 5
	for _, e := range elems {
		n += len(e)
	}
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	for _, e := range elems {
		b = append(b, e...)
	}
	return append(b, 0)
}

func bsonElem(t byte, name string, value []byte) []byte {
	return append(append(append([]byte{t}, name...), 0), value...)
}

func bsonStr(s string) []byte {
	return append(append(binary.LittleEndian.AppendUint32(nil, uint32(len(s)+1)), s...), 0)
}

func bsonF64(f float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(f)) }

// deepBSON returns a document nested depth levels deep (the outermost
// document is level 1), each level the single element "" of type t.
func deepBSON(depth int, t byte) []byte {
	// Sizes from the inside out: the innermost document is empty (5 bytes),
	// each level adds its element header (type and empty name, 2 bytes) and
	// its own 5.
	b := make([]byte, 0, depth*7)
	for level := range depth {
		size := 5 + (depth-1-level)*7
		b = binary.LittleEndian.AppendUint32(b, uint32(size))
		if level < depth-1 {
			b = append(b, t, 0)
		}
	}
	for range depth {
		b = append(b, 0)
	}
	return b
}

func TestBinaryLineDeepAndHostile(t *testing.T) {
	// An unknown line nested a million levels deep is skipped, as the core
	// skips it, and as a text line of that depth is.
	for _, typ := range []byte{bsonDocument, bsonArray} {
		inner := deepBSON(1_000_000, typ)
		doc := bsonDoc(bsonElem(bsonDocument, "unknown_line", inner))
		l, err := parseBinaryLine(doc)
		if err != nil || l.kind != lineUnknown {
			t.Fatalf("deep unknown line (type 0x%02x): %+v, %v", typ, l, err)
		}
		// The same inside a known line, under a key the engine does not read.
		doc = bsonDoc(bsonElem(bsonDocument, "checkpoint_complete", bsonDoc(
			bsonElem(bsonDocument, "extra", inner),
			bsonElem(bsonString, "last_op_id", bsonStr("5")))))
		if l, err = parseBinaryLine(doc); err != nil || l.kind != lineCheckpointComplete {
			t.Fatalf("deep unknown key: %+v, %v", l, err)
		}
		// Cut anywhere inside, it is an error, never a crash.
		for _, cut := range []int{len(inner) / 2, len(inner) - 1, 5} {
			broken := bytes.Clone(inner)
			broken[cut] = 0x7F
			if _, err := parseBinaryLine(bsonDoc(bsonElem(bsonDocument, "x", broken))); !errors.Is(err, ErrProtocol) {
				t.Errorf("broken deep document (byte %d): %v", cut, err)
			}
		}
	}

	tests := []struct {
		name string
		doc  []byte
		want string // in the error; "" = decodes
	}{
		{"empty", bsonDoc(), "empty sync line"},
		{"two keys", bsonDoc(bsonElem(bsonInt32, "token_expires_in", []byte{1, 0, 0, 0}), bsonElem(bsonNull, "x", nil)), "exactly one key"},
		{"length past the end", []byte{0x20, 0, 0, 0, 0}, "does not match"},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff, 0}, "does not match"},
		{"inner length past its document", bsonDoc(bsonElem(bsonDocument, "data", []byte{0x7f, 0, 0, 0, 0})), "out of range"},
		{"string length past its document", bsonDoc(bsonElem(bsonString, "x", []byte{0x7f, 0, 0, 0, 'a', 0})), "out of range"},
		{"string without NUL", bsonDoc(bsonElem(bsonString, "x", []byte{2, 0, 0, 0, 'a', 'b'})), "NUL"},
		{"string not UTF-8", bsonDoc(bsonElem(bsonString, "x", bsonStr("\xff"))), "UTF-8"},
		{"name not UTF-8", bsonDoc(bsonElem(bsonNull, "\xff", nil)), "UTF-8"},
		{"unterminated name", []byte{8, 0, 0, 0, 0x0A, 'a', 'b', 0}, "unterminated element name"},
		{"unknown type", bsonDoc(bsonElem(0x07, "x", make([]byte, 12))), "unsupported element type 0x07"},
		{"truncated int64", bsonDoc(bsonElem(bsonInt64, "token_expires_in", []byte{1, 0, 0})), "truncated"},
		{"skipped binary", bsonDoc(bsonElem(bsonBinary, "x", []byte{2, 0, 0, 0, 0, 1, 2})), ""},
		{"binary past its document", bsonDoc(bsonElem(bsonBinary, "x", []byte{9, 0, 0, 0, 0, 1, 2})), "out of range"},
		{"skipped NaN", bsonDoc(bsonElem(bsonDouble, "x", bsonF64(math.NaN()))), ""},
		{"NaN where an integer is read", bsonDoc(bsonElem(bsonDouble, "token_expires_in", bsonF64(math.NaN()))), "expected an integer"},
		{"integral double is an integer", bsonDoc(bsonElem(bsonDouble, "token_expires_in", bsonF64(60))), ""},
		{"fraction is not", bsonDoc(bsonElem(bsonDouble, "token_expires_in", bsonF64(0.5))), "expected an integer"},
		{"2^63 is not", bsonDoc(bsonElem(bsonDouble, "token_expires_in", bsonF64(1<<63))), "expected an integer"},
		{"string is not", bsonDoc(bsonElem(bsonString, "token_expires_in", bsonStr("60"))), "invalid type"},
		{"array is not an object", bsonDoc(bsonElem(bsonArray, "checkpoint", bsonDoc())), "invalid type: an array, expected a document"},
	}
	for _, tt := range tests {
		_, err := checkBinaryAgainstReference(t, tt.doc)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// TestBinaryLineAllocations: a 1000-op data line costs a few allocations an
// op (its strings), not a tree of values.
func TestBinaryLineAllocations(t *testing.T) {
	lines := benchLines(1000, 1000)
	doc, ok := jsonToBSON(lines[1])
	if !ok {
		t.Fatal("cannot convert the data line")
	}
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := parseBinaryLine(doc); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3000 {
		t.Errorf("%v allocations for a 1000-op line", allocs)
	}
}

// FuzzBinaryLine checks the direct BSON decoder against the reference on
// arbitrary documents, and against the NDJSON scanner on lines that are
// converted to BSON first (fromJSON): mutations then change sync lines,
// not just their framing. It never panics, and an error wraps ErrProtocol.
func FuzzBinaryLine(f *testing.F) {
	noMinimize(f)
	for _, l := range testLines(f) {
		if len(l) > 4096 {
			continue
		}
		f.Add(l, true)
		if doc, ok := jsonToBSON(l); ok {
			f.Add(doc, false)
		}
	}
	f.Add(bsonDoc(bsonElem(bsonDocument, "x", deepBSON(200, bsonArray))), false)
	f.Fuzz(func(t *testing.T, in []byte, fromJSON bool) {
		if !fromJSON {
			checkBinaryAgainstReference(t, in)
			return
		}
		doc, ok := jsonToBSON(in)
		if !ok {
			return
		}
		bin, binErr := checkBinaryAgainstReference(t, doc)
		text, textErr := parseTextLine(in)
		if textErr == nil && (binErr != nil || !reflect.DeepEqual(text, bin)) {
			t.Fatalf("text line %s decodes to %s; its BSON to %s, %v", in, dumpLine(text), dumpLine(bin), binErr)
		}
	})
}

func BenchmarkParseLine(b *testing.B) {
	lines := benchLines(1000, 1000)
	text := lines[1]
	doc, ok := jsonToBSON(text)
	if !ok {
		b.Fatal("cannot convert the data line")
	}
	b.Run("ndjson", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseTextLine(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bson", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseBinaryLine(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bson-via-json", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseBinaryLineViaJSON(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
