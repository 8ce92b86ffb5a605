// Command sqlc shows type-checked SQL on a PowerSync database with sqlc
// (https://sqlc.dev): the PowerSync schema is exported as CREATE TABLE
// statements (schema.Schema.CreateTableSQL) into schema.sql, sqlc reads it
// with query.sql and generates typed Go code (package tododb), and that code
// runs on the "powersync" driver like on any SQLite database.
//
//	go generate ./examples/sqlc   # rewrite schema.sql from the schema
//	sqlc generate                 # in examples/sqlc, if sqlc is installed
//	go run ./examples/sqlc
//
// The tables are views, not the tables schema.sql describes; schema.sql is
// only for type checking and is never executed. Queries follow the rules of
// the views: TEXT ids made by the application (here github.com/google/uuid),
// no INSERT ... ON CONFLICT, RETURNING allowed. tododb is written by hand in
// the form sqlc generates, so this example needs no sqlc binary.
package main
