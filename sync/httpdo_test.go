package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/synccore"
)

// shortTimeout is the response and upload timeout of these tests. The
// tests do not measure it: they wait for the error it causes.
const shortTimeout = 50 * time.Millisecond

// hang answers nothing until the client gives up or the test ends.
func hang(t *testing.T) http.HandlerFunc {
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit) })
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-quit:
		}
	}
}

// trap routes requests for path to f and everything else to next.
func trap(next http.Handler, path string, f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == path {
			f(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// echoAuth fails with a body that repeats the request's Authorization
// header, in the service's error envelope or as plain text.
func echoAuth(envelope bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if envelope {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"error":{"code":"PSYNC_S2106","description":"rejected %s","details":"token %s"}}`, auth, strings.TrimPrefix(auth, "Token "))
			return
		}
		http.Error(w, "cannot use "+auth+" (token "+strings.TrimPrefix(auth, "Token ")+")", http.StatusBadGateway)
	}
}

// newTestServer starts an httptest server closed at the end of the test.
func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// testClient is an HTTP client whose idle connections end with the test.
func testClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// completeAll is an UploadData that completes the whole queue.
func completeAll(ctx context.Context, db *sql.DB) error {
	b, err := GetCrudBatch(ctx, db, 1000)
	if err != nil || b == nil {
		return err
	}
	return b.Complete(ctx)
}

// requestsEngine is the fake engine in checkpoint-request mode.
type requestsEngine struct{ *fakeEngine }

func (e requestsEngine) Start(ctx context.Context, req synccore.StartRequest) ([]synccore.Instruction, error) {
	ins, err := e.fakeEngine.Start(ctx, req)
	for i, in := range ins {
		if est, ok := in.(synccore.EstablishSyncStream); ok {
			est.CheckpointRequest = &synccore.CheckpointRequest{ClientID: "c1", CheckpointRequestID: 1}
			ins[i] = est
		}
	}
	return ins, err
}

func TestDefaultHTTPClientIsDedicated(t *testing.T) {
	s, err := New(openDB(t), ConnectorFuncs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.o.httpClient == http.DefaultClient || s.o.httpClient == nil {
		t.Fatal("the default client is http.DefaultClient")
	}
	tr, ok := s.o.httpClient.Transport.(*http.Transport)
	if !ok || tr == http.DefaultTransport || tr.TLSHandshakeTimeout <= 0 || tr.DialContext == nil {
		t.Errorf("default transport %#v has no dial and TLS handshake bounds", s.o.httpClient.Transport)
	}
	if s.o.responseTimeout != DefaultResponseTimeout || s.o.uploadTimeout != DefaultUploadTimeout {
		t.Errorf("timeouts %v, %v; want the defaults", s.o.responseTimeout, s.o.uploadTimeout)
	}
	if c := connectorClient(); c == http.DefaultClient {
		t.Error("HTTPConnector's default client is http.DefaultClient")
	}
}

// A service that accepts the connection but never sends the headers of the
// sync stream ends in a download error saying so, not in "connecting"
// forever.
func TestStreamWithoutResponseHeadersTimesOut(t *testing.T) {
	checkNoLeaks(t)
	logs := &logSink{}
	h := newHarness(t, WithResponseTimeout(shortTimeout), WithLogger(slog.New(logs)))
	srv := newTestServer(t, http.NotFoundHandler())
	srv.Config.Handler = hang(t) // after the server: the handlers return before it closes
	h.conn.endpoint = srv.URL
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := h.waitStatus(t, "a response timeout", func(st Status) bool { return errors.Is(st.DownloadError, ErrResponseTimeout) })
	msg := st.DownloadError.Error()
	if !strings.Contains(msg, "POST /sync/stream") || !strings.Contains(msg, "no response headers within 50ms") {
		t.Errorf("download error %q does not say what timed out", msg)
	}
	if !logs.has("no response headers within 50ms") {
		t.Error("the timeout was not logged")
	}
}

// A write checkpoint request that gets no answer is an upload error.
func TestWriteCheckpointWithoutResponseTimesOut(t *testing.T) {
	checkNoLeaks(t)
	h := newHarness(t, WithResponseTimeout(shortTimeout))
	h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/write-checkpoint2.json", hang(t))
	h.conn.upload = completeAll
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := h.waitStatus(t, "a response timeout", func(st Status) bool { return errors.Is(st.UploadError, ErrResponseTimeout) })
	if msg := st.UploadError.Error(); !strings.Contains(msg, "GET /write-checkpoint2.json") || !strings.Contains(msg, "within 50ms") {
		t.Errorf("upload error %q does not say what timed out", msg)
	}
}

// A checkpoint request that gets no answer ends the connection with a
// download error.
func TestCheckpointRequestWithoutResponseTimesOut(t *testing.T) {
	checkNoLeaks(t)
	h := newHarness(t, WithResponseTimeout(shortTimeout), WithCheckpointRequests(true))
	h.s.eng = requestsEngine{h.eng}
	h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/sync/checkpoint-request", hang(t))
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Under load the stream's own headers may be late too: wait for the
	// checkpoint request's timeout.
	h.waitStatus(t, "a response timeout", func(st Status) bool {
		return errors.Is(st.DownloadError, ErrResponseTimeout) &&
			strings.Contains(st.DownloadError.Error(), "POST /sync/checkpoint-request: no response headers within 50ms")
	})
}

// An HTTPConnector whose backend never answers fails the upload with a
// timeout, shown in the status, instead of "uploading" forever.
func TestHTTPConnectorUploadTimesOut(t *testing.T) {
	checkNoLeaks(t)
	backend := newTestServer(t, http.NotFoundHandler())
	backend.Config.Handler = hang(t) // after the server: the handlers return before it closes
	hc := &HTTPConnector{UploadURL: backend.URL + "/upload", Client: testClient(t), ResponseTimeout: shortTimeout}
	h := newHarness(t)
	h.conn.upload = hc.UploadData
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := h.waitStatus(t, "an upload timeout", func(st Status) bool { return errors.Is(st.UploadError, ErrResponseTimeout) })
	if msg := st.UploadError.Error(); !strings.Contains(msg, "POST "+backend.URL+"/upload") || !strings.Contains(msg, "within 50ms") {
		t.Errorf("upload error %q does not say what timed out", msg)
	}
	if n := queueLen(t, h.db); n != 1 {
		t.Errorf("queue has %d entries, want the 1 not uploaded", n)
	}
}

// An UploadData that never returns, not even when its context ends, shows
// an upload timeout in the status while it still runs; no second one runs.
func TestUploadDataTimeoutShownWhileRunning(t *testing.T) {
	checkNoLeaks(t)
	logs := &logSink{}
	h := newHarness(t, WithUploadTimeout(shortTimeout), WithLogger(slog.New(logs)))
	release := make(chan struct{})
	var calls atomic.Int32
	h.conn.upload = func(ctx context.Context, db *sql.DB) error {
		if calls.Add(1) == 1 {
			<-release // ignores ctx
		}
		return completeAll(context.WithoutCancel(ctx), db)
	}
	exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := h.waitStatus(t, "an upload timeout", func(st Status) bool { return errors.Is(st.UploadError, ErrUploadTimeout) })
	if !st.Uploading {
		t.Error("status not uploading while UploadData still runs")
	}
	if msg := st.UploadError.Error(); !strings.Contains(msg, "within 50ms") {
		t.Errorf("upload error %q does not say what timed out", msg)
	}
	if !logs.has("upload timeout") {
		t.Error("the timeout was not logged")
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("%d UploadData calls while the first runs, want 1", n)
	}
	close(release)
	h.waitStatus(t, "the upload done", func(st Status) bool { return st.UploadError == nil && !st.Uploading && queueLen(t, h.db) == 0 })
}

// The token never reaches the status, errors or logs, even when a server
// repeats the Authorization header in its error responses.
func TestTokenRedactedFromEchoingServers(t *testing.T) {
	check := func(t *testing.T, what string, err error, logs *logSink) {
		t.Helper()
		for _, s := range []string{err.Error(), fmt.Sprint(logs.msgs)} {
			if strings.Contains(s, "tok-") {
				t.Errorf("%s: the token leaked: %s", what, s)
			}
		}
		if !strings.Contains(err.Error(), redacted) {
			t.Errorf("%s: %q shows no redaction: was the token echoed?", what, err)
		}
		var herr *HTTPError
		if errors.As(err, &herr) && (strings.Contains(herr.Message, "tok-") || strings.Contains(herr.Code, "tok-")) {
			t.Errorf("%s: HTTPError.Message has the token: %s", what, herr.Message)
		}
	}
	isHTTP := func(err error) bool {
		var herr *HTTPError
		return errors.As(err, &herr)
	}
	t.Run("stream", func(t *testing.T) {
		checkNoLeaks(t)
		logs := &logSink{}
		h := newHarness(t, WithLogger(slog.New(logs)))
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/sync/stream", echoAuth(true))
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the stream error", func(st Status) bool { return isHTTP(st.DownloadError) })
		h.s.Disconnect(t.Context())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		check(t, "stream", st.DownloadError, logs)
	})
	t.Run("write checkpoint", func(t *testing.T) {
		checkNoLeaks(t)
		logs := &logSink{}
		h := newHarness(t, WithLogger(slog.New(logs)))
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/write-checkpoint2.json", echoAuth(false))
		h.conn.upload = completeAll
		exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the write checkpoint error", func(st Status) bool { return isHTTP(st.UploadError) })
		h.s.Disconnect(t.Context())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		check(t, "write checkpoint", st.UploadError, logs)
	})
	t.Run("write checkpoint id", func(t *testing.T) {
		// Not an HTTP error: the answer's checkpoint id is the token.
		checkNoLeaks(t)
		logs := &logSink{}
		h := newHarness(t, WithLogger(slog.New(logs)))
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/write-checkpoint2.json", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"data":{"write_checkpoint":%q}}`, r.Header.Get("Authorization"))
		})
		h.conn.upload = completeAll
		exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the write checkpoint error", func(st Status) bool { return st.UploadError != nil })
		h.s.Disconnect(t.Context())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		check(t, "write checkpoint id", st.UploadError, logs)
	})
	t.Run("checkpoint request", func(t *testing.T) {
		checkNoLeaks(t)
		logs := &logSink{}
		h := newHarness(t, WithLogger(slog.New(logs)), WithCheckpointRequests(true))
		h.s.eng = requestsEngine{h.eng}
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/sync/checkpoint-request", echoAuth(true))
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the checkpoint request error", func(st Status) bool { return isHTTP(st.DownloadError) })
		h.s.Disconnect(t.Context())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		check(t, "checkpoint request", st.DownloadError, logs)
	})
	t.Run("HTTPConnector upload", func(t *testing.T) {
		checkNoLeaks(t)
		logs := &logSink{}
		backend := newTestServer(t, echoAuth(false))
		h := newHarness(t, WithLogger(slog.New(logs)))
		hc := &HTTPConnector{UploadURL: backend.URL + "/upload", Client: testClient(t),
			Authorize: func(_ context.Context, req *http.Request) error {
				req.Header.Set("Authorization", "Token tok-backend")
				return nil
			}}
		h.conn.upload = hc.UploadData
		exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the upload error", func(st Status) bool { return isHTTP(st.UploadError) })
		h.s.Disconnect(t.Context())
		logs.mu.Lock()
		defer logs.mu.Unlock()
		check(t, "HTTPConnector upload", st.UploadError, logs)
	})
}

