package sync

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// FullSyncPriority is the priority number that stands for a complete sync of
// all buckets (every priority). Lower numbers are higher priorities; bucket
// priorities on the wire are 0 (highest) to 3 (default).
const FullSyncPriority = 2147483647

// Status is a snapshot of the sync state. It is a value: later changes do
// not affect a Status already returned.
type Status struct {
	// Connected is true while a sync stream to the service is open.
	Connected bool
	// Connecting is true while a connection is being established.
	Connecting bool
	// Downloading is true while a checkpoint is being downloaded.
	Downloading bool
	// Uploading is true while the connector's UploadData runs.
	Uploading bool
	// LastSyncedAt is when the last complete sync finished (zero if never).
	LastSyncedAt time.Time
	// HasSynced reports whether a complete sync ever finished on this
	// database. It survives restarts and is reset by DisconnectAndClear.
	HasSynced bool
	// DownloadProgress is the progress of the current download; nil when not
	// downloading.
	DownloadProgress *Progress
	// Priorities lists the completed syncs per priority, ascending by number.
	// A complete sync is listed as FullSyncPriority.
	Priorities []PriorityStatus
	// Streams lists the sync streams the database is subscribed to.
	Streams []StreamStatus
	// UploadError is the error of the last upload attempt; nil after an
	// upload succeeds.
	UploadError error
	// DownloadError is the error that ended the last sync connection; nil
	// after the next complete sync.
	DownloadError error
}

// AnyError returns DownloadError if set, else UploadError.
func (s Status) AnyError() error {
	if s.DownloadError != nil {
		return s.DownloadError
	}
	return s.UploadError
}

// ForPriority returns the sync state of the buckets with priority p: the
// first completed sync whose priority number is at least p (a complete
// sync covers every priority). If none, HasSynced is false.
func (s Status) ForPriority(p int) PriorityStatus {
	for _, e := range s.Priorities {
		if e.Priority >= p {
			return PriorityStatus{Priority: p, LastSyncedAt: e.LastSyncedAt, HasSynced: e.HasSynced}
		}
	}
	return PriorityStatus{Priority: p}
}

// ForStream returns the status of the subscription to the stream name with
// the given parameters (any value that encodes to JSON, or nil), and whether
// there is one. Parameters are compared as JSON values.
func (s Status) ForStream(name string, params any) (StreamStatus, bool) {
	want, err := canonicalParams(params)
	if err != nil {
		return StreamStatus{}, false
	}
	for _, st := range s.Streams {
		if st.Name != name {
			continue
		}
		got, err := canonicalParams(st.Parameters)
		if err == nil && got == want {
			return st, true
		}
	}
	return StreamStatus{}, false
}

// String returns a short human-readable description.
func (s Status) String() string {
	var b strings.Builder
	switch {
	case s.Connected:
		b.WriteString("connected")
	case s.Connecting:
		b.WriteString("connecting")
	default:
		b.WriteString("disconnected")
	}
	if s.Downloading {
		b.WriteString(", downloading")
		if s.DownloadProgress != nil {
			c := s.DownloadProgress.Overall()
			fmt.Fprintf(&b, " %d/%d", c.Downloaded, c.Total)
		}
	}
	if s.Uploading {
		b.WriteString(", uploading")
	}
	if s.HasSynced {
		b.WriteString(", last synced " + s.LastSyncedAt.Format(time.RFC3339))
	} else {
		b.WriteString(", not synced yet")
	}
	if s.DownloadError != nil {
		b.WriteString(", download error: " + s.DownloadError.Error())
	}
	if s.UploadError != nil {
		b.WriteString(", upload error: " + s.UploadError.Error())
	}
	return b.String()
}

// PriorityStatus is the sync state of one bucket priority.
type PriorityStatus struct {
	// Priority is the priority number (FullSyncPriority for a complete sync).
	Priority int
	// LastSyncedAt is when the buckets of this priority were last synced
	// (zero if never).
	LastSyncedAt time.Time
	// HasSynced reports whether they were synced at least once.
	HasSynced bool
}

// ProgressCounts counts downloaded operations against the total expected.
type ProgressCounts struct {
	// Downloaded is the number of operations downloaded so far.
	Downloaded int64
	// Total is the number of operations expected.
	Total int64
}

// Fraction returns Downloaded/Total, or 0 when Total is 0.
func (c ProgressCounts) Fraction() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Downloaded) / float64(c.Total)
}

// Progress is the download progress of the current checkpoint, per priority.
// The counts are approximate: they count operations, and compacted buckets
// can make them jump.
type Progress struct {
	entries []progressEntry
}

type progressEntry struct {
	priority   int
	downloaded int64
	total      int64
}

// UntilPriority returns the progress of the buckets with priority number at
// most prio.
func (p *Progress) UntilPriority(prio int) ProgressCounts {
	var c ProgressCounts
	if p == nil {
		return c
	}
	for _, e := range p.entries {
		if e.priority <= prio {
			c.Downloaded += e.downloaded
			c.Total += e.total
		}
	}
	return c
}

// Overall returns the progress of all buckets.
func (p *Progress) Overall() ProgressCounts { return p.UntilPriority(FullSyncPriority) }

