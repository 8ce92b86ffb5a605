package synccore

import (
	"context"
	"fmt"
	"sync"
)

// The core's 'seed_checkpoint_request_id' and 'next_checkpoint_request_id'
// commands, for the differential tests: the storage halves are
// SeedCheckpointRequests and AllocateCheckpointRequestID, used by the
// Syncer; the core adds a per-iteration check that the counter was seeded,
// kept here by iteration.

// seededIterations maps an *Engine to the iteration its counter was
// seeded in.
var seededIterations sync.Map

// SeedCheckpointRequestID stores the checkpoint request id the service
// echoed for this connection ('seed_checkpoint_request_id'). It needs an
// active iteration; id must be positive.
func (e *Engine) SeedCheckpointRequestID(ctx context.Context, id int64) error {
	if id <= 0 {
		return fmt.Errorf("%w: checkpoint request id must be a positive integer", ErrArgument)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.it == nil {
		return errNoIteration
	}
	it := e.it
	_, err := e.runLocked(ctx, callKind{}, func(c *call) error { return SeedCheckpointRequests(ctx, c.tx, id) })
	if err == nil && e.it == it {
		seededIterations.Store(e, it)
	}
	return err
}

// NextCheckpointRequestID allocates the next checkpoint request id
// ('next_checkpoint_request_id'). The counter must have been seeded in the
// active iteration.
func (e *Engine) NextCheckpointRequestID(ctx context.Context) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.it == nil {
		return 0, errNoIteration
	}
	if it, ok := seededIterations.Load(e); !ok || it != e.it {
		return 0, fmt.Errorf("%w: Checkpoint request state has not been seeded", ErrState)
	}
	var next int64
	_, err := e.runLocked(ctx, callKind{}, func(c *call) (err error) {
		next, err = AllocateCheckpointRequestID(ctx, c.tx)
		return err
	})
	return next, err
}
