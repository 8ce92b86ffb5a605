package pstest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
)

// nodeClient runs testdata/node_client.mjs.
type nodeClient struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

func startNodeClient(t *testing.T, url, token string, args ...string) *nodeClient {
	t.Helper()
	script := oracletest.NodeScript(t, "testdata/node_client.mjs")
	work := filepath.Dir(script)
	cmd := exec.CommandContext(t.Context(), "node", append([]string{script, url, token,
		filepath.Join(work, "db")}, args...)...)
	cmd.Dir = work
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nc := &nodeClient{t: t, cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout), stderr: stderr}
	nc.lines.Buffer(nil, 64<<20)
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return nc
}

type nodeEvent struct {
	Event   string                       `json:"event"`
	Rows    map[string]map[string]string `json:"rows"`
	Message string                       `json:"message"`
}

func (nc *nodeClient) next(want string) nodeEvent {
	nc.t.Helper()
	for {
		if !nc.lines.Scan() {
			nc.t.Fatalf("node client ended before %q (%v); stderr:\n%s", want, nc.lines.Err(), nc.stderr)
		}
		if bytes.HasPrefix(nc.lines.Bytes(), []byte(`{"event":`)) {
			break
		}
		nc.t.Logf("node: %s", nc.lines.Bytes()) // the SDK's own log output
	}
	var ev nodeEvent
	if err := json.Unmarshal(nc.lines.Bytes(), &ev); err != nil {
		nc.t.Fatalf("node client printed %q: %v", nc.lines.Bytes(), err)
	}
	if ev.Event != want {
		nc.t.Fatalf("node client: got %s event (%s), want %s; stderr:\n%s", ev.Event, ev.Message, want, nc.stderr)
	}
	return ev
}

func (nc *nodeClient) send(cmd string) {
	nc.t.Helper()
	if _, err := io.WriteString(nc.stdin, cmd+"\n"); err != nil {
		nc.t.Fatalf("node client stdin: %v; stderr:\n%s", err, nc.stderr)
	}
}

