package synccore

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/oracletest"
	"github.com/gopowersync/powersync/schema"
)

// defaultStart is the start payload the oracle's replay sends.
const defaultStart = `{"parameters": {}, "active_streams": [], "include_defaults": true, "checkpoint_mode": "%s"}`

// openTestDB opens a "powersync" database at path with the schema in
// schemaPath ("" for none) and pins its client id as the oracle does.
func openTestDB(t testing.TB, path, schemaPath string) *sql.DB {
	t.Helper()
	var opts []driver.Option
	if schemaPath != "" {
		js, err := os.ReadFile(schemaPath)
		if err != nil {
			t.Fatal(err)
		}
		s, err := schema.Parse(js)
		if err != nil {
			t.Fatalf("parse schema %s: %v", schemaPath, err)
		}
		opts = append(opts, driver.WithSchema(s))
	}
	c, err := driver.NewConnector(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(context.Background(), "UPDATE ps_kv SET value = 'oracle-client' WHERE key = 'client_id'"); err != nil {
		t.Fatal(err)
	}
	return db
}

// startOptions is the JSON payload of 'start'.
type startOptions struct {
	Parameters      map[string]any    `json:"parameters"`
	ActiveStreams   []StreamKey       `json:"active_streams"`
	IncludeDefaults *bool             `json:"include_defaults"`
	CheckpointMode  string            `json:"checkpoint_mode"`
	AppMetadata     map[string]string `json:"app_metadata"`
	Schema          *struct {
		RawTables []schema.RawTable `json:"raw_tables"`
	} `json:"schema"`
}

func parseStart(payload string) (StartRequest, error) {
	var o startOptions
	if err := json.Unmarshal([]byte(payload), &o); err != nil {
		return StartRequest{}, err
	}
	r := StartRequest{Parameters: o.Parameters, ActiveStreams: o.ActiveStreams, IncludeDefaults: true,
		CheckpointMode: o.CheckpointMode, AppMetadata: o.AppMetadata}
	if o.IncludeDefaults != nil {
		r.IncludeDefaults = *o.IncludeDefaults
	}
	if o.Schema != nil {
		r.RawTables = o.Schema.RawTables
	}
	return r, nil
}

// replayer acts out an oracle line file on an Engine and prints a transcript
// in the format of `oracle.sh replay --raw-status`.
type replayer struct {
	t   testing.TB
	ctx context.Context
	db  *sql.DB
	e   *Engine
	out strings.Builder
	// rawTables of the last start, for Clear.
	rawTables []schema.RawTable
	// instrs records every instruction list, for tests that inspect them.
	instrs [][]Instruction
	// batch > 1 hands runs of up to batch sync lines (sizes drawn from
	// batchRand) to LinesText instead of LineText one by one.
	batch     int
	batchRand *rand.Rand
	// dumps are the state dumps written into out, in order.
	dumps []string
}

func truncPayload(p string) string {
	r := []rune(p)
	if len(r) <= 160 {
		return p
	}
	return string(r[:157]) + "..."
}

func canonJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<marshal error %v>", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return fmt.Sprintf("<decode error %v>", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(x)
	return strings.TrimSuffix(buf.String(), "\n")
}

