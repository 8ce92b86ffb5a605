package main

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopowersync/powersync/internal/tokencmd"
	"github.com/gopowersync/powersync/schema"
	"github.com/gopowersync/powersync/sync/pstest"
)

const loadUsage = `Usage: powersync load --endpoint URL --clients N [flags]

Runs N complete PowerSync clients in this process against a PowerSync
Service and measures what the service does under them. Each client has its
own SQLite database (a file in a temporary directory, removed at the end),
its own Syncer applying every checkpoint, and uploads its local writes
through --upload-url, followed by write checkpoints, as an app would. All
clients share one HTTP transport.

A run has phases, each bounded in time, and then stops by itself:
  ramp     the clients start evenly spread over --ramp
  settle   until every client has completed its first sync (at most --settle)
  steady   --duration of the scenario:
             steady  clients stay connected; markers are written
             storm   as steady, and halfway every client disconnects and all
                     reconnect at once, as after a deploy of the service
             churn   as steady, and clients leave and new ones (with empty
                     databases) join at --churn-rate per second
  drain    until the last markers reached every client (at most --drain)

Markers measure fan-out: --writes-per-min times a minute (over all clients,
not per client) a random connected client inserts a row with a new uuid into
--marker-table (setting its "name" and "created_at" columns when the table
has them). The row goes up through --upload-url, the backend writes it to
the source database, the service replicates it, and every other client that
was connected and synced when it was written applies it; each client
watches the table and records when the row arrives. Fan-out is the time
from the local write until the last of those clients had it; delivery is
the time until each one had it. The marker table must sync to every client
(for example a global bucket). With --source-command the markers are
inserted straight into the source database (the table of the same name) and every
client is expected to get them: the fan-out of the service alone, without
the upload path. Without either, nothing is written.

Tokens: --jwt-secret (or --jwt-secret-b64url) signs an HS256 token per
user, with --jwt-kid and --jwt-aud as the service's client_auth expects;
--token-command runs a shell command for a token, with {user} replaced by
the user id (tokens are reused per user for 5 minutes unless the service
rejects one); --token gives every client the same token. Clients are users
load-user-0 … load-user-(M-1), round robin (--users, default one per
client).

What is printed: a line per phase (on stderr with --json) and, every second on a terminal (every 5
seconds otherwise), the connected clients, markers, fan-out so far, errors,
and this process's CPU and memory; at the end a report (or --json): the
distributions of initial sync, fan-out, delivery, upload round trips and
(storm) resync times, as p50/p95/p99/max; errors by kind; reconnects the
clients made on their own; and the tool's CPU use and resident memory per
connected client, so that a limit of this machine can be told from one of
the service. Exit status: 0 when the run completed and at least one client
synced, 1 otherwise (the report is still printed), 2 bad command line.

Examples:
  powersync serve --secret devsecret &
  powersync load --endpoint http://127.0.0.1:8080 --jwt-secret devsecret \
      --upload-url http://127.0.0.1:8080/upload --clients 500 --duration 1m

  S=ps-service.sh; $S start /tmp/ps1; eval "$($S env /tmp/ps1)"
  powersync load --endpoint "$PSSERVICE_URL" --clients 2000 --ramp 20s \
      --jwt-secret-b64url "$PSSERVICE_JWT_SECRET_B64URL" \
      --jwt-kid "$PSSERVICE_JWT_KID" --jwt-aud "$PSSERVICE_JWT_AUD" \
      --upload-url http://127.0.0.1:6060/api/data --scenario storm --json
`

// defaultLoadSchema is the lists/todos schema of the PowerSync demo apps.
//
//go:embed testdata/load-schema.json
var defaultLoadSchema []byte

// loadFlags are the options of the load command.
type loadFlags struct {
	endpoint, token, tokenCommand, jwtSecret, jwtSecretB64, jwtKid, jwtAud string
	schemaFile, markerTable, uploadURL, sourceCmd, scenario, dir           string
	clients, users, cacheKiB                                               int
	ramp, duration, settle, drain, retryDelay, tokenTTL                    time.Duration
	writesPerMin, churnRate                                                float64
	jsonOut, bson, gzip                                                    bool
}

