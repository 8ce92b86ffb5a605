package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
)

// Scenarios of the load command.
const (
	scenarioSteady = "steady" // ramp up, hold, write markers
	scenarioStorm  = "storm"  // steady, with every client disconnecting and reconnecting at once halfway
	scenarioChurn  = "churn"  // steady, with clients leaving and new ones joining throughout
)

// loadConfig is what a load run does. The zero values of the optional
// fields get the defaults of the load command.
type loadConfig struct {
	endpoint     string
	clients      int
	users        int // clients share users round robin; 0 means one user per client
	ramp         time.Duration
	duration     time.Duration // steady state, after all clients synced (or settle ran out)
	settle       time.Duration // bound on waiting for every client's first sync after the ramp
	drain        time.Duration // bound on waiting for the last markers to fan out
	writesPerMin float64       // marker writes per minute, over all clients
	scenario     string
	churnRate    float64 // clients replaced per second (churn); 0: clients/60
	stormAt      float64 // fraction of duration at which the storm starts; 0: 0.5

	schema      *schema.Schema
	markerTable string
	// token returns a token for user; it is called for each new connection.
	// sourceWrite, when set, writes markers straight into the source
	// database (row id and columns) instead of through a client.
	sourceWrite func(ctx context.Context, table, id string, cols map[string]any) error
	token       func(ctx context.Context, user string) (string, error)
	// forgetToken, when set, is called when the service rejected user's
	// token, before the client asks for a new one.
	forgetToken func(user string)
	uploadURL   string

	dir        string // where the client databases go; "" for a temporary directory
	cacheKiB   int    // SQLite page cache per connection
	retryDelay time.Duration
	bson       bool
	noGzip     bool         // do not accept gzip-compressed responses
	httpClient *http.Client // shared by all clients; nil for one sized for clients

	onIdle   func(*loadRun)     // called when idle memory was measured, after the settle phase (tests)
	tick     time.Duration      // how often progress is reported
	progress func(loadSnapshot) // called every tick (and once at the end of each phase)
	event    func(format string, args ...any)
}

// Defaults of the load command.
const (
	defaultLoadCacheKiB  = 32
	defaultLoadSettle    = 2 * time.Minute
	defaultLoadDrain     = 15 * time.Second
	loadStartConcurrency = 16 // clients opened at once (SQLite files and schemas)
	loadStopTimeout      = 30 * time.Second
)

// loadRun is one run of the load command.
type loadRun struct {
	cfg   loadConfig
	table *schema.Table
	http  *http.Client
	own   *http.Transport // the transport made for this run, closed at its end
	dir   string
	start time.Time

	wg       sync.WaitGroup // client and churn goroutines
	startSem chan struct{}  // bounds clients being opened at once
	tokenSem chan struct{}  // bounds token commands running at once

	mu      sync.Mutex // guards clients, nextIdx
	clients map[int]*loadClient
	nextIdx int

	live, connected, synced atomic.Int64
	peakConnected, peakLive atomic.Int64
	started, neverSynced    atomic.Int64
	reconnects              atomic.Int64
	stormPending            atomic.Int64 // clients of a storm not yet synced again
	rejected                atomic.Int64 // clients whose token was refused before they ever connected
	uploadsOK               atomic.Int64

	phase     atomic.Value // string
	initial   distribution
	upload    distribution
	resync    distribution
	errors    errorCounts
	markers   markerSet
	startErrs errorCounts
}

// loadClient is one simulated client: its own database, syncer and
// goroutines.
type loadClient struct {
	r      *loadRun
	idx    int
	user   string
	path   string
	db     *sql.DB
	syncer *pssync.Syncer
	begun  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup // the status and marker goroutines

	connected, synced atomic.Bool
	counted           bool // counted in live (set once connected, read by close)
	rejected          bool // owned by watchStatus

	// stormAt is when the client was asked to reconnect in a storm (unix
	// nanoseconds, 0 for none); the status goroutine records the time to
	// its next complete sync.
	stormAt atomic.Int64
	planned atomic.Bool // the next disconnect is the tool's own (storm)
}

