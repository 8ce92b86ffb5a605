package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	pssync "github.com/gopowersync/powersync/sync"
)

// dsnEnv names the variable with the test PostgreSQL server's URL; .ci/run
// starts a server and sets it.
const dsnEnv = "POWERSYNC_TEST_POSTGRES_DSN"

// postgres returns a connection to a new, empty Postgres schema of the test
// server, with the todo tables created, dropped when the test ends. The
// test fails without a server under CI=true and is skipped otherwise.
func postgres(t *testing.T) (*sql.DB, string) {
	t.Helper()
	dsn := os.Getenv(dsnEnv)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must provide a PostgreSQL server (.ci/run starts one)", dsnEnv)
		}
		t.Skipf("%s is not set; set it to a PostgreSQL URL to run this test", dsnEnv)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(t.Context()); err != nil {
		t.Fatalf("%s: %v", dsnEnv, err)
	}
	var b [6]byte
	rand.Read(b[:])
	ns := "backend_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+ns+" CASCADE")
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", ns) // a run-time parameter for every connection
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := initTables(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	return db, u.String()
}

// post sends body to the upload endpoint of h and returns the status and
// the response body.
func post(t *testing.T, h http.Handler, body string, header ...string) (int, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/data", strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

const (
	list1 = "11111111-1111-4111-8111-111111111111"
	todo1 = "22222222-2222-4222-8222-222222222222"
	todo2 = "33333333-3333-4333-8333-333333333333"
	user1 = "44444444-4444-4444-8444-444444444444"
)

// dump returns the rows of the todo tables as text, ordered.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out strings.Builder
	rows, err := db.QueryContext(t.Context(), `SELECT 'list ' || id || ' ' || name || ' ' || owner_id FROM lists ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, rows, &out)
	rows, err = db.QueryContext(t.Context(), `
		SELECT 'todo ' || id || ' ' || description || ' completed=' || completed ||
		       ' completed_at=' || coalesce(to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), '-') ||
		       ' list=' || list_id
		FROM todos ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	collect(t, rows, &out)
	return out.String()
}

