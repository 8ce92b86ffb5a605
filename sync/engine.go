package sync

import (
	"context"
	"encoding/json"
)

// engine is the sync state machine the syncer drives: the equivalent of the
// official core's powersync_control. Every call runs in its own write
// transaction and returns the instructions the syncer must act on. The
// production implementation wraps internal/synccore; tests use fakes.
type engine interface {
	Start(ctx context.Context, req startRequest) ([]instruction, error)
	ConnectionEstablished(ctx context.Context) ([]instruction, error)
	ConnectionEnd(ctx context.Context) ([]instruction, error)
	LineText(ctx context.Context, line []byte) ([]instruction, error)
	LineBinary(ctx context.Context, doc []byte) ([]instruction, error)
	CompletedUpload(ctx context.Context) ([]instruction, error)
	RefreshedToken(ctx context.Context) ([]instruction, error)
	UpdateSubscriptions(ctx context.Context, active []streamKey) ([]instruction, error)
	Stop(ctx context.Context) ([]instruction, error)
}

// startRequest is the payload of the state machine's start command
// (client-algorithms.md §2.1 StartOptions).
type startRequest struct {
	Parameters      map[string]any    `json:"parameters"`
	IncludeDefaults bool              `json:"include_defaults"`
	ActiveStreams   []streamKey       `json:"active_streams"`
	AppMetadata     map[string]string `json:"app_metadata,omitempty"`
	CheckpointMode  checkpointMode    `json:"checkpoint_mode"`
}

// streamKey identifies a stream subscription held by the app.
type streamKey struct {
	Name   string          `json:"name"`
	Params json.RawMessage `json:"params"`
}

type checkpointMode string

const (
	modeLegacy   checkpointMode = "legacy"
	modeRequests checkpointMode = "requests"
)

// instruction is one of the instruction types below.
type instruction interface{ isInstruction() }

// insLog asks the syncer to log a line.
type insLog struct {
	Severity string // DEBUG, INFO or WARNING
	Line     string
}

// insStatus replaces the core part of the status.
type insStatus struct{ Status coreStatus }

// insEstablish asks the syncer to open the sync stream with Request as body.
type insEstablish struct {
	Request           json.RawMessage
	CheckpointRequest *checkpointRequest
}

// checkpointRequest is the body of POST /sync/checkpoint-request.
type checkpointRequest struct {
	ClientID            string `json:"client_id"`
	CheckpointRequestID string `json:"checkpoint_request_id"`
}

// insFetchCredentials asks for new credentials: DidExpire means the current
// ones are no longer valid (the stream is being closed); otherwise they
// should be fetched in the background, followed by RefreshedToken.
type insFetchCredentials struct{ DidExpire bool }

// insClose ends the iteration; HideDisconnect asks for an immediate restart.
type insClose struct{ HideDisconnect bool }

// insDidCompleteSync reports a completed (full) sync.
type insDidCompleteSync struct{ AppliedCheckpointRequestID string }

func (insLog) isInstruction()              {}
func (insStatus) isInstruction()           {}
func (insEstablish) isInstruction()        {}
func (insFetchCredentials) isInstruction() {}
func (insClose) isInstruction()            {}
func (insDidCompleteSync) isInstruction()  {}
