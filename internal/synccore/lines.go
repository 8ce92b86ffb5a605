package synccore

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/gopowersync/powersync/internal/pserr"
)

// ErrProtocol marks a sync line the engine cannot accept (malformed JSON or
// BSON, wrong field types, a line out of order). The control call that got it
// is rolled back and the iteration ends.
var ErrProtocol = errors.New("powersync: sync protocol error")

// ErrState marks a control call that is not valid in the engine's state, such
// as a line without an active iteration.
var ErrState = errors.New("powersync: invalid state")

// ErrArgument marks an invalid argument to a control call.
var ErrArgument = errors.New("powersync: invalid argument")

// MaxCheckpointBuckets and MaxCheckpointStreams bound what one checkpoint
// may hold: a checkpoint (after a checkpoint_diff, the checkpoint it leads
// to) with more buckets, or a checkpoint line with more streams, is a
// protocol error that ends the connection before anything of it is stored.
// The PowerSync Service itself refuses more than 1,000 buckets per
// user by default (PSYNC_S2305 beyond it); the bounds leave
// room for raised service limits while keeping a hostile service from
// growing the client's memory and CPU without end. Every bucket and every
// stream is kept in memory and costs work on each checkpoint.
const (
	MaxCheckpointBuckets = 100_000
	MaxCheckpointStreams = 10_000
)

// maxBuckets and maxStreams are MaxCheckpointBuckets and
// MaxCheckpointStreams, variables so that tests can use small checkpoints.
var (
	maxBuckets = MaxCheckpointBuckets
	maxStreams = MaxCheckpointStreams
)

type lineKind uint8

const (
	lineUnknown lineKind = iota
	lineCheckpoint
	lineCheckpointDiff
	lineData
	lineCheckpointComplete
	linePartialCheckpointComplete
	lineTokenExpiresIn
)

type opKind uint8

const (
	opPut opKind = iota + 1
	opRemove
	opMove
	opClear
)

// syncLine is one decoded line of the sync stream.
type syncLine struct {
	kind           lineKind
	checkpoint     *checkpointLine // checkpoint and checkpoint_diff
	data           *dataLine
	priority       int32 // partial_checkpoint_complete
	tokenExpiresIn int64
}

type bucketReason struct {
	isDefault bool // {"default": index} rather than {"sub": index}
	index     int64
}

type bucketChecksum struct {
	bucket        string
	checksum      uint32
	priority      int32
	count         int64
	hasCount      bool
	subscriptions []bucketReason
}

type streamError struct {
	subscription int64 // -1 = "default"
	message      string
}

type streamDescription struct {
	name      string
	isDefault bool
	errors    []streamError
}

// checkpointLine is a checkpoint or a checkpoint_diff.
type checkpointLine struct {
	lastOpID           int64
	writeCheckpoint    int64
	hasWriteCheckpoint bool
	buckets            []bucketChecksum // buckets / updated_buckets
	removed            []string         // removed_buckets (diff)
	streams            []streamDescription
}

type oplogEntry struct {
	opID     int64
	op       opKind
	hasType  bool
	hasID    bool
	hasSub   bool
	hasData  bool
	checksum uint32
	rowType  string
	rowID    string
	subkey   string
	data     []byte
}

type dataLine struct {
	bucket string
	ops    []oplogEntry
}

func protocolErr(err error) error {
	return pserr.Errorf("%w: invalid text line: %w", ErrProtocol, err)
}

// parseTextLine decodes one NDJSON sync line.
func parseTextLine(b []byte) (syncLine, error) {
	s := &scanner{b: b}
	var line syncLine
	n := 0
	err := s.object(func(key []byte) error {
		n++
		if n > 1 {
			return s.errf("a sync line must have exactly one key")
		}
		switch string(key) {
		case "checkpoint":
			line.kind = lineCheckpoint
			cp, err := s.checkpoint(false)
			line.checkpoint = cp
			return err
		case "checkpoint_diff":
			line.kind = lineCheckpointDiff
			cp, err := s.checkpoint(true)
			line.checkpoint = cp
			return err
		case "data":
			line.kind = lineData
			d, err := s.dataLine()
			line.data = d
			return err
		case "checkpoint_complete":
			line.kind = lineCheckpointComplete
			return s.object(func(k []byte) error {
				if string(k) == "last_op_id" {
					_, err := s.opID()
					return err
				}
				return s.skip()
			})
		case "partial_checkpoint_complete":
			line.kind = linePartialCheckpointComplete
			seen := false
			err := s.object(func(k []byte) error {
				switch string(k) {
				case "last_op_id":
					_, err := s.opID()
					return err
				case "priority":
					p, err := s.priority()
					line.priority, seen = p, true
					return err
				}
				return s.skip()
			})
			if err == nil && !seen {
				err = s.errf("missing field `priority`")
			}
			return err
		case "token_expires_in":
			line.kind = lineTokenExpiresIn
			v, err := s.integer()
			line.tokenExpiresIn = v
			return err
		default:
			line.kind = lineUnknown
			return s.skip()
		}
	})
	if err == nil && n == 0 {
		err = s.errf("empty sync line")
	}
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return syncLine{}, protocolErr(err)
	}
	return line, nil
}

