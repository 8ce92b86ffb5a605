package sync

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

var reliabilitySeed = flag.Uint64("reliability.seed", 0,
	"seed of TestReliabilityRandomConvergence (env POWERSYNC_RELIABILITY_SEED too; default 1)")

func randomSeed(t *testing.T) uint64 {
	if *reliabilitySeed != 0 {
		return *reliabilitySeed
	}
	if v := os.Getenv("POWERSYNC_RELIABILITY_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("POWERSYNC_RELIABILITY_SEED: %v", err)
		}
		return s
	}
	return 1
}

// observer checks what one client reads: its own writes are always visible
// (read your writes), and no row ever goes back to an older version or
// reappears after a delete (monotonic reads). Row titles carry a version
// number that only grows; a deleted row is never written again.
type observer struct {
	t       *testing.T
	name    string
	last    map[string]int // row id -> highest version read
	deleted map[string]bool
	own     map[string]int // own rows: version last written (-2 = deleted)
}

const versionDeleted = math.MaxInt

func rowVersion(title string) int {
	v, err := strconv.Atoi(title[strings.LastIndexByte(title, '-')+1:])
	if err != nil {
		return -1
	}
	return v
}

// observe checks one read of every row (id -> title).
func (o *observer) observe(rows map[string]string, isDeleted func(id string) bool) {
	o.t.Helper()
	for id, title := range rows {
		v := rowVersion(title)
		if prev, ok := o.last[id]; ok && v < prev {
			o.t.Errorf("%s: read %s at version %d after version %d (reads went back in time)", o.name, id, v, prev)
		}
		o.last[id] = v
	}
	for id, prev := range o.last {
		if _, ok := rows[id]; ok || prev == versionDeleted {
			continue
		}
		if !isDeleted(id) {
			o.t.Errorf("%s: row %s vanished after being read at version %d", o.name, id, prev)
		}
		o.last[id] = versionDeleted
	}
	for id, v := range o.own {
		title, ok := rows[id]
		switch {
		case v == -2 && ok:
			o.t.Errorf("%s: own deleted row %s is visible (%s)", o.name, id, title)
		case v >= 0 && (!ok || rowVersion(title) != v):
			o.t.Errorf("%s: own write %s at version %d not visible (read %q, present %v)", o.name, id, v, title, ok)
		}
	}
}

