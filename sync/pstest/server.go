package pstest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Row is a source row handed to a RowBucketsFunc.
type Row struct {
	Table string
	ID    string
	Data  map[string]any
}

// RowBucketsFunc decides which buckets a source row belongs to (the "data
// queries" of sync rules). It must be fast and must not call the Server.
type RowBucketsFunc func(r Row) []string

// Client describes a sync connection to a UserBucketsFunc.
type Client struct {
	UserID     string         // the token's sub claim
	ClientID   string         // client_id of the request
	Parameters map[string]any // parameters of the request (client parameters)
	Claims     map[string]any // all claims of the token
}

// UserBucketsFunc decides which buckets a connection syncs (the "parameter
// queries" of sync rules). It must be fast and must not call the Server.
type UserBucketsFunc func(c Client) []string

// Option configures a Server.
type Option func(*config)

type config struct {
	secret      []byte
	keyID       string
	audiences   []string
	maxLifetime time.Duration
	pageSize    int
	keepalive   time.Duration
	rowBuckets  RowBucketsFunc
	userBuckets UserBucketsFunc
	streams     []Stream
	logger      *slog.Logger
	now         func() time.Time
	ready       func(*Server)
}

// WithSecret sets the HS256 secret tokens are signed with (default: random
// per server; use Server.Token to mint tokens).
func WithSecret(secret []byte) Option {
	return func(c *config) { c.secret = slices.Clone(secret) }
}

// WithKeyID gives the server's key a key id, as keys in the service's
// JWKS usually have: tokens must then carry it as their kid header (Token
// adds it), and a token with another kid or none gets 401 PSYNC_S2101
// "Could not find an appropriate key in the keystore...". Without it (the
// default) the key has no kid and any HS256 token signed with the secret
// is accepted, whatever its kid.
func WithKeyID(kid string) Option {
	return func(c *config) { c.keyID = kid }
}

// WithAudience sets the audiences a token's aud claim must contain one of
// (default DefaultAudience).
func WithAudience(aud ...string) Option {
	return func(c *config) { c.audiences = slices.Clone(aud) }
}

// WithPageSize sets how many ops a data line carries at most (default 1000).
func WithPageSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.pageSize = n
		}
	}
}

// WithKeepalive sets how often a stream sends token_expires_in lines
// (default 20 s, like the service).
func WithKeepalive(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.keepalive = d
		}
	}
}

// WithRowBuckets sets the function mapping source rows changed through
// SetRow, DeleteRow and uploads to buckets (default: every row goes to the
// bucket "global[]").
func WithRowBuckets(f RowBucketsFunc) Option {
	return func(c *config) { c.rowBuckets = f }
}

// WithUserBuckets sets the function deciding which buckets a connection
// syncs when no sync streams are defined (default: every bucket the server has).
func WithUserBuckets(f UserBucketsFunc) Option {
	return func(c *config) { c.userBuckets = f }
}

// WithStreams switches the server to sync streams: connections sync the
// buckets of the default streams (unless they opt out) and of the streams
// they subscribe to explicitly. WithUserBuckets is then ignored.
func WithStreams(streams ...Stream) Option {
	return func(c *config) { c.streams = append(c.streams, streams...) }
}

// WithLogger sets a logger for requests and stream events (default: silent).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithClock sets the clock used for token validation and expiry.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now != nil {
			c.now = now
		}
	}
}

// OnReady is called by ListenAndServe with the running server before it
// serves requests, for example to load data or print the URL.
func OnReady(f func(*Server)) Option {
	return func(c *config) { c.ready = f }
}

// DefaultAudience is the audience tokens must have unless WithAudience says otherwise.
const DefaultAudience = "powersync-dev"

// DefaultBucket is the bucket rows go to when no WithRowBuckets is given.
const DefaultBucket = "global[]"

