package driver

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gopowersync/powersync/internal/pserr"
)

// LayoutVersion is the version of the internal tables this driver keeps: the
// official core's internal schema version 14 (core 0.5.x). Files at this
// version are shared with the official SDKs unchanged.
const LayoutVersion = 14

// oldestUpgradable is the oldest layout this driver upgrades in place.
const oldestUpgradable = 9

// ErrLayout is returned when a file's internal tables are at a version this
// driver cannot use.
var ErrLayout = errors.New("powersync: unsupported internal layout")

// migrationRowsJSON holds the ps_migration rows the official core writes,
// with the down-migration scripts a native SDK runs to downgrade a file.
//
//go:embed migrations.json
var migrationRowsJSON []byte

type migrationRow struct {
	ID             int     `json:"id"`
	DownMigrations *string `json:"down_migrations"`
}

func migrationRows() ([]migrationRow, error) {
	var rows []migrationRow
	if err := json.Unmarshal(migrationRowsJSON, &rows); err != nil {
		return nil, pserr.Errorf("powersync: embedded migrations: %w", err)
	}
	return rows, nil
}

// The internal tables as the core leaves them at version 14 (the statement
// texts are the ones the core's sqlite_master shows).
var createInternalTables = []string{
	`CREATE TABLE ps_migration(id INTEGER PRIMARY KEY, down_migrations TEXT)`,
	`CREATE TABLE ps_untyped(type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id))`,
	`CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER)`,
	`CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER)`,
	`INSERT INTO ps_tx(id, current_tx, next_tx) VALUES(1, NULL, 1)`,
	`CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB)`,
	`INSERT INTO ps_kv(key, value) values('client_id', uuid())`,
	`CREATE TABLE ps_buckets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  op_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
, count_at_last INTEGER NOT NULL DEFAULT 0, count_since_last INTEGER NOT NULL DEFAULT 0, downloaded_size INTEGER NOT NULL DEFAULT 0) STRICT`,
	`CREATE UNIQUE INDEX ps_buckets_name ON ps_buckets (name)`,
	`CREATE TABLE ps_oplog(
  bucket INTEGER NOT NULL,
  op_id INTEGER NOT NULL,
  row_type TEXT,
  row_id TEXT,
  key TEXT,
  data TEXT,
  hash INTEGER NOT NULL) STRICT`,
	`CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id)`,
	`CREATE INDEX ps_oplog_opid ON ps_oplog (bucket, op_id)`,
	`CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key)`,
	`CREATE TABLE ps_updated_rows(
  row_type TEXT,
  row_id TEXT,
  PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID`,
	`CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at INTEGER NOT NULL
) STRICT`,
	createStreamSubscriptions,
}

const createStreamSubscriptions = `CREATE TABLE ps_stream_subscriptions (
  id INTEGER NOT NULL PRIMARY KEY,
  stream_name TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT FALSE,
  is_default INTEGER NOT NULL DEFAULT FALSE,
  local_priority INTEGER,
  local_params TEXT NOT NULL DEFAULT 'null',
  ttl INTEGER,
  expires_at INTEGER,
  last_synced_at INTEGER,
  UNIQUE (stream_name, local_params)
) STRICT`

