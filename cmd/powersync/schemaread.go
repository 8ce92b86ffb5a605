package main

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gopowersync/powersync/schema"
)

// The file does not store the schema JSON. It is reconstructed from what
// applying a schema leaves in sqlite_master: the managed views (SQL ending in
// schema.ViewMarker), their data tables, their INSTEAD OF triggers and the
// indexes on the data tables. Both the official core's trigger form
// (INSERT INTO powersync_crud(...)) and this module's driver form
// (powersync_crud_entry(...)) are understood.

// Table option bits, as in the core and in the options argument of the
// generated UPDATE triggers (see [schema.Table.Flags]).
const (
	optIncludeMetadata           = 4
	optIncludeOldOnlyWhenChanged = 8
	optIgnoreEmptyUpdate         = 16
)

// schemaResult is a reconstructed schema plus what could not be recovered.
type schemaResult struct {
	Schema schema.Schema
	// Notes describe what could not be recovered exactly, per table.
	Notes []string
}

type masterEntry struct{ typ, name, tbl, sql string }

// readSchema reconstructs the schema from sqlite_master.
func (d *inspectDB) readSchema(ctx context.Context) (*schemaResult, error) {
	rows, err := d.conn.QueryContext(ctx, "SELECT type, name, tbl_name, ifnull(sql, '') FROM sqlite_master ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("read sqlite_master: %w", err)
	}
	defer rows.Close()
	var all []masterEntry
	for rows.Next() {
		var e masterEntry
		if err := rows.Scan(&e.typ, &e.name, &e.tbl, &e.sql); err != nil {
			return nil, fmt.Errorf("read sqlite_master: %w", err)
		}
		all = append(all, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read sqlite_master: %w", err)
	}
	return reconstructSchema(all), nil
}

// reconstructSchema builds the schema from sqlite_master entries.
func reconstructSchema(all []masterEntry) *schemaResult {
	res := &schemaResult{Schema: schema.Schema{Tables: []schema.Table{}}}
	note := func(format string, args ...any) { res.Notes = append(res.Notes, fmt.Sprintf(format, args...)) }

	dataTables := map[string]bool{}
	triggersOn := map[string][]masterEntry{}
	indexesOn := map[string][]masterEntry{}
	for _, e := range all {
		switch e.typ {
		case "table":
			if _, _, ok := dataTableName(e.name); ok {
				dataTables[e.name] = true
			}
		case "trigger":
			triggersOn[e.tbl] = append(triggersOn[e.tbl], e)
		case "index":
			if e.sql != "" {
				indexesOn[e.tbl] = append(indexesOn[e.tbl], e)
			}
		}
	}

	usedData := map[string]bool{}
	for _, e := range all {
		if e.typ != "view" || !strings.HasSuffix(e.sql, schema.ViewMarker) {
			continue
		}
		v, err := parseView(e.sql)
		if err != nil {
			note("view %q: cannot read its definition (%v); skipped", e.name, err)
			continue
		}
		name, local, ok := dataTableName(v.from)
		if !ok {
			note("view %q reads %q, which is not a PowerSync data table; skipped", e.name, v.from)
			continue
		}
		usedData[v.from] = true
		t := schema.Table{Name: name, LocalOnly: local, Columns: v.columns, TrackMetadata: v.metadata}
		if v.name != name {
			t.ViewNameOverride = v.name
		}
		if !dataTables[v.from] {
			note("table %q: its data table %q is missing", name, v.from)
		}
		readTriggers(&t, triggersOn[v.name], note)
		t.Indexes = readIndexes(&t, indexesOn[v.from], note)
		res.Schema.Tables = append(res.Schema.Tables, t)
	}
	sort.Slice(res.Schema.Tables, func(i, j int) bool { return res.Schema.Tables[i].Name < res.Schema.Tables[j].Name })

	var orphans []string
	for t := range dataTables {
		if !usedData[t] {
			orphans = append(orphans, t)
		}
	}
	sort.Strings(orphans)
	for _, t := range orphans {
		note("data table %q has no managed view; its columns are unknown and it is not included", t)
	}
	for _, raw := range rawTableTriggers(all) {
		note("raw table %q (local table %q) has CRUD triggers; raw tables are not stored in the file and are not included", raw[0], raw[1])
	}
	return res
}

// viewDef is a parsed managed view.
type viewDef struct {
	name     string
	columns  []schema.Column
	metadata bool
	from     string
}

// parseView parses
//
//	CREATE VIEW "V"("id", "c1", ...) AS SELECT id, CAST(json_extract(data, '$.c1') as T1), ...[, NULL, NULL] FROM "D" -- powersync-auto-generated
func parseView(sql string) (*viewDef, error) {
	p := &sqlParser{s: sql}
	v := &viewDef{}
	var ok bool
	if !p.lit("CREATE VIEW ") {
		return nil, p.errorf("expected CREATE VIEW")
	}
	if v.name, ok = p.ident(); !ok {
		return nil, p.errorf("expected view name")
	}
	if !p.lit("(") {
		return nil, p.errorf("expected column list")
	}
	var names []string
	for {
		n, ok := p.ident()
		if !ok {
			return nil, p.errorf("expected column name")
		}
		names = append(names, n)
		if p.lit(")") {
			break
		}
		if !p.lit(", ") {
			return nil, p.errorf("expected , or )")
		}
	}
	if len(names) == 0 || names[0] != "id" {
		return nil, p.errorf(`expected "id" as the first column`)
	}
	if !p.lit(" AS SELECT id") {
		return nil, p.errorf("expected AS SELECT id")
	}
	var exprs []string // one per column after id: a type, or "" for NULL
	for p.lit(", ") {
		if p.lit("NULL") {
			exprs = append(exprs, "")
			continue
		}
		if !p.lit("CAST(json_extract(data, ") {
			return nil, p.errorf("expected CAST(json_extract(...))")
		}
		if _, ok := p.str(); !ok {
			return nil, p.errorf("expected JSON path")
		}
		if !p.lit(") as ") {
			return nil, p.errorf("expected as")
		}
		typ, ok := p.untilClose()
		if !ok {
			return nil, p.errorf("unterminated CAST")
		}
		exprs = append(exprs, typ)
	}
	if !p.lit(" FROM ") {
		return nil, p.errorf("expected FROM")
	}
	if v.from, ok = p.ident(); !ok {
		return nil, p.errorf("expected data table")
	}
	if !p.lit(schema.ViewMarker) {
		return nil, p.errorf("expected end of view")
	}
	if len(exprs) != len(names)-1 {
		return nil, fmt.Errorf("%d column names but %d expressions", len(names)-1, len(exprs))
	}
	cols, exprs := names[1:], exprs
	if n := len(cols); n >= 2 && cols[n-2] == "_metadata" && cols[n-1] == "_deleted" && exprs[n-2] == "" && exprs[n-1] == "" {
		v.metadata = true
		cols, exprs = cols[:n-2], exprs[:n-2]
	}
	v.columns = []schema.Column{}
	for i, c := range cols {
		if exprs[i] == "" {
			return nil, fmt.Errorf("column %q is NULL", c)
		}
		v.columns = append(v.columns, schema.Column{Name: c, Type: schema.ColumnType(exprs[i])})
	}
	return v, nil
}

// readTriggers derives insert_only, include_old and the option flags from
// the view's triggers.
func readTriggers(t *schema.Table, triggers []masterEntry, note func(string, ...any)) {
	var insert, update, del string
	for _, tr := range triggers {
		switch {
		case strings.HasPrefix(tr.name, "ps_view_insert_"):
			insert = tr.sql
		case strings.HasPrefix(tr.name, "ps_view_update_"):
			update = tr.sql
		case strings.HasPrefix(tr.name, "ps_view_delete2_"):
			// metadata deletes: same old values as the delete trigger
		case strings.HasPrefix(tr.name, "ps_view_delete_"):
			del = tr.sql
		}
	}
	writesData := strings.Contains(insert, "INSERT INTO "+quoteIdent(t.DataTableName()))
	if !t.LocalOnly && insert != "" && update == "" && del == "" && !writesData {
		t.InsertOnly = true
		return
	}
	if insert == "" || update == "" || del == "" {
		note("table %q: the view lacks some triggers (insert %t, update %t, delete %t); options may be incomplete",
			t.Name, insert != "", update != "", del != "")
	}
	if t.LocalOnly {
		return // records no CRUD: no options to read
	}
	onlyWhenChanged := false
	if args, ok := crudCall(update); ok {
		if opt, err := strconv.Atoi(args["options"]); err == nil {
			t.IgnoreEmptyUpdates = opt&optIgnoreEmptyUpdate != 0
			onlyWhenChanged = opt&optIncludeOldOnlyWhenChanged != 0
			if (opt&optIncludeMetadata != 0) != t.TrackMetadata {
				note("table %q: the update trigger's include_metadata flag disagrees with the view's columns", t.Name)
			}
		} else if update != "" {
			note("table %q: cannot read the options of the update trigger", t.Name)
		}
	}
	if args, ok := crudCall(del); ok {
		if old := args["old_values"]; old != "" {
			// include_old_only_when_changed is kept only here: without
			// include_old it changes nothing.
			t.TrackPrevious = &schema.TrackPreviousValues{OnlyWhenChanged: onlyWhenChanged}
			if cols := oldColumns(old); len(cols) != len(t.Columns) {
				t.TrackPrevious.Columns = cols
			}
		}
	}
}

// crudCall finds the CRUD record in trigger SQL and returns its arguments by
// name (op, id, type, data, old_values, metadata, options); absent and NULL
// arguments are left out.
func crudCall(sql string) (map[string]string, bool) {
	const core = "INSERT INTO powersync_crud("
	const ours = "powersync_crud_entry("
	out := map[string]string{}
	if i := strings.Index(sql, core); i >= 0 {
		p := &sqlParser{s: sql, i: i + len(core)}
		list, ok := p.untilClose()
		if !ok || !p.lit(" VALUES (") {
			return nil, false
		}
		args, ok := p.args()
		names := strings.Split(list, ",")
		if !ok || len(args) != len(names) {
			return nil, false
		}
		for k, n := range names {
			out[strings.TrimSpace(n)] = args[k]
		}
		return out, true
	}
	if i := strings.Index(sql, ours); i >= 0 {
		p := &sqlParser{s: sql, i: i + len(ours)}
		args, ok := p.args()
		names := []string{"op", "id", "type", "data", "old_values", "metadata", "options"}
		if !ok || len(args) != len(names) {
			return nil, false
		}
		for k, n := range names {
			if args[k] != "NULL" {
				out[n] = args[k]
			}
		}
		return out, true
	}
	return nil, false
}

var oldColumnRe = regexp.MustCompile(`(?:OLD|NEW)\."((?:[^"]|"")*)"`)

// oldColumns lists the columns referenced in a previous-values expression,
// in order of first appearance.
func oldColumns(expr string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, m := range oldColumnRe.FindAllStringSubmatch(expr, -1) {
		c := strings.ReplaceAll(m[1], `""`, `"`)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// readIndexes parses the indexes on a data table.
func readIndexes(t *schema.Table, idx []masterEntry, note func(string, ...any)) []schema.Index {
	out := []schema.Index{}
	prefix := t.DataTableName() + "__"
	for _, e := range idx {
		name, ok := strings.CutPrefix(e.name, prefix)
		if !ok {
			note("table %q: index %q is not a PowerSync index; skipped", t.Name, e.name)
			continue
		}
		cols, err := parseIndex(e.sql)
		if err != nil {
			note("table %q: index %q: %v; skipped", t.Name, e.name, err)
			continue
		}
		out = append(out, schema.Index{Name: name, Columns: cols})
	}
	return out
}

// parseIndex parses
//
//	CREATE INDEX "N" ON "D"(CAST(json_extract(data, '$.c') as T)[ DESC], ...)
func parseIndex(sql string) ([]schema.IndexedColumn, error) {
	p := &sqlParser{s: sql}
	if !p.lit("CREATE INDEX ") {
		return nil, p.errorf("expected CREATE INDEX")
	}
	if _, ok := p.ident(); !ok {
		return nil, p.errorf("expected index name")
	}
	if !p.lit(" ON ") {
		return nil, p.errorf("expected ON")
	}
	if _, ok := p.ident(); !ok {
		return nil, p.errorf("expected table name")
	}
	if !p.lit("(") {
		return nil, p.errorf("expected (")
	}
	var cols []schema.IndexedColumn
	for {
		if !p.lit("CAST(json_extract(data, ") {
			return nil, p.errorf("expected CAST(json_extract(...))")
		}
		path, ok := p.str()
		if !ok {
			return nil, p.errorf("expected JSON path")
		}
		name, ok := strings.CutPrefix(path, "$.")
		if !ok {
			return nil, p.errorf("unexpected JSON path %q", path)
		}
		if !p.lit(") as ") {
			return nil, p.errorf("expected as")
		}
		typ, ok := p.untilClose()
		if !ok {
			return nil, p.errorf("unterminated CAST")
		}
		c := schema.IndexedColumn{Name: name, Type: schema.ColumnType(typ), Descending: p.lit(" DESC")}
		cols = append(cols, c)
		if p.lit(")") {
			break
		}
		if !p.lit(", ") {
			return nil, p.errorf("expected , or )")
		}
	}
	if p.i != len(p.s) {
		return nil, p.errorf("unexpected text after the column list")
	}
	return cols, nil
}

var rawTriggerTypeRe = regexp.MustCompile(`'type', '((?:[^']|'')*)'|powersync_crud_entry\('[A-Z]+', (?:NEW|OLD)\.id, '((?:[^']|'')*)'|VALUES \('[A-Z]+', (?:NEW|OLD)\.id, '((?:[^']|'')*)'`)

// rawTableTriggers finds CRUD triggers of raw tables (AFTER triggers guarded
// by powersync_in_sync_operation()) and returns [raw table name, local table].
func rawTableTriggers(all []masterEntry) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	for _, e := range all {
		if e.typ != "trigger" || !strings.Contains(e.sql, "powersync_in_sync_operation()") {
			continue
		}
		name := e.tbl
		if m := rawTriggerTypeRe.FindStringSubmatch(e.sql); m != nil {
			for _, g := range m[1:] {
				if g != "" {
					name = strings.ReplaceAll(g, "''", "'")
				}
			}
		}
		k := [2]string{name, e.tbl}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// sqlParser reads the fixed shapes of generated SQL.
type sqlParser struct {
	s string
	i int
}

func (p *sqlParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

// lit consumes prefix if the input continues with it.
func (p *sqlParser) lit(prefix string) bool {
	if strings.HasPrefix(p.s[p.i:], prefix) {
		p.i += len(prefix)
		return true
	}
	return false
}

// quoted consumes a q-quoted token with doubled-quote escapes.
func (p *sqlParser) quoted(q byte) (string, bool) {
	if p.i >= len(p.s) || p.s[p.i] != q {
		return "", false
	}
	var b strings.Builder
	for j := p.i + 1; j < len(p.s); j++ {
		if p.s[j] != q {
			b.WriteByte(p.s[j])
			continue
		}
		if j+1 < len(p.s) && p.s[j+1] == q {
			b.WriteByte(q)
			j++
			continue
		}
		p.i = j + 1
		return b.String(), true
	}
	return "", false
}

// ident consumes a double-quoted identifier.
func (p *sqlParser) ident() (string, bool) { return p.quoted('"') }

// str consumes a single-quoted string literal.
func (p *sqlParser) str() (string, bool) { return p.quoted('\'') }

// untilClose consumes text up to the ")" that closes the current
// parenthesis (skipping nested parentheses and quoted text), consumes the
// ")" and returns the text before it.
func (p *sqlParser) untilClose() (string, bool) {
	start, depth := p.i, 0
	for p.i < len(p.s) {
		switch c := p.s[p.i]; c {
		case '\'', '"':
			if _, ok := p.quoted(c); !ok {
				return "", false
			}
			continue
		case '(':
			depth++
		case ')':
			if depth == 0 {
				text := p.s[start:p.i]
				p.i++
				return text, true
			}
			depth--
		}
		p.i++
	}
	return "", false
}

// args consumes a comma-separated argument list up to its closing ")".
func (p *sqlParser) args() ([]string, bool) {
	text, ok := p.untilClose()
	if !ok {
		return nil, false
	}
	var out []string
	q := &sqlParser{s: text}
	start, depth := 0, 0
	for q.i < len(q.s) {
		switch c := q.s[q.i]; c {
		case '\'', '"':
			if _, ok := q.quoted(c); !ok {
				return nil, false
			}
			continue
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(q.s[start:q.i]))
				start = q.i + 1
			}
		}
		q.i++
	}
	out = append(out, strings.TrimSpace(q.s[start:]))
	return out, true
}
