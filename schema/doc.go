// Package schema describes the tables of a PowerSync database and generates
// the SQL that implements them.
//
// PowerSync needs no migrations for its tables: each [Table] is stored as JSON
// rows in a data table (ps_data__<name>) and exposed as a view with typed
// columns whose INSTEAD OF triggers write the data table and record each
// change in the upload queue (ps_crud). Changing the schema only recreates
// views, triggers and indexes. The "powersync" driver applies a schema when a
// database is opened and on driver.UpdateSchema; this package holds the
// description, its validation, its JSON form and the generated SQL, and
// imports no database code.
//
// # Defining a schema
//
// A schema is plain data, built from struct literals and small constructors:
//
//	s := schema.New(
//		schema.Table{
//			Name:    "todos",
//			Columns: []schema.Column{schema.Text("description"), schema.Integer("completed"), schema.Text("list_id")},
//			Indexes: []schema.Index{schema.IndexOn("list", "list_id")},
//		},
//		schema.Table{Name: "drafts", Columns: []schema.Column{schema.Text("body")}, LocalOnly: true},
//	)
//	if err := s.Validate(); err != nil { ... } // errors.Is(err, schema.ErrInvalidSchema)
//
// Every table has an implicit "id TEXT" primary key; declaring an id column is
// an error. Column types are TEXT, INTEGER and REAL; values are stored as JSON
// and cast to the declared type when read through the view.
//
// # Table options
//
// The options match the official SDKs (Dart and JavaScript names in
// parentheses):
//
//   - LocalOnly (localOnly): never synced; writes are not uploaded. Stored in
//     ps_data_local__<name>.
//   - InsertOnly (insertOnly): inserts are uploaded but not stored; the view
//     reads empty, updates and deletes fail.
//   - ViewNameOverride (viewName): the view's name, when it differs from the
//     synced table name.
//   - TrackMetadata (trackMetadata): a _metadata column whose value is attached
//     to the upload entry, and a _deleted column to delete with metadata
//     (UPDATE t SET _deleted = TRUE, _metadata = ? WHERE id = ?).
//   - TrackPrevious (trackPreviousValues / trackPrevious): previous values of
//     all or some columns, optionally only the changed ones, in the upload
//     entries of updates and deletes.
//   - IgnoreEmptyUpdates (ignoreEmptyUpdates): no upload entry for an UPDATE
//     that changes nothing.
//
// # Raw tables
//
// A [RawTable] is an ordinary SQLite table the application creates itself.
// The sync client writes synced rows into it with the given put and delete
// statements, or with statements inferred from the local table
// ([RawTable.InferStatements]). Local writes are uploaded by triggers the
// application creates, e.g. with [RawTable.TriggerSQL] (the SQL function
// powersync_create_raw_table_crud_trigger does the same in a database).
//
// # Schema JSON
//
// [Schema.MarshalJSON] produces the official schema JSON, the argument of the
// PowerSync core's powersync_replace_schema, and [Parse] reads it back as
// tolerantly as the core does, so schemas can be shared with the official
// SDKs and tools.
//
// # Struct tags
//
// [TableFrom] and [FromStruct] derive a table from a struct with sqlx-style
// db tags; the Go type of each field decides the column type:
//
//	type Todo struct {
//		ID          string `db:"id"`
//		Description string `db:"description"`
//		Completed   bool   `db:"completed"`
//	}
//	todos, err := schema.TableFrom[Todo]("todos")
//
// # Generated SQL
//
// [Table.DataTableSQL], [Table.ViewSQL] and [Table.IndexSQL] are byte for
// byte what the official core creates, so a database file can move between
// this library and the official SDKs. [Table.Triggers] keeps the core's
// trigger names, checks and data-table statements but records upload entries
// without the core's virtual tables, through SQL functions the driver
// registers (powersync_crud_entry, powersync_tx_claim, powersync_tx_id,
// powersync_crud_kept, powersync_gate_once, powersync_diff,
// powersync_strip_subtype, powersync_json_merge, powersync_in_sync_operation).
//
// [Schema.CreateTableSQL] exports the tables as plain CREATE TABLE statements,
// as queries see them, for tools such as sqlc that type-check SQL.
package schema
