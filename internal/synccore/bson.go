package synccore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/gopowersync/powersync/internal/pserr"
)

// BSON element types a sync line may hold.
const (
	bsonDouble    = 0x01
	bsonString    = 0x02
	bsonDocument  = 0x03
	bsonArray     = 0x04
	bsonBinary    = 0x05
	bsonUndefined = 0x06
	bsonBool      = 0x08
	bsonNull      = 0x0A
	bsonInt32     = 0x10
	bsonInt64     = 0x12
)

// parseBinaryLine decodes one BSON sync line straight into the line structs,
// with the same rules as parseTextLine, so a BSON line and the NDJSON line
// with the same content decode alike. BSON is read as the service writes it:
//
//   - Numbers may be int32, int64 or double (the JS serializer writes a
//     double where an integer does not fit in int32): an integral double is
//     an integer, any other double where an integer is expected is an error.
//   - null and undefined are both JSON's null.
//   - A PUT's data is a string holding JSON text, as in a text line; it is
//     used in place (it aliases doc) and checked like a text line's.
//
// Values the engine does not read (unknown lines and keys) are checked and
// skipped whatever their depth, as the core's deserializer skips them:
// the nesting is kept on a slice of document ends, not on the goroutine
// stack, so no input can overflow the stack. The slice costs at most 4
// bytes per 7 input bytes (the smallest nested document with its element
// header). Everything else a decode allocates is the line structs.
//
// Strings and element names must be UTF-8, as in the core. Binary values,
// NaN and infinite doubles are allowed where the engine does not read them,
// as the core allows them; where it does, they are the wrong type. A
// boolean byte other than 0 is true, as in the core.
func parseBinaryLine(doc []byte) (syncLine, error) {
	r := &bsonReader{b: doc}
	line, err := r.line()
	if err != nil {
		return syncLine{}, pserr.Errorf("%w: invalid binary line: %w", ErrProtocol, err)
	}
	return line, nil
}

// bsonReader reads one BSON document. Offsets are into b; every read is
// bounded by the end of the enclosing document (the index of its
// terminating NUL byte), which is never past len(b).
type bsonReader struct {
	b        []byte
	lastType string // the previous op's object_type, shared by the next op with the same bytes
}

func (r *bsonReader) errf(off int, format string, args ...any) error {
	return fmt.Errorf("%s at offset %d", fmt.Sprintf(format, args...), off)
}

// open checks the header of the document (or array) at off, which must fit
// before limit, and returns the offset of its first element and of its
// terminating NUL byte.
func (r *bsonReader) open(off, limit int) (pos, end int, err error) {
	if limit-off < 5 {
		return 0, 0, r.errf(off, "truncated document")
	}
	size := int(int32(binary.LittleEndian.Uint32(r.b[off:])))
	if size < 5 || size > limit-off {
		return 0, 0, r.errf(off, "document length %d out of range", size)
	}
	end = off + size - 1
	if r.b[end] != 0 {
		return 0, 0, r.errf(end, "document does not end with a NUL byte")
	}
	return off + 4, end, nil
}

// elem reads the type and name of the element at pos, which must be before
// end (the document's NUL byte), and returns the offset of its value.
func (r *bsonReader) elem(pos, end int) (t byte, key []byte, val int, err error) {
	t = r.b[pos]
	i := bytes.IndexByte(r.b[pos+1:end], 0)
	if i < 0 {
		return 0, nil, 0, r.errf(pos+1, "unterminated element name")
	}
	key = r.b[pos+1 : pos+1+i]
	if !validUTF8(key) {
		return 0, nil, 0, r.errf(pos+1, "element name is not valid UTF-8")
	}
	return t, key, pos + 2 + i, nil
}

// document calls fn for each element of the value of type t at off, which
// must be of type want (a document or an array), bounded by limit; fn reads the value at val, bounded by end, and
// returns the offset after it. document returns the offset after the
// document.
func (r *bsonReader) document(t, want byte, off, limit int, fn func(t byte, key []byte, val, end int) (int, error)) (int, error) {
	if t != want {
		return 0, r.typeErr(off, t, bsonTypeName(want))
	}
	pos, end, err := r.open(off, limit)
	if err != nil {
		return 0, err
	}
	for pos < end {
		t, key, val, err := r.elem(pos, end)
		if err != nil {
			return 0, err
		}
		if pos, err = fn(t, key, val, end); err != nil {
			return 0, err
		}
	}
	return end + 1, nil
}

func (r *bsonReader) object(t byte, off, limit int, fn func(t byte, key []byte, val, end int) (int, error)) (int, error) {
	return r.document(t, bsonDocument, off, limit, fn)
}

