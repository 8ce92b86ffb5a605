package driver

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gopowersync/powersync/internal/serdejson"
)

var errNotObject = errors.New("expected two JSON objects")

// maxJSONDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxJSONDepth = 128

// jsonParser is a small recursive-descent JSON parser that keeps what the
// core's comparison needs (number kinds) without reflection.
type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) peek(c byte) bool {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonParser) value(depth int) (jsonValue, error) {
	if depth > maxJSONDepth {
		return jsonValue{}, p.errorf("nested too deeply")
	}
	p.skipSpace()
	if p.i >= len(p.s) {
		return jsonValue{}, p.errorf("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		str, err := p.str()
		return jsonValue{kind: kindString, s: str}, err
	case c == 't' && strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return jsonValue{kind: kindBool, b: true}, nil
	case c == 'f' && strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return jsonValue{kind: kindBool}, nil
	case c == 'n' && strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return jsonValue{kind: kindNull}, nil
	case c == '-' || isDigit(c):
		return p.number()
	}
	return jsonValue{}, p.errorf("unexpected character %q", p.s[p.i])
}

func (p *jsonParser) object(depth int) (jsonValue, error) {
	ms, err := p.members(depth)
	if err != nil {
		return jsonValue{}, err
	}
	obj := make(map[string]jsonValue, len(ms))
	for _, m := range ms {
		obj[m.key] = m.val
	}
	return jsonValue{kind: kindObject, obj: obj}, nil
}

// members parses an object starting at its opening brace into its members
// in the order written, duplicate keys included.
func (p *jsonParser) members(depth int) ([]member, error) {
	p.i++ // {
	var out []member
	if p.peek('}') {
		return out, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.errorf("expected a key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if !p.peek(':') {
			return nil, p.errorf("expected ':'")
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, member{k, v})
		if p.peek(',') {
			continue
		}
		if p.peek('}') {
			return out, nil
		}
		return nil, p.errorf("expected ',' or '}'")
	}
}

func (p *jsonParser) array(depth int) (jsonValue, error) {
	p.i++ // [
	var arr []jsonValue
	if p.peek(']') {
		return jsonValue{kind: kindArray, arr: arr}, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return jsonValue{}, err
		}
		arr = append(arr, v)
		if p.peek(',') {
			continue
		}
		if p.peek(']') {
			return jsonValue{kind: kindArray, arr: arr}, nil
		}
		return jsonValue{}, p.errorf("expected ',' or ']'")
	}
}

func (p *jsonParser) number() (jsonValue, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	if !p.digits() {
		return jsonValue{}, p.errorf("invalid number")
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if !p.digits() {
			return jsonValue{}, p.errorf("invalid number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return jsonValue{}, p.errorf("invalid number")
		}
	}
	n := serdejson.ParseNumber(p.s[start:p.i]) // the core's number kinds and values
	if n.Kind == serdejson.Float && math.IsInf(n.F, 0) {
		// A REAL column holding ±Inf: SQLite's JSON writes it as 9.0e+999.
		return jsonValue{}, p.errorf("number %s out of range: ±Inf cannot be stored in a PowerSync table (its rows are JSON, which has no infinity)", p.s[start:p.i])
	}
	return jsonValue{kind: kindNumber, num: n}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

// str parses a string literal starting at its opening quote.
func (p *jsonParser) str() (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			out := p.s[start:p.i]
			p.i++
			return out, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", p.errorf("control character in string")
		}
		p.i++
	}
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) strEscaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", p.errorf("unterminated escape")
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if !strings.HasPrefix(p.s[p.i:], `\u`) {
					return "", p.errorf("lone surrogate")
				}
				p.i += 2
				r2, ok := p.hex4()
				if !ok {
					return "", p.errorf("invalid \\u escape")
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", p.errorf("invalid surrogate pair")
				}
			}
			b.WriteRune(r)
		default:
			return "", p.errorf("invalid escape")
		}
	}
	return "", p.errorf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
