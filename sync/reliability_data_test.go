package sync

import (
	"maps"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gopowersync/powersync/sync/pstest"
)

// TestReliabilityWrongChecksum makes the service report wrong checksums,
// first on the initial sync and then on a later checkpoint of a synced
// client: no data of a checkpoint that fails validation becomes visible,
// the failure is logged, the bucket is downloaded again and the client
// converges.
func TestReliabilityWrongChecksum(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t, pstest.WithPageSize(4))
	r.seedRows("s", 10)
	c := r.newClient(clientOpts{})
	c.write("mine", "local")

	// Initial sync: two connections with wrong checksums, the third is held.
	r.srv.Inject(pstest.Fault{WrongChecksum: "*", Count: 2})
	c.tr.holdStreams(2)
	c.connect()
	c.tr.waitRequests(t, 3)
	if got := c.localRows(); len(got) != 1 {
		t.Errorf("rows visible after checksum failures: %v (want only the local row)", got)
	}
	if !c.logs.has("Could not apply checkpoint") {
		t.Error("the checksum failure was not logged")
	}
	if st := c.s.Status(); st.HasSynced {
		t.Errorf("HasSynced after failed validations: %v", st)
	}
	c.checkIntegrity()
	c.tr.releaseStreams()
	c.waitConverged()

	// A synced client: the next checkpoint has a wrong checksum for the
	// bucket. The old state stays visible until a valid checkpoint arrives.
	before := c.localRows()
	n := len(c.tr.requests())
	r.srv.Inject(pstest.Fault{WrongChecksum: pstest.DefaultBucket})
	c.tr.holdStreams(n + 1)
	r.srv.Restart()
	if err := r.srv.SetRow("todos", "s0", map[string]any{"title": "changed"}); err != nil {
		t.Fatal(err)
	}
	c.tr.waitRequests(t, n+2)
	if got := c.localRows(); !maps.Equal(got, before) {
		t.Errorf("rows changed by a checkpoint that failed validation:\n got %v\nwant %v", got, before)
	}
	c.tr.releaseStreams()
	c.waitConverged()
}

// TestReliabilityBucketRemoved removes buckets from a client's checkpoints,
// while connected (checkpoint_diff with removed_buckets) and while
// disconnected (a full checkpoint that omits them): rows only in removed
// buckets disappear, rows also in a kept bucket stay.
func TestReliabilityBucketRemoved(t *testing.T) {
	checkNoLeaks(t)
	var userBuckets atomic.Value
	userBuckets.Store([]string{"a", "b"})
	r := newRig(t,
		pstest.WithRowBuckets(func(row pstest.Row) []string {
			switch {
			case strings.HasPrefix(row.ID, "ab-"):
				return []string{"a", "b"}
			case strings.HasPrefix(row.ID, "b-"):
				return []string{"b"}
			default:
				return []string{"a"}
			}
		}),
		pstest.WithUserBuckets(func(pstest.Client) []string { return userBuckets.Load().([]string) }),
	)
	for _, p := range []string{"a-", "b-", "ab-"} {
		r.seedRows(p, 3)
	}
	c := r.newClient(clientOpts{})
	c.connect()
	c.waitConverged()
	if n := len(c.localRows()); n != 9 {
		t.Fatalf("synced %d rows, want 9", n)
	}

	// While connected: b is removed with the next checkpoint.
	userBuckets.Store([]string{"a"})
	c.write("a-new", "local")
	c.waitConverged()
	for id := range c.localRows() {
		if strings.HasPrefix(id, "b-") {
			t.Errorf("row %s of the removed bucket is still visible", id)
		}
	}
	if _, ok := bucketPositions(t, c.db)["b"]; ok {
		t.Error("removed bucket b is still stored")
	}

	// While disconnected: the user now syncs only b.
	if err := c.s.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}
	userBuckets.Store([]string{"b"})
	c.connect()
	c.waitConverged()
	local := c.localRows()
	for _, id := range []string{"b-0", "ab-0"} {
		if _, ok := local[id]; !ok {
			t.Errorf("row %s of bucket b missing", id)
		}
	}
	for _, id := range []string{"a-0", "a-new"} {
		if _, ok := local[id]; ok {
			t.Errorf("row %s of the removed bucket a is still visible", id)
		}
	}
}

// TestReliabilityCompaction compacts buckets (superseded ops become MOVE,
// the leading run becomes CLEAR) while clients are behind: one synced and
// then offline while the data changes, one cut off in the middle of its
// first download. Both converge to the compacted bucket's rows.
func TestReliabilityCompaction(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t, pstest.WithPageSize(5))
	r.seedRows("s", 10)
	behind := r.newClient(clientOpts{})
	behind.connect()
	behind.waitConverged()
	if err := behind.s.Disconnect(t.Context()); err != nil {
		t.Fatal(err)
	}

	partial := r.newClient(clientOpts{})
	r.srv.Inject(pstest.Fault{EndMidCheckpoint: true})
	partial.tr.holdStreams(1)
	partial.connect()
	partial.tr.waitRequests(t, 2)
	if got := bucketPositions(t, partial.db)[pstest.DefaultBucket]; got != 5 {
		t.Fatalf("partial client stored up to op %d, want 5", got)
	}

	// Rewrite and delete rows, including every row the partial client holds.
	for round := range 3 {
		err := r.srv.Update(func(tx *pstest.Tx) error {
			for i := range 8 {
				tx.SetRow("todos", "s"+string(rune('0'+i)), map[string]any{"title": "round " + string(rune('0'+round))})
			}
			tx.DeleteRow("todos", "s9")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r.srv.Compact()
	kinds := map[string]int{}
	for _, o := range r.srv.BucketOps(pstest.DefaultBucket) {
		kinds[o.Op]++
	}
	if kinds[pstest.OpMove] == 0 || kinds[pstest.OpClear] == 0 {
		t.Fatalf("compaction produced no MOVE or CLEAR ops: %v", kinds)
	}

	behind.write("mine", "written while behind")
	behind.connect()
	partial.tr.releaseStreams()
	behind.waitConverged()
	partial.waitConverged()
}
