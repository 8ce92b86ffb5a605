package sync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	gosync "sync"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
)

// Credentials tell the [Syncer] where the PowerSync Service is and how to
// authenticate with it.
//
// The token is secret: [Credentials.String], [Credentials.GoString] and
// [Credentials.LogValue] redact it, and the syncer never puts it in logs,
// errors or [Status].
type Credentials struct {
	// Endpoint is the PowerSync Service URL, e.g.
	// "https://xyz.powersync.journeyapps.com". Trailing slashes are ignored.
	Endpoint string
	// Token is the JWT sent as "Authorization: Token <Token>".
	Token string
	// ExpiresAt is when the token expires, if known. The syncer fetches new
	// credentials shortly before that time. Zero means unknown; the service
	// then tells the syncer when the token is about to expire.
	ExpiresAt time.Time
}

// String returns the credentials with the token redacted.
func (c Credentials) String() string {
	s := "Credentials{Endpoint: " + c.Endpoint + ", Token: " + redact(c.Token)
	if !c.ExpiresAt.IsZero() {
		s += ", ExpiresAt: " + c.ExpiresAt.Format(time.RFC3339)
	}
	return s + "}"
}

// GoString returns the credentials with the token redacted, for %#v.
func (c Credentials) GoString() string {
	return fmt.Sprintf("pssync.Credentials{Endpoint:%q, Token:%q, ExpiresAt:%#v}", c.Endpoint, redact(c.Token), c.ExpiresAt)
}

// LogValue implements [slog.LogValuer] with the token redacted.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("endpoint", c.Endpoint), slog.String("token", redact(c.Token)), slog.Time("expires_at", c.ExpiresAt))
}

func redact(token string) string {
	if token == "" {
		return ""
	}
	return "[redacted]"
}

func (c *Credentials) endpoint(path string) string {
	return strings.TrimRight(c.Endpoint, "/") + path
}

// Connector is what the application provides to the [Syncer]: credentials
// for the PowerSync Service and the upload of local changes to the
// application's own backend.
//
// Both methods are called from the syncer's goroutines, never concurrently
// with themselves. Errors are recorded in [Status] and retried after the retry
// delay; a panic in either method is recovered and treated as an error.
// Both receive a context that ends when the syncer disconnects; UploadData's
// also ends after the upload timeout ([WithUploadTimeout], 5 min by
// default), after which the status shows [ErrUploadTimeout] until an upload
// succeeds. They must not
// call Disconnect, DisconnectAndClear or Close of their own syncer
// synchronously (those wait for the callback to return); start a goroutine
// for that, e.g. when FetchCredentials finds the user signed out.
type Connector interface {
	// FetchCredentials returns credentials for the PowerSync Service.
	// Returning nil, nil means the user is signed out; the syncer records
	// [ErrNoCredentials] and tries again after the retry delay.
	FetchCredentials(ctx context.Context) (*Credentials, error)

	// UploadData uploads queued local changes to the application's backend.
	// It reads them with [GetCrudBatch], [NextCrudTransaction] or
	// [CrudTransactions] and removes them from the queue with Complete once
	// the backend accepted them. It is called again while entries remain.
	// Return a [*PermanentError] (see [Permanent]) for entries the backend can
	// never accept, or use the Reject methods of the batch or transaction.
	UploadData(ctx context.Context, db *sql.DB) error
}

// ConnectorFuncs adapts two functions to the [Connector] interface.
type ConnectorFuncs struct {
	// FetchCredentialsFunc implements FetchCredentials. Nil means the user
	// is signed out (no credentials).
	FetchCredentialsFunc func(ctx context.Context) (*Credentials, error)
	// UploadDataFunc implements UploadData. Nil uploads nothing (the queue
	// is left as it is).
	UploadDataFunc func(ctx context.Context, db *sql.DB) error
}

// FetchCredentials calls FetchCredentialsFunc.
func (f ConnectorFuncs) FetchCredentials(ctx context.Context) (*Credentials, error) {
	if f.FetchCredentialsFunc == nil {
		return nil, nil
	}
	return f.FetchCredentialsFunc(ctx)
}

// UploadData calls UploadDataFunc.
func (f ConnectorFuncs) UploadData(ctx context.Context, db *sql.DB) error {
	if f.UploadDataFunc == nil {
		return nil
	}
	return f.UploadDataFunc(ctx, db)
}

// credentialRefreshMargin is how long before ExpiresAt cached credentials
// are refreshed; it matches the service's prefetch warning (30 s).
const credentialRefreshMargin = 30 * time.Second

// credentialCache caches the connector's credentials. A fetch happens when
// there are none, when they were invalidated (401 or expired token), or when
// ExpiresAt is close; a credential that was just fetched is always used once,
// so a connector handing out short-lived tokens cannot cause a fetch loop.
type credentialCache struct {
	connector Connector
	now       func() time.Time
	// timeout bounds each FetchCredentials call (0: no bound); onTimeout,
	// if set, is told at once when a call outlives it.
	timeout   time.Duration
	onTimeout func(error)

	mu       gosync.Mutex // guards the fields below
	inflight *fetchCall   // the FetchCredentials call running, if any
	cur      *Credentials
	prev     string // the token cur replaced, for redaction
	used     bool   // cur was handed out at least once
	invalid  bool
}

