package bson

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Element type bytes.
const (
	typeDouble    = 0x01
	typeString    = 0x02
	typeDocument  = 0x03
	typeArray     = 0x04
	typeBinary    = 0x05
	typeUndefined = 0x06
	typeBool      = 0x08
	typeNull      = 0x0A
	typeInt32     = 0x10
	typeInt64     = 0x12
)

// MaxDepth is the deepest nesting of documents and arrays that Decode accepts
// and Marshal writes (the top-level document is depth 1). It bounds the
// recursion of this package's tree decoder, which the tests and pstest use.
// The client does not decode sync lines with it: internal/synccore reads
// them in place and skips values it does not read at any depth without
// recursion, as the official core's BSON deserializer, which has no depth
// limit, skips them.
const MaxDepth = 64

// MinDocumentSize is the size of the smallest valid document, the empty one.
const MinDocumentSize = 5

// ErrMalformed is wrapped by every error about input that is not valid BSON.
var ErrMalformed = errors.New("malformed BSON")

// ErrUnsupported is wrapped by errors about values this package cannot
// encode or element types it cannot decode.
var ErrUnsupported = errors.New("unsupported BSON type")

// ErrTooLarge is wrapped by errors about documents longer than a reader's
// limit, or too long for BSON's int32 length prefix when encoding.
var ErrTooLarge = errors.New("BSON document too large")

// E is one element of an ordered document.
type E struct {
	Key   string
	Value any
}

// D is an ordered document: its elements are encoded in slice order.
type D []E

// A is an array value.
type A []any

// Binary is a BSON binary value with its subtype.
type Binary struct {
	Subtype byte
	Data    []byte
}

// Marshaler is implemented by types that append themselves as a complete BSON
// document (length prefix included) to dst.
type Marshaler interface {
	AppendBSON(dst []byte) ([]byte, error)
}

// Marshal encodes doc (a D, map[string]any or Marshaler) as one BSON document.
func Marshal(doc any) ([]byte, error) {
	return AppendDocument(nil, doc)
}

// AppendDocument appends the BSON encoding of doc (a D, map[string]any or
// Marshaler) to dst.
func AppendDocument(dst []byte, doc any) ([]byte, error) {
	out, err := appendDoc(dst, doc, 1)
	if err != nil {
		return dst, fmt.Errorf("bson: encode: %w", err)
	}
	return out, nil
}

func appendDoc(dst []byte, doc any, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return dst, fmt.Errorf("nesting deeper than %d levels: %w", MaxDepth, ErrUnsupported)
	}
	switch d := doc.(type) {
	case D:
		start := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		var err error
		for _, e := range d {
			if dst, err = appendElem(dst, e.Key, e.Value, depth); err != nil {
				return dst, err
			}
		}
		return finish(dst, start)
	case map[string]any:
		keys := slices.Sorted(maps.Keys(d))
		ordered := make(D, len(keys))
		for i, k := range keys {
			ordered[i] = E{k, d[k]}
		}
		return appendDoc(dst, ordered, depth)
	case Marshaler:
		return d.AppendBSON(dst)
	default:
		return dst, fmt.Errorf("document of type %T: %w", doc, ErrUnsupported)
	}
}

// appendArray appends the array element key: x, a document whose keys are
// the indexes "0", "1", ...
func appendArray[T any](dst []byte, key string, x []T, depth int) ([]byte, error) {
	dst, err := appendKey(dst, typeArray, key)
	if err != nil {
		return dst, err
	}
	doc := make(D, len(x))
	for i, v := range x {
		doc[i] = E{strconv.Itoa(i), v}
	}
	return appendDoc(dst, doc, depth+1)
}