// call runs one control operation; it returns the instructions (nil for
// scalar results) and an error.
func (r *replayer) call(op string, payload *string) ([]Instruction, error) {
	p := ""
	if payload != nil {
		p = " " + truncPayload(*payload)
	}
	var ins []Instruction
	var scalar *string
	var err error
	arg := ""
	if payload != nil {
		arg = *payload
	}
	setScalar := func(v int64, ok bool) {
		s := "null"
		if ok {
			s = strconv.FormatInt(v, 10)
		}
		scalar = &s
	}
	switch op {
	case "start":
		var req StartRequest
		if req, err = parseStart(arg); err == nil {
			r.rawTables = req.RawTables
			ins, err = r.e.Start(r.ctx, req)
		}
	case "stop":
		ins, err = r.e.Stop(r.ctx)
	case "line_text":
		ins, err = r.e.LineText(r.ctx, []byte(arg))
	case "connection":
		if arg == "established" {
			ins, err = r.e.ConnectionEstablished(r.ctx)
		} else {
			ins, err = r.e.ConnectionEnd(r.ctx)
		}
	case "completed_upload":
		ins, err = r.e.CompletedUpload(r.ctx)
	case "refreshed_token":
		ins, err = r.e.RefreshedToken(r.ctx)
	case "update_subscriptions":
		var keys []StreamKey
		if err = json.Unmarshal([]byte(arg), &keys); err == nil {
			ins, err = r.e.UpdateSubscriptions(r.ctx, keys)
		}
	case "seed_checkpoint_request_id":
		var id int64
		if id, err = strconv.ParseInt(arg, 10, 64); err == nil {
			err = r.e.SeedCheckpointRequestID(r.ctx, id)
			setScalar(id, true)
		}
	case "next_checkpoint_request_id":
		var id int64
		id, err = r.e.NextCheckpointRequestID(r.ctx)
		setScalar(id, true)
	case "current_checkpoint_request_id":
		var id int64
		var ok bool
		id, ok, err = CurrentCheckpointRequestID(r.ctx, r.db)
		setScalar(id, ok)
	case "target_checkpoint_request_id":
		if payload == nil {
			var id int64
			var ok bool
			id, ok, err = TargetCheckpointRequestID(r.ctx, r.db)
			setScalar(id, ok)
			break
		}
		var id int64
		if id, err = strconv.ParseInt(arg, 10, 64); err != nil {
			break
		}
		var tx *sql.Tx
		if tx, err = r.db.BeginTx(r.ctx, nil); err != nil {
			break
		}
		var prev int64
		var ok bool
		prev, ok, err = SetTargetCheckpointRequestID(r.ctx, tx, id)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		setScalar(prev, ok)
	case "subscriptions":
		var cmd struct {
			Subscribe *struct {
				Stream   StreamKey `json:"stream"`
				TTL      *int64    `json:"ttl"`
				Priority *int32    `json:"priority"`
			} `json:"subscribe"`
			Unsubscribe *StreamKey `json:"unsubscribe"`
		}
		if err = json.Unmarshal([]byte(arg), &cmd); err != nil {
			break
		}
		var tx *sql.Tx
		if tx, err = r.db.BeginTx(r.ctx, nil); err != nil {
			break
		}
		if cmd.Subscribe != nil {
			err = Subscribe(r.ctx, tx, time.Now(), SubscribeRequest{Stream: cmd.Subscribe.Stream, TTL: cmd.Subscribe.TTL, Priority: cmd.Subscribe.Priority})
		} else if cmd.Unsubscribe != nil {
			err = Unsubscribe(r.ctx, tx, *cmd.Unsubscribe)
		}
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		scalar = new(string)
		*scalar = "null"
	default:
		err = fmt.Errorf("replay: unsupported control op %q", op)
	}
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&r.out, "> %s%s\n", op, p)
	if scalar != nil {
		fmt.Fprintf(&r.out, "< %s\n", *scalar)
		return nil, nil
	}
	r.instrs = append(r.instrs, ins)
	if len(ins) == 0 {
		r.out.WriteString("< (no instructions)\n")
	}
	for _, i := range ins {
		fmt.Fprintf(&r.out, "< %s\n", canonJSON(i))
	}
	return ins, nil
}