// array is document for arrays: the element names ("0", "1", ...) are not
// read, as a JSON array has none.
func (r *bsonReader) array(t byte, off, limit int, fn func(t byte, val, end int) (int, error)) (int, error) {
	return r.document(t, bsonArray, off, limit, func(t byte, _ []byte, val, end int) (int, error) {
		return fn(t, val, end)
	})
}

func bsonTypeName(t byte) string {
	switch t {
	case bsonDouble:
		return "a double"
	case bsonString:
		return "a string"
	case bsonDocument:
		return "a document"
	case bsonArray:
		return "an array"
	case bsonBinary:
		return "binary data"
	case bsonUndefined:
		return "undefined"
	case bsonBool:
		return "a boolean"
	case bsonNull:
		return "null"
	case bsonInt32:
		return "an int32"
	case bsonInt64:
		return "an int64"
	}
	return fmt.Sprintf("element type 0x%02x", t)
}

func (r *bsonReader) typeErr(off int, t byte, want string) error {
	return r.errf(off, "invalid type: %s, expected %s", bsonTypeName(t), want)
}

// fixed checks that n bytes of a fixed-size value at off fit before limit.
func (r *bsonReader) fixed(off, limit, n int) error {
	if limit-off < n {
		return r.errf(off, "truncated value")
	}
	return nil
}

// rawString reads a string value of type t at off and returns its bytes
// (aliasing the input) and the offset after it.
func (r *bsonReader) rawString(t byte, off, limit int) ([]byte, int, error) {
	if t != bsonString {
		return nil, 0, r.typeErr(off, t, "a string")
	}
	if err := r.fixed(off, limit, 4); err != nil {
		return nil, 0, err
	}
	n := int(int32(binary.LittleEndian.Uint32(r.b[off:])))
	if n < 1 || n > limit-off-4 {
		return nil, 0, r.errf(off, "string length %d out of range", n)
	}
	s := r.b[off+4 : off+4+n-1]
	if r.b[off+4+n-1] != 0 {
		return nil, 0, r.errf(off+4+n-1, "string does not end with a NUL byte")
	}
	if !validUTF8(s) {
		return nil, 0, r.errf(off+4, "string is not valid UTF-8")
	}
	return s, off + 4 + n, nil
}

func (r *bsonReader) str(t byte, off, limit int) (string, int, error) {
	b, next, err := r.rawString(t, off, limit)
	return string(b), next, err
}

// optStr reads a string or null.
func (r *bsonReader) optStr(t byte, off, limit int) (string, bool, int, error) {
	if isBSONNull(t) {
		return "", false, off, nil
	}
	s, next, err := r.str(t, off, limit)
	return s, err == nil, next, err
}

func isBSONNull(t byte) bool { return t == bsonNull || t == bsonUndefined }

