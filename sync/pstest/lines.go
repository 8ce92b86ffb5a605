package pstest

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gopowersync/powersync/internal/bson"
)

// Content types of the sync stream.
const (
	ContentTypeNDJSON = "application/x-ndjson"
	ContentTypeBSON   = "application/vnd.powersync.bson-stream"
)

// bucketChecksum is an element of a checkpoint's bucket list.
type bucketChecksum struct {
	Bucket        string   `json:"bucket"`
	Checksum      int32    `json:"checksum"` // signed, as the service's JavaScript sends it
	Count         int      `json:"count"`
	Priority      int      `json:"priority"`
	Subscriptions []subRef `json:"subscriptions"`
}

func (b bucketChecksum) same(o bucketChecksum) bool {
	if b.Checksum != o.Checksum || b.Count != o.Count || b.Priority != o.Priority || len(b.Subscriptions) != len(o.Subscriptions) {
		return false
	}
	for i, s := range b.Subscriptions {
		t := o.Subscriptions[i]
		if !eqIntPtr(s.Default, t.Default) || !eqIntPtr(s.Sub, t.Sub) {
			return false
		}
	}
	return true
}

func eqIntPtr(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// encoder turns sync lines into bytes, NDJSON or BSON.
type encoder struct {
	bson    bool
	rawData bool // NDJSON: PUT data as a JSON string (else embedded as an object)
}

func opIDString(id int64) string { return strconv.FormatInt(id, 10) }

// jsNumber is how the service's JavaScript BSON serializer writes a number:
// int32 when it fits, else a double.
func jsNumber(v int64) any {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		return int32(v)
	}
	return float64(v)
}

func (e *encoder) finishJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func wcValue(wc int64) *string {
	if wc <= 0 {
		return nil
	}
	s := opIDString(wc)
	return &s
}

func (e *encoder) checkpoint(lastOpID, wc int64, buckets []bucketChecksum, streams []streamDesc) ([]byte, error) {
	if !e.bson {
		return e.finishJSON(map[string]any{"checkpoint": struct {
			LastOpID        string           `json:"last_op_id"`
			WriteCheckpoint *string          `json:"write_checkpoint,omitempty"`
			Buckets         []bucketChecksum `json:"buckets"`
			Streams         []streamDesc     `json:"streams"`
		}{opIDString(lastOpID), wcValue(wc), buckets, streams}})
	}
	d := bson.D{{Key: "last_op_id", Value: opIDString(lastOpID)}}
	if wc > 0 {
		d = append(d, bson.E{Key: "write_checkpoint", Value: opIDString(wc)})
	}
	d = append(d, bson.E{Key: "buckets", Value: bsonBuckets(buckets)}, bson.E{Key: "streams", Value: bsonStreams(streams)})
	return bson.Marshal(bson.D{{Key: "checkpoint", Value: d}})
}

func (e *encoder) checkpointDiff(lastOpID, wc int64, updated []bucketChecksum, removed []string) ([]byte, error) {
	if !e.bson {
		return e.finishJSON(map[string]any{"checkpoint_diff": struct {
			LastOpID        string           `json:"last_op_id"`
			WriteCheckpoint *string          `json:"write_checkpoint,omitempty"`
			Removed         []string         `json:"removed_buckets"`
			Updated         []bucketChecksum `json:"updated_buckets"`
		}{opIDString(lastOpID), wcValue(wc), removed, updated}})
	}
	d := bson.D{{Key: "last_op_id", Value: opIDString(lastOpID)}}
	if wc > 0 {
		d = append(d, bson.E{Key: "write_checkpoint", Value: opIDString(wc)})
	}
	d = append(d, bson.E{Key: "removed_buckets", Value: removed},
		bson.E{Key: "updated_buckets", Value: bsonBuckets(updated)})
	return bson.Marshal(bson.D{{Key: "checkpoint_diff", Value: d}})
}

func bsonBuckets(buckets []bucketChecksum) []bson.D {
	out := make([]bson.D, len(buckets))
	for i, b := range buckets {
		subs := make([]bson.D, len(b.Subscriptions))
		for j, s := range b.Subscriptions {
			if s.Default != nil {
				subs[j] = bson.D{{Key: "default", Value: jsNumber(int64(*s.Default))}}
			} else if s.Sub != nil {
				subs[j] = bson.D{{Key: "sub", Value: jsNumber(int64(*s.Sub))}}
			}
		}
		out[i] = bson.D{
			{Key: "bucket", Value: b.Bucket},
			{Key: "checksum", Value: b.Checksum},
			{Key: "count", Value: jsNumber(int64(b.Count))},
			{Key: "priority", Value: jsNumber(int64(b.Priority))},
			{Key: "subscriptions", Value: subs},
		}
	}
	return out
}

