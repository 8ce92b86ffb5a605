package sync

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// Op is the kind of a queued local change.
type Op string

// The operations recorded in the upload queue.
const (
	// OpPut inserts or replaces a whole row; Data holds every non-NULL column.
	OpPut Op = "PUT"
	// OpPatch updates a row; Data holds the changed columns (NULL as nil).
	OpPatch Op = "PATCH"
	// OpDelete deletes a row; Data is nil.
	OpDelete Op = "DELETE"
)

// CrudEntry is one local change waiting in the upload queue (ps_crud).
//
// Numbers in Data and PreviousValues are [json.Number] values, so integers
// keep their full precision.
type CrudEntry struct {
	// ClientID is the entry's position in the upload queue (ps_crud.id).
	ClientID int64
	// TransactionID groups the entries written by one local transaction
	// (0 if unknown).
	TransactionID int64
	// Op is PUT, PATCH or DELETE.
	Op Op
	// Table is the table name (not the view name).
	Table string
	// ID is the row id.
	ID string
	// Data holds the written columns (nil for DELETE).
	Data map[string]any
	// PreviousValues holds the old values of tracked columns, for tables that
	// track previous values; nil otherwise.
	PreviousValues map[string]any
	// Metadata is the _metadata value written with the change, for tables
	// that track metadata.
	Metadata string
	// HasMetadata reports whether Metadata was set.
	HasMetadata bool
}

// crudEntryJSON is the JSON form used by the official SDKs' toJSON.
type crudEntryJSON struct {
	OpID     int64          `json:"op_id"`
	Op       Op             `json:"op"`
	Type     string         `json:"type"`
	ID       string         `json:"id"`
	TxID     *int64         `json:"tx_id,omitempty"`
	Data     map[string]any `json:"data,omitempty"`
	Old      map[string]any `json:"old,omitempty"`
	Metadata *string        `json:"metadata,omitempty"`
}