// TestNodeSDKAgreement runs the official Node SDK against pstest and checks
// that the client ends with exactly the rows pstest holds: after the first
// sync (paged data, priorities, compacted buckets), after live changes, after
// REMOVEs, and after a local write uploaded through the upload endpoint.
// The SDK asks for BSON, so this also checks the BSON encoding.
func TestNodeSDKAgreement(t *testing.T) {
	oracletest.NodeModules(t) // skip (or fail under CI) before starting anything
	const user = "node-user"
	srv := newTestServer(t, WithPageSize(7), WithRowBuckets(func(r Row) []string {
		if r.Table == "lists" {
			return []string{"lists[]"}
		}
		return []string{DefaultBucket}
	}))
	if err := srv.Update(func(tx *Tx) error {
		tx.SetPriority("lists[]", 0)
		for i := range 30 {
			tx.SetRow("todos", fmt.Sprintf("t%02d", i), map[string]any{"title": fmt.Sprintf("todo %d \"q\" ☃\n", i), "n": i, "done": i % 2})
		}
		tx.SetRow("lists", "l1", map[string]any{"name": "first"})
		tx.SetRow("lists", "l2", map[string]any{"name": "second"})
		tx.Put("extra[]", "not_in_schema", "x1", `{"a":1}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Updates and deletes before compaction leave MOVE and CLEAR ops.
	if err := srv.Update(func(tx *Tx) error {
		tx.SetRow("todos", "t00", map[string]any{"title": "changed", "n": 100})
		tx.PatchRow("todos", "t01", map[string]any{"done": 1})
		tx.DeleteRow("todos", "t03")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	srv.Compact()

	nc := startNodeClient(t, srv.URL, srv.Token(user))
	check := func(step string, ev nodeEvent) {
		t.Helper()
		want := srv.SyncedRows(user)
		if !reflect.DeepEqual(ev.Rows, want) {
			t.Fatalf("%s: Node SDK rows differ from pstest\nnode:   %v\npstest: %v", step, ev.Rows, want)
		}
		n := 0
		for _, r := range want {
			n += len(r)
		}
		t.Logf("%s: Node SDK holds the same %d rows as pstest", step, n)
	}
	check("first sync", nc.next("synced"))

	// A live change.
	if err := srv.Update(func(tx *Tx) error {
		tx.SetRow("todos", "t99", map[string]any{"title": "live"})
		tx.SetRow("todos", "t04", map[string]any{"title": "edited live"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nc.send(fmt.Sprint("wait ", srv.LastOpID()))
	check("live change", nc.next("rows"))

	// REMOVEs (a deleted row, a row removed from one bucket) in one checkpoint.
	if err := srv.Update(func(tx *Tx) error {
		tx.DeleteRow("todos", "t02")
		tx.DeleteRow("lists", "l1")
		tx.Remove("extra[]", "not_in_schema", "x1")
		tx.SetRow("todos", "t98", map[string]any{"title": "after removes"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	nc.send(fmt.Sprint("wait ", srv.LastOpID()))
	ev := nc.next("rows")
	check("remove", ev)
	if _, ok := ev.Rows["todos"]["t02"]; ok {
		t.Fatal("removed row t02 still on the client")
	}

	// Compaction after the client has synced changes nothing for it.
	srv.Compact()
	if err := srv.SetRow("todos", "t97", map[string]any{"title": "after compaction"}); err != nil {
		t.Fatal(err)
	}
	nc.send(fmt.Sprint("wait ", srv.LastOpID()))
	check("compaction", nc.next("rows"))

	// A local write goes up through /upload and comes back down.
	nc.send(`insert todos local-1 {"title":"from node","done":0}`)
	nc.next("uploaded")
	if n := srv.AppliedCount("todos", "local-1"); n != 1 {
		t.Fatalf("upload applied %d times, want once", n)
	}
	if row, ok := srv.Row("todos", "local-1"); !ok || row["title"] != "from node" {
		t.Fatalf("uploaded row = %v", row)
	}
	nc.send(fmt.Sprint("wait ", srv.LastOpID()))
	ev = nc.next("rows")
	check("upload round trip", ev)
	if ev.Rows["todos"]["local-1"] == "" {
		t.Fatal("uploaded row did not sync back")
	}

	nc.send("exit")
	if err := nc.cmd.Wait(); err != nil {
		t.Fatalf("node client: %v; stderr:\n%s", err, nc.stderr)
	}
	srv.mu.Lock()
	bsonStreams := srv.bsonStreams
	var wcs []string
	for k, v := range srv.writeCheckpoints {
		if strings.HasPrefix(k, user+"/") {
			wcs = append(wcs, fmt.Sprint(k, "=", v))
		}
	}
	srv.mu.Unlock()
	if len(wcs) == 0 {
		t.Error("the Node SDK created no write checkpoint after its upload")
	}
	t.Logf("write checkpoints: %v", wcs)
	if bsonStreams == 0 {
		t.Error("the Node SDK was not served BSON")
	}
	t.Logf("Node SDK used %d BSON stream(s)", bsonStreams)
}

// TestNodeSDKRecoversFromFaults checks pstest's faults against the official
// client: a stream cut in the middle of a checkpoint, then a checkpoint with
// a wrong checksum (the client drops the bucket and reconnects), then a 503;
// the client must still end with exactly pstest's rows.
func TestNodeSDKRecoversFromFaults(t *testing.T) {
	oracletest.NodeModules(t) // skip (or fail under CI) before starting anything
	srv := newTestServer(t, WithPageSize(4))
	if err := srv.Update(func(tx *Tx) error {
		for i := range 20 {
			tx.SetRow("todos", fmt.Sprintf("t%02d", i), map[string]any{"title": fmt.Sprint("todo ", i)})
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	srv.Inject(Fault{EndMidCheckpoint: true})
	srv.Inject(Fault{WrongChecksum: DefaultBucket})
	srv.Inject(Fault{Status: http.StatusServiceUnavailable})
	nc := startNodeClient(t, srv.URL, srv.Token("u"), "50")
	ev := nc.next("synced")
	if want := srv.SyncedRows("u"); !reflect.DeepEqual(ev.Rows, want) {
		t.Fatalf("Node SDK rows differ from pstest after faults\nnode:   %v\npstest: %v", ev.Rows, want)
	}
	srv.mu.Lock()
	streams, pending := srv.bsonStreams+srv.ndjsonStreams, len(srv.faults)
	srv.mu.Unlock()
	if pending != 0 || streams < 3 {
		t.Errorf("faults left %d, streams served %d: the client did not go through every fault", pending, streams)
	}
	t.Logf("Node SDK synced %d rows after %d streams and a 503", len(ev.Rows["todos"]), streams)
	nc.send("exit")
	if err := nc.cmd.Wait(); err != nil {
		t.Fatalf("node client: %v; stderr:\n%s", err, nc.stderr)
	}
}
