package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the plain "sqlite" driver, for read-only inspection
)

// errNotPowerSync reports a SQLite file without the PowerSync internal tables.
var errNotPowerSync = errors.New("not a PowerSync database")

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// inspectDB is a database file opened read-only for inspection.
type inspectDB struct {
	path string
	db   *sql.DB
	conn *sql.Conn // the single connection, inside a read transaction
	// version is the internal layout version (ps_migration), 14 for core 0.5.x.
	version int
	// tables holds the names of all tables in the file, read once by
	// openInspect: the read transaction keeps them from changing.
	tables map[string]bool
}

// openInspect opens path read-only with modernc's plain "sqlite" driver and
// starts a read transaction, so that all queries see one snapshot.
//
// The file is never written: the connection is opened with mode=ro and
// query_only. A WAL-mode file whose -wal file does not exist (no process has
// it open) is opened with immutable=1, because SQLite would otherwise create
// empty -wal and -shm files next to it and leave them behind. The powersync
// driver is deliberately not used: opening a database with it applies the
// internal tables and a schema.
func openInspect(ctx context.Context, path string) (*inspectDB, error) {
	header, err := readHeader(path)
	if err != nil {
		return nil, err
	}
	walMode := header[18] == 2 && header[19] == 2
	params := "mode=ro"
	if walMode {
		if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
			params += "&immutable=1"
		}
	}
	dsn := "file:" + uriPath(path) + "?" + params + "&_pragma=query_only(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &inspectDB{path: path, db: db, conn: conn}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		d.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := d.checkPowerSync(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// readHeader checks that path is an existing SQLite database file and returns
// its 100-byte header.
func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a database file", path)
	}
	header := make([]byte, 100)
	if _, err := io.ReadFull(f, header); err != nil || !bytes.HasPrefix(header, []byte(sqliteMagic)) {
		if fi.Size() == 0 {
			return nil, fmt.Errorf("%s: %w (the file is empty)", path, errNotPowerSync)
		}
		return nil, fmt.Errorf("%s: %w (not a SQLite database file)", path, errNotPowerSync)
	}
	return header, nil
}

// uriPath escapes path for a SQLite "file:" URI.
func uriPath(path string) string {
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p // file:/C:/dir/app.db
	}
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(p)
}

// checkPowerSync reads the table names into d.tables, verifies the PowerSync
// internal tables and reads the layout version.
func (d *inspectDB) checkPowerSync(ctx context.Context) error {
	tables, err := d.tableSet(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", d.path, err)
	}
	d.tables = tables
	var missing []string
	for _, t := range []string{"ps_migration", "ps_buckets", "ps_oplog", "ps_crud", "ps_kv"} {
		if !tables[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: %w (missing table %s)", d.path, errNotPowerSync, strings.Join(missing, ", "))
	}
	if err := d.conn.QueryRowContext(ctx, "SELECT ifnull(max(id), 0) FROM ps_migration").Scan(&d.version); err != nil {
		return fmt.Errorf("read %s: layout version: %w", d.path, err)
	}
	return nil
}

// tableSet returns the names of all tables in the file.
func (d *inspectDB) tableSet(ctx context.Context) (map[string]bool, error) {
	rows, err := d.conn.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'table'")
	if err != nil {
		// "file is not a database" and similar end up here.
		return nil, err
	}
	defer rows.Close()
	set := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		set[n] = true
	}
	return set, rows.Err()
}

// hasColumn reports whether table has a column named col.
func (d *inspectDB) hasColumn(ctx context.Context, table, col string) (bool, error) {
	var n int
	err := d.conn.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", table, col).Scan(&n)
	return n > 0, err
}

// Close ends the read transaction and closes the file.
func (d *inspectDB) Close() error {
	if d.conn != nil {
		d.conn.ExecContext(context.Background(), "ROLLBACK") //nolint:errcheck // read-only; nothing to undo
		d.conn.Close()
	}
	return d.db.Close()
}
