package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/synccore"
)

// fakeEngine is a scripted state machine. It understands these test lines:
//
//	{"checkpoint_complete":{}}      complete sync: has_synced + DidCompleteSync
//	{"token_expires_in":N}          as the core (≤0 expire+close, ≤30 prefetch)
//	{"close":{"hide":bool}}         CloseSyncStream
//	{"fail":"message"}              the call fails
type fakeEngine struct {
	mu       gosync.Mutex // guards the fields below
	calls    []string
	active   bool
	synced   *int64
	start    []synccore.StartRequest
	onCall   func(call string)
	notified chan struct{}
}

func newFakeEngine() *fakeEngine { return &fakeEngine{notified: make(chan struct{}, 1)} }

func (f *fakeEngine) record(c string) {
	f.calls = append(f.calls, c)
	if f.onCall != nil {
		f.onCall(c)
	}
	select {
	case f.notified <- struct{}{}:
	default:
	}
}

func (f *fakeEngine) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// waitCalls waits until pred holds for the calls so far.
func (f *fakeEngine) waitCalls(t *testing.T, pred func([]string) bool) {
	t.Helper()
	for !pred(f.callList()) {
		select {
		case <-f.notified:
		case <-t.Context().Done():
			t.Fatalf("condition never met; calls %v", f.callList())
		}
	}
}

func (f *fakeEngine) status(connected, connecting bool) synccore.UpdateSyncStatus {
	st := synccore.CoreStatus{Connected: connected, Connecting: connecting}
	if f.synced != nil {
		yes := true
		at := *f.synced
		st.PriorityStatus = []synccore.PriorityStatus{{Priority: FullSyncPriority, LastSyncedAt: &at, HasSynced: &yes}}
	}
	return synccore.UpdateSyncStatus{Status: st}
}

func (f *fakeEngine) Start(ctx context.Context, req synccore.StartRequest) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("start")
	f.start = append(f.start, req)
	f.active = true
	body, _ := json.Marshal(map[string]any{"client_id": "c1", "parameters": req.Parameters, "app_metadata": req.AppMetadata})
	return []synccore.Instruction{f.status(false, true), synccore.EstablishSyncStream{Request: body}}, nil
}

func (f *fakeEngine) requireActive(call string) error {
	if !f.active {
		return fmt.Errorf("%s: no iteration is active", call)
	}
	return nil
}

func (f *fakeEngine) ConnectionEstablished(ctx context.Context) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("established")
	if err := f.requireActive("established"); err != nil {
		return nil, err
	}
	return []synccore.Instruction{f.status(true, false)}, nil
}

func (f *fakeEngine) end(call string) ([]synccore.Instruction, error) {
	f.record(call)
	if !f.active {
		return nil, nil
	}
	f.active = false
	return []synccore.Instruction{f.status(false, false), synccore.CloseSyncStream{}}, nil
}

func (f *fakeEngine) ConnectionEnd(ctx context.Context) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.end("end")
}

func (f *fakeEngine) Stop(ctx context.Context) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.end("stop")
}

// NextLinesBinary and NextLinesText take every line next has, one by one,
// stopping after a line that closes the stream, as the real engine does.
func (f *fakeEngine) NextLinesBinary(ctx context.Context, next func() ([]byte, bool)) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for doc, ok := next(); ok; doc, ok = next() {
		f.record("binary:" + strconv.Itoa(len(doc)))
		if err := f.requireActive("line_binary"); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

func (f *fakeEngine) NextLinesText(ctx context.Context, next func() ([]byte, bool)) ([]synccore.Instruction, error) {
	var out []synccore.Instruction
	for l, ok := next(); ok; l, ok = next() {
		ins, err := f.lineText(l)
		out = append(out, ins...)
		if err != nil {
			return out, err
		}
		for _, in := range ins {
			if _, ok := in.(synccore.CloseSyncStream); ok {
				return out, nil
			}
		}
	}
	return out, nil
}

func (f *fakeEngine) lineText(line []byte) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("line:" + string(line))
	if err := f.requireActive("line_text"); err != nil {
		return nil, err
	}
	var l struct {
		CheckpointComplete *json.RawMessage `json:"checkpoint_complete"`
		TokenExpiresIn     *int             `json:"token_expires_in"`
		Close              *struct {
			Hide bool `json:"hide"`
		} `json:"close"`
		Fail string `json:"fail"`
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, err
	}
	switch {
	case l.Fail != "":
		return nil, errors.New(l.Fail)
	case l.CheckpointComplete != nil:
		now := time.Now().UnixMicro()
		f.synced = &now
		return []synccore.Instruction{synccore.DidCompleteSync{}, f.status(true, false)}, nil
	case l.TokenExpiresIn != nil && *l.TokenExpiresIn <= 0:
		f.active = false
		return []synccore.Instruction{synccore.FetchCredentials{DidExpire: true}, synccore.CloseSyncStream{}}, nil
	case l.TokenExpiresIn != nil && *l.TokenExpiresIn <= 30:
		return []synccore.Instruction{synccore.FetchCredentials{}}, nil
	case l.Close != nil:
		f.active = false
		return []synccore.Instruction{synccore.CloseSyncStream{HideDisconnect: l.Close.Hide}}, nil
	}
	return nil, nil
}