// StreamStatus is the state of one sync stream subscription.
type StreamStatus struct {
	// Name is the stream name.
	Name string
	// Parameters are the subscription parameters as JSON ("null" if none).
	Parameters json.RawMessage
	// Priority is the effective priority of the stream's buckets, or -1 if
	// unknown.
	Priority int
	// Active reports whether the service included the stream in the last
	// checkpoint.
	Active bool
	// IsDefault reports whether the service subscribes to the stream by
	// default.
	IsDefault bool
	// HasExplicitSubscription reports whether the app subscribed to it.
	HasExplicitSubscription bool
	// ExpiresAt is when an explicit subscription expires (zero if never).
	ExpiresAt time.Time
	// LastSyncedAt is when data of the stream was last synced (zero if never).
	LastSyncedAt time.Time
	// Progress is the download progress of the stream's buckets.
	Progress ProgressCounts
}

// HasSynced reports whether the stream's data was synced at least once.
func (s StreamStatus) HasSynced() bool { return !s.LastSyncedAt.IsZero() }

func microsTime(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return time.UnixMicro(*us)
}

// sdkStatus is the part of the status owned by the syncer itself.
type sdkStatus struct {
	uploading     bool
	uploadError   error
	downloadError error
	// reconnecting is set while the syncer replaces a healthy connection
	// (a refreshed token, changed subscriptions): the status keeps showing
	// connected, as the official SDKs do, until the new stream is open or
	// fails.
	reconnecting bool
}

// buildStatus merges the core status with the syncer's own fields.
func buildStatus(core synccore.CoreStatus, sdk sdkStatus) Status {
	st := Status{
		Connected:     core.Connected,
		Connecting:    core.Connecting,
		Downloading:   core.Downloading != nil,
		Uploading:     sdk.uploading,
		UploadError:   sdk.uploadError,
		DownloadError: sdk.downloadError,
	}
	if sdk.reconnecting {
		st.Connected, st.Connecting = true, false
	}
	for _, p := range core.PriorityStatus {
		ps := PriorityStatus{Priority: int(p.Priority), LastSyncedAt: microsTime(p.LastSyncedAt), HasSynced: p.HasSynced != nil && *p.HasSynced}
		st.Priorities = append(st.Priorities, ps)
		if p.Priority == FullSyncPriority {
			st.LastSyncedAt, st.HasSynced = ps.LastSyncedAt, ps.HasSynced
		}
	}
	slices.SortFunc(st.Priorities, func(a, b PriorityStatus) int { return a.Priority - b.Priority })
	if core.Downloading != nil {
		p := &Progress{}
		for _, b := range core.Downloading.Buckets {
			p.entries = append(p.entries, progressEntry{priority: int(b.Priority), downloaded: b.SinceLast, total: b.TargetCount - b.AtLast})
		}
		slices.SortFunc(p.entries, func(a, b progressEntry) int { return a.priority - b.priority })
		st.DownloadProgress = p
	}
	for _, s := range core.Streams {
		ss := StreamStatus{
			Name:                    s.Name,
			Parameters:              s.Parameters,
			Priority:                -1,
			Active:                  s.Active,
			IsDefault:               s.IsDefault,
			HasExplicitSubscription: s.HasExplicitSubscription,
			ExpiresAt:               microsTime(s.ExpiresAt),
			LastSyncedAt:            microsTime(s.LastSyncedAt),
			Progress:                ProgressCounts{Downloaded: s.Progress.Downloaded, Total: s.Progress.Total},
		}
		if len(ss.Parameters) == 0 {
			ss.Parameters = json.RawMessage("null")
		}
		if s.Priority != nil {
			ss.Priority = int(*s.Priority)
		}
		st.Streams = append(st.Streams, ss)
	}
	return st
}

// equalStatus reports whether two statuses are the same for subscribers.
func equalStatus(a, b Status) bool {
	if a.Connected != b.Connected || a.Connecting != b.Connecting || a.Downloading != b.Downloading ||
		a.Uploading != b.Uploading || !a.LastSyncedAt.Equal(b.LastSyncedAt) || a.HasSynced != b.HasSynced ||
		!sameErr(a.UploadError, b.UploadError) || !sameErr(a.DownloadError, b.DownloadError) {
		return false
	}
	if (a.DownloadProgress == nil) != (b.DownloadProgress == nil) {
		return false
	}
	if a.DownloadProgress != nil && !slices.Equal(a.DownloadProgress.entries, b.DownloadProgress.entries) {
		return false
	}
	if !slices.EqualFunc(a.Priorities, b.Priorities, func(x, y PriorityStatus) bool {
		return x.Priority == y.Priority && x.HasSynced == y.HasSynced && x.LastSyncedAt.Equal(y.LastSyncedAt)
	}) {
		return false
	}
	return slices.EqualFunc(a.Streams, b.Streams, func(x, y StreamStatus) bool {
		return x.Name == y.Name && bytes.Equal(x.Parameters, y.Parameters) && x.Priority == y.Priority &&
			x.Active == y.Active && x.IsDefault == y.IsDefault && x.HasExplicitSubscription == y.HasExplicitSubscription &&
			x.ExpiresAt.Equal(y.ExpiresAt) && x.LastSyncedAt.Equal(y.LastSyncedAt) && x.Progress == y.Progress
	})
}

func sameErr(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a == b || errors.Is(a, b) && a.Error() == b.Error()
}

// canonicalParams returns the canonical JSON text of stream parameters:
// nil and JSON null give "null"; objects get sorted keys.
func canonicalParams(params any) (string, error) {
	var raw []byte
	switch p := params.(type) {
	case nil:
		return "null", nil
	case json.RawMessage:
		raw = p
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return "", pserr.Errorf("powersync: encode stream parameters: %w", err)
		}
		raw = b
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return "null", nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", pserr.Errorf("powersync: decode stream parameters: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", pserr.Errorf("powersync: encode stream parameters: %w", err)
	}
	return string(b), nil
}
