package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/table.golden")

// The Go generator writes the oracle's gen_checkpoint.py stream byte for
// byte (recorded: python3 gen_checkpoint.py 5 2).
func TestGenMatchesOracleGenerator(t *testing.T) {
	want, err := os.ReadFile("testdata/gen_checkpoint_5_2.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := newIDs("seq")
	var got bytes.Buffer
	if err := writeStream(&got, 5, 2, ids); err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("stream differs from gen_checkpoint.py:\ngot:\n%s\nwant:\n%s", got.String(), want)
	}
}

func TestRandomIDsAreRepeatableUUIDs(t *testing.T) {
	a, _ := newIDs("random")
	b, _ := newIDs("random")
	seen := map[string]bool{}
	for range 1000 {
		x, y := a(), b()
		if x != y {
			t.Fatalf("two sequences differ: %s vs %s", x, y)
		}
		if len(x) != 36 || x[14] != '4' || !strings.ContainsRune("89ab", rune(x[19])) {
			t.Fatalf("%s is not a version 4 UUID", x)
		}
		if seen[x] {
			t.Fatalf("duplicate id %s", x)
		}
		seen[x] = true
	}
	if _, err := newIDs("nope"); err == nil {
		t.Error("unknown id kind accepted")
	}
}

// The generated stream and incremental checkpoints have valid checksums:
// our state machine applies every checkpoint of them.
func TestStreamAndDiffsApply(t *testing.T) {
	dir := t.TempDir()
	for _, ids := range []string{"seq", "random"} {
		t.Run(ids, func(t *testing.T) {
			src, _ := newIDs(ids)
			stream := filepath.Join(dir, ids+".ndjson")
			diffs := filepath.Join(dir, ids+"-diffs.ndjson")
			var s, d bytes.Buffer
			if err := writeStream(&s, 120, 50, src); err != nil {
				t.Fatal(err)
			}
			src, _ = newIDs(ids)
			if err := writeDiffs(&d, 120, 3, 1, 2, src); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(stream, s.Bytes(), 0o644)
			os.WriteFile(diffs, d.Bytes(), 0o644)
			o := caseOptions{n: 120, ids: ids, stream: stream, diffs: diffs, dir: filepath.Join(dir, ids)}
			res, err := caseCheckpoint(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 3 || res[0]["case"] != "checkpoint_1row" || res[0]["samples"] != 3 || res[1]["samples"] != 1 || res[2]["samples"] != 2 || res[0]["n"] != 120 {
				t.Errorf("results %v", res)
			}
		})
	}
}

// Every workload runs and prints one JSON line per result with the fields
// the table reads.
func TestCasesPrintResults(t *testing.T) {
	dir := t.TempDir()
	src, _ := newIDs("random")
	var s bytes.Buffer
	if err := writeStream(&s, 300, 100, src); err != nil {
		t.Fatal(err)
	}
	stream := filepath.Join(dir, "s.ndjson")
	os.WriteFile(stream, s.Bytes(), 0o644)
	tests := []struct {
		name  string
		cases []string
	}{
		{"replay", []string{"replay"}},
		{"floor_ndjson", []string{"floor_ndjson"}},
		{"view_insert_tx", []string{"view_insert_tx"}},
		{"plain_insert_single", []string{"plain_insert_single"}},
		{"upload_drain", []string{"upload_drain"}},
		{"reads", []string{"reads_idle", "reads_under_sync"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o := caseOptions{n: 300, ids: "random", stream: stream, dir: filepath.Join(dir, tc.name), samples: 5}
			if err := runCase(context.Background(), tc.name, o, &out); err != nil {
				t.Fatal(err)
			}
			raw := map[groupKey][]map[string]any{}
			if err := parseResults(&out, raw); err != nil {
				t.Fatal(err)
			}
			rs := medians(raw)
			for _, c := range tc.cases {
				n := 300
				if strings.HasSuffix(c, "_idle") {
					n = 1000
				}
				r := rs.find(c, n, "", "random")
				if r == nil {
					t.Fatalf("no %s result with n=%d in %s", c, n, out.String())
				}
				if _, ok := r.get("max_rss_mb"); !ok {
					t.Errorf("%s: no max_rss_mb", c)
				}
			}
		})
	}
}

// The oracle's recorded outputs parse into medians equal to its own summary.
func TestParseOracleOutputs(t *testing.T) {
	rs, err := readResults("testdata/recorded")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		c     string
		field string
		want  float64
		reps  int
	}{
		{"sync_apply", "seconds", 0.86, 7},
		{"sync_apply", "download_s", 0.568, 7},
		{"sync_apply", "max_rss_mb", 61, 7},
		{"view_executemany", "seconds", 1.443, 7},
		{"plain_ndjson", "seconds", 0.257, 7},
		{"node_sdk_initial_sync", "seconds", 1.24, 7},
		{"node_sdk_initial_sync", "max_rss_mb", 203, 7},
	}
	for _, tc := range tests {
		r := rs.find(tc.c, 100_000, "", "")
		got, ok := r.get(tc.field)
		if !ok || got != tc.want || r.Reps != tc.reps {
			t.Errorf("%s %s: median %v (reps %d), want %v (reps %d)", tc.c, tc.field, got, r.Reps, tc.want, tc.reps)
		}
	}
}

