package synccore

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/gopowersync/powersync/internal/serdejson"
)

// appendSerde serialises a decoded JSON value (json.Number for numbers) the
// way the core does: object keys sorted, no whitespace, numbers and strings
// as package serdejson writes them.
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

func appendSerdeString(b []byte, s string) []byte { return serdejson.AppendString(b, s) }

// appendSerdeNumber re-serialises a number literal as the core does: its
// parser (inexact for long literals) and its float formatting ("1e+20").
func appendSerdeNumber(b []byte, n string) []byte {
	return serdejson.AppendNumber(b, serdejson.ParseNumber(n))
}
