package synccore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gopowersync/powersync/internal/pserr"
)

// trackedStream is a row of ps_stream_subscriptions as shown in the status.
type trackedStream struct {
	id           int64
	name         string
	params       json.RawMessage // nil = none
	localPrio    *int32
	active       bool
	isDefault    bool
	ttl          *int64
	expiresAt    *int64
	lastSyncedAt *int64
	priority     *int32   // max priority of associated buckets
	buckets      []string // associated buckets of the current checkpoint
	server       int      // index into checkpoint streams, -1 none
}

const streamColumns = "id, stream_name, active, is_default, local_priority, local_params, ttl, expires_at, last_synced_at"

type rowScanner interface{ Scan(dest ...any) error }

func scanStream(r rowScanner) (trackedStream, error) {
	var s trackedStream
	var prio, ttl, exp, last sql.NullInt64
	var params string
	if err := r.Scan(&s.id, &s.name, &s.active, &s.isDefault, &prio, &params, &ttl, &exp, &last); err != nil {
		return s, err
	}
	if params != "null" {
		s.params = json.RawMessage(params)
	}
	if prio.Valid {
		p := int32(prio.Int64)
		s.localPrio = &p
	}
	if ttl.Valid {
		s.ttl = &ttl.Int64
	}
	if exp.Valid {
		s.expiresAt = &exp.Int64
	}
	if last.Valid {
		s.lastSyncedAt = &last.Int64
	}
	s.server = -1
	return s, nil
}