// runLoad runs a load test and returns its report.
func runLoad(ctx context.Context, cfg loadConfig) (*loadReport, error) {
	r, err := newLoadRun(cfg)
	if err != nil {
		return nil, err
	}
	defer r.cleanup()
	return r.run(ctx)
}

func newLoadRun(cfg loadConfig) (*loadRun, error) {
	if cfg.users <= 0 {
		cfg.users = cfg.clients
	}
	if cfg.settle <= 0 {
		cfg.settle = defaultLoadSettle
	}
	if cfg.drain <= 0 {
		cfg.drain = defaultLoadDrain
	}
	if cfg.cacheKiB <= 0 {
		cfg.cacheKiB = defaultLoadCacheKiB
	}
	if cfg.retryDelay <= 0 {
		cfg.retryDelay = time.Second
	}
	if cfg.tick <= 0 {
		cfg.tick = time.Second
	}
	if cfg.scenario == "" {
		cfg.scenario = scenarioSteady
	}
	if cfg.churnRate <= 0 {
		cfg.churnRate = float64(cfg.clients) / 60
	}
	if cfg.stormAt <= 0 || cfg.stormAt >= 1 {
		cfg.stormAt = 0.5
	}
	if cfg.progress == nil {
		cfg.progress = func(loadSnapshot) {}
	}
	if cfg.event == nil {
		cfg.event = func(string, ...any) {}
	}
	r := &loadRun{cfg: cfg, clients: map[int]*loadClient{},
		startSem: make(chan struct{}, loadStartConcurrency), tokenSem: make(chan struct{}, 4)}
	r.phase.Store("starting")
	first := func(kind string, err error) { cfg.event("first error of its kind (%s): %v", kind, err) }
	r.errors.first, r.startErrs.first = first, first
	for i := range cfg.schema.Tables {
		if t := &cfg.schema.Tables[i]; t.Name == cfg.markerTable {
			r.table = t
		}
	}
	if r.table == nil && cfg.writesPerMin > 0 {
		return nil, fmt.Errorf("marker table %q is not in the schema", cfg.markerTable)
	}
	r.http = cfg.httpClient
	if r.http == nil {
		r.own = loadTransport(cfg.clients)
		r.own.DisableCompression = cfg.noGzip
		r.http = &http.Client{Transport: r.own}
	}
	r.dir = cfg.dir
	if r.dir == "" {
		d, err := os.MkdirTemp("", "powersync-load-")
		if err != nil {
			return nil, err
		}
		r.dir = d
	} else if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	return r, nil
}

// loadTransport is the HTTP transport all clients share: the syncer's
// default settings (pssync.NewTransport) with unbounded connections per
// host (every client holds its sync stream open), enough idle ones kept for
// uploads and write checkpoints, and small buffers.
func loadTransport(clients int) *http.Transport {
	idle := min(max(clients/4, 16), 1024)
	t := pssync.NewTransport()
	t.MaxIdleConns = idle
	t.MaxIdleConnsPerHost = idle
	t.ReadBufferSize = 4 << 10
	t.WriteBufferSize = 2 << 10
	return t
}

// cleanup closes the transport and removes a temporary directory.
func (r *loadRun) cleanup() {
	if r.own != nil {
		r.own.CloseIdleConnections()
	}
	if r.cfg.dir == "" && r.dir != "" {
		os.RemoveAll(r.dir)
	}
}

func (r *loadRun) setPhase(p string) {
	r.phase.Store(p)
	r.cfg.progress(r.snapshot())
}