func (s *scanner) priority() (int32, error) {
	v, err := s.integer()
	if err != nil {
		return 0, err
	}
	if v < 0 || v >= math.MaxInt32 {
		return 0, s.errf("invalid bucket priority %d", v)
	}
	return int32(v), nil
}

func (s *scanner) checkpoint(diff bool) (*checkpointLine, error) {
	cp := &checkpointLine{}
	var haveLastOp, haveBuckets bool
	err := s.object(func(k []byte) error {
		switch string(k) {
		case "last_op_id":
			v, err := s.opID()
			cp.lastOpID, haveLastOp = v, true
			return err
		case "write_checkpoint":
			if s.null() {
				return nil
			}
			v, err := s.opID()
			cp.writeCheckpoint, cp.hasWriteCheckpoint = v, true
			return err
		case "buckets", "updated_buckets":
			if diff != (string(k) == "updated_buckets") {
				return s.skip()
			}
			haveBuckets = true
			return s.array(func() error {
				if len(cp.buckets) >= maxBuckets {
					return s.errf("more than %d buckets in one checkpoint, the client's limit", maxBuckets)
				}
				b, err := s.bucketChecksum()
				cp.buckets = append(cp.buckets, b)
				return err
			})
		case "removed_buckets":
			if !diff {
				return s.skip()
			}
			return s.array(func() error {
				if len(cp.removed) >= maxBuckets {
					return s.errf("more than %d removed buckets in one checkpoint_diff, the client's limit", maxBuckets)
				}
				name, err := s.str()
				cp.removed = append(cp.removed, name)
				return err
			})
		case "streams":
			if diff || s.null() {
				return s.skip()
			}
			return s.array(func() error {
				if len(cp.streams) >= maxStreams {
					return s.errf("more than %d streams in one checkpoint, the client's limit", maxStreams)
				}
				d, err := s.streamDescription()
				cp.streams = append(cp.streams, d)
				return err
			})
		}
		return s.skip()
	})
	if err != nil {
		return nil, err
	}
	if !haveLastOp {
		return nil, s.errf("missing field `last_op_id`")
	}
	if !haveBuckets {
		if diff {
			return nil, s.errf("missing field `updated_buckets`")
		}
		return nil, s.errf("missing field `buckets`")
	}
	return cp, nil
}

func (s *scanner) bucketChecksum() (bucketChecksum, error) {
	b := bucketChecksum{priority: 3}
	var haveName, haveChecksum bool
	err := s.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "bucket":
			b.bucket, err = s.str()
			haveName = true
		case "checksum":
			b.checksum, err = s.checksum()
			haveChecksum = true
		case "priority":
			if s.null() {
				return nil
			}
			b.priority, err = s.priority()
		case "count":
			if s.null() {
				return nil
			}
			b.count, err = s.integer()
			b.hasCount = true
		case "subscriptions":
			if s.null() {
				return nil
			}
			err = s.array(func() error {
				var r bucketReason
				found := false
				err := s.object(func(k []byte) error {
					switch string(k) {
					case "default", "sub":
						r.isDefault = string(k) == "default"
						v, err := s.integer()
						r.index, found = v, true
						return err
					}
					return s.skip()
				})
				if err == nil && found {
					b.subscriptions = append(b.subscriptions, r)
				}
				return err
			})
		default:
			err = s.skip()
		}
		return err
	})
	if err == nil && (!haveName || !haveChecksum) {
		err = s.errf("bucket checksum needs `bucket` and `checksum`")
	}
	return b, err
}

func (s *scanner) streamDescription() (streamDescription, error) {
	var d streamDescription
	err := s.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "name":
			d.name, err = s.str()
		case "is_default":
			d.isDefault, err = s.boolean()
		case "errors":
			if s.null() {
				return nil
			}
			err = s.array(func() error {
				// Read the whole error object before keeping it: its keys
				// may come in any order.
				e, hasSub := streamError{subscription: -1}, false
				err := s.object(func(k []byte) error {
					var err error
					switch string(k) {
					case "subscription":
						if s.peek() == '"' {
							var v string
							v, err = s.str()
							if err == nil && v != "default" {
								err = s.errf("invalid subscription reference %q", v)
							}
						} else {
							e.subscription, err = s.integer()
						}
						hasSub = err == nil
					case "message":
						e.message, err = s.str()
					default:
						err = s.skip()
					}
					return err
				})
				if err == nil && hasSub {
					d.errors = append(d.errors, e)
				}
				return err
			})
		default:
			err = s.skip()
		}
		return err
	})
	return d, err
}

