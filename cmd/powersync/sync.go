package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/tokencmd"
	"github.com/gopowersync/powersync/schema"
	pssync "github.com/gopowersync/powersync/sync"
)

const syncUsage = `Usage: powersync sync [flags] FILE --endpoint URL (--token T | --token-command CMD)

Connects FILE to a PowerSync Service and keeps it in sync, showing status
lines (connected, downloaded, synced, errors, upload queue) and, on a
terminal, a live progress bar. It runs until Ctrl-C, or with --once until the
first complete sync of this run.

The file is opened with the powersync driver, which writes to it: it creates
the PowerSync tables if needed and applies the schema. The schema comes from
--schema (official schema JSON, as printed by 'powersync schema --json'), or
else is read from FILE itself (see 'powersync schema -h' for what can be
recovered); a new FILE needs --schema.

Local changes in the upload queue are posted to --upload-url as
{"batch": [entries]} with the token (the format of the upload endpoint of
'powersync serve'); without --upload-url they stay queued and downloaded data
waits behind the local-write gate.

--stream subscribes to a sync stream (edition 3 sync configs), with
parameters as a JSON object after a colon; repeat it for more streams. The
service's default (auto-subscribed) streams sync without it. Subscriptions
are stored in FILE and last 24 hours after the command ends.

Errors of the service or the backend are printed with the text they came
with, again after every failed connection or upload attempt. A token the
service rejects or reports expired ends the command with an error, unless
it came from --token-command and an earlier connection succeeded (then the
command is run again for a fresh token).

Examples:
  powersync serve &      # prints an endpoint and a development token
  powersync sync app.db --schema schema.json --endpoint http://127.0.0.1:8080 --token eyJ... --once
  powersync sync app.db --endpoint https://xyz.powersync.journeyapps.com --token-command 'myapp dev-token'
  powersync sync app.db --endpoint http://127.0.0.1:8080 --token-command 'cat token.txt' \
      --upload-url http://127.0.0.1:8080/upload
  powersync sync app.db --endpoint "$POWERSYNC_URL" --token-command 'myapp dev-token' \
      --stream list_todos:'{"list_id":"0b6c…"}' --stream my_lists
`

// syncFlags are the options of the sync command.
type syncFlags struct {
	endpoint, token, tokenCommand, schemaFile, uploadURL, params string
	once                                                         bool
	retryDelay                                                   time.Duration
	streams                                                      streamFlags
}

// streamFlag is one --stream: a stream name and its parameters (nil for
// none).
type streamFlag struct {
	name   string
	params json.RawMessage
}

// streamFlags collects the repeated --stream flag.
type streamFlags []streamFlag

func (s *streamFlags) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, f := range *s {
		parts = append(parts, streamLabel(f.name, f.params))
	}
	return strings.Join(parts, ", ")
}

// Set parses "name" or "name:{json object}".
func (s *streamFlags) Set(v string) error {
	name, params, hasParams := strings.Cut(v, ":")
	name = strings.TrimSpace(name)
	if name == "" {
		return errors.New("want name or name:{\"param\": value}, got an empty stream name")
	}
	f := streamFlag{name: name}
	if hasParams {
		p, err := streamParams(params)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		f.params = p
	}
	*s = append(*s, f)
	return nil
}

