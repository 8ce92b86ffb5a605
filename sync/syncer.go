package sync

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"runtime"
	gosync "sync"
	"sync/atomic"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// Syncer keeps a "powersync" database in sync with a PowerSync Service: it
// streams server changes down and uploads local changes through the
// application's [Connector]. Create one per database with [New].
//
// All methods are safe for concurrent use.
type Syncer struct {
	db    *sql.DB
	conn  Connector
	o     options
	log   *slog.Logger
	eng   engine
	creds *credentialCache
	bus   *statusBus
	guard *fileGuard // the database file's hold; nil for in-memory databases
	// ownClient is the default HTTP client created for this syncer (nil
	// with WithHTTPClient); Close closes its idle connections.
	ownClient *http.Client

	// life serialises Connect, Run, Disconnect, DisconnectAndClear and
	// Close (a channel so that waiting for it honours a context).
	life chan struct{}

	mu      gosync.Mutex // guards sess, closed, streams
	sess    *session
	closed  bool
	streams map[string]*heldStream // by canonical key; see subscriptions.go
}

// session is one connected period: the goroutines started by Connect or Run
// and stopped by Disconnect.
type session struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when every goroutine of the session ended
	wg     gosync.WaitGroup

	prefetching atomic.Bool // a credentials prefetch runs

	uploadKick chan struct{} // cap 1: run the upload loop

	evMu      gosync.Mutex // guards the pending local events below
	evUpload  bool
	evToken   bool
	evSubs    bool
	evFailure error
	evNotify  chan struct{} // cap 1

	cr *checkpointRequests // requests mode only
}

// New returns a Syncer for db, which must be a database opened with the
// "powersync" driver. The syncer does nothing until [Syncer.Connect] or
// [Syncer.Run]; its [Syncer.Status] starts from what the database remembers
// (whether and when it last synced).
//
// One Syncer at a time may use a database file: New fails with
// [ErrAlreadySyncing] while another Syncer, of this process or of another
// one, holds it (two would upload the same local changes twice). The file
// is held from New until [Syncer.Close], connected or not, like a file
// lock taken at open; a process that ends without Close (even by a crash)
// releases it too. Across processes the hold is an OS lock on the file
// "<database>-powersync.lock" beside the database (flock on Unix systems,
// an unshared handle on Windows; other systems, and file systems without
// flock, only get the in-process check); the file is left in place. An
// in-memory database is never held.
//
// New reads the database (its file name and the stored sync state) without
// a deadline; [NewContext] bounds those reads by a context.
func New(db *sql.DB, c Connector, opts ...Option) (*Syncer, error) {
	return NewContext(context.Background(), db, c, opts...)
}

// NewContext is [New] with ctx bounding the reads New makes: the database
// file's name (to hold the file) and the stored sync state the status
// starts from. ctx is not kept: it does not bound the Syncer's life.
func NewContext(ctx context.Context, db *sql.DB, c Connector, opts ...Option) (*Syncer, error) {
	if db == nil {
		return nil, errors.New("powersync: new syncer: nil database")
	}
	if c == nil {
		return nil, errors.New("powersync: new syncer: nil connector")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	guard, err := acquireFileGuard(ctx, db)
	if err != nil {
		return nil, err
	}
	s := &Syncer{
		guard:   guard,
		db:      db,
		conn:    c,
		o:       o,
		log:     o.logger,
		bus:     newStatusBus(),
		life:    make(chan struct{}, 1),
		streams: map[string]*heldStream{},
	}
	if s.o.httpClient == nil {
		s.ownClient = newHTTPClient()
		s.o.httpClient = s.ownClient
	}
	s.creds = &credentialCache{connector: c, now: o.now, timeout: o.credsTimeout, onTimeout: func(err error) {
		s.log.Warn("powersync: FetchCredentials did not return within the credentials timeout; its context is cancelled", "timeout", o.credsTimeout)
		s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) {
			sdk.downloadError = pserr.Errorf("powersync: fetch credentials: %w", err)
		})
	}}
	s.eng = o.eng
	if s.eng == nil {
		s.eng = newDefaultEngine(db, o)
	}
	if s.o.changes == nil {
		s.o.changes = defaultChangeSource
	}
	if err := s.reloadOfflineStatus(ctx); err != nil {
		guard.release()
		return nil, err
	}
	return s, nil
}