func collect(t *testing.T, rows *sql.Rows, out *strings.Builder) {
	t.Helper()
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out.WriteString(s + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestApplyBatch posts batches with PUT, PATCH and DELETE and checks the
// rows in Postgres after each.
func TestApplyBatch(t *testing.T) {
	db, _ := postgres(t)
	h := handler(NewBackend(db, todoschema.Schema(), nil), nil, "", nil)
	steps := []struct {
		name  string
		batch string
		want  string
	}{
		{
			name: "PUT list and todos",
			batch: `{"batch": [
				{"op_id": 1, "tx_id": 1, "op": "PUT", "type": "lists", "id": "` + list1 + `", "data": {"name": "Groceries", "owner_id": "` + user1 + `", "created_at": "2024-05-01T10:00:00Z"}},
				{"op_id": 2, "tx_id": 1, "op": "PUT", "type": "todos", "id": "` + todo1 + `", "data": {"list_id": "` + list1 + `", "description": "milk", "completed": 0}},
				{"op_id": 3, "tx_id": 1, "op": "PUT", "type": "todos", "id": "` + todo2 + `", "data": {"list_id": "` + list1 + `", "description": "bread", "completed": 0}}
			]}`,
			want: "list " + list1 + " Groceries " + user1 + "\n" +
				"todo " + todo1 + " milk completed=false completed_at=- list=" + list1 + "\n" +
				"todo " + todo2 + " bread completed=false completed_at=- list=" + list1 + "\n",
		},
		{
			name: "PATCH sets only the given columns",
			batch: `{"batch": [
				{"op_id": 4, "tx_id": 2, "op": "PATCH", "type": "todos", "id": "` + todo1 + `", "data": {"completed": 1, "completed_at": "2024-05-01T11:00:00.000Z", "completed_by": "` + user1 + `"}}
			]}`,
			want: "list " + list1 + " Groceries " + user1 + "\n" +
				"todo " + todo1 + " milk completed=true completed_at=2024-05-01T11:00:00 list=" + list1 + "\n" +
				"todo " + todo2 + " bread completed=false completed_at=- list=" + list1 + "\n",
		},
		{
			name: "PUT of an existing row, DELETE, and changes to missing rows",
			batch: `{"batch": [
				{"op_id": 5, "tx_id": 3, "op": "PUT", "type": "lists", "id": "` + list1 + `", "data": {"name": "Shopping", "owner_id": "` + user1 + `"}},
				{"op_id": 6, "tx_id": 3, "op": "DELETE", "type": "todos", "id": "` + todo2 + `"},
				{"op_id": 7, "tx_id": 3, "op": "DELETE", "type": "todos", "id": "` + todo2 + `"},
				{"op_id": 8, "tx_id": 3, "op": "PATCH", "type": "todos", "id": "55555555-5555-4555-8555-555555555555", "data": {"description": "x"}}
			]}`,
			want: "list " + list1 + " Shopping " + user1 + "\n" +
				"todo " + todo1 + " milk completed=true completed_at=2024-05-01T11:00:00 list=" + list1 + "\n",
		},
		{
			name:  "empty batch",
			batch: `{"batch": []}`,
			want: "list " + list1 + " Shopping " + user1 + "\n" +
				"todo " + todo1 + " milk completed=true completed_at=2024-05-01T11:00:00 list=" + list1 + "\n",
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := post(t, h, s.batch)
			if code != http.StatusOK {
				t.Fatalf("status %d: %s", code, body)
			}
			if got := dump(t, db); got != s.want {
				t.Errorf("rows:\n%s\nwant:\n%s", got, s.want)
			}
		})
	}
}

// TestRejections checks the status of batches that can never be applied
// (4xx, the client sets them aside) and that a rejected batch changes
// nothing, even the entries before the bad one.
func TestRejections(t *testing.T) {
	db, _ := postgres(t)
	h := handler(NewBackend(db, todoschema.Schema(), nil), nil, "", nil)
	if code, body := post(t, h, `{"batch": [{"op_id": 1, "op": "PUT", "type": "lists", "id": "`+list1+`", "data": {"name": "a", "owner_id": "`+user1+`"}}]}`); code != http.StatusOK {
		t.Fatalf("setup: %d %s", code, body)
	}
	before := dump(t, db)
	goodPut := `{"op_id": 1, "op": "PUT", "type": "todos", "id": "` + todo1 + `", "data": {"list_id": "` + list1 + `", "description": "ok"}}`
	tests := []struct {
		name   string
		body   string
		status int
		msg    string
	}{
		{"not JSON", `{"batch": [`, http.StatusBadRequest, "not an upload request"},
		{"no batch", `{}`, http.StatusBadRequest, "no \"batch\""},
		{"unknown table", `{"batch": [` + goodPut + `, {"op_id": 2, "op": "PUT", "type": "users", "id": "x", "data": {}}]}`, http.StatusUnprocessableEntity, `unknown table "users"`},
		{"unknown column", `{"batch": [` + goodPut + `, {"op_id": 2, "op": "PATCH", "type": "todos", "id": "` + todo1 + `", "data": {"owner\"; DROP TABLE lists; --": 1}}]}`, http.StatusUnprocessableEntity, "unknown column"},
		{"unknown op", `{"batch": [{"op_id": 2, "op": "UPSERT", "type": "todos", "id": "` + todo1 + `", "data": {}}]}`, http.StatusUnprocessableEntity, `unknown operation "UPSERT"`},
		{"no id", `{"batch": [{"op_id": 2, "op": "DELETE", "type": "todos"}]}`, http.StatusUnprocessableEntity, "no id"},
		{"invalid uuid", `{"batch": [` + goodPut + `, {"op_id": 2, "op": "PUT", "type": "todos", "id": "not-a-uuid", "data": {"list_id": "` + list1 + `", "description": "x"}}]}`, http.StatusUnprocessableEntity, "uuid"},
		{"not null", `{"batch": [` + goodPut + `, {"op_id": 2, "op": "PUT", "type": "todos", "id": "` + todo2 + `", "data": {"list_id": "` + list1 + `"}}]}`, http.StatusUnprocessableEntity, "description"},
		{"foreign key", `{"batch": [{"op_id": 2, "op": "PUT", "type": "todos", "id": "` + todo2 + `", "data": {"list_id": "` + todo1 + `", "description": "x"}}]}`, http.StatusUnprocessableEntity, "foreign key"},
		{"wrong type", `{"batch": [{"op_id": 2, "op": "PATCH", "type": "todos", "id": "` + todo1 + `", "data": {"completed": "maybe"}}]}`, http.StatusUnprocessableEntity, "boolean"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := post(t, h, tc.body)
			if code != tc.status {
				t.Errorf("status %d, want %d (%s)", code, tc.status, body)
			}
			var res struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil || !strings.Contains(res.Error.Message, tc.msg) {
				t.Errorf("body %s, want an error message containing %q", body, tc.msg)
			}
			if got := dump(t, db); got != before {
				t.Errorf("a rejected batch changed rows:\n%s\nwant:\n%s", got, before)
			}
		})
	}
}

