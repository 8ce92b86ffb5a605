package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/hooks"
	"github.com/gopowersync/powersync/internal/synccore"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
	_ "modernc.org/sqlite" // the floor: plain modernc
)

// benchSchema is the oracle's bench/schema_items.json plus a local-only
// table "notes" that the concurrency workloads read and write while a sync
// runs (local-only, so their writes do not hold back the checkpoint).
func benchSchema() *schema.Schema {
	return schema.New(
		schema.Table{Name: "items", Columns: []schema.Column{
			schema.Text("name"), schema.Integer("qty"), schema.Real("price"), schema.Text("sku"), schema.Text("note"),
		}},
		schema.Table{Name: "notes", LocalOnly: true, Columns: []schema.Column{schema.Text("body"), schema.Integer("n")}},
	)
}

// freshPath removes a database file and its WAL files and returns its path.
func freshPath(dir, name string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(p + s); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return p, nil
}

// openPS opens a new "powersync" database with the bench schema and the
// oracle's settings (WAL, synchronous=NORMAL); everything else is the
// driver's default. Env PSBENCH_PRAGMAS adds pragmas for experiments, e.g.
// "temp_store(file) cache_size(-2000)".
func openPS(ctx context.Context, dir, name string) (*sql.DB, error) {
	p, err := freshPath(dir, name)
	if err != nil {
		return nil, err
	}
	dsn := p + "?_pragma=synchronous(NORMAL)"
	for _, pr := range strings.Fields(os.Getenv("PSBENCH_PRAGMAS")) {
		dsn += "&_pragma=" + pr
	}
	c, err := driver.NewConnector(dsn, driver.WithSchema(benchSchema()))
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openPlain opens a new plain modernc database (WAL, synchronous=NORMAL)
// with the table t(id TEXT PRIMARY KEY, data TEXT): the floor.
func openPlain(ctx context.Context, dir, name string) (*sql.DB, error) {
	p, err := freshPath(dir, name)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", p+"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE t(id TEXT PRIMARY KEY NOT NULL, data TEXT)`); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func loadStream(o caseOptions) ([][]byte, error) {
	if o.stream == "" {
		return nil, errors.New("-stream is required")
	}
	all, err := os.ReadFile(o.stream) // one buffer of the file's size
	if err != nil {
		return nil, err
	}
	return splitLines(all), nil
}

func countRows(ctx context.Context, db *sql.DB, table string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n)
	return n, err
}

// replayer feeds sync lines to our state machine in batches, as the Syncer
// does with the lines it has received (synccore.Engine.LinesText: a run of
// data lines is one transaction). The oracle's sync_apply case makes one
// control call per line on the core.
type replayer struct {
	eng  *synccore.Engine
	done bool // a DidCompleteSync was returned
}

func startReplay(ctx context.Context, db *sql.DB) (*replayer, error) {
	r := &replayer{eng: synccore.New(db, synccore.Options{})}
	if _, err := r.eng.Start(ctx, synccore.StartRequest{IncludeDefaults: true, CheckpointMode: "legacy"}); err != nil {
		return nil, err
	}
	if _, err := r.eng.ConnectionEstablished(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *replayer) batch(ctx context.Context, batch [][]byte) error {
	ins, err := r.eng.LinesText(ctx, batch)
	if err != nil {
		return err
	}
	for _, in := range ins {
		switch in.(type) {
		case synccore.DidCompleteSync:
			r.done = true
		case synccore.CloseSyncStream:
			b, _ := json.Marshal(ins)
			return fmt.Errorf("unexpected CloseSyncStream: %s", b)
		}
	}
	return nil
}

// replay feeds lines to LinesText, which writes runs of data lines as the
// Syncer's calls do. The lines are split before each checkpoint_complete
// line; beforeComplete, if not nil, runs just before such a line is fed.
func (r *replayer) replay(ctx context.Context, lines [][]byte, beforeComplete func()) error {
	for len(lines) > 0 {
		n := 1
		for n < len(lines) && !isComplete(lines[n]) {
			n++
		}
		if beforeComplete != nil && isComplete(lines[0]) {
			beforeComplete()
		}
		if err := r.batch(ctx, lines[:n]); err != nil {
			return err
		}
		lines = lines[n:]
	}
	return nil
}

func isComplete(l []byte) bool { return bytes.HasPrefix(l, []byte(`{"checkpoint_complete"`)) }

// replayAll replays lines and returns the time until checkpoint_complete
// was fed (the download phase) and in total.
func replayAll(ctx context.Context, db *sql.DB, lines [][]byte) (download, total time.Duration, err error) {
	t0 := time.Now()
	r, err := startReplay(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	if err := r.replay(ctx, lines, func() { download = time.Since(t0) }); err != nil {
		return 0, 0, err
	}
	total = time.Since(t0)
	if !r.done {
		return 0, 0, errors.New("checkpoint was not applied")
	}
	_, err = r.eng.Stop(ctx)
	return download, total, err
}

// caseReplay: the stream file in memory -> our state machine -> ps_data__items
// (the oracle's sync_apply on the core).
func caseReplay(ctx context.Context, o caseOptions) ([]result, error) {
	lines, err := loadStream(o)
	if err != nil {
		return nil, err
	}
	db, err := openPS(ctx, o.dir, "replay.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	download, total, err := replayAll(ctx, db, lines)
	if err != nil {
		return nil, err
	}
	n, err := countRows(ctx, db, "ps_data__items")
	if err != nil {
		return nil, err
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	r := newResult("replay", n, total)
	r["download_s"] = round3(download.Seconds())
	r["checkpoint_complete_s"] = round3((total - download).Seconds())
	r["ndjson_mb"] = round3(float64(size) / 1e6)
	return []result{r}, nil
}

// caseFloorNDJSON: the same data lines -> plain table with the same SQL as
// the oracle's plain_ndjson (json_each), one transaction per line, on
// modernc: parse and insert only, no oplog, no checksums. With -batch K,
// K lines share a transaction (case floor_ndjson_batchK): what grouping
// commits would save.
func caseFloorNDJSON(ctx context.Context, o caseOptions) ([]result, error) {
	lines, err := loadStream(o)
	if err != nil {
		return nil, err
	}
	db, err := openPlain(ctx, o.dir, "floor.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	batch := max(1, o.batch)
	t0 := time.Now()
	var tx *sql.Tx
	inTx := 0
	for _, l := range lines {
		if !bytes.HasPrefix(l, []byte(`{"data"`)) {
			continue
		}
		if tx == nil {
			if tx, err = db.BeginTx(ctx, nil); err != nil {
				return nil, err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO t(id, data) SELECT value ->> 'object_id', value ->> 'data' `+
			`FROM json_each(?, '$.data.data') WHERE value ->> 'op' = 'PUT'`, string(l)); err != nil {
			tx.Rollback()
			return nil, err
		}
		if inTx++; inTx == batch {
			if err := tx.Commit(); err != nil {
				return nil, err
			}
			tx, inTx = nil, 0
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	dt := time.Since(t0)
	n, err := countRows(ctx, db, "t")
	if err != nil {
		return nil, err
	}
	name := "floor_ndjson"
	if batch > 1 {
		name = fmt.Sprintf("floor_ndjson_batch%d", batch)
	}
	return []result{newResult(name, n, dt)}, nil
}

// caseSyncE2E: a Syncer connects to a service (pstest or the oracle's
// fake_service.py) and syncs the stream's rows over loopback HTTP, from
// Connect until WaitForFirstSync returns (the oracle's node-bench span).
func caseSyncE2E(ctx context.Context, o caseOptions) ([]result, error) {
	if o.url == "" {
		return nil, errors.New("-url is required")
	}
	db, err := openPS(ctx, o.dir, "e2e.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn := pssync.DevConnector(o.url, func(context.Context) (string, error) {
		if o.token != "" {
			return o.token, nil
		}
		return devToken(o.secret)
	})
	s, err := pssync.New(db, conn, pssync.WithRetryDelay(time.Second))
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	t0 := time.Now()
	if err := s.Connect(ctx); err != nil {
		return nil, err
	}
	if err := s.WaitForFirstSync(ctx); err != nil {
		return nil, fmt.Errorf("%w (status %v)", err, s.Status())
	}
	dt := time.Since(t0)
	if err := s.Disconnect(ctx); err != nil {
		return nil, err
	}
	n, err := countRows(ctx, db, "items")
	if err != nil {
		return nil, err
	}
	return []result{newResult("sync_e2e", n, dt)}, nil
}

// localRow is one row of the local-write workloads: the oracle's rows
// (bench_oracle.py rows()), with ids of the chosen kind.
func localRows(o caseOptions) (func(i int) []any, error) {
	ids, err := newIDs(o.ids)
	if err != nil {
		return nil, err
	}
	all := make([]string, o.n)
	for k := range all {
		all[k] = ids()
	}
	return func(i int) []any {
		name, qty, price, sku, note := rowValues(i)
		return []any{all[i-1], name, qty, price, sku, note}
	}, nil
}

const (
	viewInsert  = `INSERT INTO items(id, name, qty, price, sku, note) VALUES (?, ?, ?, ?, ?, ?)`
	plainInsert = `INSERT INTO t(id, data) VALUES (?1, json_object('name', ?2, 'qty', ?3, 'price', ?4, 'sku', ?5, 'note', ?6))`
)

// insertTx inserts rows 1..n in one transaction with one prepared statement.
func insertTx(ctx context.Context, db *sql.DB, query string, n int, row func(int) []any) (time.Duration, error) {
	t0 := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return 0, err
	}
	for i := 1; i <= n; i++ {
		if _, err := st.ExecContext(ctx, row(i)...); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// insertSingle inserts rows 1..n, each in its own (autocommit) transaction.
func insertSingle(ctx context.Context, db *sql.DB, query string, n int, row func(int) []any) (time.Duration, error) {
	t0 := time.Now()
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	for i := 1; i <= n; i++ {
		if _, err := st.ExecContext(ctx, row(i)...); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

func localCase(name string, plain, single bool) func(ctx context.Context, o caseOptions) ([]result, error) {
	return func(ctx context.Context, o caseOptions) ([]result, error) {
		row, err := localRows(o)
		if err != nil {
			return nil, err
		}
		var db *sql.DB
		query, table := viewInsert, "ps_data__items"
		if plain {
			db, err = openPlain(ctx, o.dir, name+".db")
			query, table = plainInsert, "t"
		} else {
			db, err = openPS(ctx, o.dir, name+".db")
		}
		if err != nil {
			return nil, err
		}
		defer db.Close()
		ins := insertTx
		if single {
			ins = insertSingle
		}
		dt, err := ins(ctx, db, query, o.n, row)
		if err != nil {
			return nil, err
		}
		n, err := countRows(ctx, db, table)
		if err != nil {
			return nil, err
		}
		r := newResult(name, n, dt)
		if !plain {
			if r["ps_crud_rows"], err = countRows(ctx, db, "ps_crud"); err != nil {
				return nil, err
			}
		}
		return []result{r}, nil
	}
}

var (
	caseViewInsertTx      = localCase("view_insert_tx", false, false)
	casePlainInsertTx     = localCase("plain_insert_tx", true, false)
	caseViewInsertSingle  = localCase("view_insert_single", false, true)
	casePlainInsertSingle = localCase("plain_insert_single", true, true)
)

// latencies summarises samples: p50, p99 and max in ms.
func latencies(r result, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	r[prefix+"p50_ms"] = ms(lat[len(lat)/2])
	r[prefix+"p99_ms"] = ms(lat[min(len(lat)-1, len(lat)*99/100)])
	r[prefix+"max_ms"] = ms(lat[len(lat)-1])
	r[prefix+"samples"] = len(lat)
}

// caseCheckpoint: with the stream's rows present (o.stream, replayed first
// and not timed), apply the one-row and 1000-op checkpoints of o.diffs in
// the same connection and time each from its checkpoint_diff line to its
// checkpoint_complete being applied.
func caseCheckpoint(ctx context.Context, o caseOptions) ([]result, error) {
	lines, err := loadStream(o)
	if err != nil {
		return nil, err
	}
	df, err := os.ReadFile(o.diffs)
	if err != nil {
		return nil, fmt.Errorf("-diffs: %w", err)
	}
	db, err := openPS(ctx, o.dir, "checkpoint.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	t0 := time.Now()
	r, err := startReplay(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := r.replay(ctx, lines, nil); err != nil {
		return nil, err
	}
	if !r.done {
		return nil, errors.New("initial checkpoint was not applied")
	}
	present, err := countRows(ctx, db, "ps_data__items")
	if err != nil {
		return nil, err
	}
	initial := time.Since(t0)
	groups := map[string][]time.Duration{}
	var group string
	var start time.Time
	for l := range bytes.SplitSeq(df, []byte("\n")) {
		switch {
		case len(l) == 0:
		case l[0] == '#':
			group = strings.TrimSpace(string(l[1:]))
			r.done = false
			start = time.Now()
		default:
			if err := r.batch(ctx, [][]byte{l}); err != nil {
				return nil, err
			}
			if isComplete(l) {
				if !r.done {
					return nil, fmt.Errorf("%s checkpoint was not applied", group)
				}
				groups[group] = append(groups[group], time.Since(start))
			}
		}
	}
	var out []result
	for _, g := range []struct{ group, name string }{{"small", "checkpoint_1row"}, {"big", "checkpoint_1000ops"}, {"remove", "checkpoint_1row_remove"}} {
		lat := groups[g.group]
		if len(lat) == 0 {
			continue
		}
		slices.Sort(lat)
		res := newResult(g.name, present, lat[len(lat)/2])
		delete(res, "rows_per_s")
		latencies(res, "", lat)
		res["initial_sync_s"] = round3(initial.Seconds())
		out = append(out, res)
	}
	return out, nil
}

// caseUploadDrain: n rows inserted through the view in transactions of
// 1000 (not timed) give n upload queue entries; then a connector that
// encodes each batch as JSON and discards it drains the queue with
// GetCrudBatch(1000) and Complete.
func caseUploadDrain(ctx context.Context, o caseOptions) ([]result, error) {
	row, err := localRows(o)
	if err != nil {
		return nil, err
	}
	db, err := openPS(ctx, o.dir, "upload.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for s := 0; s < o.n; s += 1000 {
		cnt := min(1000, o.n-s)
		if _, err := insertTx(ctx, db, viewInsert, cnt, func(i int) []any { return row(s + i) }); err != nil {
			return nil, err
		}
	}
	queued, err := countRows(ctx, db, "ps_crud")
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	batches, entries := 0, 0
	for {
		b, err := pssync.GetCrudBatch(ctx, db, 1000)
		if err != nil {
			return nil, err
		}
		if b == nil {
			break
		}
		if _, err := json.Marshal(b.Entries); err != nil {
			return nil, err
		}
		if err := b.Complete(ctx); err != nil {
			return nil, err
		}
		batches++
		entries += len(b.Entries)
	}
	dt := time.Since(t0)
	if entries != queued {
		return nil, fmt.Errorf("drained %d entries, %d were queued", entries, queued)
	}
	r := newResult("upload_drain", entries, dt)
	r["batches"] = batches
	return []result{r}, nil
}

// seedNotes inserts 1000 rows into the local-only table notes.
func seedNotes(ctx context.Context, db *sql.DB) error {
	_, err := insertTx(ctx, db, `INSERT INTO notes(id, body, n) VALUES (?, ?, ?)`, 1000, func(i int) []any {
		return []any{fmt.Sprintf("note-%04d", i), fmt.Sprintf("note body %d", i), 0}
	})
	return err
}

// duringReplay runs f while the stream is replayed into db and returns the
// replay's duration; f must return when its context ends.
func duringReplay(ctx context.Context, db *sql.DB, lines [][]byte, f func(ctx context.Context)) (time.Duration, error) {
	fctx, cancel := context.WithCancel(ctx)
	var wg gosync.WaitGroup
	wg.Go(func() { f(fctx) })
	_, total, err := replayAll(ctx, db, lines)
	cancel()
	wg.Wait()
	return total, err
}

// caseWatch: a watched query over the 1000 notes (unthrottled) and a writer
// that updates one note and waits for the watcher to hold the new result.
// Latency: commit start to result. Idle first (o.samples writes), then
// while the stream is replayed into the same database (as many writes as
// fit, 5 ms apart).
func caseWatch(ctx context.Context, o caseOptions) ([]result, error) {
	lines, err := loadStream(o)
	if err != nil {
		return nil, err
	}
	db, err := openPS(ctx, o.dir, "watch.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := seedNotes(ctx, db); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan int64, 16)
	ready := make(chan struct{})
	var wg gosync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		first := true
		for res, err := range (hooks.Watcher{Throttle: -1}).Watch(wctx, db, `SELECT id, body, n FROM notes ORDER BY id`) {
			if err != nil {
				continue
			}
			if first {
				first = false
				close(ready)
				continue
			}
			if v, ok := res.Rows[0]["n"].(int64); ok {
				select {
				case seen <- v:
				case <-wctx.Done():
					return
				}
			}
		}
	})
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var seq int64
	sample := func(ctx context.Context) (time.Duration, error) {
		seq++
		t0 := time.Now()
		if _, err := db.ExecContext(ctx, `UPDATE notes SET n = ? WHERE id = 'note-0001'`, seq); err != nil {
			return 0, err
		}
		for {
			select {
			case v := <-seen:
				if v == seq {
					return time.Since(t0), nil
				}
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	var idle []time.Duration
	for range o.samples {
		d, err := sample(ctx)
		if err != nil {
			return nil, err
		}
		idle = append(idle, d)
	}
	var busy []time.Duration
	var serr error
	// The end of the replay stops new samples, not the one under way: a
	// write waiting for the final apply counts with its whole wait.
	total, err := duringReplay(ctx, db, lines, func(fctx context.Context) {
		for fctx.Err() == nil {
			d, err := sample(ctx)
			if err != nil {
				serr = err
				return
			}
			busy = append(busy, d)
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err != nil {
		return nil, err
	}
	if serr != nil {
		return nil, serr
	}
	ri := result{"case": "watch_idle", "n": 1000}
	latencies(ri, "", idle)
	rb := result{"case": "watch_under_sync", "n": o.n, "sync_s": round3(total.Seconds())}
	latencies(rb, "", busy)
	return []result{ri, rb}, nil
}

// caseReads: primary-key reads of notes through the view, one after
// another on a pool of read connections: for one second idle, then while
// the stream is replayed into the same database. The maximum is the
// longest a read waited.
func caseReads(ctx context.Context, o caseOptions) ([]result, error) {
	lines, err := loadStream(o)
	if err != nil {
		return nil, err
	}
	db, err := openPS(ctx, o.dir, "reads.db")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := seedNotes(ctx, db); err != nil {
		return nil, err
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	read := func(ctx context.Context) (time.Duration, error) {
		id := fmt.Sprintf("note-%04d", 1+rnd.IntN(1000))
		t0 := time.Now()
		var body string
		err := db.QueryRowContext(ctx, `SELECT body FROM notes WHERE id = ?`, id).Scan(&body)
		return time.Since(t0), err
	}
	var idle []time.Duration
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		d, err := read(ctx)
		if err != nil {
			return nil, err
		}
		idle = append(idle, d)
	}
	var busy []time.Duration
	var rerr error
	total, err := duringReplay(ctx, db, lines, func(ctx context.Context) {
		for ctx.Err() == nil {
			d, err := read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					rerr = err
				}
				return
			}
			busy = append(busy, d)
		}
	})
	if err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	ri := result{"case": "reads_idle", "n": 1000}
	latencies(ri, "", idle)
	rb := result{"case": "reads_under_sync", "n": o.n, "sync_s": round3(total.Seconds())}
	latencies(rb, "", busy)
	return []result{ri, rb}, nil
}