// number reads an integer or an integral double of magnitude below 2^63.
func (r *bsonReader) number(t byte, off, limit int, what string) (int64, int, error) {
	switch t {
	case bsonInt32:
		if err := r.fixed(off, limit, 4); err != nil {
			return 0, 0, err
		}
		return int64(int32(binary.LittleEndian.Uint32(r.b[off:]))), off + 4, nil
	case bsonInt64:
		if err := r.fixed(off, limit, 8); err != nil {
			return 0, 0, err
		}
		return int64(binary.LittleEndian.Uint64(r.b[off:])), off + 8, nil
	case bsonDouble:
		if err := r.fixed(off, limit, 8); err != nil {
			return 0, 0, err
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(r.b[off:]))
		if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			return 0, 0, r.errf(off, "expected %s, got %s", what, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return int64(f), off + 8, nil
	}
	return 0, 0, r.typeErr(off, t, what)
}

func (r *bsonReader) integer(t byte, off, limit int) (int64, int, error) {
	return r.number(t, off, limit, "an integer")
}

// checksum reads an op or bucket checksum: an integral number in
// [-2^31, 2^32-1], normalised to uint32.
func (r *bsonReader) checksum(t byte, off, limit int) (uint32, int, error) {
	v, next, err := r.number(t, off, limit, "an integral checksum")
	if err != nil {
		return 0, 0, err
	}
	if v < math.MinInt32 || v > math.MaxUint32 {
		return 0, 0, r.errf(off, "checksum out of range: %d", v)
	}
	return uint32(v), next, nil
}

func (r *bsonReader) priority(t byte, off, limit int) (int32, int, error) {
	v, next, err := r.integer(t, off, limit)
	if err != nil {
		return 0, 0, err
	}
	if v < 0 || v >= math.MaxInt32 {
		return 0, 0, r.errf(off, "invalid bucket priority %d", v)
	}
	return int32(v), next, nil
}

// opID reads an op id: a string holding a decimal int64.
func (r *bsonReader) opID(t byte, off, limit int) (int64, int, error) {
	b, next, err := r.rawString(t, off, limit)
	if err != nil {
		return 0, 0, err
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, 0, r.errf(off, "invalid op id %q", b)
	}
	return v, next, nil
}

func (r *bsonReader) boolean(t byte, off, limit int) (bool, int, error) {
	if t != bsonBool {
		return false, 0, r.typeErr(off, t, "a boolean")
	}
	if err := r.fixed(off, limit, 1); err != nil {
		return false, 0, err
	}
	return r.b[off] != 0, off + 1, nil
}

// scalar checks the value of non-container type t at off and returns the
// offset after it.
func (r *bsonReader) scalar(t byte, off, limit int) (int, error) {
	switch t {
	case bsonDouble, bsonInt64:
		return off + 8, r.fixed(off, limit, 8)
	case bsonInt32:
		return off + 4, r.fixed(off, limit, 4)
	case bsonBool:
		return off + 1, r.fixed(off, limit, 1)
	case bsonNull, bsonUndefined:
		return off, nil
	case bsonString:
		_, next, err := r.rawString(t, off, limit)
		return next, err
	case bsonBinary:
		if err := r.fixed(off, limit, 5); err != nil {
			return 0, err
		}
		n := int(int32(binary.LittleEndian.Uint32(r.b[off:])))
		if n < 0 || n > limit-off-5 {
			return 0, r.errf(off, "binary length %d out of range", n)
		}
		return off + 5 + n, nil
	}
	return 0, r.errf(off, "unsupported element type 0x%02x", t)
}

// skip checks and skips the value of type t at off, bounded by limit, and
// returns the offset after it. Nesting is tracked in ends (the NUL offsets
// of the documents skip is inside), not by recursion.
func (r *bsonReader) skip(t byte, off, limit int) (int, error) {
	var ends []int32
	pos := off
	for {
		if t == bsonDocument || t == bsonArray {
			p, end, err := r.open(pos, limit)
			if err != nil {
				return 0, err
			}
			ends = append(ends, int32(limit))
			pos, limit = p, end
		} else {
			next, err := r.scalar(t, pos, limit)
			if err != nil {
				return 0, err
			}
			pos = next
		}
		// Close the documents that end here.
		for {
			if len(ends) == 0 {
				return pos, nil
			}
			if pos < limit {
				break
			}
			pos = limit + 1
			limit = int(ends[len(ends)-1])
			ends = ends[:len(ends)-1]
		}
		var err error
		if t, _, pos, err = r.elem(pos, limit); err != nil {
			return 0, err
		}
	}
}

// validUTF8 is utf8.Valid with a fast path for the ASCII names and short
// strings of a sync line.
func validUTF8(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return utf8.Valid(b)
		}
	}
	return true
}

func (r *bsonReader) line() (syncLine, error) {
	var line syncLine
	if len(r.b) < 5 {
		return line, r.errf(0, "truncated document")
	}
	if n := int(int32(binary.LittleEndian.Uint32(r.b))); n != len(r.b) {
		return line, r.errf(0, "document length %d does not match the %d bytes given", n, len(r.b))
	}
	n := 0
	_, err := r.object(bsonDocument, 0, len(r.b), func(t byte, key []byte, val, end int) (int, error) {
		n++
		if n > 1 {
			return 0, r.errf(val, "a sync line must have exactly one key")
		}
		var err error
		switch string(key) {
		case "checkpoint", "checkpoint_diff":
			diff := string(key) == "checkpoint_diff"
			line.kind = lineCheckpoint
			if diff {
				line.kind = lineCheckpointDiff
			}
			line.checkpoint, val, err = r.checkpoint(t, val, end, diff)
			return val, err
		case "data":
			line.kind = lineData
			line.data, val, err = r.dataLine(t, val, end)
			return val, err
		case "checkpoint_complete":
			line.kind = lineCheckpointComplete
			return r.object(t, val, end, func(t byte, k []byte, val, end int) (int, error) {
				if string(k) == "last_op_id" {
					_, next, err := r.opID(t, val, end)
					return next, err
				}
				return r.skip(t, val, end)
			})
		case "partial_checkpoint_complete":
			line.kind = linePartialCheckpointComplete
			seen := false
			next, err := r.object(t, val, end, func(t byte, k []byte, val, end int) (int, error) {
				var err error
				switch string(k) {
				case "last_op_id":
					_, val, err = r.opID(t, val, end)
					return val, err
				case "priority":
					line.priority, val, err = r.priority(t, val, end)
					seen = true
					return val, err
				}
				return r.skip(t, val, end)
			})
			if err == nil && !seen {
				err = r.errf(val, "missing field `priority`")
			}
			return next, err
		case "token_expires_in":
			line.kind = lineTokenExpiresIn
			line.tokenExpiresIn, val, err = r.integer(t, val, end)
			return val, err
		}
		line.kind = lineUnknown
		return r.skip(t, val, end)
	})
	if err == nil && n == 0 {
		err = r.errf(0, "empty sync line")
	}
	return line, err
}

