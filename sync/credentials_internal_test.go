package sync

import (
	"context"
	"errors"
	"fmt"
	gosync "sync"
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

// TestFetchCredentialsNeverConcurrent: while one FetchCredentials runs,
// other callers (a new stream, prefetches for repeated expiry warnings)
// wait for its result instead of calling the connector again.
func TestFetchCredentialsNeverConcurrent(t *testing.T) {
	release := make(chan struct{})
	var mu gosync.Mutex
	calls, running, most := 0, 0, 0
	c := &credentialCache{now: time.Now, connector: ConnectorFuncs{
		FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
			mu.Lock()
			calls++
			running++
			most = max(most, running)
			n := calls
			mu.Unlock()
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			return &Credentials{Endpoint: "http://x", Token: fmt.Sprint("t", n)}, nil
		},
	}}
	ctx := t.Context()
	var wg gosync.WaitGroup
	tokens := make(chan string, 20)
	for range 10 {
		wg.Go(func() {
			cur, err := c.get(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- cur.Token
		})
	}
	for range 10 {
		wg.Go(func() {
			if _, err := c.prefetch(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	// Let every caller reach the cache before the call returns.
	for {
		mu.Lock()
		started := calls
		mu.Unlock()
		if started > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(tokens)
	for tok := range tokens {
		if tok != "t1" {
			t.Errorf("a caller got %s, want the one call's t1", tok)
		}
	}
	if most != 1 {
		t.Errorf("%d FetchCredentials calls ran at once, want 1", most)
	}
}
