package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

const statusUsage = `Usage: powersync status [--json] FILE

Shows the sync state stored in FILE: when each priority last completed a
sync, the buckets and what is downloaded but not applied yet, the upload
queue, and the local-write gate that holds back downloaded data while local
writes are not yet acknowledged by the service (a "write checkpoint").

The file is opened read-only and is not changed, so it is safe to run while
an app has the database open.

Examples:
  powersync status app.db
  powersync status --json app.db | jq .local_write_gate
`

// statusReport is everything status prints.
type statusReport struct {
	File          string `json:"file"`
	LayoutVersion int    `json:"layout_version"`
	ClientID      string `json:"client_id"`
	// HasSynced is true once a complete sync finished.
	HasSynced    bool             `json:"has_synced"`
	LastSyncedAt *time.Time       `json:"last_synced_at"`
	Priorities   []priorityStatus `json:"priority_status"`
	Download     downloadStatus   `json:"download"`
	UploadQueue  crudSummary      `json:"upload_queue"`
	Gate         gateStatus       `json:"local_write_gate"`
	Tables       []tableStatus    `json:"tables"`
	Untyped      []typeCount      `json:"untyped_rows"`
	// RowsToRecheck counts ps_updated_rows: rows the next complete sync
	// re-evaluates (local writes, removals).
	RowsToRecheck int64 `json:"rows_to_recheck"`
	// RejectedUploads counts upload entries set aside after the backend
	// rejected them (see the crud command).
	RejectedUploads int64        `json:"rejected_uploads"`
	Streams         []streamInfo `json:"streams"`
	// Attachments summarises the attachments table of package attachments,
	// when the file has one.
	Attachments *attachmentSummary `json:"attachments,omitempty"`
}

// downloadStatus summarises the buckets.
type downloadStatus struct {
	Buckets int64 `json:"buckets"`
	// StoredOps is the number of operations in ps_oplog.
	StoredOps int64 `json:"stored_ops"`
	// DownloadedBytes is the total size of received sync lines.
	DownloadedBytes int64 `json:"downloaded_bytes"`
	// SinceLastCheckpoint is the number of operations downloaded since the
	// last complete checkpoint (progress of an interrupted or running sync).
	SinceLastCheckpoint int64 `json:"ops_since_last_checkpoint"`
	// UnappliedBuckets have operations beyond their last applied op.
	UnappliedBuckets []string `json:"unapplied_buckets"`
}

// tableStatus is one schema table with its row count.
type tableStatus struct {
	Name string `json:"name"`
	View string `json:"view"`
	Kind string `json:"kind"` // synced, local-only, insert-only
	Rows int64  `json:"rows"`
}

func statusCommand() *command {
	c := &command{name: "status", summary: "show the sync state: last sync, buckets, upload queue, write gate", usage: statusUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		asJSON := fs.Bool("json", false, "print JSON instead of text")
		d, code, ok := a.openFileArg(ctx, c, fs, args)
		if !ok {
			return code
		}
		defer d.Close()
		r, err := d.readStatus(ctx)
		if err != nil {
			return a.fail(c, err)
		}
		if *asJSON {
			return a.writeJSON(c, r)
		}
		printStatus(a.stdout, r, a.now())
		return exitOK
	}
	return c
}