// MarshalJSON encodes the entry like the official SDKs do (keys op_id, op,
// type, id, tx_id, data, old, metadata), the shape backends written for them
// expect.
func (e CrudEntry) MarshalJSON() ([]byte, error) {
	j := crudEntryJSON{OpID: e.ClientID, Op: e.Op, Type: e.Table, ID: e.ID, Data: e.Data, Old: e.PreviousValues}
	if e.TransactionID != 0 {
		tx := e.TransactionID
		j.TxID = &tx
	}
	if e.HasMetadata {
		m := e.Metadata
		j.Metadata = &m
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form written by MarshalJSON.
func (e *CrudEntry) UnmarshalJSON(b []byte) error {
	var j crudEntryJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*e = CrudEntry{ClientID: j.OpID, Op: j.Op, Table: j.Type, ID: j.ID, Data: j.Data, PreviousValues: j.Old}
	if j.TxID != nil {
		e.TransactionID = *j.TxID
	}
	if j.Metadata != nil {
		e.Metadata, e.HasMetadata = *j.Metadata, true
	}
	return nil
}

// psCrudData is the JSON stored in ps_crud.data.
type psCrudData struct {
	Op       Op             `json:"op"`
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Data     map[string]any `json:"data"`
	Old      map[string]any `json:"old"`
	Metadata *string        `json:"metadata"`
}

func parseCrudEntry(id int64, txID sql.NullInt64, data string) (CrudEntry, error) {
	var d psCrudData
	dec := json.NewDecoder(bytes.NewReader([]byte(data)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return CrudEntry{}, pserr.Errorf("powersync: upload queue entry %d: %w", id, err)
	}
	e := CrudEntry{ClientID: id, TransactionID: txID.Int64, Op: d.Op, Table: d.Type, ID: d.ID, Data: d.Data, PreviousValues: d.Old}
	if d.Metadata != nil {
		e.Metadata, e.HasMetadata = *d.Metadata, true
	}
	return e, nil
}

// CrudBatch is a batch of upload queue entries, in queue order, from
// [GetCrudBatch]. It is not aligned to transactions.
type CrudBatch struct {
	// Entries are the changes, oldest first.
	Entries []CrudEntry
	// HasMore reports whether more entries were queued after this batch.
	HasMore bool

	db *sql.DB
}

// Complete removes the batch's entries (and every older entry) from the
// upload queue after the backend accepted them.
func (b *CrudBatch) Complete(ctx context.Context) error {
	return completeCrud(ctx, b.db, lastID(b.Entries), "")
}

// CompleteWithWriteCheckpoint is Complete for backends with custom write
// checkpoints: writeCheckpoint is the checkpoint id the backend created for
// the upload. When the queue is empty afterwards, downloaded data is applied
// once a checkpoint covering writeCheckpoint arrives, and the syncer does not
// request a write checkpoint itself.
func (b *CrudBatch) CompleteWithWriteCheckpoint(ctx context.Context, writeCheckpoint string) error {
	if writeCheckpoint == "" {
		return errors.New("powersync: complete: empty write checkpoint")
	}
	return completeCrud(ctx, b.db, lastID(b.Entries), writeCheckpoint)
}

// Reject sets entry aside: it is removed from the upload queue and kept, with
// reason, in the rejected-entries table (see [RejectedCrud]), so it no longer
// blocks later changes. Use it for changes the backend can never accept.
func (b *CrudBatch) Reject(ctx context.Context, entry CrudEntry, reason error) error {
	return RejectCrud(ctx, b.db, reason, entry)
}

// CrudTransaction is the group of upload queue entries written by one local
// transaction, from [NextCrudTransaction] or [CrudTransactions].
type CrudTransaction struct {
	// TransactionID is the local transaction id (0 if unknown).
	TransactionID int64
	// Entries are the transaction's changes, oldest first.
	Entries []CrudEntry

	db *sql.DB
}

// Complete removes the transaction's entries (and every older entry) from
// the upload queue after the backend accepted them.
func (t *CrudTransaction) Complete(ctx context.Context) error {
	return completeCrud(ctx, t.db, lastID(t.Entries), "")
}

// CompleteWithWriteCheckpoint is like [CrudBatch.CompleteWithWriteCheckpoint].
func (t *CrudTransaction) CompleteWithWriteCheckpoint(ctx context.Context, writeCheckpoint string) error {
	if writeCheckpoint == "" {
		return errors.New("powersync: complete: empty write checkpoint")
	}
	return completeCrud(ctx, t.db, lastID(t.Entries), writeCheckpoint)
}

// Reject is like [CrudBatch.Reject].
func (t *CrudTransaction) Reject(ctx context.Context, entry CrudEntry, reason error) error {
	return RejectCrud(ctx, t.db, reason, entry)
}

func lastID(es []CrudEntry) int64 {
	if len(es) == 0 {
		return 0
	}
	return es[len(es)-1].ClientID
}

const crudColumns = `id, tx_id, data`

func scanCrud(rows *sql.Rows) ([]CrudEntry, error) {
	defer rows.Close()
	var out []CrudEntry
	for rows.Next() {
		var (
			id   int64
			tx   sql.NullInt64
			data string
		)
		if err := rows.Scan(&id, &tx, &data); err != nil {
			return nil, pserr.Errorf("powersync: read upload queue: %w", err)
		}
		e, err := parseCrudEntry(id, tx, data)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, pserr.Errorf("powersync: read upload queue: %w", err)
	}
	return out, nil
}

// DefaultCrudBatchLimit is the batch size the official SDKs use.
const DefaultCrudBatchLimit = 100

// GetCrudBatch returns up to limit of the oldest upload queue entries, or
// nil if the queue is empty. A limit ≤ 0 means [DefaultCrudBatchLimit].
// The entries stay queued until the batch is completed.
func GetCrudBatch(ctx context.Context, db *sql.DB, limit int) (*CrudBatch, error) {
	if limit <= 0 {
		limit = DefaultCrudBatchLimit
	}
	rows, err := db.QueryContext(ctx, `SELECT `+crudColumns+` FROM ps_crud ORDER BY id ASC LIMIT ?`, limit+1)
	if err != nil {
		return nil, pserr.Errorf("powersync: read upload queue: %w", err)
	}
	es, err := scanCrud(rows)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	b := &CrudBatch{Entries: es, db: db}
	if len(es) > limit {
		b.Entries, b.HasMore = es[:limit], true
	}
	return b, nil
}

// NextCrudTransaction returns the oldest transaction in the upload queue,
// or nil if the queue is empty.
func NextCrudTransaction(ctx context.Context, db *sql.DB) (*CrudTransaction, error) {
	return crudTransactionAfter(ctx, db, 0)
}

// crudTransactionAfter returns the first transaction whose entries all have
// ids greater than after: the entry with the smallest such id and the
// following entries of the same transaction, up to the first entry of
// another transaction. Entries without a transaction id stand alone.
func crudTransactionAfter(ctx context.Context, db *sql.DB, after int64) (*CrudTransaction, error) {
	rows, err := db.QueryContext(ctx, `
WITH first AS (SELECT id, tx_id FROM ps_crud WHERE id > ?1 ORDER BY id LIMIT 1),
     bound AS (SELECT min(c.id) AS id FROM ps_crud c, first
               WHERE c.id > first.id AND (first.tx_id IS NULL OR c.tx_id IS NOT first.tx_id))
SELECT c.id, c.tx_id, c.data FROM ps_crud c, first, bound
WHERE c.id >= first.id AND (bound.id IS NULL OR c.id < bound.id)
  AND (first.tx_id IS NOT NULL OR c.id = first.id)
ORDER BY c.id`, after)
	if err != nil {
		return nil, pserr.Errorf("powersync: read upload queue: %w", err)
	}
	es, err := scanCrud(rows)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	return &CrudTransaction{TransactionID: es[0].TransactionID, Entries: es, db: db}, nil
}

// CrudTransactions iterates over the transactions in the upload queue,
// oldest first, without removing them. Completing a transaction removes it
// and every older one. Each step reads the queue again, so entries added
// while iterating are included. The iteration stops at the first error.
func CrudTransactions(ctx context.Context, db *sql.DB) iter.Seq2[*CrudTransaction, error] {
	return func(yield func(*CrudTransaction, error) bool) {
		var after int64
		for {
			t, err := crudTransactionAfter(ctx, db, after)
			if err != nil {
				yield(nil, err)
				return
			}
			if t == nil {
				return
			}
			after = lastID(t.Entries)
			if !yield(t, nil) {
				return
			}
		}
	}
}

// UploadQueueStats returns the number of queued changes and their size in
// bytes (the length of each entry's JSON plus 20 bytes per entry, the
// measure the official SDKs intend).
func UploadQueueStats(ctx context.Context, db *sql.DB) (count, size int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(length(CAST(data AS BLOB)) + 20), 0) FROM ps_crud`).Scan(&count, &size)
	if err != nil {
		return 0, 0, pserr.Errorf("powersync: upload queue stats: %w", err)
	}
	return count, size, nil
}

// completeCrud deletes the entries up to last and sets the local-write
// gate (synccore.CompleteCrud; docs/upload.md).
func completeCrud(ctx context.Context, db *sql.DB, last int64, writeCheckpoint string) error {
	if db == nil {
		return errors.New("powersync: complete: batch has no database")
	}
	var wc *int64
	if writeCheckpoint != "" {
		v, err := strconv.ParseInt(writeCheckpoint, 10, 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("powersync: complete: invalid write checkpoint %q", writeCheckpoint)
		}
		wc = &v
	}
	return inWriteTx(ctx, db, "complete upload", func(tx *sql.Tx) error {
		return synccore.CompleteCrud(ctx, tx, last, wc)
	})
}

// inWriteTx runs f in a write transaction and wraps its error.
func inWriteTx(ctx context.Context, db *sql.DB, what string, f func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return pserr.Errorf("powersync: %s: %w", what, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return pserr.Errorf("powersync: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return pserr.Errorf("powersync: %s: %w", what, err)
	}
	return nil
}
