package synccore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	_ "github.com/gopowersync/powersync/driver" // registers the sync-operation flag (internal/syncop)
	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/syncop"
	"github.com/gopowersync/powersync/schema"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// checkpoint is the checkpoint the iteration is tracking. It is never
// mutated after it was installed: diffs build a new one.
type checkpoint struct {
	lastOpID           int64
	writeCheckpoint    int64
	hasWriteCheckpoint bool
	buckets            map[string]*bucketChecksum
}

func (cp *checkpoint) sortedNames() []string {
	names := make([]string, 0, len(cp.buckets))
	for n := range cp.buckets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// included reports whether a bucket takes part in a sync at priority p
// (p < 0: complete sync).
func (b *bucketChecksum) included(p int32) bool { return p < 0 || b.priority <= p }

type progressEntry struct {
	priority  int32
	target    int64
	atLast    int64
	sinceLast int64
}

// subRequest is the streams part of the sync request plus the local ids of
// the explicit subscriptions, by index.
type subRequest struct {
	body json.RawMessage
	ids  []int64
}

// iteration is the in-memory state of one sync iteration (one connection).
type iteration struct {
	req           StartRequest
	rawTables     map[string]*schema.RawTable
	activeStreams []StreamKey
	requested     subRequest

	tracking     bool
	localBuckets []string // bucket names at start, before the first checkpoint
	cp           *checkpoint
	cpStreams    []streamDescription
	pending      *checkpoint // validated but blocked by local writes

	// status
	connected      bool
	connecting     bool
	priorityStatus []PriorityStatus
	downloading    bool
	progress       map[string]*progressEntry
	streams        []trackedStream
	appliedID      *int64
	lastStatus     []byte

	keyFilters map[int64]*keyFilter // by bucket id: the keys its oplog rows may have
}

// call is the context of one control call: its transaction and the effects
// to apply to the in-memory state once the transaction committed.
type call struct {
	ctx   context.Context
	e     *Engine
	conn  *sql.Conn
	tx    *sql.Tx
	now   int64 // µs
	stmts map[string]*sql.Stmt

	out        []Instruction
	statusAt   int // index in out where a status update goes, -1 = none
	after      []func(*iteration)
	endIt      bool
	syncOpOn   bool
	inferred   map[*schema.RawTable][2]*schema.PendingStatement
	insertArgs []any
	waiters    func() int // writers waiting for the file's write lock; nil if unknown
}

// contended reports whether other writers of this process wait for the
// write lock that the call's transaction holds.
func (c *call) contended() bool { return c.waiters != nil && c.waiters() > 0 }

func (c *call) prepare(query string) (*sql.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if p := c.e.stmts[query]; p != nil {
		st = c.tx.StmtContext(c.ctx, p)
	} else {
		var err error
		if st, err = c.tx.PrepareContext(c.ctx, query); err != nil {
			return nil, err
		}
		c.e.pending = append(c.e.pending, query)
	}
	if c.stmts == nil {
		c.stmts = make(map[string]*sql.Stmt)
	}
	c.stmts[query] = st
	return st, nil
}

func (c *call) exec(query string, args ...any) (sql.Result, error) {
	st, err := c.prepare(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(c.ctx, args...)
}

func (c *call) query(query string, args ...any) (*sql.Rows, error) {
	st, err := c.prepare(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(c.ctx, args...)
}

func (c *call) queryRow(query string, args ...any) *sql.Row {
	st, err := c.prepare(query)
	if err != nil {
		return c.tx.QueryRowContext(c.ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(c.ctx, args...)
}

// cached is a Querier that runs statements through the call's statement
// cache (see call.prepare), for the helpers that take a Querier.
type cached struct{ c *call }

func (q cached) ExecContext(_ context.Context, query string, args ...any) (sql.Result, error) {
	return q.c.exec(query, args...)
}

func (q cached) QueryContext(_ context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.c.query(query, args...)
}

func (q cached) QueryRowContext(_ context.Context, query string, args ...any) *sql.Row {
	return q.c.queryRow(query, args...)
}

// maxStmts bounds Engine.stmts; queries built for a number of rows or
// buckets come in many variants, and only the common ones are worth keeping.
const maxStmts = 256

// promote prepares on the database the queries that the last calls
// prepared for themselves and that two calls have used. It runs before a
// call takes its connection, so that preparing on the pool never waits for
// a connection this engine holds.
func (e *Engine) promote(ctx context.Context) {
	pending := e.pending
	e.pending = nil
	for _, q := range pending {
		if _, ok := e.stmts[q]; ok || len(e.stmts) >= maxStmts {
			continue
		}
		if e.seen[q]++; e.seen[q] < 2 {
			continue
		}
		delete(e.seen, q)
		if st, err := e.db.PrepareContext(ctx, q); err == nil {
			e.stmts[q] = st
		}
	}
	if len(e.seen) > 4*maxStmts {
		clear(e.seen)
	}
}

func (c *call) emit(i Instruction) { c.out = append(c.out, i) }

// emitStatus asks for an UpdateSyncStatus at the current position if the
// status (after this call's effects) differs from the last one emitted.
func (c *call) emitStatus() {
	if c.statusAt < 0 {
		c.statusAt = len(c.out)
	}
}

func (c *call) then(f func(*iteration)) { c.after = append(c.after, f) }

// isRetryable reports whether err is SQLITE_BUSY or SQLITE_LOCKED, after
// which the iteration stays alive and the event may be retried.
func isRetryable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}

var errNoIteration = fmt.Errorf("%w: No iteration is active", ErrState)

// run executes fn as one control call in a write transaction.
func (e *Engine) run(ctx context.Context, needIteration bool, fn func(c *call) error) ([]Instruction, error) {
	return e.runWith(ctx, needIteration, callKind{}, fn)
}

// callKind tells how much a control call may write, for connection settings
// that only pay off for large writes.
type callKind struct {
	applies bool // may apply a checkpoint (see useFileTempStore)
	bulk    bool // a large data line (see raiseAutoCheckpoint)
	run     bool // a run of data lines, which ends early for waiting writers
}

// classifyLine classifies a sync line for runWith.
func classifyLine(line []byte, binary bool) callKind {
	return callKind{applies: appliesCheckpoint(line, binary), bulk: len(line) >= bulkLine}
}

// bulkLine is the size from which a data line counts as bulk: a page of
// operations of an initial sync rather than a live change.
var bulkLine = 16 << 10 // a variable so tests can use small lines

// runWith is run for a call of the given kind.
func (e *Engine) runWith(ctx context.Context, needIteration bool, kind callKind, fn func(c *call) error) ([]Instruction, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if needIteration && e.it == nil {
		return nil, errNoIteration
	}
	// Small applies sort in memory; switching storage costs more than it saves.
	kind.applies = kind.applies && e.it != nil && e.it.downloadedSinceApply() >= largeApply
	out, err := e.runLocked(ctx, kind, fn)
	if err != nil && needIteration && !isRetryable(err) {
		e.it = nil
	}
	return out, err
}

// syncAutoCheckpoint is the WAL size, in pages, at which a commit of the sync
// client checkpoints the WAL. SQLite's default of 1000 pages (4 MiB) made the
// automatic checkpoint a fifth of the time of a large download: rows with
// random ids dirty pages all over the oplog's indexes, and every line's
// commit copied them into the database again. 10000 pages bounds the WAL at
// about 40 MiB while a download runs.
const syncAutoCheckpoint = 10000

// raiseAutoCheckpoint sets the connection's automatic checkpoint threshold
// for a control call and returns a function that restores it, so that the
// application's own use of the pooled connection keeps its setting.
func raiseAutoCheckpoint(ctx context.Context, conn *sql.Conn, log *slog.Logger) (func(), error) {
	var prev int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&prev); err != nil {
		return nil, fmt.Errorf("read wal_autocheckpoint: %w", err)
	}
	if prev <= 0 || prev >= syncAutoCheckpoint {
		return func() {}, nil // off, or already at least as large
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", syncAutoCheckpoint)); err != nil {
		return nil, fmt.Errorf("set wal_autocheckpoint: %w", err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", prev)); err != nil {
			log.Warn("powersync: restore wal_autocheckpoint", "value", prev, "err", err)
		}
	}, nil
}

// largeApply is the number of downloaded operations from which applying a
// checkpoint sorts its rows on disk (see useFileTempStore). A variable so
// tests can exercise the switch with small checkpoints.
var largeApply int64 = 10_000

// downloadedSinceApply is the number of operations downloaded since the last
// applied checkpoint: about how many rows the next apply sorts.
func (it *iteration) downloadedSinceApply() int64 {
	var n int64
	for _, p := range it.progress {
		n += p.sinceLast
	}
	return n
}

// useFileTempStore makes the connection keep temporary files on disk for a
// call that applies a checkpoint, and returns a function that restores the
// setting. Applying sorts every changed row; with the driver's in-memory
// temporary storage that sort made peak memory grow with the size of the
// checkpoint (179 MB at 1M rows, 85 MB on disk). The setting cannot change
// inside a transaction, and changing it drops the connection's temporary
// tables, so a connection on which the application created any is left as
// it is.
func useFileTempStore(ctx context.Context, conn *sql.Conn, log *slog.Logger) (func(), error) {
	var mode int
	if err := conn.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&mode); err != nil {
		return nil, fmt.Errorf("read temp_store: %w", err)
	}
	const memory = 2
	if mode != memory {
		return func() {}, nil
	}
	var temps int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM temp.sqlite_schema").Scan(&temps); err != nil {
		return nil, fmt.Errorf("read temp schema: %w", err)
	}
	if temps > 0 {
		return func() {}, nil
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
		return nil, fmt.Errorf("set temp_store: %w", err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA temp_store = MEMORY"); err != nil {
			log.Warn("powersync: restore temp_store", "value", "MEMORY", "err", err)
		}
	}, nil
}

// appliesCheckpoint reports whether a sync line completes a checkpoint (and
// so may apply one): checkpoint_complete or partial_checkpoint_complete, in
// NDJSON or BSON.
func appliesCheckpoint(line []byte, binary bool) bool {
	if binary {
		return bytes.Contains(line, []byte("checkpoint_complete\x00"))
	}
	return bytes.Contains(line, []byte(`checkpoint_complete"`))
}

func (e *Engine) runLocked(ctx context.Context, kind callKind, fn func(c *call) error) (out []Instruction, err error) {
	e.promote(ctx)
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, pserr.Errorf("powersync: sync control: %w", err)
	}
	defer conn.Close()
	if kind.bulk {
		restore, err := raiseAutoCheckpoint(ctx, conn, e.log)
		if err != nil {
			return nil, pserr.Errorf("powersync: sync control: %w", err)
		}
		defer restore()
	}
	if kind.applies {
		restoreTemp, err := useFileTempStore(ctx, conn, e.log)
		if err != nil {
			return nil, pserr.Errorf("powersync: sync control: %w", err)
		}
		defer restoreTemp()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, pserr.Errorf("powersync: sync control: begin: %w", err)
	}
	c := &call{ctx: ctx, e: e, conn: conn, tx: tx, now: e.now().UnixMicro(), statusAt: -1}
	if kind.run {
		c.waiters, _ = writeWaiters(conn) // nil on another driver: runs are then bounded by size and time only
	}
	err = e.protected(fn, c)
	for _, st := range c.stmts {
		st.Close()
	}
	if c.syncOpOn {
		if err2 := setSyncOperation(conn, false); err == nil && err2 != nil {
			err = pserr.Errorf("powersync: sync control: %w", err2)
		}
	}
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, pserr.Errorf("powersync: sync control: commit: %w", err)
	}
	it := e.it
	for _, f := range c.after {
		f(it)
	}
	if c.statusAt >= 0 && it != nil {
		st := it.coreStatus()
		b, _ := json.Marshal(st)
		if !bytes.Equal(b, it.lastStatus) {
			it.lastStatus = b
			c.out = slices.Insert(c.out, c.statusAt, Instruction(UpdateSyncStatus{Status: st}))
		}
	}
	if c.endIt {
		e.it = nil
	}
	return c.out, nil
}

