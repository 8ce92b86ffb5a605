package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gopowersync/powersync/schema"
)

// Entry is one uploaded change, as a client's connector posts it
// (pssync.HTTPConnector, the official SDKs' CrudEntry.toJson):
//
//	{"op_id": 1, "op": "PUT", "type": "todos", "id": "…", "tx_id": 1, "data": {…}}
type Entry struct {
	OpID     int64                      `json:"op_id"`
	TxID     int64                      `json:"tx_id,omitempty"`
	Op       string                     `json:"op"`
	Type     string                     `json:"type"`
	ID       string                     `json:"id"`
	Data     map[string]json.RawMessage `json:"data,omitempty"`
	Old      map[string]json.RawMessage `json:"old,omitempty"`
	Metadata string                     `json:"metadata,omitempty"`
}

// UploadRequest is the body of POST /api/data.
type UploadRequest struct {
	// ClientID is the client's PowerSync client id, sent by connectors that
	// want a custom write checkpoint. This backend does not create any, so
	// it only logs it.
	ClientID string  `json:"client_id,omitempty"`
	Batch    []Entry `json:"batch"`
}

// RejectError is a change the backend can never apply: an unknown table,
// column or operation, or data Postgres refuses (a constraint or a value of
// the wrong type). Retrying cannot help, so the client should set the
// change aside.
type RejectError struct {
	// Entry is the change refused, or nil when Postgres refused the
	// transaction as a whole at COMMIT (a deferred constraint).
	Entry *Entry
	Err   error
}

// Error implements error.
func (e *RejectError) Error() string {
	if e.Entry == nil {
		return fmt.Sprintf("batch refused at commit: %v", e.Err)
	}
	return fmt.Sprintf("%s %s %q (op_id %d): %v", e.Entry.Op, e.Entry.Type, e.Entry.ID, e.Entry.OpID, e.Err)
}

// Unwrap returns the cause.
func (e *RejectError) Unwrap() error { return e.Err }

// Backend applies upload batches to Postgres. Table and column names are
// checked against an allow-list made from the client schema before any SQL
// is built; values only ever travel as query parameters.
type Backend struct {
	db     *sql.DB
	tables map[string]map[string]bool // table -> its uploadable columns
	log    *slog.Logger
}

// NewBackend returns a backend writing to db that accepts the synced
// tables of s and their columns (local-only tables are never uploaded).
func NewBackend(db *sql.DB, s *schema.Schema, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{db: db, tables: map[string]map[string]bool{}, log: log}
	for _, t := range s.Tables {
		if t.LocalOnly {
			continue
		}
		cols := map[string]bool{}
		for _, c := range t.Columns {
			cols[c.Name] = true
		}
		b.tables[t.Name] = cols
	}
	return b
}

// maxAttempts is how often Apply runs a batch's transaction when Postgres
// aborts it with a serialization failure or a deadlock.
const maxAttempts = 3

// Apply applies a batch in one Postgres transaction: all of it or, on any
// error, nothing. PUT inserts the row or, if it exists, sets the columns
// it carries; PATCH sets the given columns of an existing row; DELETE
// deletes the row. A PATCH or DELETE of a missing row does nothing, so
// applying a batch twice leaves the rows as applying it once.
//
// The error is a *RejectError for a change that can never be applied (see
// permanent); the transaction is rolled back. A transaction Postgres aborts
// for a serialization failure (40001) or a deadlock (40P01), in a statement
// or at COMMIT, is run again, up to maxAttempts times in all; any other
// error, and the last of those, is returned as it is, for the client to
// retry the batch later. After a failed COMMIT whose cause is not known
// (the connection broke), the batch may or may not have been applied: the
// client's retry is safe because applying is idempotent.
func (b *Backend) Apply(ctx context.Context, batch []Entry) error {
	stmts := make([]statement, 0, len(batch))
	for i := range batch {
		st, err := b.statement(batch[i])
		if err != nil {
			return &RejectError{Entry: &batch[i], Err: err}
		}
		stmts = append(stmts, st)
	}
	for attempt := 1; ; attempt++ {
		err := b.apply(ctx, batch, stmts)
		if err == nil || !retryable(err) {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
		}
		b.log.Warn("upload transaction aborted; running it again", "error", err, "attempt", attempt)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 20 * time.Millisecond):
		}
	}
}

