package sync

import (
	"context"
	"testing"

	"github.com/gopowersync/powersync/internal/synccore"
)

// busStreams publishes a status with n streams whose progress is step.
func busStreams(b *statusBus, n int, step int64) {
	b.update(func(core *synccore.CoreStatus, _ *sdkStatus) {
		core.Streams = make([]synccore.StreamStatus, n)
		for i := range core.Streams {
			core.Streams[i] = synccore.StreamStatus{Name: "s", Parameters: []byte("null"), Progress: synccore.StreamProgress{Total: 1 << 20, Downloaded: step}}
		}
	})
}

// queued returns how many statuses and stream statuses wait for the
// consumers of b.
func queued(b *statusBus) (statuses, streams int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.mu.Lock()
		statuses += len(s.queue)
		for _, st := range s.queue {
			streams += len(st.Streams)
		}
		s.mu.Unlock()
	}
	return statuses, streams
}

// TestStatusesStalledConsumer checks what waits for a consumer that stops
// reading: at most statusQueueLen statuses and statusQueueStreams stream
// statuses (but always the newest status), and that once it reads again it
// gets the statuses in order, ending with the latest, never one twice in a
// row.
func TestStatusesStalledConsumer(t *testing.T) {
	for _, n := range []int{1, 100, 10_000} {
		b := newStatusBus()
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan Status)
		release := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			first := true
			for st := range b.all(ctx) {
				if !first {
					got <- st
				}
				if first {
					first = false
					got <- st
					<-release // stalled: the publisher keeps going
				}
			}
		}()
		<-got
		const changes = 200
		for i := range int64(changes) {
			busStreams(b, n, i+1)
		}
		statuses, streams := queued(b)
		wantStatuses := min(statusQueueLen, max(1, statusQueueStreams/n))
		if statuses != wantStatuses || streams > max(statusQueueStreams, n) {
			t.Errorf("%d streams: %d statuses with %d stream statuses wait for a stalled consumer, want %d statuses, at most %d stream statuses",
				n, statuses, streams, wantStatuses, max(statusQueueStreams, n))
		}
		close(release)
		var seq []Status
		for len(seq) == 0 || seq[len(seq)-1].Streams[0].Progress.Downloaded != changes {
			seq = append(seq, <-got)
		}
		for i, st := range seq {
			if i > 0 && !(st.Streams[0].Progress.Downloaded > seq[i-1].Streams[0].Progress.Downloaded) {
				t.Errorf("%d streams: status %d (progress %d) after progress %d", n, i, st.Streams[0].Progress.Downloaded, seq[i-1].Streams[0].Progress.Downloaded)
			}
		}
		if len(seq) != wantStatuses {
			t.Errorf("%d streams: %d statuses after the stall, want %d", n, len(seq), wantStatuses)
		}
		cancel()
		<-done
	}
}

// TestStatusesNoRepeatAfterCoalescing checks that a change coalesced back
// to the status the consumer last got is not yielded again.
func TestStatusesNoRepeatAfterCoalescing(t *testing.T) {
	b := newStatusBus()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan Status, 8)
	release := make(chan struct{})
	go func() {
		first := true
		for st := range b.all(ctx) {
			got <- st
			if first {
				first = false
				<-release
			}
		}
	}()
	first := <-got
	// Large statuses: only the newest waits, and the newest equals the
	// one the consumer got last.
	busStreams(b, statusQueueStreams+1, 1)
	b.update(func(core *synccore.CoreStatus, _ *sdkStatus) { core.Streams = nil })
	close(release)
	busStreams(b, 1, 7) // a change after, to know the consumer went past
	var after []Status
	for {
		st := <-got
		after = append(after, st)
		if len(st.Streams) == 1 {
			break
		}
	}
	if len(after) != 1 {
		t.Errorf("after %v the consumer got %d statuses, want only the last change: %v", first, len(after), after)
	}
}
