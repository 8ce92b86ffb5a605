package synccore

import (
	"database/sql"
	"encoding/json"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gopowersync/powersync/schema"
)

// Options configures an Engine.
type Options struct {
	// Logger receives debug output of the engine itself (not the LogLine
	// instructions, which are returned to the caller). Nil means silent.
	Logger *slog.Logger
	// Now is the clock used for ps_sync_state, stream subscription expiry and
	// status timestamps. Nil means time.Now.
	Now func() time.Time
}

// Engine is the sync state machine of one database: the equivalent of the
// official core's powersync_control. Each method runs as one control call in
// its own write transaction and returns the instructions the caller must act
// on.
//
// Calls are serialised by an internal mutex, but the engine is meant to be
// driven by one goroutine (the Syncer's download loop): interleaving calls
// from several goroutines is safe but rarely meaningful.
type Engine struct {
	db  *sql.DB
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex // guards it and every database call made by a control method
	it  *iteration // active sync iteration, nil when idle
	// stmts are statements prepared on db that calls use through
	// Tx.StmtContext, which reuses a connection's prepared copy: a small
	// checkpoint would otherwise spend about a third of its time parsing
	// its SQL. A query used by two calls is prepared here before the next
	// call takes its connection (see promote). Guarded by mu.
	stmts   map[string]*sql.Stmt
	seen    map[string]int // calls that prepared each query not in stmts
	pending []string       // queries the last call prepared itself
}

// New returns an Engine for db, a database opened with the "powersync" driver
// (internal tables at layout version 14).
func New(db *sql.DB, opts Options) *Engine {
	e := &Engine{db: db, log: opts.Logger, now: opts.Now, stmts: map[string]*sql.Stmt{}, seen: map[string]int{}}
	// The statements live as long as the engine (or the database).
	runtime.AddCleanup(e, func(stmts map[string]*sql.Stmt) {
		for _, st := range stmts {
			st.Close()
		}
	}, e.stmts)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// StreamKey identifies a sync stream subscription held by the application.
type StreamKey struct {
	// Name is the stream name.
	Name string `json:"name"`
	// Params are the subscription parameters as JSON; nil or "null" means none.
	Params json.RawMessage `json:"params,omitempty"`
}

// StartRequest is the payload of 'start' (the core's StartOptions).
type StartRequest struct {
	// Parameters are the client parameters forwarded in the sync request.
	Parameters map[string]any
	// ActiveStreams are the stream subscriptions currently held by the app;
	// their TTL is extended on start and on every keepalive.
	ActiveStreams []StreamKey
	// IncludeDefaults is forwarded as streams.include_defaults. Note that the
	// zero value is false, while SDKs default to true.
	IncludeDefaults bool
	// CheckpointMode is "legacy" (or empty) or "requests".
	CheckpointMode string
	// AppMetadata is forwarded in the sync request when not empty.
	AppMetadata map[string]string
	// RawTables are the raw tables of the schema: synced rows whose type names
	// one of them are written with its put/delete statements.
	RawTables []schema.RawTable
}

// Instruction is one element of the list a control call returns: LogLine,
// UpdateSyncStatus, EstablishSyncStream, FetchCredentials, CloseSyncStream or
// DidCompleteSync. Each marshals to JSON in the core's form, for example
// {"LogLine":{"severity":"DEBUG","line":"..."}}.
type Instruction interface{ instruction() }

// LogLine asks the caller to log Line at Severity ("DEBUG", "INFO" or "WARNING").
type LogLine struct {
	Severity string `json:"severity"`
	Line     string `json:"line"`
}

// UpdateSyncStatus replaces the core part of the sync status.
type UpdateSyncStatus struct {
	Status CoreStatus `json:"status"`
}

// EstablishSyncStream asks the caller to open POST /sync/stream with Request
// as the body. In checkpoint-request mode CheckpointRequest is set: post it to
// /sync/checkpoint-request and seed the engine with the echoed id.
type EstablishSyncStream struct {
	Request           json.RawMessage    `json:"request"`
	CheckpointRequest *CheckpointRequest `json:"checkpoint_request,omitempty"`
}

// CheckpointRequest is the body of POST /sync/checkpoint-request.
type CheckpointRequest struct {
	ClientID            string `json:"client_id"`
	CheckpointRequestID int64  `json:"checkpoint_request_id,string"`
}

// FetchCredentials asks for new credentials: DidExpire true means the cached
// ones are invalid (the stream is being closed); false means prefetch them and
// call RefreshedToken when done.
type FetchCredentials struct {
	DidExpire bool `json:"did_expire"`
}

// CloseSyncStream ends the iteration: close the HTTP stream. HideDisconnect
// true asks for an immediate reconnect without showing a disconnect.
type CloseSyncStream struct {
	HideDisconnect bool `json:"hide_disconnect"`
}

// DidCompleteSync reports a completely applied checkpoint.
// AppliedCheckpointRequestID is the write checkpoint (checkpoint request id)
// it carried, if any.
type DidCompleteSync struct {
	AppliedCheckpointRequestID *int64 `json:"applied_checkpoint_request_id,omitempty,string"`
}

func (LogLine) instruction()             {}
func (UpdateSyncStatus) instruction()    {}
func (EstablishSyncStream) instruction() {}
func (FetchCredentials) instruction()    {}
func (CloseSyncStream) instruction()     {}
func (DidCompleteSync) instruction()     {}

func wrapInstruction(name string, v any) ([]byte, error) {
	inner, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(inner)+len(name)+5)
	out = append(out, '{', '"')
	out = append(out, name...)
	out = append(out, '"', ':')
	out = append(out, inner...)
	return append(out, '}'), nil
}