// TestReliabilityRandomConvergence runs several clients (two of one user,
// one of another; separate files) that write at random while the service
// restarts, cuts streams, fails requests, reports wrong checksums, expires
// tokens and compacts, and clients disconnect and reconnect. Every read is
// checked for read-your-writes and monotonic reads. After a quiet period
// every client holds exactly the service's rows for its user and every
// local write reached the service once. The seed is fixed (1) unless
// -reliability.seed or POWERSYNC_RELIABILITY_SEED says otherwise.
func TestReliabilityRandomConvergence(t *testing.T) {
	checkNoLeaks(t)
	seed := randomSeed(t)
	t.Logf("seed %d (rerun with -reliability.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	r := newRig(t, pstest.WithPageSize(4),
		pstest.WithRowBuckets(func(row pstest.Row) []string {
			owner, _, _ := strings.Cut(row.ID, "-")
			if owner == "g" {
				return []string{"global"}
			}
			return []string{"user[" + owner + "]"}
		}),
		pstest.WithUserBuckets(func(c pstest.Client) []string { return []string{"user[" + c.UserID + "]", "global"} }),
	)
	for i := range 6 {
		if err := r.srv.SetRow("todos", fmt.Sprintf("g-%d", i), map[string]any{"title": "g-0"}); err != nil {
			t.Fatal(err)
		}
	}
	users := []string{"u1", "u1", "u2"}
	clients := make([]*client, len(users))
	for i, u := range users {
		clients[i] = r.newClient(clientOpts{user: u, path: fmt.Sprintf("%s/c%d.db", t.TempDir(), i)})
		clients[i].connect()
	}

	// Deleted rows, shared by the observers.
	var delMu gosync.Mutex
	deleted := map[string]bool{}
	isDeleted := func(id string) bool {
		delMu.Lock()
		defer delMu.Unlock()
		return deleted[id]
	}

	ctx := t.Context()
	writes, faults := 40, 25
	if testing.Short() {
		writes, faults = 15, 10
	}
	var wg gosync.WaitGroup
	for i, c := range clients {
		crng := rand.New(rand.NewPCG(seed, uint64(i)))
		wg.Go(func() {
			o := &observer{t: t, name: fmt.Sprintf("client %d (%s)", i, c.user), last: map[string]int{}, deleted: map[string]bool{}, own: map[string]int{}}
			for n := 1; n <= writes; n++ {
				id := fmt.Sprintf("%s-c%d.%d", c.user, i, crng.IntN(6))
				if o.own[id] == -2 {
					continue // deleted rows stay deleted
				}
				title := fmt.Sprintf("c%d-%d", i, n)
				if crng.IntN(10) == 0 {
					delMu.Lock()
					deleted[id] = true
					delMu.Unlock()
					title = ""
				}
				if err := c.tryWrite(ctx, id, title); err != nil {
					t.Errorf("client %d write: %v", i, err)
					return
				}
				if title == "" {
					o.own[id] = -2
				} else {
					o.own[id] = n
				}
				for range 1 + crng.IntN(2) {
					rows, err := readTitles(c)
					if err != nil {
						t.Error(err)
						return
					}
					o.observe(rows, isDeleted)
				}
				time.Sleep(time.Duration(crng.IntN(3)) * time.Millisecond)
			}
			// Keep observing through the quiet period below.
			deadline := time.Now().Add(rlWait)
			for {
				rows, err := readTitles(c)
				if err != nil {
					t.Error(err)
					return
				}
				o.observe(rows, isDeleted)
				if ok, err := c.convergedErr(); err != nil {
					t.Error(err)
					return
				} else if ok {
					return
				}
				if time.Now().After(deadline) {
					t.Errorf("never: client %d converged\n%s", i, c.describe())
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}

	// Chaos: the service and the clients misbehave, one fault at a time.
	for range faults {
		switch rng.IntN(11) {
		case 0:
			r.srv.Restart()
		case 1:
			r.srv.Inject(pstest.Fault{EndMidCheckpoint: true})
		case 2:
			r.srv.Inject(pstest.Fault{Status: http.StatusServiceUnavailable, Count: 2})
		case 3:
			r.srv.Inject(pstest.Fault{Path: "/upload", Status: http.StatusServiceUnavailable, Count: 2})
		case 4:
			r.srv.Inject(pstest.Fault{Path: "/write-checkpoint2.json", Status: http.StatusInternalServerError})
		case 5:
			r.srv.Inject(pstest.Fault{WrongChecksum: "*"})
			r.srv.Restart()
		case 6:
			r.srv.ExpireTokens()
		case 7:
			r.srv.Compact()
		case 8:
			c := clients[rng.IntN(len(clients))]
			if err := c.s.Disconnect(ctx); err != nil {
				t.Error(err)
			}
			time.Sleep(time.Millisecond)
			c.connect()
		case 9:
			r.srv.Inject(pstest.Fault{EndAfterLines: 1 + rng.IntN(4)})
			r.srv.Restart()
		case 10:
			r.srv.Inject(pstest.Fault{LineDelay: time.Millisecond})
		}
		// Server-side writes to the shared rows, versions growing.
		id := fmt.Sprintf("g-%d", rng.IntN(6))
		if err := r.srv.SetRow("todos", id, map[string]any{"title": fmt.Sprintf("g-%d", r.srv.LastOpID()+1)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(1+rng.IntN(4)) * time.Millisecond)
	}
	// Quiet period: no more faults; every client converges (checked by the
	// writer goroutines, which keep observing).
	r.srv.ClearFaults()
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, c := range clients {
		c.checkWritesOnServer()
		c.checkIntegrity()
		for id, title := range c.writes {
			if n := r.srv.AppliedCount("todos", id); n == 0 && title != "" {
				t.Errorf("client %d: %s never uploaded", i, id)
			}
		}
	}
	if a, b := clients[0].localRows(), clients[1].localRows(); !maps.Equal(a, b) {
		t.Errorf("clients of the same user differ:\n%v\n%v", a, b)
	}
}

// readTitles reads every row of the client's todos view in one statement.
func readTitles(c *client) (map[string]string, error) {
	rows, err := c.db.Query(`SELECT id, title FROM todos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, title string
		if err := rows.Scan(&id, &title); err != nil {
			return nil, err
		}
		out[id] = title
	}
	return out, rows.Err()
}
