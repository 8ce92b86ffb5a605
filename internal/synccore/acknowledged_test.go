package synccore

import (
	"context"
	"path/filepath"
	"testing"
)

// TestUploadsAcknowledged: local writes count as acknowledged only once the
// queue is empty and the applied checkpoint request reaches the gate.
func TestUploadsAcknowledged(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t, filepath.Join(t.TempDir(), "a.db"), "")
	steps := []struct {
		sql  string
		want bool
	}{
		{"", true}, // a new database
		{"INSERT INTO ps_crud(data, tx_id) VALUES ('{}', 1)", false},
		{"DELETE FROM ps_crud", true},
		{"INSERT INTO ps_kv(key, value) VALUES ('target_checkpoint_request_id', '3')", false},
		{"INSERT INTO ps_kv(key, value) VALUES ('last_applied_checkpoint_request_id', '2')", false},
		{"UPDATE ps_kv SET value = '3' WHERE key = 'last_applied_checkpoint_request_id'", true},
	}
	for _, s := range steps {
		if s.sql != "" {
			if _, err := db.ExecContext(ctx, s.sql); err != nil {
				t.Fatal(err)
			}
		}
		got, err := UploadsAcknowledged(ctx, db)
		if err != nil || got != s.want {
			t.Errorf("after %q: UploadsAcknowledged = %v, %v; want %v", s.sql, got, err, s.want)
		}
	}
}
