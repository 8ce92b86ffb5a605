package synccore

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small strict JSON reader over one sync line. It decodes
// directly into the line structs without building an intermediate tree, so
// the large data lines of an initial sync cost few allocations.
type scanner struct {
	b     []byte
	i     int
	tmp   []byte // scratch for unescaping keys
	arena []byte // unescaped strings that are kept (see rawString)

	lastType string // the previous op's object_type, shared by the next op with the same bytes
}

// strSpecial marks the bytes that end a run of plain string content: the
// closing quote, a backslash and control characters.
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// plainRun returns the index of the first byte at or after i that ends a
// run of plain string content, or len(s.b).
func (s *scanner) plainRun(i int) int {
	b := s.b
	for i < len(b) && !strSpecial[b[i]] {
		i++
	}
	return i
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), s.i)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		if s.i >= len(s.b) {
			return s.errf("unexpected end of input, expected %q", c)
		}
		return s.errf("expected %q", c)
	}
	s.i++
	return nil
}

// end checks that only whitespace follows.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.errf("trailing characters")
	}
	return nil
}

// object reads an object, calling fn for each key; fn must consume the value.
func (s *scanner) object(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.errf("expected object key")
		}
		key, err := s.rawString(true)
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("expected ',' or '}'")
		}
	}
}

// array reads an array, calling fn for each element.
func (s *scanner) array(fn func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("expected ',' or ']'")
		}
	}
}

// null consumes a JSON null if one is next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// arenaChunk is the size of the scanner's arena allocations for unescaped
// strings smaller than it (see rawString).
const arenaChunk = 32 << 10

// rawString reads a string and returns its unescaped bytes. Without escapes
// the result aliases the input. With scratch set the result may alias s.tmp
// (valid until the next call with scratch); without, an unescaped string
// is appended to s.arena, allocated arenaChunk bytes at a time (or the
// string's escaped length, when larger; never more than the rest of the
// line), so the many escaped PUT data strings of a data line share a few
// allocations instead of one each, and a string costs at most its own size
// plus one chunk.
//
// Bytes that are not UTF-8 are kept as they are, with or without escapes
// elsewhere in the string, as the official core keeps them: it stores such a
// string's bytes unchanged (an escape must still be well-formed, and a \u
// escape must not be a lone surrogate).
func (s *scanner) rawString(scratch bool) ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errf("expected a string")
	}
	s.i++
	start := s.i
	s.i = s.plainRun(s.i)
	if s.i >= len(s.b) {
		return nil, s.errf("unterminated string")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		out := s.b[start:s.i]
		s.i++
		return out, nil
	case c == '\\':
		// The unescaped text is never longer than the escaped one, so
		// room for the escaped length holds it: a large string costs its
		// size once, not the sum of append's growth.
		n := s.escapedEnd() - start
		if scratch {
			out, err := s.unescape(append(slices.Grow(s.tmp[:0], n), s.b[start:s.i]...))
			if err == nil {
				s.tmp = out[:0]
			}
			return out, err
		}
		if cap(s.arena)-len(s.arena) < n {
			s.arena = make([]byte, 0, max(n, min(arenaChunk, len(s.b)-start)))
		}
		at := len(s.arena)
		out, err := s.unescape(append(s.arena, s.b[start:s.i]...))
		if err != nil {
			return nil, err
		}
		s.arena = out
		return out[at:len(out):len(out)], nil
	}
	return nil, s.errf("control character in string")
}

// escapedEnd returns the index of the closing quote of the string being
// read from s.i on (or len(s.b) if there is none), without moving s.i.
func (s *scanner) escapedEnd() int {
	for i := s.i; i < len(s.b); i++ {
		switch s.b[i] {
		case '"':
			return i
		case '\\':
			i++
		}
	}
	return len(s.b)
}

func (s *scanner) unescape(buf []byte) ([]byte, error) {
	for s.i < len(s.b) {
		if j := s.plainRun(s.i); j > s.i {
			buf = append(buf, s.b[s.i:j]...)
			s.i = j
			if j >= len(s.b) {
				break
			}
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return buf, nil
		case c < 0x20:
			return nil, s.errf("control character in string")
		}
		s.i++
		if s.i >= len(s.b) {
			break
		}
		e := s.b[s.i]
		s.i++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.errf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if r >= 0xdc00 || len(s.b)-s.i < 2 || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return nil, s.errf("lone surrogate in \\u escape")
				}
				s.i += 2
				r2, ok := s.hex4()
				if !ok {
					return nil, s.errf("invalid \\u escape")
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return nil, s.errf("invalid surrogate pair")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return nil, s.errf("invalid escape")
		}
	}
	return nil, s.errf("unterminated string")
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return r, true
}

