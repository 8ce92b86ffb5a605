package sync

import (
	"context"
	"database/sql"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// Option configures a [Syncer].
type Option func(*options)

type options struct {
	logger          *slog.Logger
	retryDelay      time.Duration
	params          map[string]any
	appMetadata     map[string]string
	mode            string
	includeDefaults bool
	uploadThrottle  time.Duration
	httpClient      *http.Client
	bson            bool
	maxLineSize     int
	idleTimeout     time.Duration
	userAgent       string
	responseTimeout time.Duration
	uploadTimeout   time.Duration
	credsTimeout    time.Duration

	// test hooks
	eng     engine
	changes changeSource
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	jitter  func(d time.Duration) time.Duration
	// stopWait is called when stopping a session waits for it.
	stopWait func()
}

// Defaults of the options.
const (
	DefaultRetryDelay         = 5 * time.Second
	DefaultUploadThrottle     = 10 * time.Millisecond
	DefaultMaxLineSize        = 32 << 20
	DefaultStreamIdleTimeout  = 90 * time.Second
	DefaultResponseTimeout    = 30 * time.Second
	DefaultUploadTimeout      = 5 * time.Minute
	DefaultCredentialsTimeout = 30 * time.Second
)

func defaultOptions() options {
	return options{
		logger:          slog.New(slog.DiscardHandler),
		retryDelay:      DefaultRetryDelay,
		mode:            modeLegacy,
		includeDefaults: true,
		uploadThrottle:  DefaultUploadThrottle,
		responseTimeout: DefaultResponseTimeout,
		uploadTimeout:   DefaultUploadTimeout,
		credsTimeout:    DefaultCredentialsTimeout,
		maxLineSize:     DefaultMaxLineSize,
		idleTimeout:     DefaultStreamIdleTimeout,
		userAgent:       defaultUserAgent(),
		now:             time.Now,
		sleep:           sleepCtx,
		jitter:          jitter10,
	}
}

// WithLogger sets the logger. The default discards everything. Tokens are
// never logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithRetryDelay sets the delay before reconnecting after a failed or closed
// connection, and before retrying a failed upload. The default is 5 s; each
// delay varies randomly by ±10 % so that many clients do not reconnect in
// step. Values ≤ 0 keep the default: the syncer never retries in a hot loop.
func WithRetryDelay(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retryDelay = d
		}
	}
}

// WithParams sets the client parameters sent to the service, available to
// sync rules and streams as request.parameters.
func WithParams(params map[string]any) Option {
	return func(o *options) { o.params = params }
}

// WithAppMetadata sets metadata shown in the service's logs.
func WithAppMetadata(md map[string]string) Option {
	return func(o *options) { o.appMetadata = md }
}

// WithCheckpointRequests switches from the default legacy write checkpoints
// (GET /write-checkpoint2.json) to checkpoint requests
// (POST /sync/checkpoint-request), which newer services support.
func WithCheckpointRequests(on bool) Option {
	return func(o *options) {
		if on {
			o.mode = modeRequests
		} else {
			o.mode = modeLegacy
		}
	}
}

// WithIncludeDefaultStreams sets whether the service syncs the streams it
// subscribes clients to by default (true by default).
func WithIncludeDefaultStreams(on bool) Option {
	return func(o *options) { o.includeDefaults = on }
}

// WithUploadThrottle sets how long the upload loop waits after a local write
// before calling UploadData, so that bursts of writes are uploaded together.
// The default is 10 ms; 0 uploads at once.
func WithUploadThrottle(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.uploadThrottle = d
		}
	}
}

// WithHTTPClient sets the HTTP client used to talk to the PowerSync Service
// (proxies, TLS settings, extra headers through its Transport). The client's
// Timeout must be 0, since the sync stream stays open indefinitely; the
// syncer bounds each request itself ([WithResponseTimeout],
// [WithStreamIdleTimeout]). The default is a client of the syncer's own
// (not http.DefaultClient) with bounded dialing (30 s) and TLS handshakes
// (10 s), honouring the proxy environment variables.
//
// Whatever the client, redirects are followed only within the endpoint's
// origin (scheme, host and port): a redirect elsewhere fails the request
// with [ErrRedirectRefused], so that the token is never sent to, and no
// data is taken from, another server. The client's CheckRedirect applies
// to the redirects that are followed.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) {
		if c != nil {
			o.httpClient = c
		}
	}
}

