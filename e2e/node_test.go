package e2e

import (
	"context"
	"database/sql"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/internal/oracletest"
)

// TestNodeSDKAgreement: the official Node SDK and this client, syncing the
// same user from the same service, end in the same local state (buckets,
// op log, data, sync state; oracle.sh diff, which normalises only the
// client id and the sync time). It does not run in parallel with tests
// that write to Postgres, so both clients see the same checkpoints.
func TestNodeSDKAgreement(t *testing.T) {
	user := uuid.NewString()
	pgExec(t, "INSERT INTO lists(name, owner_id) VALUES ('node agreement 1', $1), ('node agreement 2', NULL)", user)
	marker := waitReplicated(t)
	tok, _ := svc.token(tokenOpts{sub: user})

	script := oracletest.NodeScript(t, "testdata/node_client.mjs")
	work := filepath.Dir(script)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	node := exec.CommandContext(ctx, "node", script, svc.url, tok, work, marker)
	node.Dir = work
	if out, err := node.CombinedOutput(); err != nil {
		t.Fatalf("node client: %v\n%s", err, out)
	}

	// The Node SDK downloads BSON over HTTP, and downloaded_size counts
	// the bytes as received: use BSON too so that it compares.
	c := newClient(t, clientOpts{user: user, bson: true})
	c.connect()
	c.waitSynced()
	eventually(t, "the marker synced", func() (bool, string) {
		var n int
		c.db.QueryRow("SELECT count(*) FROM lists WHERE name = ?", marker).Scan(&n)
		return n == 1, c.s.Status().String()
	})
	if err := c.s.Close(); err != nil {
		t.Fatal(err)
	}
	var path string
	if err := c.db.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
		t.Fatal(err)
	}
	c.db.Close()
	// The JS SDK records in ps_kv that it migrated the subkeys of
	// databases written by its versions before core 0.3; that marker is
	// the SDK's own, not sync state.
	nodeDB := filepath.Join(work, "node.db")
	raw, err := sql.Open("sqlite", nodeDB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("DELETE FROM ps_kv WHERE key = 'powersync_js_migrated_subkeys'"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if same, diff := oracletest.Diff(t, nodeDB, path, false); !same {
		t.Errorf("local state differs from the Node SDK's (- node, + ours):\n%s", diff)
	}
}