// A redirect to another origin (here: another port of the same host) is
// refused: the other server gets no request, so neither the token nor its
// data. A redirect within the endpoint's origin is followed.
func TestRedirectsStayOnTheEndpointOrigin(t *testing.T) {
	t.Run("stream to another port", func(t *testing.T) {
		checkNoLeaks(t)
		var reached atomic.Int32
		other := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			w.Header().Set("Content-Type", contentNDJSON)
			fmt.Fprintln(w, `{"checkpoint_complete":{}}`)
		}))
		h := newHarness(t)
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/sync/stream", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/sync/stream", http.StatusTemporaryRedirect)
		})
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		st := h.waitStatus(t, "the redirect refused", func(st Status) bool { return errors.Is(st.DownloadError, ErrRedirectRefused) })
		h.s.Disconnect(t.Context())
		if n := reached.Load(); n != 0 {
			t.Errorf("the other origin got %d requests", n)
		}
		if msg := st.DownloadError.Error(); !strings.Contains(msg, other.URL) || st.HasSynced {
			t.Errorf("download error %q (has synced %v)", msg, st.HasSynced)
		}
	})
	t.Run("write checkpoint to another port", func(t *testing.T) {
		checkNoLeaks(t)
		var reached atomic.Int32
		other := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reached.Add(1)
			fmt.Fprint(w, `{"data":{"write_checkpoint":"1"}}`)
		}))
		h := newHarness(t)
		h.fs.srv.Config.Handler = trap(h.fs.srv.Config.Handler, "/write-checkpoint2.json", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusFound)
		})
		h.conn.upload = completeAll
		exec(t, h.db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(t, "the redirect refused", func(st Status) bool { return errors.Is(st.UploadError, ErrRedirectRefused) })
		h.s.Disconnect(t.Context())
		if n := reached.Load(); n != 0 {
			t.Errorf("the other origin got %d requests", n)
		}
	})
	t.Run("HTTPConnector to another port", func(t *testing.T) {
		checkNoLeaks(t)
		var reached atomic.Int32
		other := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
		backend := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/upload", http.StatusPermanentRedirect)
		}))
		hc := &HTTPConnector{UploadURL: backend.URL + "/upload", Client: testClient(t)}
		db := openDB(t)
		exec(t, db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		if err := hc.UploadData(t.Context(), db); !errors.Is(err, ErrRedirectRefused) {
			t.Errorf("upload = %v, want ErrRedirectRefused", err)
		}
		if n := reached.Load(); n != 0 {
			t.Errorf("the other origin got %d requests", n)
		}
	})
	t.Run("within the origin", func(t *testing.T) {
		checkNoLeaks(t)
		h := newHarness(t)
		inner := h.fs.srv.Config.Handler
		h.fs.srv.Config.Handler = trap(inner, "/old/sync/stream", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/sync/stream", http.StatusTemporaryRedirect)
		})
		h.conn.endpoint = h.fs.srv.URL + "/old"
		if err := h.s.Connect(t.Context()); err != nil {
			t.Fatal(err)
		}
		h.waitStatus(t, "connected through the redirect", connected)
		h.fs.mu.Lock()
		defer h.fs.mu.Unlock()
		if len(h.fs.tokens) == 0 || h.fs.tokens[0] == "" {
			t.Errorf("the redirected stream request carried no token: %q", h.fs.tokens)
		}
	})
}