// WithBSON asks the service for the binary (BSON) sync stream instead of
// NDJSON. The syncer decodes whichever format the service answers with.
func WithBSON(on bool) Option {
	return func(o *options) { o.bson = on }
}

// WithMaxLineSize sets the largest sync line (or BSON document) accepted, in
// bytes (default 32 MiB: twice the service's 15 MB limit for one row, room
// for the escaping of a row's JSON inside a line). A larger line ends the
// connection with an error. The limit bounds the client's memory: while
// lines that large arrive back to back, the Go heap peaks at about six
// times the limit (one line being applied, its decoded row, the next line
// being read, and the collector's headroom); lines of the service's usual
// size (up to about 1 MB) cost a few MB in all.
func WithMaxLineSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxLineSize = n
		}
	}
}

// WithStreamIdleTimeout sets how long the sync stream may stay silent before
// the syncer considers the connection dead and reconnects (default 90 s; the
// service sends a keepalive about every 20 s). 0 disables the check.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.idleTimeout = d
		}
	}
}

// WithResponseTimeout bounds how long each request to the service may wait:
// for the response headers of the sync stream (its body is then bounded by
// [WithStreamIdleTimeout]), and for the whole response of the write
// checkpoint and checkpoint requests. A request that takes longer fails
// with an error matching [ErrResponseTimeout] that names the request; it is
// logged and shown as the status's DownloadError (stream, checkpoint
// requests) or UploadError (write checkpoints), and retried after the
// retry delay. The default is 30 s; 0 disables the bound; negative values
// keep the default.
func WithResponseTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.responseTimeout = d
		}
	}
}

// WithUploadTimeout bounds each call of the connector's UploadData: its
// context ends after d. When d passes, the status's UploadError becomes an
// error matching [ErrUploadTimeout] at once (and it is logged), even if
// UploadData ignores its context and goes on; the syncer waits for it to
// return before anything else is uploaded, and retries after the retry
// delay. Entries UploadData completed before are not uploaded again. The
// default is 5 minutes; 0 disables the bound; negative values keep the
// default.
func WithUploadTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.uploadTimeout = d
		}
	}
}

// WithCredentialsTimeout bounds each call of the connector's
// FetchCredentials: its context ends after d. When d passes, the status's
// DownloadError becomes an error matching [ErrCredentialsTimeout] at once
// (and it is logged), even if FetchCredentials ignores its context and
// goes on; the syncer waits for it to return and then retries after the
// retry delay. The default is 30 seconds; 0 disables the bound; negative
// values keep the default.
func WithCredentialsTimeout(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.credsTimeout = d
		}
	}
}

// WithUserAgent replaces the User-Agent sent to the service.
func WithUserAgent(ua string) Option {
	return func(o *options) {
		if ua != "" {
			o.userAgent = ua
		}
	}
}

// withEngine replaces the state machine (tests).
func withEngine(e engine) Option { return func(o *options) { o.eng = e } }

// withClock replaces time and sleeping (tests). Either may be nil.
func withClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
		if sleep != nil {
			o.sleep = sleep
		}
		o.jitter = func(d time.Duration) time.Duration { return d }
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter10 varies d randomly by ±10 %.
func jitter10(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

// changeFeed delivers committed table changes of the database.
type changeFeed interface {
	// C is signalled when Take would return something.
	C() <-chan struct{}
	// Take returns the raw table names changed since the last call.
	Take() map[string]struct{}
	Close()
}

// changeSource subscribes to the table changes of db.
type changeSource func(ctx context.Context, db *sql.DB) (changeFeed, error)

// withStopWaitHook sets a function called when stopping a connection has
// to wait for its goroutines (tests).
func withStopWaitHook(f func()) Option { return func(o *options) { o.stopWait = f } }