// streamParams checks that p is one JSON object and returns it compacted.
func streamParams(p string) (json.RawMessage, error) {
	p = strings.TrimSpace(p)
	if p == "" {
		return nil, errors.New("no parameters after the colon (want a JSON object such as {\"list_id\": \"…\"})")
	}
	if !json.Valid([]byte(p)) {
		var v any
		err := json.Unmarshal([]byte(p), &v)
		return nil, fmt.Errorf("parameters are not valid JSON (%v): %s", err, p)
	}
	if p[0] != '{' {
		return nil, fmt.Errorf("parameters must be a JSON object such as {\"list_id\": \"…\"}, not %s", p)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(p)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func syncCommand() *command {
	c := &command{name: "sync", summary: "connect FILE to a PowerSync Service and sync it", usage: syncUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		var f syncFlags
		fs.StringVar(&f.endpoint, "endpoint", "", "PowerSync Service `URL` (required)")
		fs.StringVar(&f.token, "token", "", "the `JWT` to authenticate with")
		fs.StringVar(&f.tokenCommand, "token-command", "", "a shell `command` printing a token; run for every new token")
		fs.StringVar(&f.schemaFile, "schema", "", "schema JSON `file` to apply (default: the schema read from FILE)")
		fs.StringVar(&f.uploadURL, "upload-url", "", "backend `URL` to POST queued local changes to")
		fs.StringVar(&f.params, "params", "", "client parameters as a JSON `object`")
		fs.Var(&f.streams, "stream", "subscribe to the sync stream `name[:params]`, params a JSON object (repeatable)")
		fs.BoolVar(&f.once, "once", false, "exit after the first complete sync")
		fs.DurationVar(&f.retryDelay, "retry-delay", pssync.DefaultRetryDelay, "wait this long before reconnecting after an error")
		file, code, ok := a.fileArg(c, fs, args)
		if !ok {
			return code
		}
		switch {
		case f.endpoint == "":
			fmt.Fprintln(a.stderr, "powersync sync: --endpoint is required")
			return exitUsage
		case f.token == "" && f.tokenCommand == "":
			fmt.Fprintln(a.stderr, "powersync sync: give --token or --token-command")
			return exitUsage
		case f.token != "" && f.tokenCommand != "":
			fmt.Fprintln(a.stderr, "powersync sync: give either --token or --token-command, not both")
			return exitUsage
		}
		if err := a.sync(ctx, file, f); err != nil {
			return a.fail(c, err)
		}
		return exitOK
	}
	return c
}

// errRejectedToken ends sync when the service does not accept the token.
var errRejectedToken = errors.New("the service rejected the token")

// sync opens file with the powersync driver and syncs it until ctx ends (or
// the first complete sync with f.once).
func (a *app) sync(ctx context.Context, file string, f syncFlags) error {
	s, err := a.syncSchema(ctx, file, f.schemaFile)
	if err != nil {
		return err
	}
	var params map[string]any
	if f.params != "" {
		if err := json.Unmarshal([]byte(f.params), &params); err != nil {
			return fmt.Errorf("--params: not a JSON object: %w", err)
		}
	}
	c, err := driver.NewConnector(file, driver.WithSchema(s))
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}

	creds := &credentialSource{endpoint: f.endpoint, token: f.token, command: f.tokenCommand}
	conn := pssync.ConnectorFuncs{FetchCredentialsFunc: creds.fetch}
	if f.uploadURL != "" {
		up := &uploader{url: f.uploadURL, creds: creds, client: http.DefaultClient}
		conn.UploadDataFunc = up.upload
	}
	opts := []pssync.Option{pssync.WithRetryDelay(f.retryDelay)}
	if params != nil {
		opts = append(opts, pssync.WithParams(params))
	}
	syncer, err := pssync.New(db, conn, opts...)
	if err != nil {
		return fmt.Errorf("start sync: %w", err)
	}
	defer syncer.Close()

	view := newSyncView(a.stdout, a.isTerminal(a.stdout), a.now, f.uploadURL != "")
	view.event("syncing %s with %s", file, f.endpoint)
	for _, sf := range f.streams {
		var params any
		if sf.params != nil {
			params = sf.params
		}
		sub, err := syncer.Subscribe(ctx, sf.name, params)
		if err != nil {
			return fmt.Errorf("subscribe to stream %s: %w", sf.name, err)
		}
		defer sub.Unsubscribe()
		view.event("subscribed to stream %s", streamLabel(sf.name, sf.params))
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runDone := make(chan error, 1)
	var result error
	first := true
	var initialSync time.Time
	connectedOnce := false
	for st := range syncer.Statuses(ctx) {
		// The queue is counted before Run starts on the first status, so
		// that the entries waiting from before this run are reported even
		// when their upload is quick.
		queued, _, qerr := pssync.UploadQueueStats(ctx, db)
		if qerr != nil {
			queued = -1
		}
		if first {
			// Run starts once the loop is subscribed, so that no status
			// (and no error) of the first connection is missed.
			initialSync, first = st.LastSyncedAt, false
			go func() { runDone <- syncer.Run(ctx) }()
		}
		view.update(st, queued)
		if st.Connected {
			connectedOnce = true
		}
		var herr *pssync.HTTPError
		if err := st.DownloadError; errors.As(err, &herr) && herr.Unauthorized() && (f.token != "" || !connectedOnce) {
			result = fmt.Errorf("%w: %v", errRejectedToken, herr)
			break
		}
		if err := st.DownloadError; errors.Is(err, pssync.ErrTokenExpired) && (f.token != "" || !connectedOnce) {
			result = fmt.Errorf("%w: %v", errRejectedToken, err)
			break
		}
		if f.once && st.HasSynced && !st.LastSyncedAt.Equal(initialSync) && !st.Downloading {
			view.event("first complete sync done")
			break
		}
	}
	view.finish()
	cancel()
	if first { // no status at all: ctx ended before the loop began
		runDone <- nil
	}
	if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) && result == nil {
		result = err
	}
	if result == nil && !f.once {
		fmt.Fprintln(view.w, "stopped")
	}
	return result
}

// syncSchema loads the schema to open file with: from schemaFile, or read
// from the file itself.
func (a *app) syncSchema(ctx context.Context, file, schemaFile string) (*schema.Schema, error) {
	if schemaFile != "" {
		b, err := os.ReadFile(schemaFile)
		if err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		s, err := schema.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", schemaFile, err)
		}
		return s, nil
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: give --schema to create it", file)
	}
	d, err := openInspect(ctx, file)
	if err != nil {
		return nil, err
	}
	res, err := d.readSchema(ctx)
	d.Close()
	if err != nil {
		return nil, err
	}
	for _, n := range res.Notes {
		fmt.Fprintf(a.stderr, "note: %s\n", n)
	}
	return &res.Schema, nil
}

