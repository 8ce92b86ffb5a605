package serdejson

import (
	"math"
	"strconv"
	"strings"
)

// Kind is the kind of a JSON number: the core tells an integer 1 from a
// float 1.0.
type Kind uint8

// The number kinds.
const (
	PosInt Kind = iota + 1 // a non-negative integer that fits in uint64
	NegInt                 // a negative integer that fits in int64
	Float                  // anything else
)

// Number is a parsed JSON number.
type Number struct {
	Kind Kind
	U    uint64  // for PosInt
	I    int64   // for NegInt
	F    float64 // for Float; ±Inf when the literal is out of range
}

// Equal reports whether two numbers are equal as the core compares them:
// the same kind and the same value.
func (n Number) Equal(m Number) bool {
	if n.Kind != m.Kind {
		return false
	}
	switch n.Kind {
	case PosInt:
		return n.U == m.U
	case NegInt:
		return n.I == m.I
	}
	return n.F == m.F
}

// ParseNumber parses a valid JSON number literal as the core's parser
// (serde_json without exact float parsing) does:
//   - a literal with no fraction, no exponent and no u64 overflow is an
//     integer (non-negative: u64; negative: i64 when it fits);
//   - anything else, "-0" included, is a float computed as digits × 10^exp
//     with one multiplication or division, which is not always the nearest
//     float to the literal.
func ParseNumber(text string) Number {
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
			return Number{Kind: PosInt, U: sig}
		}
		if sig != 0 && sig <= 1<<63 {
			return Number{Kind: NegInt, I: int64(-sig)}
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
	return Number{Kind: Float, F: f}
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

// AppendNumber appends n as the core writes it.
func AppendNumber(b []byte, n Number) []byte {
	switch n.Kind {
	case PosInt:
		return strconv.AppendUint(b, n.U, 10)
	case NegInt:
		return strconv.AppendInt(b, n.I, 10)
	}
	return AppendFloat(b, n.F)
}

// AppendFloat appends f as the core writes floats: shortest round-trip
// digits, plain notation when the value is below 1e16 and at least 1e-5,
// scientific otherwise ("1e+20", "1.5e-7"), ".0" on whole numbers, and null
// for values that are not finite.
func AppendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	if f < 0 {
		b = append(b, '-')
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
		b = append(b, digits...)
		for range k {
			b = append(b, '0')
		}
		return append(b, ".0"...)
	case kk > 0 && kk <= 16:
		b = append(b, digits[:kk]...)
		b = append(b, '.')
		return append(b, digits[kk:]...)
	case kk > -5 && kk <= 0:
		b = append(b, "0."...)
		for range -kk {
			b = append(b, '0')
		}
		return append(b, digits...)
	default:
		b = append(b, digits[0])
		if length > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if kk-1 > 0 {
			b = append(b, '+')
		}
		return strconv.AppendInt(b, int64(kk-1), 10)
	}
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string escaped as the core escapes it:
// quote, backslash and control characters only; everything else, non-ASCII
// included, is written raw.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