func loadStreams(ctx context.Context, q Querier) ([]trackedStream, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+streamColumns+" FROM ps_stream_subscriptions ORDER BY id")
	if err != nil {
		return nil, pserr.Errorf("powersync: read stream subscriptions: %w", err)
	}
	defer rows.Close()
	var out []trackedStream
	for rows.Next() {
		s, err := scanStream(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (c *call) loadStreams() ([]trackedStream, error) { return loadStreams(c.ctx, cached{c}) }

// serializedParams is the text stored in local_params for a stream key.
func serializedParams(p json.RawMessage) string {
	if len(bytes.TrimSpace(p)) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return string(p)
	}
	return b.String()
}

func (c *call) extendTTL(keys []StreamKey) error {
	for _, k := range keys {
		if _, err := c.exec("UPDATE ps_stream_subscriptions SET expires_at = ? + ttl * 1000000 WHERE stream_name = ? AND local_params = ? AND ttl IS NOT NULL",
			c.now, k.Name, serializedParams(k.Params)); err != nil {
			return pserr.Errorf("powersync: extend stream subscriptions: %w", err)
		}
	}
	return nil
}

type requestedSubscription struct {
	Stream           string          `json:"stream"`
	Parameters       json.RawMessage `json:"parameters"`
	OverridePriority *int32          `json:"override_priority"`
}

// subscriptionRequest deletes expired subscriptions and builds the streams
// part of the sync request.
func (c *call) subscriptionRequest(includeDefaults bool) (subRequest, error) {
	if _, err := c.exec("DELETE FROM ps_stream_subscriptions WHERE (expires_at < ?) OR (ttl IS NULL AND NOT active)", c.now); err != nil {
		return subRequest{}, err
	}
	rows, err := c.tx.QueryContext(c.ctx, "SELECT "+streamColumns+" FROM ps_stream_subscriptions WHERE ttl IS NOT NULL ORDER BY id")
	if err != nil {
		return subRequest{}, err
	}
	defer rows.Close()
	body := struct {
		IncludeDefaults bool                    `json:"include_defaults"`
		Subscriptions   []requestedSubscription `json:"subscriptions"`
	}{IncludeDefaults: includeDefaults, Subscriptions: []requestedSubscription{}}
	var ids []int64
	for rows.Next() {
		s, err := scanStream(rows)
		if err != nil {
			return subRequest{}, err
		}
		params := s.params
		if params == nil {
			params = json.RawMessage("null")
		}
		body.Subscriptions = append(body.Subscriptions, requestedSubscription{Stream: s.name, Parameters: params, OverridePriority: s.localPrio})
		ids = append(ids, s.id)
	}
	if err := rows.Err(); err != nil {
		return subRequest{}, err
	}
	b, err := json.Marshal(body)
	if err != nil {
		return subRequest{}, err
	}
	return subRequest{body: b, ids: ids}, nil
}

// resolveSubscriptions reconciles ps_stream_subscriptions with the streams of
// a checkpoint (docs/sync.md, "Stream subscriptions"). Subscriptions are
// found through maps by name, id and checkpoint stream, so the cost grows
// with the number of streams, subscriptions and bucket references, not with
// their product: the call holds the write lock.
func (c *call) resolveSubscriptions(it *iteration, cp *checkpoint, streams []streamDescription) ([]trackedStream, error) {
	subs, err := c.loadStreams()
	if err != nil {
		return nil, err
	}
	byName := make(map[string][]int, len(subs))
	byID := make(map[int64]int, len(subs))
	for i := range subs {
		subs[i].active, subs[i].isDefault = false, false
		byName[subs[i].name] = append(byName[subs[i].name], i)
		byID[subs[i].id] = i
	}
	for k, s := range streams {
		matched := false
		for _, i := range byName[s.name] {
			subs[i].active, subs[i].isDefault, subs[i].server = true, s.isDefault, k
			matched = true
		}
		for _, e := range s.errors {
			if e.subscription < 0 {
				c.emit(LogLine{Severity: "WARNING", Line: "Default subscription " + s.name + " has errors: " + e.message})
				continue
			}
			if int(e.subscription) >= len(it.requested.ids) {
				continue
			}
			id := it.requested.ids[e.subscription]
			if i, ok := byID[id]; ok {
				desc := "without parameters"
				if subs[i].params != nil {
					desc = "with parameters " + string(subs[i].params)
				}
				c.emit(LogLine{Severity: "WARNING", Line: fmt.Sprintf("Subscription to stream %s (%s) could not be resolved: %s", s.name, desc, e.message)})
			}
		}
		if !matched && s.isDefault {
			row := c.queryRow("INSERT INTO ps_stream_subscriptions (stream_name, active, is_default) VALUES (?, TRUE, TRUE) RETURNING "+streamColumns, s.name)
			ns, err := scanStream(row)
			if err != nil {
				return nil, pserr.Errorf("powersync: create default subscription: %w", err)
			}
			ns.server = k
			byName[ns.name] = append(byName[ns.name], len(subs))
			byID[ns.id] = len(subs)
			subs = append(subs, ns)
		}
	}
	var out []trackedStream
	for _, s := range subs {
		if s.ttl == nil && s.server < 0 {
			if _, err := c.exec("DELETE FROM ps_stream_subscriptions WHERE id = ?", s.id); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := c.exec("UPDATE ps_stream_subscriptions SET active = ?, is_default = ?, ttl = ?, expires_at = ?, last_synced_at = ? WHERE id = ?",
			s.active, s.isDefault, s.ttl, s.expiresAt, s.lastSyncedAt, s.id); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	// The tracked streams a bucket's reasons point at: {"default": k} at
	// the subscriptions without a TTL that checkpoint stream k resolved,
	// {"sub": i} at the subscription of request index i. Within each list
	// the streams keep their order in out.
	byServer := make(map[int][]int)
	outByID := make(map[int64][]int, len(out))
	for i := range out {
		if out[i].ttl == nil && out[i].server >= 0 {
			byServer[out[i].server] = append(byServer[out[i].server], i)
		}
		outByID[out[i].id] = append(outByID[out[i].id], i)
	}
	// Buckets in name order, but only those with reasons: sorting every
	// bucket name of a large checkpoint on each diff cost more than the
	// rest of this.
	var named []string
	if len(out) > 0 {
		for name, b := range cp.buckets {
			if len(b.subscriptions) > 0 {
				named = append(named, name)
			}
		}
		slices.Sort(named)
	}
	for _, name := range named {
		b := cp.buckets[name]
		for _, r := range b.subscriptions {
			var matches []int
			if r.isDefault {
				if r.index >= 0 && r.index < int64(len(streams)) {
					matches = byServer[int(r.index)]
				}
			} else if r.index >= 0 && r.index < int64(len(it.requested.ids)) {
				matches = outByID[it.requested.ids[r.index]]
			}
			for _, i := range matches {
				s := &out[i]
				s.buckets = append(s.buckets, name)
				if s.priority == nil || *s.priority < b.priority {
					p := b.priority
					s.priority = &p
				}
			}
		}
	}
	return out, nil
}
