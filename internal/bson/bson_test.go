package bson

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Vectors from the official core's BSON decoder tests (bson/mod.rs in
// powersync-sqlite-core).
var (
	helloWorld = []byte("\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00")

	checkpointLine = []byte("\x85\x00\x00\x00\x03checkpoint\x00t\x00\x00\x00\x02last_op_id\x00\x02\x00\x00\x001\x00\x0awrite_checkpoint\x00\x04buckets\x00B\x00\x00\x00\x030\x00:\x00\x00\x00\x02bucket\x00\x02\x00\x00\x00a\x00\x10checksum\x00\x00\x00\x00\x00\x10priority\x00\x03\x00\x00\x00\x10count\x00\x01\x00\x00\x00\x00\x00\x00\x00")

	tokenExpires = []byte("\x1b\x00\x00\x00\x10token_expires_in\x00<\x00\x00\x00\x00")
)

func TestVectors(t *testing.T) {
	tests := []struct {
		name string
		bson []byte
		docs []any          // each encodes to bson
		want map[string]any // what bson decodes to
	}{
		{"hello", helloWorld,
			[]any{D{{"hello", "world"}}, map[string]any{"hello": "world"}},
			map[string]any{"hello": "world"}},
		{"token_expires_in", tokenExpires,
			[]any{D{{"token_expires_in", 60}}},
			map[string]any{"token_expires_in": int32(60)}},
		{"checkpoint", checkpointLine,
			[]any{D{{"checkpoint", D{
				{"last_op_id", "1"},
				{"write_checkpoint", nil},
				{"buckets", []D{{{"bucket", "a"}, {"checksum", int32(0)}, {"priority", 3}, {"count", 1}}}},
			}}}},
			map[string]any{"checkpoint": map[string]any{
				"last_op_id":       "1",
				"write_checkpoint": nil,
				"buckets": []any{map[string]any{
					"bucket": "a", "checksum": int32(0), "priority": int32(3), "count": int32(1),
				}},
			}}},
		{"empty", []byte{5, 0, 0, 0, 0}, []any{D{}}, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, doc := range tt.docs {
				got, err := Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.bson) {
					t.Errorf("Marshal(%T) = %q\nwant      %q", doc, got, tt.bson)
				}
			}
			got, err := Decode(tt.bson)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode = %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestRoundTripAllTypes(t *testing.T) {
	tests := []struct {
		key     string
		in, out any // out: what DecodeD returns for in
	}{
		{"double", 3573495687.0, 3573495687.0},
		{"neg", -721471609.0, -721471609.0},
		{"string", "héllo \u2603", "héllo \u2603"},
		{"empty", "", ""},
		{"doc", D{{"inner", int32(1)}}, D{{"inner", int32(1)}}},
		{"array", A{"x", int32(2), nil, true}, []any{"x", int32(2), nil, true}},
		{"bin", Binary{Subtype: 4, Data: []byte{1, 2, 3}}, Binary{Subtype: 4, Data: []byte{1, 2, 3}}},
		{"bytes", []byte{}, Binary{Data: []byte{}}},
		{"true", true, true},
		{"false", false, false},
		{"null", nil, nil},
		{"i32", int32(math.MinInt32), int32(math.MinInt32)},
		{"i64max", int64(math.MaxInt64), int64(math.MaxInt64)},
		{"i64min", int64(math.MinInt64), int64(math.MinInt64)},
		{"u32", uint32(math.MaxUint32), int64(math.MaxUint32)},
		{"bigint", 1 << 40, int64(1 << 40)},
		{"strings", []string{"a", "b"}, []any{"a", "b"}},
		{"maps", []map[string]any{{"k": "v"}}, []any{D{{"k", "v"}}}},
	}
	var doc, want D
	for _, tt := range tests {
		doc = append(doc, E{tt.key, tt.in})
		want = append(want, E{tt.key, tt.out})
	}
	b, err := Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeD(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeD =\n%#v\nwant\n%#v", got, want)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if wantMap := asMaps(want); !reflect.DeepEqual(m, wantMap) {
		t.Errorf("Decode =\n%#v\nwant\n%#v", m, wantMap)
	}
}

// asMaps turns every D in v into the map[string]any that Decode returns for it.
func asMaps(v any) any {
	switch x := v.(type) {
	case D:
		m := make(map[string]any, len(x))
		for _, e := range x {
			m[e.Key] = asMaps(e.Value)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = asMaps(e)
		}
		return out
	}
	return v
}

func TestEncodeErrors(t *testing.T) {
	deep := D{}
	for range MaxDepth + 1 {
		deep = D{{"d", deep}}
	}
	tests := []struct {
		name string
		doc  any
	}{
		{"not a document", 42},
		{"unsupported value", D{{"c", make(chan int)}}},
		{"NUL in key", D{{"a\x00b", 1}}},
		{"too deep", deep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.doc)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Marshal err = %v, want ErrUnsupported", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := []byte{5, 0, 0, 0, 0}
	for range MaxDepth + 1 {
		deep, _ = Marshal(D{{"d", rawDoc(deep)}})
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty input", nil, ErrMalformed},
		{"short", []byte{5, 0, 0}, ErrMalformed},
		{"length below minimum", []byte{4, 0, 0, 0}, ErrMalformed},
		{"length mismatch", []byte{6, 0, 0, 0, 0}, ErrMalformed},
		{"trailing bytes", []byte{5, 0, 0, 0, 0, 0}, ErrMalformed},
		{"missing terminator", []byte{5, 0, 0, 0, 1}, ErrMalformed},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xff, 0}, ErrMalformed},
		{"unterminated key", []byte("\x08\x00\x00\x00\x0aab\x00"[:7]), ErrMalformed},
		{"truncated int32", []byte("\x0a\x00\x00\x00\x10a\x00\x01\x00\x00"), ErrMalformed},
		{"string length zero", []byte("\x0e\x00\x00\x00\x02a\x00\x00\x00\x00\x00\x00\x00\x00"), ErrMalformed},
		{"string length huge", []byte("\x0e\x00\x00\x00\x02a\x00\xff\xff\xff\x7f\x00\x00\x00"), ErrMalformed},
		{"string without NUL", []byte("\x0e\x00\x00\x00\x02a\x00\x02\x00\x00\x00xy\x00"), ErrMalformed},
		{"invalid utf8 string", []byte("\x0e\x00\x00\x00\x02a\x00\x02\x00\x00\x00\xff\x00\x00"), ErrMalformed},
		{"invalid utf8 key", []byte("\x0c\x00\x00\x00\x0a\xff\x00\x0a\x62\x00\x00\x00"[:9]), ErrMalformed},
		{"bad bool", []byte("\x09\x00\x00\x00\x08a\x00\x02\x00"), ErrMalformed},
		{"binary too long", []byte("\x0d\x00\x00\x00\x05a\x00\x09\x00\x00\x00\x00\x00"), ErrMalformed},
		{"binary negative", []byte("\x0d\x00\x00\x00\x05a\x00\xff\xff\xff\xff\x00\x00"), ErrMalformed},
		{"embedded doc overruns", []byte("\x0d\x00\x00\x00\x03a\x00\x09\x00\x00\x00\x00\x00"), ErrMalformed},
		{"embedded doc short", []byte("\x0d\x00\x00\x00\x03a\x00\x04\x00\x00\x00\x00\x00"), ErrMalformed},
		{"element past end", []byte("\x0c\x00\x00\x00\x03a\x00\x05\x00\x00\x00\x00\x00"[:11]), ErrMalformed},
		{"unsupported type", []byte("\x0c\x00\x00\x00\x07a\x00\x00\x00\x00\x00\x00"), ErrUnsupported},
		{"too deep", deep, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) err = %v, want %v", tt.in, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "bson: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if _, err := DecodeD(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("DecodeD err = %v, want %v", err, tt.want)
			}
		})
	}
}

