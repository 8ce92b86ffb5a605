package sync

import (
	"context"

	"github.com/gopowersync/powersync/internal/synccore"
)

// engine is the sync state machine the syncer drives: the equivalent of the
// official core's powersync_control. Every call runs in its own write
// transaction and returns the instructions the syncer must act on. The
// production implementation is internal/synccore; tests use fakes that return
// synccore's instruction values.
type engine interface {
	Start(ctx context.Context, req synccore.StartRequest) ([]synccore.Instruction, error)
	ConnectionEstablished(ctx context.Context) ([]synccore.Instruction, error)
	ConnectionEnd(ctx context.Context) ([]synccore.Instruction, error)
	NextLinesText(ctx context.Context, next func() ([]byte, bool)) ([]synccore.Instruction, error)
	NextLinesBinary(ctx context.Context, next func() ([]byte, bool)) ([]synccore.Instruction, error)
	CompletedUpload(ctx context.Context) ([]synccore.Instruction, error)
	RefreshedToken(ctx context.Context) ([]synccore.Instruction, error)
	UpdateSubscriptions(ctx context.Context, active []synccore.StreamKey) ([]synccore.Instruction, error)
	Stop(ctx context.Context) ([]synccore.Instruction, error)
}

// Checkpoint modes of the start request (docs/upload.md, "Write checkpoints").
const (
	modeLegacy   = "legacy"
	modeRequests = "requests"
)
