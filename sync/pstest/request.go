package pstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file reads request bodies the way the PowerSync Service 1.25 does:
// its HTTP framework (Fastify) parses the body by content type, the route
// merges the query string and an object body into the request parameters,
// and a JSON schema validator (Ajv, with every error collected) checks them;
// the errors are then condensed and worded by better-ajv-errors. The answers
// (status, error code, details text and order) are those of the real service,
// recorded in testdata/realservice_requests.json.

// maxBodyBytes is Fastify's default body limit (1 MiB).
const maxBodyBytes = 1 << 20

// fastifyError is the body of an error raised by the service's HTTP
// framework before a route runs (content type, JSON syntax, body size).
func fastifyError(status int, code, description string) *serviceError {
	return &serviceError{Status: status, Code: code, Description: description, Name: "FastifyError", framework: true}
}

// readParams reads r's body as the service does and returns the request
// parameters: the query string merged with the body when it is a JSON
// object (other bodies, e.g. null, arrays or text, are ignored).
func readParams(r *http.Request) (*jsonValue, *serviceError) {
	params := &jsonValue{kind: jObject}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	for _, k := range sortedKeys(q) {
		vs := q[k]
		if len(vs) == 1 {
			params.set(k, &jsonValue{kind: jString, s: vs[0]})
			continue
		}
		arr := &jsonValue{kind: jArray}
		for _, v := range vs {
			arr.arr = append(arr.arr, &jsonValue{kind: jString, s: v})
		}
		params.set(k, arr)
	}

	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return params, nil // Fastify does not read the body of a GET
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
			return params, nil // no body to parse
		}
		return nil, fastifyError(http.StatusUnsupportedMediaType, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && mt != "text/plain") {
		return nil, fastifyError(http.StatusUnsupportedMediaType, "FST_ERR_CTP_INVALID_MEDIA_TYPE", "Unsupported Media Type")
	}
	if r.ContentLength > maxBodyBytes {
		return nil, fastifyError(http.StatusRequestEntityTooLarge, "FST_ERR_CTP_BODY_TOO_LARGE", "Request body is too large")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fastifyError(http.StatusBadRequest, "FST_ERR_CTP_INVALID_CONTENT_LENGTH",
			"Request body size did not match Content-Length")
	}
	if len(body) > maxBodyBytes {
		return nil, fastifyError(http.StatusRequestEntityTooLarge, "FST_ERR_CTP_BODY_TOO_LARGE", "Request body is too large")
	}
	if mt == "text/plain" {
		return params, nil // a string body: not an object, so ignored
	}
	if len(body) == 0 {
		return nil, fastifyError(http.StatusBadRequest, "FST_ERR_CTP_EMPTY_JSON_BODY",
			"Body cannot be empty when content-type is set to 'application/json'")
	}
	v, err := parseJSON(body)
	if err != nil {
		return nil, fastifyError(http.StatusBadRequest, "FST_ERR_CTP_INVALID_JSON_BODY",
			"Body is not valid JSON but content-type is set to 'application/json'")
	}
	if v.kind == jObject {
		for _, m := range v.obj {
			params.set(m.key, m.val)
		}
	}
	return params, nil
}

// jsonKind is the type of a jsonValue.
type jsonKind int

