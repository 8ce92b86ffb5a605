package sync

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	gosync "sync"
	"sync/atomic"
	"testing"

	"github.com/gopowersync/powersync/sync/pstest"
)

// TestReliabilityLifecycleRaces runs Connect, Disconnect, DisconnectAndClear
// and Connect calls with contexts that end at once, from two goroutines,
// racing each other and a writer. Nothing may deadlock or panic, UploadData
// never runs twice at once, every write made after the last clear reaches
// the service, and the client converges once the calls stop.
func TestReliabilityLifecycleRaces(t *testing.T) {
	checkNoLeaks(t)
	r := newRig(t, pstest.WithPageSize(3))
	r.seedRows("s", 8)

	var inUpload, maxInUpload atomic.Int32
	c := r.newClient(clientOpts{wrap: func(_ *client, conn Connector) Connector {
		return ConnectorFuncs{
			FetchCredentialsFunc: conn.FetchCredentials,
			UploadDataFunc: func(ctx context.Context, db *sql.DB) error {
				n := inUpload.Add(1)
				defer inUpload.Add(-1)
				for m := maxInUpload.Load(); n > m && !maxInUpload.CompareAndSwap(m, n); m = maxInUpload.Load() {
				}
				return conn.UploadData(ctx, db)
			},
		}
	}})

	// clearMu orders writes against clears: a write is either before a
	// clear (and may be deleted by it, by design) or after it.
	var clearMu gosync.RWMutex
	var gen atomic.Int32
	ctx := t.Context()
	var wg gosync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range 25 {
				var err error
				switch rng.IntN(5) {
				case 0, 1:
					err = c.s.Connect(ctx)
				case 2:
					err = c.s.Disconnect(ctx)
				case 3:
					clearMu.Lock()
					err = c.s.DisconnectAndClear(ctx, ClearOptions{})
					if err == nil {
						gen.Add(1)
						c.wmu.Lock()
						clear(c.writes) // the clear deleted the queue, by design
						c.wmu.Unlock()
					}
					clearMu.Unlock()
				case 4:
					cctx, cancel := context.WithCancel(ctx)
					cancel()
					_ = c.s.Connect(cctx) // may or may not have started; must not wedge
					continue
				}
				if err != nil {
					t.Errorf("lifecycle call: %v", err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(9, 9))
		for i := range 60 {
			clearMu.RLock()
			id := fmt.Sprintf("w%d-%d", gen.Load(), rng.IntN(10))
			title := fmt.Sprint("v", i)
			if rng.IntN(5) == 0 {
				title = ""
			}
			err := c.tryWrite(ctx, id, title)
			clearMu.RUnlock()
			if err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
	})
	wg.Wait()
	c.connect()
	c.waitConverged()
	if m := maxInUpload.Load(); m > 1 {
		t.Errorf("UploadData ran %d times at once", m)
	}
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.s.Connect(ctx); err != ErrClosed {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
}
