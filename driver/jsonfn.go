package driver

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gopowersync/powersync/internal/serdejson"
)

// This file holds the JSON helpers behind the SQL functions powersync_diff,
// powersync_json_merge and powersync_crud_entry. Their output must be
// byte-identical to the official core's, which serialises with serde_json:
// object keys in ascending byte order, no whitespace, integers verbatim,
// floats in shortest round-trip form, strings escaped minimally.

// jsonKind distinguishes the value kinds of JSON. Numbers keep the core's
// own kinds (serdejson.Number): an integer 1 differs from a float 1.0.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindBool
	kindNumber // integer or float, told apart by num.Kind
	kindString
	kindArray
	kindObject
)

// jsonValue is a parsed JSON value that keeps what serde_json keeps.
type jsonValue struct {
	kind jsonKind
	b    bool
	num  serdejson.Number
	s    string
	arr  []jsonValue
	obj  map[string]jsonValue
}

func (a jsonValue) equal(b jsonValue) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case kindNull:
		return true
	case kindBool:
		return a.b == b.b
	case kindNumber:
		return a.num.Equal(b.num)
	case kindString:
		return a.s == b.s
	case kindArray:
		return slices.EqualFunc(a.arr, b.arr, jsonValue.equal)
	case kindObject:
		if len(a.obj) != len(b.obj) {
			return false
		}
		for k, av := range a.obj {
			bv, ok := b.obj[k]
			if !ok || !av.equal(bv) {
				return false
			}
		}
		return true
	}
	return false
}

// powersyncDiff implements powersync_diff(old, new): the columns of new that
// differ from old, with null for columns that old had and new lacks.
//
// The top level of both objects is kept as a sorted slice rather than a map:
// the function runs for every row written through a view, and an insert's
// old side is always the empty object.
func powersyncDiff(oldText, newText string) (string, error) {
	var oldObj []member
	if oldText == "{}" {
		if out, ok := putData(newText); ok {
			return out, nil
		}
	} else {
		var err error
		if oldObj, err = parseMembers(oldText); err != nil {
			return "", err
		}
	}
	newObj, err := parseMembers(newText)
	if err != nil {
		return "", err
	}
	oldObj, newObj = dropNullMembers(oldObj), dropNullMembers(newObj)
	var buf bytes.Buffer
	buf.Grow(len(newText))
	buf.WriteByte('{')
	n := 0
	emit := func(k string, v jsonValue) {
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		writeString(&buf, k)
		buf.WriteByte(':')
		writeValue(&buf, v)
	}
	if len(oldObj) == 0 {
		for _, m := range newObj {
			emit(m.key, m.val)
		}
	} else {
		// Both sorted by key: walk them together.
		i, j := 0, 0
		for i < len(oldObj) || j < len(newObj) {
			switch {
			case j == len(newObj) || (i < len(oldObj) && oldObj[i].key < newObj[j].key):
				emit(oldObj[i].key, jsonValue{kind: kindNull}) // removed
				i++
			case i == len(oldObj) || newObj[j].key < oldObj[i].key:
				emit(newObj[j].key, newObj[j].val) // added
				j++
			default:
				if !oldObj[i].val.equal(newObj[j].val) {
					emit(newObj[j].key, newObj[j].val)
				}
				i++
				j++
			}
		}
	}
	buf.WriteByte('}')
	return buf.String(), nil
}

// member is one key of a JSON object.
type member struct {
	key string
	val jsonValue
}

// parseMembers parses a JSON object into its members sorted by key (byte
// order); of duplicate keys the last one counts, as in the core.
func parseMembers(text string) ([]member, error) {
	p := jsonParser{s: text}
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		if _, err := p.value(0); err != nil {
			return nil, err
		}
		return nil, errNotObject
	}
	out, err := p.members(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("trailing data")
	}
	slices.SortStableFunc(out, func(a, b member) int { return strings.Compare(a.key, b.key) })
	// Keep the last of equal keys.
	w := 0
	for r := range out {
		if r+1 < len(out) && out[r+1].key == out[r].key {
			continue
		}
		out[w] = out[r]
		w++
	}
	return out[:w], nil
}

func dropNullMembers(ms []member) []member {
	w := 0
	for _, m := range ms {
		if m.val.kind != kindNull {
			ms[w] = m
			w++
		}
	}
	return ms[:w]
}

func writeObject(buf *bytes.Buffer, m map[string]jsonValue) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // byte order, as serde_json's BTreeMap
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		writeString(buf, k)
		buf.WriteByte(':')
		writeValue(buf, m[k])
	}
	buf.WriteByte('}')
}

func writeValue(buf *bytes.Buffer, v jsonValue) {
	switch v.kind {
	case kindNull:
		buf.WriteString("null")
	case kindBool:
		buf.WriteString(strconv.FormatBool(v.b))
	case kindNumber:
		buf.Write(serdejson.AppendNumber(buf.AvailableBuffer(), v.num))
	case kindString:
		writeString(buf, v.s)
	case kindArray:
		buf.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeValue(buf, e)
		}
		buf.WriteByte(']')
	case kindObject:
		writeObject(buf, v.obj)
	}
}

