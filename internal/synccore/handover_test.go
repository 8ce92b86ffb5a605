package synccore

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
)

// bucketPositions reads the buckets and their "after" positions from the body
// of a sync request.
func bucketPositions(t *testing.T, request []byte) map[string]string {
	t.Helper()
	var body struct {
		Buckets []struct {
			Name  string `json:"name"`
			After string `json:"after"`
		} `json:"buckets"`
	}
	if err := json.Unmarshal(request, &body); err != nil {
		t.Fatalf("sync request %s: %v", request, err)
	}
	out := make(map[string]string)
	for _, b := range body.Buckets {
		out[b.Name] = b.After
	}
	return out
}

// coreRequest finds the sync request in the oracle's replay output, which
// prints each instruction on a line of its own.
func coreRequest(t *testing.T, transcript string) []byte {
	t.Helper()
	for _, line := range strings.Split(transcript, "\n") {
		i := strings.Index(line, `{"EstablishSyncStream":`)
		if i < 0 {
			continue
		}
		var ins struct {
			EstablishSyncStream struct {
				Request json.RawMessage `json:"request"`
			}
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(line[i:])), &ins); err != nil {
			t.Fatalf("instruction %s: %v", line, err)
		}
		return ins.EstablishSyncStream.Request
	}
	t.Fatalf("no EstablishSyncStream in the oracle's output:\n%s", transcript)
	return nil
}

// A file synced by this engine is continued by the official core, and a file
// synced by the core is continued by this engine: each resumes from the other's
// bucket positions (nothing downloaded again) and ends in the same state as
// the core syncing both sessions alone.
func TestHandoverWithCore(t *testing.T) {
	oracletest.Require(t)
	dir := t.TempDir()
	schemaPath := "testdata/lines/schema_todos.json"
	part1 := "testdata/handover/part1.ndjson"
	part2 := "testdata/handover/part2.ndjson"
	// A validated checkpoint moves every bucket to its last_op_id, so both
	// resume from 4, and only todos[] has operations after it.
	wantAfter := map[string]string{"lists[]": "4", "todos[]": "4"}

	coreReplay := func(lines, db string) string {
		res := oracletest.Command(t, "replay", lines, "--schema", schemaPath, "--db", db)
		if res.ExitCode != 0 {
			t.Fatalf("oracle replay %s: exit %d\n%s", lines, res.ExitCode, res.Stderr)
		}
		return res.Stdout
	}
	official := filepath.Join(dir, "official.db")
	coreReplay(part1, official)
	coreReplay(part2, official)

	t.Run("ours then core", func(t *testing.T) {
		path := filepath.Join(dir, "ours_then_core.db")
		_, r := replayOurs(t, replayCase{name: "part1", lines: part1, schema: schemaPath, mode: "legacy"}, path)
		r.db.Close()
		out := coreReplay(part2, path)
		if got := bucketPositions(t, coreRequest(t, out)); !equalMaps(got, wantAfter) {
			t.Errorf("the core resumed from %v, want %v", got, wantAfter)
		}
		if same, diff := oracletest.Diff(t, official, path, false); !same {
			t.Errorf("state differs from the core syncing alone:\n%s", diff)
		}
	})

	t.Run("core then ours", func(t *testing.T) {
		path := filepath.Join(dir, "core_then_ours.db")
		coreReplay(part1, path)
		_, r := replayOurs(t, replayCase{name: "part2", lines: part2, schema: schemaPath, mode: "legacy"}, path)
		r.db.Close()
		var request []byte
		for _, ins := range r.instrs {
			for _, i := range ins {
				if est, ok := i.(EstablishSyncStream); ok {
					request = est.Request
				}
			}
		}
		if got := bucketPositions(t, request); !equalMaps(got, wantAfter) {
			t.Errorf("this engine resumed from %v, want %v", got, wantAfter)
		}
		if same, diff := oracletest.Diff(t, official, path, false); !same {
			t.Errorf("state differs from the core syncing alone:\n%s", diff)
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}