// str reads a string value into a new Go string.
func (s *scanner) str() (string, error) {
	b, err := s.rawString(false)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// optStr reads a string or null.
func (s *scanner) optStr() (string, bool, error) {
	if s.null() {
		return "", false, nil
	}
	v, err := s.str()
	return v, err == nil, err
}

// numberToken reads a JSON number and returns its text.
func (s *scanner) numberToken() ([]byte, bool, error) {
	s.ws()
	start := s.i
	isFloat := false
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	intStart := s.i
	if n := digits(); n == 0 {
		s.i = start
		return nil, false, s.errf("expected a number")
	} else if n > 1 && s.b[intStart] == '0' {
		return nil, false, s.errf("invalid number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		isFloat = true
		s.i++
		if digits() == 0 {
			return nil, false, s.errf("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		isFloat = true
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, false, s.errf("invalid number")
		}
	}
	return s.b[start:s.i], isFloat, nil
}

// integer reads a JSON integer (no fraction or exponent).
func (s *scanner) integer() (int64, error) {
	tok, isFloat, err := s.numberToken()
	if err != nil {
		return 0, err
	}
	if isFloat {
		return 0, s.errf("expected an integer, got %s", tok)
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		return 0, s.errf("integer out of range: %s", tok)
	}
	return v, nil
}

// checksum reads an op or bucket checksum: an integral number in
// [-2^31, 2^32-1], possibly written as a float, normalised to uint32.
func (s *scanner) checksum() (uint32, error) {
	tok, isFloat, err := s.numberToken()
	if err != nil {
		return 0, err
	}
	var v int64
	if isFloat {
		f, err := strconv.ParseFloat(string(tok), 64)
		if err != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxUint32 {
			return 0, s.errf("invalid checksum %s", tok)
		}
		v = int64(f)
	} else {
		v, err = strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return 0, s.errf("invalid checksum %s", tok)
		}
	}
	if v < math.MinInt32 || v > math.MaxUint32 {
		return 0, s.errf("checksum out of range: %s", tok)
	}
	return uint32(v), nil
}

// opID reads an op id, which must be a JSON string holding a decimal int64.
func (s *scanner) opID() (int64, error) {
	if s.peek() != '"' {
		return 0, s.errf("invalid type: expected a string")
	}
	b, err := s.rawString(true)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, s.errf("invalid op id %q", b)
	}
	return v, nil
}

func (s *scanner) boolean() (bool, error) {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, nil
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, nil
	}
	return false, s.errf("expected a boolean")
}

// skip consumes any JSON value, checking its syntax (see skipString).
//
// Nesting is tracked on an explicit stack (one bit per level) rather than
// by recursion: the official core skips unknown values of any depth (a
// 10 MB line nested 5 million levels deep is an "Unknown sync line" to it),
// and a recursive skip would overflow the goroutine stack on such a line,
// which kills the process. The stack costs at most one byte per eight input
// bytes.
func (s *scanner) skip() error {
	_, err := s.skipValue(0)
	return err
}

// skipValue is skip with a nesting limit: with maxDepth > 0, a value nested
// deeper than maxDepth levels (the outermost array or object is level 1)
// is an error naming the limit. It returns the deepest level reached.
func (s *scanner) skipValue(maxDepth int) (int, error) {
	var stack []uint64 // bit set: that level is an object
	depth, deepest := 0, 0
	isObject := func() bool { return stack[(depth-1)/64]&(1<<((depth-1)%64)) != 0 }
	for {
		// A value is expected.
		switch c := s.peek(); {
		case c == '{' || c == '[':
			if depth == maxDepth && maxDepth > 0 {
				return deepest, s.errf("JSON nested deeper than %d levels", maxDepth)
			}
			s.i++
			depth++
			deepest = max(deepest, depth)
			if (depth-1)/64 == len(stack) {
				stack = append(stack, 0)
			}
			word, bit := &stack[(depth-1)/64], uint64(1)<<((depth-1)%64)
			if c == '{' {
				*word |= bit
				if s.peek() == '}' {
					s.i++
					depth--
					break
				}
				if err := s.objectKey(); err != nil {
					return deepest, err
				}
				continue
			}
			*word &^= bit
			if s.peek() == ']' {
				s.i++
				depth--
				break
			}
			continue
		case c == '"':
			if err := s.skipString(); err != nil {
				return deepest, err
			}
		case c == 't' || c == 'f':
			if _, err := s.boolean(); err != nil {
				return deepest, err
			}
		case c == 'n' && s.null():
		case c == '-' || (c >= '0' && c <= '9'):
			if _, _, err := s.numberToken(); err != nil {
				return deepest, err
			}
		default:
			if s.i >= len(s.b) {
				return deepest, s.errf("unexpected end of input")
			}
			return deepest, s.errf("expected value")
		}
		// A value ended: close containers until one has another element.
		for {
			if depth == 0 {
				return deepest, nil
			}
			c := s.peek()
			if c == ',' {
				s.i++
				if isObject() {
					if err := s.objectKey(); err != nil {
						return deepest, err
					}
				}
				break
			}
			if isObject() {
				if c != '}' {
					return deepest, s.errf("expected ',' or '}'")
				}
			} else if c != ']' {
				return deepest, s.errf("expected ',' or ']'")
			}
			s.i++
			depth--
		}
	}
}

// objectKey reads an object key and the colon after it.
func (s *scanner) objectKey() error {
	if s.peek() != '"' {
		return s.errf("expected object key")
	}
	if err := s.skipString(); err != nil {
		return err
	}
	return s.expect(':')
}

// skipString consumes a string without decoding it. Like the core's parser
// when it ignores a value, it checks the syntax only: escapes must be
// well-formed, but a \u escape may be a lone surrogate.
func (s *scanner) skipString() error {
	s.i++ // the opening quote
	for s.i < len(s.b) {
		s.i = s.plainRun(s.i)
		if s.i >= len(s.b) {
			break
		}
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return nil
		case c < 0x20:
			return s.errf("control character in string")
		case c == '\\':
			s.i++
			if s.i >= len(s.b) {
				return s.errf("unterminated string")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				s.i++
				if _, ok := s.hex4(); !ok {
					return s.errf("invalid \\u escape")
				}
			default:
				return s.errf("invalid escape")
			}
		default:
			s.i++
		}
	}
	return s.errf("unterminated string")
}