func loadCommand() *command {
	c := &command{name: "load", summary: "simulate many clients against a PowerSync Service", usage: loadUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		var f loadFlags
		fs.StringVar(&f.endpoint, "endpoint", "", "PowerSync Service `URL` (required)")
		fs.IntVar(&f.clients, "clients", 0, "`number` of clients (required)")
		fs.IntVar(&f.users, "users", 0, "`number` of distinct users the clients are spread over (default: one per client)")
		fs.DurationVar(&f.ramp, "ramp", 10*time.Second, "start the clients evenly over this `duration`")
		fs.DurationVar(&f.duration, "duration", time.Minute, "`duration` of the steady state after every client synced")
		fs.DurationVar(&f.settle, "settle", defaultLoadSettle, "wait at most this `duration` for every client's first sync")
		fs.DurationVar(&f.drain, "drain", defaultLoadDrain, "wait at most this `duration` for the last markers at the end")
		fs.Float64Var(&f.writesPerMin, "writes-per-min", 60, "marker `writes` per minute over all clients (needs --upload-url)")
		fs.StringVar(&f.scenario, "scenario", scenarioSteady, "steady, storm or churn")
		fs.Float64Var(&f.churnRate, "churn-rate", 0, "churn: clients replaced per `second` (default clients/60)")
		fs.StringVar(&f.schemaFile, "schema", "", "schema JSON `file` of the clients (default: the demo lists/todos schema)")
		fs.StringVar(&f.markerTable, "marker-table", "lists", "`table` markers are written to")
		fs.StringVar(&f.uploadURL, "upload-url", "", "backend `URL` the clients POST their uploads to")
		fs.StringVar(&f.sourceCmd, "source-command", "", "write markers straight into the source database with this shell `command`, which reads an SQL INSERT on its standard input (e.g. psql \"$DATABASE_URL\" -q), instead of through a client")
		fs.StringVar(&f.token, "token", "", "one `JWT` for every client")
		fs.StringVar(&f.tokenCommand, "token-command", "", "shell `command` printing a token; {user} is replaced by the user id")
		fs.StringVar(&f.jwtSecret, "jwt-secret", "", "HS256 `secret` to sign a token per user with")
		fs.StringVar(&f.jwtSecretB64, "jwt-secret-b64url", "", "the HS256 secret, base64url-encoded (as PSSERVICE_JWT_SECRET_B64URL)")
		fs.StringVar(&f.jwtKid, "jwt-kid", "", "key `id` (kid) of signed tokens")
		fs.StringVar(&f.jwtAud, "jwt-aud", pstest.DefaultAudience, "`audience` (aud) of signed tokens")
		fs.DurationVar(&f.tokenTTL, "token-ttl", time.Hour, "lifetime of signed tokens")
		fs.DurationVar(&f.retryDelay, "retry-delay", time.Second, "clients wait this long before reconnecting after an error (±10 %)")
		fs.IntVar(&f.cacheKiB, "cache-kib", defaultLoadCacheKiB, "SQLite page cache per database connection, in `KiB`")
		fs.StringVar(&f.dir, "dir", "", "keep the client databases in `directory` (default: a temporary one, removed)")
		fs.BoolVar(&f.bson, "bson", false, "ask for the binary (BSON) sync stream")
		fs.BoolVar(&f.gzip, "gzip", true, "accept gzip-compressed responses, as the SDKs do (false saves the ~36 KiB decompressor of each client)")
		fs.BoolVar(&f.jsonOut, "json", false, "print the report as JSON")
		pos, code, ok := a.parseFlags(c, fs, args)
		if !ok {
			return code
		}
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if msg := f.check(pos, set); msg != "" {
			fmt.Fprintf(a.stderr, "powersync load: %s\nRun 'powersync load -h' for usage.\n", msg)
			return exitUsage
		}
		cfg, err := f.config()
		if err != nil {
			return a.fail(c, err)
		}
		rep, err := a.load(ctx, cfg, f.jsonOut)
		if rep == nil {
			return a.fail(c, err)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(a.stderr, "powersync load: %v\n", err)
			return exitError
		}
		if rep.InitialSync.Count == 0 {
			fmt.Fprintln(a.stderr, "powersync load: no client completed a sync")
			return exitError
		}
		return exitOK
	}
	return c
}

