package sync

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

// TestReliabilityStreamCuts ends the first sync stream at every awkward
// place of a checkpoint: right after the checkpoint line, after its first
// data line, between its last data line and checkpoint_complete, and in the
// middle of a line or BSON document (a broken connection or a stream that
// just stops). Nothing of the incomplete checkpoint may become visible, the
// downloaded data must be kept and the next connection must resume from
// it, offline writes must reach the service, and the client must converge.
func TestReliabilityStreamCuts(t *testing.T) {
	// 12 rows with 5 ops per data line: checkpoint, data(5), data(5),
	// data(2), checkpoint_complete.
	const rows, page = 12, 5
	tests := []struct {
		name      string
		bson      bool
		fault     pstest.Fault
		cut       *frameCut
		wantOps   int64 // ops of global[] stored by the cut connection
		wantError bool  // the cut is shown as a download error
	}{
		{name: "after checkpoint line", fault: pstest.Fault{EndAfterLines: 1}, wantOps: 0},
		{name: "mid checkpoint", fault: pstest.Fault{EndMidCheckpoint: true}, wantOps: 5},
		{name: "before checkpoint_complete", fault: pstest.Fault{EndAfterLines: 4}, wantOps: 12},
		{name: "mid line, broken connection", cut: &frameCut{Frames: 2, Err: io.ErrUnexpectedEOF}, wantOps: 5, wantError: true},
		{name: "mid line, stream ends", cut: &frameCut{Frames: 2, Err: io.EOF}, wantOps: 5, wantError: true},
		{name: "bson mid checkpoint", bson: true, fault: pstest.Fault{EndMidCheckpoint: true}, wantOps: 5},
		{name: "bson before checkpoint_complete", bson: true, fault: pstest.Fault{EndAfterLines: 4}, wantOps: 12},
		{name: "bson mid document, broken connection", bson: true, cut: &frameCut{Frames: 3, Err: io.ErrUnexpectedEOF}, wantOps: 10, wantError: true},
		{name: "bson mid document, stream ends", bson: true, cut: &frameCut{Frames: 1, Err: io.EOF}, wantOps: 0, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			r := newRig(t, pstest.WithPageSize(page))
			r.seedRows("s", rows)
			uploads := make(chan struct{})
			c := r.newClient(clientOpts{
				opts: []Option{WithBSON(tt.bson)},
				wrap: func(_ *client, conn Connector) Connector { return gatedConnector{conn, uploads} },
			})
			// Offline writes, uploaded only once the cut happened so that
			// the first checkpoint is exactly the seeded one.
			c.write("local-1", "offline one")
			c.write("local-2", "offline two")
			c.write("local-2", "offline two, edited")
			if tt.cut != nil {
				c.tr.cutStream(0, *tt.cut)
			} else {
				r.srv.Inject(tt.fault)
			}
			c.tr.holdStreams(1)
			c.connect()
			reqs := c.tr.waitRequests(t, 2) // the reconnect, held

			// Nothing of the incomplete checkpoint is visible.
			if got := c.localRows(); len(got) != 2 {
				t.Errorf("visible rows after the cut = %v, want only the two local rows", got)
			}
			if n := c.queue(); n != 3 {
				t.Errorf("upload queue = %d entries, want 3", n)
			}
			pos := bucketPositions(t, c.db)
			if pos[pstest.DefaultBucket] != tt.wantOps {
				t.Errorf("stored position of %s = %d, want %d (ops downloaded before the cut)", pstest.DefaultBucket, pos[pstest.DefaultBucket], tt.wantOps)
			}
			st := c.s.Status()
			if tt.wantError && st.DownloadError == nil {
				t.Errorf("status after a broken stream shows no download error: %v", st)
			}
			if st.HasSynced {
				t.Errorf("HasSynced after an incomplete checkpoint: %v", st)
			}
			c.checkIntegrity()

			c.tr.releaseStreams()
			close(uploads)
			// The reconnect resumes from the stored position.
			if got := reqs[1].After[pstest.DefaultBucket]; got != tt.wantOps {
				t.Errorf("reconnect asked for %s after %d, want %d", pstest.DefaultBucket, got, tt.wantOps)
			}
			c.waitConverged()
			for _, id := range []string{"local-1", "local-2"} {
				if n := r.srv.AppliedCount("todos", id); n != map[string]int{"local-1": 1, "local-2": 2}[id] {
					t.Errorf("%s applied %d times", id, n)
				}
			}
		})
	}
}

