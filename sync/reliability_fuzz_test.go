package sync

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/gopowersync/powersync/internal/bson"

	"github.com/gopowersync/powersync/internal/synccore"
)

// FuzzStreamBody decodes an arbitrary response body as the syncer does
// (NDJSON lines or BSON documents, bounded in size) and feeds every frame to
// the production state machine, restarting the iteration whenever it ends.
// Nothing may panic, and the database must stay intact with nothing queued
// for upload.
func FuzzStreamBody(f *testing.F) {
	good, _ := checkpointScript("b1", scriptRow{1, "r1", "one"}, scriptRow{2, "r2", ""}, scriptRow{3, "r3", "three"})
	f.Add(bytes.Join(good, []byte("\n")), false)
	f.Add([]byte("{\"token_expires_in\":0}\n{\"checkpoint_complete\":{\"last_op_id\":\"1\"}}\n\n  \nnot json"), false)
	for _, l := range good {
		if b, ok := jsonToBSON(l); ok {
			f.Add(b, true)
		}
	}
	f.Add([]byte{5, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}, true)
	db := openDB(f)
	eng := newDefaultEngine(db, defaultOptions())
	ctx := f.Context()
	f.Fuzz(func(t *testing.T, body []byte, binary bool) {
		if _, err := eng.Start(ctx, synccore.StartRequest{IncludeDefaults: true, CheckpointMode: modeLegacy}); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(bytes.NewReader(body))
		for range 32 {
			var frame []byte
			var err error
			if binary {
				frame, err = readBSONDocument(br, 1<<16)
			} else {
				frame, err = readLine(br, 1<<16)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				if err.Error() == "" {
					t.Fatal("error without a message")
				}
				break
			}
			feed := eng.NextLinesText
			if binary {
				feed = eng.NextLinesBinary
			}
			given := false
			out, err := feed(ctx, func() ([]byte, bool) {
				if given {
					return nil, false
				}
				given = true
				return frame, true
			})
			ended := err != nil
			for _, in := range out {
				if _, ok := in.(synccore.CloseSyncStream); ok {
					ended = true
				}
			}
			if ended {
				if _, err := eng.Start(ctx, synccore.StartRequest{IncludeDefaults: true, CheckpointMode: modeLegacy}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := eng.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_crud`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("synced data queued for upload: %d, %v", n, err)
		}
		var res string
		if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil || res != "ok" {
			t.Fatalf("quick_check: %q, %v", res, err)
		}
	})
}

// jsonToBSON converts a JSON sync line to a BSON document (integral numbers
// become int64).
func jsonToBSON(line []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	var conv func(any) any
	conv = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return i
			}
			fl, _ := x.Float64()
			return fl
		case map[string]any:
			for k, e := range x {
				x[k] = conv(e)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = conv(e)
			}
			return bson.A(x)
		}
		return v
	}
	m, ok := conv(v).(map[string]any)
	if !ok {
		return nil, false
	}
	b, err := bson.Marshal(m)
	return b, err == nil
}