// protected runs fn, turning a panic into an error, so that whatever a
// sync line makes the engine do, the call's transaction is rolled back and
// its connection released: the iteration ends with an error in the status
// instead of holding the write lock forever or crashing the process.
func (e *Engine) protected(fn func(c *call) error, c *call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("powersync: sync control panicked; the call is rolled back", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("powersync: sync control: internal error (%v); nothing of this call was applied", r)
		}
	}()
	return fn(c)
}

// setSyncOperation flags the connection as applying synced data, so that
// powersync_in_sync_operation() is 1 and CRUD capture is suppressed.
var setSyncOperation = syncop.Set

// writeWaiters is syncop.Waiters, a variable so that tests can replace it.
var writeWaiters = syncop.Waiters

func (c *call) enterSyncOperation() error {
	if c.syncOpOn {
		return nil
	}
	if err := setSyncOperation(c.conn, true); err != nil {
		return pserr.Errorf("powersync: sync operation flag: %w", err)
	}
	c.syncOpOn = true
	return nil
}

// Start begins a sync iteration ('start'), tearing down an active one.
func (e *Engine) Start(ctx context.Context, req StartRequest) ([]Instruction, error) {
	e.mu.Lock()
	e.it = nil
	e.mu.Unlock()
	it := &iteration{req: req, activeStreams: slices.Clone(req.ActiveStreams), connecting: true}
	it.rawTables = make(map[string]*schema.RawTable, len(req.RawTables))
	for i := range req.RawTables {
		it.rawTables[req.RawTables[i].Name] = &req.RawTables[i]
	}
	out, err := e.run(ctx, false, func(c *call) error {
		ps, err := c.loadPriorityStatus()
		if err != nil {
			return err
		}
		streams, err := c.loadStreams()
		if err != nil {
			return err
		}
		it.priorityStatus, it.streams = ps, streams
		buckets, err := c.localBuckets()
		if err != nil {
			return err
		}
		for _, b := range buckets {
			it.localBuckets = append(it.localBuckets, b.Name)
		}
		if err := c.extendTTL(it.activeStreams); err != nil {
			return err
		}
		sr, err := c.subscriptionRequest(req.IncludeDefaults)
		if err != nil {
			return err
		}
		it.requested = sr
		clientID, err := clientID(c.ctx, c.tx)
		if err != nil {
			return err
		}
		body := syncRequest{
			Buckets: buckets, IncludeChecksum: true, RawData: true, BinaryData: true,
			ClientID: clientID, Parameters: req.Parameters, Streams: sr.body,
		}
		if len(req.AppMetadata) > 0 {
			body.AppMetadata = req.AppMetadata
		}
		if body.Buckets == nil {
			body.Buckets = []bucketRequest{}
		}
		if body.Parameters == nil {
			// The service's request schema wants an object here; null is
			// refused with a 400 (PSYNC_S2001).
			body.Parameters = map[string]any{}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return pserr.Errorf("powersync: sync request: %w", err)
		}
		est := EstablishSyncStream{Request: raw}
		if req.CheckpointMode == "requests" {
			id, err := c.initialCheckpointRequestID()
			if err != nil {
				return err
			}
			est.CheckpointRequest = &CheckpointRequest{ClientID: clientID, CheckpointRequestID: id}
		} else if req.CheckpointMode != "" && req.CheckpointMode != "legacy" {
			return fmt.Errorf("%w: unknown checkpoint mode %q", ErrArgument, req.CheckpointMode)
		}
		c.e.it = it // installed now so the status is emitted; removed on error below
		c.emitStatus()
		c.emit(est)
		return nil
	})
	if err != nil {
		e.mu.Lock()
		e.it = nil
		e.mu.Unlock()
	}
	return out, err
}

