package sync

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/gopowersync/powersync/internal/synccore"
)

// DefaultSubscriptionTTL is how long a stream subscription outlives the
// last handle that holds it.
const DefaultSubscriptionTTL = 24 * time.Hour

// SubscribeOption configures [Syncer.Subscribe].
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	ttl      time.Duration
	priority *int
}

// SubscriptionTTL sets how long the service keeps syncing the stream after
// the subscription is no longer held (default 24 h).
func SubscriptionTTL(d time.Duration) SubscribeOption {
	return func(o *subscribeOptions) {
		if d > 0 {
			o.ttl = d
		}
	}
}

// SubscriptionPriority overrides the priority of the stream's buckets
// (0 highest to 3).
func SubscriptionPriority(p int) SubscribeOption {
	return func(o *subscribeOptions) { o.priority = &p }
}

// heldStream counts the handles holding one stream subscription.
type heldStream struct {
	key  synccore.StreamKey
	refs int
}

// Subscription is a handle on a sync stream subscription from
// [Syncer.Subscribe]. While held, the stream is synced and its TTL extended;
// after [Subscription.Unsubscribe] of the last handle the stream keeps
// syncing until the TTL runs out.
type Subscription struct {
	s      *Syncer
	name   string
	params string
	once   gosync.Once
}

// Subscribe subscribes to the sync stream name with params (any value that
// encodes to a JSON object, or nil). The subscription is stored in the
// database, so it survives restarts until its TTL expires, and a running
// connection picks it up at once.
func (s *Syncer) Subscribe(ctx context.Context, name string, params any, opts ...SubscribeOption) (*Subscription, error) {
	if name == "" {
		return nil, errors.New("powersync: subscribe: empty stream name")
	}
	o := subscribeOptions{ttl: DefaultSubscriptionTTL}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := canonicalParams(params)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ttl := int64(o.ttl / time.Second)
	if ttl <= 0 {
		ttl = 1
	}
	var prio *int32
	if o.priority != nil {
		p := int32(*o.priority)
		prio = &p
	}
	req := synccore.SubscribeRequest{Stream: synccore.StreamKey{Name: name, Params: json.RawMessage(p)}, TTL: &ttl, Priority: prio}
	err = inWriteTx(ctx, s.db, "subscribe to stream", func(tx *sql.Tx) error {
		return synccore.Subscribe(ctx, tx, s.o.now(), req)
	})
	if err != nil {
		return nil, err
	}
	key := name + "\x00" + p
	s.mu.Lock()
	h := s.streams[key]
	if h == nil {
		h = &heldStream{key: synccore.StreamKey{Name: name, Params: json.RawMessage(p)}}
		s.streams[key] = h
	}
	h.refs++
	added := h.refs == 1
	sess := s.sess
	s.mu.Unlock()
	if added && sess != nil {
		sess.post(func() { sess.evSubs = true })
	}
	return &Subscription{s: s, name: name, params: p}, nil
}

// Name returns the stream name.
func (sub *Subscription) Name() string { return sub.name }

// Parameters returns the subscription parameters as JSON.
func (sub *Subscription) Parameters() json.RawMessage { return json.RawMessage(sub.params) }

// Unsubscribe releases the handle. The stream keeps syncing until its TTL
// expires unless another handle holds it. Calling it again does nothing.
func (sub *Subscription) Unsubscribe() {
	sub.once.Do(func() {
		s := sub.s
		key := sub.name + "\x00" + sub.params
		s.mu.Lock()
		h := s.streams[key]
		removed := false
		if h != nil {
			h.refs--
			if h.refs <= 0 {
				delete(s.streams, key)
				removed = true
			}
		}
		sess := s.sess
		s.mu.Unlock()
		if removed && sess != nil {
			sess.post(func() { sess.evSubs = true })
		}
	})
}

// Status returns the subscription's current status, and whether the
// syncer knows about it yet.
func (sub *Subscription) Status() (StreamStatus, bool) {
	return sub.s.Status().ForStream(sub.name, json.RawMessage(sub.params))
}

// WaitForFirstSync waits until the stream's data has been synced at least
// once.
func (sub *Subscription) WaitForFirstSync(ctx context.Context) error {
	_, err := sub.s.bus.wait(ctx, func(st Status) bool {
		ss, ok := st.ForStream(sub.name, json.RawMessage(sub.params))
		return ok && ss.HasSynced()
	})
	return err
}

// UnsubscribeAll removes the explicit subscription to the stream name with
// params, whatever its TTL: the next connection no longer requests it.
func (s *Syncer) UnsubscribeAll(ctx context.Context, name string, params any) error {
	p, err := canonicalParams(params)
	if err != nil {
		return err
	}
	err = inWriteTx(ctx, s.db, "unsubscribe from stream", func(tx *sql.Tx) error {
		return synccore.Unsubscribe(ctx, tx, synccore.StreamKey{Name: name, Params: json.RawMessage(p)})
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	sess := s.sess
	s.mu.Unlock()
	if sess != nil {
		sess.post(func() { sess.evSubs = true })
	}
	return nil
}

// activeStreams returns the streams the app currently holds, sorted.
func (s *Syncer) activeStreams() []synccore.StreamKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]synccore.StreamKey, 0, len(s.streams))
	for _, h := range s.streams {
		out = append(out, h.key)
	}
	slices.SortFunc(out, func(a, b synccore.StreamKey) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(string(a.Params), string(b.Params))
	})
	return out
}

// reloadOfflineStatus sets the core status from what the database
// remembers (powersync_offline_sync_status).
func (s *Syncer) reloadOfflineStatus(ctx context.Context) error {
	st, err := synccore.OfflineStatus(ctx, s.db)
	if err != nil {
		return err
	}
	s.bus.update(func(core *synccore.CoreStatus, _ *sdkStatus) {
		st.Connected, st.Connecting = core.Connected, core.Connecting
		*core = st
	})
	return nil
}
