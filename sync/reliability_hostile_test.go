package sync

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"

	"github.com/gopowersync/powersync/internal/bson"
	"github.com/gopowersync/powersync/sync/pstest"
)

// script is what a scripted service sends on one sync connection.
type script struct {
	bson   bool
	frames [][]byte // lines (a newline is added) or BSON documents
	hang   bool     // keep the stream open after the frames
}

// scriptedService answers sync connection i with scripts[i] (the last
// script repeats). It lets tests send lines no real service sends.
type scriptedService struct {
	srv *httptest.Server

	mu      gosync.Mutex // guards scripts and n
	scripts []script
	n       int
}

func newScriptedService(t *testing.T, scripts ...script) *scriptedService {
	ss := &scriptedService{scripts: scripts}
	ss.srv = httptest.NewServer(http.HandlerFunc(ss.serve))
	t.Cleanup(ss.srv.Close)
	return ss
}

func (ss *scriptedService) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/sync/stream" {
		http.NotFound(w, r)
		return
	}
	ss.mu.Lock()
	sc := ss.scripts[min(ss.n, len(ss.scripts)-1)]
	ss.n++
	ss.mu.Unlock()
	if sc.bson {
		w.Header().Set("Content-Type", contentBSON)
	} else {
		w.Header().Set("Content-Type", contentNDJSON)
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, f := range sc.frames {
		w.Write(f)
		if !sc.bson {
			w.Write([]byte("\n"))
		}
		rc.Flush()
	}
	if sc.hang {
		<-r.Context().Done()
	}
}

// scriptRow is a row of a scripted bucket.
type scriptRow struct {
	opID  int64
	id    string
	title string // "" = REMOVE
}