type bucketRequest struct {
	Name  string `json:"name"`
	After string `json:"after"`
}

type syncRequest struct {
	Buckets         []bucketRequest   `json:"buckets"`
	IncludeChecksum bool              `json:"include_checksum"`
	RawData         bool              `json:"raw_data"`
	BinaryData      bool              `json:"binary_data"`
	ClientID        string            `json:"client_id"`
	Parameters      map[string]any    `json:"parameters"`
	Streams         json.RawMessage   `json:"streams"`
	AppMetadata     map[string]string `json:"app_metadata,omitempty"`
}

// Stop ends the active iteration ('stop'); without one it does nothing.
func (e *Engine) Stop(ctx context.Context) ([]Instruction, error) {
	e.mu.Lock()
	active := e.it != nil
	e.mu.Unlock()
	if !active {
		return nil, nil
	}
	return e.ConnectionEnd(ctx)
}

// ConnectionEstablished reports that the HTTP stream is open.
func (e *Engine) ConnectionEstablished(ctx context.Context) ([]Instruction, error) {
	return e.run(ctx, true, func(c *call) error {
		c.then(func(it *iteration) { it.connected, it.connecting = true, false })
		c.emitStatus()
		return nil
	})
}

// ConnectionEnd reports that the stream ended; the iteration ends.
func (e *Engine) ConnectionEnd(ctx context.Context) ([]Instruction, error) {
	return e.run(ctx, true, func(c *call) error {
		c.then(func(it *iteration) {
			it.connected, it.connecting, it.downloading, it.appliedID = false, false, false, nil
		})
		c.emitStatus()
		c.emit(CloseSyncStream{})
		c.endIt = true
		return nil
	})
}

