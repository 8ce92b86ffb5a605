package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/hooks"
)

// TestUploads: local inserts, updates and deletes go through
// examples/backend into Postgres, each applied exactly once, come back
// through the service, and leave the upload queue empty, with no moment
// at which the local view shows an older value than one already written;
// in both write-checkpoint modes and over NDJSON and BSON.
func TestUploads(t *testing.T) {
	for _, requests := range []bool{false, true} {
		for _, bson := range []bool{false, true} {
			name := fmt.Sprintf("%s/%s", map[bool]string{false: "write-checkpoint2", true: "checkpoint-requests"}[requests],
				map[bool]string{false: "ndjson", true: "bson"}[bson])
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				testUploads(t, clientOpts{bson: bson, requests: requests})
			})
		}
	}
}

func testUploads(t *testing.T, o clientOpts) {
	c := newClient(t, o)
	c.connect()
	c.waitSynced()
	prefix := "upload " + uuid.NewString()[:8] + " "
	const lists = 5
	ids := make([]string, lists)
	for i := range ids {
		ids[i] = uuid.NewString()
		c.exec("INSERT INTO lists(id, name, owner_id) VALUES (?, ?, ?)", ids[i], fmt.Sprintf("%s%d v0", prefix, i), c.user)
	}
	todo := uuid.NewString()
	c.exec("INSERT INTO todos(id, list_id, description, completed) VALUES (?, ?, 'write the tests', 0)", todo, ids[0])

	// Watch list 0 while it is renamed and the renames travel to the
	// server and back: the view must never go back to an older version.
	ctx, stop := context.WithCancel(context.Background())
	var seen []int
	var mu gosync.Mutex
	watching := make(chan struct{})
	watchDone := make(chan error, 1)
	go func() {
		first := true
		for res, err := range hooks.Watch(ctx, c.db, "SELECT name FROM lists WHERE id = ?", ids[0]) {
			if err != nil {
				if ctx.Err() == nil {
					watchDone <- err
					return
				}
				break
			}
			if len(res.Rows) == 1 {
				name, _ := res.Rows[0]["name"].(string)
				_, v, _ := strings.Cut(name, " v")
				n, _ := strconv.Atoi(v)
				mu.Lock()
				seen = append(seen, n)
				mu.Unlock()
			}
			if first {
				first = false
				close(watching)
			}
		}
		watchDone <- nil
	}()
	<-watching
	const renames = 5
	for v := 1; v <= renames; v++ {
		c.exec("UPDATE lists SET name = ? WHERE id = ?", fmt.Sprintf("%s0 v%d", prefix, v), ids[0])
	}
	c.exec("UPDATE todos SET completed = 1 WHERE id = ?", todo)
	c.exec("DELETE FROM lists WHERE id = ?", ids[lists-1])

	c.flush()
	stop()
	if err := <-watchDone; err != nil {
		t.Fatalf("watch: %v", err)
	}

	if n := c.crudCount(); n != 0 {
		t.Errorf("ps_crud holds %d entries after Flush", n)
	}
	// Applied exactly once: one audit row per local write.
	want := map[string]string{
		ids[0]: "INSERT " + strings.Repeat("UPDATE ", renames),
		todo:   "INSERT UPDATE ",
	}
	for _, id := range ids[1 : lists-1] {
		want[id] = "INSERT "
	}
	want[ids[lists-1]] = "INSERT DELETE "
	for id, ops := range want {
		rows, err := svc.pg.Query(context.Background(), "SELECT op FROM apply_log WHERE row_id = $1 ORDER BY seq", id)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for rows.Next() {
			var op string
			if err := rows.Scan(&op); err != nil {
				t.Fatal(err)
			}
			got.WriteString(op + " ")
		}
		rows.Close()
		if got.String() != ops {
			t.Errorf("row %s applied in Postgres as %q, want %q", id, got.String(), ops)
		}
	}
	// Replicated back: the local rows are the server's (created_at filled
	// in by Postgres, the deleted list gone).
	listsEqual(t, c, prefix)
	local := localLists(t, c.db, prefix)
	if len(local) != lists-1 || local[ids[0]].Name != fmt.Sprintf("%s0 v%d", prefix, renames) || local[ids[0]].At.IsZero() {
		t.Errorf("local lists after the round trip: %v", local)
	}
	var completed int
	if err := c.db.QueryRow("SELECT completed FROM todos WHERE id = ?", todo).Scan(&completed); err != nil || completed != 1 {
		t.Errorf("todo after the round trip: completed %d, %v", completed, err)
	}
	if pg := pgInt(t, "SELECT count(*) FROM todos WHERE id = $1 AND completed", todo); pg != 1 {
		t.Errorf("todo in Postgres: %d completed rows", pg)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Errorf("list 0 flickered back to an older version: versions seen %v", seen)
			break
		}
	}
	if st := c.s.Status(); st.UploadError != nil || st.DownloadError != nil {
		t.Errorf("status: %v", st)
	}
}
