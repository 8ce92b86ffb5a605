package synccore

import (
	"path/filepath"
	"testing"
)

// Applying a checkpoint sorts on disk, then gives the connection back with
// the application's settings and temporary tables as they were.
func TestApplyKeepsConnectionSettings(t *testing.T) {
	defer func(n int64) { largeApply = n }(largeApply)
	largeApply = 1 // switch storage even for this small checkpoint
	defer func(n int) { bulkLine = n }(bulkLine)
	bulkLine = 1 // and raise the checkpoint threshold for every line
	for _, withTemp := range []bool{false, true} {
		name := "no temp tables"
		if withTemp {
			name = "app temp table"
		}
		t.Run(name, func(t *testing.T) {
			db := openTestDB(t, filepath.Join(t.TempDir(), "a.db"), "testdata/lines/schema_todos.json")
			db.SetMaxOpenConns(1) // the engine uses the application's connection
			// SQLite's default threshold, below the engine's, so that the
			// engine raises it for the lines and must put it back.
			if _, err := db.Exec(`PRAGMA wal_autocheckpoint = 1000`); err != nil {
				t.Fatal(err)
			}
			if withTemp {
				if _, err := db.Exec(`CREATE TEMP TABLE app_scratch(x)`); err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(`INSERT INTO app_scratch VALUES (42)`); err != nil {
					t.Fatal(err)
				}
			}
			r := &replayer{t: t, ctx: t.Context(), db: db, e: New(db, Options{})}
			r.run("testdata/handover/part1.ndjson", "legacy")

			var rows int
			if err := db.QueryRow(`SELECT count(*) FROM ps_data__todos`).Scan(&rows); err != nil || rows != 2 {
				t.Fatalf("checkpoint not applied: %d rows, %v", rows, err)
			}
			var mode, autockpt int
			db.QueryRow(`PRAGMA temp_store`).Scan(&mode)
			db.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&autockpt)
			if mode != 2 || autockpt != 1000 {
				t.Errorf("after syncing: temp_store=%d wal_autocheckpoint=%d, want the driver's 2 and the application's 1000", mode, autockpt)
			}
			if withTemp {
				var x int
				if err := db.QueryRow(`SELECT x FROM app_scratch`).Scan(&x); err != nil || x != 42 {
					t.Errorf("the application's temporary table was lost: %v", err)
				}
			}
		})
	}
}
