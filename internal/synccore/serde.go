package synccore

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// appendSerde serialises a decoded JSON value (json.Number for numbers) the
// way serde_json does in the core: object keys sorted, no whitespace,
// integers as written, other numbers in Rust's shortest float form (1000.0,
// 2.5, 1e20), strings escaped minimally.
func appendSerde(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		return appendSerdeString(b, x)
	case json.Number:
		return appendSerdeNumber(b, string(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSerde(b, e)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSerdeString(b, k)
			b = append(b, ':')
			b = appendSerde(b, x[k])
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

func appendSerdeString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
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
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

func appendSerdeNumber(b []byte, n string) []byte {
	if !strings.ContainsAny(n, ".eE") {
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			return strconv.AppendInt(b, v, 10)
		}
		if v, err := strconv.ParseUint(n, 10, 64); err == nil {
			return strconv.AppendUint(b, v, 10)
		}
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return append(b, "null"...)
	}
	return appendRustFloat(b, f)
}

// appendRustFloat formats f like Rust's ryu (Display of f64 in serde_json).
func appendRustFloat(b []byte, f float64) []byte {
	if f == 0 {
		if 1/f < 0 {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	length := len(digits)
	k := exp - (length - 1) // value = digits * 10^k
	kk := length + k
	switch {
	case k >= 0 && kk <= 16:
		b = append(b, digits...)
		for range k {
			b = append(b, '0')
		}
		return append(b, '.', '0')
	case kk > 0 && kk <= 16:
		b = append(b, digits[:kk]...)
		b = append(b, '.')
		return append(b, digits[kk:]...)
	case kk > -5 && kk <= 0:
		b = append(b, '0', '.')
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
		return strconv.AppendInt(b, int64(kk-1), 10)
	}
}
