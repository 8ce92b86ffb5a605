package pstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	seed := func(srv *Server) {
		t.Helper()
		if err := srv.Update(func(tx *Tx) error {
			for i := range 4 {
				tx.Put("b", "t", fmt.Sprint(i), `{}`)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("status", func(t *testing.T) {
		for _, tt := range []struct {
			status int
			code   string
		}{{500, "PSYNC_S2001"}, {503, "PSYNC_S2003"}, {401, "PSYNC_S2101"}} {
			srv := newTestServer(t)
			srv.Inject(Fault{Status: tt.status, Count: 2})
			for range 2 {
				status, code := decodeError(t, post(t, srv.URL+"/sync/stream", srv.Token("u"), "", syncBody("c", nil)))
				if status != tt.status || code != tt.code {
					t.Errorf("got %d %s, want %d %s", status, code, tt.status, tt.code)
				}
			}
			// The fault is used up.
			openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete()
		}
	})
	t.Run("status on another path", func(t *testing.T) {
		srv := newTestServer(t)
		srv.Inject(Fault{Path: "/write-checkpoint2.json", Status: 500})
		openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete()
		status, _ := decodeError(t, get(t, srv.URL+"/write-checkpoint2.json?client_id=c", srv.Token("u")))
		if status != 500 {
			t.Errorf("status %d", status)
		}
	})
	t.Run("end after lines", func(t *testing.T) {
		srv := newTestServer(t, WithPageSize(1))
		seed(srv)
		srv.Inject(Fault{EndAfterLines: 3})
		s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
		for _, want := range []string{"checkpoint", "data", "data"} {
			if got := lineType(s.mustNext()); got != want {
				t.Fatalf("line %s, want %s", got, want)
			}
		}
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after 3 lines: %v, want EOF", err)
		}
	})
	t.Run("end mid checkpoint", func(t *testing.T) {
		srv := newTestServer(t, WithPageSize(2))
		seed(srv)
		srv.Inject(Fault{EndMidCheckpoint: true})
		s := openStream(t, srv, srv.Token("u"), acceptBSON, syncBody("c", nil))
		s.expect("checkpoint")
		s.expect("data")
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after first data line: %v, want EOF", err)
		}
	})
	t.Run("wrong checksum", func(t *testing.T) {
		srv := newTestServer(t)
		seed(srv)
		srv.Inject(Fault{WrongChecksum: "b"})
		s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
		cp := s.expect("checkpoint")
		sum, _ := srv.BucketChecksum("b")
		got := checksumOf(t, cp["buckets"].([]any)[0].(map[string]any)["checksum"])
		if got == sum {
			t.Fatalf("checksum %d is the real one", got)
		}
		// The next stream is correct again.
		m := newModel(t)
		for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete() {
			m.apply(l)
		}
	})
	t.Run("line delay", func(t *testing.T) {
		srv := newTestServer(t)
		seed(srv)
		srv.Inject(Fault{LineDelay: time.Millisecond})
		m := newModel(t)
		for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete() {
			m.apply(l)
		}
	})
	t.Run("restart", func(t *testing.T) {
		srv := newTestServer(t)
		seed(srv)
		s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
		s.untilComplete()
		if err := srv.WaitStreams(t.Context(), 1); err != nil {
			t.Fatal(err)
		}
		srv.Restart()
		if _, err := s.next(); err == nil {
			t.Fatal("stream still delivers lines after Restart")
		}
		waitNoStreams(t, srv)
		// Data survives; a new stream works.
		m := newModel(t)
		for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete() {
			m.apply(l)
		}
		if len(m.rows()["t"]) != 4 {
			t.Errorf("rows after restart: %v", m.rows())
		}
	})
}

func waitNoStreams(t *testing.T, srv *Server) {
	t.Helper()
	for srv.ActiveStreams() != 0 {
		select {
		case <-t.Context().Done():
			t.Fatal("streams did not end")
		case <-time.After(time.Millisecond):
		}
	}
}

// A client that synced before compaction and one that syncs after both end
// with the same rows and valid checksums, also when the compacted bucket
// changes further.
func TestCompactionKeepsClientsValid(t *testing.T) {
	srv := newTestServer(t, WithPageSize(3))
	if err := srv.Update(func(tx *Tx) error {
		for i := range 6 {
			tx.SetRow("t", fmt.Sprint(i%3), map[string]any{"v": i})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.DeleteRow("t", "0"); err != nil {
		t.Fatal(err)
	}
	early := newModel(t)
	for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete() {
		early.apply(l)
	}
	// A client that read only ops up to 2 resumes after compaction.
	partial := newModel(t)
	ps := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
	partial.apply(ps.mustNext())
	partial.apply(ps.mustNext()) // first data page: ops 1..3
	ps.resp.Body.Close()

	srv.Compact()
	kinds := map[string]int{}
	for _, o := range srv.BucketOps(DefaultBucket) {
		kinds[o.Op]++
	}
	if kinds[OpClear] != 1 || kinds[OpPut] != 2 {
		t.Fatalf("compacted op kinds %v", kinds)
	}
	if err := srv.SetRow("t", "1", map[string]any{"v": "new"}); err != nil {
		t.Fatal(err)
	}

	late := newModel(t)
	for _, l := range openStream(t, srv, srv.Token("u"), acceptBSON, syncBody("c", nil)).untilComplete() {
		late.apply(l)
	}
	for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", map[string]any{"buckets": early.bucketRequest()})).untilComplete() {
		early.apply(l)
	}
	for _, l := range openStream(t, srv, srv.Token("u"), "", syncBody("c", map[string]any{"buckets": partial.bucketRequest()})).untilComplete() {
		partial.apply(l)
	}
	want := srv.SyncedRows("u")
	for name, m := range map[string]*model{"early": early, "late": late, "partial": partial} {
		if !reflect.DeepEqual(m.rows(), want) {
			t.Errorf("%s client rows %v, server %v", name, m.rows(), want)
		}
	}
}

func TestWriteCheckpoints(t *testing.T) {
	srv := newTestServer(t)
	tok := srv.Token("u")
	s := openStream(t, srv, tok, "", syncBody("client-1", nil))
	s.untilComplete()

	resp := get(t, srv.URL+"/write-checkpoint2.json?client_id=client-1", tok)
	var wc struct {
		Data struct {
			WriteCheckpoint string `json:"write_checkpoint"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&wc); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if wc.Data.WriteCheckpoint != "1" {
		t.Fatalf("write checkpoint %q, want \"1\"", wc.Data.WriteCheckpoint)
	}
	lines := s.untilComplete()
	diff := lines[0]["checkpoint_diff"].(map[string]any)
	if diff["write_checkpoint"] != "1" || len(diff["updated_buckets"].([]any)) != 0 {
		t.Fatalf("diff after write checkpoint = %v", diff)
	}
	// Another client of the same user is not affected.
	s2 := openStream(t, srv, tok, "", syncBody("client-2", nil))
	if cp := s2.expect("checkpoint"); cp["write_checkpoint"] != nil {
		t.Errorf("client-2 got write checkpoint %v", cp["write_checkpoint"])
	}

	// Checkpoint requests: the larger id wins; ids below 1 are rejected.
	for _, tt := range []struct {
		id   any
		want string
		code int
	}{
		{"5", "5", 200}, {3, "5", 200}, {"9", "9", 200}, {0, "", 400}, {"x", "", 400},
	} {
		resp := post(t, srv.URL+"/sync/checkpoint-request", tok, "", map[string]any{"client_id": "client-1", "checkpoint_request_id": tt.id})
		if resp.StatusCode != tt.code {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Fatalf("id %v: status %d: %s", tt.id, resp.StatusCode, b)
		}
		if tt.code != 200 {
			resp.Body.Close()
			continue
		}
		var body struct {
			Data struct {
				ID string `json:"checkpoint_request_id"`
			} `json:"data"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.Data.ID != tt.want {
			t.Errorf("id %v: got %q, want %q", tt.id, body.Data.ID, tt.want)
		}
	}
	var last map[string]any
	for last == nil || last["write_checkpoint"] != "9" {
		last = s.untilComplete()[0]["checkpoint_diff"].(map[string]any)
	}
}

func TestSyncStreams(t *testing.T) {
	srv := newTestServer(t, WithStreams(
		Stream{Name: "global", Default: true, Buckets: func(Subscription) ([]string, error) { return []string{"global[]"}, nil }},
		Stream{Name: "mine", Default: true, Buckets: func(s Subscription) ([]string, error) {
			return []string{fmt.Sprintf("mine[%q]", s.UserID)}, nil
		}},
		Stream{Name: "list", Buckets: func(s Subscription) ([]string, error) {
			p, _ := s.Parameters.(map[string]any)
			id, ok := p["list"].(string)
			if !ok {
				return nil, errors.New("parameter list is required")
			}
			return []string{fmt.Sprintf("list[%q]", id)}, nil
		}},
	))
	if err := srv.Update(func(tx *Tx) error {
		tx.Put("global[]", "g", "1", `{}`)
		tx.Put(`mine["u"]`, "m", "1", `{}`)
		tx.Put(`mine["other"]`, "m", "2", `{}`)
		tx.Put(`list["a"]`, "l", "a", `{}`)
		tx.Put(`list["b"]`, "l", "b", `{}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	type sub = map[string]any
	body := syncBody("c", map[string]any{"streams": map[string]any{
		"include_defaults": true,
		"subscriptions": []any{
			sub{"stream": "list", "parameters": sub{"list": "a"}, "override_priority": 1},
			sub{"stream": "list", "parameters": nil, "override_priority": nil},
			sub{"stream": "nope", "parameters": nil, "override_priority": nil},
			sub{"stream": "mine", "parameters": nil, "override_priority": nil},
		},
	}})
	s := openStream(t, srv, srv.Token("u"), acceptBSON, body)
	m := newModel(t)
	lines := s.untilComplete()
	for _, l := range lines {
		m.apply(l)
	}
	cp := lines[0]["checkpoint"].(map[string]any)
	wantStreams := []any{
		map[string]any{"name": "global", "is_default": true, "errors": []any{}},
		map[string]any{"name": "mine", "is_default": true, "errors": []any{}},
		map[string]any{"name": "list", "is_default": false, "errors": []any{
			map[string]any{"subscription": float64(1), "message": "parameter list is required"}}},
		// Like the service, a subscription to an undefined stream ("nope") is ignored.
	}
	if !reflect.DeepEqual(cp["streams"], wantStreams) {
		t.Errorf("streams = %v\nwant %v", cp["streams"], wantStreams)
	}
	got := map[string]string{}
	for _, b := range cp["buckets"].([]any) {
		bm := b.(map[string]any)
		subs, _ := json.Marshal(bm["subscriptions"])
		got[bm["bucket"].(string)] = fmt.Sprint(bm["priority"], " ", string(subs))
	}
	want := map[string]string{
		"global[]":  `3 [{"default":0}]`,
		`mine["u"]`: `3 [{"sub":3},{"default":1}]`, // explicit subscriptions first, as the service lists them
		`list["a"]`: `1 [{"sub":0}]`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("buckets = %v\nwant %v", got, want)
	}
	// Priority 1 (list a) is sent first with its partial completion.
	if lineType(lines[1]) != "data" || lines[1]["data"].(map[string]any)["bucket"] != `list["a"]` ||
		lineType(lines[2]) != "partial_checkpoint_complete" {
		t.Errorf("first lines %v %v", lines[1], lines[2])
	}

	// Without defaults only explicit subscriptions count.
	s2 := openStream(t, srv, srv.Token("u"), "", syncBody("c", map[string]any{"streams": map[string]any{
		"include_defaults": false, "subscriptions": []any{sub{"stream": "list", "parameters": sub{"list": "b"}, "override_priority": nil}}}}))
	cp2 := s2.expect("checkpoint")
	if n := len(cp2["buckets"].([]any)); n != 1 {
		t.Errorf("buckets without defaults: %v", cp2["buckets"])
	}
	// SyncedRows follows the default streams.
	if rows := srv.SyncedRows("u"); len(rows) != 2 || rows["g"] == nil || rows["m"]["1"] == "" {
		t.Errorf("SyncedRows = %v", rows)
	}
}

func TestUploadRoundTrip(t *testing.T) {
	srv := newTestServer(t)
	tok := srv.Token("u")
	s := openStream(t, srv, tok, "", syncBody("c1", nil))
	m := newModel(t)
	for _, l := range s.untilComplete() {
		m.apply(l)
	}
	batch := UploadRequest{ClientID: "c1", Batch: []CrudEntry{
		{OpID: 1, TxID: 1, Op: "PUT", Type: "todos", ID: "t1", Data: map[string]any{"title": "a", "n": json.Number("12345678901234567")}},
		{OpID: 2, TxID: 1, Op: "PUT", Type: "todos", ID: "t2", Data: map[string]any{"title": "b"}},
		{OpID: 3, TxID: 2, Op: "PATCH", Type: "todos", ID: "t1", Data: map[string]any{"done": true}},
		{OpID: 4, TxID: 3, Op: "DELETE", Type: "todos", ID: "t2"},
	}}
	resp := post(t, srv.URL+"/upload", tok, "", batch)
	var res struct {
		Data UploadResult `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if res.Data.WriteCheckpoint != "1" || res.Data.Applied != 4 {
		t.Fatalf("upload result %+v", res.Data)
	}
	row, ok := srv.Row("todos", "t1")
	// A boolean column reaches Postgres and comes back as the service sends it: 1.
	if !ok || row["done"] != 1 || row["title"] != "a" {
		t.Errorf("row t1 = %v", row)
	}
	if _, ok := srv.Row("todos", "t2"); ok {
		t.Error("t2 still exists after DELETE")
	}
	if srv.AppliedCount("todos", "t1") != 2 || srv.AppliedCount("todos", "t2") != 2 || srv.AppliedCount("todos", "t3") != 0 {
		t.Errorf("applied counts %d %d", srv.AppliedCount("todos", "t1"), srv.AppliedCount("todos", "t2"))
	}
	if got := len(srv.Uploads()); got != 4 {
		t.Errorf("Uploads() has %d entries", got)
	}
	// The change streams back, with the write checkpoint.
	for m.wc != "1" || len(m.rows()["todos"]) != 1 {
		for _, l := range s.untilComplete() {
			m.apply(l)
		}
	}
	if d := m.rows()["todos"]["t1"]; d != `{"done":1,"n":12345678901234567,"title":"a"}` {
		t.Errorf("synced t1 = %s", d)
	}

	// Bad batches change nothing.
	before := srv.LastOpID()
	for _, bad := range []string{
		`{"batch":[{"op":"PUT","type":"todos","id":"x"},{"op":"UPSERT","type":"todos","id":"y"}]}`,
		`{"batch":[{"op":"PUT","type":"","id":"x"}]}`,
		`not json`,
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/upload", strings.NewReader(bad))
		req.Header.Set("Authorization", "Token "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if status, code := decodeError(t, resp); status != 400 || code != "PSYNC_S2001" {
			t.Errorf("%s: %d %s", bad, status, code)
		}
	}
	if srv.LastOpID() != before {
		t.Error("a rejected batch changed data")
	}

	// The Go API does the same.
	if _, err := srv.ApplyBatch(t.Context(), "u", "", []CrudEntry{{OpID: 5, Op: "DELETE", Type: "todos", ID: "t1"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := srv.Row("todos", "t1"); ok {
		t.Error("ApplyBatch DELETE did not delete")
	}
}

func TestUpdateIsAtomic(t *testing.T) {
	srv := newTestServer(t)
	err := srv.Update(func(tx *Tx) error {
		tx.Put("b", "t", "1", `{}`)
		tx.Put("b", "t", "2", `[1]`)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "JSON object") {
		t.Fatalf("err = %v", err)
	}
	wantErr := errors.New("boom")
	if err := srv.Update(func(tx *Tx) error { tx.Put("b", "t", "1", `{}`); return wantErr }); !errors.Is(err, wantErr) {
		t.Fatalf("err = %v", err)
	}
	if srv.LastOpID() != 0 || len(srv.Buckets()) != 0 {
		t.Fatalf("failed updates changed data: last op %d, buckets %v", srv.LastOpID(), srv.Buckets())
	}
	if err := srv.SetPriority("b", -1); err == nil {
		t.Fatal("negative priority accepted")
	}
}

func TestLoadSeed(t *testing.T) {
	srv := newTestServer(t)
	err := srv.LoadSeed(strings.NewReader(`{"priorities": {"lists[]": 0},
		"rows": [{"table": "todos", "id": "t1", "data": {"title": "a"}}],
		"ops": [{"bucket": "lists[]", "table": "lists", "id": "l1", "data": {"name": "x"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	rows := srv.SyncedRows("anyone")
	if rows["todos"]["t1"] != `{"title":"a"}` || rows["lists"]["l1"] != `{"name":"x"}` {
		t.Errorf("rows = %v", rows)
	}
	if err := srv.LoadSeed(strings.NewReader(`{"rowz": []}`)); err == nil {
		t.Error("unknown seed field accepted")
	}
}

func TestNotFound(t *testing.T) {
	srv := newTestServer(t)
	status, code := decodeError(t, get(t, srv.URL+"/nope", ""))
	if status != 404 || code != "PSYNC_S2002" {
		t.Errorf("got %d %s", status, code)
	}
}

// Close ends live streams and leaves no goroutine behind.
func TestCloseStopsEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	srv := NewServer(WithKeepalive(time.Millisecond))
	if err := srv.SetRow("t", "1", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var streams []*stream
	for range 3 {
		resp := post(t, srv.URL+"/sync/stream", srv.Token("u"), "", syncBody("c", nil))
		streams = append(streams, &stream{t: t, resp: resp})
	}
	if err := srv.WaitStreams(ctx, 3); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if n := srv.ActiveStreams(); n != 0 {
		t.Errorf("%d streams still registered after Close", n)
	}
	for _, s := range streams {
		_, _ = io.Copy(io.Discard, s.resp.Body) // ends: the server closed the stream
		s.resp.Body.Close()
	}
	http.DefaultClient.CloseIdleConnections()
	// Requests after Close fail.
	if _, err := http.Get(srv.URL + "/sync/stream"); err == nil {
		t.Error("request after Close succeeded")
	}
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			break
		}
		select {
		case <-t.Context().Done():
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
		case <-time.After(5 * time.Millisecond):
		}
	}
	srv.Close() // idempotent
}

func TestWantsBSON(t *testing.T) {
	for _, tt := range []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"application/x-ndjson", false},
		{acceptBSON, true},
		{"application/vnd.powersync.bson-stream", true},
		{"application/x-ndjson;q=1, application/vnd.powersync.bson-stream;q=0.5", false},
		{"application/vnd.powersync.bson-stream;q=0", false},
		{"*/*", false},
	} {
		if got := wantsBSON(tt.accept); got != tt.want {
			t.Errorf("wantsBSON(%q) = %v", tt.accept, got)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "ctl\x00\x1f\n\r\t", "☃ \u2028", "bad\xffutf8"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q -> %s -> %q", s, got, back)
		}
	}
	if !slices.Equal(appendJSONString([]byte("x"), "a"), []byte(`x"a"`)) {
		t.Error("does not append")
	}
}