func (r *loadRun) run(ctx context.Context) (*loadReport, error) {
	cfg := r.cfg
	base := sampleUsage(true)
	r.start = time.Now()
	rep := &loadReport{Endpoint: cfg.endpoint, Scenario: cfg.scenario, Clients: cfg.clients, Users: cfg.users,
		WritesPerMinute: cfg.writesPerMin, StartedAt: r.start.UTC()}

	// Every client is stopped when run returns, whatever happened.
	defer r.stopAll()

	peak := base
	sample := func(settle bool) usage {
		u := sampleUsage(settle)
		peak.rss, peak.goTotal = max(peak.rss, u.rss), max(peak.goTotal, u.goTotal)
		peak.goroutines = max(peak.goroutines, u.goroutines)
		return u
	}

	// Ramp: client i starts at i/clients of the ramp.
	r.setPhase("ramp")
	cfg.event("ramp: starting %s over %s", plural(int64(cfg.clients), "client", "clients"), cfg.ramp)
	tick := time.NewTicker(cfg.tick)
	defer tick.Stop()
	for i := 0; i < cfg.clients; i++ {
		at := r.start.Add(time.Duration(float64(cfg.ramp) * float64(i) / float64(cfg.clients)))
		if err := r.waitUntil(ctx, at, tick, sample); err != nil {
			return r.finish(rep, base, peak, sample), err
		}
		r.spawn(ctx)
	}
	r.wg.Wait() // every client of the ramp is opened (or failed to open)

	// Settle: until every client has synced once, bounded.
	r.setPhase("settle")
	settleEnd := time.Now().Add(cfg.settle)
	for r.synced.Load() < r.live.Load() && time.Now().Before(settleEnd) {
		if n := r.rejected.Load(); n > 0 && n == r.started.Load() && r.peakConnected.Load() == 0 {
			return r.finish(rep, base, peak, sample), fmt.Errorf("%w: every client's token was refused", errRejectedToken)
		}
		if err := r.waitUntil(ctx, time.Now().Add(100*time.Millisecond), tick, sample); err != nil {
			return r.finish(rep, base, peak, sample), err
		}
	}
	idle := sample(true)
	if cfg.onIdle != nil {
		cfg.onIdle(r)
	}
	// Every running client holds its database and goroutines, connected
	// or not: the figures are per running client.
	rep.Tool.IdleClients, rep.Tool.IdleConnected = r.live.Load(), r.connected.Load()
	if n := rep.Tool.IdleClients; n > 0 && idle.rss > base.rss {
		rep.Tool.IdleRSSPerClient = (idle.rss - base.rss) / uint64(n)
		rep.Tool.IdleGoPerClient = (idle.goTotal - min(base.goTotal, idle.goTotal)) / uint64(n)
		rep.Tool.IdleGoroutinesPerClient = float64(idle.goroutines-base.goroutines) / float64(n)
	}
	if synced, live := r.synced.Load(), r.live.Load(); synced < live {
		cfg.event("settle: %d of %d clients synced after %s; going on", synced, live, cfg.settle)
	} else {
		cfg.event("all %s connected and synced after %s (tool: %s resident, %s per client)",
			plural(live, "client", "clients"), time.Since(r.start).Round(100*time.Millisecond),
			bytesText(float64(idle.rss)), bytesText(float64(rep.Tool.IdleRSSPerClient)))
	}

	// Steady state, with the scenario's events.
	r.setPhase(cfg.scenario)
	steadyStart := time.Now()
	steadyEnd := steadyStart.Add(cfg.duration)
	var nextWrite, nextChurn, stormTime time.Time
	if cfg.writesPerMin > 0 {
		nextWrite = steadyStart
	}
	if cfg.scenario == scenarioChurn {
		nextChurn = steadyStart.Add(time.Duration(float64(time.Second) / cfg.churnRate))
	}
	if cfg.scenario == scenarioStorm {
		stormTime = steadyStart.Add(time.Duration(float64(cfg.duration) * cfg.stormAt))
	}
	for now := time.Now(); now.Before(steadyEnd); now = time.Now() {
		next := steadyEnd
		if !nextWrite.IsZero() && !now.Before(nextWrite) {
			r.writeMarker(ctx)
			nextWrite = nextWrite.Add(time.Duration(float64(time.Minute) / cfg.writesPerMin))
			if nextWrite.Before(now) { // fell behind: no catch-up burst
				nextWrite = now
			}
		}
		if !nextChurn.IsZero() && !now.Before(nextChurn) {
			r.churnOne(ctx)
			nextChurn = nextChurn.Add(time.Duration(float64(time.Second) / cfg.churnRate))
			if nextChurn.Before(now) {
				nextChurn = now
			}
		}
		if !stormTime.IsZero() && !now.Before(stormTime) {
			stormTime = time.Time{}
			r.storm(ctx)
		}
		for _, t := range []time.Time{nextWrite, nextChurn, stormTime} {
			if !t.IsZero() && t.Before(next) {
				next = t
			}
		}
		if err := r.waitUntil(ctx, next, tick, sample); err != nil {
			return r.finish(rep, base, peak, sample), err
		}
	}
	if !stormTime.IsZero() {
		// A marker write on a slow machine can outlast the whole steady
		// phase: the storm still happens, late.
		r.storm(ctx)
	}
	r.wg.Wait()

	// Drain: let the last markers arrive, and clients that joined late
	// sync, bounded.
	pending := func() bool {
		return r.markers.openCount() > 0 || r.synced.Load() < r.live.Load() || r.stormPending.Load() > 0
	}
	if pending() {
		r.setPhase("drain")
		drainEnd := time.Now().Add(cfg.drain)
		for pending() && time.Now().Before(drainEnd) {
			if err := r.waitUntil(ctx, time.Now().Add(50*time.Millisecond), tick, sample); err != nil {
				break
			}
		}
	}
	return r.finish(rep, base, peak, sample), nil
}