// RefreshedToken reports that new credentials are available: the stream is
// closed for an immediate reconnect.
func (e *Engine) RefreshedToken(ctx context.Context) ([]Instruction, error) {
	return e.run(ctx, true, func(c *call) error {
		c.emit(CloseSyncStream{HideDisconnect: true})
		c.endIt = true
		return nil
	})
}

// UpdateSubscriptions replaces the set of stream subscriptions the app holds
// ('update_subscriptions'). If the resulting request differs from the one of
// the current connection, the stream is closed for a reconnect.
func (e *Engine) UpdateSubscriptions(ctx context.Context, subs []StreamKey) ([]Instruction, error) {
	return e.run(ctx, true, func(c *call) error {
		it := c.e.it
		if err := c.extendTTL(subs); err != nil {
			return err
		}
		sr, err := c.subscriptionRequest(it.req.IncludeDefaults)
		if err != nil {
			return err
		}
		if !bytes.Equal(sr.body, it.requested.body) {
			c.emit(CloseSyncStream{HideDisconnect: true})
			c.endIt = true
			return nil
		}
		subs := slices.Clone(subs)
		c.then(func(it *iteration) { it.activeStreams = subs })
		return nil
	})
}

// LineText processes one NDJSON line of the sync stream ('line_text').
func (e *Engine) LineText(ctx context.Context, line []byte) ([]Instruction, error) {
	return e.allLines(ctx, [][]byte{line}, false)
}