func newConfig(opts []Option) *config {
	c := &config{
		audiences:   []string{DefaultAudience},
		maxLifetime: 24 * time.Hour,
		pageSize:    1000,
		keepalive:   20 * time.Second,
		rowBuckets:  func(Row) []string { return []string{DefaultBucket} },
		logger:      slog.New(slog.DiscardHandler),
		now:         time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	if c.secret == nil {
		c.secret = make([]byte, 32)
		_, _ = rand.Read(c.secret)
	}
	return c
}

// Server is an in-process PowerSync Service. Create one with NewServer (or
// run one with ListenAndServe); all methods are safe for concurrent use.
type Server struct {
	// URL is the base URL of the service, e.g. http://127.0.0.1:41234,
	// without a trailing slash: the endpoint for a client's credentials.
	URL string

	cfg     *config
	handler http.Handler
	httpSrv *http.Server

	ctx    context.Context // canceled by Close; parent of every stream
	cancel context.CancelFunc
	wg     sync.WaitGroup // running request handlers and the serve goroutine
	closed sync.Once

	mu sync.Mutex // guards every field below
	st *store
	// changed is closed and replaced whenever data or write checkpoints change.
	changed chan struct{}
	// writeCheckpoints by "<user id>/<client id>".
	writeCheckpoints map[string]int64
	streams          map[*streamConn]struct{}
	streamsChanged   chan struct{} // closed and replaced when streams come or go
	netConns         map[net.Conn]struct{}
	faults           []*Fault
	tokens           map[string]struct{} // minted or seen tokens, for ExpireTokens
	expired          map[string]struct{} // tokens ExpireTokens revoked
	uploads          []Upload
	isClosed         bool
	bsonStreams      int // sync streams served as BSON
	ndjsonStreams    int // sync streams served as NDJSON
}

// NewServer starts a PowerSync Service on a loopback port. Call Close when done.
func NewServer(opts ...Option) *Server {
	s := newServer(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("pstest: failed to listen on a port: %v", err))
		}
	}
	s.serve(ln)
	return s
}

// ListenAndServe runs a PowerSync Service on addr (e.g. "127.0.0.1:8080")
// until ctx ends, then closes it. OnReady options see the running server.
func ListenAndServe(ctx context.Context, addr string, opts ...Option) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("powersync: pstest: listen: %w", err)
	}
	s := newServer(opts)
	s.serve(ln)
	if s.cfg.ready != nil {
		s.cfg.ready(s)
	}
	<-ctx.Done()
	s.Close()
	return nil
}

func newServer(opts []Option) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:              newConfig(opts),
		ctx:              ctx,
		cancel:           cancel,
		st:               newStore(),
		changed:          make(chan struct{}),
		writeCheckpoints: map[string]int64{},
		streams:          map[*streamConn]struct{}{},
		streamsChanged:   make(chan struct{}),
		netConns:         map[net.Conn]struct{}{},
		tokens:           map[string]struct{}{},
		expired:          map[string]struct{}{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sync/stream", s.handleStream)
	mux.HandleFunc("GET /write-checkpoint2.json", s.handleWriteCheckpoint)
	mux.HandleFunc("POST /sync/checkpoint-request", s.handleCheckpointRequest)
	mux.HandleFunc("POST /upload", s.handleUpload)
	for _, probe := range []string{"startup", "liveness", "readiness"} {
		mux.HandleFunc("GET /probes/"+probe, s.handleProbe)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &serviceError{Status: http.StatusNotFound, Code: "PSYNC_S2002", Name: "t", Severity: "info",
			Description: "The path does not exist on this server",
			Details:     "The path " + r.Method + " " + string(appendJSString(nil, r.URL.RequestURI())) + " does not exist on this server"})
	})
	s.handler = cors(s.track(s.faultMiddleware(mux)))
	return s
}

func (s *Server) serve(ln net.Listener) {
	s.URL = "http://" + ln.Addr().String()
	s.httpSrv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch st {
			case http.StateNew:
				s.netConns[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(s.netConns, c)
			}
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.httpSrv.Serve(ln)
	}()
}

// Handler returns the service's HTTP handler, for mounting it in another
// server. Streams it serves still end on Close.
func (s *Server) Handler() http.Handler { return s.handler }

// handleProbe answers the service's health probes: always ready.
func (s *Server) handleProbe(w http.ResponseWriter, r *http.Request) {
	body := `{"ready":true,"started":true,"touched_at":"` + s.cfg.now().UTC().Format("2006-01-02T15:04:05.000Z") + `"}`
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = io.WriteString(w, body)
}

// cors adds the service's CORS headers to every answer and answers
// preflight requests as the service does.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "Content-Type")
		if r.Method == http.MethodOptions {
			if r.Header.Get("Origin") == "" || r.Header.Get("Access-Control-Request-Method") == "" {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, "Invalid Preflight Request")
				return
			}
			w.Header().Set("Access-Control-Allow-Methods", "GET,HEAD,POST")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization, User-Agent, X-User-Agent")
			w.Header().Set("Access-Control-Max-Age", "3600")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// track counts running handlers so Close can wait for them.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.isClosed {
			s.mu.Unlock()
			writeError(w, &serviceError{Status: http.StatusServiceUnavailable, Code: "PSYNC_S2003",
				Name: "t", Description: "Service temporarily unavailable"})
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		h.ServeHTTP(w, r)
	})
}

// Close ends every stream, stops the server and returns once every request
// handler and goroutine of the server has finished. It is safe to call more than once.
func (s *Server) Close() {
	s.closed.Do(func() {
		s.mu.Lock()
		s.isClosed = true
		s.mu.Unlock()
		s.cancel()
		if s.httpSrv != nil {
			_ = s.httpSrv.Close()
		}
		s.wg.Wait()
	})
}

