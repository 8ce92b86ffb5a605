package sync

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	gosync "sync"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

const (
	contentNDJSON = "application/x-ndjson"
	contentBSON   = "application/vnd.powersync.bson-stream"
)

// errEmptyStream is the error of a sync stream the service ended without
// a single line (a 200 answer that is not a sync stream).
var errEmptyStream = pserr.Errorf("%w: the service ended the sync stream without sending a line", ErrProtocol)

// errStreamIdle ends a connection on which nothing arrived for too long.
var errStreamIdle = errors.New("powersync: sync stream idle for too long")

// downloadLoop runs sync iterations until ctx ends, waiting the retry delay
// after every failed or closed iteration unless the state machine asked for
// an immediate restart (docs/sync.md, "One connection").
func (s *Syncer) downloadLoop(ctx context.Context, sess *session) {
	defer s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.reconnecting = false })
	for ctx.Err() == nil {
		immediate, err := s.iteration(ctx, sess)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			err = s.redact(err)
			s.log.Warn("powersync: sync connection failed", "error", err)
			s.bus.update(func(core *synccore.CoreStatus, sdk *sdkStatus) {
				sdk.downloadError = err
				sdk.reconnecting = false
				core.Connected, core.Connecting, core.Downloading = false, false, nil
			})
		}
		if immediate && err == nil {
			// A hidden restart (new token, new subscriptions): the
			// status stays connected while the next stream opens.
			s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.reconnecting = true })
			continue
		}
		s.bus.update(func(core *synccore.CoreStatus, sdk *sdkStatus) {
			sdk.reconnecting = false
			core.Connected, core.Connecting, core.Downloading = false, false, nil
		})
		if s.o.sleep(ctx, s.o.jitter(s.o.retryDelay)) != nil {
			return
		}
	}
}

// startRequest builds the start payload from the options and the streams
// the app currently holds.
func (s *Syncer) startRequest() synccore.StartRequest {
	return synccore.StartRequest{
		Parameters:      s.o.params,
		IncludeDefaults: s.o.includeDefaults,
		ActiveStreams:   s.activeStreams(),
		AppMetadata:     s.o.appMetadata,
		CheckpointMode:  s.o.mode,
	}
}