// readStatus gathers the status report.
func (d *inspectDB) readStatus(ctx context.Context) (*statusReport, error) {
	r := &statusReport{File: d.path, LayoutVersion: d.version}
	var err error
	if r.ClientID, err = d.kvText(ctx, "client_id"); err != nil {
		return nil, err
	}
	if r.Priorities, err = d.readSyncState(ctx); err != nil {
		return nil, err
	}
	r.Priorities = nonNil(r.Priorities)
	for _, p := range r.Priorities {
		if p.Priority == fullSyncPriority {
			r.HasSynced = true
			t := p.LastSyncedAt
			r.LastSyncedAt = &t
		}
	}
	buckets, err := d.readBuckets(ctx)
	if err != nil {
		return nil, err
	}
	r.Download.UnappliedBuckets = []string{}
	for _, b := range buckets {
		r.Download.Buckets++
		r.Download.StoredOps += b.StoredOps
		r.Download.DownloadedBytes += b.DownloadedSize
		r.Download.SinceLastCheckpoint += b.CountSinceLast
		if b.unapplied() {
			r.Download.UnappliedBuckets = append(r.Download.UnappliedBuckets, b.Name)
		}
	}
	if r.UploadQueue, _, err = d.readCrud(ctx, -1); err != nil {
		return nil, err
	}
	if r.Gate, err = d.readGate(ctx, r.UploadQueue.Entries); err != nil {
		return nil, err
	}
	sch, err := d.readSchema(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := d.readDataTables(ctx)
	if err != nil {
		return nil, err
	}
	rowsOf := map[string]int64{}
	for _, dt := range counts {
		rowsOf[fmt.Sprintf("%s/%t", dt.Name, dt.LocalOnly)] = dt.Rows
	}
	r.Tables = []tableStatus{}
	for i := range sch.Schema.Tables {
		t := &sch.Schema.Tables[i]
		ts := tableStatus{Name: t.Name, View: t.ViewName(), Kind: "synced", Rows: rowsOf[fmt.Sprintf("%s/%t", t.Name, t.LocalOnly)]}
		switch {
		case t.LocalOnly:
			ts.Kind = "local-only"
		case t.InsertOnly:
			ts.Kind = "insert-only"
		}
		r.Tables = append(r.Tables, ts)
	}
	if r.Untyped, err = d.readUntyped(ctx); err != nil {
		return nil, err
	}
	r.Untyped = nonNil(r.Untyped)
	if d.tables["ps_updated_rows"] {
		if r.RowsToRecheck, err = d.count(ctx, "SELECT count(*) FROM ps_updated_rows"); err != nil {
			return nil, err
		}
	}
	if d.tables[rejectedTable] {
		if r.RejectedUploads, err = d.count(ctx, "SELECT count(*) FROM "+rejectedTable); err != nil {
			return nil, err
		}
	}
	if r.Streams, err = d.readStreams(ctx); err != nil {
		return nil, err
	}
	r.Streams = nonNil(r.Streams)
	if d.tables["ps_data_local__attachments"] {
		rows, err := d.readAttachments(ctx, "attachments")
		if err != nil {
			return nil, err
		}
		r.Attachments = summarize("attachments", rows)
	}
	return r, nil
}

// statusLabelWidth aligns the values of status lines.
const statusLabelWidth = 18

func printStatus(w io.Writer, r *statusReport, now time.Time) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-*s %s\n", statusLabelWidth, label+":", fmt.Sprintf(format, args...))
	}
	sub := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-*s %s\n", statusLabelWidth-2, label+":", fmt.Sprintf(format, args...))
	}
	line("File", "%s", r.File)
	layout := fmt.Sprintf("version %d", r.LayoutVersion)
	switch {
	case r.LayoutVersion == 14:
		layout += " (PowerSync core 0.5.x)"
	case r.LayoutVersion < 14:
		layout += " (older SDK; the write gate is the $local bucket)"
	default:
		layout += " (newer than this tool knows)"
	}
	line("Layout", "%s", layout)
	line("Client ID", "%s", orText(r.ClientID, "(none)"))
	fmt.Fprintln(w)

	// Sync state.
	switch {
	case r.HasSynced:
		line("Last synced", "%s (complete sync)", timeText(*r.LastSyncedAt, now))
	case len(r.Priorities) > 0:
		line("Last synced", "never completely")
	default:
		line("Last synced", "never")
	}
	for _, p := range r.Priorities {
		if p.Priority != fullSyncPriority {
			label := "Priority 0"
			if p.Priority > 0 {
				label = fmt.Sprintf("Priorities 0-%d", p.Priority)
			}
			sub(label, "synced %s", timeText(p.LastSyncedAt, now))
		}
	}

	// Buckets and download.
	dl := r.Download
	line("Buckets", "%d (%s stored, %s downloaded)", dl.Buckets, plural(dl.StoredOps, "operation", "operations"), formatBytes(dl.DownloadedBytes))
	switch {
	case len(dl.UnappliedBuckets) > 0:
		why := "the checkpoint is not complete yet (sync interrupted or in progress)"
		if !r.Gate.Open {
			why = "held back by the local-write gate"
		}
		sub("Not applied", "%s with downloaded operations: %s", plural(int64(len(dl.UnappliedBuckets)), "bucket", "buckets"), why)
		sub("Buckets", "%s", strings.Join(dl.UnappliedBuckets, ", "))
	case dl.Buckets > 0:
		sub("Download", "all downloaded operations are applied")
	}
	if dl.SinceLastCheckpoint > 0 {
		sub("Progress", "%s downloaded since the last complete checkpoint", plural(dl.SinceLastCheckpoint, "operation", "operations"))
	}

	// Upload queue and gate.
	uq := r.UploadQueue
	if uq.Entries == 0 {
		line("Upload queue", "empty")
	} else {
		line("Upload queue", "%s, op ids %d..%d", uq.headline(), uq.FirstID, uq.LastID)
		sub("By table", "%s", uq.typeBreakdown())
	}
	if r.RejectedUploads > 0 {
		sub("Set aside", "%s rejected by the backend (see 'powersync crud')", plural(r.RejectedUploads, "entry", "entries"))
	}
	if r.Gate.Open {
		line("Local-write gate", "open (%s)", r.Gate.Reason)
	} else {
		line("Local-write gate", "closed, %s", r.Gate.Reason)
	}

	// Data.
	fmt.Fprintln(w)
	var synced, local, insertOnly, rows int64
	for _, t := range r.Tables {
		switch t.Kind {
		case "local-only":
			local++
		case "insert-only":
			insertOnly++
		default:
			synced++
		}
		rows += t.Rows
	}
	line("Tables", "%d (%d synced, %d local-only, %d insert-only), %s", len(r.Tables), synced, local, insertOnly, plural(rows, "row", "rows"))
	for _, t := range r.Tables {
		name := t.Name
		if t.View != t.Name {
			name = fmt.Sprintf("%s (view %s)", t.Name, t.View)
		}
		kind := ""
		if t.Kind != "synced" {
			kind = ", " + t.Kind
		}
		fmt.Fprintf(w, "  %s: %s%s\n", name, plural(t.Rows, "row", "rows"), kind)
	}
	if len(r.Untyped) > 0 {
		var n int64
		var parts []string
		for _, u := range r.Untyped {
			n += u.Rows
			parts = append(parts, fmt.Sprintf("%s: %d", u.Type, u.Rows))
		}
		line("Untyped rows", "%d (%s): synced rows of types that are not synced tables in the schema", n, strings.Join(parts, ", "))
	}
	if r.Attachments != nil {
		line("Attachments", "%s (see 'powersync attachments')", r.Attachments.headline())
	}
	if r.RowsToRecheck > 0 {
		line("Rows to recheck", "%d: local writes or removals the next complete sync re-evaluates", r.RowsToRecheck)
	}

	// Streams.
	if len(r.Streams) > 0 {
		fmt.Fprintln(w)
		line("Streams", "%s", plural(int64(len(r.Streams)), "subscription", "subscriptions"))
		for _, s := range r.Streams {
			fmt.Fprintf(w, "  %s\n", streamText(s, now))
		}
	}
}

