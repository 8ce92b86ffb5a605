package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// record is the median over repetitions of one (case, n, ids, server)
// group of JSON result lines: every numeric field's median, and how many
// lines there were.
type record struct {
	Case, Server, IDs string
	N                 int
	Reps              int
	Num               map[string]float64
	Reason            string // of a "skipped" record: why the workload did not run
}

func (r *record) get(k string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	v, ok := r.Num[k]
	return v, ok
}

// rate is n / seconds-field, the throughput of a run or of one phase.
func (r *record) rate(secondsField string) (float64, bool) {
	s, ok := r.get(secondsField)
	if !ok || s <= 0 {
		return 0, false
	}
	return float64(r.N) / s, true
}

type groupKey struct {
	Case, Server, IDs string
	N                 int
}

// results are the records read from a directory of benchmark outputs.
type results map[groupKey]*record

// parseResults reads every JSON object line of r (other lines, such as
// the oracle's summaries, are skipped) into the raw groups.
func parseResults(r io.Reader, raw map[groupKey][]map[string]any) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return fmt.Errorf("parse result line %q: %w", line, err)
		}
		c, _ := m["case"].(string)
		if c == "" {
			continue
		}
		n, _ := m["n"].(float64)
		srv, _ := m["server"].(string)
		ids, _ := m["ids"].(string)
		k := groupKey{Case: c, Server: srv, IDs: ids, N: int(n)}
		raw[k] = append(raw[k], m)
	}
	return sc.Err()
}

