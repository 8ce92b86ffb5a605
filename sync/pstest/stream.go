package pstest

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// streamConn is one running sync stream.
type streamConn struct {
	cancel context.CancelFunc
}

// errStreamEnd ends a stream on purpose (fault or expired token).
var errStreamEnd = errors.New("stream ended")

// lineWriter writes lines to a stream, applying a fault's line limit and delay.
type lineWriter struct {
	ctx   context.Context
	bw    *bufio.Writer
	rc    *http.ResponseController
	fault *Fault
	gz    *gzip.Writer // the stream's gzip encoding, if any
	lines int
}

func (lw *lineWriter) write(line []byte, err error) error {
	if err != nil {
		return fmt.Errorf("powersync: pstest: encode line: %w", err)
	}
	if lw.fault.LineDelay > 0 {
		if err := lw.flush(); err != nil {
			return err
		}
		t := time.NewTimer(lw.fault.LineDelay)
		select {
		case <-lw.ctx.Done():
			t.Stop()
			return lw.ctx.Err()
		case <-t.C:
		}
	}
	if err := lw.ctx.Err(); err != nil {
		return err
	}
	if _, err := lw.bw.Write(line); err != nil {
		return err
	}
	lw.lines++
	if lw.fault.LineDelay > 0 {
		if err := lw.flush(); err != nil {
			return err
		}
	}
	if lw.fault.EndAfterLines > 0 && lw.lines >= lw.fault.EndAfterLines {
		_ = lw.flush()
		return errStreamEnd
	}
	return nil
}

func (lw *lineWriter) flush() error {
	if err := lw.bw.Flush(); err != nil {
		return err
	}
	if lw.gz != nil {
		if err := lw.gz.Flush(); err != nil {
			return err
		}
	}
	return lw.rc.Flush()
}

// sentCheckpoint is what a stream last told its client.
type sentCheckpoint struct {
	lastOpID int64
	wc       int64
	buckets  map[string]bucketChecksum
	streams  []streamDesc
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	// As in the service, the body is parsed and validated before the token
	// is checked: a bad body gets 400 even without a valid token.
	params, perr := readParams(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	if verr := validateParams(streamRequestSchema, params); verr != nil {
		writeError(w, verr)
		return
	}
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	req := syncRequest{Streams: streamsRequest{IncludeDefaults: true}}
	if err := decodeParams(params, &req); err != nil {
		writeError(w, internalError(err))
		return
	}
	positions := map[string]int64{}
	for _, b := range req.Buckets {
		after, ok := jsBigInt(b.After)
		if !ok {
			// The service fails while it starts the stream, after setting
			// the stream's X-Accel-Buffering header.
			w.Header().Set("X-Accel-Buffering", "no")
			e := internalError(nil)
			e.Details = "Cannot convert " + b.After + " to a BigInt" // the service's JavaScript error text
			writeError(w, e)
			return
		}
		positions[b.Name] = after
	}
	enc := &encoder{bson: wantsBSON(r.Header.Get("Accept")), rawData: req.RawData == nil || *req.RawData}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stopOnClose := context.AfterFunc(s.ctx, cancel)
	defer stopOnClose()
	sc := &streamConn{cancel: cancel}
	s.mu.Lock()
	if enc.bson {
		s.bsonStreams++
	} else {
		s.ndjsonStreams++
	}
	s.streams[sc] = struct{}{}
	s.streamsChangedLocked()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, sc)
		s.streamsChangedLocked()
		s.mu.Unlock()
	}()

	if enc.bson {
		w.Header().Set("Content-Type", ContentTypeBSON)
	} else {
		w.Header().Set("Content-Type", ContentTypeNDJSON)
	}
	w.Header().Set("X-Accel-Buffering", "no")
	var out io.Writer = w
	var gz *gzip.Writer
	if wantsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		gz = gzip.NewWriter(w)
		out = gz
		defer gz.Close()
	}
	w.WriteHeader(http.StatusOK)

	lw := &lineWriter{ctx: ctx, bw: bufio.NewWriterSize(out, 64<<10), rc: http.NewResponseController(w),
		fault: faultFrom(r.Context()), gz: gz}
	client := Client{UserID: id.userID, ClientID: req.ClientID, Parameters: req.Parameters, Claims: id.claims}
	err := s.runStream(ctx, lw, enc, &req, client, id, positions)
	_ = lw.flush()
	if err != nil && !errors.Is(err, errStreamEnd) && ctx.Err() == nil {
		s.cfg.logger.Debug("pstest: stream ended", "user", id.userID, "err", err)
	}
}

