package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// jsonText is stored JSON text: it marshals verbatim when it is valid JSON
// and as a JSON string otherwise.
type jsonText string

// MarshalJSON implements json.Marshaler.
func (j jsonText) MarshalJSON() ([]byte, error) {
	if j != "" && json.Valid([]byte(j)) {
		return []byte(j), nil
	}
	if j == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(j))
}

// crudEntry is one ps_crud row, with its data JSON taken apart.
type crudEntry struct {
	OpID     int64           `json:"op_id"`
	TxID     *int64          `json:"tx_id"`
	Op       string          `json:"op"`
	Type     string          `json:"type"`
	ID       string          `json:"id"`
	Data     json.RawMessage `json:"data,omitempty"`
	Old      json.RawMessage `json:"old,omitempty"`
	Metadata *string         `json:"metadata,omitempty"`
	Size     int64           `json:"size"`
	// Raw holds the stored text when it is not a valid CRUD JSON object.
	Raw   string `json:"raw,omitempty"`
	Error string `json:"error,omitempty"`
}

// parseCrudData fills e from the ps_crud.data text.
func (e *crudEntry) parseCrudData(text string) {
	var v struct {
		Op       string          `json:"op"`
		Type     string          `json:"type"`
		ID       string          `json:"id"`
		Data     json.RawMessage `json:"data"`
		Old      json.RawMessage `json:"old"`
		Metadata *string         `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		e.Raw, e.Error = text, "invalid CRUD JSON: "+err.Error()
		return
	}
	e.Op, e.Type, e.ID, e.Metadata = v.Op, v.Type, v.ID, v.Metadata
	if len(v.Data) > 0 && string(v.Data) != "null" {
		e.Data = v.Data
	}
	if len(v.Old) > 0 && string(v.Old) != "null" {
		e.Old = v.Old
	}
}

// crudTransaction is a run of consecutive entries with the same tx_id, the
// unit the SDKs hand to the app (getNextCrudTransaction).
type crudTransaction struct {
	TxID    *int64       `json:"tx_id"`
	Entries []*crudEntry `json:"entries"`
}

// crudSummary describes the whole upload queue.
type crudSummary struct {
	Entries      int64 `json:"entry_count"`
	Transactions int64 `json:"transaction_count"`
	// Bytes is the total size of the entries' JSON text.
	Bytes int64 `json:"bytes"`
	// FirstID and LastID are the lowest and highest ps_crud ids.
	FirstID int64 `json:"first_op_id,omitempty"`
	LastID  int64 `json:"last_op_id,omitempty"`
	// ByType counts entries per table and operation.
	ByType map[string]map[string]int64 `json:"by_type"`
}

// rejectedTable holds upload queue entries the app set aside (package sync
// of this module; not part of the official layout).
const rejectedTable = "powersync_go_rejected_crud"

// rejectedEntry is an entry set aside because the backend rejected it.
type rejectedEntry struct {
	*crudEntry
	Reason     string    `json:"reason"`
	RejectedAt time.Time `json:"rejected_at"`
}

// readRejected reads the set-aside entries, oldest first (none when the
// table does not exist).
func (d *inspectDB) readRejected(ctx context.Context) ([]rejectedEntry, error) {
	if !d.tables[rejectedTable] {
		return nil, nil
	}
	rows, err := d.conn.QueryContext(ctx, "SELECT id, tx_id, data, ifnull(octet_length(data), 0), reason, rejected_at FROM "+rejectedTable+" ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", rejectedTable, err)
	}
	defer rows.Close()
	var out []rejectedEntry
	for rows.Next() {
		e := rejectedEntry{crudEntry: &crudEntry{}}
		var tx sql.NullInt64
		var data string
		var at int64
		if err := rows.Scan(&e.OpID, &tx, &data, &e.Size, &e.Reason, &at); err != nil {
			return nil, fmt.Errorf("read %s: %w", rejectedTable, err)
		}
		if tx.Valid {
			e.TxID = &tx.Int64
		}
		e.parseCrudData(data)
		e.RejectedAt = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// readCrud reads the whole upload queue in order. It keeps the first limit
// entries (all when limit is 0, none when limit < 0).
func (d *inspectDB) readCrud(ctx context.Context, limit int) (crudSummary, []*crudTransaction, error) {
	s := crudSummary{ByType: map[string]map[string]int64{}}
	rows, err := d.conn.QueryContext(ctx, "SELECT id, tx_id, data, ifnull(octet_length(data), 0) FROM ps_crud ORDER BY id")
	if err != nil {
		return s, nil, fmt.Errorf("read ps_crud: %w", err)
	}
	defer rows.Close()
	var txs []*crudTransaction
	var prevTx sql.NullInt64
	for rows.Next() {
		e := &crudEntry{}
		var tx sql.NullInt64
		var data sql.NullString
		if err := rows.Scan(&e.OpID, &tx, &data, &e.Size); err != nil {
			return s, nil, fmt.Errorf("read ps_crud: %w", err)
		}
		if tx.Valid {
			e.TxID = &tx.Int64
		}
		e.parseCrudData(data.String)
		// Entries without a tx_id are each a transaction of their own.
		newTx := s.Entries == 0 || !tx.Valid || !prevTx.Valid || tx.Int64 != prevTx.Int64
		prevTx = tx
		if s.Entries == 0 {
			s.FirstID = e.OpID
		}
		s.Entries++
		s.LastID = e.OpID
		s.Bytes += e.Size
		if newTx {
			s.Transactions++
		}
		typ := e.Type
		if e.Error != "" {
			typ, e.Op = "(invalid)", "?"
		}
		if s.ByType[typ] == nil {
			s.ByType[typ] = map[string]int64{}
		}
		s.ByType[typ][e.Op]++
		if limit < 0 || (limit > 0 && s.Entries > int64(limit)) {
			continue
		}
		if newTx {
			txs = append(txs, &crudTransaction{TxID: e.TxID})
		}
		t := txs[len(txs)-1]
		t.Entries = append(t.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return s, nil, fmt.Errorf("read ps_crud: %w", err)
	}
	return s, txs, nil
}

// headline is "4 entries in 3 transactions (412 B)" or "empty".
func (s crudSummary) headline() string {
	if s.Entries == 0 {
		return "empty"
	}
	return fmt.Sprintf("%s in %s (%s)", plural(s.Entries, "entry", "entries"),
		plural(s.Transactions, "transaction", "transactions"), formatBytes(s.Bytes))
}

// typeBreakdown is "lists 3 (2 PUT, 1 PATCH), logs 1 (PUT)".
func (s crudSummary) typeBreakdown() string {
	types := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		types = append(types, t)
	}
	sort.Strings(types)
	var parts []string
	for _, t := range types {
		ops := s.ByType[t]
		var total int64
		var opParts []string
		for _, op := range []string{"PUT", "PATCH", "DELETE"} {
			if n := ops[op]; n > 0 {
				total += n
				opParts = append(opParts, fmt.Sprintf("%d %s", n, op))
			}
		}
		var other []string
		for op, n := range ops {
			if op != "PUT" && op != "PATCH" && op != "DELETE" {
				other = append(other, fmt.Sprintf("%d %s", n, op))
				total += n
			}
		}
		sort.Strings(other)
		opParts = append(opParts, other...)
		parts = append(parts, fmt.Sprintf("%s %d (%s)", t, total, strings.Join(opParts, ", ")))
	}
	return strings.Join(parts, ", ")
}

const crudUsage = `Usage: powersync crud [--json] [--limit N] FILE

Shows the upload queue (ps_crud) of FILE: the local writes that have not been
uploaded to the backend yet, grouped into transactions the way the SDKs hand
them to the connector (consecutive entries with the same tx_id). Each entry
shows its op id, operation, table/id, the data and, when the table tracks
them, the previous values ("old") and metadata. Entries the app set aside
because the backend rejected them (package sync of this module) are listed
after the queue.

The file is opened read-only and is not changed.

Examples:
  powersync crud app.db
  powersync crud --limit 0 app.db          # all entries
  powersync crud --json app.db | jq '.transactions[0].entries'
`

func crudCommand() *command {
	c := &command{name: "crud", summary: "show the upload queue, grouped by transaction", usage: crudUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		asJSON := fs.Bool("json", false, "print JSON instead of text")
		limit := fs.Int("limit", 100, "show at most `N` entries (0: all); the totals always cover the whole queue")
		file, code, ok := a.fileArg(c, fs, args)
		if !ok {
			return code
		}
		if *limit < 0 {
			fmt.Fprintf(a.stderr, "powersync crud: --limit must be >= 0\n")
			return exitUsage
		}
		d, err := openInspect(ctx, file)
		if err != nil {
			return a.fail(c, err)
		}
		defer d.Close()
		s, txs, err := d.readCrud(ctx, *limit)
		if err != nil {
			return a.fail(c, err)
		}
		rejected, err := d.readRejected(ctx)
		if err != nil {
			return a.fail(c, err)
		}
		if *asJSON {
			return a.writeJSON(c, struct {
				File string `json:"file"`
				crudSummary
				Truncated    bool               `json:"truncated"`
				Transactions []*crudTransaction `json:"transactions"`
				Rejected     []rejectedEntry    `json:"rejected"`
			}{file, s, *limit > 0 && s.Entries > int64(*limit), nonNil(txs), nonNil(rejected)})
		}
		printCrud(a.stdout, s, txs, *limit)
		printRejected(a.stdout, rejected)
		return exitOK
	}
	return c
}

// nonNil turns a nil slice into an empty one, for "[]" in JSON.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// maxDataText is the longest data text printed per entry in text mode.
const maxDataText = 160

func printCrud(w io.Writer, s crudSummary, txs []*crudTransaction, limit int) {
	fmt.Fprintf(w, "Upload queue: %s\n", s.headline())
	if s.Entries == 0 {
		return
	}
	fmt.Fprintf(w, "By table: %s\n", s.typeBreakdown())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	truncated := false
	for _, t := range txs {
		fmt.Fprintln(tw)
		tx := "without tx_id"
		if t.TxID != nil {
			tx = fmt.Sprintf("%d", *t.TxID)
		}
		fmt.Fprintf(tw, "Transaction %s (%s)\n", tx, plural(int64(len(t.Entries)), "entry", "entries"))
		for _, e := range t.Entries {
			if e.Error != "" {
				fmt.Fprintf(tw, "  #%d\t?\t\t%s\n", e.OpID, e.Error)
				continue
			}
			var extra []string
			if len(e.Data) > 0 {
				txt, cut := shorten(string(e.Data), maxDataText)
				truncated = truncated || cut
				extra = append(extra, txt)
			}
			if len(e.Old) > 0 {
				txt, cut := shorten(string(e.Old), maxDataText)
				truncated = truncated || cut
				extra = append(extra, "old: "+txt)
			}
			if e.Metadata != nil {
				m, _ := json.Marshal(*e.Metadata)
				extra = append(extra, "metadata: "+string(m))
			}
			fmt.Fprintf(tw, "  #%d\t%s\t%s/%s\t%s\n", e.OpID, e.Op, e.Type, e.ID, strings.Join(extra, "  "))
		}
	}
	tw.Flush()
	if limit > 0 && s.Entries > int64(limit) {
		fmt.Fprintf(w, "\n... %s not shown (use --limit 0 to show all)\n", plural(s.Entries-int64(limit), "more entry", "more entries"))
	}
	if truncated {
		fmt.Fprintf(w, "\n(long values are shortened; use --json for the full data)\n")
	}
}

// printRejected lists the set-aside entries.
func printRejected(w io.Writer, rejected []rejectedEntry) {
	if len(rejected) == 0 {
		return
	}
	fmt.Fprintf(w, "\nSet aside (rejected by the backend, no longer uploaded): %s\n", plural(int64(len(rejected)), "entry", "entries"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, e := range rejected {
		fmt.Fprintf(tw, "  #%d\t%s\t%s/%s\t%s\treason: %s\n", e.OpID, e.Op, e.Type, e.ID, e.RejectedAt.Format(time.RFC3339), e.Reason)
	}
	tw.Flush()
}

// shorten cuts s to at most n runes, marking the cut with "…".
func shorten(s string, n int) (string, bool) {
	r := []rune(s)
	if len(r) <= n {
		return s, false
	}
	return string(r[:n-1]) + "…", true
}

// writeJSON prints v as indented JSON.
func (a *app) writeJSON(c *command, v any) int {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return a.fail(c, err)
	}
	return exitOK
}