// get returns the cached credentials or fetches new ones.
func (c *credentialCache) get(ctx context.Context) (*Credentials, error) {
	c.mu.Lock()
	cur := c.cur
	stale := cur == nil || c.invalid
	if !stale && !cur.ExpiresAt.IsZero() && c.used && cur.ExpiresAt.Sub(c.now()) < credentialRefreshMargin {
		stale = true
	}
	if !stale {
		c.used = true
		c.mu.Unlock()
		return cur, nil
	}
	c.mu.Unlock()
	return c.fetch(ctx, true)
}

// fetchCall is a FetchCredentials call that later callers wait for.
type fetchCall struct {
	done  chan struct{}
	creds *Credentials
	err   error
}

// fetch calls the connector and caches the result. handOut says whether the
// caller uses the credentials now; credentials fetched ahead of time are
// handed out once by get without checking their expiry margin. While a call
// runs, other callers wait for its result instead of calling again: the
// connector never runs FetchCredentials twice at once.
func (c *credentialCache) fetch(ctx context.Context, handOut bool) (*Credentials, error) {
	c.mu.Lock()
	if f := c.inflight; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		if handOut {
			c.mu.Lock()
			if c.cur != nil && c.cur.Token == f.creds.Token {
				c.used = true
			}
			c.mu.Unlock()
		}
		cp := *f.creds
		return &cp, nil
	}
	f := &fetchCall{done: make(chan struct{})}
	c.inflight = f
	c.mu.Unlock()
	f.creds, f.err = c.fetchNow(ctx, handOut)
	c.mu.Lock()
	c.inflight = nil
	c.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return nil, f.err
	}
	cp := *f.creds
	return &cp, nil
}

// fetchNow is fetch's own call of the connector.
func (c *credentialCache) fetchNow(ctx context.Context, handOut bool) (*Credentials, error) {
	creds, err := c.callBounded(ctx)
	if err != nil {
		return nil, pserr.Errorf("powersync: fetch credentials: %w", err)
	}
	if creds == nil {
		return nil, ErrNoCredentials
	}
	if creds.Endpoint == "" {
		return nil, errors.New("powersync: fetch credentials: empty endpoint")
	}
	cp := *creds
	c.mu.Lock()
	if c.cur != nil && c.cur.Token != cp.Token {
		c.prev = c.cur.Token
	}
	c.cur, c.used, c.invalid = &cp, handOut, false
	c.mu.Unlock()
	return &cp, nil
}

// secrets returns the current and the previous token, for redaction.
func (c *credentialCache) secrets() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	if c.cur != nil && c.cur.Token != "" {
		out = append(out, c.cur.Token)
	}
	if c.prev != "" {
		out = append(out, c.prev)
	}
	return out
}

// invalidate makes the next get fetch new credentials.
func (c *credentialCache) invalidate() {
	c.mu.Lock()
	c.invalid = true
	c.mu.Unlock()
}

// prefetch fetches new credentials ahead of expiry, for the stream that
// uses the current ones. It reports false (and does nothing) when the
// current credentials are already a prefetched replacement that no stream
// has used yet, so a service repeating its warning on the old stream does
// not make the syncer fetch in a loop; once the replacement is in use, its
// own expiry warning prefetches again.
func (c *credentialCache) prefetch(ctx context.Context) (bool, error) {
	c.mu.Lock()
	// A call already running (for a new stream) gets the new credentials.
	waiting := c.cur != nil && !c.used || c.inflight != nil
	c.mu.Unlock()
	if waiting {
		return false, nil
	}
	if _, err := c.fetch(ctx, false); err != nil {
		return false, err
	}
	return true, nil
}

// callBounded calls FetchCredentials with a context that ends after the
// credentials timeout. When the timeout passes, onTimeout learns of it at
// once, even while a FetchCredentials that ignores its context is still
// running; the call is still waited for, so that fetches never pile up.
func (c *credentialCache) callBounded(ctx context.Context) (*Credentials, error) {
	d := c.timeout
	if d <= 0 {
		return callFetch(ctx, c.connector)
	}
	timedOut := credentialsTimeout(d, nil)
	creds, late, err := callWithin(ctx, timedOut, func() {
		if c.onTimeout != nil {
			c.onTimeout(timedOut)
		}
	}, func(ctx context.Context) (*Credentials, error) {
		return callFetch(ctx, c.connector)
	})
	if late && (err != nil || creds == nil) {
		return nil, credentialsTimeout(d, err)
	}
	return creds, err // the credentials when it finished after all
}

// credentialsTimeout is the error of a FetchCredentials that did not return
// within d.
func credentialsTimeout(d time.Duration, err error) *callTimeoutError {
	return &callTimeoutError{call: "FetchCredentials", setting: "credentials timeout", is: ErrCredentialsTimeout, d: d, err: err}
}

func callFetch(ctx context.Context, c Connector) (creds *Credentials, err error) {
	defer func() {
		if r := recover(); r != nil {
			creds, err = nil, pserr.Errorf("powersync: FetchCredentials panicked: %v", r)
		}
	}()
	return c.FetchCredentials(ctx)
}

func callUpload(ctx context.Context, c Connector, db *sql.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = pserr.Errorf("powersync: UploadData panicked: %v", r)
		}
	}()
	return c.UploadData(ctx, db)
}