func (s *Server) runStream(ctx context.Context, lw *lineWriter, enc *encoder, req *syncRequest, client Client,
	id *identity, positions map[string]int64) error {
	if id.exp.Sub(s.cfg.now()) <= 0 {
		// An expired token the service still accepts (within its clock
		// tolerance): the stream is one token_expires_in 0 line.
		if err := lw.write(enc.tokenExpiresIn(0)); err != nil {
			return err
		}
		return errStreamEnd
	}
	// Like the service, a token_expires_in line goes out a keepalive period
	// after the previous one (or the stream's start), 20 s before the token
	// expires, and when it expires (value 0, then the stream ends),
	// whichever comes first.
	nextTokenLine := func() time.Duration {
		now := s.cfg.now()
		d := s.cfg.keepalive
		if w := id.exp.Add(-20 * time.Second).Sub(now); w > 0 {
			d = min(d, w)
		}
		return max(min(d, id.exp.Sub(now)), 0)
	}
	tokenLine := time.NewTimer(nextTokenLine())
	defer tokenLine.Stop()
	expiresIn := func() int64 {
		secs := id.exp.Sub(s.cfg.now()).Seconds()
		return max(int64(math.Ceil(secs)), 0)
	}

	var sent *sentCheckpoint
	var dataBuf []byte
	for {
		s.mu.Lock()
		changed := s.changed
		_, revoked := s.expired[id.token]
		var cp *sentCheckpoint
		if !revoked {
			cp = s.checkpointLocked(req, client)
		}
		s.mu.Unlock()
		if revoked {
			if err := lw.write(enc.tokenExpiresIn(0)); err != nil {
				return err
			}
			return errStreamEnd
		}

		if err := s.sendCheckpoint(lw, enc, sent, cp, positions, &dataBuf); err != nil {
			return err
		}
		sent = cp
		if err := lw.flush(); err != nil {
			return err
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-tokenLine.C:
			n := expiresIn()
			if err := lw.write(enc.tokenExpiresIn(n)); err != nil {
				return err
			}
			if n == 0 {
				return errStreamEnd
			}
			tokenLine.Reset(nextTokenLine())
		}
	}
}

// checkpointLocked computes the connection's current checkpoint. s.mu must be held.
func (s *Server) checkpointLocked(req *syncRequest, client Client) *sentCheckpoint {
	set := s.resolveLocked(req, client)
	cp := &sentCheckpoint{
		lastOpID: s.st.lastOpID,
		wc:       s.writeCheckpoints[wcKey(client.UserID, req.ClientID)],
		buckets:  make(map[string]bucketChecksum, len(set.buckets)),
		streams:  set.streams,
	}
	for name, bi := range set.buckets {
		bc := bucketChecksum{Bucket: name, Priority: bi.priority, Subscriptions: bi.subs}
		if bc.Subscriptions == nil {
			bc.Subscriptions = []subRef{}
		}
		if b := s.st.buckets[name]; b != nil {
			bc.Checksum = int32(b.checksum)
			bc.Count = len(b.ops)
		}
		cp.buckets[name] = bc
	}
	return cp
}

