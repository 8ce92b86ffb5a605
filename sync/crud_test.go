package sync

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/gopowersync/powersync/internal/synccore"
)

func TestGetCrudBatch(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	if b, err := GetCrudBatch(ctx, db, 10); err != nil || b != nil {
		t.Fatalf("empty queue: got %v, %v; want nil, nil", b, err)
	}
	exec(t, db, `INSERT INTO todos(id, title, done) VALUES ('t1', 'a', 0)`)
	exec(t, db, `UPDATE todos SET title = 'b' WHERE id = 't1'`)
	exec(t, db, `DELETE FROM todos WHERE id = 't1'`)
	exec(t, db, `INSERT INTO drafts(id, body) VALUES ('d1', 'local only')`)

	tests := []struct {
		limit   int
		n       int
		hasMore bool
	}{{1, 1, true}, {2, 2, true}, {3, 3, false}, {0, 3, false}, {100, 3, false}}
	for _, tt := range tests {
		b, err := GetCrudBatch(ctx, db, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Entries) != tt.n || b.HasMore != tt.hasMore {
			t.Errorf("limit %d: got %d entries, hasMore %v; want %d, %v", tt.limit, len(b.Entries), b.HasMore, tt.n, tt.hasMore)
		}
	}
	b, _ := GetCrudBatch(ctx, db, 10)
	want := []struct {
		op   Op
		data map[string]any
	}{
		{OpPut, map[string]any{"title": "a", "done": json.Number("0")}},
		{OpPatch, map[string]any{"title": "b"}},
		{OpDelete, nil},
	}
	for i, w := range want {
		e := b.Entries[i]
		if e.Op != w.op || e.Table != "todos" || e.ID != "t1" || e.TransactionID == 0 {
			t.Errorf("entry %d = %+v", i, e)
		}
		if len(e.Data) != len(w.data) {
			t.Errorf("entry %d data = %v, want %v", i, e.Data, w.data)
		}
		for k, v := range w.data {
			if e.Data[k] != v {
				t.Errorf("entry %d data[%s] = %#v, want %#v", i, k, e.Data[k], v)
			}
		}
		if i > 0 && e.ClientID <= b.Entries[i-1].ClientID {
			t.Errorf("entries out of order")
		}
	}

	// Completing part of the queue removes exactly those entries; the gate
	// stays closed.
	b2, _ := GetCrudBatch(ctx, db, 2)
	if err := b2.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if n := queueLen(t, db); n != 1 {
		t.Fatalf("queue length after complete = %d, want 1", n)
	}
	if v, _ := kvInt(t, db, "target_checkpoint_request_id"); v != synccore.MaxOpID {
		t.Errorf("target = %d, want MAX_OP_ID", v)
	}
}

func TestCompleteWriteCheckpoint(t *testing.T) {
	tests := []struct {
		name       string
		writes     int
		complete   int // entries in the completed batch
		wantTarget int64
	}{
		{"queue drained sets the given checkpoint", 2, 2, 42},
		{"entries remain keeps the gate closed", 3, 2, synccore.MaxOpID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db := openDB(t)
			for i := range tt.writes {
				exec(t, db, `INSERT INTO todos(id, title) VALUES (?, 'x')`, string(rune('a'+i)))
			}
			b, err := GetCrudBatch(ctx, db, tt.complete)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.CompleteWithWriteCheckpoint(ctx, "42"); err != nil {
				t.Fatal(err)
			}
			if v, _ := kvInt(t, db, "target_checkpoint_request_id"); v != tt.wantTarget {
				t.Errorf("target = %d, want %d", v, tt.wantTarget)
			}
			if n := queueLen(t, db); n != tt.writes-tt.complete {
				t.Errorf("queue = %d, want %d", n, tt.writes-tt.complete)
			}
		})
	}
	t.Run("invalid checkpoint", func(t *testing.T) {
		db := openDB(t)
		exec(t, db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
		b, _ := GetCrudBatch(t.Context(), db, 1)
		for _, wc := range []string{"", "abc", "-1", "0"} {
			if err := b.CompleteWithWriteCheckpoint(t.Context(), wc); err == nil {
				t.Errorf("write checkpoint %q accepted", wc)
			}
		}
		if queueLen(t, db) != 1 {
			t.Error("a rejected complete removed entries")
		}
	})
}