func bsonStreams(streams []streamDesc) []bson.D {
	out := make([]bson.D, len(streams))
	for i, s := range streams {
		errs := make([]bson.D, len(s.Errors))
		for j, e := range s.Errors {
			sub := e.Subscription
			if n, ok := sub.(int); ok {
				sub = jsNumber(int64(n))
			}
			errs[j] = bson.D{{Key: "subscription", Value: sub}, {Key: "message", Value: e.Message}}
		}
		out[i] = bson.D{{Key: "name", Value: s.Name}, {Key: "is_default", Value: s.IsDefault}, {Key: "errors", Value: errs}}
	}
	return out
}

func (e *encoder) checkpointComplete(lastOpID int64) ([]byte, error) {
	if !e.bson {
		return []byte(`{"checkpoint_complete":{"last_op_id":"` + opIDString(lastOpID) + "\"}}\n"), nil
	}
	return bson.Marshal(bson.D{{Key: "checkpoint_complete", Value: bson.D{{Key: "last_op_id", Value: opIDString(lastOpID)}}}})
}

func (e *encoder) partialComplete(lastOpID int64, priority int) ([]byte, error) {
	if !e.bson {
		return []byte(`{"partial_checkpoint_complete":{"last_op_id":"` + opIDString(lastOpID) +
			`","priority":` + strconv.Itoa(priority) + "}}\n"), nil
	}
	return bson.Marshal(bson.D{{Key: "partial_checkpoint_complete", Value: bson.D{
		{Key: "last_op_id", Value: opIDString(lastOpID)}, {Key: "priority", Value: jsNumber(int64(priority))}}}})
}

func (e *encoder) tokenExpiresIn(seconds int64) ([]byte, error) {
	if !e.bson {
		return []byte(`{"token_expires_in":` + strconv.FormatInt(seconds, 10) + "}\n"), nil
	}
	return bson.Marshal(bson.D{{Key: "token_expires_in", Value: jsNumber(seconds)}})
}

// data encodes one data line; dst is reused.
func (e *encoder) data(dst []byte, bucketName string, after int64, hasMore bool, ops []op) ([]byte, error) {
	next := after
	if len(ops) > 0 {
		next = ops[len(ops)-1].id
	}
	if e.bson {
		list := make([]bson.D, len(ops))
		for i, o := range ops {
			d := bson.D{{Key: "op_id", Value: opIDString(o.id)}, {Key: "op", Value: o.kind}}
			if o.kind == OpPut || o.kind == OpRemove {
				d = append(d, bson.E{Key: "object_type", Value: o.table}, bson.E{Key: "object_id", Value: o.rowID})
			}
			d = append(d, bson.E{Key: "checksum", Value: jsNumber(int64(o.checksum))})
			switch o.kind {
			case OpPut:
				d = append(d, bson.E{Key: "subkey", Value: o.subkey}, bson.E{Key: "data", Value: o.data})
			case OpRemove:
				d = append(d, bson.E{Key: "subkey", Value: o.subkey}, bson.E{Key: "data", Value: nil})
			}
			list[i] = d
		}
		return bson.AppendDocument(dst[:0], bson.D{{Key: "data", Value: bson.D{
			{Key: "bucket", Value: bucketName},
			{Key: "after", Value: opIDString(after)},
			{Key: "has_more", Value: hasMore},
			{Key: "data", Value: list},
			{Key: "next_after", Value: opIDString(next)},
		}}})
	}
	b := append(dst[:0], `{"data":{"bucket":`...)
	b = appendJSONString(b, bucketName)
	b = append(b, `,"after":"`...)
	b = strconv.AppendInt(b, after, 10)
	b = append(b, `","has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	b = append(b, `,"data":[`...)
	for i, o := range ops {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op_id":"`...)
		b = strconv.AppendInt(b, o.id, 10)
		b = append(b, `","op":"`...)
		b = append(b, o.kind...)
		b = append(b, '"')
		if o.kind == OpPut || o.kind == OpRemove {
			b = append(b, `,"object_type":`...)
			b = appendJSONString(b, o.table)
			b = append(b, `,"object_id":`...)
			b = appendJSONString(b, o.rowID)
		}
		b = append(b, `,"checksum":`...)
		b = strconv.AppendUint(b, uint64(o.checksum), 10)
		if o.kind == OpPut || o.kind == OpRemove {
			b = append(b, `,"subkey":`...)
			b = appendJSONString(b, o.subkey)
		}
		if o.kind == OpRemove {
			b = append(b, `,"data":null`...)
		}
		if o.kind == OpPut {
			b = append(b, `,"data":`...)
			if e.rawData {
				b = appendJSONString(b, o.data)
			} else {
				b = append(b, o.data...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `],"next_after":"`...)
	b = strconv.AppendInt(b, next, 10)
	return append(b, "\"}}\n"...), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wantsBSON reports whether an Accept header prefers the BSON stream over NDJSON.
func wantsBSON(accept string) bool {
	qBSON, qJSON := -1.0, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, p := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		switch mt {
		case ContentTypeBSON:
			qBSON = max(qBSON, q)
		case ContentTypeNDJSON, "application/json", "*/*", "application/*":
			qJSON = max(qJSON, q)
		}
	}
	return qBSON > 0 && qBSON > qJSON
}
