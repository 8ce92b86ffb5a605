package sync

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gopowersync/powersync/internal/synccore"
)

func ptr[T any](v T) *T { return &v }

func TestStatusFromCore(t *testing.T) {
	core := synccore.CoreStatus{
		Connected: true,
		PriorityStatus: []synccore.PriorityStatus{
			{Priority: FullSyncPriority, LastSyncedAt: ptr(int64(2_000_000)), HasSynced: ptr(true)},
			{Priority: 1, LastSyncedAt: ptr(int64(3_000_000)), HasSynced: ptr(true)},
		},
		Downloading: &synccore.DownloadProgress{Buckets: map[string]synccore.BucketProgress{
			"prio_0": {Priority: 0, AtLast: 0, SinceLast: 5, TargetCount: 10},
			"prio_3": {Priority: 3, AtLast: 10, SinceLast: 20, TargetCount: 110},
		}},
		Streams: []synccore.StreamStatus{{Name: "lists", Parameters: json.RawMessage(`{"b":1,"a":2}`), Priority: ptr(int32(2)), Active: true, LastSyncedAt: ptr(int64(1_000_000))}},
	}
	st := buildStatus(core, sdkStatus{uploading: true, uploadError: errors.New("up")})
	if !st.Connected || !st.Downloading || !st.Uploading || !st.HasSynced || !st.LastSyncedAt.Equal(time.UnixMicro(2_000_000)) {
		t.Errorf("status %+v", st)
	}
	if st.Priorities[0].Priority != 1 {
		t.Errorf("priorities not sorted: %+v", st.Priorities)
	}
	progress := []struct {
		prio              int
		downloaded, total int64
	}{{0, 5, 10}, {2, 5, 10}, {3, 25, 110}, {FullSyncPriority, 25, 110}}
	for _, p := range progress {
		if c := st.DownloadProgress.UntilPriority(p.prio); c.Downloaded != p.downloaded || c.Total != p.total {
			t.Errorf("UntilPriority(%d) = %+v", p.prio, c)
		}
	}
	if f := st.DownloadProgress.Overall().Fraction(); f < 0.227 || f > 0.228 {
		t.Errorf("fraction %v", f)
	}
	if (ProgressCounts{}).Fraction() != 0 {
		t.Error("fraction of nothing")
	}
	forPrio := []struct {
		p      int
		synced bool
		at     int64
	}{{0, true, 3_000_000}, {1, true, 3_000_000}, {2, true, 2_000_000}, {3, true, 2_000_000}}
	for _, tt := range forPrio {
		ps := st.ForPriority(tt.p)
		if ps.HasSynced != tt.synced || !ps.LastSyncedAt.Equal(time.UnixMicro(tt.at)) || ps.Priority != tt.p {
			t.Errorf("ForPriority(%d) = %+v", tt.p, ps)
		}
	}
	if ps := (Status{}).ForPriority(1); ps.HasSynced {
		t.Error("empty status has synced")
	}
	ss, ok := st.ForStream("lists", map[string]any{"a": 2, "b": 1})
	if !ok || ss.Priority != 2 || !ss.HasSynced() || !ss.Active {
		t.Errorf("ForStream = %+v, %v", ss, ok)
	}
	if _, ok := st.ForStream("lists", nil); ok {
		t.Error("ForStream matched other parameters")
	}
	if st.AnyError() == nil || st.String() == "" {
		t.Error("AnyError/String")
	}
}

func TestEqualStatus(t *testing.T) {
	a := buildStatus(synccore.CoreStatus{Connected: true}, sdkStatus{})
	b := buildStatus(synccore.CoreStatus{Connected: true}, sdkStatus{})
	if !equalStatus(a, b) {
		t.Error("equal statuses differ")
	}
	c := buildStatus(synccore.CoreStatus{Connected: true}, sdkStatus{uploadError: errors.New("x")})
	if equalStatus(a, c) {
		t.Error("an upload error is no change")
	}
}

func TestCanonicalParams(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, "null"},
		{json.RawMessage(" null "), "null"},
		{json.RawMessage(""), "null"},
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1}`},
		{json.RawMessage(`{"b": 1, "a": 12345678901234567890}`), `{"a":12345678901234567890,"b":1}`},
	}
	for _, tt := range tests {
		got, err := canonicalParams(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("canonicalParams(%v) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := canonicalParams(json.RawMessage("{bad")); err == nil {
		t.Error("invalid JSON accepted")
	}
}
