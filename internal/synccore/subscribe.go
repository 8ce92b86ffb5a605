package synccore

import (
	"context"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
)

// SubscribeRequest subscribes to a sync stream (the core's
// 'subscriptions' {"subscribe": ...} command).
type SubscribeRequest struct {
	Stream StreamKey
	// TTL is how long the subscription outlives its last use, in seconds;
	// nil means one day.
	TTL *int64
	// Priority overrides the priority of the stream's buckets; nil for none.
	Priority *int32
}

// Subscribe records an explicit stream subscription in
// ps_stream_subscriptions. It needs no active iteration; call
// Engine.UpdateSubscriptions afterwards so a running connection picks it up.
func Subscribe(ctx context.Context, q Querier, now time.Time, req SubscribeRequest) error {
	ttl := int64(86400)
	if req.TTL != nil {
		ttl = *req.TTL
	}
	_, err := q.ExecContext(ctx, `INSERT INTO ps_stream_subscriptions(stream_name, local_priority, local_params, ttl, expires_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (stream_name, local_params) DO UPDATE SET
  local_priority = min(coalesce(excluded.local_priority, local_priority), local_priority),
  ttl = excluded.ttl,
  expires_at = excluded.expires_at`,
		req.Stream.Name, req.Priority, serializedParams(req.Stream.Params), ttl, now.UnixMicro()+ttl*1_000_000)
	if err != nil {
		return pserr.Errorf("powersync: subscribe to stream %q: %w", req.Stream.Name, err)
	}
	return nil
}

// Unsubscribe removes the explicit subscription to a stream (the core's
// {"unsubscribe": ...}): it is dropped from the next sync request.
func Unsubscribe(ctx context.Context, q Querier, key StreamKey) error {
	_, err := q.ExecContext(ctx, "UPDATE ps_stream_subscriptions SET ttl = NULL WHERE stream_name = ? AND local_params = ?",
		key.Name, serializedParams(key.Params))
	if err != nil {
		return pserr.Errorf("powersync: unsubscribe from stream %q: %w", key.Name, err)
	}
	return nil
}