const (
	jNull jsonKind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jsonValue is a parsed JSON value whose object members keep JavaScript's
// property order: integer-like keys ascending, then the others in the order
// they first appeared (a repeated key keeps its first place and last value).
type jsonValue struct {
	kind jsonKind
	b    bool
	s    string // a string, or a number's literal
	arr  []*jsonValue
	obj  []jsonMember
}

type jsonMember struct {
	key string
	val *jsonValue
}

func (v *jsonValue) get(key string) *jsonValue {
	for _, m := range v.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// set adds or replaces a member the way a JavaScript object assignment does.
func (v *jsonValue) set(key string, val *jsonValue) {
	for i := range v.obj {
		if v.obj[i].key == key {
			v.obj[i].val = val
			return
		}
	}
	v.obj = append(v.obj, jsonMember{key, val})
	if _, ok := arrayIndex(key); ok {
		slices.SortStableFunc(v.obj, func(a, b jsonMember) int {
			ai, aok := arrayIndex(a.key)
			bi, bok := arrayIndex(b.key)
			switch {
			case aok && bok:
				return int(ai) - int(bi)
			case aok:
				return -1
			case bok:
				return 1
			}
			return 0
		})
	}
}

// arrayIndex reports whether key is a canonical array index, which
// JavaScript objects order before other keys.
func arrayIndex(key string) (int64, bool) {
	if key == "" || len(key) > 10 || (len(key) > 1 && key[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(key, 10, 64)
	if err != nil || n < 0 || n >= math.MaxUint32 || strconv.FormatInt(n, 10) != key {
		return 0, false
	}
	return n, true
}

var errPoisoned = errors.New("object contains a forbidden prototype property")

// parseJSON parses body as JSON.parse does, then rejects what Fastify's
// secure JSON parser rejects: a "__proto__" key, or a "constructor" key
// holding an object with a "prototype" key.
func parseJSON(body []byte) (*jsonValue, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if !json.Valid(body) {
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return parseValue(dec)
}

func parseValue(dec *json.Decoder) (*jsonValue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jsonValue{kind: jNull}, nil
	case bool:
		return &jsonValue{kind: jBool, b: t}, nil
	case json.Number:
		return &jsonValue{kind: jNumber, s: string(t)}, nil
	case string:
		return &jsonValue{kind: jString, s: t}, nil
	case json.Delim:
		if t == '[' {
			v := &jsonValue{kind: jArray}
			for dec.More() {
				e, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			_, err := dec.Token()
			return v, err
		}
		v := &jsonValue{kind: jObject}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			e, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			if key == "__proto__" || (key == "constructor" && e.kind == jObject && e.get("prototype") != nil) {
				return nil, errPoisoned
			}
			v.set(key, e)
		}
		_, err := dec.Token()
		return v, err
	}
	return nil, errors.New("unexpected JSON token")
}

// toGo converts v to the values encoding/json would decode (numbers as json.Number).
func (v *jsonValue) toGo() any {
	switch v.kind {
	case jBool:
		return v.b
	case jNumber:
		return json.Number(v.s)
	case jString:
		return v.s
	case jArray:
		out := make([]any, len(v.arr))
		for i, e := range v.arr {
			out[i] = e.toGo()
		}
		return out
	case jObject:
		out := make(map[string]any, len(v.obj))
		for _, m := range v.obj {
			out[m.key] = m.val.toGo()
		}
		return out
	}
	return nil
}

// decodeParams decodes validated parameters into dst.
func decodeParams(params *jsonValue, dst any) error {
	b, err := json.Marshal(params.toGo())
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(dst)
}

// schema is the subset of JSON Schema the service's request codecs compile to.
type schema struct {
	typ        string // "object", "array", "string", "boolean", "number", "integer", "null"; "" is any
	props      []schemaProp
	required   []string
	additional *schema // schema of the other members (a record)
	items      *schema
	anyOf      []*schema
	oneOf      []*schema
	pattern    *regexp.Regexp // for strings
	minimum    *float64       // for numbers
	maximum    *float64
}

type schemaProp struct {
	name string
	s    *schema
}

var (
	anySchema     = &schema{}
	stringSchema  = &schema{typ: "string"}
	booleanSchema = &schema{typ: "boolean"}
	nullSchema    = &schema{typ: "null"}
	recordSchema  = &schema{typ: "object", additional: anySchema}
)

// streamRequestSchema is the schema of POST /sync/stream (StreamingSyncRequest).
var streamRequestSchema = &schema{typ: "object", props: []schemaProp{
	{"buckets", &schema{typ: "array", items: &schema{typ: "object",
		props:    []schemaProp{{"name", stringSchema}, {"after", stringSchema}},
		required: []string{"name", "after"}}}},
	{"only", &schema{typ: "array", items: stringSchema}},
	{"include_checksum", booleanSchema},
	{"raw_data", booleanSchema},
	{"parameters", recordSchema},
	{"app_metadata", &schema{typ: "object", additional: stringSchema}},
	{"client_id", stringSchema},
	{"streams", &schema{typ: "object",
		props: []schemaProp{
			{"include_defaults", booleanSchema},
			{"subscriptions", &schema{typ: "array", items: &schema{typ: "object",
				props: []schemaProp{
					{"stream", stringSchema},
					{"parameters", &schema{anyOf: []*schema{recordSchema, nullSchema}}},
					{"override_priority", &schema{anyOf: []*schema{{typ: "number"}, nullSchema}}},
				},
				required: []string{"stream", "parameters", "override_priority"}}}},
		},
		required: []string{"subscriptions"}}},
}}

// bigintSchema is the service's codec for a 64-bit id: a decimal string or an integer.
var bigintSchema = &schema{oneOf: []*schema{
	{typ: "string", pattern: regexp.MustCompile(`^-?[0-9]+$`)},
	{typ: "integer", minimum: ptr(float64(-maxSafeInteger)), maximum: ptr(float64(maxSafeInteger))},
}}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER.
const maxSafeInteger = 1<<53 - 1

func ptr[T any](v T) *T { return &v }

// checkpointRequestSchema is the schema of POST /sync/checkpoint-request.
var checkpointRequestSchema = &schema{typ: "object",
	props:    []schemaProp{{"client_id", stringSchema}, {"checkpoint_request_id", bigintSchema}},
	required: []string{"client_id", "checkpoint_request_id"}}

// writeCheckpointSchema is the schema of GET /write-checkpoint2.json (its query).
var writeCheckpointSchema = &schema{typ: "object", props: []schemaProp{{"client_id", stringSchema}}}

// ajvError is one error as Ajv reports it.
type ajvError struct {
	path    []string // instance path, unescaped keys
	keyword string   // "type", "required", "anyOf"
	param   string   // the expected type, or the missing property
}

func typeMatches(typ string, v *jsonValue) bool {
	switch typ {
	case "":
		return true
	case "object":
		return v.kind == jObject
	case "array":
		return v.kind == jArray
	case "string":
		return v.kind == jString
	case "boolean":
		return v.kind == jBool
	case "number":
		return v.kind == jNumber
	case "integer":
		if v.kind != jNumber {
			return false
		}
		f, err := strconv.ParseFloat(v.s, 64)
		return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
	case "null":
		return v.kind == jNull
	}
	return false
}

// validate appends the errors Ajv (allErrors) reports for v against s, in its order.
func (s *schema) validate(v *jsonValue, path []string, errs []ajvError) []ajvError {
	if len(s.anyOf) > 0 {
		var branch []ajvError
		for _, alt := range s.anyOf {
			e := alt.validate(v, path, nil)
			if len(e) == 0 {
				return errs
			}
			branch = append(branch, e...)
		}
		errs = append(errs, branch...)
		return append(errs, ajvError{path: path, keyword: "anyOf"})
	}
	if len(s.oneOf) > 0 {
		var branch []ajvError
		valid := 0
		for _, alt := range s.oneOf {
			e := alt.validate(v, path, nil)
			if len(e) == 0 {
				valid++
			}
			branch = append(branch, e...)
		}
		if valid == 1 {
			return errs
		}
		errs = append(errs, branch...)
		return append(errs, ajvError{path: path, keyword: "oneOf"})
	}
	if !typeMatches(s.typ, v) {
		return append(errs, ajvError{path: path, keyword: "type", param: s.typ})
	}
	switch v.kind {
	case jString:
		if s.pattern != nil && !s.pattern.MatchString(v.s) {
			errs = append(errs, ajvError{path: path, keyword: "pattern", param: s.pattern.String()})
		}
	case jNumber:
		f, _ := strconv.ParseFloat(v.s, 64)
		if s.maximum != nil && f > *s.maximum {
			errs = append(errs, ajvError{path: path, keyword: "maximum", param: strconv.FormatFloat(*s.maximum, 'f', -1, 64)})
		}
		if s.minimum != nil && f < *s.minimum {
			errs = append(errs, ajvError{path: path, keyword: "minimum", param: strconv.FormatFloat(*s.minimum, 'f', -1, 64)})
		}
	case jObject:
		for _, req := range s.required {
			if v.get(req) == nil {
				errs = append(errs, ajvError{path: path, keyword: "required", param: req})
			}
		}
		for _, p := range s.props {
			if m := v.get(p.name); m != nil {
				errs = p.s.validate(m, append(slices.Clip(path), p.name), errs)
			}
		}
		if s.additional != nil {
			for _, m := range v.obj {
				if !slices.ContainsFunc(s.props, func(p schemaProp) bool { return p.name == m.key }) {
					errs = s.additional.validate(m.val, append(slices.Clip(path), m.key), errs)
				}
			}
		}
	case jArray:
		if s.items != nil {
			for i, e := range v.arr {
				errs = s.items.validate(e, append(slices.Clip(path), strconv.Itoa(i)), errs)
			}
		}
	}
	return errs
}

// pointerSegments is better-ajv-errors' JSON pointer regular expression,
// which groups errors into a tree (a numeric segment joins the one before).
var pointerSegments = regexp.MustCompile(`/[\w_-]+(/\d+)?`)

type errNode struct {
	keys     []string
	children map[string]*errNode
	errors   []ajvError
}

func (n *errNode) child(k string) *errNode {
	if c, ok := n.children[k]; ok {
		return c
	}
	c := &errNode{children: map[string]*errNode{}}
	n.keys = append(n.keys, k)
	n.children[k] = c
	return c
}

// condense turns Ajv errors into better-ajv-errors messages: errors are
// grouped by path; a missing required property hides every other error at
// and below its object; a failed anyOf with errors below it is dropped.
func condense(errs []ajvError) []string {
	root := &errNode{children: map[string]*errNode{}}
	for _, e := range errs {
		ptr := ""
		for _, k := range e.path {
			ptr += "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
		}
		segs := []string{""}
		if ptr != "" {
			segs = pointerSegments.FindAllString(ptr, -1)
		}
		if len(segs) == 0 {
			continue
		}
		n := root
		for _, s := range segs {
			n = n.child(s)
		}
		n.errors = append(n.errors, e)
	}
	var filter func(n *errNode)
	filter = func(n *errNode) {
		for _, e := range n.errors {
			if e.keyword == "required" {
				n.errors = []ajvError{e}
				n.keys, n.children = nil, map[string]*errNode{}
			}
		}
		if slices.ContainsFunc(n.errors, func(e ajvError) bool { return e.keyword == "anyOf" }) && len(n.keys) > 0 {
			n.errors = nil
		}
		for _, k := range n.keys {
			filter(n.children[k])
		}
	}
	filter(root)
	var out []string
	var walk func(n *errNode)
	walk = func(n *errNode) {
		for _, e := range n.errors {
			p := ""
			for _, k := range e.path {
				p += "/" + k
			}
			switch e.keyword {
			case "required":
				out = append(out, p+" must have required property '"+e.param+"'")
			case "anyOf":
				out = append(out, p+": anyOf must match a schema in anyOf")
			case "oneOf":
				out = append(out, p+": oneOf must match exactly one schema in oneOf")
			case "maximum":
				out = append(out, p+": maximum must be <= "+e.param)
			case "minimum":
				out = append(out, p+": minimum must be >= "+e.param)
			case "pattern":
				out = append(out, p+`: pattern must match pattern "`+e.param+`"`)
			default:
				out = append(out, p+": type must be "+e.param)
			}
		}
		for _, k := range n.keys {
			walk(n.children[k])
		}
	}
	walk(root)
	return out
}

// validateParams checks params against s and returns the service's 400
// answer, or nil when they are valid.
func validateParams(s *schema, params *jsonValue) *serviceError {
	errs := s.validate(params, nil, nil)
	if len(errs) == 0 {
		return nil
	}
	return validationMessages(condense(errs)...)
}

// appendJSString appends s as JavaScript's JSON.stringify writes a string:
// only quotes, backslashes and control characters are escaped.
func appendJSString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if r < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xf])
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return append(b, '"')
}

// jsBigInt parses s as JavaScript's BigInt(string) does. ok is false where
// BigInt throws "Cannot convert s to a BigInt". Values beyond int64 are clamped.
func jsBigInt(s string) (n int64, ok bool) {
	t := strings.TrimFunc(s, isJSSpace)
	if t == "" {
		return 0, true
	}
	base, digits := 10, t
	if len(t) > 2 && t[0] == '0' {
		switch t[1] {
		case 'x', 'X':
			base, digits = 16, t[2:]
		case 'o', 'O':
			base, digits = 8, t[2:]
		case 'b', 'B':
			base, digits = 2, t[2:]
		}
	}
	neg := false
	if base == 10 && (digits[0] == '+' || digits[0] == '-') {
		neg, digits = digits[0] == '-', digits[1:]
	}
	if digits == "" || strings.ContainsAny(digits, "+-_") {
		return 0, false
	}
	v, good := new(big.Int).SetString(digits, base)
	if !good {
		return 0, false
	}
	if neg {
		v.Neg(v)
	}
	switch {
	case v.IsInt64():
		return v.Int64(), true
	case v.Sign() < 0:
		return math.MinInt64, true
	default:
		return math.MaxInt64, true
	}
}

// isJSSpace reports whether r is JavaScript white space or a line terminator.
func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