// waitUntil waits until t, reporting progress on every tick. It returns
// ctx's error when ctx ends first.
func (r *loadRun) waitUntil(ctx context.Context, t time.Time, tick *time.Ticker, sample func(bool) usage) error {
	for {
		d := time.Until(t)
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-tick.C:
			timer.Stop()
			s := r.snapshot()
			s.usage = sample(false)
			r.cfg.progress(s)
		case <-timer.C:
			return nil
		}
	}
}

// finish stops every client and fills in the report.
func (r *loadRun) finish(rep *loadReport, base, peak usage, sample func(bool) usage) *loadReport {
	r.setPhase("stopping")
	end := sample(false)
	rep.DurationSeconds = time.Since(r.start).Seconds()
	rep.ConnectedAtEnd = r.connected.Load()
	rep.ConnectedPeak = r.peakConnected.Load()
	rep.ClientsStarted = r.started.Load()
	rep.InitialSync = r.initial.summary()
	rep.NotSynced = r.live.Load() - r.synced.Load()
	rep.FanOut = r.markers.fanout.summary()
	rep.Delivery = r.markers.delivery.summary()
	rep.MarkersWritten, rep.MarkersComplete, rep.MarkersOpen = r.markers.counts()
	rep.MarkersUnmeasured = r.markers.unmeasuredCount()
	rep.Upload = r.upload.summary()
	rep.Reconnects = r.reconnects.Load()
	rep.Errors = r.errors.snapshot()
	for k, v := range r.startErrs.snapshot() {
		rep.Errors["open: "+k] += v
	}
	if r.cfg.scenario == scenarioStorm {
		s := r.resync.summary()
		rep.StormResync = &s
	}
	cpu := end.cpu - base.cpu
	rep.Tool.CPUSeconds = cpu.Seconds()
	if wall := end.at.Sub(base.at); wall > 0 {
		rep.Tool.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	}
	rep.Tool.PeakRSS = max(peak.rss, end.rss)
	rep.Tool.BaseRSS = base.rss
	rep.Tool.PeakGoroutines = max(peak.goroutines, end.goroutines)
	if n := r.peakLive.Load(); n > 0 && rep.Tool.PeakRSS > base.rss {
		rep.Tool.PeakRSSPerClient = (rep.Tool.PeakRSS - base.rss) / uint64(n)
	}
	return rep
}