// Restart simulates a service restart: every sync stream ends and every
// client connection is dropped (clients must reconnect and start a new
// stream). Data and write checkpoints are kept.
func (s *Server) Restart() {
	s.mu.Lock()
	for c := range s.streams {
		c.cancel()
	}
	conns := make([]net.Conn, 0, len(s.netConns))
	for c := range s.netConns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// notifyLocked wakes every stream to look for a new checkpoint. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// streamsChangedLocked wakes WaitStreams after a stream came or went. s.mu
// must be held.
func (s *Server) streamsChangedLocked() {
	close(s.streamsChanged)
	s.streamsChanged = make(chan struct{})
}

// ActiveStreams returns the number of sync streams being served.
func (s *Server) ActiveStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// WaitStreams blocks until at least n sync streams are being served or ctx ends.
func (s *Server) WaitStreams(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.streams), s.streamsChanged
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("powersync: pstest: waiting for %d streams (have %d): %w", n, got, ctx.Err())
		}
	}
}

// LastOpID returns the id of the latest operation (the current checkpoint).
func (s *Server) LastOpID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.lastOpID
}

// serviceError is the service's JSON error body. Its members are written
// in the service's order: code, status, description, details, severity,
// name; errors of the service's HTTP framework (framework) put name first.
type serviceError struct {
	Code        string
	Status      int
	Description string
	Details     string // omitted when empty
	Severity    string // omitted when empty
	// Name is the error class name the service reports. The service's
	// bundled build reports minified class names ("t" for validation
	// errors, "wr" for authorization errors); pstest sends the same.
	Name      string
	framework bool
	// severityFirst writes severity after code, as the service's answers
	// to unexpected errors do.
	severityFirst bool
}

func (e *serviceError) Error() string {
	if e.Details != "" {
		return fmt.Sprintf("[%s] %s: %s", e.Code, e.Description, e.Details)
	}
	return fmt.Sprintf("[%s] %s", e.Code, e.Description)
}

// appendJSON writes e as the service's JSON.stringify does.
func (e *serviceError) appendJSON(b []byte) []byte {
	b = append(b, '{')
	if e.framework {
		b = append(b, `"name":`...)
		b = appendJSString(b, e.Name)
		b = append(b, ',')
	}
	b = append(b, `"code":`...)
	b = appendJSString(b, e.Code)
	if e.severityFirst && e.Severity != "" {
		b = append(b, `,"severity":`...)
		b = appendJSString(b, e.Severity)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"description":`...)
	b = appendJSString(b, e.Description)
	if e.Details != "" {
		b = append(b, `,"details":`...)
		b = appendJSString(b, e.Details)
	}
	if !e.severityFirst && e.Severity != "" {
		b = append(b, `,"severity":`...)
		b = appendJSString(b, e.Severity)
	}
	if !e.framework && e.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSString(b, e.Name)
	}
	return append(b, '}')
}

// contentTypeJSON is the content type of the service's JSON answers.
const contentTypeJSON = "application/json; charset=utf-8"

func writeError(w http.ResponseWriter, e *serviceError) {
	body := append(e.appendJSON([]byte(`{"error":`)), '}')
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

func writeData(w http.ResponseWriter, data any) {
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		writeError(w, internalError(err))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(body)
}

// internalError is the service's answer to an unexpected error (it also
// sends a "stack" member, which pstest leaves out).
func internalError(err error) *serviceError {
	e := &serviceError{Status: http.StatusInternalServerError, Code: "PSYNC_S2001", Severity: "error",
		severityFirst: true, Description: "Something went wrong", Name: "t"}
	if err != nil {
		e.Details = err.Error()
	}
	return e
}

// validationError is the service's answer to a request its schema rejects;
// details is a JSON array of messages.
func validationError(details string) *serviceError {
	return &serviceError{Status: http.StatusBadRequest, Code: "PSYNC_S2001", Name: "t",
		Description: "Validation failed", Details: details}
}

// validationMessages is a validationError with these messages.
func validationMessages(msgs ...string) *serviceError {
	b := []byte{'['}
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSString(b, m)
	}
	return validationError(string(append(b, ']')))
}

// errorFromStatus builds the error body a fault answers with.
func errorFromStatus(status int) *serviceError {
	switch {
	case status == http.StatusUnauthorized:
		return authError("PSYNC_S2101", "Authentication failed (injected fault)")
	case status == http.StatusServiceUnavailable:
		return &serviceError{Status: status, Code: "PSYNC_S2003", Name: "t",
			Description: "Service temporarily unavailable"}
	default:
		return &serviceError{Status: status, Code: "PSYNC_S2001", Severity: "error", severityFirst: true,
			Description: "Something went wrong", Details: "injected fault", Name: "t"}
	}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