// TestTemporaryFailure checks that a failure that is not the data's fault
// answers 500, which clients retry.
func TestTemporaryFailure(t *testing.T) {
	_, dsn := postgres(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // as if Postgres were gone
	h := handler(NewBackend(db, todoschema.Schema(), nil), nil, "", nil)
	code, body := post(t, h, `{"batch": [{"op_id": 1, "op": "DELETE", "type": "todos", "id": "`+todo1+`"}]}`)
	if code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500 (%s)", code, body)
	}
}

// TestAuth checks tokens: minted by /api/auth/token, required by /api/data.
func TestAuth(t *testing.T) {
	db, _ := postgres(t)
	auth := &Auth{Secret: []byte("secret"), KeyID: "k", Audience: "powersync-dev", TTL: time.Hour}
	h := handler(NewBackend(db, todoschema.Schema(), nil), auth, "http://ps.example", nil)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/api/auth/token?user_id="+user1, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var tok struct {
		Token        string `json:"token"`
		PowerSyncURL string `json:"powersync_url"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil || tok.Token == "" || tok.PowerSyncURL != "http://ps.example" {
		t.Fatalf("token response %d %s", rec.Code, rec.Body)
	}
	if sub, err := auth.Verify(tok.Token); err != nil || sub != user1 {
		t.Errorf("Verify = %q, %v", sub, err)
	}
	expired := *auth
	expired.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	old, _, _ := expired.Mint(user1)
	other := *auth
	other.Secret = []byte("other")
	forged, _, _ := other.Mint(user1)
	batch := `{"batch": []}`
	tests := []struct {
		name   string
		header []string
		status int
	}{
		{"token", []string{"Authorization", "Token " + tok.Token}, http.StatusOK},
		{"bearer", []string{"Authorization", "Bearer " + tok.Token}, http.StatusOK},
		{"none", nil, http.StatusUnauthorized},
		{"expired", []string{"Authorization", "Token " + old}, http.StatusUnauthorized},
		{"other secret", []string{"Authorization", "Token " + forged}, http.StatusUnauthorized},
		{"garbage", []string{"Authorization", "Token a.b.c"}, http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := post(t, h, batch, tc.header...); code != tc.status {
				t.Errorf("status %d, want %d (%s)", code, tc.status, body)
			}
		})
	}
}

// TestHTTPConnector uploads a client's queue with pssync.HTTPConnector,
// exactly as a syncer would: applied changes leave the queue and reach
// Postgres, and a change Postgres refuses is set aside on the client.
func TestHTTPConnector(t *testing.T) {
	pg, _ := postgres(t)
	srv := httptest.NewServer(handler(NewBackend(pg, todoschema.Schema(), nil), nil, "", nil))
	defer srv.Close()
	ctx := t.Context()

	c, err := driver.NewConnector(filepath.Join(t.TempDir(), "client.db"), driver.WithSchema(todoschema.Schema()))
	if err != nil {
		t.Fatal(err)
	}
	local := sql.OpenDB(c)
	defer local.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := local.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO lists (id, name, owner_id, created_at) VALUES (?, 'Work', ?, '2024-05-01T10:00:00Z')`, list1, user1)
	exec(`INSERT INTO todos (id, list_id, description, completed) VALUES (?, ?, 'write', 0)`, todo1, list1)
	exec(`UPDATE todos SET completed = 1, completed_at = '2024-05-01T11:00:00Z' WHERE id = ?`, todo1)
	exec(`INSERT INTO todos (id, list_id, description, completed) VALUES ('not-a-uuid', ?, 'bad', 0)`, list1)

	conn := &pssync.HTTPConnector{
		UploadURL:   srv.URL + "/api/data",
		Credentials: func(context.Context) (*pssync.Credentials, error) { return nil, nil },
	}
	err = conn.UploadData(ctx, local)
	var perm *pssync.PermanentError
	if !errors.As(err, &perm) || len(perm.Entries) != 1 || perm.Entries[0].ID != "not-a-uuid" {
		t.Fatalf("UploadData = %v, want a permanent error for the invalid id", err)
	}
	// What the syncer does with a permanent error.
	if err := pssync.RejectCrud(ctx, local, perm.Err, perm.Entries...); err != nil {
		t.Fatal(err)
	}
	if err := conn.UploadData(ctx, local); err != nil {
		t.Fatalf("second UploadData: %v", err)
	}
	if n, _, err := pssync.UploadQueueStats(ctx, local); err != nil || n != 0 {
		t.Errorf("queue has %d entries (%v), want 0", n, err)
	}
	rejected, err := pssync.RejectedCrud(ctx, local)
	if err != nil || len(rejected) != 1 || !strings.Contains(rejected[0].Reason, "422") {
		t.Errorf("rejected = %+v, %v; want the invalid id with a 422", rejected, err)
	}
	want := "list " + list1 + " Work " + user1 + "\n" +
		"todo " + todo1 + " write completed=true completed_at=2024-05-01T11:00:00 list=" + list1 + "\n"
	if got := dump(t, pg); got != want {
		t.Errorf("rows:\n%s\nwant:\n%s", got, want)
	}
}

