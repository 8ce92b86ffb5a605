package pstest

import (
	"sort"
	"strings"
)

// Stream is a sync stream definition (see WithStreams).
type Stream struct {
	// Name is the stream name clients subscribe with.
	Name string
	// Default streams are synced by every client that keeps include_defaults
	// (the default), without an explicit subscription.
	Default bool
	// Buckets returns the buckets a subscription to this stream syncs. An
	// error is reported to the client in the checkpoint's stream errors and
	// the subscription gets no buckets. It must be fast and must not call the
	// Server.
	Buckets func(sub Subscription) ([]string, error)
}

// Subscription is one subscription to a stream, handed to Stream.Buckets.
type Subscription struct {
	Client
	// Parameters are the subscription's parameters (nil for a default subscription).
	Parameters any
	// Explicit is true for a subscription listed in the request, false for a
	// default one.
	Explicit bool
}

// syncRequest is the body of POST /sync/stream.
type syncRequest struct {
	Buckets []struct {
		Name  string `json:"name"`
		After string `json:"after"`
	} `json:"buckets"`
	RawData    *bool          `json:"raw_data"`
	ClientID   string         `json:"client_id"`
	Parameters map[string]any `json:"parameters"`
	Streams    streamsRequest `json:"streams"`
}

type streamsRequest struct {
	IncludeDefaults bool                  `json:"include_defaults"`
	Subscriptions   []subscriptionRequest `json:"subscriptions"`
}

type subscriptionRequest struct {
	Stream           string `json:"stream"`
	Parameters       any    `json:"parameters"`
	OverridePriority *int   `json:"override_priority"`
}

// subRef is one reason a bucket is synced: {"default": k} or {"sub": i}.
type subRef struct {
	Default *int `json:"default,omitempty"`
	Sub     *int `json:"sub,omitempty"`
}

type bucketInfo struct {
	priority int
	subs     []subRef
}

type streamDesc struct {
	Name      string      `json:"name"`
	IsDefault bool        `json:"is_default"`
	Errors    []streamErr `json:"errors"`
}

type streamErr struct {
	Subscription any    `json:"subscription"` // "default" or request subscription index
	Message      string `json:"message"`
}

// bucketSet is what one connection syncs at one checkpoint.
type bucketSet struct {
	buckets map[string]*bucketInfo
	streams []streamDesc
}

// resolveLocked computes the buckets of a connection. s.mu must be held.
func (s *Server) resolveLocked(req *syncRequest, c Client) *bucketSet {
	set := &bucketSet{buckets: map[string]*bucketInfo{}, streams: []streamDesc{}}
	prio := func(name string) int {
		if b := s.st.buckets[name]; b != nil {
			return b.priority
		}
		return DefaultPriority
	}
	if len(s.cfg.streams) == 0 {
		var names []string
		if s.cfg.userBuckets != nil {
			names = s.cfg.userBuckets(c)
		} else {
			names = sortedKeys(s.st.buckets)
		}
		// The service reports every bucket definition as a default stream
		// and each bucket's definition as its subscription; a bucket's
		// definition is its name up to the parameters ("user_lists" of
		// `user_lists["u1"]`).
		defs := map[string]int{}
		for _, n := range names {
			defs[definitionName(n)] = 0
		}
		for k, d := range sortedKeys(defs) {
			defs[d] = k
			set.streams = append(set.streams, streamDesc{Name: d, IsDefault: true, Errors: []streamErr{}})
		}
		for _, n := range names {
			k := defs[definitionName(n)]
			set.buckets[n] = &bucketInfo{priority: prio(n), subs: []subRef{{Default: &k}}}
		}
		return set
	}

	add := func(names []string, ref subRef, override *int) {
		for _, n := range names {
			p := prio(n)
			if override != nil {
				p = *override
			}
			bi := set.buckets[n]
			if bi == nil {
				bi = &bucketInfo{priority: p}
				set.buckets[n] = bi
			}
			bi.priority = min(bi.priority, p)
			bi.subs = append(bi.subs, ref)
		}
	}
	index := map[string]int{} // stream name -> index in set.streams
	for _, def := range s.cfg.streams {
		if !def.Default || !req.Streams.IncludeDefaults {
			continue
		}
		k := len(set.streams)
		index[def.Name] = k
		set.streams = append(set.streams, streamDesc{Name: def.Name, IsDefault: true, Errors: []streamErr{}})
		names, err := callBuckets(def, Subscription{Client: c})
		if err != nil {
			set.streams[k].Errors = append(set.streams[k].Errors, streamErr{Subscription: "default", Message: err.Error()})
			continue
		}
		add(names, subRef{Default: &k}, nil)
	}
	for i, sub := range req.Streams.Subscriptions {
		var def *Stream
		for j := range s.cfg.streams {
			if s.cfg.streams[j].Name == sub.Stream {
				def = &s.cfg.streams[j]
				break
			}
		}
		if def == nil {
			continue // the service ignores subscriptions to streams it does not define
		}
		k, ok := index[sub.Stream]
		if !ok {
			k = len(set.streams)
			index[sub.Stream] = k
			set.streams = append(set.streams, streamDesc{Name: sub.Stream, IsDefault: def.Default,
				Errors: []streamErr{}})
		}
		names, err := callBuckets(*def, Subscription{Client: c, Parameters: sub.Parameters, Explicit: true})
		if err != nil {
			set.streams[k].Errors = append(set.streams[k].Errors, streamErr{Subscription: i, Message: err.Error()})
			continue
		}
		add(names, subRef{Sub: &i}, sub.OverridePriority)
	}
	// As the service lists them: explicit subscriptions first, then defaults.
	for _, bi := range set.buckets {
		sort.SliceStable(bi.subs, func(a, b int) bool { return bi.subs[a].Sub != nil && bi.subs[b].Sub == nil })
	}
	return set
}

// definitionName is the bucket definition a bucket name comes from: the
// name up to its parameters, without the service's "N#" version prefix.
func definitionName(bucket string) string {
	name, _, _ := strings.Cut(bucket, "[")
	if _, rest, ok := strings.Cut(name, "#"); ok {
		name = rest
	}
	return name
}

func callBuckets(def Stream, sub Subscription) ([]string, error) {
	if def.Buckets == nil {
		return nil, nil
	}
	names, err := def.Buckets(sub)
	if err != nil {
		return nil, err
	}
	names = dedupe(names)
	sort.Strings(names)
	return names, nil
}
