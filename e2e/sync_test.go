package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// typedRow is one row of the typed table, as a user compares it: the same
// values whichever side it was read from.
type typedRow struct {
	UUID, Num, Text, JSON, Date *string
	TS                          *time.Time
	Bool                        *bool
	Int                         *int64
	Float                       *float64
}

func (r typedRow) String() string {
	b, _ := json.Marshal(r)
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// pgTyped reads the typed table from Postgres.
func pgTyped(t testing.TB) map[string]typedRow {
	t.Helper()
	rows, err := svc.pg.Query(context.Background(),
		"SELECT id::text, t_uuid::text, t_ts, t_bool, t_num::text, t_int, t_float, t_text, t_json::text, t_date::text FROM typed")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]typedRow{}
	for rows.Next() {
		var id string
		var r typedRow
		if err := rows.Scan(&id, &r.UUID, &r.TS, &r.Bool, &r.Num, &r.Int, &r.Float, &r.Text, &r.JSON, &r.Date); err != nil {
			t.Fatal(err)
		}
		if r.TS != nil {
			u := r.TS.UTC()
			r.TS = &u
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// localTyped reads the typed view of a client.
func localTyped(t testing.TB, db *sql.DB) map[string]typedRow {
	t.Helper()
	rows, err := db.Query("SELECT id, t_uuid, t_ts, t_bool, t_num, t_int, t_float, t_text, t_json, t_date FROM typed")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]typedRow{}
	for rows.Next() {
		var id string
		var r typedRow
		var ts sql.NullString
		var b sql.NullInt64
		if err := rows.Scan(&id, &r.UUID, &ts, &b, &r.Num, &r.Int, &r.Float, &r.Text, &r.JSON, &r.Date); err != nil {
			t.Fatal(err)
		}
		if ts.Valid {
			tm, err := serviceTime(ts.String)
			if err != nil {
				t.Errorf("row %s: t_ts %q: %v", id, ts.String, err)
			}
			tm = tm.UTC()
			r.TS = &tm
		}
		if b.Valid {
			v := b.Int64 != 0
			r.Bool = &v
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTyped compares rows as values: JSON by its value (Postgres prints
// jsonb in its own spacing), everything else exactly.
func sameTyped(a, b typedRow) bool {
	ja, jb := a.JSON, b.JSON
	a.JSON, b.JSON = nil, nil
	if !reflect.DeepEqual(a, b) {
		return false
	}
	if (ja == nil) != (jb == nil) {
		return false
	}
	if ja == nil {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(*ja), &va) != nil || json.Unmarshal([]byte(*jb), &vb) != nil {
		return *ja == *jb
	}
	return reflect.DeepEqual(va, vb)
}

// diffTyped describes how want (Postgres) and got (local) differ.
func diffTyped(want, got map[string]typedRow) string {
	var b strings.Builder
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			fmt.Fprintf(&b, "missing %s; ", id)
		case !sameTyped(w, g):
			fmt.Fprintf(&b, "%s: postgres %v, local %v; ", id, w, g)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			fmt.Fprintf(&b, "extra %s; ", id)
		}
	}
	return b.String()
}

// TestInitialSyncTypes: rows of every common Postgres type arrive with the
// values Postgres holds, with the default options and no parameters, over
// NDJSON and BSON.
func TestInitialSyncTypes(t *testing.T) {
	large := strings.Repeat("large text, ", 100_000) // 1.2 MB
	pgExec(t, `INSERT INTO typed(id, t_uuid, t_ts, t_bool, t_num, t_int, t_float, t_text, t_json, t_date) VALUES
	  ($1, gen_random_uuid(), '2026-12-03 07:55:29.123456+02', true, 12345678901234567890.123456789, 9007199254740993, 1.5e300,
	   'plain', '{"a": [1, 2.5, null], "b": {"c": "d"}}', '2026-01-31'),
	  ($2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	  ($3, '00000000-0000-0000-0000-000000000000', '1970-01-01 00:00:00+00', false, -0.000001, -9223372036854775808, -0.0,
	   'héllo wörld — ünïcödé 🌍🚀 日本語 עברית e'||chr(769)||' "quoted" \back\slash'||chr(10)||'newline', '[]', '0001-01-01'),
	  ($4, gen_random_uuid(), now(), true, 0, 9223372036854775807, 3.141592653589793, $5, '"a string"', '9999-12-31')`,
		uuid.New(), uuid.New(), uuid.New(), uuid.New(), large)
	want := pgTyped(t)

	for _, bson := range []bool{false, true} {
		t.Run(map[bool]string{false: "ndjson", true: "bson"}[bson], func(t *testing.T) {
			c := newClient(t, clientOpts{bson: bson, defaults: !bson})
			c.connect()
			c.waitSynced()
			eventually(t, "typed rows equal Postgres", func() (bool, string) {
				d := diffTyped(want, localTyped(t, c.db))
				return d == "", d
			})
			if st := c.s.Status(); st.DownloadError != nil || !st.Connected {
				t.Errorf("status after the first sync: %v", st)
			}
		})
	}
}

// listRow is a list as a user sees it.
type listRow struct {
	Name  string
	Owner *string
	At    time.Time
}

// pgLists reads the lists with the given name prefix from Postgres.
func pgLists(t testing.TB, prefix string) map[string]listRow {
	t.Helper()
	rows, err := svc.pg.Query(context.Background(),
		"SELECT id::text, name, owner_id::text, created_at FROM lists WHERE starts_with(name, $1)", prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]listRow{}
	for rows.Next() {
		var id string
		var r listRow
		if err := rows.Scan(&id, &r.Name, &r.Owner, &r.At); err != nil {
			t.Fatal(err)
		}
		r.At = r.At.UTC()
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// localLists reads the lists with the given name prefix from a client.
func localLists(t testing.TB, db *sql.DB, prefix string) map[string]listRow {
	t.Helper()
	rows, err := db.Query("SELECT id, name, owner_id, created_at FROM lists WHERE substr(name, 1, length(?1)) = ?1", prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]listRow{}
	for rows.Next() {
		var id string
		var r listRow
		var at sql.NullString
		if err := rows.Scan(&id, &r.Name, &r.Owner, &at); err != nil {
			t.Fatal(err)
		}
		if at.Valid {
			tm, err := serviceTime(at.String)
			if err != nil {
				// written locally, before the server's value came back
				tm, _ = time.Parse(time.RFC3339Nano, at.String)
			}
			r.At = tm.UTC()
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// listsEqual waits until the client's lists with the prefix equal
// Postgres'.
func listsEqual(t testing.TB, c *client, prefix string) {
	t.Helper()
	eventually(t, "lists equal Postgres", func() (bool, string) {
		want, got := pgLists(t, prefix), localLists(t, c.db, prefix)
		if reflect.DeepEqual(want, got) {
			return true, ""
		}
		return false, fmt.Sprintf("postgres %v, local %v, status %v", want, got, c.s.Status())
	})
}

// TestLiveChanges: an INSERT, UPDATE and DELETE in Postgres reach a
// connected client's view, and the client stays connected throughout.
func TestLiveChanges(t *testing.T) {
	t.Parallel()
	prefix := "live " + uuid.NewString()[:8] + " "
	c := newClient(t, clientOpts{})
	c.connect()
	c.waitSynced()
	id := uuid.New()
	pgExec(t, "INSERT INTO lists(id, name) VALUES ($1, $2)", id, prefix+"inserted")
	listsEqual(t, c, prefix)
	pgExec(t, "UPDATE lists SET name = $2, owner_id = $3 WHERE id = $1", id, prefix+"updated", uuid.New())
	listsEqual(t, c, prefix)
	if got := localLists(t, c.db, prefix); len(got) != 1 || got[id.String()].Name != prefix+"updated" {
		t.Fatalf("after the update: %v", got)
	}
	pgExec(t, "DELETE FROM lists WHERE id = $1", id)
	listsEqual(t, c, prefix)
	if got := localLists(t, c.db, prefix); len(got) != 0 {
		t.Fatalf("after the delete: %v", got)
	}
	if st := c.s.Status(); !st.Connected || st.DownloadError != nil {
		t.Errorf("status: %v", st)
	}
}

// TestPriorities: the user's own lists are in a priority-1 bucket; once
// WaitForFirstSyncPriority(1) returns they are all in the local view,
// with the status saying priority 1 has synced, and the complete sync
// follows.
func TestPriorities(t *testing.T) {
	t.Parallel()
	user := uuid.NewString()
	prefix := "prio " + uuid.NewString()[:8] + " "
	for i := range 20 {
		pgExec(t, "INSERT INTO lists(name, owner_id) VALUES ($1, $2)", fmt.Sprintf("%s%d", prefix, i), user)
	}
	waitReplicated(t)
	c := newClient(t, clientOpts{user: user})
	c.connect()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.s.WaitForFirstSyncPriority(ctx, 1); err != nil {
		t.Fatalf("WaitForFirstSyncPriority(1): %v; status %v", err, c.s.Status())
	}
	var n int
	if err := c.db.QueryRow("SELECT count(*) FROM lists WHERE owner_id = ?", user).Scan(&n); err != nil || n != 20 {
		t.Fatalf("after the priority-1 sync: %d of the user's 20 lists, %v", n, err)
	}
	if ps := c.s.Status().ForPriority(1); !ps.HasSynced || ps.LastSyncedAt.IsZero() {
		t.Errorf("status for priority 1: %+v", ps)
	}
	c.waitSynced()
	listsEqual(t, c, prefix)
}
