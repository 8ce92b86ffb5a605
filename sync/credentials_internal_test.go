package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestPrefetchEveryLifetime: a connector handing out short-lived tokens
// gets a prefetch for every token's expiry warning, not only every other
// one, while a warning repeated before the new token is used fetches
// nothing.
func TestPrefetchEveryLifetime(t *testing.T) {
	ctx := context.Background()
	n := 0
	c := &credentialCache{now: time.Now, connector: ConnectorFuncs{
		FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
			n++
			return &Credentials{Endpoint: "http://x", Token: fmt.Sprint("t", n), ExpiresAt: time.Now().Add(20 * time.Second)}, nil
		},
	}}
	cur, err := c.get(ctx)
	if err != nil || cur.Token != "t1" {
		t.Fatalf("first get = %v, %v", cur, err)
	}
	for lifetime := 2; lifetime <= 5; lifetime++ {
		ok, err := c.prefetch(ctx) // the stream using the current token is warned
		if err != nil || !ok {
			t.Fatalf("lifetime %d: prefetch = %v, %v; want a fetch", lifetime, ok, err)
		}
		if ok, _ := c.prefetch(ctx); ok {
			t.Fatalf("lifetime %d: a repeated warning fetched again before the new token was used", lifetime)
		}
		cur, err := c.get(ctx) // the reconnect uses the prefetched token
		if err != nil || cur.Token != fmt.Sprint("t", lifetime) {
			t.Fatalf("lifetime %d: get = %v, %v", lifetime, cur, err)
		}
	}
	if n != 5 {
		t.Errorf("fetched %d times, want 5", n)
	}
}

// TestTokenRefreshKeepsConnected: replacing the stream for a refreshed
// token is not a disconnect in the status, while an expired token is one,
// with ErrTokenExpired as the download error.
func TestTokenRefreshKeepsConnected(t *testing.T) {
	h := newHarness(t)
	if err := h.s.Connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(t, "connected", connected)
	stop := recordStatuses(t, h.s)
	h.fs.send(t, `{"token_expires_in":10}`)
	h.eng.waitCalls(t, func(c []string) bool { return countPrefix(c, "established") == 2 })
	h.waitStatus(t, "connected again", connected)
	for _, st := range stop() {
		if !st.Connected || st.Connecting || st.DownloadError != nil {
			t.Fatalf("status during a token refresh: %v", st)
		}
	}
	h.fs.send(t, `{"token_expires_in":0}`)
	st := h.waitStatus(t, "the expiry reported", func(st Status) bool { return st.DownloadError != nil })
	if !errors.Is(st.DownloadError, ErrTokenExpired) {
		t.Fatalf("download error after expiry: %v", st.DownloadError)
	}
}