// iteration is one sync connection: start the state machine, open the
// stream, feed it the received lines (a batch at a time, see
// receivedLines) and the local events, and stop the state machine. It
// reports whether the next connection should start at once.
func (s *Syncer) iteration(ctx context.Context, sess *session) (immediate bool, err error) {
	sess.takeEvents() // events from before this iteration are moot
	instrs, err := s.eng.Start(ctx, s.startRequest())
	if err != nil {
		return false, pserr.Errorf("powersync: start sync: %w", err)
	}
	var est *synccore.EstablishSyncStream
	for _, in := range instrs {
		switch in := in.(type) {
		case synccore.EstablishSyncStream:
			est = &in
		case synccore.CloseSyncStream:
			s.handle(ctx, sess, instrs)
			return false, nil
		}
	}
	s.handle(ctx, sess, instrs)
	if est == nil {
		return false, nil
	}
	defer func() {
		// Stop the state machine even when ctx is cancelled, and show its
		// final (disconnected) status.
		stop, serr := s.eng.Stop(context.WithoutCancel(ctx))
		if serr != nil {
			s.log.Warn("powersync: stop sync", "error", serr)
		}
		s.handleStatusOnly(stop)
		if sess.cr != nil {
			sess.cr.reset()
		}
	}()

	resp, err := s.openStream(ctx, est.Request)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if est.CheckpointRequest != nil && sess.cr != nil {
		cr := *est.CheckpointRequest
		sess.wg.Add(1)
		go func() {
			defer sess.wg.Done()
			if err := s.seedCheckpointRequests(ctx, sess, cr); err != nil && ctx.Err() == nil {
				sess.fail(err)
			}
		}()
	}

	c, done := s.step(ctx, sess, s.eng.ConnectionEstablished)
	s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.reconnecting = false })
	if done {
		return c.immediate, c.err
	}

	lines, budget, stopReader := s.readLines(resp)
	defer stopReader()

	var idle <-chan time.Time
	var idleTimer *time.Timer
	if s.o.idleTimeout > 0 {
		idleTimer = time.NewTimer(s.o.idleTimeout)
		defer idleTimer.Stop()
		idle = idleTimer.C
	}
	first := true
	var held *lineMsg // read while gathering a batch, handled next
	for {
		var l lineMsg
		if held != nil {
			l, held = *held, nil
		} else {
			select {
			case <-ctx.Done():
				return false, ctx.Err()
			case <-idle:
				return false, errStreamIdle
			case l = <-lines:
				if idleTimer != nil {
					idleTimer.Reset(s.o.idleTimeout)
				}
			case <-sess.evNotify:
				if c, done := s.onEvents(ctx, sess); done {
					return c.immediate, c.err
				}
				continue
			}
		}
		if l.err != nil {
			c, _ := s.step(ctx, sess, s.eng.ConnectionEnd)
			if c.err != nil {
				return false, c.err
			}
			if errors.Is(l.err, io.EOF) {
				if first {
					return false, errEmptyStream
				}
				return c.immediate, nil
			}
			return false, pserr.Errorf("powersync: read sync stream: %w", l.err)
		}
		taken := len(l.data)
		next := receivedLines(l, lines, &held, &taken)
		feed := s.eng.NextLinesText
		if l.binary {
			feed = s.eng.NextLinesBinary
		}
		c, done := s.step(ctx, sess, func(ctx context.Context) ([]synccore.Instruction, error) { return feed(ctx, next) })
		budget.release(taken)
		if idleTimer != nil {
			// The time spent writing the lines (a large apply can take
			// long) is not silence of the service.
			idleTimer.Reset(s.o.idleTimeout)
		}
		if first {
			first = false
			sess.kickUpload() // upload offline writes on every (re)connect
		}
		if done {
			return c.immediate, c.err
		}
	}
}

// receivedLines returns a source of lines for the state machine: first's
// data, then each line the reader has already received, never waiting for
// the network, so that runs of data lines are written in one transaction
// (see synccore.Engine.NextLinesText). A message that is not a line (the
// end of the stream, or an error) is left in *held for the download loop.
// *taken grows by the size of each line taken from lines.
func receivedLines(first lineMsg, lines <-chan lineMsg, held **lineMsg, taken *int) func() ([]byte, bool) {
	pending := true
	return func() ([]byte, bool) {
		if pending {
			pending = false
			return first.data, true
		}
		if *held != nil {
			return nil, false
		}
		select {
		case m := <-lines:
			if m.err != nil {
				*held = &m
				return nil, false
			}
			*taken += len(m.data)
			return m.data, true
		default:
			return nil, false
		}
	}
}

// onEvents handles what the session posted: completed uploads, a refreshed
// token, changed subscriptions, or a failure.
func (s *Syncer) onEvents(ctx context.Context, sess *session) (closeResult, bool) {
	upload, token, subs, failure := sess.takeEvents()
	if failure != nil {
		return closeResult{err: failure}, true
	}
	if token {
		if c, done := s.step(ctx, sess, s.eng.RefreshedToken); done {
			return c, true
		}
	}
	if subs {
		active := s.activeStreams()
		if c, done := s.step(ctx, sess, func(ctx context.Context) ([]synccore.Instruction, error) {
			return s.eng.UpdateSubscriptions(ctx, active)
		}); done {
			return c, true
		}
	}
	if upload {
		if c, done := s.step(ctx, sess, s.eng.CompletedUpload); done {
			return c, true
		}
	}
	return closeResult{}, false
}

type closeResult struct {
	immediate bool
	err       error
}

