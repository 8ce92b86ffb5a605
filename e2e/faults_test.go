package e2e

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	pssync "github.com/gopowersync/powersync/sync"
)

// The tests in this file stop and restart the shared service, so they do
// not run in parallel with the others (which wait until these are done),
// and each leaves the service as it found it.

// mustCtl runs a ps-service.sh command on the shared service.
func mustCtl(t *testing.T, args ...string) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("ps-service.sh %v: %v", args, time.Since(start).Round(time.Millisecond)) }()
	if out, err := svc.ctl(3*time.Minute, append([]string{args[0], svc.dir}, args[1:]...)...); err != nil {
		t.Fatalf("ps-service.sh %v: %v\n%s", args, err, out)
	}
}

// ensureServiceUp is a cleanup that restarts whatever a failed test left
// stopped.
func ensureServiceUp(t *testing.T) {
	t.Cleanup(func() {
		svc.ctl(time.Minute, "pg-start", svc.dir)
		svc.ctl(3*time.Minute, "service-start", svc.dir)
	})
}

// syncConfigs returns the paths of the tests' two sync configs, and
// restores the bucket definitions (TestMain's) when the test ends.
func syncConfigs(t *testing.T) (buckets, streams string) {
	buckets, _ = filepath.Abs("testdata/sync-config.yaml")
	streams, _ = filepath.Abs("testdata/sync-config-streams.yaml")
	t.Cleanup(func() { svc.ctl(3*time.Minute, "sync-config", svc.dir, buckets) })
	return buckets, streams
}

// waitDisconnected waits until the client has seen its connection fail.
func waitDisconnected(t *testing.T, c *client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if st, err := c.s.WaitForStatus(ctx, func(st pssync.Status) bool { return !st.Connected }); err != nil {
		t.Fatalf("the client did not notice the service going away: %v", st)
	}
}

// TestServiceRestart: the service stops while a client is connected, a
// row changes in Postgres meanwhile; when the service is back, the client
// reconnects by itself and has the change.
func TestServiceRestart(t *testing.T) {
	ensureServiceUp(t)
	prefix := "restart " + uuid.NewString()[:8] + " "
	c := newClient(t, clientOpts{})
	c.connect()
	c.waitSynced()
	pgExec(t, "INSERT INTO lists(name) VALUES ($1)", prefix+"before")
	listsEqual(t, c, prefix)

	mustCtl(t, "service-stop")
	waitDisconnected(t, c)
	pgExec(t, "INSERT INTO lists(name) VALUES ($1)", prefix+"while the service is down")
	mustCtl(t, "service-start")
	listsEqual(t, c, prefix)
	if got := localLists(t, c.db, prefix); len(got) != 2 {
		t.Fatalf("after the restart: %v", got)
	}
	eventually(t, "connected without an error", func() (bool, string) {
		st := c.s.Status()
		return st.Connected && st.DownloadError == nil, st.String()
	})
}

// TestPostgresOutage: Postgres goes away while a client writes; the write waits in
// the upload queue, and once Postgres and the service are back it is
// applied once and comes back.
func TestPostgresOutage(t *testing.T) {
	ensureServiceUp(t)
	prefix := "outage " + uuid.NewString()[:8] + " "
	c := newClient(t, clientOpts{})
	c.connect()
	c.waitSynced()

	mustCtl(t, "pg-stop")
	id := uuid.NewString()
	c.exec("INSERT INTO lists(id, name, owner_id) VALUES (?, ?, ?)", id, prefix+"written during the outage", c.user)
	eventually(t, "the upload fails while Postgres is down", func() (bool, string) {
		st := c.s.Status()
		return st.UploadError != nil, st.String()
	})
	if n := c.crudCount(); n != 1 {
		t.Fatalf("upload queue holds %d entries during the outage, want 1", n)
	}
	// The 1.25 service does not recover its storage connections by itself
	// (it exits, or hangs, once its storage database is gone): restart it
	// once Postgres is back, as a supervisor would. The new process then
	// waits about a minute for the replication lock the old one could not
	// release ("[PSYNC_S1003] Replication stream is locked by another
	// process, standing by"), so the write comes back after that.
	mustCtl(t, "service-stop")
	mustCtl(t, "pg-start")
	mustCtl(t, "service-start")
	c.flush()
	listsEqual(t, c, prefix)
	if n := pgInt(t, "SELECT count(*) FROM apply_log WHERE row_id = $1", id); n != 1 {
		t.Errorf("the write was applied %d times in Postgres, want 1", n)
	}
	if n := c.crudCount(); n != 0 {
		t.Errorf("upload queue holds %d entries after the outage", n)
	}
}

