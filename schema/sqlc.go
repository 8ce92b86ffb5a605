package schema

import "strings"

// CreateTableSQL returns the tables as they look to queries, one CREATE
// TABLE statement per view: "id TEXT PRIMARY KEY", then the declared columns
// with their types, then "_metadata TEXT" and "_deleted INTEGER" for tables
// that track metadata.
//
// The output is not executed by PowerSync (the real objects are views over
// JSON data tables); it is a schema file for tools that type-check SQL
// against table definitions, such as sqlc:
//
//	os.WriteFile("schema.sql", []byte(s.CreateTableSQL()), 0o644)
//
// Raw tables are not included: the application creates them itself.
func (s *Schema) CreateTableSQL() string {
	var b strings.Builder
	b.WriteString("-- The tables of a PowerSync schema as queries see them (the views over the\n")
	b.WriteString("-- JSON data tables). For type-checking tools such as sqlc; not for execution.\n")
	for i := range s.Tables {
		t := &s.Tables[i]
		b.WriteString("\nCREATE TABLE ")
		b.WriteString(sqlIdent(t.ViewName()))
		b.WriteString(" (\n  id TEXT PRIMARY KEY")
		for _, c := range t.Columns {
			b.WriteString(",\n  ")
			b.WriteString(sqlIdent(c.Name))
			b.WriteString(" ")
			b.WriteString(strings.ToUpper(string(c.Type)))
		}
		if t.TrackMetadata {
			b.WriteString(",\n  _metadata TEXT,\n  _deleted INTEGER")
		}
		b.WriteString("\n);\n")
	}
	return b.String()
}

// sqlIdent returns name bare when it is a plain identifier and no SQLite
// keyword, otherwise double-quoted.
func sqlIdent(name string) string {
	if name == "" || sqliteKeywords[strings.ToUpper(name)] {
		return quoteIdent(name)
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return quoteIdent(name)
		}
	}
	return name
}

// sqliteKeywords are SQLite's keywords (https://sqlite.org/lang_keywords.html).
var sqliteKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, k := range strings.Fields(`ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH
		AUTOINCREMENT BEFORE BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT
		CONSTRAINT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT
		DEFERRABLE DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE
		EXCLUSIVE EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB
		GROUP GROUPS HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD
		INTERSECT INTO IS ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT
		NOTHING NOTNULL NULL NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA
		PRECEDING PRIMARY QUERY RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME
		REPLACE RESTRICT RETURNING RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY
		THEN TIES TO TRANSACTION TRIGGER UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW
		VIRTUAL WHEN WHERE WINDOW WITH WITHOUT`) {
		m[k] = true
	}
	return m
}()