func (r *bsonReader) checkpoint(t byte, off, limit int, diff bool) (*checkpointLine, int, error) {
	cp := &checkpointLine{}
	var haveLastOp, haveBuckets bool
	next, err := r.object(t, off, limit, func(t byte, k []byte, val, end int) (int, error) {
		var err error
		switch string(k) {
		case "last_op_id":
			cp.lastOpID, val, err = r.opID(t, val, end)
			haveLastOp = true
			return val, err
		case "write_checkpoint":
			if isBSONNull(t) {
				return val, nil
			}
			cp.writeCheckpoint, val, err = r.opID(t, val, end)
			cp.hasWriteCheckpoint = true
			return val, err
		case "buckets", "updated_buckets":
			if diff != (string(k) == "updated_buckets") {
				break
			}
			haveBuckets = true
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				if len(cp.buckets) >= maxBuckets {
					return 0, r.errf(val, "more than %d buckets in one checkpoint, the client's limit", maxBuckets)
				}
				b, next, err := r.bucketChecksum(t, val, end)
				cp.buckets = append(cp.buckets, b)
				return next, err
			})
		case "removed_buckets":
			if !diff {
				break
			}
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				if len(cp.removed) >= maxBuckets {
					return 0, r.errf(val, "more than %d removed buckets in one checkpoint_diff, the client's limit", maxBuckets)
				}
				name, next, err := r.str(t, val, end)
				cp.removed = append(cp.removed, name)
				return next, err
			})
		case "streams":
			if diff {
				break
			}
			// (null is an error here, as in a text line and in the core.)
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				if len(cp.streams) >= maxStreams {
					return 0, r.errf(val, "more than %d streams in one checkpoint, the client's limit", maxStreams)
				}
				d, next, err := r.streamDescription(t, val, end)
				cp.streams = append(cp.streams, d)
				return next, err
			})
		}
		return r.skip(t, val, end)
	})
	if err != nil {
		return nil, 0, err
	}
	if !haveLastOp {
		return nil, 0, r.errf(off, "missing field `last_op_id`")
	}
	if !haveBuckets {
		if diff {
			return nil, 0, r.errf(off, "missing field `updated_buckets`")
		}
		return nil, 0, r.errf(off, "missing field `buckets`")
	}
	return cp, next, nil
}

func (r *bsonReader) bucketChecksum(t byte, off, limit int) (bucketChecksum, int, error) {
	b := bucketChecksum{priority: 3}
	var haveName, haveChecksum bool
	next, err := r.object(t, off, limit, func(t byte, k []byte, val, end int) (int, error) {
		var err error
		switch string(k) {
		case "bucket":
			b.bucket, val, err = r.str(t, val, end)
			haveName = true
		case "checksum":
			b.checksum, val, err = r.checksum(t, val, end)
			haveChecksum = true
		case "priority":
			if isBSONNull(t) {
				return val, nil
			}
			b.priority, val, err = r.priority(t, val, end)
		case "count":
			if isBSONNull(t) {
				return val, nil
			}
			b.count, val, err = r.integer(t, val, end)
			b.hasCount = true
		case "subscriptions":
			if isBSONNull(t) {
				return val, nil
			}
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				var reason bucketReason
				found := false
				next, err := r.object(t, val, end, func(t byte, k []byte, val, end int) (int, error) {
					switch string(k) {
					case "default", "sub":
						reason.isDefault = string(k) == "default"
						v, next, err := r.integer(t, val, end)
						reason.index, found = v, true
						return next, err
					}
					return r.skip(t, val, end)
				})
				if err == nil && found {
					b.subscriptions = append(b.subscriptions, reason)
				}
				return next, err
			})
		default:
			return r.skip(t, val, end)
		}
		return val, err
	})
	if err == nil && (!haveName || !haveChecksum) {
		err = r.errf(off, "bucket checksum needs `bucket` and `checksum`")
	}
	return b, next, err
}

