package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
)

// ErrResponseTimeout is matched (errors.Is) by the error of a request to
// the PowerSync Service, or of an [HTTPConnector] upload, that got no
// response in time (see [WithResponseTimeout]).
var ErrResponseTimeout = errors.New("powersync: no response in time")

// ErrUploadTimeout is matched (errors.Is) by the upload error recorded when
// the connector's UploadData did not return within the upload timeout (see
// [WithUploadTimeout]).
var ErrUploadTimeout = errors.New("powersync: UploadData did not return in time")

// ErrCredentialsTimeout is matched (errors.Is) by the error recorded when
// the connector's FetchCredentials did not return within the credentials
// timeout (see [WithCredentialsTimeout]).
var ErrCredentialsTimeout = errors.New("powersync: FetchCredentials did not return in time")

// ErrRedirectRefused is matched (errors.Is) by the error of a request that
// the server redirected to another origin (scheme, host or port): the
// syncer never sends the token to, nor applies data from, a server other
// than the configured endpoint. Configure the final URL as the endpoint (or
// the upload URL) instead.
var ErrRedirectRefused = errors.New("powersync: redirect to another origin refused")

// responseTimeoutError is the error of a request that timed out.
type responseTimeoutError struct {
	op      string
	d       time.Duration
	headers bool // the headers arrived, the rest of the response did not
}

func (e *responseTimeoutError) Error() string {
	what := "no response headers"
	if e.headers {
		what = "no complete response"
	}
	return fmt.Sprintf("powersync: %s: %s within %s (response timeout)", e.op, what, e.d)
}

func (e *responseTimeoutError) Is(target error) bool { return target == ErrResponseTimeout }

// Timeout reports true, like net.Error.
func (e *responseTimeoutError) Timeout() bool { return true }

// callTimeoutError is the error of a connector method (UploadData,
// FetchCredentials) that did not return within its timeout; err is what it
// returned after its context was cancelled, if it did.
type callTimeoutError struct {
	call    string // the method, as the message names it
	setting string // the option that bounds it, as the message names it
	is      error  // the sentinel errors.Is matches
	d       time.Duration
	err     error
}

func (e *callTimeoutError) Error() string {
	msg := fmt.Sprintf("%s did not return within %s (%s); its context was cancelled", e.call, e.d, e.setting)
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *callTimeoutError) Is(target error) bool { return target == e.is }
func (e *callTimeoutError) Unwrap() error        { return e.err }

// Timeout reports true, like net.Error.
func (e *callTimeoutError) Timeout() bool { return true }

// callWithin calls call with a context that ends after timedOut.d, with
// timedOut as its cause. When that time passes, onTimeout runs at once, even
// while a call that ignores its context is still running; the call is still
// waited for, so that calls never pile up. late reports that the time passed
// before call returned (and ctx itself had not ended).
func callWithin[T any](ctx context.Context, timedOut *callTimeoutError, onTimeout func(), call func(context.Context) (T, error)) (v T, late bool, err error) {
	cctx, cancel := context.WithTimeoutCause(ctx, timedOut.d, timedOut)
	defer cancel()
	fired := make(chan struct{})
	stop := context.AfterFunc(cctx, func() {
		defer close(fired)
		if context.Cause(cctx) == timedOut {
			onTimeout()
		}
	})
	v, err = call(cctx)
	if !stop() {
		<-fired
	}
	return v, context.Cause(cctx) == timedOut && ctx.Err() == nil, err
}

// NewTransport returns a new transport with the settings of the syncer's
// default HTTP client: bounded dialing (30 s), TLS handshakes (10 s) and
// "100 Continue" waits (1 s), HTTP/2 when the server offers it, and the
// proxy environment variables honoured. It is the starting point for a
// client of one's own ([WithHTTPClient]), for instance one transport shared
// by many syncers with more idle connections kept.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// newHTTPClient returns the default HTTP client: a transport of its own
// (NewTransport). The time to the response headers is bounded per request
// (see doRequest), so that it applies with any client; the client has no
// overall Timeout, since the sync stream stays open indefinitely.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: NewTransport()}
}

// connectorClient is the default client of HTTPConnector.
var connectorClient = gosync.OnceValue(newHTTPClient)