func TestCellFormatting(t *testing.T) {
	tests := []struct {
		c    cell
		want string
	}{
		{cell{81645, true, "rate"}, "81.6k/s"},
		{cell{1_250_000, true, "rate"}, "1.25M/s"},
		{cell{950, true, "rate"}, "950/s"},
		{cell{0.316, true, "ms"}, "0.32 ms"},
		{cell{12.34, true, "ms"}, "12.3 ms"},
		{cell{339.2, true, "ms"}, "339 ms"},
		{cell{}, "—"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
	if got := ratioText(cell{2, true, "rate"}, cell{1, true, "rate"}); got != "2.00×" {
		t.Errorf("rate ratio %s", got)
	}
	if got := ratioText(cell{1, true, "ms"}, cell{3, true, "ms"}); got != "3.00×" {
		t.Errorf("latency ratio %s (lower ms is better)", got)
	}
}

// The table of a recorded small run (bench/run --reps 1 --n 20000
// --checkpoint-n 20000) is stable.
func TestTableGolden(t *testing.T) {
	var out bytes.Buffer
	if err := printTable(&out, "testdata/run"); err != nil {
		t.Fatal(err)
	}
	if *update {
		os.WriteFile("testdata/table.golden", out.Bytes(), 0o644)
	}
	want, err := os.ReadFile("testdata/table.golden")
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("table differs from testdata/table.golden (-update to accept):\n%s", out.String())
	}
	for _, s := range []string{"| 2. replay 20k vs core |", "one-row checkpoint with 500k rows present < 5 ms | not measured"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("table lacks %q", s)
		}
	}
}

// TestE2EPairSameServer: the initial-sync comparison and its goal put our
// sync and the Node SDK's side by side from the same server: pstest when the
// Node SDK was run against it, else the oracle's fake_service.py.
func TestE2EPairSameServer(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ours.out", `{"case":"sync_e2e","n":1000,"seconds":1,"rows_per_s":1000,"max_rss_mb":50,"server":"pstest"}
{"case":"sync_e2e","n":1000,"seconds":0.5,"rows_per_s":2000,"max_rss_mb":50,"server":"fake_service"}
`)
	write("node-bench.out", `{"case": "node_sdk_initial_sync", "n": 1000, "seconds": 2, "rows_per_s": 500, "max_rss_mb": 200}
`)
	rs, err := readResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	ours, node, srv := rs.e2ePair(1000)
	if srv != "fake_service" || ours == nil || node == nil || ours.Server != "fake_service" {
		t.Fatalf("without a Node run against pstest: got %q, ours %+v, node %+v", srv, ours, node)
	}
	write("node-pstest.out", `{"case": "node_sdk_initial_sync", "n": 1000, "seconds": 1.25, "rows_per_s": 800, "max_rss_mb": 210, "server": "pstest"}
`)
	if rs, err = readResults(dir); err != nil {
		t.Fatal(err)
	}
	ours, node, srv = rs.e2ePair(1000)
	if srv != "pstest" || ours.Server != "pstest" || node.Server != "pstest" {
		t.Fatalf("with a Node run against pstest: got %q, ours %+v, node %+v", srv, ours, node)
	}
	var rows []string
	for _, r := range buildRows(rs) {
		if strings.HasPrefix(r.workload, "1.") {
			rows = append(rows, r.workload+" | "+ratioText(r.ours, r.official))
		}
	}
	want := []string{"1. initial sync e2e 1k, both from pstest (vs Node SDK) | 1.25×",
		"1. initial sync e2e 1k, both from fake_service (vs Node SDK) | 4.00×"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
}

// The real service's rows: measured from both clients, or skipped with the
// reason bench/run wrote.
func TestRealServiceRows(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	workloads := func() []string {
		t.Helper()
		rs, err := readResults(dir)
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, r := range buildRows(rs) {
			rows = append(rows, r.workload+" | "+ratioText(r.ours, r.official))
		}
		for _, g := range goals(rs) {
			if strings.Contains(g.text, "real PowerSync Service") {
				rows = append(rows, g.status+": "+g.detail)
			}
		}
		return rows
	}
	write("skipped.out", `{"case":"skipped","workload":"real_service","n":1000,"reason":"the service did not start: no PostgreSQL | x"}`+"\n")
	want := []string{"1. initial sync e2e 1k, both from the real PowerSync Service: skipped (the service did not start: no PostgreSQL / x) | —",
		"not measured: skipped: the service did not start: no PostgreSQL / x"}
	if got := workloads(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := os.Remove(filepath.Join(dir, "skipped.out")); err != nil {
		t.Fatal(err)
	}
	write("ours.out", `{"case":"sync_e2e","n":1000,"seconds":0.5,"rows_per_s":2000,"max_rss_mb":50,"server":"realservice"}`+"\n")
	write("node.out", `{"case": "node_sdk_initial_sync", "n": 1000, "seconds": 1.5, "rows_per_s": 667, "max_rss_mb": 200, "server": "realservice"}`+"\n")
	want = []string{"1. initial sync e2e 1k, both from the real PowerSync Service (vs Node SDK) | 3.00×",
		"met: measured: 3.00× (a report, not a target)"}
	if got := workloads(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
