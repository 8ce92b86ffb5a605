package driver

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/gopowersync/powersync/internal/pserr"
	"modernc.org/sqlite"
)

// coreVersion is what powersync_rs_version() reports: the official core
// version whose local layout (internal schema version 14) this driver keeps.
const coreVersion = "0.5.3/gosqlite"

// connState is the per-connection state the SQL functions and the SQLite
// hooks share. Functions and hooks run on the goroutine that is executing a
// statement on the connection, and database/sql never uses one connection
// from two goroutines at once, so the fields used only there need no lock.
type connState struct {
	file *fileState
	log  *slog.Logger // the connector's logger (WithLogger)

	// Transaction-scoped CRUD bookkeeping, reset by the commit and rollback
	// hooks. txID is the ps_tx id claimed by the transaction's first upload
	// entry, 0 when none was claimed yet; entries of insert-only tables and
	// of other tables share it, as in the core.
	txID int64
	// claims counts transaction ids claimed on this connection; comparing it
	// before and after a statement tells whether the statement claimed one.
	claims uint64
	// rolledBack is set by the rollback hook: the last statement ended its
	// whole transaction, not just itself.
	rolledBack bool
	// prepCaptures is set by the authorizer while a statement is prepared
	// whose triggers record upload entries (they insert into ps_crud).
	prepCaptures bool
	// userAuth is an authorizer installed by the application, consulted
	// after the driver's own bookkeeping.
	userAuth sqlite.AuthorizerFn
	// lastKept reports whether the last powersync_crud_entry call produced an
	// entry (false when an empty update was ignored).
	lastKept bool
	// gateSet records that the transaction has set the local-write gate.
	gateSet bool

	// inSync is set while the sync client applies downloaded data: CRUD
	// capture is suppressed and powersync_in_sync_operation() returns 1.
	inSync bool

	// Change tracking: tables written in the open transaction, and tables of
	// committed transactions not yet handed to the hub.
	txTables  map[string]struct{}
	committed map[string]struct{}

	// Write lock (see writeLock). lock says why this connection holds its
	// file's lock; manualTx is set while a transaction begun by a BEGIN or
	// SAVEPOINT statement is open (cleared by the commit and rollback
	// hooks); readOnlyTx while a read-only transaction is open; readOnlyDB
	// for a connection opened with mode=ro.
	lock       lockHold
	manualTx   bool
	readOnlyTx bool
	readOnlyDB bool
	// callCtx is the context of the call in progress, for the authorizer's
	// wait for the write lock; nil between calls.
	callCtx context.Context
	// preparing is set while PrepareContext runs: the authorizer records in
	// prep what the statement does instead of taking the lock.
	preparing bool
	prep      stmtKind
	// denyErr is why the authorizer refused the statement in progress.
	denyErr error

	// Statement-scoped counters for RowsAffected through views.
	dataWrites int64 // rows written to ps_data tables by triggers (depth 1)
	crudWrites int64 // rows written to ps_crud by triggers (depth 1)
}

func (s *connState) endTx() {
	s.txID = 0
	s.lastKept = false
	s.gateSet = false
}

// A slot is a private modernc driver whose SQL functions are bound to one
// connection's state at a time. modernc registers functions for the life of
// the program, so slots are pooled and reused: the number of registrations
// is bounded by the largest number of connections open at once.
type slot struct {
	drv   *sqlite.Driver
	state *connState // the connection currently using the slot
}

// slotPool guards the free list of slots.
var slotPool struct {
	mu   sync.Mutex
	free []*slot
}

func acquireSlot(st *connState) (*slot, error) {
	slotPool.mu.Lock()
	if n := len(slotPool.free); n > 0 {
		s := slotPool.free[n-1]
		slotPool.free = slotPool.free[:n-1]
		slotPool.mu.Unlock()
		s.state = st
		return s, nil
	}
	slotPool.mu.Unlock()
	s := &slot{drv: &sqlite.Driver{}}
	if err := s.register(); err != nil {
		return nil, err
	}
	s.state = st
	return s, nil
}

func releaseSlot(s *slot) {
	s.state = nil
	slotPool.mu.Lock()
	slotPool.free = append(slotPool.free, s)
	slotPool.mu.Unlock()
}

type scalarFn = func(ctx *sqlite.FunctionContext, args []driver.Value) (driver.Value, error)

func (s *slot) register() error {
	type fn struct {
		name          string
		nArgs         int32
		deterministic bool
		impl          scalarFn
	}
	fns := []fn{
		{"uuid", 0, false, fnUUID},
		{"gen_random_uuid", 0, false, fnUUID},
		{"powersync_rs_version", 0, true, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			return coreVersion, nil
		}},
		{"powersync_diff", 2, true, fnDiff},
		{"powersync_json_merge", -1, true, fnJSONMerge},
		{"powersync_strip_subtype", 1, true, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			return args[0], nil
		}},
		{"powersync_client_id", 0, false, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			if id := s.state.file.clientID(); id != "" {
				return id, nil
			}
			return nil, errors.New("powersync_client_id: No client_id found in ps_kv")
		}},
		{"powersync_in_sync_operation", 0, false, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			return sqlBool(s.state.inSync), nil
		}},
		{"powersync_tx_claim", 2, false, s.fnTxClaim},
		{"powersync_tx_id", 1, false, s.fnTxID},
		{"powersync_crud_entry", 7, false, s.fnCrudEntry},
		{"powersync_crud_put", 4, false, s.fnCrudPut},
		{"powersync_tx_unclaimed", 0, false, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			// 1 (the id of ps_tx's row) while the transaction has no id, NULL
			// once it has: UPDATE ps_tx ... WHERE id = powersync_tx_unclaimed()
			// then finds no row without reading the table.
			if s.state.txID == 0 {
				return int64(1), nil
			}
			return nil, nil
		}},
		{"powersync_gate_once", 0, false, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			// 1 for the first kept upload entry of a transaction: the
			// local-write gate is set once per transaction, as the core does.
			if st := s.state; st.lastKept && !st.gateSet {
				st.gateSet = true
				return int64(1), nil
			}
			return int64(0), nil
		}},
		{"powersync_crud_kept", 0, false, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
			return sqlBool(s.state.lastKept), nil
		}},
	}
	for _, f := range fns {
		err := s.drv.RegisterFunction(f.name, &sqlite.FunctionImpl{
			NArgs:         f.nArgs,
			Deterministic: f.deterministic,
			Scalar:        f.impl,
		})
		if err != nil {
			return pserr.Errorf("powersync: register %s: %w", f.name, err)
		}
	}
	return nil
}

