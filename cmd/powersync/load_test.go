package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/schema"
	"github.com/gopowersync/powersync/sync/pstest"
)

// loadTestConfig is a run against srv with n clients. Its bounds (settle,
// drain) are generous: tests assert counts, never times.
func loadTestConfig(t testing.TB, srv *pstest.Server, n int) loadConfig {
	t.Helper()
	s, err := schema.Parse(defaultLoadSchema)
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig{
		clients: n, ramp: time.Second, duration: 2 * time.Second,
		settle: 3 * time.Minute, drain: 2 * time.Minute, writesPerMin: 120,
		schema: s, markerTable: "lists", dir: t.TempDir(), retryDelay: 200 * time.Millisecond,
	}
	if srv != nil {
		cfg.endpoint, cfg.uploadURL = srv.URL, srv.URL+"/upload"
		cfg.token = func(_ context.Context, user string) (string, error) { return srv.Token(user), nil }
	}
	return cfg
}

// testClients is the number of clients of a load test: n, or a third of
// it under the race detector (see raceEnabled).
func testClients(n int) int {
	if raceEnabled {
		return n / 3
	}
	return n
}

// checkNoLeak fails t if the goroutines started since before are still
// running once the deadline passes.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines after the run, %d before:\n%s", runtime.NumGoroutine(), before, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkReport checks what every scenario must show.
func checkReport(t *testing.T, rep *loadReport, clients int) {
	t.Helper()
	if rep.InitialSync.Count < int64(clients) {
		t.Errorf("initial syncs: %d, want at least %d", rep.InitialSync.Count, clients)
	}
	if rep.NotSynced != 0 {
		t.Errorf("%d clients without a first sync at the end", rep.NotSynced)
	}
	checkReportMarkers(t, rep)
	if rep.Upload.Count < int64(rep.MarkersWritten) {
		t.Errorf("uploads %d < markers %d", rep.Upload.Count, rep.MarkersWritten)
	}
	if rep.Tool.IdleClients == 0 || rep.Tool.PeakRSS == 0 {
		t.Errorf("tool figures missing: %+v", rep.Tool)
	}
}

// checkReportMarkers checks that every marker reached every client.
func checkReportMarkers(t *testing.T, rep *loadReport) {
	t.Helper()
	if rep.MarkersWritten == 0 {
		t.Errorf("no markers written")
	}
	// A marker written while every other client was disconnected (in a
	// storm) has nobody to reach; every other one must reach everyone.
	if rep.MarkersOpen != 0 || rep.MarkersComplete+rep.MarkersUnmeasured != rep.MarkersWritten || rep.MarkersComplete == 0 {
		t.Errorf("markers: %d written, %d complete, %d open, %d unmeasured", rep.MarkersWritten, rep.MarkersComplete, rep.MarkersOpen, rep.MarkersUnmeasured)
	}
	if rep.FanOut.Count != int64(rep.MarkersComplete) {
		t.Errorf("fan-out samples %d, markers complete %d", rep.FanOut.Count, rep.MarkersComplete)
	}
}

func TestLoadSteadyFanOut(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	before := runtime.NumGoroutine()
	n := testClients(200)
	cfg := loadTestConfig(t, srv, n)
	rep, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, n)
	if rep.ConnectedPeak != int64(n) || rep.ConnectedAtEnd != int64(n) {
		t.Errorf("connected peak %d, at end %d, want %d", rep.ConnectedPeak, rep.ConnectedAtEnd, n)
	}
	// Every client but the writer receives every marker.
	if want := int64(rep.MarkersWritten * (n - 1)); rep.Delivery.Count != want {
		t.Errorf("deliveries %d, want %d", rep.Delivery.Count, want)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if rep.Reconnects != 0 {
		t.Errorf("reconnects %d", rep.Reconnects)
	}
	checkNoLeak(t, before)
	// The server holds every marker row, uploaded by the clients.
	if got := len(srv.Uploads()); got != rep.MarkersWritten {
		t.Errorf("server got %d uploads, want %d", got, rep.MarkersWritten)
	}
}

func TestLoadStorm(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	before := runtime.NumGoroutine()
	n := testClients(200)
	cfg := loadTestConfig(t, srv, n)
	cfg.scenario = scenarioStorm
	var events []string
	cfg.event = func(format string, args ...any) { events = append(events, fmt.Sprintf(format, args...)) }
	rep, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, n)
	if rep.StormResync == nil || rep.StormResync.Count != int64(n) {
		t.Errorf("storm resyncs: %+v, want %d", rep.StormResync, n)
	}
	if rep.ConnectedAtEnd != int64(n) {
		t.Errorf("connected at end %d, want %d", rep.ConnectedAtEnd, n)
	}
	if rep.Reconnects != 0 {
		t.Errorf("reconnects %d: the storm's own must not count", rep.Reconnects)
	}
	if !strings.Contains(strings.Join(events, "\n"), fmt.Sprintf("storm: reconnecting all %d clients", n)) {
		t.Errorf("events: %q", events)
	}
	checkNoLeak(t, before)
}

