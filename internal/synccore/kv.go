package synccore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gopowersync/powersync/internal/pserr"
)

func readKVInt(ctx context.Context, q Querier, key string) (int64, bool, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, pserr.Errorf("powersync: read %s: %w", key, err)
	}
	return v.Int64, v.Valid, nil
}

func writeKVInt(ctx context.Context, q Querier, key string, v int64) error {
	if _, err := q.ExecContext(ctx, "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, ?)", key, v); err != nil {
		return pserr.Errorf("powersync: write %s: %w", key, err)
	}
	return nil
}

func clientID(ctx context.Context, q Querier) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, "SELECT value FROM ps_kv WHERE key = 'client_id'").Scan(&id)
	if err != nil {
		return "", pserr.Errorf("powersync: read client_id: %w", err)
	}
	return id, nil
}

func (c *call) localBuckets() ([]bucketRequest, error) {
	rows, err := c.tx.QueryContext(c.ctx, "SELECT name, last_op FROM ps_buckets WHERE pending_delete = 0")
	if err != nil {
		return nil, pserr.Errorf("powersync: read buckets: %w", err)
	}
	defer rows.Close()
	var out []bucketRequest
	for rows.Next() {
		var name string
		var last int64
		if err := rows.Scan(&name, &last); err != nil {
			return nil, err
		}
		out = append(out, bucketRequest{Name: name, After: i64s(last)})
	}
	return out, rows.Err()
}

func (c *call) initialCheckpointRequestID() (int64, error) {
	id := int64(1)
	last, ok, err := readKVInt(c.ctx, c.tx, keyRequested)
	if err != nil {
		return 0, err
	}
	if ok && last > id {
		id = last
	}
	target, ok, err := readKVInt(c.ctx, c.tx, keyTarget)
	if err != nil {
		return 0, err
	}
	if ok && target > 0 && target < MaxOpID && target > id {
		id = target
	}
	return id, nil
}

// SeedCheckpointRequests stores id, the checkpoint request id the service
// answered for a connection, as the last allocated one: the storage half of
// 'seed_checkpoint_request_id'. The core also refuses to allocate an id
// before the counter was seeded on the current connection; the Syncer
// keeps that state itself (it waits instead of failing). id must be
// positive.
func SeedCheckpointRequests(ctx context.Context, q Querier, id int64) error {
	if id <= 0 {
		return fmt.Errorf("%w: checkpoint request id must be a positive integer", ErrArgument)
	}
	return writeKVInt(ctx, q, keyRequested, id)
}

// AllocateCheckpointRequestID increments the last allocated checkpoint
// request id and returns the new one: the storage half of
// 'next_checkpoint_request_id'. Run it in a write transaction after
// SeedCheckpointRequests.
func AllocateCheckpointRequestID(ctx context.Context, q Querier) (int64, error) {
	cur, _, err := CurrentCheckpointRequestID(ctx, q)
	if err != nil {
		return 0, err
	}
	next := cur + 1
	return next, writeKVInt(ctx, q, keyRequested, next)
}

// CurrentCheckpointRequestID returns the last allocated checkpoint request
// id ('current_checkpoint_request_id'); ok is false when none was seeded.
func CurrentCheckpointRequestID(ctx context.Context, q Querier) (id int64, ok bool, err error) {
	return readKVInt(ctx, q, keyRequested)
}

// TargetCheckpointRequestID reads the local-write gate: the write checkpoint
// that must be seen before downloaded data is published. MaxOpID means local
// writes wait for a write checkpoint; ok false means no gate.
func TargetCheckpointRequestID(ctx context.Context, q Querier) (id int64, ok bool, err error) {
	return readKVInt(ctx, q, keyTarget)
}