// streamText is one line describing a stream subscription.
func streamText(s streamInfo, now time.Time) string {
	var b strings.Builder
	b.WriteString(s.Name)
	if s.Parameters != "" && s.Parameters != "null" {
		b.WriteString(" " + string(s.Parameters))
	}
	var attrs []string
	if s.Active {
		attrs = append(attrs, "active")
	} else {
		attrs = append(attrs, "inactive")
	}
	if s.IsDefault {
		attrs = append(attrs, "default")
	}
	if s.Explicit {
		a := fmt.Sprintf("subscribed (ttl %s", durationText(time.Duration(*s.TTLSeconds)*time.Second))
		if s.ExpiresAt != nil {
			verb := ", expires "
			if s.ExpiresAt.Before(now) {
				verb = ", expired "
			}
			a += verb + timeText(*s.ExpiresAt, now)
		}
		attrs = append(attrs, a+")")
	}
	if s.LocalPriority != nil {
		attrs = append(attrs, fmt.Sprintf("priority %d", *s.LocalPriority))
	}
	if s.LastSyncedAt != nil {
		attrs = append(attrs, "synced "+timeText(*s.LastSyncedAt, now))
	} else {
		attrs = append(attrs, "never synced")
	}
	b.WriteString(": " + strings.Join(attrs, ", "))
	return b.String()
}

// timeText is "2026-01-02 15:04:05 UTC, 3 minutes ago".
func timeText(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC") + ", " + relative(t, now)
}

// relative is "3 minutes ago" or "in 2 hours".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, ""
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = plural(int64(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		s = plural(int64(d/time.Hour), "hour", "hours")
	default:
		s = plural(int64(d/(24*time.Hour)), "day", "days")
	}
	if suffix == "" {
		return "in " + s
	}
	return s + suffix
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// durationText is "1h", "90m", "45s": a duration without zero parts.
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