// apply runs the statements of batch in one transaction.
func (b *Backend) apply(ctx context.Context, batch []Entry, stmts []statement) (err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committing := false
	defer func() {
		if err != nil && !committing { // a failed COMMIT has ended the transaction
			if rerr := tx.Rollback(); rerr != nil {
				b.log.Warn("rollback failed", "error", rerr)
			}
		}
	}()
	for i, st := range stmts {
		if st.sql == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, st.sql, st.arg); err != nil {
			if permanent(err) {
				return &RejectError{Entry: &batch[i], Err: err}
			}
			return fmt.Errorf("%s %s %q: %w", batch[i].Op, batch[i].Type, batch[i].ID, err)
		}
	}
	committing = true
	if err := tx.Commit(); err != nil {
		if permanent(err) {
			return &RejectError{Err: err}
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// statement is the SQL of one change, with its single parameter: the row
// as a JSON object, turned into the table's row type by Postgres'
// json_populate_record (so "2024-01-01T00:00:00Z" becomes a timestamptz,
// 1 a boolean true, and so on).
type statement struct {
	sql string
	arg string
}

// statement builds the SQL for e from allow-listed, quoted names.
func (b *Backend) statement(e Entry) (statement, error) {
	cols, ok := b.tables[e.Type]
	if !ok {
		return statement{}, fmt.Errorf("unknown table %q", e.Type)
	}
	if e.ID == "" {
		return statement{}, errors.New("no id")
	}
	names := make([]string, 0, len(e.Data))
	row := map[string]json.RawMessage{}
	for c, v := range e.Data {
		if !cols[c] {
			return statement{}, fmt.Errorf("unknown column %q of table %q", c, e.Type)
		}
		names = append(names, c)
		row[c] = v
	}
	slices.Sort(names) // the same change always gives the same SQL
	id, _ := json.Marshal(e.ID)
	row["id"] = id
	arg, err := json.Marshal(row)
	if err != nil {
		return statement{}, err
	}

	table := pgx.Identifier{e.Type}.Sanitize()
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = pgx.Identifier{n}.Sanitize()
	}
	source := "json_populate_record(NULL::" + table + ", $1::json) AS ps_row"
	var q strings.Builder
	switch e.Op {
	case "PUT":
		all := append([]string{`"id"`}, quoted...)
		fmt.Fprintf(&q, "INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (id) DO ",
			table, strings.Join(all, ", "), prefixed("ps_row.", all), source)
		if len(quoted) == 0 {
			q.WriteString("NOTHING")
		} else {
			q.WriteString("UPDATE SET ")
			for i, c := range quoted {
				if i > 0 {
					q.WriteString(", ")
				}
				fmt.Fprintf(&q, "%s = EXCLUDED.%s", c, c)
			}
		}
	case "PATCH":
		if len(quoted) == 0 {
			return statement{}, nil // nothing to change
		}
		fmt.Fprintf(&q, "UPDATE %s SET ", table)
		for i, c := range quoted {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "%s = ps_row.%s", c, c)
		}
		fmt.Fprintf(&q, " FROM %s WHERE %s.id = ps_row.id", source, table)
	case "DELETE":
		fmt.Fprintf(&q, "DELETE FROM %s USING %s WHERE %s.id = ps_row.id", table, source, table)
	default:
		return statement{}, fmt.Errorf("unknown operation %q", e.Op)
	}
	return statement{sql: q.String(), arg: string(arg)}, nil
}

// prefixed joins names, each prefixed with p.
func prefixed(p string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = p + n
	}
	return strings.Join(out, ", ")
}

// permanent reports whether a Postgres error rejects the data itself, so
// that retrying can never succeed: data exceptions (class 22, such as an
// invalid uuid), integrity constraint violations (class 23: not null,
// foreign key, check, unique) and syntax or access rule violations (class
// 42, such as a column the server table lacks or a missing privilege).
// The official SDKs' Supabase connector treats the same classes as fatal.
// Anything else (connection loss, serialization failures, deadlocks, a
// server shutting down) is temporary.
func permanent(err error) bool {
	code := sqlState(err)
	if len(code) != 5 {
		return false
	}
	switch code[:2] {
	case "22", "23", "42":
		return true
	}
	return false
}

// retryable reports whether Postgres aborted the transaction for a conflict
// with another one, so that running it again can succeed at once:
// serialization_failure (40001) and deadlock_detected (40P01).
func retryable(err error) bool {
	code := sqlState(err)
	return code == "40001" || code == "40P01"
}

// sqlState returns the SQLSTATE of a Postgres error in err's chain, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	return pe.Code
}

// maxBody is the largest upload body accepted.
const maxBody = 16 << 20

// ServeUpload handles POST /api/data: it decodes an UploadRequest and
// applies its batch. Answers:
//
//   - 200 {"data": {"applied": N}}: the batch was applied;
//   - 400: the body is not an upload request; 422: a change can never be
//     applied (unknown table or column, data Postgres refuses: SQLSTATE
//     classes 22, 23 and 42, also when a deferred constraint fails at
//     COMMIT). Nothing was applied. Clients set the batch aside
//     (pssync.HTTPConnector treats 400 and 422 as permanent) instead of
//     retrying it forever;
//   - 401: no valid token;
//   - 500: anything else, such as Postgres being unreachable, a failed
//     COMMIT, or a serialization failure or deadlock that persisted through
//     maxAttempts runs; clients retry the batch later.
//
// Error answers are {"error": {"message": …, "op_id": …}}.
func (b *Backend) ServeUpload(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error(), nil)
		return
	}
	var req UploadRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "not an upload request: "+err.Error(), nil)
		return
	}
	if req.Batch == nil {
		writeError(w, http.StatusBadRequest, `not an upload request: no "batch"`, nil)
		return
	}
	err = b.Apply(r.Context(), req.Batch)
	var rej *RejectError
	switch {
	case errors.As(err, &rej):
		b.log.Warn("upload rejected", "error", err, "client_id", req.ClientID)
		writeError(w, http.StatusUnprocessableEntity, rej.Error(), rej.Entry)
		return
	case err != nil:
		b.log.Error("upload failed", "error", err, "client_id", req.ClientID)
		writeError(w, http.StatusInternalServerError, "upload failed; try again", nil)
		return
	}
	b.log.Info("upload applied", "entries", len(req.Batch), "client_id", req.ClientID)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"applied": len(req.Batch)}})
}

// writeError answers with status and {"error": {"message": msg[, "op_id": …]}}.
func writeError(w http.ResponseWriter, status int, msg string, e *Entry) {
	body := map[string]any{"message": msg}
	if e != nil {
		body["op_id"] = e.OpID
		body["type"] = e.Type
		body["id"] = e.ID
	}
	writeJSON(w, status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