// raiseTo sets max to n if n is larger.
func raiseTo(max *atomic.Int64, n int64) {
	for p := max.Load(); n > p && !max.CompareAndSwap(p, n); p = max.Load() {
	}
}

// user names the user of client idx.
func (r *loadRun) user(idx int) string { return fmt.Sprintf("load-user-%d", idx%r.cfg.users) }

// spawn starts a new client in the background.
func (r *loadRun) spawn(ctx context.Context) {
	r.mu.Lock()
	idx := r.nextIdx
	r.nextIdx++
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case r.startSem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-r.startSem }()
		c, err := r.openClient(ctx, idx)
		if err != nil {
			if ctx.Err() == nil {
				r.startErrs.add(errorKind(err), err)
			}
			return
		}
		r.mu.Lock()
		r.clients[idx] = c
		r.mu.Unlock()
	}()
}

// openClient opens client idx's database and syncer and connects it.
func (r *loadRun) openClient(ctx context.Context, idx int) (*loadClient, error) {
	c := &loadClient{r: r, idx: idx, user: r.user(idx), begun: time.Now(),
		path: filepath.Join(r.dir, fmt.Sprintf("client-%d.db", idx))}
	// No fsync: the databases are thrown away, and a simulated client
	// should not wait for this machine's disk.
	dsn := c.path + fmt.Sprintf("?_pragma=cache_size(-%d)&_pragma=synchronous(off)", r.cfg.cacheKiB)
	conn, err := driver.NewConnector(dsn, driver.WithSchema(r.cfg.schema))
	if err != nil {
		return nil, err
	}
	c.db = sql.OpenDB(conn)
	// One idle connection: each one holds its own page cache and schema.
	c.db.SetMaxIdleConns(1)
	if err := c.db.PingContext(ctx); err != nil {
		c.db.Close()
		c.removeFiles()
		return nil, err
	}
	creds := &loadCreds{r: r, user: c.user}
	cf := pssync.ConnectorFuncs{FetchCredentialsFunc: creds.fetch}
	if r.cfg.uploadURL != "" {
		up := &uploader{url: r.cfg.uploadURL, creds: creds, client: r.http}
		cf.UploadDataFunc = func(ctx context.Context, db *sql.DB) error { return r.uploadTimed(ctx, up, db) }
	}
	opts := []pssync.Option{pssync.WithHTTPClient(r.http), pssync.WithRetryDelay(r.cfg.retryDelay), pssync.WithBSON(r.cfg.bson)}
	c.syncer, err = pssync.New(c.db, cf, opts...)
	if err != nil {
		c.db.Close()
		c.removeFiles()
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	var listener *hooks.Listener
	if r.table != nil {
		listener, err = hooks.Watcher{Throttle: -1}.Listen(cctx, c.db, r.table.Name)
		if err != nil {
			c.close()
			return nil, err
		}
	}
	r.started.Add(1)
	raiseTo(&r.peakLive, r.live.Add(1))
	c.counted = true
	subscribed := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.watchStatus(cctx, subscribed)
	}()
	if listener != nil {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer listener.Close()
			c.watchMarkers(cctx, listener)
		}()
	}
	select {
	case <-subscribed:
	case <-ctx.Done():
	}
	if err := c.syncer.Connect(ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// close stops the client and removes its database.
func (c *loadClient) close() {
	if c.syncer != nil {
		c.syncer.Close()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	c.r.markers.drop(c.idx)
	if c.connected.Swap(false) {
		c.r.connected.Add(-1)
	}
	if c.counted {
		c.r.live.Add(-1)
		if c.synced.Load() {
			c.r.synced.Add(-1)
		} else {
			c.r.neverSynced.Add(1)
		}
	}
	c.db.Close()
	c.removeFiles()
}

func (c *loadClient) removeFiles() {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", "-powersync.lock"} {
		os.Remove(c.path + suffix)
	}
}

// watchStatus follows the client's sync status until ctx ends or the
// syncer is closed.
func (c *loadClient) watchStatus(ctx context.Context, subscribed chan struct{}) {
	r := c.r
	var lastDl, lastUp error
	everConnected := false
	// rejected: the service refused the client's token before it ever
	// connected.
	var stormSynced time.Time
	for st := range c.syncer.Statuses(ctx) {
		if subscribed != nil {
			close(subscribed)
			subscribed = nil
		}
		now := time.Now()
		if st.Connected && !c.connected.Load() {
			c.connected.Store(true)
			raiseTo(&r.peakConnected, r.connected.Add(1))
			if everConnected && !c.planned.Swap(false) {
				r.reconnects.Add(1)
			}
			everConnected = true
		} else if !st.Connected && c.connected.Load() {
			c.connected.Store(false)
			r.connected.Add(-1)
		}
		if err := st.DownloadError; err != nil && !sameError(err, lastDl) {
			r.errors.add("download: "+errorKind(err), err)
			var herr *pssync.HTTPError
			if errors.As(err, &herr) && herr.Unauthorized() {
				if !everConnected && !c.rejected {
					c.rejected = true
					r.rejected.Add(1)
				}
				if r.cfg.forgetToken != nil {
					r.cfg.forgetToken(c.user)
				}
			}
		}
		if err := st.UploadError; err != nil && !sameError(err, lastUp) {
			r.errors.add("upload: "+errorKind(err), err)
		}
		lastDl, lastUp = st.DownloadError, st.UploadError
		if st.HasSynced && !c.synced.Load() {
			c.synced.Store(true)
			r.synced.Add(1)
			r.initial.add(now.Sub(c.begun))
		}
		if at := c.stormAt.Load(); at != 0 {
			if stormSynced.IsZero() {
				stormSynced = st.LastSyncedAt
			}
			if st.Connected && st.HasSynced && !st.LastSyncedAt.Equal(stormSynced) {
				r.resync.add(now.Sub(time.Unix(0, at)))
				c.stormAt.Store(0)
				r.stormPending.Add(-1)
				stormSynced = time.Time{}
			}
		}
	}
	if subscribed != nil {
		close(subscribed)
	}
}

// watchMarkers checks for markers whenever the marker table changes.
func (c *loadClient) watchMarkers(ctx context.Context, l *hooks.Listener) {
	for {
		if _, err := l.Next(ctx); err != nil {
			return
		}
		ids := c.r.markers.pendingFor(c.idx)
		if len(ids) == 0 {
			continue
		}
		found, err := c.findMarkers(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				c.r.errors.add("marker query: "+errorKind(err), err)
			}
			continue
		}
		now := time.Now()
		for _, id := range found {
			c.r.markers.seen(c.idx, id, now)
		}
	}
}