// checkpointScript returns the lines of a complete, valid checkpoint of
// one bucket holding rows, and the rows' data texts by id.
func checkpointScript(bucket string, rows ...scriptRow) ([][]byte, map[string]string) {
	var sum uint32
	var last int64
	var ops []map[string]any
	want := map[string]string{}
	for _, r := range rows {
		data := fmt.Sprintf(`{"title":%q}`, r.title)
		op := map[string]any{"op_id": fmt.Sprint(r.opID), "object_type": "todos", "object_id": r.id, "subkey": pstest.Subkey("todos", r.id)}
		if r.title == "" {
			op["op"] = "REMOVE"
			op["checksum"] = pstest.RemoveChecksum(pstest.Subkey("todos", r.id))
			delete(want, r.id)
		} else {
			op["op"] = "PUT"
			op["data"] = data
			op["checksum"] = pstest.PutChecksum("todos", r.id, data)
			want[r.id] = data
		}
		sum += op["checksum"].(uint32)
		last = max(last, r.opID)
		ops = append(ops, op)
	}
	lines := [][]byte{
		mustJSON(map[string]any{"checkpoint": map[string]any{"last_op_id": fmt.Sprint(last), "write_checkpoint": nil,
			"buckets": []any{map[string]any{"bucket": bucket, "checksum": int32(sum), "priority": 3, "count": len(ops)}}}}),
		mustJSON(map[string]any{"data": map[string]any{"bucket": bucket, "has_more": false, "after": "0", "next_after": fmt.Sprint(last), "data": ops}}),
		mustJSON(map[string]any{"checkpoint_complete": map[string]any{"last_op_id": fmt.Sprint(last)}}),
	}
	return lines, want
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestReliabilityHostileLines connects a synced client to a service that
// sends malformed, truncated, oversized, duplicated, out-of-order and lying
// lines. The client must not crash, must keep its file intact and its
// previous state visible (except where the lie is indistinguishable from
// valid data), must show an error where the line is invalid, must
// reconnect, and must converge once the service behaves.
func TestReliabilityHostileLines(t *testing.T) {
	good1, state1 := checkpointScript("b1", scriptRow{1, "r1", "one"}, scriptRow{2, "r2", "two"})
	good2, state2 := checkpointScript("b2", scriptRow{10, "r1", "one again"}, scriptRow{11, "r3", "three"})
	cp1 := good1[0]
	data1 := good1[1]

	bsonDoc := func(doc bson.D) []byte {
		b, err := bson.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lenPrefix := func(n int32) []byte {
		b := make([]byte, 4)
		binary.LittleEndian.PutUint32(b, uint32(n))
		return b
	}

	tests := []struct {
		name    string
		hostile script
		// wantErr: the connection ends with a visible download error, which
		// wraps ErrProtocol unless notProtocol (a stream cut short is a
		// network failure, not a broken rule).
		wantErr     bool
		notProtocol bool
		// wantLog: logged by the client.
		wantLog string
		// changes: the lines may change the visible rows (lies that look
		// valid); otherwise state1 must stay visible.
		changes bool
	}{
		{name: "not JSON", hostile: script{frames: [][]byte{[]byte("hello")}}, wantErr: true},
		{name: "truncated line", hostile: script{frames: [][]byte{cp1[:len(cp1)/2]}}, wantErr: true},
		{name: "two keys", hostile: script{frames: [][]byte{[]byte(`{"checkpoint_complete":{"last_op_id":"2"},"token_expires_in":60}`)}}, wantErr: true},
		{name: "wrong types", hostile: script{frames: [][]byte{[]byte(`{"checkpoint":{"last_op_id":5.5,"buckets":"x"}}`)}}, wantErr: true},
		{name: "data without bucket name", hostile: script{frames: [][]byte{cp1, []byte(`{"data":{"bucket":7,"data":[]}}`)}}, wantErr: true},
		{name: "op id out of range", hostile: script{frames: [][]byte{[]byte(`{"checkpoint":{"last_op_id":"99999999999999999999999","buckets":[]}}`)}}, wantErr: true},
		{name: "unknown op", hostile: script{frames: [][]byte{cp1, []byte(`{"data":{"bucket":"b1","data":[{"op_id":"3","op":"EXPLODE","checksum":1}]}}`)}}, wantErr: true},
		{name: "checkpoint_complete first", hostile: script{frames: [][]byte{good1[2]}}, wantErr: true},
		{name: "checkpoint_diff first", hostile: script{frames: [][]byte{[]byte(`{"checkpoint_diff":{"last_op_id":"3","updated_buckets":[],"removed_buckets":["b1"]}}`)}}, wantErr: true},
		{name: "partial complete first", hostile: script{frames: [][]byte{[]byte(`{"partial_checkpoint_complete":{"last_op_id":"3","priority":1}}`)}}, wantErr: true},
		{name: "oversized line", hostile: script{frames: [][]byte{[]byte(`{"token_expires_in":60,"pad":"` + strings.Repeat("x", 20000) + `"}`)}}, wantErr: true},
		// A data line sent twice, or with op ids that do not increase, is
		// rejected (the official core takes it; see "Hostile input" in
		// internal/synccore's package doc).
		{name: "duplicate data line", hostile: script{frames: [][]byte{cp1, data1, data1, good1[2]}}, wantErr: true},
		{name: "checkpoint_complete for another checkpoint", hostile: script{frames: [][]byte{cp1, []byte(`{"checkpoint_complete":{"last_op_id":"999"}}`)}}},
		{name: "negative subscription index", hostile: script{frames: [][]byte{[]byte(`{"checkpoint":{"last_op_id":"0","write_checkpoint":null,"buckets":[{"bucket":"b","checksum":0,"priority":3,"subscriptions":[{"sub":-1}]}],"streams":[{"name":"s","is_default":true,"errors":[]}]}}`)}}},
		{name: "unknown line type", hostile: script{frames: [][]byte{[]byte(`{"surprise":{"x":1}}`), cp1, good1[2]}}},
		{name: "empty and blank lines", hostile: script{frames: [][]byte{{}, []byte("   "), cp1, good1[2]}}},
		{name: "op ids going backwards", wantErr: true, hostile: script{frames: func() [][]byte {
			lines, _ := checkpointScript("b1", scriptRow{9, "r1", "nine"}, scriptRow{4, "r4", "four"}, scriptRow{2, "r2", "two"})
			return lines
		}()}},
		{name: "checkpoint going backwards", hostile: script{frames: [][]byte{[]byte(`{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"b1","checksum":0,"priority":3}]}}`), []byte(`{"checkpoint_complete":{"last_op_id":"1"}}`)}},
			wantLog: "Could not apply checkpoint"},
		// Like the official core, the client publishes the rows of every
		// stored bucket at checkpoint_complete, so rows of a bucket the
		// checkpoint never announced show up; the bucket is dropped by the
		// first checkpoint of the next connection (checked at the end).
		{name: "data for a bucket never announced", changes: true, hostile: script{frames: func() [][]byte {
			evil, _ := checkpointScript("evil", scriptRow{3, "e1", "from nowhere"})
			return [][]byte{cp1, evil[1], good1[2]}
		}()}},
		{name: "bson truncated document", hostile: script{bson: true, frames: [][]byte{bsonDoc(bson.D{{Key: "token_expires_in", Value: int32(60)}})[:9]}}, wantErr: true, notProtocol: true},
		{name: "bson negative length", hostile: script{bson: true, frames: [][]byte{lenPrefix(-5)}}, wantErr: true},
		{name: "bson huge length", hostile: script{bson: true, frames: [][]byte{lenPrefix(1 << 30)}}, wantErr: true},
		{name: "bson garbage", hostile: script{bson: true, frames: [][]byte{append(lenPrefix(12), 0x02, 'a', 0, 0xff, 0xff, 0xff, 0x7f, 0)}}, wantErr: true},
		{name: "bson wrong types", hostile: script{bson: true, frames: [][]byte{bsonDoc(bson.D{{Key: "checkpoint", Value: "nope"}})}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			good2Script := script{frames: good2, hang: true}
			ss := newScriptedService(t, script{frames: good1}, tt.hostile, good2Script)
			r := newRig(t)
			c := r.newClient(clientOpts{
				connector: ConnectorFuncs{FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
					return &Credentials{Endpoint: ss.srv.URL, Token: "t"}, nil
				}},
				opts: []Option{WithMaxLineSize(16 << 10)},
			})
			c.tr.holdStreams(2)
			c.connect()
			c.tr.waitRequests(t, 3)
			st := c.s.Status()
			if tt.wantErr && st.DownloadError == nil {
				t.Errorf("no download error visible after the hostile stream: %v\nlogs: %v", st, c.lastLogs(5))
			}
			if err := st.DownloadError; tt.wantErr && err != nil && errors.Is(err, ErrProtocol) == tt.notProtocol {
				t.Errorf("download error %q: errors.Is(err, ErrProtocol) = %v", err, !tt.notProtocol)
			}
			if err := st.DownloadError; err != nil && strings.Count(err.Error(), "powersync:") != 1 {
				t.Errorf("download error %q does not say \"powersync:\" once", err)
			}
			if !tt.wantErr && st.DownloadError != nil {
				t.Errorf("unexpected download error: %v", st.DownloadError)
			}
			if tt.wantLog != "" && !c.logs.has(tt.wantLog) {
				t.Errorf("no log containing %q; logs: %v", tt.wantLog, c.lastLogs(10))
			}
			if got := c.localRows(); !tt.changes && !maps.Equal(got, state1) {
				t.Errorf("visible rows changed by the hostile stream:\n got %v\nwant %v", got, state1)
			}
			if !st.HasSynced {
				t.Errorf("HasSynced lost: %v", st)
			}
			c.checkIntegrity()

			c.tr.releaseStreams()
			eventually(t, "converged after the service behaves", func() bool {
				st := c.s.Status()
				return settled(st) && maps.Equal(c.localRows(), state2)
			}, func() string { return fmt.Sprintf("%s\nwant %v", c.describe(), state2) })
			if pos := bucketPositions(t, c.db); len(pos) != 1 || pos["b2"] != 11 {
				t.Errorf("stored buckets after convergence = %v, want only b2 at 11", pos)
			}
			c.checkIntegrity()
		})
	}
}