func finish(dst []byte, start int) ([]byte, error) {
	dst = append(dst, 0)
	n := len(dst) - start
	if n > math.MaxInt32 {
		return dst, fmt.Errorf("document of %d bytes: %w", n, ErrTooLarge)
	}
	binary.LittleEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

func appendKey(dst []byte, t byte, key string) ([]byte, error) {
	if strings.IndexByte(key, 0) >= 0 {
		return dst, fmt.Errorf("key %q contains a NUL byte: %w", key, ErrUnsupported)
	}
	dst = append(dst, t)
	dst = append(dst, key...)
	return append(dst, 0), nil
}

func appendElem(dst []byte, key string, v any, depth int) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return appendKey(dst, typeNull, key)
	case string:
		if dst, err = appendKey(dst, typeString, key); err != nil {
			return dst, err
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(x)+1))
		dst = append(dst, x...)
		return append(dst, 0), nil
	case bool:
		if dst, err = appendKey(dst, typeBool, key); err != nil {
			return dst, err
		}
		if x {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case int32:
		if dst, err = appendKey(dst, typeInt32, key); err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint32(dst, uint32(x)), nil
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return appendElem(dst, key, int32(x), depth)
		}
		return appendElem(dst, key, int64(x), depth)
	case uint32:
		return appendElem(dst, key, int64(x), depth)
	case int64:
		if dst, err = appendKey(dst, typeInt64, key); err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(x)), nil
	case float64:
		if dst, err = appendKey(dst, typeDouble, key); err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)), nil
	case Binary:
		if dst, err = appendKey(dst, typeBinary, key); err != nil {
			return dst, err
		}
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(x.Data)))
		dst = append(dst, x.Subtype)
		return append(dst, x.Data...), nil
	case []byte:
		return appendElem(dst, key, Binary{Data: x}, depth)
	case D, map[string]any, Marshaler:
		if dst, err = appendKey(dst, typeDocument, key); err != nil {
			return dst, err
		}
		return appendDoc(dst, x, depth+1)
	case A:
		return appendElem(dst, key, []any(x), depth)
	case []any:
		return appendArray(dst, key, x, depth)
	case []string:
		return appendArray(dst, key, x, depth)
	case []D:
		return appendArray(dst, key, x, depth)
	case []map[string]any:
		return appendArray(dst, key, x, depth)
	default:
		return dst, fmt.Errorf("value of type %T for key %q: %w", v, key, ErrUnsupported)
	}
}