// findMarkers returns which of ids are in the client's marker table.
func (c *loadClient) findMarkers(ctx context.Context, ids []string) ([]string, error) {
	q := fmt.Sprintf("SELECT id FROM %s WHERE id IN (?%s)", quoteIdent(viewName(c.r.table)), strings.Repeat(", ?", len(ids)-1))
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		found = append(found, id)
	}
	return found, rows.Err()
}

func viewName(t *schema.Table) string {
	if t.ViewNameOverride != "" {
		return t.ViewNameOverride
	}
	return t.Name
}

// uploadTimed uploads the queue one transaction at a time, timing each
// request to the backend.
func (r *loadRun) uploadTimed(ctx context.Context, u *uploader, db *sql.DB) error {
	for tx, err := range pssync.CrudTransactions(ctx, db) {
		if err != nil {
			return err
		}
		t0 := time.Now()
		if err := u.post(ctx, tx.Entries); err != nil {
			return err
		}
		r.upload.add(time.Since(t0))
		r.uploadsOK.Add(1)
		if err := tx.Complete(ctx); err != nil {
			return err
		}
	}
	return nil
}

// loadCreds hands out a client's credentials.
type loadCreds struct {
	r    *loadRun
	user string
}

func (c *loadCreds) fetch(ctx context.Context) (*pssync.Credentials, error) {
	select {
	case c.r.tokenSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.r.tokenSem }()
	tok, err := c.r.cfg.token(ctx, c.user)
	if err != nil {
		return nil, err
	}
	return &pssync.Credentials{Endpoint: c.r.cfg.endpoint, Token: tok}, nil
}