// UploadsAcknowledged reports whether every local write has been uploaded
// and acknowledged: the upload queue is empty and the last applied
// checkpoint request covers the local-write gate (so the server's state
// after the writes is published).
func UploadsAcknowledged(ctx context.Context, q Querier) (bool, error) {
	var pending int
	err := q.QueryRowContext(ctx, `SELECT
  EXISTS(SELECT 1 FROM ps_crud LIMIT 1)
  OR EXISTS(SELECT 1 FROM ps_kv AS target
    LEFT JOIN ps_kv AS applied ON applied.key = ?2
    WHERE target.key = ?1
      AND CAST(target.value AS INTEGER) > COALESCE(CAST(applied.value AS INTEGER), 0))`, keyTarget, keyApplied).Scan(&pending)
	if err != nil {
		return false, err
	}
	return pending == 0, nil
}

// SetTargetCheckpointRequestID sets the local-write gate to id, or removes
// it when id is 0, and returns the previous value
// ('target_checkpoint_request_id'). Run it inside the caller's write
// transaction.
func SetTargetCheckpointRequestID(ctx context.Context, q Querier, id int64) (prev int64, hadPrev bool, err error) {
	if id < 0 {
		return 0, false, fmt.Errorf("%w: target checkpoint request id must be a non-negative integer", ErrArgument)
	}
	prev, hadPrev, err = readKVInt(ctx, q, keyTarget)
	if err != nil {
		return 0, false, err
	}
	if id == 0 {
		_, err = q.ExecContext(ctx, "DELETE FROM ps_kv WHERE key = ?", keyTarget)
	} else {
		err = writeKVInt(ctx, q, keyTarget, id)
	}
	if err != nil {
		return 0, false, pserr.Errorf("powersync: set target checkpoint: %w", err)
	}
	return prev, hadPrev, nil
}

// CompleteCrud removes uploaded ps_crud entries up to and including lastID
// and updates the local-write gate as CrudBatch.complete does (Dart
// semantics): with a write checkpoint and an empty queue afterwards the
// target becomes that checkpoint, otherwise MaxOpID. Run it in a write
// transaction.
func CompleteCrud(ctx context.Context, tx *sql.Tx, lastID int64, writeCheckpoint *int64) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM ps_crud WHERE id <= ?", lastID); err != nil {
		return pserr.Errorf("powersync: complete crud: %w", err)
	}
	target := int64(MaxOpID)
	if writeCheckpoint != nil {
		var empty bool
		if err := tx.QueryRowContext(ctx, "SELECT NOT EXISTS(SELECT 1 FROM ps_crud)").Scan(&empty); err != nil {
			return pserr.Errorf("powersync: complete crud: %w", err)
		}
		if empty {
			target = *writeCheckpoint
		}
	}
	_, _, err := SetTargetCheckpointRequestID(ctx, tx, target)
	return err
}

// WriteCheckpointNeeded is the first half of update_local_target: it reports
// whether the gate waits for a write checkpoint (target is MaxOpID) and
// returns ps_crud's sequence number to pass to CommitWriteCheckpoint after
// the write checkpoint was created.
func WriteCheckpointNeeded(ctx context.Context, q Querier) (seq int64, needed bool, err error) {
	t, ok, err := TargetCheckpointRequestID(ctx, q)
	if err != nil || !ok || t != MaxOpID {
		return 0, false, err
	}
	err = q.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'ps_crud'").Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, pserr.Errorf("powersync: read crud sequence: %w", err)
	}
	return seq, true, nil
}

// CommitWriteCheckpoint is the second half of update_local_target: in a
// write transaction it sets the gate to id unless local writes were made
// since WriteCheckpointNeeded returned seqBefore. It reports whether the
// target was set.
func CommitWriteCheckpoint(ctx context.Context, tx *sql.Tx, seqBefore, id int64) (bool, error) {
	var pending bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS(SELECT 1 FROM ps_crud)").Scan(&pending); err != nil {
		return false, pserr.Errorf("powersync: commit write checkpoint: %w", err)
	}
	if pending {
		return false, nil
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = 'ps_crud'").Scan(&seq); err != nil {
		return false, pserr.Errorf("powersync: commit write checkpoint: %w", err)
	}
	if seq != seqBefore {
		return false, nil
	}
	if _, _, err := SetTargetCheckpointRequestID(ctx, tx, id); err != nil {
		return false, err
	}
	return true, nil
}
