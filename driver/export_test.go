package driver

import (
	"context"
	"database/sql"
)

// WriteWaiters returns how many writers wait for the write lock of the file
// behind db, so that tests can wait for a writer to be waiting.
func WriteWaiters(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	err := withConn(ctx, db, func(c *conn) error {
		n = int(c.st.file.wlock.waiting.Load())
		return nil
	})
	return n, err
}

// PreparedConnectors returns how many connectors of the file behind c hold
// per-connector state, so that tests can see Close release it.
func PreparedConnectors(c *Connector) int {
	fs := c.fileState()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.prepared)
}