// step runs one state machine call and acts on its instructions. done is
// true when the iteration must end.
func (s *Syncer) step(ctx context.Context, sess *session, call func(context.Context) ([]synccore.Instruction, error)) (closeResult, bool) {
	instrs, err := call(ctx)
	if err != nil {
		// A batch of lines returns the instructions of the lines before
		// the failing one: act on them (a completed sync, the status).
		s.handle(ctx, sess, instrs)
		if ctx.Err() != nil {
			return closeResult{err: ctx.Err()}, true
		}
		return closeResult{err: pserr.Errorf("powersync: sync: %w", err)}, true
	}
	for _, in := range instrs {
		if _, ok := in.(synccore.EstablishSyncStream); ok {
			s.log.Warn("powersync: unexpected request to open a sync stream during a connection")
		}
	}
	if c := s.handle(ctx, sess, instrs); c != nil {
		return closeResult{immediate: c.HideDisconnect, err: closeReason(instrs)}, true
	}
	return closeResult{}, false
}

// closeReason is the error a closing instruction list stands for: an
// expired token is one (the user must see why the connection ends), any
// other close is a normal end of the connection.
func closeReason(instrs []synccore.Instruction) error {
	for _, in := range instrs {
		if fc, ok := in.(synccore.FetchCredentials); ok && fc.DidExpire {
			return ErrTokenExpired
		}
	}
	return nil
}

// handle acts on instructions and returns the CloseSyncStream instruction,
// if any.
func (s *Syncer) handle(ctx context.Context, sess *session, instrs []synccore.Instruction) *synccore.CloseSyncStream {
	var closing *synccore.CloseSyncStream
	for _, in := range instrs {
		switch in := in.(type) {
		case synccore.LogLine:
			s.log.Log(ctx, logLevel(in.Severity), in.Line)
		case synccore.UpdateSyncStatus:
			st := in.Status
			s.bus.update(func(core *synccore.CoreStatus, _ *sdkStatus) { *core = st })
		case synccore.FetchCredentials:
			if in.DidExpire {
				s.creds.invalidate()
				continue
			}
			if !sess.prefetching.CompareAndSwap(false, true) {
				continue // one prefetch at a time, however often the service warns
			}
			sess.wg.Add(1)
			go func() {
				defer sess.wg.Done()
				defer sess.prefetching.Store(false)
				ok, err := s.creds.prefetch(ctx)
				if err != nil {
					s.log.Warn("powersync: prefetch credentials", "error", err)
					return
				}
				if ok {
					sess.post(func() { sess.evToken = true })
				}
			}()
		case synccore.DidCompleteSync:
			s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { sdk.downloadError = nil })
		case synccore.CloseSyncStream:
			c := in
			closing = &c
		}
	}
	return closing
}

// handleStatusOnly applies status and log instructions (used after stop).
func (s *Syncer) handleStatusOnly(instrs []synccore.Instruction) {
	for _, in := range instrs {
		switch in := in.(type) {
		case synccore.UpdateSyncStatus:
			st := in.Status
			s.bus.update(func(core *synccore.CoreStatus, _ *sdkStatus) { *core = st })
		case synccore.LogLine:
			s.log.Log(context.Background(), logLevel(in.Severity), in.Line)
		}
	}
}

