package sync

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	gosync "sync"

	"github.com/gopowersync/powersync/internal/pserr"
)

// ErrAlreadySyncing is returned (wrapped) by [New] when another [Syncer]
// holds the same database file, in this process or in another one. Two
// syncers on one file would upload the same queued changes twice; close
// the other one first (or use it).
var ErrAlreadySyncing = errors.New("powersync: another syncer already uses this database file")

// activeFiles is the process-wide registry of the database files held by a
// Syncer, by canonical path.
var activeFiles struct {
	mu    gosync.Mutex // guards paths
	paths map[string]struct{}
}

// fileGuard is a Syncer's hold on its database file: an entry of
// activeFiles and, where the OS offers one, a lock on "<db>-powersync.lock"
// that the OS releases when the process ends, however it ends.
type fileGuard struct {
	path string
	lock interface{ Close() error } // nil: no cross-process lock
}

// lockFileSuffix names the lock file beside the database file.
const lockFileSuffix = "-powersync.lock"

// acquireFileGuard takes db's file for one syncer. An in-memory or
// temporary database has no file and gets no guard (nil, nil).
func acquireFileGuard(ctx context.Context, db *sql.DB) (*fileGuard, error) {
	path, err := databaseFile(ctx, db)
	if err != nil || path == "" {
		return nil, err
	}
	activeFiles.mu.Lock()
	defer activeFiles.mu.Unlock()
	if _, held := activeFiles.paths[path]; held {
		return nil, pserr.Errorf("powersync: new syncer for %s: a syncer of this process holds it: %w", path, ErrAlreadySyncing)
	}
	lock, err := lockFile(path + lockFileSuffix)
	if err != nil {
		return nil, pserr.Errorf("powersync: new syncer for %s: %w", path, err)
	}
	if activeFiles.paths == nil {
		activeFiles.paths = map[string]struct{}{}
	}
	activeFiles.paths[path] = struct{}{}
	return &fileGuard{path: path, lock: lock}, nil
}

// release gives the file up. A nil guard does nothing.
func (g *fileGuard) release() {
	if g == nil {
		return
	}
	activeFiles.mu.Lock()
	defer activeFiles.mu.Unlock()
	if g.lock != nil {
		g.lock.Close()
	}
	delete(activeFiles.paths, g.path)
}

// databaseFile returns the canonical path of db's main database file, or ""
// for an in-memory or temporary database. SQLite reports the file it opened
// (an absolute path) in PRAGMA database_list; symbolic links are resolved so
// that two names of one file are one key.
func databaseFile(ctx context.Context, db *sql.DB) (string, error) {
	rows, err := db.QueryContext(ctx, `PRAGMA database_list`)
	if err != nil {
		return "", pserr.Errorf("powersync: new syncer: read database file name: %w", err)
	}
	defer rows.Close()
	var file string
	for rows.Next() {
		var seq int
		var name, f string
		if err := rows.Scan(&seq, &name, &f); err != nil {
			return "", pserr.Errorf("powersync: new syncer: read database file name: %w", err)
		}
		if name == "main" {
			file = f
		}
	}
	if err := rows.Err(); err != nil {
		return "", pserr.Errorf("powersync: new syncer: read database file name: %w", err)
	}
	if file == "" {
		return "", nil
	}
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	if real, err := filepath.EvalSymlinks(file); err == nil {
		file = real
	}
	return file, nil
}