// check validates the command line; it returns the problem, or "".
func (f *loadFlags) check(pos []string, set map[string]bool) string {
	tokens := 0
	for _, s := range []string{f.token, f.tokenCommand, f.jwtSecret, f.jwtSecretB64} {
		if s != "" {
			tokens++
		}
	}
	switch {
	case len(pos) > 0:
		return fmt.Sprintf("unexpected argument %q", pos[0])
	case f.endpoint == "":
		return "--endpoint is required"
	case f.clients <= 0:
		return "--clients must be a positive number"
	case f.users < 0 || f.users > f.clients:
		return "--users must be between 1 and --clients"
	case tokens == 0:
		return "give --jwt-secret, --jwt-secret-b64url, --token-command or --token"
	case tokens > 1:
		return "give only one of --jwt-secret, --jwt-secret-b64url, --token-command and --token"
	case f.scenario != scenarioSteady && f.scenario != scenarioStorm && f.scenario != scenarioChurn:
		return fmt.Sprintf("--scenario must be steady, storm or churn, not %q", f.scenario)
	case f.duration <= 0:
		return "--duration must be positive"
	case f.ramp < 0 || f.settle < 0 || f.drain < 0:
		return "durations must not be negative"
	case f.writesPerMin < 0 || f.churnRate < 0:
		return "rates must not be negative"
	case set["writes-per-min"] && f.writesPerMin > 0 && f.uploadURL == "" && f.sourceCmd == "":
		return "--writes-per-min needs --upload-url (markers are uploaded like any local write) or --source-command"
	case set["churn-rate"] && f.scenario != scenarioChurn:
		return "--churn-rate is for --scenario churn"
	}
	return ""
}

// config turns the flags into a run's configuration.
func (f *loadFlags) config() (loadConfig, error) {
	cfg := loadConfig{
		endpoint: f.endpoint, clients: f.clients, users: f.users, ramp: f.ramp, duration: f.duration,
		settle: f.settle, drain: f.drain, writesPerMin: f.writesPerMin, scenario: f.scenario,
		churnRate: f.churnRate, markerTable: f.markerTable, uploadURL: f.uploadURL, dir: f.dir,
		cacheKiB: f.cacheKiB, retryDelay: f.retryDelay, bson: f.bson, noGzip: !f.gzip,
	}
	if f.uploadURL == "" && f.sourceCmd == "" {
		cfg.writesPerMin = 0
	}
	if f.sourceCmd != "" {
		cfg.sourceWrite = commandMarkerWriter(f.sourceCmd)
	}
	raw := defaultLoadSchema
	if f.schemaFile != "" {
		b, err := os.ReadFile(f.schemaFile)
		if err != nil {
			return cfg, fmt.Errorf("read schema: %w", err)
		}
		raw = b
	}
	s, err := schema.Parse(raw)
	if err != nil {
		return cfg, fmt.Errorf("schema %s: %w", f.schemaFile, err)
	}
	cfg.schema = s
	switch {
	case f.token != "":
		cfg.users = 1
		cfg.token = func(context.Context, string) (string, error) { return f.token, nil }
	case f.tokenCommand != "":
		tc := newTokenCommandCache(f.tokenCommand, 5*time.Minute)
		cfg.token, cfg.forgetToken = tc.token, tc.forget
	default:
		secret := []byte(f.jwtSecret)
		if f.jwtSecretB64 != "" {
			secret, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(f.jwtSecretB64, "="))
			if err != nil {
				return cfg, fmt.Errorf("--jwt-secret-b64url: %w", err)
			}
		}
		var aud []string
		if f.jwtAud != "" {
			aud = []string{f.jwtAud}
		}
		ttl := f.tokenTTL
		cfg.token = func(_ context.Context, user string) (string, error) {
			now := time.Now()
			return pstest.MintToken(secret, pstest.Claims{Subject: user, Audience: aud, KeyID: f.jwtKid,
				IssuedAt: now, ExpiresAt: now.Add(ttl)})
		}
	}
	return cfg, nil
}

// commandMarkerWriter inserts markers into the source database by running
// a shell command (psql, mysql, mongosh --eval …) with the INSERT statement
// on its standard input, so that the tool needs no database driver of its
// own. Values are written as SQL literals: numbers as they are, anything
// else as a quoted string.
func commandMarkerWriter(command string) func(ctx context.Context, table, id string, cols map[string]any) error {
	return func(ctx context.Context, table, id string, cols map[string]any) error {
		q := markerInsert(table, id, cols)
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Stdin = strings.NewReader(q + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
			return fmt.Errorf("--source-command: %v: %s", err, msg)
		}
		return nil
	}
}

// markerInsert is the SQL INSERT of one marker row.
func markerInsert(table, id string, cols map[string]any) string {
	names, values := []string{"id"}, []string{sqlLiteral(id)}
	for _, k := range slices.Sorted(maps.Keys(cols)) {
		names, values = append(names, quoteIdent(k)), append(values, sqlLiteral(cols[k]))
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s);", quoteIdent(table), strings.Join(names, ", "), strings.Join(values, ", "))
}

// sqlLiteral writes v as an SQL literal.
func sqlLiteral(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int, int64, float64:
		return fmt.Sprint(v)
	}
	return "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
}