type logLineJSON LogLine
type updateSyncStatusJSON UpdateSyncStatus
type establishJSON EstablishSyncStream
type fetchJSON FetchCredentials
type closeJSON CloseSyncStream
type didCompleteJSON DidCompleteSync

// MarshalJSON encodes the instruction as {"LogLine":{...}}.
func (i LogLine) MarshalJSON() ([]byte, error) { return wrapInstruction("LogLine", logLineJSON(i)) }

// MarshalJSON encodes the instruction as {"UpdateSyncStatus":{"status":...}}.
func (i UpdateSyncStatus) MarshalJSON() ([]byte, error) {
	return wrapInstruction("UpdateSyncStatus", updateSyncStatusJSON(i))
}

// MarshalJSON encodes the instruction as {"EstablishSyncStream":{...}}.
func (i EstablishSyncStream) MarshalJSON() ([]byte, error) {
	return wrapInstruction("EstablishSyncStream", establishJSON(i))
}

// MarshalJSON encodes the instruction as {"FetchCredentials":{...}}.
func (i FetchCredentials) MarshalJSON() ([]byte, error) {
	return wrapInstruction("FetchCredentials", fetchJSON(i))
}

// MarshalJSON encodes the instruction as {"CloseSyncStream":{...}}.
func (i CloseSyncStream) MarshalJSON() ([]byte, error) {
	return wrapInstruction("CloseSyncStream", closeJSON(i))
}

// MarshalJSON encodes the instruction as {"DidCompleteSync":{...}}.
func (i DidCompleteSync) MarshalJSON() ([]byte, error) {
	return wrapInstruction("DidCompleteSync", didCompleteJSON(i))
}

// CoreStatus mirrors the core's sync status JSON.
type CoreStatus struct {
	Connected      bool             `json:"connected"`
	Connecting     bool             `json:"connecting"`
	PriorityStatus []PriorityStatus `json:"priority_status"`
	// Downloading is nil unless a checkpoint is being downloaded.
	Downloading *DownloadProgress `json:"downloading"`
	Streams     []StreamStatus    `json:"streams"`
	// InternalLastAppliedCheckpointRequestID is set right after a complete
	// checkpoint carrying a write checkpoint was applied.
	InternalLastAppliedCheckpointRequestID *int64 `json:"internal_last_applied_checkpoint_request_id,omitempty,string"`
}

// PriorityStatus is the sync state of one priority; Priority 2147483647
// (FullSyncPriority) stands for a complete sync.
type PriorityStatus struct {
	Priority int32 `json:"priority"`
	// LastSyncedAt is in microseconds since the Unix epoch.
	LastSyncedAt *int64 `json:"last_synced_at"`
	HasSynced    *bool  `json:"has_synced"`
}

// DownloadProgress holds one synthetic entry per priority, keyed "prio_<N>".
type DownloadProgress struct {
	Buckets map[string]BucketProgress `json:"buckets"`
}

// BucketProgress is download progress: downloaded = SinceLast,
// total = TargetCount - AtLast.
type BucketProgress struct {
	Priority    int32 `json:"priority"`
	AtLast      int64 `json:"at_last"`
	SinceLast   int64 `json:"since_last"`
	TargetCount int64 `json:"target_count"`
}

// StreamStatus is the status of one sync stream subscription.
type StreamStatus struct {
	Name                    string          `json:"name"`
	Parameters              json.RawMessage `json:"parameters"`
	Priority                *int32          `json:"priority"`
	Active                  bool            `json:"active"`
	IsDefault               bool            `json:"is_default"`
	HasExplicitSubscription bool            `json:"has_explicit_subscription"`
	ExpiresAt               *int64          `json:"expires_at"`
	LastSyncedAt            *int64          `json:"last_synced_at"`
	Progress                StreamProgress  `json:"progress"`
}

// StreamProgress is the download progress of one stream.
type StreamProgress struct {
	Total      int64 `json:"total"`
	Downloaded int64 `json:"downloaded"`
}

// FullSyncPriority is the priority code of a complete sync.
const FullSyncPriority = 2147483647

// MaxOpID is the value of target_checkpoint_request_id while local writes
// wait for a concrete write checkpoint.
const MaxOpID = 9223372036854775807

func i64s(v int64) string { return strconv.FormatInt(v, 10) }

// compile-time checks
var (
	_ Instruction = LogLine{}
	_ Instruction = UpdateSyncStatus{}
	_ Instruction = EstablishSyncStream{}
	_ Instruction = FetchCredentials{}
	_ Instruction = CloseSyncStream{}
	_ Instruction = DidCompleteSync{}
)
