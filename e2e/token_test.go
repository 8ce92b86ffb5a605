package e2e

import (
	"context"
	"errors"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	pssync "github.com/gopowersync/powersync/sync"
)

// statusLog records every status a syncer reports.
type statusLog struct {
	mu   gosync.Mutex
	all  []pssync.Status
	stop context.CancelFunc
	done chan struct{}
}

func recordStatuses(s *pssync.Syncer) *statusLog {
	ctx, cancel := context.WithCancel(context.Background())
	l := &statusLog{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for st := range s.Statuses(ctx) {
			l.mu.Lock()
			l.all = append(l.all, st)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *statusLog) end() []pssync.Status {
	l.stop()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all
}

// TestShortLivedTokens: a connector handing out tokens that live 35 s
// keeps the client connected over several lifetimes: each token is
// replaced before it expires, with no visible disconnect and no error, and
// changes keep arriving.
func TestShortLivedTokens(t *testing.T) {
	t.Parallel()
	user := uuid.NewString()
	c := newClient(t, clientOpts{user: user, token: func() (string, time.Time) {
		return svc.token(tokenOpts{sub: user, ttl: 35 * time.Second})
	}})
	c.connect()
	c.waitSynced()
	rec := recordStatuses(c.s)
	start := c.fetchN()
	const lifetimes = 3
	deadline := time.Now().Add(lifetimes*35*time.Second + waitLimit)
	for c.fetchN() < start+lifetimes && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := c.fetchN() - start; n < lifetimes {
		t.Fatalf("%d token refreshes in %d lifetimes", n, lifetimes)
	}
	prefix := "token " + uuid.NewString()[:8] + " "
	pgExec(t, "INSERT INTO lists(name) VALUES ($1)", prefix+"after refreshes")
	listsEqual(t, c, prefix)
	for _, st := range rec.end() {
		if !st.Connected || st.DownloadError != nil {
			t.Fatalf("status during token refreshes: %v", st)
		}
	}
	if n := c.logs.count("expired"); n > 0 {
		t.Errorf("%d log lines mention an expired token:\n%s", n, c.logs.tail(40))
	}
}

// badTokenStatus connects a client whose tokens the service refuses and
// waits for a status with a download error, which it returns.
func badTokenStatus(t *testing.T, tok func(user string) (string, time.Time)) (*client, pssync.Status) {
	user := uuid.NewString()
	c := newClient(t, clientOpts{user: user, token: func() (string, time.Time) { return tok(user) }})
	c.connect()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := c.s.WaitForStatus(ctx, func(st pssync.Status) bool { return st.DownloadError != nil })
	if err != nil {
		t.Fatalf("no download error reported: %v; status %v", err, st)
	}
	if st.Connected || st.HasSynced {
		t.Errorf("status with a refused token: %v", st)
	}
	return c, st
}

// TestExpiredToken: an expired token is a download error that says so
// (errors.Is ErrTokenExpired), whichever way the service refuses it: a
// token that expired moments ago is first answered with 200 and
// token_expires_in 0 (the 1.25 service does so for about a minute), an
// older one with 401 PSYNC_S2103. The client keeps asking its connector
// for a new token, and is not seen as connected meanwhile.
func TestExpiredToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ago  time.Duration
		http bool // refused with a 401, not with a 200 stream and token_expires_in 0
	}{{"just expired", 5 * time.Second, false}, {"long expired", time.Hour, true}} {
		t.Run(tc.name, func(t *testing.T) {
			c, st := badTokenStatus(t, func(user string) (string, time.Time) {
				return svc.token(tokenOpts{sub: user, iatOffset: -time.Hour - tc.ago, ttl: time.Hour})
			})
			if !errors.Is(st.DownloadError, pssync.ErrTokenExpired) || !strings.Contains(st.DownloadError.Error(), "expired") {
				t.Errorf("download error %v; want ErrTokenExpired", st.DownloadError)
			}
			var herr *pssync.HTTPError
			if got := errors.As(st.DownloadError, &herr); got != tc.http {
				t.Errorf("download error %#v: an HTTP refusal is %v, want %v", st.DownloadError, got, tc.http)
			}
			eventually(t, "a new token asked for", func() (bool, string) {
				return c.fetchN() >= 2, describe(c.fetchN())
			})
		})
	}
}

// TestWrongKey: a token signed with a key the service does not know is a
// 401 with the service's error text in the status.
func TestWrongKey(t *testing.T) {
	t.Parallel()
	_, st := badTokenStatus(t, func(user string) (string, time.Time) {
		return svc.token(tokenOpts{sub: user, kid: "other", key: []byte("not the service's key, 32 bytes!")})
	})
	var herr *pssync.HTTPError
	if !errors.As(st.DownloadError, &herr) || herr.StatusCode != 401 || !strings.HasPrefix(herr.Code, "PSYNC_S21") || herr.Message == "" {
		t.Errorf("download error %#v; want a 401 with the service's PSYNC_S21xx code and text", st.DownloadError)
	}
}

// TestWrongAudience: a token for another audience is refused the same way.
func TestWrongAudience(t *testing.T) {
	t.Parallel()
	_, st := badTokenStatus(t, func(user string) (string, time.Time) {
		return svc.token(tokenOpts{sub: user, aud: "another-app"})
	})
	var herr *pssync.HTTPError
	if !errors.As(st.DownloadError, &herr) || herr.StatusCode != 401 || !strings.Contains(strings.ToLower(herr.Message), "aud") {
		t.Errorf("download error %v; want a 401 naming the audience", st.DownloadError)
	}
}