// hangingCredentials blocks its first FetchCredentials, ignoring the
// context, until release is closed; later calls answer at once.
type hangingCredentials struct {
	endpoint string
	release  chan struct{}
	calls    atomic.Int32
	running  atomic.Int32
	overlap  atomic.Bool
}

func (c *hangingCredentials) FetchCredentials(ctx context.Context) (*Credentials, error) {
	if c.running.Add(1) > 1 {
		c.overlap.Store(true)
	}
	defer c.running.Add(-1)
	if c.calls.Add(1) == 1 {
		<-c.release
		return nil, errors.New("gave up")
	}
	return &Credentials{Endpoint: c.endpoint, Token: "tok"}, nil
}

func (c *hangingCredentials) UploadData(context.Context, *sql.DB) error { return nil }

// A FetchCredentials that never returns, not even when its context ends,
// shows a credentials timeout in the status while it still runs instead of
// "connecting" forever; no second one runs beside it, and the syncer
// connects once it returns.
func TestFetchCredentialsTimeoutShownWhileRunning(t *testing.T) {
	checkNoLeaks(t)
	h := newHarness(t)
	h.s.Close()
	logs := &logSink{}
	conn := &hangingCredentials{endpoint: h.fs.srv.URL, release: make(chan struct{})}
	s, err := New(h.db, conn, withEngine(h.eng), withClock(nil, h.rec.sleep), WithRetryDelay(testRetryDelay),
		WithHTTPClient(testClient(t)), WithLogger(slog.New(logs)), WithCredentialsTimeout(shortTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.s = s
	if err := s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := h.waitStatus(t, "a credentials timeout", func(st Status) bool { return errors.Is(st.DownloadError, ErrCredentialsTimeout) })
	if st.Connected {
		t.Error("connected without credentials")
	}
	if msg := st.DownloadError.Error(); !strings.Contains(msg, "FetchCredentials did not return within 50ms") {
		t.Errorf("download error %q does not say what timed out", msg)
	}
	if !logs.has("credentials timeout") {
		t.Error("the timeout was not logged")
	}
	if n := conn.calls.Load(); n != 1 {
		t.Errorf("%d FetchCredentials calls while the first runs, want 1", n)
	}
	close(conn.release)
	h.waitStatus(t, "connected after FetchCredentials returned", func(st Status) bool { return st.Connected })
	if conn.overlap.Load() {
		t.Error("two FetchCredentials calls ran at once")
	}
}

// A 200 answer that is not a sync stream (empty, a JSON error envelope, or
// JSON under the BSON content type) is a download error with what the
// server said, not a silent reconnect.
func TestNotAStreamIsAnError(t *testing.T) {
	cases := []struct {
		name, ctype, body, want string
	}{
		{"empty body", contentNDJSON, "", "without sending a line"},
		{"JSON error envelope", "application/json", `{"error":{"code":"PSYNC_S2302","description":"quota exceeded"}}`, "a JSON answer instead of a sync stream: quota exceeded"},
		{"JSON under the BSON type", contentBSON, `{"checkpoint_complete":{"last_op_id":"1"}}` + "\n", "the stream is not BSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				io.WriteString(w, tc.body)
			}))
			h := newHarness(t)
			h.s.Close()
			s, err := New(h.db, ConnectorFuncs{FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
				return &Credentials{Endpoint: srv.URL, Token: "tok-secret-1"}, nil
			}}, withEngine(h.eng), withClock(nil, h.rec.sleep), WithRetryDelay(testRetryDelay), WithHTTPClient(testClient(t)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			h.s = s
			if err := s.Connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			st := h.waitStatus(t, "a download error", func(st Status) bool { return st.DownloadError != nil })
			if msg := st.DownloadError.Error(); !strings.Contains(msg, tc.want) {
				t.Errorf("download error %q, want it to say %q", msg, tc.want)
			}
		})
	}
}