func TestLoadChurn(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	before := runtime.NumGoroutine()
	n := testClients(150)
	cfg := loadTestConfig(t, srv, n)
	cfg.scenario = scenarioChurn
	cfg.churnRate = 25 // about 50 clients replaced in 2 s
	rep, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, n)
	if rep.ClientsStarted <= int64(n) {
		t.Errorf("clients started %d, want more than %d", rep.ClientsStarted, n)
	}
	if rep.ConnectedAtEnd != int64(n) {
		t.Errorf("connected at end %d, want %d", rep.ConnectedAtEnd, n)
	}
	checkNoLeak(t, before)
}

func TestLoadRejectedToken(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	before := runtime.NumGoroutine()
	cfg := loadTestConfig(t, srv, 5)
	cfg.token = func(context.Context, string) (string, error) { return "not-a-token", nil }
	rep, err := runLoad(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("err = %v, want a rejected token", err)
	}
	if rep == nil || rep.Errors["download: HTTP 401 PSYNC_S2101"] == 0 && len(rep.Errors) == 0 {
		t.Errorf("report errors: %+v", rep)
	}
	checkNoLeak(t, before)
}

func TestLoadCommand(t *testing.T) {
	srv := pstest.NewServer(pstest.WithSecret([]byte("devsecret")))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"load", "--endpoint", srv.URL, "--jwt-secret", "devsecret",
		"--upload-url", srv.URL + "/upload", "--clients", "20", "--ramp", "200ms", "--duration", "1s",
		"--writes-per-min", "240", "--json", "--dir", t.TempDir()}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	// stdout is the report alone; the live lines went to stderr.
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	if !strings.Contains(errOut.String(), "ramp: starting 20 clients") {
		t.Errorf("stderr: %s", errOut.String())
	}
	if rep.Clients != 20 || rep.InitialSync.Count != 20 || rep.MarkersWritten == 0 {
		t.Errorf("report: %+v", rep)
	}
}

func TestLoadCommandText(t *testing.T) {
	srv := pstest.NewServer(pstest.WithSecret([]byte("devsecret")))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"load", "--endpoint", srv.URL, "--jwt-secret", "devsecret",
		"--upload-url", srv.URL + "/upload", "--clients", "10", "--ramp", "100ms", "--duration", "1s",
		"--writes-per-min", "240", "--scenario", "storm"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{
		"ramp: starting 10 clients over 100ms",
		"all 10 clients connected and synced",
		"storm: reconnecting all 10 clients at once",
		"load report: " + srv.URL + ", scenario storm, 10 clients of 10 users",
		"  initial sync   p50 ",
		"  fan-out        p50 ",
		"  storm resync   p50 ",
		"  errors ",
		"  per client     ",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clients", "5", "--jwt-secret", "x"}, "--endpoint is required"},
		{[]string{"--endpoint", "http://x", "--jwt-secret", "x"}, "--clients must be a positive number"},
		{[]string{"--endpoint", "http://x", "--clients", "5"}, "give --jwt-secret"},
		{[]string{"--endpoint", "http://x", "--clients", "5", "--token", "a", "--jwt-secret", "b"}, "only one of"},
		{[]string{"--endpoint", "http://x", "--clients", "5", "--token", "a", "--scenario", "flood"}, "--scenario must be"},
		{[]string{"--endpoint", "http://x", "--clients", "5", "--token", "a", "--writes-per-min", "10"}, "needs --upload-url"},
		{[]string{"--endpoint", "http://x", "--clients", "5", "--token", "a", "--users", "6"}, "--users must be"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), append([]string{"load"}, tc.args...), &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q, want %d and %q", code, errOut.String(), exitUsage, tc.want)
			}
		})
	}
}

func TestLoadSourceWrites(t *testing.T) {
	srv := pstest.NewServer()
	defer srv.Close()
	before := runtime.NumGoroutine()
	n := testClients(100)
	cfg := loadTestConfig(t, srv, n)
	cfg.uploadURL = ""
	cfg.sourceWrite = func(_ context.Context, table, id string, cols map[string]any) error {
		return srv.SetRow(table, id, cols)
	}
	rep, err := runLoad(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkReportMarkers(t, rep)
	// No client wrote: every client receives every marker, and nothing
	// was uploaded.
	if want := int64(rep.MarkersWritten * n); rep.Delivery.Count != want {
		t.Errorf("deliveries %d, want %d", rep.Delivery.Count, want)
	}
	if rep.Upload.Count != 0 || len(srv.Uploads()) != 0 {
		t.Errorf("uploads: %d timed, %d at the server", rep.Upload.Count, len(srv.Uploads()))
	}
	checkNoLeak(t, before)
}

// --source-command gets each marker as an SQL INSERT on its standard
// input, with values quoted as SQL literals.
func TestLoadSourceCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sql")
	w := commandMarkerWriter("cat >> " + out)
	if err := w(t.Context(), "lists", "m-1", map[string]any{"name": "it's", "n": 3}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := `INSERT INTO "lists" (id, "n", "name") VALUES ('m-1', 3, 'it''s');` + "\n"; string(got) != want {
		t.Errorf("statement %q, want %q", got, want)
	}
	err = commandMarkerWriter("echo no such table >&2; exit 3")(t.Context(), "lists", "m-2", nil)
	if err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Errorf("failing command: %v, want its output in the error", err)
	}
}