func (r *replayer) dump(title string) {
	s, err := oracletest.DumpState(r.ctx, r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	r.dumps = append(r.dumps, s)
	r.out.WriteString(strings.Replace(s, "######## final state", "######## "+title, 1))
}

// flushLines hands the pending lines to LinesText.
func (r *replayer) flushLines(pending []string) ([]Instruction, error) {
	if len(pending) == 0 {
		return nil, nil
	}
	bs := make([][]byte, len(pending))
	for i, l := range pending {
		bs[i] = []byte(l)
	}
	ins, err := r.e.LinesText(r.ctx, bs)
	fmt.Fprintf(&r.out, "> lines_text (%d lines)\n", len(pending))
	for _, i := range ins {
		fmt.Fprintf(&r.out, "< %s\n", canonJSON(i))
	}
	r.instrs = append(r.instrs, ins)
	return ins, err
}

// run replays linesPath the way the oracle's sync_replay.py does.
func (r *replayer) run(linesPath, mode string) {
	start := fmt.Sprintf(defaultStart, mode)
	ins, err := r.call("start", &start)
	if err != nil {
		r.t.Fatalf("start: %v", err)
	}
	for _, i := range ins {
		if est, ok := i.(EstablishSyncStream); ok && est.CheckpointRequest != nil {
			id := strconv.FormatInt(est.CheckpointRequest.CheckpointRequestID, 10)
			if _, err := r.call("seed_checkpoint_request_id", &id); err != nil {
				r.t.Fatalf("seed: %v", err)
			}
		}
	}
	est := "established"
	if _, err := r.call("connection", &est); err != nil {
		r.t.Fatalf("connection established: %v", err)
	}
	f, err := os.Open(linesPath)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	closed := false
	var pending []string // lines for LinesText (batch > 1)
	target := 0
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var res []Instruction
		var err error
		if r.batch > 1 && len(pending) > 0 && strings.HasPrefix(line, "!") {
			res, err = r.flushLines(pending)
			pending = nil
			if err != nil || hasCloseStream(res) {
				fmt.Fprintf(&r.out, "! before line %d: batch ended the stream: %v\n", n, err)
				closed = true
				break
			}
		}
		switch {
		case line == "!dump":
			r.dump(fmt.Sprintf("state at line %d", n))
			r.out.WriteString("\n")
			continue
		case strings.HasPrefix(line, "!sql "):
			stmt := line[5:]
			if m := reClear.FindStringSubmatch(stmt); m != nil {
				// the core's SQL functions are Engine methods here
				n, _ := strconv.Atoi(m[2])
				if m[1] == "clear" {
					err = r.e.Clear(r.ctx, ClearFlags(n), r.rawTables)
				} else {
					err = r.e.TriggerResync(r.ctx, n != 0)
				}
			} else {
				err = execTx(r.ctx, r.db, stmt)
			}
			if err == nil {
				fmt.Fprintf(&r.out, "> (sql) %s\n", stmt)
			}
		case strings.HasPrefix(line, "!control "):
			op, payload, has := strings.Cut(line[9:], " ")
			var pp *string
			if has && payload != "" {
				pp = &payload
			}
			res, err = r.call(op, pp)
		case r.batch > 1:
			if target == 0 {
				target = 1 + r.batchRand.IntN(r.batch)
			}
			pending = append(pending, line)
			if len(pending) < target {
				continue
			}
			res, err = r.flushLines(pending)
			pending, target = nil, 0
		default:
			res, err = r.call("line_text", &line)
		}
		if err != nil {
			fmt.Fprintf(&r.out, "! line %d: Error: %v\n", n, err)
			closed = true
			break
		}
		if hasCloseStream(res) {
			fmt.Fprintf(&r.out, "! line %d: CloseSyncStream -> the SDK would stop reading and reconnect\n", n)
			closed = true
			break
		}
	}
	if err := sc.Err(); err != nil {
		r.t.Fatal(err)
	}
	if !closed && len(pending) > 0 {
		res, err := r.flushLines(pending)
		if err != nil || hasCloseStream(res) {
			fmt.Fprintf(&r.out, "! at the end: batch ended the stream: %v\n", err)
			closed = true
		}
	}
	if !closed {
		end := "end"
		if _, err := r.call("connection", &end); err != nil {
			r.t.Fatalf("connection end: %v", err)
		}
	}
	if _, err := r.call("stop", nil); err != nil {
		r.t.Fatalf("stop: %v", err)
	}
	r.dump("final state")
}