// rawDoc is an already encoded document.
type rawDoc []byte

func (r rawDoc) AppendBSON(dst []byte) ([]byte, error) { return append(dst, r...), nil }

func TestReadDocument(t *testing.T) {
	stream := append(append(append([]byte{}, helloWorld...), tokenExpires...), checkpointLine...)
	r := bytes.NewReader(stream)
	var buf []byte
	var got [][]byte
	for {
		doc, err := ReadDocument(r, buf, 1<<20)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, bytes.Clone(doc))
		buf = doc
	}
	want := [][]byte{helloWorld, tokenExpires, checkpointLine}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("documents = %q, want %q", got, want)
	}

	tests := []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"cut in prefix", helloWorld[:2], 0, io.ErrUnexpectedEOF},
		{"cut in body", helloWorld[:10], 0, io.ErrUnexpectedEOF},
		{"too large", helloWorld, 10, ErrTooLarge},
		{"bad length", []byte{1, 0, 0, 0}, 0, ErrMalformed},
		{"huge claimed length", []byte{0xff, 0xff, 0xff, 0x7f, 1, 2}, 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadDocument(bytes.NewReader(tt.in), nil, tt.limit)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestMapEncodingIsSorted(t *testing.T) {
	a, err := Marshal(map[string]any{"b": 1, "a": 2, "c": map[string]any{"z": 1, "y": 2}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(D{{"a", 2}, {"b", 1}, {"c", D{{"y", 2}, {"z", 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("map encoding %q differs from sorted D %q", a, b)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range [][]byte{helloWorld, checkpointLine, tokenExpires, {5, 0, 0, 0, 0}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		d, errD := DecodeD(data)
		if (err == nil) != (errD == nil) {
			t.Fatalf("Decode err %v, DecodeD err %v", err, errD)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			return
		}
		if len(m) > len(d) {
			t.Fatalf("map has %d keys, ordered document %d elements", len(m), len(d))
		}
		// A decoded document re-encodes to a document that decodes the same.
		b, err := Marshal(d)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		d2, err := DecodeD(b)
		if err != nil {
			t.Fatalf("decode re-encoded: %v", err)
		}
		if !reflect.DeepEqual(normalize(d), normalize(d2)) {
			t.Fatalf("round trip changed the document:\n%#v\n%#v", d, d2)
		}
	})
}

// normalize maps NaN doubles to a comparable marker so DeepEqual works.
func normalize(v any) any {
	switch x := v.(type) {
	case D:
		out := make(D, len(x))
		for i, e := range x {
			out[i] = E{e.Key, normalize(e.Value)}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case float64:
		if math.IsNaN(x) {
			return "NaN"
		}
	}
	return v
}