// A token too short to be a real one (a development placeholder) is not
// replaced wherever its letters occur: messages stay readable.
func TestShortTokenLeavesMessagesReadable(t *testing.T) {
	msg := `POST /sync/stream: Post "http://127.0.0.1:1/sync/stream": refused`
	if got := redactText(msg, []string{"t"}); got != msg {
		t.Errorf("redacting a one-letter token mangled the message: %s", got)
	}
	if got := redactText(`rejected token "t"`, []string{"t"}); got != `rejected token "`+redacted+`"` {
		t.Errorf("a short token standing alone was not redacted: %s", got)
	}
	if got := redactText("echo eyJhbGciOiJIUzI1NiJ9.x", []string{"eyJhbGciOiJIUzI1NiJ9.x"}); strings.Contains(got, "eyJ") {
		t.Errorf("a real token was not redacted: %s", got)
	}
}

// After Close, Flush and Disconnect say so, as the other methods do.
func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	h := newHarness(t)
	if err := h.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Flush(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	if err := h.s.Disconnect(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("Disconnect after Close: %v, want ErrClosed", err)
	}
	if err := h.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// NewTransport gives a new transport each call, with the default client's
// bounds, so that tuning one (as powersync load does) leaves the syncer's
// own client alone.
func TestNewTransport(t *testing.T) {
	a, b := NewTransport(), NewTransport()
	if a == b {
		t.Fatal("NewTransport returned the same transport twice")
	}
	a.MaxIdleConnsPerHost = 500
	if b.MaxIdleConnsPerHost == 500 {
		t.Fatal("tuning one transport changed another")
	}
	def, ok := newHTTPClient().Transport.(*http.Transport)
	if !ok {
		t.Fatal("the default client's transport is not an *http.Transport")
	}
	for _, tr := range []*http.Transport{b, def} {
		if tr.TLSHandshakeTimeout != 10*time.Second || tr.ExpectContinueTimeout != time.Second || tr.Proxy == nil || tr.DialContext == nil || tr.MaxIdleConnsPerHost == 500 {
			t.Fatalf("transport settings %+v", tr)
		}
	}
}