// tokenCommandCache runs a token command per user and reuses its token
// for a while, since a command per connection of thousands of clients
// would load this machine more than the service.
type tokenCommandCache struct {
	command string
	reuse   time.Duration

	mu sync.Mutex // guards m
	m  map[string]cachedToken
}

type cachedToken struct {
	token string
	at    time.Time
}

func newTokenCommandCache(command string, reuse time.Duration) *tokenCommandCache {
	return &tokenCommandCache{command: command, reuse: reuse, m: map[string]cachedToken{}}
}

func (c *tokenCommandCache) token(ctx context.Context, user string) (string, error) {
	c.mu.Lock()
	t, ok := c.m[user]
	c.mu.Unlock()
	if ok && time.Since(t.at) < c.reuse {
		return t.token, nil
	}
	tok, err := tokencmd.Run(ctx, strings.ReplaceAll(c.command, "{user}", user))
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.m[user] = cachedToken{token: tok, at: time.Now()}
	c.mu.Unlock()
	return tok, nil
}

// forget drops user's token, after the service rejected it.
func (c *tokenCommandCache) forget(user string) {
	c.mu.Lock()
	delete(c.m, user)
	c.mu.Unlock()
}

// load runs the load test with live output and prints the report.
func (a *app) load(ctx context.Context, cfg loadConfig, jsonOut bool) (*loadReport, error) {
	// With --json the live lines go to stderr, so that stdout is the
	// report alone.
	live := a.stdout
	if jsonOut {
		live = a.stderr
	}
	tty := a.isTerminal(live)
	view := newSyncView(live, tty, a.now, false)
	var mu sync.Mutex // serialises the view's output
	cfg.event = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		view.event(format, args...)
	}
	every := 5
	if tty {
		every = 1
	}
	ticks := 0
	cfg.tick = time.Second
	cfg.progress = func(s loadSnapshot) {
		if s.usage.at.IsZero() { // a phase change: no line of its own
			return
		}
		ticks++
		if ticks%every != 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		line := progressLine(s)
		if tty {
			view.clearBar()
			view.drawBar(line)
			return
		}
		view.event("%s", line)
	}
	cfg.event("load: %s against %s, scenario %s", plural(int64(cfg.clients), "client", "clients"), cfg.endpoint, cfg.scenario)
	rep, err := runLoad(ctx, cfg)
	mu.Lock()
	view.finish()
	mu.Unlock()
	if rep == nil {
		return nil, err
	}
	if jsonOut {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(rep); werr != nil {
			return rep, werr
		}
		return rep, err
	}
	rep.writeText(a.stdout)
	return rep, err
}

// progressLine renders a snapshot in one line.
func progressLine(s loadSnapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s  connected %d/%d  synced %d", s.phase, s.elapsed.Round(time.Second), s.connected, s.target, s.synced)
	if s.markersWritten > 0 {
		fmt.Fprintf(&b, "  markers %d (%d open)", s.markersWritten, s.markersOpen)
		if s.fanout.Count > 0 {
			fmt.Fprintf(&b, "  fan-out p50 %s max %s", msText(s.fanout.P50), msText(s.fanout.Max))
		}
	}
	fmt.Fprintf(&b, "  errors %d  reconnects %d", s.errors, s.reconnects)
	if s.usage.rss > 0 {
		fmt.Fprintf(&b, "  rss %s", bytesText(float64(s.usage.rss)))
	}
	return b.String()
}

// loadReport is the result of a load run.
type loadReport struct {
	Endpoint        string    `json:"endpoint"`
	Scenario        string    `json:"scenario"`
	Clients         int       `json:"clients"`
	Users           int       `json:"users"`
	WritesPerMinute float64   `json:"writes_per_minute"`
	StartedAt       time.Time `json:"started_at"`
	DurationSeconds float64   `json:"duration_seconds"`

	ClientsStarted int64 `json:"clients_started"` // including churn's new clients
	ConnectedPeak  int64 `json:"connected_peak"`
	ConnectedAtEnd int64 `json:"connected_at_end"`
	NotSynced      int64 `json:"not_synced_at_end"` // running clients without a first sync

	InitialSync    distSummary  `json:"initial_sync"`
	FanOut         distSummary  `json:"fan_out"`
	Delivery       distSummary  `json:"delivery"`
	Upload         distSummary  `json:"upload"`
	StormResync    *distSummary `json:"storm_resync,omitempty"`
	MarkersWritten int          `json:"markers_written"`
	// MarkersComplete reached every client expected to get them.
	MarkersComplete int `json:"markers_complete"`
	// MarkersOpen had not reached every expected client at the end.
	MarkersOpen int `json:"markers_open"`
	// MarkersUnmeasured had no other client to reach: written while the
	// others were disconnected (a storm), or all of their clients left.
	MarkersUnmeasured int `json:"markers_unmeasured,omitempty"`

	Reconnects int64            `json:"reconnects"` // reconnections the clients made on their own
	Errors     map[string]int64 `json:"errors"`

	Tool toolReport `json:"tool"`
}