// TestReliabilityServiceErrors covers a service that answers 401 to every
// request for a while, 5xx answers on every endpoint, and slow lines. The
// errors must be visible in the status while they last, the client must
// keep retrying (with fresh credentials after 401) and converge afterwards,
// uploading every local write once.
func TestReliabilityServiceErrors(t *testing.T) {
	tests := []struct {
		name      string
		faults    []pstest.Fault
		errSubstr string // expected in the visible error ("" = none expected)
		upload    bool   // the error shows as an upload error
	}{
		{name: "401 on every request for a while", faults: []pstest.Fault{
			{Status: http.StatusUnauthorized, Count: 4},
			{Path: "/write-checkpoint2.json", Status: http.StatusUnauthorized, Count: 2},
			{Path: "/upload", Status: http.StatusUnauthorized, Count: 2},
		}, errSubstr: "401"},
		{name: "503 on the stream", faults: []pstest.Fault{{Status: http.StatusServiceUnavailable, Count: 5}}, errSubstr: "503"},
		{name: "500 on the stream", faults: []pstest.Fault{{Status: http.StatusInternalServerError, Count: 3}}, errSubstr: "500"},
		{name: "502 on write checkpoints", faults: []pstest.Fault{{Path: "/write-checkpoint2.json", Status: http.StatusBadGateway, Count: 4}},
			errSubstr: "502", upload: true},
		{name: "503 on uploads", faults: []pstest.Fault{{Path: "/upload", Status: http.StatusServiceUnavailable, Count: 4}},
			errSubstr: "503", upload: true},
		{name: "slow lines", faults: []pstest.Fault{{LineDelay: 2 * time.Millisecond, Count: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			r := newRig(t, pstest.WithPageSize(4))
			r.seedRows("s", 10)
			c := r.newClient(clientOpts{})
			for _, f := range tt.faults {
				r.srv.Inject(f)
			}
			c.write("mine", "local")
			var sawErr bool
			stop := watchStatuses(t, c.s, func(st Status) {
				err := st.DownloadError
				if tt.upload {
					err = st.UploadError
				}
				if err != nil && strings.Contains(err.Error(), tt.errSubstr) {
					sawErr = true
				}
			})
			c.connect()
			c.waitConverged()
			stop()
			if tt.errSubstr != "" && !sawErr {
				t.Errorf("the status never showed an error containing %q", tt.errSubstr)
			}
			if n := r.srv.AppliedCount("todos", "mine"); n != 1 {
				t.Errorf("local write applied %d times", n)
			}
			if strings.Contains(strings.Join(c.lastLogs(1000), "\n"), r.srv.Token(c.user)[:20]) {
				t.Error("a token appears in the logs")
			}
		})
	}
}

// watchStatuses calls f with every status until stop is called.
func watchStatuses(t *testing.T, s *Syncer, f func(Status)) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for st := range s.Statuses(ctx) {
			f(st)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// TestReliabilityServiceRestart restarts the service (every connection
// dropped) in the middle of a slow initial download and again while
// connected: the client reconnects, resumes from what it stored, and
// converges.
func TestReliabilityServiceRestart(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t, pstest.WithPageSize(3))
	r.seedRows("s", 30)
	c := r.newClient(clientOpts{})
	c.write("mine", "before restart")
	r.srv.Inject(pstest.Fault{LineDelay: time.Millisecond})
	c.connect()
	// Restart once part of the bucket is stored.
	eventually(t, "part of the download stored", func() bool {
		return bucketPositions(t, c.db)[pstest.DefaultBucket] >= 9
	}, c.describe)
	r.srv.Restart()
	reqs := c.tr.waitRequests(t, 2)
	if reqs[1].After[pstest.DefaultBucket] < 9 {
		t.Errorf("reconnect after restart asked for %s after %d: downloaded data was not kept", pstest.DefaultBucket, reqs[1].After[pstest.DefaultBucket])
	}
	c.waitConverged()

	// Restart while idle, change data while the client reconnects.
	n := len(c.tr.requests())
	r.srv.Restart()
	if err := r.srv.SetRow("todos", "s1", map[string]any{"title": "changed during restart"}); err != nil {
		t.Fatal(err)
	}
	c.write("mine", "after restart")
	c.tr.waitRequests(t, n+1)
	c.waitConverged()
}

// TestReliabilityTokenExpiry revokes the token in the middle of a stream
// (the service sends token_expires_in 0) and lets short-lived tokens run
// out: the client fetches new credentials and continues where it was.
func TestReliabilityTokenExpiry(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t, pstest.WithPageSize(3))
	r.seedRows("s", 12)
	var fetches countingFetch
	c := r.newClient(clientOpts{wrap: func(c *client, conn Connector) Connector {
		return fetches.wrap(conn)
	}})
	r.srv.Inject(pstest.Fault{LineDelay: time.Millisecond})
	c.connect()
	eventually(t, "part of the download stored", func() bool {
		return bucketPositions(t, c.db)[pstest.DefaultBucket] >= 3
	}, c.describe)
	r.srv.ExpireTokens()
	c.write("mine", "after expiry")
	c.waitConverged()
	if fetches.n() < 2 {
		t.Errorf("credentials fetched %d times; the expired token was not replaced", fetches.n())
	}
	reqs := c.tr.requests()
	if len(reqs) < 2 || reqs[len(reqs)-1].After[pstest.DefaultBucket] == 0 {
		t.Errorf("reconnect after token expiry started from scratch: %v", reqs)
	}

	// Tokens that expire while streaming: the service warns, the client
	// prefetches and reconnects without a visible disconnect or error.
	before := fetches.n()
	short := r.newClient(clientOpts{connector: ConnectorFuncs{
		FetchCredentialsFunc: func(context.Context) (*Credentials, error) {
			fetches.add()
			return &Credentials{Endpoint: r.srv.URL, Token: r.srv.TokenWithTTL(testUser, 1500*time.Millisecond)}, nil
		},
	}})
	short.connect()
	eventually(t, "several short-lived tokens used", func() bool { return fetches.n() >= before+2 }, short.describe)
	eventually(t, "short-token client converged", func() bool {
		return settled(short.s.Status()) && len(short.localRows()) == len(short.serverRows())
	}, short.describe)
}

// countingFetch counts credential fetches of the connectors it wraps.
type countingFetch struct{ count atomic.Int32 }

func (f *countingFetch) add()   { f.count.Add(1) }
func (f *countingFetch) n() int { return int(f.count.Load()) }

func (f *countingFetch) wrap(conn Connector) Connector {
	return ConnectorFuncs{
		FetchCredentialsFunc: func(ctx context.Context) (*Credentials, error) {
			f.add()
			return conn.FetchCredentials(ctx)
		},
		UploadDataFunc: conn.UploadData,
	}
}