// medians turns raw groups into records.
func medians(raw map[groupKey][]map[string]any) results {
	out := results{}
	for k, lines := range raw {
		rec := &record{Case: k.Case, Server: k.Server, IDs: k.IDs, N: k.N, Reps: len(lines), Num: map[string]float64{}}
		fields := map[string][]float64{}
		for _, m := range lines {
			if r, ok := m["reason"].(string); ok {
				rec.Reason = r
			}
			for f, v := range m {
				if x, ok := v.(float64); ok {
					fields[f] = append(fields[f], x)
				}
			}
		}
		for f, xs := range fields {
			rec.Num[f] = median(xs)
		}
		out[k] = rec
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// readResults reads every *.out file below dir: the captured stdout of our
// runs and of the oracle's (whose own *.jsonl copies are not read).
func readResults(dir string) (results, error) {
	raw := map[groupKey][]map[string]any{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".out") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := parseResults(f, raw); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return medians(raw), nil
}

// find returns the record of case c with n rows whose server and ids match
// when given ("" matches anything; the first in a stable order wins).
func (rs results) find(c string, n int, server, ids string) *record {
	var keys []groupKey
	for k := range rs {
		if k.Case == c && k.N == n && (server == "" || k.Server == server) && (ids == "" || k.IDs == ids) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b groupKey) int { return strings.Compare(a.Server+a.IDs, b.Server+b.IDs) })
	return rs[keys[0]]
}

// findServer is find with an exact server label ("" only matches records
// without one).
func (rs results) findServer(c string, n int, server string) *record {
	for k, r := range rs {
		if k.Case == c && k.N == n && k.Server == server {
			return r
		}
	}
	return nil
}

// e2ePair returns our initial sync and the Node SDK's from the same server:
// pstest when the Node SDK was run against it, else the oracle's
// fake_service.py (the Node SDK's records from it carry no server label).
func (rs results) e2ePair(n int) (ours, node *record, server string) {
	if node = rs.findServer("node_sdk_initial_sync", n, "pstest"); node != nil {
		return rs.find("sync_e2e", n, "pstest", ""), node, "pstest"
	}
	return rs.find("sync_e2e", n, "fake_service", ""), rs.findServer("node_sdk_initial_sync", n, ""), "fake_service"
}

// sizes returns the row counts case c was run with, ascending.
func (rs results) sizes(c string) []int {
	var out []int
	for k := range rs {
		if k.Case == c && !slices.Contains(out, k.N) {
			out = append(out, k.N)
		}
	}
	slices.Sort(out)
	return out
}

// cell is one measured figure: a value with its unit kind.
type cell struct {
	v    float64
	ok   bool
	kind string // "rate" (rows/s, higher is better) or "ms" (lower is better)
}

func rateCell(r *record, secondsField string) cell {
	v, ok := r.rate(secondsField)
	return cell{v, ok, "rate"}
}

func msCell(r *record, field string) cell {
	v, ok := r.get(field)
	return cell{v, ok, "ms"}
}

func (c cell) String() string {
	if !c.ok {
		return "—"
	}
	if c.kind == "ms" {
		switch {
		case c.v >= 100:
			return fmt.Sprintf("%.0f ms", c.v)
		case c.v >= 10:
			return fmt.Sprintf("%.1f ms", c.v)
		}
		return fmt.Sprintf("%.2f ms", c.v)
	}
	switch {
	case c.v >= 1e6:
		return fmt.Sprintf("%.2fM/s", c.v/1e6)
	case c.v >= 1e3:
		return fmt.Sprintf("%.1fk/s", c.v/1e3)
	}
	return fmt.Sprintf("%.0f/s", c.v)
}

// speedup is how many times better a is than b (>1: a is faster).
func speedup(a, b cell) (float64, bool) {
	if !a.ok || !b.ok || a.v <= 0 || b.v <= 0 {
		return 0, false
	}
	if a.kind == "ms" {
		return b.v / a.v, true
	}
	return a.v / b.v, true
}

func ratioText(a, b cell) string {
	x, ok := speedup(a, b)
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f×", x)
}

func rssText(r *record) string {
	v, ok := r.get("max_rss_mb")
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.0f MB", v)
}

func sizeText(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// tableRow is one line of the comparison table.
type tableRow struct {
	workload             string
	ours, official       cell
	oursRSS, officialRSS string
	floor                cell
}

func (t tableRow) cells() []string {
	return []string{t.workload, t.ours.String(), t.official.String(), ratioText(t.ours, t.official),
		t.oursRSS, t.officialRSS, t.floor.String(), ratioText(t.ours, t.floor)}
}

// buildRows assembles the comparison from the records.
func buildRows(rs results) []tableRow {
	var rows []tableRow
	floorAt := func(n int) cell { return rateCell(rs.find("floor_ndjson", n, "", ""), "seconds") }
	for _, n := range rs.sizes("sync_e2e") {
		for _, srv := range []string{"pstest", "fake_service", "realservice"} {
			ours := rs.findServer("sync_e2e", n, srv)
			if ours == nil {
				continue
			}
			nodeLabel := srv
			if srv == "fake_service" {
				nodeLabel = "" // the oracle's node-bench records
			}
			node := rs.findServer("node_sdk_initial_sync", n, nodeLabel)
			from := srv
			if srv == "realservice" {
				from = "the real PowerSync Service"
			}
			rows = append(rows, tableRow{
				workload: fmt.Sprintf("1. initial sync e2e %s, both from %s (vs Node SDK)", sizeText(n), from),
				ours:     rateCell(ours, "seconds"), official: rateCell(node, "seconds"),
				oursRSS: rssText(ours), officialRSS: rssText(node), floor: floorAt(n),
			})
		}
	}
	for _, n := range rs.sizes("skipped") {
		if sk := rs.findServer("skipped", n, ""); sk != nil && sk.Reason != "" {
			rows = append(rows, tableRow{workload: fmt.Sprintf("1. initial sync e2e %s, both from the real PowerSync Service: skipped (%s)",
				sizeText(n), strings.ReplaceAll(sk.Reason, "|", "/"))})
		}
	}
	for _, n := range rs.sizes("replay") {
		ours, core := rs.find("replay", n, "", ""), rs.find("sync_apply", n, "", "")
		rows = append(rows,
			tableRow{workload: fmt.Sprintf("2. replay %s vs core", sizeText(n)), ours: rateCell(ours, "seconds"),
				official: rateCell(core, "seconds"), oursRSS: rssText(ours), officialRSS: rssText(core), floor: floorAt(n)},
			tableRow{workload: fmt.Sprintf("3. … download into oplog %s", sizeText(n)), ours: rateCell(ours, "download_s"),
				official: rateCell(core, "download_s")},
			tableRow{workload: fmt.Sprintf("3. … apply at checkpoint_complete %s", sizeText(n)), ours: rateCell(ours, "checkpoint_complete_s"),
				official: rateCell(core, "checkpoint_complete_s")},
		)
	}
	for _, n := range rs.sizes("floor_ndjson") {
		ours, core := rs.find("floor_ndjson", n, "", ""), rs.find("plain_ndjson", n, "", "")
		rows = append(rows, tableRow{workload: fmt.Sprintf("   floor: raw NDJSON insert %s (modernc vs C)", sizeText(n)),
			ours: rateCell(ours, "seconds"), official: rateCell(core, "seconds"), oursRSS: rssText(ours), officialRSS: rssText(core)})
	}
	for _, n := range rs.sizes("floor_ndjson_batch10") {
		ours := rs.find("floor_ndjson_batch10", n, "", "")
		rows = append(rows, tableRow{workload: fmt.Sprintf("   floor, 10 data lines per commit, %s", sizeText(n)),
			ours: rateCell(ours, "seconds"), oursRSS: rssText(ours), officialRSS: "—"})
	}
	for _, c := range []struct{ ours, label string }{{"checkpoint_1row", "one-row checkpoint"}, {"checkpoint_1000ops", "1000-op checkpoint"}, {"checkpoint_1row_remove", "one-row REMOVE checkpoint"}} {
		for _, n := range rs.sizes(c.ours) {
			ours, core := rs.find(c.ours, n, "", ""), rs.find("core_"+c.ours, n, "", "")
			rows = append(rows, tableRow{workload: fmt.Sprintf("4. %s, %s rows present (median)", c.label, sizeText(n)),
				ours: msCell(ours, "p50_ms"), official: msCell(core, "p50_ms"), oursRSS: rssText(ours), officialRSS: rssText(core)})
		}
	}
	for _, n := range rs.sizes("view_insert_tx") {
		for _, ids := range []string{"seq", "random"} {
			ours := rs.find("view_insert_tx", n, "", ids)
			if ours == nil {
				continue
			}
			var core *record
			if ids == "seq" { // the oracle's view cases use its sequential ids
				core = rs.find("view_executemany", n, "", "")
			}
			rows = append(rows, tableRow{workload: fmt.Sprintf("5. view inserts, 1 tx, %s (%s ids)", sizeText(n), ids),
				ours: rateCell(ours, "seconds"), official: rateCell(core, "seconds"), oursRSS: rssText(ours), officialRSS: rssText(core),
				floor: rateCell(rs.find("plain_insert_tx", n, "", ids), "seconds")})
		}
		if plain := rs.find("plain_insert_tx", n, "", "seq"); plain != nil {
			core := rs.find("plain_executemany", n, "", "")
			rows = append(rows, tableRow{workload: fmt.Sprintf("   floor: plain inserts, 1 tx, %s (modernc vs C)", sizeText(n)),
				ours: rateCell(plain, "seconds"), official: rateCell(core, "seconds"), oursRSS: rssText(plain), officialRSS: rssText(core)})
		}
	}
	for _, n := range rs.sizes("view_insert_single") {
		ours := rs.find("view_insert_single", n, "", "")
		core := rs.find("core_view_insert_single", n, "", "")
		officialRSS := "—"
		if core != nil {
			officialRSS = rssText(core)
		}
		rows = append(rows, tableRow{workload: fmt.Sprintf("5. view inserts, 1 row per tx, %s (vs core)", sizeText(n)),
			ours: rateCell(ours, "seconds"), official: rateCell(core, "seconds"), oursRSS: rssText(ours), officialRSS: officialRSS,
			floor: rateCell(rs.find("plain_insert_single", n, "", ""), "seconds")})
	}
	for _, n := range rs.sizes("upload_drain") {
		ours := rs.find("upload_drain", n, "", "")
		rows = append(rows, tableRow{workload: fmt.Sprintf("6. upload queue drain, %s entries (entries/s)", sizeText(n)),
			ours: rateCell(ours, "seconds"), oursRSS: rssText(ours), officialRSS: "—"})
	}
	for _, c := range []struct{ name, label string }{
		{"watch_idle", "7. watch latency idle"}, {"watch_under_sync", "7. watch latency during sync"},
		{"reads_idle", "8. PK read idle"}, {"reads_under_sync", "8. PK read during sync"},
	} {
		for _, n := range rs.sizes(c.name) {
			ours := rs.find(c.name, n, "", "")
			what := ""
			if strings.HasSuffix(c.name, "under_sync") {
				what = " of " + sizeText(n)
			}
			for _, f := range []string{"p50_ms", "p99_ms", "max_ms"} {
				rows = append(rows, tableRow{workload: fmt.Sprintf("%s%s, %s", c.label, what, strings.TrimSuffix(f, "_ms")),
					ours: msCell(ours, f), oursRSS: rssText(ours), officialRSS: "—"})
			}
		}
	}
	return rows
}

var tableHeader = []string{"workload", "ours", "official", "ours/official", "our RSS", "official RSS", "floor", "ours/floor"}

// writeMarkdown prints rows as a Markdown table.
func writeMarkdown(w io.Writer, header []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	seps := make([]string, len(header))
	for k := range seps {
		seps[k] = "---"
		if k > 0 {
			seps[k] = "---:"
		}
	}
	fmt.Fprintf(w, "| %s |\n", strings.Join(seps, " | "))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

// goal is one target of the benchmark issue checked against the records.
type goal struct {
	text   string
	status string // "met", "MISSED" or "not measured"
	detail string
}

func check(ok, measured bool) string {
	switch {
	case !measured:
		return "not measured"
	case ok:
		return "met"
	}
	return "MISSED"
}

// mainSize is the row count the goals and the short table are read at:
// 100k when it was run, else the largest size below 1M (else the largest).
func (rs results) mainSize() int {
	sizes := rs.sizes("replay")
	if len(sizes) == 0 {
		sizes = rs.sizes("sync_e2e")
	}
	if slices.Contains(sizes, 100_000) || len(sizes) == 0 {
		return 100_000
	}
	best := sizes[len(sizes)-1]
	for _, s := range sizes {
		if s < 1_000_000 {
			best = s
		}
	}
	return best
}

// times writes a speed-up, or "—" when a side was not run.
func times(sp float64, ok bool) string {
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f×", sp)
}

// goals evaluates the targets of the benchmark issues: the initial sync and
// the replay at every size run, the checkpoints at the largest size, the
// local writes, the watch latency and the real service at the main size.
// A target whose case did not run is "not measured".
func goals(rs results) []goal {
	var out []goal
	n := rs.mainSize()
	at := sizeText(n)
	e2eSizes := rs.sizes("sync_e2e")
	if len(e2eSizes) == 0 {
		e2eSizes = []int{n}
	}
	for _, m := range e2eSizes {
		ours, node, srv := rs.e2ePair(m)
		if ours == nil && m != n {
			continue // a real-service-only size
		}
		sp, ok := speedup(rateCell(ours, "seconds"), rateCell(node, "seconds"))
		out = append(out, goal{"initial sync ≥ 2× the Node SDK's rows/s (" + sizeText(m) + ", both from " + srv + ")", check(sp >= 2, ok), times(sp, ok)})
		or, ok1 := ours.get("max_rss_mb")
		nr, ok2 := node.get("max_rss_mb")
		out = append(out, goal{"initial sync peak RSS ≤ ⅓ of the Node SDK's (" + sizeText(m) + ")", check(or*3 <= nr, ok1 && ok2), fmt.Sprintf("%.0f MB vs %.0f MB", or, nr)})
	}
	replaySizes := rs.sizes("replay")
	if len(replaySizes) == 0 {
		replaySizes = []int{n}
	}
	for _, m := range replaySizes {
		rp := rs.find("replay", m, "", "")
		sp, ok := speedup(rateCell(rp, "seconds"), rateCell(rs.find("sync_apply", m, "", ""), "seconds"))
		out = append(out, goal{"replay ≥ 1.5× the core's rows/s (" + sizeText(m) + ")", check(sp >= 1.5, ok), times(sp, ok)})
	}
	rp := rs.find("replay", n, "", "")
	sp, ok := speedup(rateCell(rp, "seconds"), rateCell(rs.find("floor_ndjson", n, "", ""), "seconds"))
	out = append(out, goal{"replay within 2× of the raw-insert floor (" + at + ")", check(sp >= 0.5, ok), fmt.Sprintf("%.2f× the floor's rate", sp)})
	out = append(out, rs.realServiceGoal())

	// Checkpoints: absolute bound, then faster than the core.
	var cp *record
	present := 0
	if s := rs.sizes("checkpoint_1row"); len(s) > 0 {
		present = s[len(s)-1]
		cp = rs.find("checkpoint_1row", present, "", "")
	}
	v, ok := cp.get("p50_ms")
	out = append(out, goal{"one-row checkpoint with 500k rows present < 5 ms", check(v < 5, ok && present >= 500_000),
		fmt.Sprintf("%.2f ms median at %s rows", v, sizeText(present))})
	for _, c := range []struct{ name, label string }{
		{"checkpoint_1row", "one-row checkpoint"}, {"checkpoint_1000ops", "1000-op checkpoint"}, {"checkpoint_1row_remove", "one-row REMOVE checkpoint"},
	} {
		sp, ok := speedup(msCell(rs.find(c.name, present, "", ""), "p50_ms"), msCell(rs.find("core_"+c.name, present, "", ""), "p50_ms"))
		out = append(out, goal{c.label + " faster than the core (" + sizeText(present) + " rows present)", check(sp >= 1, ok && present >= 500_000), times(sp, ok)})
	}

	// Local writes.
	sp, ok = speedup(rateCell(rs.find("view_insert_tx", n, "", "seq"), "seconds"), rateCell(rs.find("view_executemany", n, "", ""), "seconds"))
	out = append(out, goal{"view inserts in one transaction ≥ 1.0× the core (" + at + ")", check(sp >= 1, ok), times(sp, ok)})
	single := 0
	if s := rs.sizes("view_insert_single"); len(s) > 0 {
		single = s[len(s)-1]
	}
	sp, ok = speedup(rateCell(rs.find("view_insert_single", single, "", ""), "seconds"), rateCell(rs.find("core_view_insert_single", single, "", ""), "seconds"))
	out = append(out, goal{"single-row transactions ≥ 1.0× the core (" + sizeText(single) + ")", check(sp >= 1, ok && single > 0), times(sp, ok)})

	// Watches during a large sync.
	w := rs.find("watch_under_sync", n, "", "")
	p99, ok := w.get("p99_ms")
	mx, _ := w.get("max_ms")
	out = append(out, goal{"watch latency p99 < 100 ms while " + at + " rows sync", check(p99 < 100, ok), fmt.Sprintf("p99 %.0f ms, max %.0f ms", p99, mx)})

	if s := rs.sizes("sync_e2e"); len(s) > 0 && s[len(s)-1] > n {
		ours, _, _ := rs.e2ePair(n)
		big := rs.find("sync_e2e", s[len(s)-1], "pstest", "")
		a, ok1 := ours.get("max_rss_mb")
		b, ok2 := big.get("max_rss_mb")
		out = append(out, goal{fmt.Sprintf("peak RSS flat from %s to %s rows (≤ 1.25×)", at, sizeText(s[len(s)-1])), check(b <= 1.25*a, ok1 && ok2), fmt.Sprintf("%.0f MB → %.0f MB", a, b)})
	} else {
		out = append(out, goal{"peak RSS flat from 100k to 1M rows", "not measured", "run with --big"})
	}
	return out
}

// shortRows is the summary quoted by the top-level README: one line per
// headline comparison at the main size.
func shortRows(rs results) [][]string {
	n := rs.mainSize()
	at := sizeText(n)
	var out [][]string
	add := func(what string, ours, off cell, oursRSS, offRSS string) {
		if !ours.ok {
			return
		}
		out = append(out, []string{what, ours.String(), off.String(), ratioText(ours, off), oursRSS, offRSS})
	}
	e2e, node, srv := rs.e2ePair(n)
	add("initial sync, "+at+" rows, loopback HTTP from "+srv+" (vs Node SDK)", rateCell(e2e, "seconds"), rateCell(node, "seconds"), rssText(e2e), rssText(node))
	rp, core := rs.find("replay", n, "", ""), rs.find("sync_apply", n, "", "")
	add("apply "+at+" synced rows, no network (vs Rust core)", rateCell(rp, "seconds"), rateCell(core, "seconds"), rssText(rp), rssText(core))
	if s := rs.sizes("checkpoint_1row"); len(s) > 0 {
		m := s[len(s)-1]
		add(fmt.Sprintf("one-row checkpoint, %s rows present", sizeText(m)), msCell(rs.find("checkpoint_1row", m, "", ""), "p50_ms"),
			msCell(rs.find("core_checkpoint_1row", m, "", ""), "p50_ms"), "", "")
	}
	v := rs.find("view_insert_tx", n, "", "seq")
	add(at+" inserts through a view, 1 tx (vs core)", rateCell(v, "seconds"), rateCell(rs.find("view_executemany", n, "", ""), "seconds"), rssText(v), rssText(rs.find("view_executemany", n, "", "")))
	return out
}

// printTable prints the full table, the goals and the short table for the
// results below dir.
func printTable(w io.Writer, dir string) error {
	rs, err := readResults(dir)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("no results below %s", dir)
	}
	var cells [][]string
	for _, r := range buildRows(rs) {
		cells = append(cells, r.cells())
	}
	fmt.Fprintln(w, "Medians over repetitions. ours/official and ours/floor: how many times better we are (rows/s: ours ÷ theirs; ms: theirs ÷ ours).")
	fmt.Fprintln(w)
	writeMarkdown(w, tableHeader, cells)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Goals:")
	fmt.Fprintln(w)
	var gs [][]string
	for _, g := range goals(rs) {
		gs = append(gs, []string{g.text, g.status, g.detail})
	}
	writeMarkdown(w, []string{"goal", "status", "measured"}, gs)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Short table:")
	fmt.Fprintln(w)
	writeMarkdown(w, []string{"workload", "powersync-go", "official", "ratio", "our RSS", "official RSS"}, shortRows(rs))
	return nil
}

// realServiceGoal says whether both clients were measured syncing from the
// real PowerSync Service (at the largest size run there), or why not.
func (rs results) realServiceGoal() goal {
	n := 0
	for k := range rs {
		if (k.Case == "sync_e2e" && k.Server == "realservice") || k.Case == "skipped" {
			n = max(n, k.N)
		}
	}
	g := goal{text: "initial sync of " + sizeText(n) + " rows from the real PowerSync Service, ours and the Node SDK's", status: "not measured"}
	ours, node := rs.findServer("sync_e2e", n, "realservice"), rs.findServer("node_sdk_initial_sync", n, "realservice")
	switch sk := rs.findServer("skipped", n, ""); {
	case n == 0:
		g.text, g.detail = "initial sync from the real PowerSync Service, ours and the Node SDK's", "not run (--no-real)"
	case ours != nil && node != nil:
		sp, _ := speedup(rateCell(ours, "seconds"), rateCell(node, "seconds"))
		g.status, g.detail = "met", fmt.Sprintf("measured: %.2f× (a report, not a target)", sp)
	case sk != nil && sk.Reason != "":
		g.detail = "skipped: " + strings.ReplaceAll(sk.Reason, "|", "/")
	default:
		g.detail = "the Node SDK was not run (--no-node)"
	}
	return g
}
