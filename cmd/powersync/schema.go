package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gopowersync/powersync/schema"
)

const schemaUsage = `Usage: powersync schema [--json] FILE

Prints the schema of FILE, reconstructed from what applying it created: the
managed views (SQL ending in "-- powersync-auto-generated"), their data tables
(ps_data__T / ps_data_local__T), their triggers and the indexes on the data
tables. By default it prints one CREATE TABLE statement per table as the app
sees it (the view) with the PowerSync options as comments; --json prints the
official schema JSON that the SDKs pass to powersync_replace_schema.

Recovered exactly: table and view names, columns and their types, local_only,
insert_only, include_metadata, ignore_empty_update, include_old (the columns)
and include_old_only_when_changed, indexes (columns, types, direction).
Not recoverable, reported as notes on stderr:
  - raw tables: they are passed to the sync client, not stored in the file
    (their CRUD triggers are detected and named);
  - include_old given as a list of all columns prints as true, and a column
    list prints in column order (both generate the same SQL);
  - the options of insert-only tables other than insert_only (they have no
    update trigger, and the options have no effect there);
  - a data table whose view was dropped (its columns are unknown).

The file is opened read-only and is not changed.

Examples:
  powersync schema app.db
  powersync schema --json app.db > schema.json
`

func schemaCommand() *command {
	c := &command{name: "schema", summary: "print the schema as schema JSON or CREATE TABLE statements", usage: schemaUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		asJSON := fs.Bool("json", false, "print the official schema JSON instead of SQL")
		d, code, ok := a.openFileArg(ctx, c, fs, args)
		if !ok {
			return code
		}
		defer d.Close()
		res, err := d.readSchema(ctx)
		if err != nil {
			return a.fail(c, err)
		}
		for _, n := range res.Notes {
			fmt.Fprintf(a.stderr, "note: %s\n", n)
		}
		if *asJSON {
			return a.writeJSON(c, &res.Schema)
		}
		printSchemaSQL(a.stdout, &res.Schema)
		return exitOK
	}
	return c
}

// printSchemaSQL prints each table as the app sees it.
func printSchemaSQL(w io.Writer, s *schema.Schema) {
	if len(s.Tables) == 0 {
		fmt.Fprintln(w, "-- no PowerSync tables")
		return
	}
	for i := range s.Tables {
		t := &s.Tables[i]
		if i > 0 {
			fmt.Fprintln(w)
		}
		for _, line := range tableComments(t) {
			fmt.Fprintf(w, "-- %s\n", line)
		}
		fmt.Fprintf(w, "CREATE TABLE %s (\n  id TEXT PRIMARY KEY NOT NULL", quoteIdent(t.ViewName()))
		for _, c := range t.Columns {
			fmt.Fprintf(w, ",\n  %s %s", quoteIdent(c.Name), c.Type)
		}
		if t.TrackMetadata {
			fmt.Fprint(w, ",\n  _metadata TEXT,\n  _deleted INTEGER")
		}
		fmt.Fprintln(w, "\n);")
		for _, ix := range t.Indexes {
			cols := make([]string, len(ix.Columns))
			for k, c := range ix.Columns {
				cols[k] = quoteIdent(c.Name)
				if c.Descending {
					cols[k] += " DESC"
				}
			}
			fmt.Fprintf(w, "CREATE INDEX %s ON %s (%s);\n", quoteIdent(ix.Name), quoteIdent(t.ViewName()), strings.Join(cols, ", "))
		}
	}
}

// tableComments describes the PowerSync options of t.
func tableComments(t *schema.Table) []string {
	var first string
	switch {
	case t.LocalOnly:
		first = "local-only table " + quoteIdent(t.Name)
	case t.InsertOnly:
		first = "insert-only table " + quoteIdent(t.Name)
	default:
		first = "synced table " + quoteIdent(t.Name)
	}
	if t.ViewNameOverride != "" {
		first += " (view " + quoteIdent(t.ViewNameOverride) + ")"
	}
	first += ", data in " + quoteIdent(t.DataTableName())
	lines := []string{first}
	if t.InsertOnly {
		lines = append(lines, "writes are only uploaded; the view always reads empty")
	}
	var opts []string
	if t.TrackMetadata {
		opts = append(opts, "include_metadata")
	}
	if p := t.TrackPrevious; p != nil {
		old := "include_old: all columns"
		if p.Columns != nil {
			old = "include_old: " + strings.Join(p.Columns, ", ")
		}
		if p.OnlyWhenChanged {
			old += " (only when changed)"
		}
		opts = append(opts, old)
	}
	if t.IgnoreEmptyUpdates {
		opts = append(opts, "ignore_empty_update")
	}
	if len(opts) > 0 {
		lines = append(lines, "options: "+strings.Join(opts, "; "))
	}
	return lines
}
