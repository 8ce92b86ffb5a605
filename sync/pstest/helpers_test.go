package pstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/gopowersync/powersync/internal/bson"
)

const acceptBSON = "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8"

// stream is a test client's view of one POST /sync/stream response.
type stream struct {
	t    *testing.T
	resp *http.Response
	br   *bufio.Reader
	bson bool
}

// syncBody is a default sync request body.
func syncBody(clientID string, extra map[string]any) map[string]any {
	b := map[string]any{"buckets": []any{}, "include_checksum": true, "raw_data": true, "binary_data": true,
		"client_id": clientID, "parameters": map[string]any{}}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func post(t *testing.T, url, token, accept string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func openStream(t *testing.T, srv *Server, token, accept string, body any) *stream {
	t.Helper()
	resp := post(t, srv.URL+"/sync/stream", token, accept, body)
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("sync stream: status %d: %s", resp.StatusCode, b)
	}
	return &stream{t: t, resp: resp, br: bufio.NewReader(resp.Body),
		bson: resp.Header.Get("Content-Type") == ContentTypeBSON}
}

// next returns the next line as JSON-like values (numbers as float64), or
// io.EOF when the stream ended.
func (s *stream) next() (map[string]any, error) {
	if s.bson {
		doc, err := bson.ReadDocument(s.br, nil, 16<<20)
		if err != nil {
			return nil, err
		}
		m, err := bson.Decode(doc)
		if err != nil {
			return nil, err
		}
		return jsonish(m).(map[string]any), nil
	}
	for {
		line, err := s.br.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		return m, nil
	}
}

func (s *stream) mustNext() map[string]any {
	s.t.Helper()
	m, err := s.next()
	if err != nil {
		s.t.Fatalf("reading line: %v", err)
	}
	return m
}

// expect reads the next line and checks its type.
func (s *stream) expect(kind string) map[string]any {
	s.t.Helper()
	m := s.mustNext()
	if lineType(m) != kind {
		s.t.Fatalf("line = %v, want a %s line", m, kind)
	}
	return m[kind].(map[string]any)
}

// untilComplete reads lines up to and including checkpoint_complete.
func (s *stream) untilComplete() []map[string]any {
	s.t.Helper()
	var out []map[string]any
	for {
		m := s.mustNext()
		out = append(out, m)
		if lineType(m) == "checkpoint_complete" {
			return out
		}
	}
}

func lineType(m map[string]any) string {
	for k := range m {
		return k
	}
	return ""
}

// jsonish converts decoded BSON into the shapes encoding/json produces.
func jsonish(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonish(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonish(e)
		}
		return x
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	}
	return v
}

// model is a minimal protocol-level client: it keeps per-bucket checksum
// accumulators and rows exactly as the sync protocol specifies, to check
// that what the server sends is consistent.
type model struct {
	t          *testing.T
	buckets    map[string]*modelBucket
	checkpoint map[string]modelTarget
	lastOpID   string
	wc         string
	completed  int
	partial    []int
}

type modelTarget struct {
	checksum uint32
	count    int
	priority int
}

type modelBucket struct {
	opSum, addSum uint32
	ops           map[string]modelOp // key -> stored PUT
	after         string
}

type modelOp struct {
	checksum uint32
	data     string
	table    string
	id       string
}

func newModel(t *testing.T) *model {
	return &model{t: t, buckets: map[string]*modelBucket{}}
}

func checksumOf(t *testing.T, v any) uint32 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("checksum %v (%T) is not a number", v, v)
	}
	return uint32(int64(f))
}