// sqlBool returns b as SQLite's integer boolean.
func sqlBool(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func fnUUID(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return nil, err
	}
	return u.String(), nil
}

func fnDiff(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	a, aok := textArg(args[0])
	b, bok := textArg(args[1])
	if !aok || !bok {
		return nil, errors.New("powersync_diff: expected two JSON objects")
	}
	out, err := powersyncDiff(a, b)
	if err != nil {
		return nil, fmt.Errorf("powersync_diff: %w", err)
	}
	return out, nil
}

func fnJSONMerge(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	texts := make([]string, len(args))
	for i, a := range args {
		t, ok := textArg(a)
		if !ok {
			return nil, errors.New("powersync_json_merge: Expected json object")
		}
		texts[i] = t
	}
	out, err := jsonMerge(texts)
	if err != nil {
		return nil, fmt.Errorf("powersync_json_merge: %w", err)
	}
	return out, nil
}

// fnTxClaim implements powersync_tx_claim(kind, next_tx): the first call in
// a transaction records next_tx as that transaction's id and returns 1,
// telling the trigger to advance ps_tx.next_tx. The kind (0: regular upload
// entries, 1: insert-only entries) is checked but both share one id.
func (s *slot) fnTxClaim(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if err := checkKind(args[0]); err != nil {
		return nil, err
	}
	if s.state.txID != 0 {
		return int64(0), nil
	}
	next, ok := args[1].(int64)
	if !ok {
		return nil, errors.New("powersync_tx_claim: ps_tx.next_tx is not an integer")
	}
	s.state.txID = next
	s.state.claims++
	return int64(1), nil
}

func (s *slot) fnTxID(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if err := checkKind(args[0]); err != nil {
		return nil, err
	}
	if id := s.state.txID; id != 0 {
		return id, nil
	}
	return nil, errors.New("powersync_tx_id: no transaction id claimed")
}

// checkKind checks the kind argument of powersync_tx_claim and powersync_tx_id.
func checkKind(v driver.Value) error {
	if k, ok := v.(int64); !ok || k < 0 || k > 1 {
		return errors.New("powersync: transaction kind must be 0 or 1")
	}
	return nil
}

// fnCrudEntry implements powersync_crud_entry(op, id, type, data, old,
// metadata, options). It returns NULL (and records that nothing was kept) for
// an empty PATCH of a table that ignores empty updates, and while the
// connection applies synced data.
func (s *slot) fnCrudEntry(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	st := s.state
	st.lastKept = false
	if st.inSync {
		return nil, nil
	}
	op, _ := textArg(args[0])
	id, _ := textArg(args[1])
	typ, _ := textArg(args[2])
	data := optText(args[3])
	if flags, _ := args[6].(int64); flags&ignoreEmptyUpdateFlag != 0 && op == "PATCH" && data != nil && *data == "{}" {
		return nil, nil
	}
	st.lastKept = true
	return crudEntry(op, id, typ, data, optText(args[4]), optText(args[5])), nil
}

// fnCrudPut implements powersync_crud_put(id, type, data, metadata): the
// PUT entry of an insert, as powersync_crud_entry('PUT', id, type,
// powersync_diff('{}', data), NULL, metadata, 0) would make it, in one call.
func (s *slot) fnCrudPut(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	st := s.state
	st.lastKept = false
	if st.inSync {
		return nil, nil
	}
	id, _ := textArg(args[0])
	typ, _ := textArg(args[1])
	obj, ok := textArg(args[2])
	if !ok {
		return nil, errors.New("powersync_diff: expected two JSON objects")
	}
	data, err := powersyncDiff("{}", obj)
	if err != nil {
		return nil, fmt.Errorf("powersync_diff: %w", err)
	}
	st.lastKept = true
	return crudEntry("PUT", id, typ, &data, nil, optText(args[3])), nil
}

// ignoreEmptyUpdateFlag is the IGNORE_EMPTY_UPDATE bit of a table's options.
const ignoreEmptyUpdateFlag = 16

func textArg(v driver.Value) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	case int64, float64:
		return fmt.Sprint(x), true
	}
	return "", false
}

func optText(v driver.Value) *string {
	if s, ok := v.(string); ok {
		return &s
	}
	return nil
}

// isDataTable reports whether a SQLite table holds the rows of a schema table.
func isDataTable(name string) bool {
	return strings.HasPrefix(name, "ps_data__") || strings.HasPrefix(name, "ps_data_local__")
}