func (r *bsonReader) streamDescription(t byte, off, limit int) (streamDescription, int, error) {
	var d streamDescription
	next, err := r.object(t, off, limit, func(t byte, k []byte, val, end int) (int, error) {
		var err error
		switch string(k) {
		case "name":
			d.name, val, err = r.str(t, val, end)
		case "is_default":
			d.isDefault, val, err = r.boolean(t, val, end)
		case "errors":
			if isBSONNull(t) {
				return val, nil
			}
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				// Read the whole error object before keeping it: its keys
				// may come in any order.
				e, hasSub := streamError{subscription: -1}, false
				next, err := r.object(t, val, end, func(t byte, k []byte, val, end int) (int, error) {
					var err error
					switch string(k) {
					case "subscription":
						if t == bsonString {
							var v string
							v, val, err = r.str(t, val, end)
							if err == nil && v != "default" {
								err = r.errf(val, "invalid subscription reference %q", v)
							}
						} else {
							e.subscription, val, err = r.integer(t, val, end)
						}
						hasSub = err == nil
					case "message":
						e.message, val, err = r.str(t, val, end)
					default:
						return r.skip(t, val, end)
					}
					return val, err
				})
				if err == nil && hasSub {
					d.errors = append(d.errors, e)
				}
				return next, err
			})
		default:
			return r.skip(t, val, end)
		}
		return val, err
	})
	return d, next, err
}

func (r *bsonReader) dataLine(t byte, off, limit int) (*dataLine, int, error) {
	d := &dataLine{}
	var haveBucket, haveData bool
	next, err := r.object(t, off, limit, func(t byte, k []byte, val, end int) (int, error) {
		var err error
		switch string(k) {
		case "bucket":
			d.bucket, val, err = r.str(t, val, end)
			haveBucket = true
			return val, err
		case "data":
			haveData = true
			if d.ops == nil && t == bsonArray {
				// As in a text line (see estimateOps): the key op_id is
				// "op_id\x00" in BSON.
				d.ops = make([]oplogEntry, 0, min(bytes.Count(r.b[val:end], []byte("op_id\x00")), (end-val)/minOpSize+1))
			}
			return r.array(t, val, end, func(t byte, val, end int) (int, error) {
				d.ops = append(d.ops, oplogEntry{})
				return r.oplogEntry(&d.ops[len(d.ops)-1], t, val, end)
			})
		}
		return r.skip(t, val, end)
	})
	if err == nil && (!haveBucket || !haveData) {
		err = r.errf(off, "data line needs `bucket` and `data`")
	}
	return d, next, err
}

func (r *bsonReader) oplogEntry(op *oplogEntry, t byte, off, limit int) (int, error) {
	var haveID, haveOp, haveChecksum bool
	next, err := r.object(t, off, limit, func(t byte, k []byte, val, end int) (int, error) {
		var err error
		switch string(k) {
		case "op_id":
			op.opID, val, err = r.opID(t, val, end)
			haveID = true
		case "op":
			var v []byte
			if v, val, err = r.rawString(t, val, end); err != nil {
				return 0, err
			}
			haveOp = true
			if op.op = parseOpKind(v); op.op == 0 {
				return 0, r.errf(val, "unknown op type %q", v)
			}
		case "object_type":
			if isBSONNull(t) {
				op.rowType, op.hasType = "", false
				return val, nil
			}
			var v []byte
			if v, val, err = r.rawString(t, val, end); err == nil {
				op.rowType, op.hasType = internType(&r.lastType, v), true
			}
		case "object_id":
			op.rowID, op.hasID, val, err = r.optStr(t, val, end)
		case "subkey":
			op.subkey, op.hasSub, val, err = r.optStr(t, val, end)
		case "data":
			if isBSONNull(t) {
				op.data, op.hasData = nil, false
				return val, nil
			}
			if t != bsonString {
				return 0, r.errf(val, "invalid type for op data: expected a string")
			}
			op.data, val, err = r.rawString(t, val, end)
			op.hasData = true
		case "checksum":
			op.checksum, val, err = r.checksum(t, val, end)
			haveChecksum = true
		default:
			return r.skip(t, val, end)
		}
		return val, err
	})
	if err == nil && (!haveID || !haveOp || !haveChecksum) {
		err = r.errf(off, "oplog entry needs `op_id`, `op` and `checksum`")
	}
	if err == nil {
		err = op.checkPutData()
	}
	return next, err
}