// sendCheckpoint sends cp (in full, or as a diff against sent), the data the
// client lacks and the completion lines. It sends nothing if nothing changed.
func (s *Server) sendCheckpoint(lw *lineWriter, enc *encoder, sent, cp *sentCheckpoint, positions map[string]int64,
	dataBuf *[]byte) error {
	wrong := func(list []bucketChecksum) []bucketChecksum {
		if lw.fault.WrongChecksum == "" {
			return list
		}
		out := slices.Clone(list)
		for i := range out {
			if lw.fault.WrongChecksum == "*" || lw.fault.WrongChecksum == out[i].Bucket {
				out[i].Checksum++
			}
		}
		return out
	}

	fetch := []bucketChecksum{}
	full := sent == nil || !sameStreams(sent.streams, cp.streams)
	if full {
		names := sortedKeys(cp.buckets)
		for _, n := range names {
			fetch = append(fetch, cp.buckets[n])
		}
		for n := range positions {
			if _, ok := cp.buckets[n]; !ok {
				delete(positions, n)
			}
		}
		if err := lw.write(enc.checkpoint(cp.lastOpID, cp.wc, wrong(fetch), cp.streams)); err != nil {
			return err
		}
	} else {
		var removed []string
		for _, n := range sortedKeys(cp.buckets) {
			b := cp.buckets[n]
			if old, ok := sent.buckets[n]; !ok || !old.same(b) {
				fetch = append(fetch, b)
			}
		}
		for _, n := range sortedKeys(sent.buckets) {
			if _, ok := cp.buckets[n]; !ok {
				removed = append(removed, n)
				delete(positions, n)
			}
		}
		if len(fetch) == 0 && len(removed) == 0 && cp.wc == sent.wc {
			return nil
		}
		if removed == nil {
			removed = []string{}
		}
		if err := lw.write(enc.checkpointDiff(cp.lastOpID, cp.wc, wrong(fetch), removed)); err != nil {
			return err
		}
	}

	// Data, highest priority (lowest number) first.
	sort.SliceStable(fetch, func(i, j int) bool { return fetch[i].Priority < fetch[j].Priority })
	for i, b := range fetch {
		if err := s.sendBucketData(lw, enc, b.Bucket, cp.lastOpID, positions, dataBuf); err != nil {
			return err
		}
		last := i == len(fetch)-1
		if !last && fetch[i+1].Priority != b.Priority {
			if err := lw.write(enc.partialComplete(cp.lastOpID, b.Priority)); err != nil {
				return err
			}
		}
	}
	return lw.write(enc.checkpointComplete(cp.lastOpID))
}

func sameStreams(a, b []streamDesc) bool {
	return slices.EqualFunc(a, b, func(x, y streamDesc) bool {
		return x.Name == y.Name && x.IsDefault == y.IsDefault && slices.Equal(x.Errors, y.Errors)
	})
}

// sendBucketData sends the ops of a bucket after the client's position up to
// upTo, in pages.
func (s *Server) sendBucketData(lw *lineWriter, enc *encoder, name string, upTo int64, positions map[string]int64,
	dataBuf *[]byte) error {
	for {
		after := positions[name]
		s.mu.Lock()
		var ops []op
		more := false
		if b := s.st.buckets[name]; b != nil {
			ops, more = b.page(after, upTo, s.cfg.pageSize)
		}
		s.mu.Unlock()
		if len(ops) == 0 {
			return nil
		}
		line, err := enc.data(*dataBuf, name, after, more, ops)
		*dataBuf = line
		if err := lw.write(line, err); err != nil {
			return err
		}
		positions[name] = ops[len(ops)-1].id
		if lw.fault.EndMidCheckpoint {
			_ = lw.flush()
			return errStreamEnd
		}
		if !more {
			return nil
		}
	}
}

// wantsGzip reports whether a stream is gzip-compressed for an
// Accept-Encoding header. The service compresses streams with zstd or gzip
// (preferring zstd) when the client accepts them; pstest has no zstd, so it
// uses gzip whenever gzip is acceptable.
func wantsGzip(acceptEncoding string) bool {
	for part := range strings.SplitSeq(acceptEncoding, ",") {
		fields := strings.Split(part, ";")
		if !strings.EqualFold(strings.TrimSpace(fields[0]), "gzip") {
			continue
		}
		for _, p := range fields[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f <= 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}