func (s *scanner) dataLine() (*dataLine, error) {
	d := &dataLine{}
	var haveBucket, haveData bool
	err := s.object(func(k []byte) error {
		switch string(k) {
		case "bucket":
			v, err := s.str()
			d.bucket, haveBucket = v, true
			return err
		case "data":
			haveData = true
			if d.ops == nil {
				d.ops = make([]oplogEntry, 0, estimateOps(s.b[s.i:]))
			}
			return s.array(func() error {
				op, err := s.oplogEntry()
				d.ops = append(d.ops, op)
				return err
			})
		}
		return s.skip()
	})
	if err == nil && (!haveBucket || !haveData) {
		err = s.errf("data line needs `bucket` and `data`")
	}
	return d, err
}

// minOpSize is the length of the shortest operation a data line can hold,
// with its separating comma: {"op_id":"1","op":"MOVE","checksum":0},
const minOpSize = 39

// estimateOps is the capacity for the operations of a data line whose
// rest is b: the number of "op_id" keys in it, but no more than b could
// hold. Sized up front, the operations cost their size once instead of
// the copies append makes while the slice grows (for a line of 765,000
// MOVE operations, 73 MB instead of 300 MB allocated, with two copies
// alive at the end). A key inside a JSON string is escaped (\"op_id\") and
// does not count; one a service adds elsewhere costs no more than a line
// of that size made of real operations.
func estimateOps(b []byte) int {
	return min(bytes.Count(b, []byte(`"op_id"`)), len(b)/minOpSize+1)
}

func (s *scanner) oplogEntry() (oplogEntry, error) {
	var op oplogEntry
	var haveID, haveOp, haveChecksum bool
	err := s.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "op_id":
			op.opID, err = s.opID()
			haveID = true
		case "op":
			var v []byte
			v, err = s.rawString(true)
			if err != nil {
				return err
			}
			haveOp = true
			if op.op = parseOpKind(v); op.op == 0 {
				return s.errf("unknown op type %q", v)
			}
		case "object_type":
			if s.null() {
				op.rowType, op.hasType = "", false
				return nil
			}
			var v []byte
			if v, err = s.rawString(false); err == nil {
				op.rowType, op.hasType = internType(&s.lastType, v), true
			}
		case "object_id":
			op.rowID, op.hasID, err = s.optStr()
		case "subkey":
			op.subkey, op.hasSub, err = s.optStr()
		case "data":
			if s.null() {
				op.hasData = false
				return nil
			}
			if s.peek() != '"' {
				return s.errf("invalid type for op data: expected a string")
			}
			op.data, err = s.rawString(false)
			op.hasData = true
		case "checksum":
			op.checksum, err = s.checksum()
			haveChecksum = true
		default:
			err = s.skip()
		}
		return err
	})
	if err == nil && (!haveID || !haveOp || !haveChecksum) {
		err = s.errf("oplog entry needs `op_id`, `op` and `checksum`")
	}
	if err == nil {
		err = op.checkPutData()
	}
	return op, err
}

// parseOpKind is the kind an oplog entry's `op` names, or 0 for a name
// the protocol does not have. The JSON and the BSON decoders share it.
func parseOpKind(v []byte) opKind {
	switch string(v) {
	case "PUT":
		return opPut
	case "REMOVE":
		return opRemove
	case "MOVE":
		return opMove
	case "CLEAR":
		return opClear
	}
	return 0
}

// internType is v as a string, reusing *last (the previous entry's
// object_type) when the bytes are the same, so the entries of a data line
// share one string per table instead of allocating one each.
func internType(last *string, v []byte) string {
	if string(v) != *last {
		*last = string(v)
	}
	return *last
}

// checkPutData reports a PUT whose data is not JSON SQLite can read.
func (op *oplogEntry) checkPutData() error {
	if op.op != opPut || !op.hasData {
		return nil
	}
	if err := validDataJSON(op.data); err != nil {
		return fmt.Errorf("PUT data of %s/%s (op_id %d) is not valid JSON: %w", op.rowType, op.rowID, op.opID, err)
	}
	return nil
}

// maxDataDepth is the deepest nesting of the JSON in a PUT's data that a
// data line may carry: SQLite's JSON functions, which every read of a synced
// table goes through, fail on deeper values (JSON_MAX_DEPTH).
const maxDataDepth = 1000

// validDataJSON checks that data (a PUT's row) is one JSON value that
// SQLite's JSON functions can read. The official core stores any string:
// the row then fails to publish if its table has an index on a column,
// and otherwise reaches the table, where every read of the table's view
// fails with "malformed JSON". The line is rejected instead.
func validDataJSON(data []byte) error {
	s := &scanner{b: data}
	if _, err := s.skipValue(maxDataDepth); err != nil {
		return err
	}
	return s.end()
}
