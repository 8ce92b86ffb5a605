package main

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/DATA-DOG/go-sqlmock"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gopowersync/powersync/examples/internal/todoschema"
)

// These tests put go-sqlmock where Postgres was, to make it fail in ways a
// real server does only under load or by accident: serialization failures,
// deadlocks, a failing COMMIT, constraint violations. Each checks the
// statements the backend sends, that the transaction is rolled back, and
// the status the client gets: 422 for a batch that can never be applied
// (the client sets it aside), 500 for a failure that may pass (the client
// retries), 200 once a retried transaction succeeds.

// pgErr is a Postgres error with SQLSTATE code, as pgx returns it.
func pgErr(code, msg string) error {
	return &pgconn.PgError{Severity: "ERROR", Code: code, Message: msg}
}

// A two-change batch: the statements it sends, in order.
const (
	twoChanges = `{"batch": [
		{"op_id": 1, "tx_id": 1, "op": "PUT", "type": "lists", "id": "` + list1 + `", "data": {"name": "Groceries", "owner_id": "` + user1 + `"}},
		{"op_id": 2, "tx_id": 1, "op": "PATCH", "type": "todos", "id": "` + todo1 + `", "data": {"completed": 1}}
	]}`
	putList   = `^INSERT INTO "lists" \("id", "name", "owner_id"\) SELECT ps_row\."id", ps_row\."name", ps_row\."owner_id" FROM json_populate_record\(NULL::"lists", \$1::json\) AS ps_row ON CONFLICT \(id\) DO UPDATE SET`
	patchTodo = `^UPDATE "todos" SET "completed" = ps_row\."completed" FROM json_populate_record`
)

// listArg is the parameter of the PUT of twoChanges: the row as JSON.
var listArg = `{"id":"` + list1 + `","name":"Groceries","owner_id":"` + user1 + `"}`

// attempt is what the mock database does in one run of the batch's
// transaction: the first statement succeeds, the second answers patchErr
// (nil: succeeds), then COMMIT answers commitErr, or ROLLBACK is expected
// when patchErr is set.
type attempt struct {
	patchErr  error
	commitErr error
}

// expectAttempt sets up mock for a.
func expectAttempt(mock sqlmock.Sqlmock, a attempt) {
	mock.ExpectBegin()
	mock.ExpectExec(putList).WithArgs(listArg).WillReturnResult(sqlmock.NewResult(0, 1))
	patch := mock.ExpectExec(patchTodo)
	if a.patchErr != nil {
		patch.WillReturnError(a.patchErr)
		mock.ExpectRollback()
		return
	}
	patch.WillReturnResult(sqlmock.NewResult(0, 1))
	if a.commitErr != nil {
		mock.ExpectCommit().WillReturnError(a.commitErr)
		return // a failed COMMIT ends the transaction: no ROLLBACK is sent
	}
	mock.ExpectCommit()
}