// apply feeds one line to the model; it fails the test on a checksum mismatch.
func (m *model) apply(line map[string]any) {
	t := m.t
	t.Helper()
	switch k := lineType(line); k {
	case "checkpoint", "checkpoint_diff":
		body := line[k].(map[string]any)
		if k == "checkpoint" {
			m.checkpoint = map[string]modelTarget{}
		}
		m.lastOpID = body["last_op_id"].(string)
		m.wc, _ = body["write_checkpoint"].(string)
		list := body["buckets"]
		if k == "checkpoint_diff" {
			list = body["updated_buckets"]
			for _, r := range body["removed_buckets"].([]any) {
				delete(m.checkpoint, r.(string))
				delete(m.buckets, r.(string))
			}
		}
		for _, b := range list.([]any) {
			bm := b.(map[string]any)
			m.checkpoint[bm["bucket"].(string)] = modelTarget{checksum: checksumOf(t, bm["checksum"]),
				count: int(bm["count"].(float64)), priority: int(bm["priority"].(float64))}
		}
		if k == "checkpoint" {
			for n := range m.buckets {
				if _, ok := m.checkpoint[n]; !ok {
					delete(m.buckets, n)
				}
			}
		}
	case "data":
		body := line["data"].(map[string]any)
		name := body["bucket"].(string)
		b := m.buckets[name]
		if b == nil {
			b = &modelBucket{ops: map[string]modelOp{}}
			m.buckets[name] = b
		}
		for _, o := range body["data"].([]any) {
			om := o.(map[string]any)
			if _, ok := om["op_id"].(string); !ok {
				t.Fatalf("op_id %v is not a string", om["op_id"])
			}
			cs := checksumOf(t, om["checksum"])
			key := fmt.Sprint(om["object_type"], "/", om["object_id"], "/", om["subkey"])
			switch om["op"] {
			case "PUT":
				if old, ok := b.ops[key]; ok {
					b.opSum -= old.checksum
					b.addSum += old.checksum
				}
				data, ok := om["data"].(string)
				if !ok {
					t.Fatalf("PUT data %v is not a string", om["data"])
				}
				b.ops[key] = modelOp{checksum: cs, data: data, table: om["object_type"].(string), id: om["object_id"].(string)}
				b.opSum += cs
			case "REMOVE":
				if old, ok := b.ops[key]; ok {
					b.opSum -= old.checksum
					b.addSum += old.checksum
					delete(b.ops, key)
				}
				b.addSum += cs
			case "MOVE":
				b.addSum += cs
			case "CLEAR":
				b.ops = map[string]modelOp{}
				b.opSum = 0
				b.addSum = cs
			default:
				t.Fatalf("unknown op %v", om["op"])
			}
			b.after = om["op_id"].(string)
		}
	case "checkpoint_complete":
		m.validate(-1)
		m.completed++
	case "partial_checkpoint_complete":
		p := int(line[k].(map[string]any)["priority"].(float64))
		m.validate(p)
		m.partial = append(m.partial, p)
	}
}

func (m *model) validate(priority int) {
	m.t.Helper()
	for name, want := range m.checkpoint {
		if priority >= 0 && want.priority > priority {
			continue
		}
		var got uint32
		if b := m.buckets[name]; b != nil {
			got = b.opSum + b.addSum
		}
		if got != want.checksum {
			m.t.Fatalf("bucket %s: checksum %d after ops, checkpoint says %d", name, got, want.checksum)
		}
	}
}

// rows returns table -> id -> data over all buckets.
func (m *model) rows() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, b := range m.buckets {
		for _, o := range b.ops {
			if out[o.table] == nil {
				out[o.table] = map[string]string{}
			}
			out[o.table][o.id] = o.data
		}
	}
	return out
}

// bucketRequest is the "buckets" a client with this model would send.
func (m *model) bucketRequest() []any {
	var out []any
	for name, b := range m.buckets {
		out = append(out, map[string]any{"name": name, "after": b.after})
	}
	return out
}

func decodeError(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	var body struct {
		Error struct {
			Code   string `json:"code"`
			Status int    `json:"status"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %q: %v", b, err)
	}
	if body.Error.Status != resp.StatusCode {
		t.Errorf("error status %d, HTTP status %d", body.Error.Status, resp.StatusCode)
	}
	return resp.StatusCode, body.Error.Code
}

func opIDs(line map[string]any) []string {
	var ids []string
	for _, o := range line["data"].(map[string]any)["data"].([]any) {
		ids = append(ids, o.(map[string]any)["op_id"].(string))
	}
	return ids
}