// credentialSource hands out the endpoint and a token: the fixed one, or
// the output of the token command, run for every fetch.
type credentialSource struct {
	endpoint, token, command string
}

func (c *credentialSource) fetch(ctx context.Context) (*pssync.Credentials, error) {
	if c.command == "" {
		return &pssync.Credentials{Endpoint: c.endpoint, Token: c.token}, nil
	}
	tok, err := tokencmd.Run(ctx, c.command)
	if err != nil {
		return nil, err
	}
	return &pssync.Credentials{Endpoint: c.endpoint, Token: tok}, nil
}

// uploader posts queued local changes to a backend URL, one transaction at a
// time, as {"batch": [entries]}.
type uploader struct {
	url   string
	creds interface {
		fetch(context.Context) (*pssync.Credentials, error)
	}
	client *http.Client
}

func (u *uploader) upload(ctx context.Context, db *sql.DB) error {
	for tx, err := range pssync.CrudTransactions(ctx, db) {
		if err != nil {
			return err
		}
		if err := u.post(ctx, tx.Entries); err != nil {
			return err
		}
		if err := tx.Complete(ctx); err != nil {
			return err
		}
	}
	return nil
}

// post sends one transaction's entries; they marshal in the SDKs' CrudEntry
// JSON (see [pssync.CrudEntry.MarshalJSON]).
func (u *uploader) post(ctx context.Context, batch []pssync.CrudEntry) error {
	body, err := json.Marshal(map[string]any{"batch": batch})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	cr, err := u.creds.fetch(ctx) // runs the token command again, if any
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+cr.Token)
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return &pssync.HTTPError{Op: "POST " + u.url, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return nil
}
