package pstest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func newTestServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	srv := NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// Checksum vectors of the sync protocol, as the official core and service
// compute them (docs/sync.md, "Storing operations and checksums").
func TestChecksumVectors(t *testing.T) {
	puts := []struct {
		table, id, data string
		want            uint32
	}{
		{"test", "t1", `{"id":"t1"}`, 2634521662},
		{"test", "t2", `{"id":"t2"}`, 4243212114},
		{"test", "t3", `{"id":"t3"}`, 835931773},
		{"items", "1", `{"col":"hi"}`, 1830411594},
	}
	for _, tt := range puts {
		if got := PutChecksum(tt.table, tt.id, tt.data); got != tt.want {
			t.Errorf("PutChecksum(%s, %s, %s) = %d, want %d", tt.table, tt.id, tt.data, got, tt.want)
		}
	}
	removes := []struct {
		subkey string
		want   uint32
	}{
		{"6544e3899293153fa7b38331/117ab485-4b42-58a2-ab32-0053a22c3423", 4228978084},
		{"6544e3899293153fa7b38331/ec27c691-b47a-5d92-927a-9944feb89eee", 2635407638},
	}
	for _, tt := range removes {
		if got := RemoveChecksum(tt.subkey); got != tt.want {
			t.Errorf("RemoveChecksum(%s) = %d, want %d", tt.subkey, got, tt.want)
		}
	}
}

// A bucket of PUT t1, PUT t2, REMOVE t1, PUT t2 -> checksum
// 2465022086 (sent signed as -1829945210); compacted to CLEAR (2516777268,
// signed -1778190028) + PUT t2 with the same bucket checksum.
func TestBucketChecksumAndCompactionVector(t *testing.T) {
	st := newStore()
	b := st.bucket("global[]")
	add := func(o op) { st.appendOp(b, o) }
	add(op{kind: OpPut, table: "test", rowID: "t1", data: `{"id":"t1"}`, checksum: 2634521662})
	add(op{kind: OpPut, table: "test", rowID: "t2", data: `{"id":"t2"}`, checksum: 4243212114})
	add(op{kind: OpRemove, table: "test", rowID: "t1", checksum: 4228978084})
	add(op{kind: OpPut, table: "test", rowID: "t2", data: `{"id":"t2"}`, checksum: 4243212114})
	if b.checksum != 2465022086 || int32(b.checksum) != -1829945210 {
		t.Fatalf("bucket checksum = %d (%d signed), want 2465022086 (-1829945210)", b.checksum, int32(b.checksum))
	}
	b.compact()
	want := []op{
		{id: 3, kind: OpClear, checksum: 2516777268},
		{id: 4, kind: OpPut, table: "test", rowID: "t2", data: `{"id":"t2"}`, checksum: 4243212114},
	}
	if !reflect.DeepEqual(b.ops, want) {
		t.Fatalf("compacted ops = %+v, want %+v", b.ops, want)
	}
	if int32(b.ops[0].checksum) != -1778190028 {
		t.Errorf("CLEAR checksum signed = %d, want -1778190028", int32(b.ops[0].checksum))
	}
	var sum uint32
	for _, o := range b.ops {
		sum += o.checksum
	}
	if sum != b.checksum {
		t.Errorf("compacted ops sum to %d, bucket checksum %d", sum, b.checksum)
	}
}

func TestCompactMoves(t *testing.T) {
	st := newStore()
	b := st.bucket("b")
	st.put("b", "t", "1", `{"v":1}`)
	st.put("b", "t", "2", `{"v":1}`)
	st.put("b", "t", "1", `{"v":2}`)
	sum := b.checksum
	b.compact()
	kinds := []string{}
	for _, o := range b.ops {
		kinds = append(kinds, o.kind)
	}
	// op 1 is superseded -> MOVE, which alone at the start becomes a CLEAR.
	if !slices.Equal(kinds, []string{OpClear, OpPut, OpPut}) {
		t.Fatalf("kinds = %v", kinds)
	}
	st.put("b", "t", "3", `{}`)
	st.put("b", "t", "3", `{"x":1}`)
	b.compact()
	kinds = kinds[:0]
	for _, o := range b.ops {
		kinds = append(kinds, o.kind)
	}
	if !slices.Equal(kinds, []string{OpClear, OpPut, OpPut, OpMove, OpPut}) {
		t.Fatalf("kinds = %v", kinds)
	}
	var got uint32
	for _, o := range b.ops {
		got += o.checksum
	}
	if got != b.checksum || b.checksum == sum {
		t.Fatalf("checksums: ops %d, bucket %d", got, b.checksum)
	}
}