func (s *Syncer) lock(ctx context.Context) error {
	// A free lock is taken even when ctx has ended: ctx bounds waiting.
	select {
	case s.life <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.life <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Syncer) unlock() { <-s.life }

// Connect starts syncing in the background and returns. ctx only bounds
// starting (and stopping a previous connection): the sync keeps running
// until [Syncer.Disconnect] or [Syncer.Close]. Calling Connect while
// connected restarts the connection, e.g. after changing options. A
// previous connection that is still stopping (after a Disconnect whose
// context ended) is waited for first; if ctx ends before, Connect returns
// its error and starts nothing.
func (s *Syncer) Connect(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if err := s.stopLocked(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.startLocked(context.Background())
	return nil
}

// Run syncs until ctx ends, [Syncer.Disconnect] or [Syncer.Close]. It
// returns nil when stopped by Disconnect or Close and ctx.Err() when ctx
// ended; it fits an errgroup.
func (s *Syncer) Run(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	if err := s.stopLocked(ctx); err != nil {
		s.unlock()
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.unlock()
		return ErrClosed
	}
	sess := s.startLocked(ctx)
	s.mu.Unlock()
	s.unlock()
	<-sess.done
	return ctx.Err()
}

// startLocked starts a session whose goroutines stop when parent ends or the
// session is cancelled. s.mu must be held.
func (s *Syncer) startLocked(parent context.Context) *session {
	ctx, cancel := context.WithCancel(parent)
	sess := &session{
		cancel:     cancel,
		done:       make(chan struct{}),
		uploadKick: make(chan struct{}, 1),
		evNotify:   make(chan struct{}, 1),
	}
	if s.o.mode == modeRequests {
		sess.cr = newCheckpointRequests()
	}
	s.sess = sess
	sess.wg.Add(2)
	go func() {
		defer sess.wg.Done()
		s.downloadLoop(ctx, sess)
	}()
	go func() {
		defer sess.wg.Done()
		s.uploadLoop(ctx, sess)
	}()
	go func() {
		sess.wg.Wait()
		cancel()
		s.bus.update(func(core *synccore.CoreStatus, sdk *sdkStatus) {
			core.Connected, core.Connecting, core.Downloading = false, false, nil
			sdk.uploading = false
		})
		close(sess.done)
	}()
	return sess
}

// stopLocked stops the current session, if any, and waits for it (bounded
// by ctx). The life lock must be held. When ctx ends first, the session
// stays the current one: it is cancelled and still stopping, and the next
// stopLocked (of Connect, Run, Disconnect, DisconnectAndClear or Close)
// waits for it again, so that a new session never runs beside an old one
// (two upload loops would upload the same entries twice).
func (s *Syncer) stopLocked(ctx context.Context) error {
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess == nil {
		return nil
	}
	sess.cancel()
	select {
	case <-sess.done:
	default:
		if s.o.stopWait != nil {
			s.o.stopWait()
		}
		select {
		case <-sess.done:
		case <-ctx.Done():
			return pserr.Errorf("powersync: disconnect: connection still stopping: %w", ctx.Err())
		}
	}
	s.mu.Lock()
	if s.sess == sess {
		s.sess = nil
	}
	s.mu.Unlock()
	return nil
}

// Disconnect stops syncing and waits until every goroutine of the
// connection has ended (or ctx ends). Queued local changes stay queued and
// are uploaded after the next Connect.
//
// When ctx ends first, Disconnect returns its error and the connection
// goes on stopping in the background (its context is cancelled, so it
// ends once the connector's callbacks return). A later Connect, Run,
// Disconnect, DisconnectAndClear or Close waits for it to end first
// (bounded by its own context): the old and the new connection never run
// at the same time, so UploadData never runs twice at once.
func (s *Syncer) Disconnect(ctx context.Context) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return s.stopLocked(ctx)
}

// ClearOptions configure [Syncer.DisconnectAndClear].
type ClearOptions struct {
	// KeepLocalOnly keeps the rows of local-only tables. By default they are
	// deleted too.
	KeepLocalOnly bool
}

// DisconnectAndClear disconnects and deletes all synced data, the upload
// queue (including changes not uploaded yet), set-aside entries and sync
// state, e.g. when the user signs out. The client id is kept. Afterwards
// the status reports HasSynced false.
func (s *Syncer) DisconnectAndClear(ctx context.Context, opts ClearOptions) error {
	if err := s.lock(ctx); err != nil {
		return err
	}
	defer s.unlock()
	if err := s.stopLocked(ctx); err != nil {
		return err
	}
	if err := clearDatabase(ctx, s.db, s.eng, !opts.KeepLocalOnly); err != nil {
		return err
	}
	s.bus.update(func(_ *synccore.CoreStatus, sdk *sdkStatus) { *sdk = sdkStatus{} })
	return s.reloadOfflineStatus(ctx)
}

// Close disconnects and releases the syncer and its hold on the database
// file (see [New]); the database stays open. Later
// calls return [ErrClosed]; Statuses iterators end. Close is idempotent.
func (s *Syncer) Close() error {
	ctx := context.Background()
	_ = s.lock(ctx) // cannot fail: ctx never ends
	defer s.unlock()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	err := s.stopLocked(ctx)
	s.bus.close()
	s.guard.release()
	if s.ownClient != nil {
		s.ownClient.CloseIdleConnections()
	}
	return err
}

// Status returns the current sync status.
func (s *Syncer) Status() Status {
	st, _, _ := s.bus.snapshot()
	return st
}

// Statuses yields the current status and then each change, in order, until
// ctx ends or the syncer is closed. The syncer never waits for a consumer:
// the changes a consumer has not taken yet wait in a small queue of at most
// 64 statuses, fewer when statuses are large (those waiting hold at most
// 4,096 stream statuses between them, but the newest always waits). A
// change that finds the queue full replaces the newest waiting status, so a
// consumer that falls behind misses intermediate changes but always gets
// the latest status, and one that stops reading makes the syncer keep no
// more than those: with many streams, the newest status besides the one
// the consumer stopped at. Two statuses yielded one after the other always
// differ.
func (s *Syncer) Statuses(ctx context.Context) iter.Seq[Status] { return s.bus.all(ctx) }

// WaitForStatus waits until pred is true for the current status and returns
// that status.
func (s *Syncer) WaitForStatus(ctx context.Context, pred func(Status) bool) (Status, error) {
	return s.bus.wait(ctx, pred)
}

// WaitForFirstSync waits until a complete sync has finished on this database
// (immediately if one finished before, even in an earlier process).
func (s *Syncer) WaitForFirstSync(ctx context.Context) error {
	_, err := s.bus.wait(ctx, func(st Status) bool { return st.HasSynced })
	return err
}

// WaitForFirstSyncPriority waits until the buckets of priority p (and all
// higher priorities) have been synced at least once.
func (s *Syncer) WaitForFirstSyncPriority(ctx context.Context, p int) error {
	_, err := s.bus.wait(ctx, func(st Status) bool { return st.ForPriority(p).HasSynced })
	return err
}

// ClientID returns the database's PowerSync client id.
func ClientID(ctx context.Context, db *sql.DB) (string, error) {
	var id string
	if err := db.QueryRowContext(ctx, `SELECT value FROM ps_kv WHERE key = 'client_id'`).Scan(&id); err != nil {
		return "", pserr.Errorf("powersync: read client id: %w", err)
	}
	return id, nil
}

func defaultUserAgent() string {
	return "powersync-go/" + version + " go/" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// version is reported in the User-Agent header.
const version = "0.1.0-dev"