// writeString escapes s as the core does (see serdejson.AppendString).
func writeString(buf *bytes.Buffer, s string) {
	buf.Write(serdejson.AppendString(buf.AvailableBuffer(), s))
}

// jsonMerge implements powersync_json_merge: the members of each object
// argument joined into one object, textually, without parsing.
func jsonMerge(args []string) (string, error) {
	var buf strings.Builder
	buf.WriteByte('{')
	for _, a := range args {
		if len(a) < 2 || a[0] != '{' || a[len(a)-1] != '}' {
			return "", errors.New("Expected json object")
		}
		inner := a[1 : len(a)-1]
		if inner != "" && buf.Len() > 1 { // an earlier argument wrote members
			buf.WriteByte(',')
		}
		buf.WriteString(inner)
	}
	buf.WriteByte('}')
	return buf.String(), nil
}

// crudEntry builds the ps_crud.data JSON exactly as the core's powersync_crud
// virtual table does: keys op, id, type, then data and old embedded verbatim
// when given, then metadata as a JSON string when given.
func crudEntry(op, id, typ string, data, old, metadata *string) string {
	var buf bytes.Buffer
	buf.Grow(32 + len(id) + len(typ) + lenOf(data) + lenOf(old) + lenOf(metadata))
	buf.WriteString(`{"op":`)
	writeString(&buf, op)
	buf.WriteString(`,"id":`)
	writeString(&buf, id)
	buf.WriteString(`,"type":`)
	writeString(&buf, typ)
	if data != nil {
		buf.WriteString(`,"data":`)
		buf.WriteString(*data)
	}
	if old != nil {
		buf.WriteString(`,"old":`)
		buf.WriteString(*old)
	}
	if metadata != nil {
		buf.WriteString(`,"metadata":`)
		writeString(&buf, *metadata)
	}
	buf.WriteByte('}')
	return buf.String()
}

func lenOf(s *string) int {
	if s == nil {
		return 0
	}
	return len(*s)
}

// putData returns powersyncDiff("{}", obj) for obj as SQLite's json_object
// writes it (no whitespace, scalar members), without building a tree: the
// members sorted by key, nulls dropped, floats rewritten as the core writes
// them, everything else copied. It reports false for anything else (nested
// values, escaped keys, duplicate keys, out-of-range numbers), which the
// caller hands to powersyncDiff.
func putData(obj string) (string, bool) {
	type span struct{ key, val string }
	var buf [16]span
	ms := buf[:0]
	s := obj
	if len(s) < 2 || s[0] != '{' {
		return "", false
	}
	i := 1
	for i < len(s) && s[i] != '}' {
		if len(ms) > 0 || i > 1 {
			if s[i] != ',' {
				return "", false
			}
			i++
		}
		// key: a string without escapes
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		k0 := i + 1
		j := k0
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' || s[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j+1 >= len(s) || s[j+1] != ':' {
			return "", false
		}
		key := s[k0:j]
		i = j + 2
		if i >= len(s) {
			return "", false
		}
		v0 := i
		switch c := s[i]; {
		case c == '"':
			j = i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					return "", false
				}
				j++
			}
			if j >= len(s) {
				return "", false
			}
			i = j + 1
		case c == 'n':
			if !strings.HasPrefix(s[i:], "null") {
				return "", false
			}
			i += 4
			continue // dropped, as powersyncDiff drops nulls
		case c == '-' || isDigit(c):
			j = i + 1
			for j < len(s) && (isDigit(s[j]) || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '+' || s[j] == '-') {
				j++
			}
			i = j
			// integers are copied; floats (and integers beyond u64 or
			// i64, which the core reads as floats) are rewritten
			if n := serdejson.ParseNumber(s[v0:j]); n.Kind == serdejson.Float {
				if math.IsInf(n.F, 0) || math.IsNaN(n.F) {
					return "", false
				}
				ms = append(ms, span{key, string(serdejson.AppendNumber(nil, n))})
				continue
			}
		default:
			return "", false
		}
		ms = append(ms, span{key, s[v0:i]})
	}
	if i != len(s)-1 {
		return "", false
	}
	// insertion sort by key (a handful of columns, mostly in order already)
	for a := 1; a < len(ms); a++ {
		for b := a; b > 0 && ms[b].key < ms[b-1].key; b-- {
			ms[b], ms[b-1] = ms[b-1], ms[b]
		}
	}
	n := 2
	for a, m := range ms {
		if a > 0 && m.key == ms[a-1].key {
			return "", false
		}
		n += len(m.key) + len(m.val) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for a, m := range ms {
		if a > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.key...)
		out = append(out, '"', ':')
		out = append(out, m.val...)
	}
	out = append(out, '}')
	return string(out), true
}