// upgradeSteps bring a file from version k-1 to version k. Version 10 only
// marks that generated views use newer functions: it changes no table.
var upgradeSteps = map[int][]string{
	9: {
		`ALTER TABLE ps_buckets ADD COLUMN count_at_last INTEGER NOT NULL DEFAULT 0`,
		`ALTER TABLE ps_buckets ADD COLUMN count_since_last INTEGER NOT NULL DEFAULT 0`,
	},
	11: {createStreamSubscriptions},
	12: {`ALTER TABLE ps_buckets ADD COLUMN downloaded_size INTEGER NOT NULL DEFAULT 0`},
	13: {
		`ALTER TABLE ps_sync_state RENAME TO ps_sync_state_old`,
		`CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at INTEGER NOT NULL
) STRICT`,
		`INSERT INTO ps_sync_state (priority, last_synced_at)
  SELECT priority, CAST(unixepoch(last_synced_at, 'subsec') * 1000000 AS INTEGER) FROM ps_sync_state_old`,
		`DROP TABLE ps_sync_state_old`,
		`UPDATE ps_stream_subscriptions SET expires_at = expires_at * 1000000, last_synced_at = last_synced_at * 1000000`,
	},
	14: {
		`INSERT OR REPLACE INTO ps_kv(key, value)
  SELECT 'last_applied_checkpoint_request_id', last_applied_op FROM ps_buckets WHERE name = '$local' AND last_applied_op > 0`,
		`INSERT OR REPLACE INTO ps_kv(key, value)
  SELECT 'last_seen_checkpoint_request_id', last_op FROM ps_buckets WHERE name = '$local' AND last_op > 0`,
		`INSERT OR REPLACE INTO ps_kv(key, value)
  SELECT 'target_checkpoint_request_id', target_op FROM ps_buckets WHERE name = '$local' AND target_op > 0`,
		`DELETE FROM ps_buckets WHERE name = '$local'`,
		`ALTER TABLE ps_buckets DROP COLUMN target_op`,
	},
}

// rowQuerier is a *sql.DB or a *sql.Tx.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// layoutVersion reads the file's internal layout version (0 for a new file).
func layoutVersion(ctx context.Context, q rowQuerier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ps_migration'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v int
	err = q.QueryRowContext(ctx, `SELECT ifnull(max(id), 0) FROM ps_migration`).Scan(&v)
	return v, err
}

// checkLayout refuses layout versions this driver cannot use.
func checkLayout(version int) error {
	if version > LayoutVersion {
		return fmt.Errorf("%w: the file is at version %d, written by a newer PowerSync client; this driver keeps version %d", ErrLayout, version, LayoutVersion)
	}
	if version != 0 && version < oldestUpgradable {
		return fmt.Errorf("%w: the file is at version %d; this driver upgrades versions %d to %d (open it once with a current official SDK to upgrade it)", ErrLayout, version, oldestUpgradable, LayoutVersion)
	}
	return nil
}

// migrate brings the internal tables to LayoutVersion inside the caller's
// transaction: it creates them in a new file and upgrades files written by
// older official SDKs (layout 9 and newer). Anything else is refused.
func migrate(ctx context.Context, tx *sql.Tx) error {
	version, err := layoutVersion(ctx, tx)
	if err != nil {
		return pserr.Errorf("powersync: read layout version: %w", err)
	}
	if version == LayoutVersion {
		return nil
	}
	if err := checkLayout(version); err != nil {
		return err
	}
	rows, err := migrationRows()
	if err != nil {
		return err
	}
	if version == 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name LIKE 'ps\_%' ESCAPE '\'`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the file has PowerSync tables but no ps_migration version", ErrLayout)
		}
		for _, stmt := range createInternalTables {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return pserr.Errorf("powersync: create internal tables: %w", err)
			}
		}
		return insertMigrationRows(ctx, tx, rows, 0)
	}
	// The upgrade steps rename and drop columns, which makes SQLite re-check
	// every trigger; triggers written by the official core name its
	// powersync_crud virtual table, which this driver does not have. They are
	// dropped here and the schema's triggers are recreated by applySchema.
	triggers, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'trigger' AND name GLOB 'ps_view_*'`)
	if err != nil {
		return err
	}
	for _, name := range triggers {
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER `+quoteIdent(name)); err != nil {
			return pserr.Errorf("powersync: upgrade layout: %w", err)
		}
	}
	for v := version + 1; v <= LayoutVersion; v++ {
		for _, stmt := range upgradeSteps[v] {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return pserr.Errorf("powersync: upgrade layout to version %d: %w", v, err)
			}
		}
	}
	return insertMigrationRows(ctx, tx, rows, version)
}

func insertMigrationRows(ctx context.Context, tx *sql.Tx, rows []migrationRow, after int) error {
	for _, r := range rows {
		if r.ID <= after {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ps_migration(id, down_migrations) VALUES(?, ?)`, r.ID, r.DownMigrations); err != nil {
			return pserr.Errorf("powersync: record layout version %d: %w", r.ID, err)
		}
	}
	return nil
}
