package attachments

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches the queue's prepared statements: its queries go through a
// view of a dozen JSON columns, which SQLite takes long to parse, and the
// loop runs them after every transfer.
type stmts struct {
	db     *sql.DB
	mu     sync.Mutex // guards m and closed
	m      map[string]*sql.Stmt
	closed bool
}

func (s *stmts) get(ctx context.Context, query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if st, ok := s.m[query]; ok {
		return st
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the unprepared call reports the error
	}
	if s.m == nil {
		s.m = map[string]*sql.Stmt{}
	}
	s.m[query] = st
	return st
}

// ExecContext runs a write unprepared: the driver takes its write lock
// per statement, and a cached write statement is not needed for speed.
func (s *stmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, query, args...)
}

func (s *stmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

func (s *stmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

// close closes the statements; later calls run unprepared.
func (s *stmts) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, st := range s.m {
		st.Close()
	}
	s.m = nil
}