// LineBinary processes one BSON document of the sync stream ('line_binary').
func (e *Engine) LineBinary(ctx context.Context, doc []byte) ([]Instruction, error) {
	return e.allLines(ctx, [][]byte{doc}, true)
}

// CompletedUpload reports that the upload queue was drained; a checkpoint
// blocked by local writes is retried.
func (e *Engine) CompletedUpload(ctx context.Context) ([]Instruction, error) {
	return e.runWith(ctx, true, callKind{applies: true}, func(c *call) error {
		it := c.e.it
		cp := it.pending
		if cp == nil {
			return nil
		}
		c.then(func(it *iteration) { it.pending = nil })
		target, ok, err := readKVInt(c.ctx, c.tx, keyTarget)
		if err != nil {
			return err
		}
		if ok && (!cp.hasWriteCheckpoint || cp.writeCheckpoint < target) {
			return nil
		}
		res, err := c.syncLocal(cp, -1)
		if err != nil {
			return err
		}
		if res.kind != syncApplied {
			c.emit(LogLine{Severity: "WARNING", Line: "Could not apply pending checkpoint even after completed upload"})
			return nil
		}
		c.emit(LogLine{Severity: "DEBUG", Line: "Applied pending checkpoint after completed upload"})
		return c.checkpointApplied(cp)
	})
}

// MaxBatchLines, MaxBatchBytes and MaxBatchTime bound a run of data lines
// written in one transaction by LinesText, LinesBinary, NextLinesText and
// NextLinesBinary. The time bound keeps the write lock from being held much
// longer than that by one run, so that local writes made during a large
// download wait at most about that long: a run takes no further line once
// it has been writing for MaxBatchTime.
const (
	MaxBatchLines = 16
	MaxBatchBytes = 4 << 20
	MaxBatchTime  = 250 * time.Millisecond
)

// batchTime is MaxBatchTime, a variable so that tests can shorten it.
var batchTime = MaxBatchTime

// yieldAfter is how long a run of data lines holds the write lock before a
// waiting writer ends it. Each yield costs the sync more than the commit:
// the other writer's commit empties the sync connection's page cache. A
// variable so that tests can change it.
var yieldAfter = 40 * time.Millisecond

// LinesText processes NDJSON lines of the sync stream in order, as LineText
// would one after another, except that each run of consecutive data lines
// (within MaxBatchLines, MaxBatchBytes and MaxBatchTime) is written in one
// transaction. During a large download this commits once per run instead of
// once per line, which writes each page dirtied by the run to the WAL once
// instead of once per line.
//
// Data lines only add to the oplog, which no reader sees before a checkpoint
// is applied, so batching them changes nothing that becomes visible. If a
// line of a run fails, the whole run is rolled back, like a single line's
// call, and the iteration ends: the client reconnects and the service
// resends from the positions that were committed. Status updates of a run
// come as one instruction, after the run. Lines after one that closes the
// stream (CloseSyncStream) are not processed, as a client stops reading
// there. On error, the instructions of the lines processed before the
// failing call are returned with it.
func (e *Engine) LinesText(ctx context.Context, lines [][]byte) ([]Instruction, error) {
	return e.allLines(ctx, lines, false)
}