// logLevel maps the state machine's log severities to slog levels.
func logLevel(severity string) slog.Level {
	switch severity {
	case "INFO":
		return slog.LevelInfo
	case "WARNING":
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// openStream posts the sync request and returns the streaming response.
func (s *Syncer) openStream(ctx context.Context, body json.RawMessage) (*http.Response, error) {
	const op = "POST /sync/stream"
	creds, err := s.creds.get(ctx)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, creds.endpoint("/sync/stream"), bytes.NewReader(body))
	if err != nil {
		return nil, pserr.Errorf("powersync: %s: %w", op, err)
	}
	s.setHeaders(req, creds)
	req.Header.Set("Content-Type", "application/json")
	if s.o.bson {
		req.Header.Set("Accept", contentBSON+";q=0.9,"+contentNDJSON+";q=0.8")
	} else {
		req.Header.Set("Accept", contentNDJSON)
	}
	resp, err := doRequest(s.o.httpClient, op, req, s.o.responseTimeout, true)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode == http.StatusOK && mt == "application/json" {
		// Not a sync stream: a proxy's or the service's error answered
		// with 200. Its text is the error.
		defer resp.Body.Close()
		herr := readHTTPError(op, resp)
		herr.Message = strings.TrimSpace("a JSON answer instead of a sync stream: " + herr.Message)
		return nil, herr
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		herr := readHTTPError(op, resp)
		if herr.Unauthorized() {
			s.creds.invalidate()
		}
		return nil, herr
	}
	return resp, nil
}

func (s *Syncer) setHeaders(req *http.Request, creds *Credentials) {
	req.Header.Set("Authorization", "Token "+creds.Token)
	req.Header.Set("User-Agent", s.o.userAgent)
	req.Header.Set("X-User-Agent", s.o.userAgent)
}

// readHTTPError builds an HTTPError from a failed response, using the
// service's error envelope when there is one. The request's Authorization
// value is redacted from what the response says, in case it echoes it.
func readHTTPError(op string, resp *http.Response) *HTTPError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	herr := &HTTPError{Op: op, StatusCode: resp.StatusCode}
	var env struct {
		Error struct {
			Code        string `json:"code"`
			Description string `json:"description"`
			Details     string `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Description != "") {
		herr.Code, herr.Message = env.Error.Code, env.Error.Description
		if env.Error.Details != "" {
			herr.Message += " (" + env.Error.Details + ")"
		}
	} else {
		herr.Message = strings.TrimSpace(string(body))
	}
	secrets := requestSecrets(resp.Request)
	herr.Code, herr.Message = redactText(herr.Code, secrets), redactText(herr.Message, secrets)
	return herr
}

// streamBufferSize is the read buffer of a sync stream. Longer lines are
// put together by readLine, so it bounds nothing; it is small because an
// idle connection keeps it (a process running thousands of clients, such
// as 'powersync load', holds one per client).
const streamBufferSize = 16 << 10

// readAhead is how many received lines may wait for the state machine.
const readAhead = 4

// readAheadBytes bounds the bytes of the lines that were read but not yet
// applied: those waiting in the channel and those the state machine is
// handling. It is above a run of data lines (synccore.MaxBatchBytes plus
// one line of the service's usual size), so that small lines are read
// ahead as before; a line larger than what is left waits until everything
// before it was applied. With the line being read, the client then holds
// at most about two large lines, whatever the stream.
const readAheadBytes = 16 << 20

type lineMsg struct {
	data   []byte
	binary bool
	err    error
}

// lineBudget counts the bytes of lines handed to the state machine and not
// yet applied (see readAheadBytes).
type lineBudget struct {
	mu    gosync.Mutex
	used  int
	max   int
	freed chan struct{}
}

// acquire waits until n more bytes fit (or nothing is outstanding), and
// reports false if quit closed first.
func (b *lineBudget) acquire(n int, quit <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.freed:
		case <-quit:
			return false
		}
	}
}

// release returns the bytes of applied lines.
func (b *lineBudget) release(n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.freed <- struct{}{}:
	default:
	}
}

// readLines reads the response body on its own goroutine, one NDJSON line
// or BSON document at a time, and hands each to the returned channel. A few
// lines (readAhead, readAheadBytes) wait in the channel, so that lines are
// read while others are written and a run of data lines can take the next
// line at once; memory does not grow with the stream. The caller releases
// each line's bytes into the budget once it was applied. The stop function
// closes the body and waits for the goroutine.
func (s *Syncer) readLines(resp *http.Response) (<-chan lineMsg, *lineBudget, func()) {
	ch := make(chan lineMsg, readAhead)
	quit := make(chan struct{})
	done := make(chan struct{})
	budget := &lineBudget{max: readAheadBytes, freed: make(chan struct{}, 1)}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	binary := mt == contentBSON
	br := bufio.NewReaderSize(resp.Body, streamBufferSize)
	go func() {
		defer close(done)
		for {
			var msg lineMsg
			if binary {
				msg.data, msg.err = readBSONDocument(br, s.o.maxLineSize)
				msg.binary = true
			} else {
				msg.data, msg.err = readLine(br, s.o.maxLineSize)
			}
			if !budget.acquire(len(msg.data), quit) {
				return
			}
			select {
			case ch <- msg:
			case <-quit:
				return
			}
			if msg.err != nil {
				return
			}
		}
	}()
	return ch, budget, func() {
		close(quit)
		resp.Body.Close()
		<-done
	}
}

// readLine returns the next non-empty line (without the line end), or an
// error (io.EOF at the end of the stream). A line longer than the reader's
// buffer is gathered in pieces and joined once, so that it costs about
// twice its size at the moment of joining rather than the sum of a growing
// slice's copies.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var parts [][]byte
	n := 0
	for {
		frag, err := br.ReadSlice('\n')
		if n+len(frag) > max+2 {
			return nil, fmt.Errorf("%w: sync line longer than %d bytes", ErrProtocol, max)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			parts = append(parts, bytes.Clone(frag))
			n += len(frag)
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		var line []byte
		if len(parts) == 0 {
			line = bytes.Clone(bytes.TrimSpace(frag))
		} else {
			joined := make([]byte, 0, n+len(frag))
			for _, p := range parts {
				joined = append(joined, p...)
			}
			line = bytes.TrimSpace(append(joined, frag...))
		}
		if len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, io.EOF
		}
		parts, n = nil, 0
	}
}

// readBSONDocument returns the next BSON document of the stream (each starts
// with its little-endian int32 length, which includes the 4 length bytes).
func readBSONDocument(br *bufio.Reader, max int) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, pserr.Errorf("powersync: sync stream ended inside a BSON document: %w", err)
		}
		return nil, err
	}
	n := int64(int32(binary.LittleEndian.Uint32(hdr[:])))
	if (n < 5 || n > int64(max)) && hdr[0] == '{' {
		return nil, fmt.Errorf("%w: the stream is not BSON (it starts with '{', as JSON does) though its Content-Type says so", ErrProtocol)
	}
	if n < 5 {
		return nil, fmt.Errorf("%w: invalid BSON document length %d", ErrProtocol, n)
	}
	if n > int64(max) {
		return nil, fmt.Errorf("%w: BSON document longer than %d bytes", ErrProtocol, max)
	}
	doc := make([]byte, n)
	copy(doc, hdr[:])
	if _, err := io.ReadFull(br, doc[4:]); err != nil {
		return nil, pserr.Errorf("powersync: sync stream ended inside a BSON document: %w", noEOF(err))
	}
	return doc, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// post records a local event for the running iteration.
func (sess *session) post(f func()) {
	sess.evMu.Lock()
	f()
	sess.evMu.Unlock()
	select {
	case sess.evNotify <- struct{}{}:
	default:
	}
}

// fail ends the running iteration with err.
func (sess *session) fail(err error) { sess.post(func() { sess.evFailure = err }) }

// takeEvents returns and clears the pending local events.
func (sess *session) takeEvents() (upload, token, subs bool, failure error) {
	sess.evMu.Lock()
	defer sess.evMu.Unlock()
	upload, token, subs, failure = sess.evUpload, sess.evToken, sess.evSubs, sess.evFailure
	sess.evUpload, sess.evToken, sess.evSubs, sess.evFailure = false, false, false, nil
	return
}

func (sess *session) kickUpload() {
	select {
	case sess.uploadKick <- struct{}{}:
	default:
	}
}