func TestNextCrudTransaction(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	if tx, err := NextCrudTransaction(ctx, db); err != nil || tx != nil {
		t.Fatalf("empty queue: %v, %v", tx, err)
	}
	writeTx(t, db, `INSERT INTO todos(id, title) VALUES ('a', '1')`, `INSERT INTO todos(id, title) VALUES ('b', '2')`)
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('c', '3')`)
	writeTx(t, db, `UPDATE todos SET done = 1 WHERE id = 'a'`, `DELETE FROM todos WHERE id = 'b'`, `INSERT INTO notes(id, body) VALUES ('n', 'x')`)

	var sizes []int
	var txIDs []int64
	for tx, err := range CrudTransactions(ctx, db) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(tx.Entries))
		txIDs = append(txIDs, tx.TransactionID)
		for _, e := range tx.Entries {
			if e.TransactionID != tx.TransactionID {
				t.Errorf("entry %d has tx %d in transaction %d", e.ClientID, e.TransactionID, tx.TransactionID)
			}
		}
	}
	if want := []int{2, 1, 3}; !equalInts(sizes, want) {
		t.Fatalf("transaction sizes = %v, want %v", sizes, want)
	}
	if txIDs[0] >= txIDs[1] || txIDs[1] >= txIDs[2] {
		t.Errorf("transaction ids not increasing: %v", txIDs)
	}

	first, err := NextCrudTransaction(ctx, db)
	if err != nil || len(first.Entries) != 2 {
		t.Fatalf("NextCrudTransaction = %v, %v", first, err)
	}
	if err := first.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	next, _ := NextCrudTransaction(ctx, db)
	if len(next.Entries) != 1 || next.Entries[0].ID != "c" {
		t.Fatalf("after complete: %+v", next)
	}

	// Stopping the iteration early is fine.
	for range CrudTransactions(ctx, db) {
		break
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCrudEntryMetadataAndPrevious(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	exec(t, db, `INSERT INTO notes(id, body, _metadata) VALUES ('n1', 'first', 'm1')`)
	exec(t, db, `UPDATE notes SET body = 'second' WHERE id = 'n1'`)
	b, err := GetCrudBatch(ctx, db, 10)
	if err != nil {
		t.Fatal(err)
	}
	put, patch := b.Entries[0], b.Entries[1]
	if !put.HasMetadata || put.Metadata != "m1" {
		t.Errorf("put metadata = %q, %v", put.Metadata, put.HasMetadata)
	}
	if patch.HasMetadata {
		t.Errorf("patch has metadata %q", patch.Metadata)
	}
	if patch.PreviousValues["body"] != "first" || patch.Data["body"] != "second" {
		t.Errorf("patch = %+v", patch)
	}

	js, err := json.Marshal(put)
	if err != nil {
		t.Fatal(err)
	}
	var back CrudEntry
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.ClientID != put.ClientID || back.Op != put.Op || back.Table != "notes" || back.Metadata != "m1" || back.TransactionID != put.TransactionID {
		t.Errorf("JSON round trip: %s -> %+v", js, back)
	}
	var keys map[string]any
	json.Unmarshal(js, &keys)
	for _, k := range []string{"op_id", "op", "type", "id", "tx_id", "data", "metadata"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON %s lacks key %q", js, k)
		}
	}
}

func TestUploadQueueStats(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	n, size, err := UploadQueueStats(ctx, db)
	if err != nil || n != 0 || size != 0 {
		t.Fatalf("empty: %d, %d, %v", n, size, err)
	}
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('a', 'x')`)
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('b', 'y')`)
	var dataLen int64
	db.QueryRow(`SELECT sum(length(data)) FROM ps_crud`).Scan(&dataLen)
	n, size, err = UploadQueueStats(ctx, db)
	if err != nil || n != 2 || size != dataLen+40 {
		t.Fatalf("got %d, %d, %v; want 2, %d", n, size, err, dataLen+40)
	}
}

func TestRejectCrud(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	if got, err := RejectedCrud(ctx, db); err != nil || len(got) != 0 {
		t.Fatalf("nothing rejected yet: %v, %v", got, err)
	}
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('bad', 'x')`)
	exec(t, db, `INSERT INTO todos(id, title) VALUES ('good', 'y')`)
	b, _ := GetCrudBatch(ctx, db, 10)
	reason := errors.New("title rejected by backend")
	if err := b.Reject(ctx, b.Entries[0], reason); err != nil {
		t.Fatal(err)
	}
	left, _ := GetCrudBatch(ctx, db, 10)
	if len(left.Entries) != 1 || left.Entries[0].ID != "good" {
		t.Fatalf("queue after reject: %+v", left.Entries)
	}
	rej, err := RejectedCrud(ctx, db)
	if err != nil || len(rej) != 1 {
		t.Fatalf("RejectedCrud = %v, %v", rej, err)
	}
	if rej[0].Entry.ID != "bad" || rej[0].Entry.ClientID != b.Entries[0].ClientID || rej[0].Reason != reason.Error() || rej[0].RejectedAt.IsZero() {
		t.Errorf("rejected = %+v", rej[0])
	}
	if err := DeleteRejectedCrud(ctx, db, rej[0].Entry.ClientID); err != nil {
		t.Fatal(err)
	}
	if rej, _ := RejectedCrud(ctx, db); len(rej) != 0 {
		t.Errorf("after delete: %v", rej)
	}
}