// TestSyncConfigSwitch: the deployment moves from bucket definitions to
// sync streams and back while a client is connected; the client follows
// each switch (the service re-replicates under a new bucket prefix) and
// ends with the same rows, and changes made after each switch arrive.
func TestSyncConfigSwitch(t *testing.T) {
	ensureServiceUp(t)
	buckets, streams := syncConfigs(t)
	prefix := "switch " + uuid.NewString()[:8] + " "
	c := newClient(t, clientOpts{})
	c.connect()
	c.waitSynced()
	pgExec(t, "INSERT INTO lists(name) VALUES ($1)", prefix+"under buckets")
	listsEqual(t, c, prefix)

	for i, cfg := range []string{streams, buckets} {
		mustCtl(t, "sync-config", cfg)
		pgExec(t, "INSERT INTO lists(name) VALUES ($1)", prefix+"after switch "+string(rune('1'+i)))
		listsEqual(t, c, prefix)
		if got := localLists(t, c.db, prefix); len(got) != 2+i {
			t.Fatalf("after switch %d: %v", i+1, got)
		}
		want := pgInt(t, "SELECT count(*) FROM typed")
		eventually(t, "typed rows kept across the switch", func() (bool, string) {
			var n int
			c.db.QueryRow("SELECT count(*) FROM typed").Scan(&n)
			return n == want, describe(n)
		})
	}
}

// TestSyncStreams: under the streams config, a client subscribes to the
// todos of one list (a subscription parameter); they arrive, a change in
// that list arrives, a change in another list does not; after the
// subscription is released and its TTL runs out, its rows leave the
// local database.
func TestSyncStreams(t *testing.T) {
	ensureServiceUp(t)
	_, streams := syncConfigs(t)
	mustCtl(t, "sync-config", streams)

	in, out := uuid.NewString(), uuid.NewString()
	pgExec(t, "INSERT INTO lists(id, name) VALUES ($1, 'streams in'), ($2, 'streams out')", in, out)
	pgExec(t, "INSERT INTO todos(list_id, description) VALUES ($1, 'in 1'), ($2, 'out 1')", in, out)
	waitReplicated(t)
	todos := func(c *client, list string) []string {
		rows, err := c.db.Query("SELECT description FROM todos WHERE list_id = ? ORDER BY description", list)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var d []string
		for rows.Next() {
			var s string
			rows.Scan(&s)
			d = append(d, s)
		}
		return d
	}
	c := newClient(t, clientOpts{})
	c.connect()
	c.waitSynced()
	if got := todos(c, in); len(got) != 0 {
		t.Fatalf("todos synced before any subscription: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	sub, err := c.s.Subscribe(ctx, "list_todos", map[string]any{"list_id": in}, pssync.SubscriptionTTL(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.WaitForFirstSync(ctx); err != nil {
		t.Fatalf("subscription's first sync: %v; status %v", err, c.s.Status())
	}
	if got := todos(c, in); len(got) != 1 || got[0] != "in 1" {
		t.Fatalf("subscribed list's todos: %v", got)
	}
	if st, ok := sub.Status(); !ok || !st.Active || !st.HasSynced() {
		t.Errorf("subscription status %+v, %v", st, ok)
	}
	// Outside first, inside second: once the inside change is here, the
	// outside one would be too if it were synced.
	pgExec(t, "INSERT INTO todos(list_id, description) VALUES ($1, 'out 2')", out)
	pgExec(t, "INSERT INTO todos(list_id, description) VALUES ($1, 'in 2')", in)
	eventually(t, "a live change inside the subscription", func() (bool, string) {
		got := todos(c, in)
		return len(got) == 2, describe(got)
	})
	if got := todos(c, out); len(got) != 0 {
		t.Errorf("todos of a list not subscribed to: %v", got)
	}

	sub.Unsubscribe()
	eventually(t, "rows gone after unsubscribe and TTL", func() (bool, string) {
		got := todos(c, in)
		return len(got) == 0, describe(got)
	})
	if st := c.s.Status(); !st.Connected || st.DownloadError != nil {
		t.Errorf("status: %v", st)
	}
}
