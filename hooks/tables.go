package hooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gopowersync/powersync/internal/pserr"
)

// QueryTables returns the tables query reads, as a watched query names them:
// it runs EXPLAIN on the query, takes the root pages the program opens for
// reading in the main database (views are expanded by SQLite, so a view
// counts as the tables it reads), and maps them to table names through
// sqlite_master. PowerSync data tables are reported by their public names
// (ps_data__todos as todos); other tables, internal ones included, by their
// own. The names are sorted. args are bound as the query would bind them.
func QueryTables(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	if len(cols) < 5 {
		return nil, fmt.Errorf("powersync: find tables of query: EXPLAIN returned %d columns", len(cols))
	}
	var (
		opcode    string
		p2, p3    int64
		pages     []int64
		dest      = make([]any, len(cols))
		discard   any
		opcodeCol = slices.Index(cols, "opcode")
		p2Col     = slices.Index(cols, "p2")
		p3Col     = slices.Index(cols, "p3")
	)
	if opcodeCol < 0 || p2Col < 0 || p3Col < 0 {
		return nil, fmt.Errorf("powersync: find tables of query: unexpected EXPLAIN columns %q", cols)
	}
	for i := range dest {
		dest[i] = &discard
	}
	dest[opcodeCol], dest[p2Col], dest[p3Col] = &opcode, &p2, &p3
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, pserr.Errorf("powersync: find tables of query: %w", err)
		}
		// P3 is the database: 0 is main (temp and attached ones are not watched).
		if (opcode == "OpenRead" || opcode == "ReopenIdx") && p3 == 0 && !slices.Contains(pages, p2) {
			pages = append(pages, p2)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	rows.Close()
	if len(pages) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(pages)
	if err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	trows, err := db.QueryContext(ctx,
		`SELECT DISTINCT tbl_name FROM sqlite_master WHERE rootpage IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	defer trows.Close()
	var tables []string
	for trows.Next() {
		var name string
		if err := trows.Scan(&name); err != nil {
			return nil, pserr.Errorf("powersync: find tables of query: %w", err)
		}
		if p, ok := PublicName(name); ok {
			name = p
		}
		if !slices.Contains(tables, name) {
			tables = append(tables, name)
		}
	}
	if err := trows.Err(); err != nil {
		return nil, pserr.Errorf("powersync: find tables of query: %w", err)
	}
	slices.Sort(tables)
	return tables, nil
}
