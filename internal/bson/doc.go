// Package bson is a small BSON codec for PowerSync sync lines.
//
// The PowerSync Service can stream sync lines as BSON documents
// (content type application/vnd.powersync.bson-stream): a concatenation of
// documents, each starting with its total length as a little-endian int32.
// This package encodes such documents (used by the in-process test service)
// and decodes them (used by the client), and nothing more: it supports the
// element types that appear in sync lines.
//
// # Types
//
// Encoding accepts an ordered document [D] (a list of [E] key/value pairs),
// a map[string]any (keys are written in sorted order) or anything
// implementing [Marshaler]. Values may be nil, string, bool, int, int32,
// int64, uint32, float64, [D], map[string]any, [Marshaler], [A] / []any,
// []string, []D, []map[string]any, [Binary] and []byte.
//
// Decoding produces, for each BSON element type:
//
//	0x01 double     float64
//	0x02 string     string (must be valid UTF-8)
//	0x03 document   map[string]any (Decode) or D (DecodeD)
//	0x04 array      []any
//	0x05 binary     Binary
//	0x06 undefined  nil
//	0x08 boolean    bool
//	0x0A null       nil
//	0x10 int32      int32
//	0x12 int64      int64
//
// Any other element type is an error wrapping [ErrUnsupported].
//
// # Hostile input
//
// Decoding never panics. Every length is checked against the bytes that are
// actually present before anything is allocated, so the memory a decode uses
// is bounded by a small multiple of the input size, and nesting is limited to
// [MaxDepth] levels. Errors wrap [ErrMalformed] or [ErrUnsupported] and say
// at which byte offset the problem was found.
package bson