// liveClients returns the clients running now.
func (r *loadRun) liveClients() []*loadClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*loadClient, 0, len(r.clients))
	for _, c := range r.clients {
		out = append(out, c)
	}
	return out
}

// writeMarker writes one marker row through a random connected and synced
// client. Every other such client is expected to receive it.
func (r *loadRun) writeMarker(ctx context.Context) {
	all := r.liveClients()
	var ready []*loadClient
	for _, c := range all {
		if c.connected.Load() && c.synced.Load() {
			ready = append(ready, c)
		}
	}
	if len(ready) == 0 {
		return
	}
	var w *loadClient // the writing client; nil when writing to the source
	writer := -1
	if r.cfg.sourceWrite == nil {
		w = ready[rand.IntN(len(ready))]
		writer = w.idx
	}
	id := uuid.NewString()
	expect := make(map[int]bool, len(ready))
	for _, c := range ready {
		if c != w {
			expect[c.idx] = true
		}
	}
	seq := r.markers.open(id, writer, expect)
	cols := map[string]any{}
	for _, col := range r.table.Columns {
		switch {
		case col.Name == "name" && col.Type == schema.TypeText:
			cols["name"] = fmt.Sprintf("powersync load marker %d", seq)
		case col.Name == "created_at" && col.Type == schema.TypeText:
			cols["created_at"] = time.Now().UTC().Format(time.RFC3339Nano)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r.markers.stamp(id, time.Now())
	var err error
	if w == nil {
		err = r.cfg.sourceWrite(wctx, r.table.Name, id, cols)
	} else {
		names, args := []string{"id"}, []any{id}
		for _, k := range slices.Sorted(maps.Keys(cols)) {
			names, args = append(names, quoteIdent(k)), append(args, cols[k])
		}
		q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (?%s)", quoteIdent(viewName(r.table)), strings.Join(names, ", "), strings.Repeat(", ?", len(names)-1))
		_, err = w.db.ExecContext(wctx, q, args...)
	}
	if err != nil {
		r.markers.abandon(id)
		r.errors.add("marker write: "+errorKind(err), err)
	}
}

// churnOne replaces a random client with a new one.
func (r *loadRun) churnOne(ctx context.Context) {
	r.mu.Lock()
	// A client whose marker may still be uploading stays: its leaving
	// would lose the marker, which measures nothing.
	var victim *loadClient
	var candidates []*loadClient
	for _, c := range r.clients {
		if !r.markers.writing(c.idx) {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) > 0 {
		victim = candidates[rand.IntN(len(candidates))]
	}
	if victim != nil {
		delete(r.clients, victim.idx)
	}
	r.mu.Unlock()
	if victim != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			victim.close()
		}()
	}
	r.spawn(ctx)
}

// storm disconnects every client at once and then reconnects them all at
// once, as after a deploy of the service or a network outage.
func (r *loadRun) storm(ctx context.Context) {
	all := r.liveClients()
	r.cfg.event("storm: disconnecting all %s", plural(int64(len(all)), "client", "clients"))
	sctx, cancel := context.WithTimeout(ctx, loadStopTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.planned.Store(true)
			if err := c.syncer.Disconnect(sctx); err != nil && ctx.Err() == nil {
				r.errors.add("storm disconnect: "+errorKind(err), err)
			}
		}()
	}
	wg.Wait()
	at := time.Now()
	r.stormPending.Add(int64(len(all)))
	r.cfg.event("storm: reconnecting all %s at once", plural(int64(len(all)), "client", "clients"))
	for _, c := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stormAt.Store(at.UnixNano())
			if err := c.syncer.Connect(sctx); err != nil && ctx.Err() == nil {
				r.errors.add("storm connect: "+errorKind(err), err)
			}
		}()
	}
	wg.Wait()
}