func TestDatabaseFailures(t *testing.T) {
	serialization := pgErr("40001", "could not serialize access due to concurrent update")
	deadlock := pgErr("40P01", "deadlock detected")
	tests := []struct {
		name     string
		attempts []attempt
		status   int
		msg      string // in the error message the client gets
	}{
		{"applied", []attempt{{}}, http.StatusOK, ""},
		{"serialization failure, then applied", []attempt{{patchErr: serialization}, {}}, http.StatusOK, ""},
		{"deadlock twice, then applied", []attempt{{patchErr: deadlock}, {patchErr: deadlock}, {}}, http.StatusOK, ""},
		{"serialization failure at COMMIT, then applied", []attempt{{commitErr: serialization}, {}}, http.StatusOK, ""},
		{"serialization failures persist", []attempt{{patchErr: serialization}, {patchErr: serialization}, {patchErr: serialization}}, http.StatusInternalServerError, "try again"},
		{"deadlocks persist", []attempt{{patchErr: deadlock}, {commitErr: deadlock}, {patchErr: deadlock}}, http.StatusInternalServerError, "try again"},
		{"unique violation", []attempt{{patchErr: pgErr("23505", `duplicate key value violates unique constraint "todos_pkey"`)}}, http.StatusUnprocessableEntity, "duplicate key"},
		{"foreign key violation", []attempt{{patchErr: pgErr("23503", `violates foreign key constraint "todos_list_id_fkey"`)}}, http.StatusUnprocessableEntity, "foreign key"},
		{"check violation", []attempt{{patchErr: pgErr("23514", `violates check constraint "todos_description_check"`)}}, http.StatusUnprocessableEntity, "check constraint"},
		{"not null violation", []attempt{{patchErr: pgErr("23502", `null value in column "description"`)}}, http.StatusUnprocessableEntity, "null value"},
		{"invalid value", []attempt{{patchErr: pgErr("22P02", `invalid input syntax for type boolean: "maybe"`)}}, http.StatusUnprocessableEntity, "boolean"},
		{"column missing on the server", []attempt{{patchErr: pgErr("42703", `column "completed" does not exist`)}}, http.StatusUnprocessableEntity, "does not exist"},
		{"deferred constraint at COMMIT", []attempt{{commitErr: pgErr("23503", `violates foreign key constraint "todos_list_id_fkey"`)}}, http.StatusUnprocessableEntity, "refused at commit"},
		{"COMMIT fails, connection lost", []attempt{{commitErr: io.ErrUnexpectedEOF}}, http.StatusInternalServerError, "try again"},
		{"COMMIT fails, server shutting down", []attempt{{commitErr: pgErr("57P01", "terminating connection due to administrator command")}}, http.StatusInternalServerError, "try again"},
		{"statement fails, connection lost", []attempt{{patchErr: driver.ErrBadConn}}, http.StatusInternalServerError, "try again"},
		{"query canceled", []attempt{{patchErr: pgErr("57014", "canceling statement due to statement timeout")}}, http.StatusInternalServerError, "try again"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, mock, err := sqlmock.New()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, a := range tc.attempts {
				expectAttempt(mock, a)
			}
			h := handler(NewBackend(db, todoschema.Schema(), nil), nil, "", nil)
			code, body := post(t, h, twoChanges)
			if code != tc.status {
				t.Errorf("status %d, want %d (%s)", code, tc.status, body)
			}
			if tc.msg != "" {
				var res struct {
					Error struct {
						Message string `json:"message"`
					} `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &res); err != nil || !strings.Contains(res.Error.Message, tc.msg) {
					t.Errorf("body %s, want an error message containing %q", body, tc.msg)
				}
			}
			// every attempt ran, and each failed one was rolled back
			if err := mock.ExpectationsWereMet(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestApplyErrors checks the errors Apply returns, which ServeUpload turns
// into the statuses above: a *RejectError naming the change (or none, at
// COMMIT) and keeping the Postgres error reachable, or the last error of a
// retried transaction.
func TestApplyErrors(t *testing.T) {
	var req UploadRequest
	if err := json.Unmarshal([]byte(twoChanges), &req); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, attempts ...attempt) error {
		t.Helper()
		db, mock, err := sqlmock.New()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		for _, a := range attempts {
			expectAttempt(mock, a)
		}
		err = NewBackend(db, todoschema.Schema(), nil).Apply(t.Context(), req.Batch)
		if merr := mock.ExpectationsWereMet(); merr != nil {
			t.Error(merr)
		}
		return err
	}
	var pe *pgconn.PgError

	t.Run("statement", func(t *testing.T) {
		err := run(t, attempt{patchErr: pgErr("23505", "duplicate key")})
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Entry == nil || rej.Entry.OpID != 2 {
			t.Fatalf("Apply = %v, want a *RejectError for op_id 2", err)
		}
		if !errors.As(err, &pe) || pe.Code != "23505" {
			t.Errorf("the Postgres error is not reachable from %v", err)
		}
	})
	t.Run("commit", func(t *testing.T) {
		err := run(t, attempt{commitErr: pgErr("23503", "foreign key")})
		var rej *RejectError
		if !errors.As(err, &rej) || rej.Entry != nil {
			t.Fatalf("Apply = %v, want a *RejectError without an entry", err)
		}
	})
	t.Run("retries exhausted", func(t *testing.T) {
		d := attempt{patchErr: pgErr("40P01", "deadlock detected")}
		err := run(t, d, d, d)
		var rej *RejectError
		if errors.As(err, &rej) || !errors.As(err, &pe) || pe.Code != "40P01" || !strings.Contains(err.Error(), "3 attempts") {
			t.Errorf("Apply = %v, want the deadlock after 3 attempts", err)
		}
	})
}