// toolReport is the load generator's own resource use.
type toolReport struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // of one core, over the run
	BaseRSS    uint64  `json:"base_rss_bytes"`
	PeakRSS    uint64  `json:"peak_rss_bytes"`
	// PeakRSSPerClient is (peak RSS - base RSS) / the most clients
	// running at once.
	PeakRSSPerClient uint64 `json:"peak_rss_per_client_bytes"`
	// The Idle figures are measured after the settle phase, after a
	// garbage collection, over IdleClients running clients (of which
	// IdleConnected were connected).
	IdleClients             int64   `json:"idle_clients"`
	IdleConnected           int64   `json:"idle_connected"`
	IdleRSSPerClient        uint64  `json:"idle_rss_per_client_bytes"`
	IdleGoPerClient         uint64  `json:"idle_go_runtime_per_client_bytes"`
	IdleGoroutinesPerClient float64 `json:"idle_goroutines_per_client"`
	PeakGoroutines          int     `json:"peak_goroutines"`
}

func (r *loadReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "\nload report: %s, scenario %s, %s of %s, %.0fs\n", r.Endpoint, r.Scenario,
		plural(int64(r.Clients), "client", "clients"), plural(int64(r.Users), "user", "users"), r.DurationSeconds)
	fmt.Fprintf(w, "  clients        started %d, connected peak %d, at end %d, without a first sync %d\n",
		r.ClientsStarted, r.ConnectedPeak, r.ConnectedAtEnd, r.NotSynced)
	fmt.Fprintf(w, "  initial sync   %s\n", r.InitialSync)
	if r.MarkersWritten > 0 {
		fmt.Fprintf(w, "  markers        %d written, %d reached every client, %d did not by the end", r.MarkersWritten, r.MarkersComplete, r.MarkersOpen)
		if r.MarkersUnmeasured > 0 {
			fmt.Fprintf(w, ", %d had no other client to reach", r.MarkersUnmeasured)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  fan-out        %s\n", r.FanOut)
		fmt.Fprintf(w, "  delivery       %s\n", r.Delivery)
		fmt.Fprintf(w, "  upload         %s\n", r.Upload)
	} else {
		fmt.Fprintf(w, "  markers        none written (no --upload-url or --writes-per-min 0)\n")
	}
	if r.StormResync != nil {
		fmt.Fprintf(w, "  storm resync   %s\n", *r.StormResync)
	}
	fmt.Fprintf(w, "  reconnects     %d (not counting the storm's)\n", r.Reconnects)
	if len(r.Errors) == 0 {
		fmt.Fprintf(w, "  errors         none\n")
	} else {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		slices.SortFunc(kinds, func(a, b string) int {
			if c := r.Errors[b] - r.Errors[a]; c != 0 {
				return int(c)
			}
			return strings.Compare(a, b)
		})
		fmt.Fprintf(w, "  errors\n")
		for _, k := range kinds {
			fmt.Fprintf(w, "    %6d  %s\n", r.Errors[k], k)
		}
	}
	t := r.Tool
	fmt.Fprintf(w, "  tool           CPU %.1fs (%.0f%% of a core), resident %s peak (%s before the clients)\n",
		t.CPUSeconds, t.CPUPercent, bytesText(float64(t.PeakRSS)), bytesText(float64(t.BaseRSS)))
	if t.IdleClients > 0 {
		fmt.Fprintf(w, "  per client     %s resident when idle (%s Go runtime, %.1f goroutines; %d clients, %d connected), %s at peak\n",
			bytesText(float64(t.IdleRSSPerClient)), bytesText(float64(t.IdleGoPerClient)), t.IdleGoroutinesPerClient,
			t.IdleClients, t.IdleConnected, bytesText(float64(t.PeakRSSPerClient)))
	}
	for k := range r.Errors {
		if strings.Contains(k, "HTTP 429") {
			fmt.Fprintf(w, "  note           the service refused connections with HTTP 429: it limits concurrent sync\n"+
				"                 streams (PowerSync Service: api.parameters.max_concurrent_connections, default 200)\n")
			break
		}
	}
}