func execTx(ctx context.Context, db *sql.DB, stmt string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

var (
	reClear   = regexp.MustCompile(`^select powersync_(clear|trigger_resync)\((\d+)\)$`)
	reTS      = regexp.MustCompile(`"(last_synced_at|expires_at)":\d+`)
	reErr     = regexp.MustCompile(`(?m)^! line (\d+): \w+: .*$`)
	reHeader  = regexp.MustCompile(`(?m)^-- core .*\n`)
	reCloseLn = regexp.MustCompile(`CloseSyncStream -> `)
)

// normalizeTranscript masks what legitimately differs between the core's
// transcript and ours: timestamps, error messages and the version header.
func normalizeTranscript(s string) string {
	s = reHeader.ReplaceAllString(s, "")
	s = reTS.ReplaceAllString(s, `"$1":"<ts>"`)
	s = reErr.ReplaceAllStringFunc(s, func(m string) string {
		if reCloseLn.MatchString(m) {
			return m
		}
		return reErr.ReplaceAllString(m, "! line $1: error")
	})
	return oracletest.Normalize(s)
}

// replayCase is one line file replayed through both implementations.
type replayCase struct {
	name   string
	lines  string
	schema string // "" for none
	mode   string // legacy or requests
	// noGolden skips the golden copy of the oracle's transcript (ad-hoc seeds).
	noGolden bool
}

func exampleCases(t testing.TB) []replayCase {
	var out []replayCase
	for _, dir := range []string{"testdata/examples", "testdata/lines"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.ndjson"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			base := strings.TrimSuffix(filepath.Base(f), ".ndjson")
			c := replayCase{name: base, lines: f, mode: "legacy"}
			if !strings.HasPrefix(base, "probe_") {
				c.schema = filepath.Join(dir, "schema_todos.json")
				if s := filepath.Join(dir, base+".schema.json"); fileExists(s) {
					c.schema = s
				}
			}
			if strings.Contains(base, "requests") {
				c.mode = "requests"
			}
			out = append(out, c)
		}
	}
	return out
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// oracleTranscript returns the core's transcript for c, writing its database
// to dbPath. With the oracle unavailable (outside CI) it returns the golden
// copy and ok=false.
func oracleTranscript(t *testing.T, c replayCase, dbPath string) (string, bool) {
	golden := filepath.Join("testdata", "golden", c.name+".txt")
	if !oracletest.Available() && !oracletest.InCI() {
		b, err := os.ReadFile(golden)
		if err != nil {
			t.Skipf("oracle unavailable and no golden file: %v", err)
		}
		return string(b), false
	}
	args := []string{"replay", c.lines, "--db", dbPath, "--mode", c.mode, "--raw-status"}
	if c.schema != "" {
		args = append(args, "--schema", c.schema)
	}
	res := oracletest.Command(t, args...)
	if res.ExitCode != 0 {
		t.Fatalf("oracle replay: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	out := normalizeTranscript(res.Stdout)
	if !c.noGolden {
		oracletest.Golden(t, golden, out)
	}
	return out, true
}

// replayOurs replays c through the Engine into dbPath.
func replayOurs(t *testing.T, c replayCase, dbPath string) (string, *replayer) {
	db := openTestDB(t, dbPath, c.schema)
	r := &replayer{t: t, ctx: t.Context(), db: db, e: New(db, Options{})}
	r.run(c.lines, c.mode)
	return normalizeTranscript(r.out.String()), r
}

func TestReplayAgainstOracle(t *testing.T) {
	for _, c := range exampleCases(t) {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			official, ours := filepath.Join(dir, "official.db"), filepath.Join(dir, "ours.db")
			want, haveOracle := oracleTranscript(t, c, official)
			got, _ := replayOurs(t, c, ours)
			if d := oracletest.LineDiff(want, got); d != "" {
				t.Errorf("transcript differs from the core's (- core, + ours):\n%s", d)
			}
			if haveOracle {
				if same, diff := oracletest.Diff(t, official, ours, false); !same {
					t.Errorf("oracle diff official.db ours.db:\n%s", diff)
				}
			}
		})
	}
}
