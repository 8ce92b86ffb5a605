package main

import (
	"database/sql"
	"strconv"
	"testing"
)

// TestReadGate checks the local-write gate and the reason status prints for
// each combination of ps_kv checkpoint keys and upload queue (layout 14).
func TestReadGate(t *testing.T) {
	const maxOp = "9223372036854775807"
	tests := []struct {
		name    string
		kv      map[string]string
		crud    int64
		open    bool
		pending bool
		reason  string
	}{
		{"nothing written", nil, 0, true, false, "no local writes pending"},
		{"queued", map[string]string{"target_checkpoint_request_id": maxOp}, 3, false, true, "3 entries in the upload queue"},
		{"uploaded", map[string]string{"target_checkpoint_request_id": maxOp}, 0, false, true, "local writes uploaded, waiting for a write checkpoint from the backend"},
		{"waiting", map[string]string{"target_checkpoint_request_id": "57", "last_seen_checkpoint_request_id": "55"}, 0, false, false, "waiting for write checkpoint 57 (last seen 55)"},
		{"waiting and queued", map[string]string{"target_checkpoint_request_id": "57"}, 1, false, false, "waiting for write checkpoint 57 (last seen none); 1 entry in the upload queue"},
		{"queued after a checkpoint", map[string]string{"target_checkpoint_request_id": "57", "last_seen_checkpoint_request_id": "57"}, 2, false, false, "2 entries in the upload queue"},
		{"reached", map[string]string{"target_checkpoint_request_id": "57", "last_seen_checkpoint_request_id": "58"}, 0, true, false, "write checkpoint 57 reached, last seen 58"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := sql.Open("sqlite", ":memory:")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			if _, err := conn.ExecContext(ctx, "CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB)"); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.kv {
				n, _ := strconv.ParseInt(v, 10, 64)
				if _, err := conn.ExecContext(ctx, "INSERT INTO ps_kv(key, value) VALUES (?, ?)", k, n); err != nil {
					t.Fatal(err)
				}
			}
			d := &inspectDB{conn: conn, version: 14}
			g, err := d.readGate(ctx, tt.crud)
			if err != nil {
				t.Fatal(err)
			}
			if g.Open != tt.open || g.PendingUpload != tt.pending || g.Reason != tt.reason {
				t.Errorf("gate = open %t, pending upload %t, %q; want open %t, pending upload %t, %q",
					g.Open, g.PendingUpload, g.Reason, tt.open, tt.pending, tt.reason)
			}
		})
	}
}