func (f *fakeEngine) CompletedUpload(ctx context.Context) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("completed_upload")
	return nil, f.requireActive("completed_upload")
}

func (f *fakeEngine) RefreshedToken(ctx context.Context) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("refreshed_token")
	if err := f.requireActive("refreshed_token"); err != nil {
		return nil, err
	}
	f.active = false
	return []synccore.Instruction{synccore.CloseSyncStream{HideDisconnect: true}}, nil
}

func (f *fakeEngine) UpdateSubscriptions(ctx context.Context, active []synccore.StreamKey) ([]synccore.Instruction, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(active)
	f.record("subs:" + string(b))
	return nil, f.requireActive("update_subscriptions")
}

// fakeService is an httptest PowerSync Service for the fake engine: the
// newest stream connection gets the lines given to send (an empty string ends
// the stream), and streams can be made to fail with a status code. Lines go to
// the newest stream only: the handler of a stream the client already left may
// not have noticed yet, and must not swallow lines meant for its successor.
type fakeService struct {
	srv *httptest.Server

	mu          gosync.Mutex // guards the fields below
	failStreams []int        // status codes for the next stream requests
	tokens      []string     // Authorization tokens of stream requests
	bodies      [][]byte
	headers     []http.Header
	wc          int64
	wcTokens    []string
	wcFail      int
	cur         chan string   // lines of the newest stream; nil before the first
	newStream   chan struct{} // closed (and replaced) when a stream starts

	conns atomic.Int32
}

func newFakeService(t *testing.T) *fakeService {
	fs := &fakeService{newStream: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sync/stream", fs.stream)
	mux.HandleFunc("GET /write-checkpoint2.json", fs.writeCheckpoint)
	fs.srv = httptest.NewServer(mux)
	t.Cleanup(fs.srv.Close)
	return fs
}

func token(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Token ")
}

func (fs *fakeService) stream(w http.ResponseWriter, r *http.Request) {
	body := make([]byte, r.ContentLength)
	_, _ = r.Body.Read(body)
	fs.mu.Lock()
	fs.tokens = append(fs.tokens, token(r))
	fs.bodies = append(fs.bodies, body)
	fs.headers = append(fs.headers, r.Header.Clone())
	fail := 0
	if len(fs.failStreams) > 0 {
		fail, fs.failStreams = fs.failStreams[0], fs.failStreams[1:]
	}
	fs.mu.Unlock()
	fs.conns.Add(1)
	if fail != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(fail)
		fmt.Fprintf(w, `{"error":{"code":"PSYNC_S2106","description":"failure %d for token %s"}}`, fail, "[not echoed]")
		return
	}
	lines := make(chan string)
	fs.mu.Lock()
	fs.cur = lines
	close(fs.newStream)
	fs.newStream = make(chan struct{})
	fs.mu.Unlock()
	w.Header().Set("Content-Type", contentNDJSON)
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case l := <-lines:
			if l == "" {
				return
			}
			fmt.Fprintln(w, l)
			w.(http.Flusher).Flush()
		}
	}
}

func (fs *fakeService) writeCheckpoint(w http.ResponseWriter, r *http.Request) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.wcTokens = append(fs.wcTokens, token(r))
	if fs.wcFail > 0 {
		fs.wcFail--
		http.Error(w, "write checkpoint unavailable", http.StatusServiceUnavailable)
		return
	}
	fs.wc++
	fmt.Fprintf(w, `{"data":{"write_checkpoint":"%d"}}`, fs.wc)
}

// send delivers a line to the open stream.
func (fs *fakeService) send(t *testing.T, line string) {
	t.Helper()
	for {
		fs.mu.Lock()
		cur, newer := fs.cur, fs.newStream
		fs.mu.Unlock()
		select {
		case cur <- line: // a nil cur (no stream yet) blocks
			return
		case <-newer: // a newer stream started: send to it instead
		case <-t.Context().Done():
			t.Fatalf("no stream took line %s", line)
		}
	}
}

// countingConnector hands out tokens "tok-1", "tok-2", ... and records
// uploads.
type countingConnector struct {
	endpoint string
	fetches  atomic.Int32
	upload   func(ctx context.Context, db *sql.DB) error
}

func (c *countingConnector) FetchCredentials(ctx context.Context) (*Credentials, error) {
	n := c.fetches.Add(1)
	return &Credentials{Endpoint: c.endpoint, Token: fmt.Sprintf("tok-%d", n)}, nil
}

func (c *countingConnector) UploadData(ctx context.Context, db *sql.DB) error {
	if c.upload == nil {
		return nil
	}
	return c.upload(ctx, db)
}

// sleepRecorder is an injected sleep: it records the durations and returns
// at once (or with ctx's error).
type sleepRecorder struct {
	mu     gosync.Mutex // guards ds
	ds     []time.Duration
	notify chan struct{}
}

func newSleepRecorder() *sleepRecorder { return &sleepRecorder{notify: make(chan struct{}, 1)} }

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return ctx.Err()
}

func (s *sleepRecorder) count(d time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.ds {
		if x == d {
			n++
		}
	}
	return n
}

// writeDuring runs f before serving each write checkpoint request.
func writeDuring(h http.Handler, f func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/write-checkpoint2.json" {
			f()
		}
		h.ServeHTTP(w, r)
	})
}

func (b *statusBus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}
