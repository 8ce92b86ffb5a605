package driver

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/schema"
)

// applySchema makes the database match s, as the core's
// powersync_replace_schema does (docs/storage.md, "Data tables and views"): data tables are created
// or set aside, indexes and views with their triggers are created, replaced or
// dropped, and whatever is already as wanted is left alone, so applying the
// same schema twice changes nothing. It runs in the caller's transaction.
func applySchema(ctx context.Context, tx *sql.Tx, s *schema.Schema, log *slog.Logger) error {
	if err := s.Validate(); err != nil {
		return pserr.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyTables(ctx, tx, s, log); err != nil {
		return pserr.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyIndexes(ctx, tx, s); err != nil {
		return pserr.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyViews(ctx, tx, s, log); err != nil {
		return pserr.Errorf("powersync: apply schema: %w", err)
	}
	return nil
}

// dataTable is the table a data table in the file belongs to.
type dataTable struct {
	name      string // public name
	localOnly bool
}

func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func applyTables(ctx context.Context, tx *sql.Tx, s *schema.Schema, log *slog.Logger) error {
	names, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data_*'`)
	if err != nil {
		return err
	}
	existing := make(map[string]dataTable) // by data table name
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, "ps_data_local__"); ok {
			existing[n] = dataTable{rest, true}
		} else if rest, ok := strings.CutPrefix(n, "ps_data__"); ok {
			existing[n] = dataTable{rest, false}
		}
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		storage := t.DataTableName()
		if _, ok := existing[storage]; ok {
			delete(existing, storage)
			continue
		}
		if _, err := tx.ExecContext(ctx, t.DataTableSQL()); err != nil {
			return fmt.Errorf("create table for %q: %w", t.Name, err)
		}
		if !t.LocalOnly {
			// Rows synced while the table was not in the schema come back.
			q := fmt.Sprintf(`INSERT INTO %s(id, data) SELECT id, data FROM ps_untyped WHERE type = ?`, quoteIdent(storage))
			if _, err := tx.ExecContext(ctx, q, t.Name); err != nil {
				return fmt.Errorf("restore rows of %q: %w", t.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ps_untyped WHERE type = ?`, t.Name); err != nil {
				return err
			}
		}
		log.Debug("powersync: created table", "table", t.Name, "local_only", t.LocalOnly)
	}
	for storage, d := range existing {
		if !d.localOnly {
			// Synced rows are kept aside, as the core keeps them, until the
			// table returns to the schema.
			q := fmt.Sprintf(`INSERT OR REPLACE INTO ps_untyped(type, id, data) SELECT ?, id, data FROM %s`, quoteIdent(storage))
			if _, err := tx.ExecContext(ctx, q, d.name); err != nil {
				return fmt.Errorf("keep rows of %q: %w", d.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+quoteIdent(storage)); err != nil {
			return fmt.Errorf("drop table of %q: %w", d.name, err)
		}
		log.Debug("powersync: dropped table", "table", d.name, "local_only", d.localOnly)
	}
	return nil
}

func applyIndexes(ctx context.Context, tx *sql.Tx, s *schema.Schema) error {
	want := make(map[string]string)
	for i := range s.Tables {
		for _, ix := range s.Tables[i].IndexSQL() {
			want[ix.Name] = ix.SQL
		}
	}
	have, err := querySQLByName(ctx, tx, `SELECT name, ifnull(sql, '') FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*'`)
	if err != nil {
		return err
	}
	for n, q := range have {
		if w, ok := want[n]; !ok || w != q {
			if _, err := tx.ExecContext(ctx, `DROP INDEX `+quoteIdent(n)); err != nil {
				return fmt.Errorf("drop index %q: %w", n, err)
			}
		}
	}
	for n, q := range want {
		if have[n] == q {
			continue
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create index %q: %w", n, err)
		}
	}
	return nil
}

func applyViews(ctx context.Context, tx *sql.Tx, s *schema.Schema, log *slog.Logger) error {
	views, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'view' AND sql GLOB '*`+strings.TrimSpace(schema.ViewMarker)+`'`)
	if err != nil {
		return err
	}
	managed := make(map[string]bool, len(views))
	for _, v := range views {
		managed[v] = true
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		name := t.ViewName()
		wantView, wantTriggers := t.ViewSQL(), t.Triggers()
		if managed[name] {
			delete(managed, name)
			same, err := viewUnchanged(ctx, tx, name, wantView, wantTriggers)
			if err != nil {
				return err
			}
			if same {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS `+quoteIdent(name)); err != nil {
			return fmt.Errorf("drop view %q: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, wantView); err != nil {
			return fmt.Errorf("create view %q: %w", name, err)
		}
		for _, trig := range wantTriggers {
			if _, err := tx.ExecContext(ctx, trig.SQL); err != nil {
				return fmt.Errorf("create trigger %q: %w", trig.Name, err)
			}
		}
		log.Debug("powersync: created view", "view", name)
	}
	for name := range managed {
		if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS `+quoteIdent(name)); err != nil {
			return fmt.Errorf("drop view %q: %w", name, err)
		}
		log.Debug("powersync: dropped view", "view", name)
	}
	return nil
}

// viewUnchanged reports whether the view and the PowerSync triggers on it are
// exactly what the schema generates. A view written by another client (whose
// triggers record uploads differently) is recreated.
func viewUnchanged(ctx context.Context, tx *sql.Tx, name, wantView string, wantTriggers []schema.Trigger) (bool, error) {
	var have string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?`, name).Scan(&have); err != nil {
		return false, err
	}
	if have != wantView {
		return false, nil
	}
	haveTriggers, err := querySQLByName(ctx, tx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name GLOB 'ps_view_*'`, name)
	if err != nil {
		return false, err
	}
	want := make(map[string]string, len(wantTriggers))
	for _, t := range wantTriggers {
		want[t.Name] = t.SQL
	}
	return maps.Equal(haveTriggers, want), nil
}

// querySQLByName runs a query of (name, sql) rows and returns sql by name.
func querySQLByName(ctx context.Context, tx *sql.Tx, query string, args ...any) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]string)
	for rows.Next() {
		var n, q string
		if err := rows.Scan(&n, &q); err != nil {
			return nil, err
		}
		out[n] = q
	}
	return out, rows.Err()
}

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