// stopAll stops every client.
func (r *loadRun) stopAll() {
	r.wg.Wait()
	all := r.liveClients()
	r.mu.Lock()
	clear(r.clients)
	r.mu.Unlock()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for _, c := range all {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.close()
		}()
	}
	wg.Wait()
}

// loadSnapshot is the live state of a run, for the progress view.
type loadSnapshot struct {
	phase                       string
	elapsed                     time.Duration
	live, connected, synced     int64
	target                      int
	markersWritten, markersOpen int
	fanout                      distSummary
	uploads, errors, reconnects int64
	usage                       usage
}

func (r *loadRun) snapshot() loadSnapshot {
	w, _, open := r.markers.counts()
	return loadSnapshot{
		phase: r.phase.Load().(string), elapsed: time.Since(r.start), target: r.cfg.clients,
		live: r.live.Load(), connected: r.connected.Load(), synced: r.synced.Load(),
		markersWritten: w, markersOpen: open, fanout: r.markers.fanout.summary(),
		uploads: r.uploadsOK.Load(), errors: r.errors.total() + r.startErrs.total(), reconnects: r.reconnects.Load(),
	}
}

// markerSet tracks the marker rows written and which clients have yet to
// receive each.
type markerSet struct {
	mu       sync.Mutex // guards the fields below
	byID     map[string]*marker
	written  int
	complete int
	// unmeasured: markers no other client was there to receive (written
	// while the others were disconnected, or whose clients all left).
	unmeasured int

	fanout   distribution // write until the last expected client applied it
	delivery distribution // write until each client applied it
}

type marker struct {
	writer  int          // the client that wrote it
	at      time.Time    // just before the local write
	pending map[int]bool // clients that have not applied it yet
	last    time.Time    // the latest apply so far
	seen    int
}

func (m *markerSet) open(id string, writer int, expect map[int]bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID == nil {
		m.byID = map[string]*marker{}
	}
	m.written++
	if len(expect) > 0 {
		m.byID[id] = &marker{writer: writer, pending: expect, at: time.Now()}
	} else {
		m.unmeasured++ // no other client to wait for
	}
	return m.written
}

func (m *markerSet) stamp(id string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mk := m.byID[id]; mk != nil {
		mk.at = at
	}
}

// abandon forgets a marker whose write failed.
func (m *markerSet) abandon(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[id]; ok {
		delete(m.byID, id)
	} else {
		m.unmeasured--
	}
	m.written--
}

func (m *markerSet) pendingFor(idx int) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id, mk := range m.byID {
		if mk.pending[idx] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (m *markerSet) seen(idx int, id string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mk := m.byID[id]
	if mk == nil || !mk.pending[idx] {
		return
	}
	delete(mk.pending, idx)
	mk.seen++
	mk.last = at
	m.delivery.add(at.Sub(mk.at))
	m.completeLocked(id, mk)
}

// drop stops expecting markers at client idx (it left).
func (m *markerSet) drop(idx int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, mk := range m.byID {
		if mk.pending[idx] {
			delete(mk.pending, idx)
			m.completeLocked(id, mk)
		}
	}
}

func (m *markerSet) completeLocked(id string, mk *marker) {
	if len(mk.pending) > 0 {
		return
	}
	delete(m.byID, id)
	if mk.seen > 0 {
		m.complete++
		m.fanout.add(mk.last.Sub(mk.at))
	} else {
		m.unmeasured++
	}
}

// writing reports whether client idx wrote a marker that has not reached
// every client yet (so its upload may not be done).
func (m *markerSet) writing(idx int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mk := range m.byID {
		if mk.writer == idx {
			return true
		}
	}
	return false
}

func (m *markerSet) openCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// counts returns the markers written, fanned out to every expected client,
// and still open.
func (m *markerSet) counts() (written, complete, open int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written, m.complete, len(m.byID)
}

// unmeasuredCount returns the markers no other client was there to get.
func (m *markerSet) unmeasuredCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unmeasured
}