// doRequest sends req with client under the syncer's rules:
//
//   - The response must arrive within timeout (0: unbounded): its headers
//     when stream is true (the body of the sync stream is bounded by the
//     idle timeout instead), the whole response otherwise. A late response
//     fails with a *responseTimeoutError, also while its body is read.
//   - Redirects are followed only within the origin of req's URL; any
//     other fails with ErrRedirectRefused, so that neither the token nor
//     the trust in the endpoint goes to another server. client's own
//     CheckRedirect still applies to the redirects that are followed.
//
// Closing the returned body releases the request's resources.
func doRequest(client *http.Client, op string, req *http.Request, timeout time.Duration, stream bool) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	var headers atomic.Bool
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() {
			cancel(&responseTimeoutError{op: op, d: timeout, headers: headers.Load()})
		})
	}
	c := *client
	c.CheckRedirect = sameOriginRedirects(client.CheckRedirect)
	resp, err := c.Do(req.WithContext(ctx))
	headers.Store(true)
	if timer != nil && stream && !timer.Stop() {
		// The headers came too late (or just in time: the request's
		// context is being cancelled all the same).
		if err == nil {
			resp.Body.Close()
		}
		resp, err = nil, &responseTimeoutError{op: op, d: timeout}
	}
	if err != nil {
		if !errors.Is(err, ErrResponseTimeout) {
			if cause := context.Cause(ctx); errors.Is(cause, ErrResponseTimeout) {
				err = cause
			} else {
				err = pserr.Errorf("powersync: %s: %w", op, err)
			}
		}
		if timer != nil {
			timer.Stop()
		}
		cancel(nil)
		return nil, err
	}
	if stream {
		timer = nil
	}
	resp.Body = &boundBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer}
	return resp, nil
}

// boundBody is a response body whose request context ends on Close, and
// whose read errors say when the response timed out.
type boundBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer // non-nil: the whole response is bounded
}

func (b *boundBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		if c := context.Cause(b.ctx); errors.Is(c, ErrResponseTimeout) {
			err = c
		}
	}
	return n, err
}

func (b *boundBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// sameOriginRedirects returns a CheckRedirect that refuses redirects off the
// first request's origin and then applies next (or the default limit of 10
// redirects).
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		from := via[0].URL
		if !sameOrigin(from, req.URL) {
			return fmt.Errorf("%w: %s redirected to %s", ErrRedirectRefused, origin(from), origin(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// origin returns scheme://host[:port] of u.
func origin(u *url.URL) string { return strings.ToLower(u.Scheme) + "://" + u.Host }

// redacted replaces the token in error texts.
const redacted = "[redacted]"

// requestSecrets returns the values of req that must never appear in an
// error: its Authorization header, and the credential after the scheme.
func requestSecrets(req *http.Request) []string {
	if req == nil {
		return nil
	}
	v := strings.TrimSpace(req.Header.Get("Authorization"))
	if v == "" {
		return nil
	}
	out := []string{v}
	if _, cred, ok := strings.Cut(v, " "); ok {
		if cred = strings.TrimSpace(cred); cred != "" {
			out = append(out, cred)
		} else {
			return nil
		}
	}
	return withEscapes(out)
}

// withEscapes adds the URL-escaped forms of secrets that differ.
func withEscapes(secrets []string) []string {
	for _, s := range secrets {
		if e := url.QueryEscape(s); e != s {
			secrets = append(secrets, e)
		}
		if e := url.PathEscape(s); e != s {
			secrets = append(secrets, e)
		}
	}
	return secrets
}

// redactText replaces every secret in s, longest first.
func redactText(s string, secrets []string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range secrets {
		s = redactOne(s, sec)
	}
	return s
}

// redactOne replaces sec in s. A secret of at least minRedacted bytes is
// replaced wherever it occurs; a shorter one (a development placeholder,
// never a real JWT) only where it stands on its own, not inside a longer
// word, so that a one-letter token does not mangle every message and spell
// itself out.
func redactOne(s, sec string) string {
	if sec == "" {
		return s
	}
	if len(sec) >= minRedacted {
		return strings.ReplaceAll(s, sec, redacted)
	}
	var b strings.Builder
	for {
		i := strings.Index(s, sec)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(sec)
		alone := (i == 0 || !tokenByte(s[i-1])) && (end == len(s) || !tokenByte(s[end]))
		b.WriteString(s[:i])
		if alone {
			b.WriteString(redacted)
		} else {
			b.WriteString(sec)
		}
		s = s[end:]
	}
}

// tokenByte reports whether c can be part of a token (the JWT alphabet).
func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

const minRedacted = 16

// redactedError is err with the secrets removed from its text. errors.Is
// and errors.As still reach err.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redactErr returns err, or err with the secrets removed from its text if
// it contains any.
func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := redactText(msg, secrets); r != msg {
		return &redactedError{err: err, msg: r}
	}
	return err
}

// redact removes the tokens the syncer sent from err's text, before err
// goes to the status or the log: a last guard behind the redaction of the
// responses themselves (readHTTPError).
func (s *Syncer) redact(err error) error { return redactErr(err, withEscapes(s.creds.secrets())) }
