package driver

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/gopowersync/powersync/schema"
)

// managedViewMarker ends the SQL of every view PowerSync generates.
const managedViewMarker = "-- powersync-auto-generated"

// applySchema makes the database match s, as the core's
// powersync_replace_schema does (spec: schema.md §8): data tables are created
// or set aside, indexes and views with their triggers are created, replaced or
// dropped, and whatever is already as wanted is left alone, so applying the
// same schema twice changes nothing. It runs in the caller's transaction.
func applySchema(ctx context.Context, tx *sql.Tx, s *schema.Schema, log *slog.Logger) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyTables(ctx, tx, s, log); err != nil {
		return fmt.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyIndexes(ctx, tx, s); err != nil {
		return fmt.Errorf("powersync: apply schema: %w", err)
	}
	if err := applyViews(ctx, tx, s, log); err != nil {
		return fmt.Errorf("powersync: apply schema: %w", err)
	}
	return nil
}

type dataTable struct {
	name      string // public name
	localOnly bool
}

func (d dataTable) storage() string {
	if d.localOnly {
		return "ps_data_local__" + d.name
	}
	return "ps_data__" + d.name
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
	existing := make(map[dataTable]bool)
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, "ps_data_local__"); ok {
			existing[dataTable{rest, true}] = true
		} else if rest, ok := strings.CutPrefix(n, "ps_data__"); ok {
			existing[dataTable{rest, false}] = true
		}
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		want := dataTable{t.Name, t.LocalOnly}
		if existing[want] {
			delete(existing, want)
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s(id TEXT PRIMARY KEY NOT NULL, data TEXT)`, quoteIdent(want.storage()))); err != nil {
			return fmt.Errorf("create table for %q: %w", t.Name, err)
		}
		if !want.localOnly {
			// Rows synced while the table was not in the schema come back.
			q := fmt.Sprintf(`INSERT INTO %s(id, data) SELECT id, data FROM ps_untyped WHERE type = ?`, quoteIdent(want.storage()))
			if _, err := tx.ExecContext(ctx, q, t.Name); err != nil {
				return fmt.Errorf("restore rows of %q: %w", t.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM ps_untyped WHERE type = ?`, t.Name); err != nil {
				return err
			}
		}
		log.Debug("powersync: created table", "table", t.Name, "local_only", t.LocalOnly)
	}
	for d := range existing {
		if !d.localOnly {
			// Synced rows are kept aside, as the core keeps them, until the
			// table returns to the schema.
			q := fmt.Sprintf(`INSERT OR REPLACE INTO ps_untyped(type, id, data) SELECT ?, id, data FROM %s`, quoteIdent(d.storage()))
			if _, err := tx.ExecContext(ctx, q, d.name); err != nil {
				return fmt.Errorf("keep rows of %q: %w", d.name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP TABLE `+quoteIdent(d.storage())); err != nil {
			return fmt.Errorf("drop table of %q: %w", d.name, err)
		}
		log.Debug("powersync: dropped table", "table", d.name, "local_only", d.localOnly)
	}
	return nil
}

func applyIndexes(ctx context.Context, tx *sql.Tx, s *schema.Schema) error {
	want := make(map[string]string)
	for i := range s.Tables {
		for _, ix := range tableIndexes(&s.Tables[i]) {
			want[ix.name] = ix.sql
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, ifnull(sql, '') FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*'`)
	if err != nil {
		return err
	}
	have := make(map[string]string)
	for rows.Next() {
		var n, q string
		if err := rows.Scan(&n, &q); err != nil {
			rows.Close()
			return err
		}
		have[n] = q
	}
	rows.Close()
	if err := rows.Err(); err != nil {
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
	views, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'view' AND sql GLOB '*`+managedViewMarker+`'`)
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
		wantView, wantTriggers := tableViewSQL(t)
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
			if _, err := tx.ExecContext(ctx, trig.sql); err != nil {
				return fmt.Errorf("create trigger %q: %w", trig.name, err)
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
func viewUnchanged(ctx context.Context, tx *sql.Tx, name, wantView string, wantTriggers []namedSQL) (bool, error) {
	var have string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?`, name).Scan(&have); err != nil {
		return false, err
	}
	if have != wantView {
		return false, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name GLOB 'ps_view_*'`, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	haveTriggers := make(map[string]string)
	for rows.Next() {
		var n, q string
		if err := rows.Scan(&n, &q); err != nil {
			return false, err
		}
		haveTriggers[n] = q
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	want := make(map[string]string, len(wantTriggers))
	for _, t := range wantTriggers {
		want[t.name] = t.sql
	}
	return maps.Equal(haveTriggers, want), nil
}

type namedSQL struct{ name, sql string }

// quoteIdent quotes a SQLite identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
