package driver

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file holds the JSON helpers behind the SQL functions powersync_diff,
// powersync_json_merge and powersync_crud_entry. Their output must be
// byte-identical to the official core's, which serialises with serde_json:
// object keys in ascending byte order, no whitespace, integers verbatim,
// floats in shortest round-trip form, strings escaped minimally.

// jsonKind distinguishes the value kinds that the core's structural
// comparison tells apart: an integer 1 differs from a float 1.0.
type jsonKind uint8

const (
	kindNull jsonKind = iota
	kindBool
	kindPosInt // fits in uint64, no sign
	kindNegInt // negative, fits in int64
	kindFloat
	kindString
	kindArray
	kindObject
)

// jsonValue is a parsed JSON value that keeps what serde_json keeps.
type jsonValue struct {
	kind jsonKind
	b    bool
	u    uint64
	i    int64
	f    float64
	s    string
	arr  []jsonValue
	obj  map[string]jsonValue
}

// classifyNumber parses a JSON number literal as the core's parser
// (serde_json without exact float parsing) does, because the result decides
// both equality and how the number is written back:
//   - a literal with no fraction, no exponent and no u64 overflow is an
//     integer (non-negative: u64; negative: i64 when it fits);
//   - anything else, "-0" included, is a float computed as digits × 10^exp
//     with one multiplication or division, which is not always the nearest
//     float to the literal.
func classifyNumber(text string) jsonValue {
	i, positive := 0, true
	if i < len(text) && text[i] == '-' {
		positive = false
		i++
	}
	const ovf, lastDigit = math.MaxUint64 / 10, math.MaxUint64 % 10
	overflows := func(sig, d uint64) bool { return sig >= ovf && (sig > ovf || d > lastDigit) }
	var sig uint64
	exp, long, isFloat := 0, false, false
	for ; i < len(text) && isDigit(text[i]); i++ {
		d := uint64(text[i] - '0')
		if long || overflows(sig, d) {
			long, isFloat = true, true
			exp++
			continue
		}
		sig = sig*10 + d
	}
	if i < len(text) && text[i] == '.' {
		isFloat = true
		for i++; i < len(text) && isDigit(text[i]); i++ {
			d := uint64(text[i] - '0')
			if long || overflows(sig, d) {
				long = true // further fraction digits are ignored
				continue
			}
			sig = sig*10 + d
			exp--
		}
	}
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		isFloat = true
		i++
		neg := false
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			neg = text[i] == '-'
			i++
		}
		e := 0
		for ; i < len(text) && isDigit(text[i]); i++ {
			if e < 1_000_000 {
				e = e*10 + int(text[i]-'0')
			}
		}
		if neg {
			exp -= e
		} else {
			exp += e
		}
	}
	if !isFloat {
		if positive {
			return jsonValue{kind: kindPosInt, u: sig}
		}
		if sig != 0 && sig <= 1<<63 {
			return jsonValue{kind: kindNegInt, i: int64(-sig)}
		}
	}
	f := float64(sig)
	for {
		if a := abs(exp); a < len(pow10) {
			if exp >= 0 {
				f *= pow10[a]
			} else {
				f /= pow10[a]
			}
			break
		}
		if f == 0 || exp > 0 {
			if exp > 0 && f != 0 {
				f = math.Inf(1)
			}
			break
		}
		f /= 1e308
		exp += 308
	}
	if !positive {
		f = -f
	}
	return jsonValue{kind: kindFloat, f: f}
}

// pow10 holds 1e0 … 1e308, the factors the core's parser scales by.
var pow10 = func() []float64 {
	p := make([]float64, 309)
	for i := range p {
		p[i], _ = strconv.ParseFloat("1e"+strconv.Itoa(i), 64)
	}
	return p
}()

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
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
	case kindPosInt:
		return a.u == b.u
	case kindNegInt:
		return a.i == b.i
	case kindFloat:
		return a.f == b.f
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
	if oldText != "{}" {
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
	case kindPosInt:
		buf.WriteString(strconv.FormatUint(v.u, 10))
	case kindNegInt:
		buf.WriteString(strconv.FormatInt(v.i, 10))
	case kindFloat:
		writeFloat(buf, v.f)
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

const hexDigits = "0123456789abcdef"

// writeString escapes as serde_json does: quote, backslash and control
// characters only; everything else, non-ASCII included, is written raw.
func writeString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf.WriteString(s[start:i])
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hexDigits[c>>4])
			buf.WriteByte(hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// writeFloat formats f as the core does: shortest round-trip digits, plain
// notation when the value is below 1e16 and at least 1e-5, scientific
// otherwise ("1e+20", "1.5e-7"), and ".0" on whole numbers.
func writeFloat(buf *bytes.Buffer, f float64) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		buf.WriteString("null") // serde_json writes non-finite floats as null
		return
	}
	if f == 0 {
		if math.Signbit(f) {
			buf.WriteString("-0.0")
		} else {
			buf.WriteString("0.0")
		}
		return
	}
	if f < 0 {
		buf.WriteByte('-')
		f = -f
	}
	// Shortest digits and exponent: d.ddddde±x
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	length := len(digits)
	k := exp - (length - 1) // value = digits * 10^k
	kk := length + k        // 10^(kk-1) <= value < 10^kk
	switch {
	case k >= 0 && kk <= 16:
		buf.WriteString(digits)
		for range k {
			buf.WriteByte('0')
		}
		buf.WriteString(".0")
	case kk > 0 && kk <= 16:
		buf.WriteString(digits[:kk])
		buf.WriteByte('.')
		buf.WriteString(digits[kk:])
	case kk > -5 && kk <= 0:
		buf.WriteString("0.")
		for range -kk {
			buf.WriteByte('0')
		}
		buf.WriteString(digits)
	default:
		buf.WriteString(digits[:1])
		if length > 1 {
			buf.WriteByte('.')
			buf.WriteString(digits[1:])
		}
		buf.WriteByte('e')
		if kk-1 > 0 {
			buf.WriteByte('+')
		}
		buf.WriteString(strconv.Itoa(kk - 1))
	}
}

// jsonMerge implements powersync_json_merge: the members of each object
// argument joined into one object, textually, without parsing.
func jsonMerge(args []string) (string, error) {
	var buf strings.Builder
	buf.WriteByte('{')
	for i, a := range args {
		if len(a) < 2 || a[0] != '{' || a[len(a)-1] != '}' {
			return "", errors.New("Expected json object")
		}
		inner := a[1 : len(a)-1]
		if i > 0 && inner != "" && buf.Len() > 1 {
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
