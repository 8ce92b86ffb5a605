package synccore

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/gopowersync/powersync/internal/bson"
	"github.com/gopowersync/powersync/internal/pserr"
)

// parseBinaryLine decodes one BSON sync line. The document is rewritten as
// JSON and decoded like a text line; integral doubles become integers, as
// BSON encoders emit doubles for numbers outside the int32 range.
func parseBinaryLine(doc []byte) (syncLine, error) {
	d, err := bson.DecodeD(doc)
	if err != nil {
		return syncLine{}, pserr.Errorf("%w: invalid binary line: %w", ErrProtocol, err)
	}
	buf, err := appendBSONJSON(make([]byte, 0, len(doc)+len(doc)/4), d)
	if err != nil {
		return syncLine{}, pserr.Errorf("%w: invalid binary line: %w", ErrProtocol, err)
	}
	return parseTextLine(buf)
}

func appendBSONJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return strconv.AppendInt(b, int64(x), 10), nil
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v is not representable", x)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case string:
		s, _ := json.Marshal(x)
		return append(b, s...), nil
	case bson.D:
		b = append(b, '{')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := json.Marshal(e.Key)
			b = append(b, k...)
			b = append(b, ':')
			var err error
			if b, err = appendBSONJSON(b, e.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendBSONJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return nil, fmt.Errorf("unsupported BSON value of type %T", v)
}