// LinesBinary is LinesText for BSON documents.
func (e *Engine) LinesBinary(ctx context.Context, docs [][]byte) ([]Instruction, error) {
	return e.allLines(ctx, docs, true)
}

// NextLinesText is LinesText for a client that reads the stream as it goes:
// next returns the next line that was already received, or false when none
// is at hand (it must not wait for the network). NextLinesText takes lines
// from next until one run of data lines is written (or one other line is
// processed, or next has none) and returns, so that the client can act on
// the instructions and on its own events between runs. Only the line being
// handled needs to be in memory: a run of 16 lines needs a few lines of
// read-ahead, not 16.
func (e *Engine) NextLinesText(ctx context.Context, next func() ([]byte, bool)) ([]Instruction, error) {
	ins, _, err := e.nextLines(ctx, next, false)
	return ins, err
}

// NextLinesBinary is NextLinesText for BSON documents.
func (e *Engine) NextLinesBinary(ctx context.Context, next func() ([]byte, bool)) ([]Instruction, error) {
	ins, _, err := e.nextLines(ctx, next, true)
	return ins, err
}

func (e *Engine) allLines(ctx context.Context, lines [][]byte, binary bool) ([]Instruction, error) {
	next := func() ([]byte, bool) {
		if len(lines) == 0 {
			return nil, false
		}
		l := lines[0]
		lines = lines[1:]
		return l, true
	}
	var out []Instruction
	for {
		ins, more, err := e.nextLines(ctx, next, binary)
		out = append(out, ins...)
		if err != nil || !more {
			return out, err
		}
	}
}

type parsedLine struct {
	line syncLine
	err  error
	size int
}

func parseLine(b []byte, binary bool) parsedLine {
	p := parsedLine{size: len(b)}
	if binary {
		p.line, p.err = parseBinaryLine(b)
	} else {
		p.line, p.err = parseTextLine(b)
	}
	return p
}

// nextLines processes the lines from next up to the end of one run of data
// lines, plus the line that ended the run, each line parsed just before it
// is handled. more is false when next had no more lines or the stream was
// closed.
func (e *Engine) nextLines(ctx context.Context, next func() ([]byte, bool), binary bool) (out []Instruction, more bool, err error) {
	raw, ok := next()
	if !ok {
		return nil, false, nil
	}
	single := func(raw []byte, p parsedLine) ([]Instruction, error) {
		return e.runWith(ctx, true, classifyLine(raw, binary), func(c *call) error {
			if p.err != nil {
				return p.err
			}
			return c.handleLine(&p.line, p.size)
		})
	}
	p := parseLine(raw, binary)
	if p.err != nil || p.line.kind != lineData {
		out, err = single(raw, p)
		return out, err == nil && !hasCloseStream(out), err
	}
	// A run of data lines. It ends at the limits, when next has no line at
	// hand, or before a line that is not a data line (or does not parse),
	// which is processed after the run.
	var endRaw []byte
	var end *parsedLine
	exhausted := false
	out, err = e.runWith(ctx, true, callKind{bulk: len(raw) >= bulkLine, run: true}, func(c *call) error {
		start := time.Now()
		n, size := 1, p.size
		if err := c.handleLine(&p.line, p.size); err != nil {
			return err
		}
		// A local write waiting for the lock ends the run once it has held
		// the lock for yieldAfter: the lines so far commit, and the writer
		// waits for about yieldAfter and one line, not for a whole run.
		for n < MaxBatchLines && size < MaxBatchBytes {
			if held := time.Since(start); held >= batchTime || held >= yieldAfter && c.contended() {
				break
			}
			raw, ok := next()
			if !ok {
				exhausted = true
				return nil
			}
			q := parseLine(raw, binary)
			if q.err != nil || q.line.kind != lineData {
				endRaw, end = raw, &q
				return nil
			}
			if err := c.handleLine(&q.line, q.size); err != nil {
				return err
			}
			n, size = n+1, size+q.size
		}
		return nil
	})
	if err != nil || end == nil {
		return out, err == nil && !exhausted, err
	}
	ins, err := single(endRaw, *end)
	out = append(out, ins...)
	return out, err == nil && !hasCloseStream(ins), err
}

func hasCloseStream(ins []Instruction) bool {
	for _, in := range ins {
		if _, ok := in.(CloseSyncStream); ok {
			return true
		}
	}
	return false
}
