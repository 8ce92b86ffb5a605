package schema_test

import (
	"fmt"

	"github.com/gopowersync/powersync/schema"
)

// oracleCase is a schema whose generated SQL is compared with what the
// official core creates for the same JSON (testdata/oracle/<name>.txt).
type oracleCase struct {
	name string
	// schema builds the schema; nil means: parse input.
	schema func() *schema.Schema
	// input is a JSON file to parse, relative to the package directory.
	input string
	// valid says whether the schema passes Validate (some cases exercise
	// quoting the SDK rules forbid but the core accepts).
	valid bool
}

func oracleCases() []oracleCase {
	return []oracleCase{
		{name: "schema_todos", input: "testdata/schema_todos.json", valid: true},
		{name: "options", schema: optionsSchema, valid: true},
		{name: "wide", schema: wideSchema, valid: true},
		{name: "quoting", schema: quotingSchema, valid: false},
		{name: "raw", schema: rawSchema, valid: true},
	}
}

// optionsSchema covers every table option and index shape.
func optionsSchema() *schema.Schema {
	return schema.New(
		schema.Table{
			Name:    "assets",
			Columns: []schema.Column{schema.Text("make"), schema.Text("model"), schema.Integer("year"), schema.Real("price")},
			Indexes: []schema.Index{
				{Name: "makemodel", Columns: []schema.IndexedColumn{schema.Asc("make"), schema.Desc("model")}},
				schema.IndexOn("year", "year"),
			},
			TrackMetadata:      true,
			TrackPrevious:      &schema.TrackPreviousValues{},
			IgnoreEmptyUpdates: true,
		},
		schema.Table{
			Name:          "notes",
			Columns:       []schema.Column{schema.Text("title"), schema.Text("body"), schema.Integer("pinned")},
			TrackPrevious: &schema.TrackPreviousValues{Columns: []string{"body", "title"}, OnlyWhenChanged: true},
		},
		schema.Table{
			Name:          "events",
			Columns:       []schema.Column{schema.Text("kind")},
			TrackPrevious: &schema.TrackPreviousValues{Columns: []string{}},
		},
		schema.Table{
			Name:             "settings",
			ViewNameOverride: "local_settings",
			Columns:          []schema.Column{schema.Text("key"), schema.Text("value")},
			Indexes:          []schema.Index{{Name: "by_key", Columns: []schema.IndexedColumn{schema.Desc("key")}}},
			LocalOnly:        true,
		},
		schema.Table{
			Name:          "audit",
			Columns:       []schema.Column{schema.Text("action"), schema.Real("at")},
			InsertOnly:    true,
			TrackMetadata: true,
		},
		schema.Table{Name: "empty"},
		schema.Table{
			Name:               "lower",
			Columns:            []schema.Column{{Name: "a", Type: "text"}, {Name: "b", Type: "integer"}},
			Indexes:            []schema.Index{{Name: "ab", Columns: []schema.IndexedColumn{schema.Asc("a"), schema.Desc("b")}}},
			IgnoreEmptyUpdates: true,
		},
	)
}

// wideSchema has tables over the 50-pairs-per-json_object limit.
func wideSchema() *schema.Schema {
	var cols []schema.Column
	for i := range 120 {
		switch i % 3 {
		case 0:
			cols = append(cols, schema.Text(fmt.Sprintf("c%03d", i)))
		case 1:
			cols = append(cols, schema.Integer(fmt.Sprintf("c%03d", i)))
		default:
			cols = append(cols, schema.Real(fmt.Sprintf("c%03d", i)))
		}
	}
	var tracked []string // 59 of the first 60 columns: more than 50 after filtering
	for i := range 60 {
		if i != 5 {
			tracked = append(tracked, fmt.Sprintf("c%03d", i))
		}
	}
	return schema.New(
		schema.Table{Name: "wide", Columns: cols, Indexes: []schema.Index{schema.IndexOn("first_last", "c000", "c119")}},
		schema.Table{
			Name: "wide_tracked", Columns: cols[:60],
			TrackPrevious: &schema.TrackPreviousValues{Columns: tracked, OnlyWhenChanged: true},
			TrackMetadata: true,
		},
	)
}

// quotingSchema uses names with quotes, which the SDK rules forbid but the
// core quotes correctly; the generated SQL must quote them the same way.
func quotingSchema() *schema.Schema {
	return schema.New(
		schema.Table{
			Name:             `we"ird`,
			ViewNameOverride: `view'"name`,
			Columns:          []schema.Column{schema.Text(`it's`), schema.Integer(`say "hi"`), schema.Real("dotted.name")},
			Indexes:          []schema.Index{{Name: `idx'"1`, Columns: []schema.IndexedColumn{schema.Desc(`it's`), schema.Asc(`say "hi"`)}}},
			TrackMetadata:    true,
			TrackPrevious:    &schema.TrackPreviousValues{Columns: []string{`it's`}},
		},
	)
}

// rawSchema mixes tables and raw tables (explicit and inferred).
func rawSchema() *schema.Schema {
	return schema.New(
		schema.Table{Name: "lists", Columns: []schema.Column{schema.Text("name")}},
	).WithRawTables(
		schema.RawTable{
			Name: "todos",
			Put: &schema.PendingStatement{
				SQL:    "INSERT OR REPLACE INTO todos (id, list_id, title, extra) VALUES (?, ?, ?, ?)",
				Params: []schema.Param{schema.IDParam(), schema.ColumnParam("list_id"), schema.ColumnParam("title"), schema.RestParam()},
			},
			Delete: &schema.PendingStatement{SQL: "DELETE FROM todos WHERE id = ?", Params: []schema.Param{schema.IDParam()}},
			Clear:  "DELETE FROM todos",
		},
		schema.RawTable{
			Name:               "users",
			TableName:          "local_users",
			SyncedColumns:      []string{"email", "name"},
			TrackPrevious:      &schema.TrackPreviousValues{Columns: []string{"email"}, OnlyWhenChanged: true},
			IgnoreEmptyUpdates: true,
		},
		schema.RawTable{Name: "logs", TableName: "logs", InsertOnly: true},
	)
}
