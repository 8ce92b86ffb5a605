package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

const attachmentsUsage = `Usage: powersync attachments [--json] [--table NAME] [--state STATE] FILE

Lists the attachments of FILE: the rows of the local-only attachments table
kept by package attachments (github.com/gopowersync/powersync/attachments),
with their state, size, failed attempts and last error, and whether the
local file is present in the directory beside FILE (FILE-attachments).

States: queued_upload, queued_download, queued_delete, synced, archived.
The file is opened read-only and is not changed.

Examples:
  powersync attachments app.db
  powersync attachments --state queued_upload app.db
  powersync attachments --json app.db | jq '.attachments[] | select(.attempts > 0)'
`

var attachmentStates = []string{"queued_upload", "queued_download", "queued_delete", "synced", "archived"}

// attachmentRow is one attachment as the inspector reads it.
type attachmentRow struct {
	ID          string     `json:"id"`
	State       string     `json:"state"`
	Filename    string     `json:"filename"`
	MediaType   string     `json:"media_type"`
	Size        int64      `json:"size"`
	LocalPath   string     `json:"local_path"`
	LocalFile   bool       `json:"local_file"`
	Hash        string     `json:"content_hash"`
	HasSynced   bool       `json:"has_synced"`
	Attempts    int64      `json:"attempts"`
	RetryAt     *time.Time `json:"retry_at"`
	LastError   string     `json:"last_error"`
	ChangedAt   *time.Time `json:"changed_at"`
	MetaData    string     `json:"meta_data"`
	stateNumber int64
}

// attachmentSummary counts attachments by state, for status.
type attachmentSummary struct {
	Table   string           `json:"table"`
	Total   int64            `json:"total"`
	Bytes   int64            `json:"bytes"`
	ByState map[string]int64 `json:"by_state"`
	Failing int64            `json:"failing"`
}

func attachmentsCommand() *command {
	c := &command{name: "attachments", summary: "list attachments with their states (package attachments)", usage: attachmentsUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		asJSON := fs.Bool("json", false, "print JSON instead of text")
		table := fs.String("table", "attachments", "the attachments table's name")
		state := fs.String("state", "", "only attachments in this state")
		d, code, ok := a.openFileArg(ctx, c, fs, args)
		if !ok {
			return code
		}
		defer d.Close()
		if *state != "" && stateNumber(*state) < 0 {
			fmt.Fprintf(a.stderr, "powersync attachments: unknown state %q (one of %s)\n", *state, strings.Join(attachmentStates, ", "))
			return exitUsage
		}
		rows, err := d.readAttachments(ctx, *table)
		if err != nil {
			return a.fail(c, err)
		}
		sum := summarize(*table, rows)
		if *state != "" {
			var kept []*attachmentRow
			for _, r := range rows {
				if r.State == *state {
					kept = append(kept, r)
				}
			}
			rows = kept
		}
		if *asJSON {
			return a.writeJSON(c, struct {
				File        string             `json:"file"`
				Summary     *attachmentSummary `json:"summary"`
				Attachments []*attachmentRow   `json:"attachments"`
			}{d.path, sum, nonNil(rows)})
		}
		printAttachments(a.stdout, sum, rows, a.now())
		return exitOK
	}
	return c
}

func stateNumber(s string) int {
	for i, n := range attachmentStates {
		if n == s {
			return i
		}
	}
	return -1
}

// errNoAttachments reports a database without the attachments table.
var errNoAttachments = errors.New("no attachments table")

