package pstest

import (
	"context"
	"net/http"
	"time"
)

// Fault is a failure to inject into the next requests (see Server.Inject).
// The zero values of its fields mean "no such failure".
type Fault struct {
	// Path is the request path the fault applies to (default "/sync/stream").
	Path string
	// Count is how many requests the fault applies to (default 1).
	Count int

	// Status answers the request with this HTTP status and the service's
	// error JSON instead of handling it (401 gets an auth error, 503 the
	// "service unavailable" error, others a generic 5xx error).
	Status int

	// The fields below apply to sync streams only.

	// EndAfterLines ends the stream right after this many lines.
	EndAfterLines int
	// EndMidCheckpoint ends the stream in the middle of the first checkpoint
	// that has data: after its first data line, before checkpoint_complete.
	EndMidCheckpoint bool
	// WrongChecksum reports a wrong checksum (off by one) for this bucket in
	// every checkpoint line of the stream; "*" means every bucket.
	WrongChecksum string
	// LineDelay waits this long before writing each line (and flushes every line).
	LineDelay time.Duration
}

// Inject schedules a fault for the next matching request(s). Faults are
// used in the order they were injected.
func (s *Server) Inject(f Fault) {
	if f.Path == "" {
		f.Path = "/sync/stream"
	}
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault removes one use of the first pending fault for path.
func (s *Server) takeFault(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Path != path {
			continue
		}
		f.Count--
		if f.Count <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		c := *f
		return &c
	}
	return nil
}

type faultKey struct{}

func (s *Server) faultMiddleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := s.takeFault(r.URL.Path)
		if f != nil && f.Status != 0 {
			writeError(w, errorFromStatus(f.Status))
			return
		}
		if f != nil {
			r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
		}
		h.ServeHTTP(w, r)
	})
}

func faultFrom(ctx context.Context) *Fault {
	f, _ := ctx.Value(faultKey{}).(*Fault)
	if f == nil {
		return &Fault{}
	}
	return f
}