// Decode decodes data, which must be exactly one BSON document, into a map.
// Nested documents are maps too.
func Decode(data []byte) (map[string]any, error) {
	d := decoder{data: data, maps: true}
	v, err := d.top()
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// DecodeD decodes data, which must be exactly one BSON document, keeping the
// order of elements. Nested documents are D values too.
func DecodeD(data []byte) (D, error) {
	d := decoder{data: data}
	v, err := d.top()
	if err != nil {
		return nil, err
	}
	return v.(D), nil
}

// DocumentSize returns the total length of the document whose length prefix is
// the first four bytes of prefix, or an error wrapping ErrMalformed if prefix is
// shorter than four bytes or the length is below MinDocumentSize.
func DocumentSize(prefix []byte) (int, error) {
	if len(prefix) < 4 {
		return 0, fmt.Errorf("bson: %d bytes are not a length prefix: %w", len(prefix), ErrMalformed)
	}
	n := int32(binary.LittleEndian.Uint32(prefix))
	if n < MinDocumentSize {
		return 0, fmt.Errorf("bson: document length %d is below %d: %w", n, MinDocumentSize, ErrMalformed)
	}
	return int(n), nil
}

// ReadDocument reads the next complete document from r into buf (reusing its
// capacity) and returns it. It returns io.EOF when r ends cleanly between
// documents, io.ErrUnexpectedEOF when r ends inside one, and an error wrapping
// ErrTooLarge when the document is longer than limit bytes (limit <= 0 means no
// limit beyond the int32 length itself).
func ReadDocument(r io.Reader, buf []byte, limit int) ([]byte, error) {
	buf = slices.Grow(buf[:0], 4)[:4]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n, err := DocumentSize(buf)
	if err != nil {
		return nil, err
	}
	if limit > 0 && n > limit {
		return nil, fmt.Errorf("bson: document of %d bytes exceeds the limit of %d: %w", n, limit, ErrTooLarge)
	}
	// Grow in steps so a hostile length prefix cannot allocate more than
	// twice what the reader actually delivers.
	for len(buf) < n {
		step := min(n-len(buf), max(len(buf), 64<<10))
		start := len(buf)
		buf = slices.Grow(buf, step)[:start+step]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

type decoder struct {
	data []byte
	maps bool // decode documents as map[string]any instead of D
}

func (d *decoder) errf(off int, format string, args ...any) error {
	return fmt.Errorf("bson: decode at offset %d: %s: %w", off, fmt.Sprintf(format, args...), ErrMalformed)
}

func (d *decoder) top() (any, error) {
	n, err := DocumentSize(d.data)
	if err != nil {
		return nil, err
	}
	if n != len(d.data) {
		return nil, d.errf(0, "document length %d does not match the %d bytes given", n, len(d.data))
	}
	v, _, err := d.document(0, len(d.data), 1, false)
	return v, err
}

// document decodes the document (or array) at off, which must end at or
// before limit, and returns it with the offset just past it.
func (d *decoder) document(off, limit, depth int, array bool) (any, int, error) {
	if depth > MaxDepth {
		return nil, 0, d.errf(off, "nesting deeper than %d levels", MaxDepth)
	}
	if limit-off < MinDocumentSize {
		return nil, 0, d.errf(off, "truncated document")
	}
	size := int(int32(binary.LittleEndian.Uint32(d.data[off:])))
	if size < MinDocumentSize || size > limit-off {
		return nil, 0, d.errf(off, "document length %d out of range", size)
	}
	end := off + size
	if d.data[end-1] != 0 {
		return nil, 0, d.errf(end-1, "document does not end with a NUL byte")
	}
	var (
		arr []any
		m   map[string]any
		ord D
	)
	switch {
	case array:
		arr = []any{}
	case d.maps:
		m = map[string]any{}
	default:
		ord = D{}
	}
	pos := off + 4
	for pos < end-1 {
		t := d.data[pos]
		key, next, err := d.cstring(pos+1, end-1)
		if err != nil {
			return nil, 0, err
		}
		v, after, err := d.value(t, next, end-1, depth)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case array:
			arr = append(arr, v)
		case d.maps:
			m[key] = v
		default:
			ord = append(ord, E{Key: key, Value: v})
		}
		pos = after
	}
	if pos != end-1 {
		return nil, 0, d.errf(pos, "element runs past the end of its document")
	}
	switch {
	case array:
		return arr, end, nil
	case d.maps:
		return m, end, nil
	default:
		return ord, end, nil
	}
}

// cstring reads a NUL-terminated UTF-8 string starting at off that must end
// before limit.
func (d *decoder) cstring(off, limit int) (string, int, error) {
	if off > limit {
		return "", 0, d.errf(off, "truncated element name")
	}
	i := bytes.IndexByte(d.data[off:limit], 0)
	if i < 0 {
		return "", 0, d.errf(off, "unterminated element name")
	}
	b := d.data[off : off+i]
	if !utf8.Valid(b) {
		return "", 0, d.errf(off, "element name is not valid UTF-8")
	}
	return string(b), off + i + 1, nil
}

// value decodes one value of type t at off; the value must end at or before limit.
func (d *decoder) value(t byte, off, limit, depth int) (any, int, error) {
	need := func(n int) error {
		if n < 0 || n > limit-off {
			return d.errf(off, "truncated value of type 0x%02x", t)
		}
		return nil
	}
	switch t {
	case typeDouble:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(d.data[off:])), off + 8, nil
	case typeString:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(d.data[off:])))
		if n < 1 {
			return nil, 0, d.errf(off, "string length %d out of range", n)
		}
		if err := need(4 + n); err != nil {
			return nil, 0, err
		}
		b := d.data[off+4 : off+4+n]
		if b[n-1] != 0 {
			return nil, 0, d.errf(off+4+n-1, "string does not end with a NUL byte")
		}
		if !utf8.Valid(b[:n-1]) {
			return nil, 0, d.errf(off+4, "string is not valid UTF-8")
		}
		return string(b[:n-1]), off + 4 + n, nil
	case typeDocument, typeArray:
		return d.document(off, limit, depth+1, t == typeArray)
	case typeBinary:
		if err := need(5); err != nil {
			return nil, 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(d.data[off:])))
		if n < 0 {
			return nil, 0, d.errf(off, "binary length %d out of range", n)
		}
		if err := need(5 + n); err != nil {
			return nil, 0, err
		}
		sub := d.data[off+4]
		return Binary{Subtype: sub, Data: slices.Clone(d.data[off+5 : off+5+n])}, off + 5 + n, nil
	case typeUndefined, typeNull:
		return nil, off, nil
	case typeBool:
		if err := need(1); err != nil {
			return nil, 0, err
		}
		switch d.data[off] {
		case 0:
			return false, off + 1, nil
		case 1:
			return true, off + 1, nil
		default:
			return nil, 0, d.errf(off, "boolean byte 0x%02x", d.data[off])
		}
	case typeInt32:
		if err := need(4); err != nil {
			return nil, 0, err
		}
		return int32(binary.LittleEndian.Uint32(d.data[off:])), off + 4, nil
	case typeInt64:
		if err := need(8); err != nil {
			return nil, 0, err
		}
		return int64(binary.LittleEndian.Uint64(d.data[off:])), off + 8, nil
	default:
		return nil, 0, fmt.Errorf("bson: decode at offset %d: element type 0x%02x: %w", off, t, ErrUnsupported)
	}
}