// readAttachments reads the attachments table's storage table
// (ps_data_local__NAME) directly, so that it works whatever the views.
func (d *inspectDB) readAttachments(ctx context.Context, table string) ([]*attachmentRow, error) {
	storage := "ps_data_local__" + table
	if !d.tables[storage] {
		return nil, fmt.Errorf("%w %q in %s (add attachments.Table to the schema)", errNoAttachments, table, d.path)
	}
	q := `SELECT id,
		coalesce(json_extract(data, '$.state'), 0), coalesce(json_extract(data, '$.filename'), ''),
		coalesce(json_extract(data, '$.media_type'), ''), coalesce(json_extract(data, '$.size'), 0),
		coalesce(json_extract(data, '$.local_uri'), ''), coalesce(json_extract(data, '$.content_hash'), ''),
		coalesce(json_extract(data, '$.has_synced'), 0), coalesce(json_extract(data, '$.attempts'), 0),
		coalesce(json_extract(data, '$.retry_at'), 0), coalesce(json_extract(data, '$.last_error'), ''),
		coalesce(json_extract(data, '$.timestamp'), 0), coalesce(json_extract(data, '$.meta_data'), '')
		FROM ` + quoteIdent(storage) + ` ORDER BY json_extract(data, '$.timestamp'), id`
	rows, err := d.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("read attachments: %w", err)
	}
	defer rows.Close()
	dir := d.path + "-attachments"
	var out []*attachmentRow
	for rows.Next() {
		r := &attachmentRow{}
		var synced, retry, ts int64
		if err := rows.Scan(&r.ID, &r.stateNumber, &r.Filename, &r.MediaType, &r.Size, &r.LocalPath, &r.Hash,
			&synced, &r.Attempts, &retry, &r.LastError, &ts, &r.MetaData); err != nil {
			return nil, fmt.Errorf("read attachments: %w", err)
		}
		r.HasSynced = synced != 0
		if r.stateNumber >= 0 && int(r.stateNumber) < len(attachmentStates) {
			r.State = attachmentStates[r.stateNumber]
		} else {
			r.State = fmt.Sprintf("state %d", r.stateNumber)
		}
		if retry > 0 {
			t := time.UnixMilli(retry).UTC()
			r.RetryAt = &t
		}
		if ts > 0 {
			t := time.UnixMilli(ts).UTC()
			r.ChangedAt = &t
		}
		if r.LocalPath != "" && r.LocalPath == filepath.Base(r.LocalPath) {
			_, err := os.Stat(filepath.Join(dir, r.LocalPath))
			r.LocalFile = err == nil
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("read attachments: %w", err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func summarize(table string, rows []*attachmentRow) *attachmentSummary {
	s := &attachmentSummary{Table: table, ByState: map[string]int64{}}
	for _, r := range rows {
		s.Total++
		s.Bytes += r.Size
		s.ByState[r.State]++
		if r.RetryAt != nil && r.stateNumber <= 2 {
			s.Failing++
		}
	}
	return s
}

// headline is "3 attachments, 1.2 MiB: 2 synced, 1 queued_upload".
func (s *attachmentSummary) headline() string {
	var parts []string
	for _, st := range attachmentStates {
		if n := s.ByState[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	h := plural(s.Total, "attachment", "attachments") + ", " + formatBytes(s.Bytes)
	if len(parts) > 0 {
		h += ": " + strings.Join(parts, ", ")
	}
	if s.Failing > 0 {
		h += fmt.Sprintf("; %d waiting to retry after a failure", s.Failing)
	}
	return h
}

func printAttachments(w io.Writer, sum *attachmentSummary, rows []*attachmentRow, now time.Time) {
	fmt.Fprintf(w, "Attachments (table %s): %s\n", sum.Table, sum.headline())
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSIZE\tLOCAL\tFILENAME\tMEDIA TYPE\tATTEMPTS\tLAST ERROR")
	for _, r := range rows {
		local := "-"
		if r.LocalFile {
			local = "yes"
		} else if r.LocalPath != "" {
			local = "missing"
		}
		attempts := "-"
		if r.Attempts > 0 {
			attempts = fmt.Sprint(r.Attempts)
			if r.RetryAt != nil {
				attempts += ", retry " + timeText(*r.RetryAt, now)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.State, formatBytes(r.Size), local,
			orText(r.Filename, "-"), orText(r.MediaType, "-"), attempts, orText(oneLine(r.LastError, 60), "-"))
	}
	tw.Flush()
}

// oneLine shortens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