// TestServe runs the command's server on a port and stops it.
func TestServe(t *testing.T) {
	_, dsn := postgres(t)
	c, err := parseFlags([]string{"-postgres", dsn, "-init", "-listen", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, l, c, nil) }()
	resp, err := http.Post("http://"+l.Addr().String()+"/api/data", "application/json", bytes.NewBufferString(`{"batch": []}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	if _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "-postgres") {
		t.Errorf("parseFlags without a database = %v, want an error naming -postgres", err)
	}
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("BACKEND_LISTEN", "127.0.0.1:7000")
	c, err := parseFlags([]string{"-jwt-secret", "s"})
	if err != nil || c.postgres != "postgres://x" || c.listen != "127.0.0.1:7000" || c.secret != "s" {
		t.Errorf("parseFlags = %+v, %v", c, err)
	}
	// The service's client_auth has the secret in base64url.
	t.Setenv("POWERSYNC_JWT_SECRET_B64URL", "")
	if c, err := parseFlags([]string{"-jwt-secret-b64url", "AP9zZWNyZXQ"}); err != nil || c.secret != "\x00\xffsecret" {
		t.Errorf("parseFlags -jwt-secret-b64url = %q, %v", c.secret, err)
	}
	if _, err := parseFlags([]string{"-jwt-secret-b64url", "not base64!"}); err == nil {
		t.Error("parseFlags accepted a -jwt-secret-b64url that is not base64url")
	}
	if _, err := parseFlags([]string{"-jwt-secret", "s", "-jwt-secret-b64url", "cw"}); err == nil {
		t.Error("parseFlags accepted both -jwt-secret and -jwt-secret-b64url")
	}
	if c, err := parseFlags([]string{"-attachments-dir", "/tmp/x"}); err != nil || c.filesDir != "/tmp/x" || c.filesMax != 32<<20 || c.filesTTL != 15*time.Minute {
		t.Errorf("parseFlags -attachments-dir = %+v, %v", c, err)
	}
}