func TestSubkeyShape(t *testing.T) {
	sk := Subkey("todos", "t1")
	table, uuid, ok := strings.Cut(sk, "/")
	if !ok || len(table) != 24 || len(uuid) != 36 || uuid[14] != '5' {
		t.Fatalf("Subkey = %q", sk)
	}
	if Subkey("todos", "t1") != sk || Subkey("todos", "t2") == sk {
		t.Fatal("Subkey is not a deterministic function of (table, id)")
	}
}

func TestInitialSyncLines(t *testing.T) {
	for _, accept := range []string{"", acceptBSON} {
		t.Run("accept="+accept, func(t *testing.T) {
			srv := newTestServer(t)
			if err := srv.Update(func(tx *Tx) error {
				tx.SetRow("todos", "t1", map[string]any{"title": "a", "done": false})
				tx.SetRow("todos", "t2", map[string]any{"title": "b\n\"quoted\" ☃"})
				tx.Put("lists[]", "lists", "l1", `{"name":"x"}`)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			s := openStream(t, srv, srv.Token("u1"), accept, syncBody("c1", nil))
			wantCT := ContentTypeNDJSON
			if accept != "" {
				wantCT = ContentTypeBSON
			}
			if ct := s.resp.Header.Get("Content-Type"); ct != wantCT {
				t.Fatalf("Content-Type = %q, want %q", ct, wantCT)
			}
			m := newModel(t)
			lines := s.untilComplete()
			for _, l := range lines {
				m.apply(l)
			}
			cp := lines[0]["checkpoint"].(map[string]any)
			if cp["last_op_id"] != "3" {
				t.Errorf("last_op_id = %v, want \"3\"", cp["last_op_id"])
			}
			if _, ok := cp["write_checkpoint"]; ok {
				t.Errorf("write_checkpoint present without one: %v", cp["write_checkpoint"])
			}
			var names []string
			for _, b := range cp["buckets"].([]any) {
				bm := b.(map[string]any)
				names = append(names, bm["bucket"].(string))
				if bm["priority"] != float64(3) || bm["count"] == nil {
					t.Errorf("bucket entry %v lacks priority 3 / count", bm)
				}
			}
			if !slices.Equal(names, []string{"global[]", "lists[]"}) {
				t.Errorf("buckets = %v", names)
			}
			if got := lineType(lines[len(lines)-1]); got != "checkpoint_complete" {
				t.Errorf("last line %s", got)
			}
			if m.completed != 1 {
				t.Fatalf("completed = %d", m.completed)
			}
			if want := srv.SyncedRows("u1"); !reflect.DeepEqual(m.rows(), want) {
				t.Errorf("client rows %v, server rows %v", m.rows(), want)
			}
			// Each PUT carries the service's checksum and a subkey.
			data := lines[1]["data"].(map[string]any)
			o := data["data"].([]any)[0].(map[string]any)
			if checksumOf(t, o["checksum"]) != PutChecksum(o["object_type"].(string), o["object_id"].(string), o["data"].(string)) {
				t.Errorf("op checksum %v does not match PutChecksum", o["checksum"])
			}
			if o["subkey"] != Subkey(o["object_type"].(string), o["object_id"].(string)) {
				t.Errorf("subkey = %v", o["subkey"])
			}
		})
	}
}

// The NDJSON and BSON streams carry the same lines.
func TestBSONMatchesNDJSON(t *testing.T) {
	srv := newTestServer(t, WithPageSize(2))
	for i := range 5 {
		if err := srv.SetRow("items", fmt.Sprint("i", i), map[string]any{"n": i, "big": 1 << 40, "f": 1.5}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Compact()
	tok := srv.Token("u")
	a := openStream(t, srv, tok, "", syncBody("c", nil)).untilComplete()
	b := openStream(t, srv, tok, acceptBSON, syncBody("c", nil)).untilComplete()
	// Checksums differ in representation (signed vs unsigned, int32 vs
	// double), so compare through the model and line by line otherwise.
	norm := func(lines []map[string]any) string {
		out, _ := json.Marshal(lines)
		return string(out)
	}
	if norm(a) != norm(b) {
		t.Errorf("NDJSON lines:\n%s\nBSON lines:\n%s", norm(a), norm(b))
	}
}

func TestRawDataFalseEmbedsObjects(t *testing.T) {
	srv := newTestServer(t)
	if err := srv.SetRow("todos", "t1", map[string]any{"title": "a"}); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, srv, srv.Token("u"), "", syncBody("c", map[string]any{"raw_data": false}))
	s.expect("checkpoint")
	data := s.expect("data")
	o := data["data"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(o["data"], map[string]any{"title": "a"}) {
		t.Errorf("data = %#v, want an embedded object", o["data"])
	}
}

func TestPaging(t *testing.T) {
	srv := newTestServer(t, WithPageSize(2))
	if err := srv.Update(func(tx *Tx) error {
		for i := range 5 {
			tx.Put("b", "t", fmt.Sprint(i), map[string]int{"i": i})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
	lines := s.untilComplete()
	type page struct {
		after, next string
		more        bool
		ids         []string
	}
	var got []page
	for _, l := range lines {
		if lineType(l) != "data" {
			continue
		}
		d := l["data"].(map[string]any)
		got = append(got, page{d["after"].(string), d["next_after"].(string), d["has_more"].(bool), opIDs(l)})
	}
	want := []page{
		{"0", "2", true, []string{"1", "2"}},
		{"2", "4", true, []string{"3", "4"}},
		{"4", "5", false, []string{"5"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %+v\nwant %+v", got, want)
	}

	// A client resuming at op 3 only gets ops 4 and 5.
	s2 := openStream(t, srv, srv.Token("u"), "", syncBody("c", map[string]any{
		"buckets": []any{map[string]any{"name": "b", "after": "3"}}}))
	s2.expect("checkpoint")
	if ids := opIDs(map[string]any{"data": s2.expect("data")}); !slices.Equal(ids, []string{"4", "5"}) {
		t.Errorf("resumed ops = %v", ids)
	}
	s2.expect("checkpoint_complete")
}

func TestLiveChangesAsDiffs(t *testing.T) {
	srv := newTestServer(t)
	if err := srv.SetRow("todos", "t1", map[string]any{"title": "a"}); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, srv, srv.Token("u"), acceptBSON, syncBody("c", nil))
	m := newModel(t)
	for _, l := range s.untilComplete() {
		m.apply(l)
	}

	if err := srv.SetRow("todos", "t2", map[string]any{"title": "b"}); err != nil {
		t.Fatal(err)
	}
	lines := s.untilComplete()
	for _, l := range lines {
		m.apply(l)
	}
	diff := lines[0]["checkpoint_diff"].(map[string]any)
	if diff["last_op_id"] != "2" || len(diff["updated_buckets"].([]any)) != 1 || len(diff["removed_buckets"].([]any)) != 0 {
		t.Fatalf("diff = %v", diff)
	}
	if ids := opIDs(lines[1]); !slices.Equal(ids, []string{"2"}) {
		t.Errorf("data after diff = %v, want only op 2", ids)
	}

	// A delete is a REMOVE op.
	if err := srv.DeleteRow("todos", "t1"); err != nil {
		t.Fatal(err)
	}
	lines = s.untilComplete()
	for _, l := range lines {
		m.apply(l)
	}
	o := lines[1]["data"].(map[string]any)["data"].([]any)[0].(map[string]any)
	if o["op"] != "REMOVE" || o["object_id"] != "t1" || checksumOf(t, o["checksum"]) != RemoveChecksum(Subkey("todos", "t1")) {
		t.Errorf("remove op = %v", o)
	}
	if want := srv.SyncedRows("u"); !reflect.DeepEqual(m.rows(), want) {
		t.Errorf("client rows %v, server rows %v", m.rows(), want)
	}

	// A row moving out of a user's buckets removes the bucket.
	srv2 := newTestServer(t, WithRowBuckets(func(r Row) []string {
		return []string{fmt.Sprintf("owner[%q]", r.Data["owner"])}
	}), WithUserBuckets(func(c Client) []string { return []string{fmt.Sprintf("owner[%q]", c.UserID)} }))
	if err := srv2.SetRow("todos", "t1", map[string]any{"owner": "u"}); err != nil {
		t.Fatal(err)
	}
	s2 := openStream(t, srv2, srv2.Token("u"), "", syncBody("c", nil))
	m2 := newModel(t)
	for _, l := range s2.untilComplete() {
		m2.apply(l)
	}
	if len(m2.rows()["todos"]) != 1 {
		t.Fatalf("rows = %v", m2.rows())
	}
	if err := srv2.SetRow("todos", "t1", map[string]any{"owner": "other"}); err != nil {
		t.Fatal(err)
	}
	for _, l := range s2.untilComplete() {
		m2.apply(l)
	}
	if len(m2.rows()["todos"]) != 0 {
		t.Fatalf("after the row left the user's bucket: rows = %v", m2.rows())
	}
}

func TestPriorities(t *testing.T) {
	srv := newTestServer(t)
	if err := srv.Update(func(tx *Tx) error {
		for i, p := range []int{3, 0, 1, 0} {
			b := fmt.Sprint("prio", p, "_", i)
			tx.SetPriority(b, p)
			tx.Put(b, "items", fmt.Sprint("row-", i), map[string]int{"i": i})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, srv, srv.Token("u"), "", syncBody("c", nil))
	m := newModel(t)
	var seq []string
	for _, l := range s.untilComplete() {
		m.apply(l)
		switch k := lineType(l); k {
		case "data":
			seq = append(seq, l[k].(map[string]any)["bucket"].(string))
		case "partial_checkpoint_complete":
			seq = append(seq, fmt.Sprint("partial ", l[k].(map[string]any)["priority"]))
		default:
			seq = append(seq, k)
		}
	}
	want := []string{"checkpoint", "prio0_1", "prio0_3", "partial 0", "prio1_2", "partial 1", "prio3_0", "checkpoint_complete"}
	if !slices.Equal(seq, want) {
		t.Errorf("lines = %v\nwant %v", seq, want)
	}
	// A later change to one priority only has no partial line.
	if err := srv.Put("prio1_2", "items", "x", `{}`); err != nil {
		t.Fatal(err)
	}
	seq = seq[:0]
	for _, l := range s.untilComplete() {
		m.apply(l)
		seq = append(seq, lineType(l))
	}
	if !slices.Equal(seq, []string{"checkpoint_diff", "data", "checkpoint_complete"}) {
		t.Errorf("lines = %v", seq)
	}
}

func TestAuthFailures(t *testing.T) {
	secret := []byte("s3cret")
	srv := newTestServer(t, WithSecret(secret))
	now := time.Now()
	mint := func(c Claims) string {
		tok, err := MintToken(secret, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := Claims{Subject: "u", Audience: []string{DefaultAudience}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	with := func(f func(*Claims)) Claims { c := good; f(&c); return c }
	badSig, _ := MintToken([]byte("other"), good)
	// The service's answers (testdata/realservice_requests.json holds them as recorded).
	tests := []struct {
		name   string
		header string
		code   string
		desc   string
	}{
		{"no header", "", "PSYNC_S2106", "Authentication required"},
		{"wrong scheme", "Basic abc", "PSYNC_S2106", "Authentication required"},
		{"not a jwt", "Token abc", "PSYNC_S2101", "Token is not a well-formed JWT. Check the token format."},
		{"bad signature", "Token " + badSig, "PSYNC_S2101", msgNoKey},
		{"expired", "Token " + mint(with(func(c *Claims) { c.IssuedAt = now.Add(-2 * time.Hour); c.ExpiresAt = now.Add(-time.Hour) })),
			"PSYNC_S2103", "JWT has expired"},
		{"lifetime too long", "Token " + mint(with(func(c *Claims) { c.ExpiresAt = now.Add(48 * time.Hour) })),
			"PSYNC_S2104", "Token must expire in a maximum of 86400 seconds, got 172800s"},
		{"wrong audience", "Token " + mint(with(func(c *Claims) { c.Audience = []string{"elsewhere"} })),
			"PSYNC_S2105", `Unexpected "aud" claim value: "elsewhere"`},
		{"no audience", "Token " + mint(with(func(c *Claims) { c.Audience = nil })),
			"PSYNC_S2105", `JWT payload is missing a required claim "aud"`},
		{"no subject", "Token " + mint(with(func(c *Claims) { c.Subject = "" })),
			"PSYNC_S2101", `JWT payload is missing a required claim "sub"`},
		{"no iat", "Token " + mint(with(func(c *Claims) { c.IssuedAt = time.Time{} })),
			"PSYNC_S2101", `JWT payload is missing a required claim "iat"`},
	}
	for _, tt := range tests {
		for _, ep := range []string{"/sync/stream", "/write-checkpoint2.json", "/sync/checkpoint-request", "/upload"} {
			t.Run(tt.name+ep, func(t *testing.T) {
				method := http.MethodPost
				if strings.HasSuffix(ep, ".json") {
					method = http.MethodGet
				}
				req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+ep,
					strings.NewReader(`{"client_id":"c","checkpoint_request_id":"1"}`))
				req.Header.Set("Content-Type", "application/json")
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				want := fmt.Sprintf(`{"error":{"code":%q,"status":401,"description":%s,"name":"wr"}}`, tt.code,
					appendJSString(nil, tt.desc))
				if resp.StatusCode != http.StatusUnauthorized || string(b) != want {
					t.Errorf("got %d %s, want 401 %s", resp.StatusCode, b, want)
				}
			})
		}
	}
	// Bearer works as well as Token, an array audience is accepted, and so
	// is a sub that is not a string.
	for _, tok := range []string{
		mint(with(func(c *Claims) { c.Audience = []string{"x", DefaultAudience} })),
		mint(with(func(c *Claims) { c.Subject = ""; c.Extra = map[string]any{"sub": 5} })),
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/write-checkpoint2.json?client_id=c", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("Bearer token: status %d", resp.StatusCode)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	t.Run("ExpireTokens ends live streams and rejects old tokens", func(t *testing.T) {
		srv := newTestServer(t)
		tok := srv.Token("u")
		s := openStream(t, srv, tok, "", syncBody("c", nil))
		s.untilComplete()
		srv.ExpireTokens()
		if m := s.mustNext(); m["token_expires_in"] != float64(0) {
			t.Fatalf("line after ExpireTokens = %v, want token_expires_in 0", m)
		}
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after token_expires_in 0: %v, want EOF", err)
		}
		status, code := decodeError(t, post(t, srv.URL+"/sync/stream", tok, "", syncBody("c", nil)))
		if status != http.StatusUnauthorized || code != "PSYNC_S2103" {
			t.Errorf("old token: %d %s, want 401 PSYNC_S2103", status, code)
		}
		openStream(t, srv, srv.Token("u"), "", syncBody("c", nil)).untilComplete()
	})
	t.Run("natural expiry", func(t *testing.T) {
		srv := newTestServer(t)
		s := openStream(t, srv, srv.TokenWithTTL("u", 2*time.Second), "", syncBody("c", nil))
		s.untilComplete()
		for {
			m := s.mustNext()
			if v, ok := m["token_expires_in"]; ok && v == float64(0) {
				break
			}
		}
		if _, err := s.next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after token_expires_in 0: %v, want EOF", err)
		}
	})
	t.Run("keepalive", func(t *testing.T) {
		srv := newTestServer(t, WithKeepalive(10*time.Millisecond))
		s := openStream(t, srv, srv.Token("u"), acceptBSON, syncBody("c", nil))
		s.untilComplete()
		m := s.mustNext()
		v, ok := m["token_expires_in"].(float64)
		if !ok || v < 3500 || v > 3600 {
			t.Fatalf("keepalive line %v", m)
		}
	})
}
