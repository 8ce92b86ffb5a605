// Command sqlc shows type-checked SQL on a PowerSync database with sqlc
// (https://sqlc.dev): the PowerSync schema is exported as CREATE TABLE
// statements (schema.Schema.CreateTableSQL) into schema.sql, sqlc reads it
// with query.sql and generates typed Go code (package tododb), and that code
// runs on the "powersync" driver like on any SQLite database.
//
//	go generate ./sqlc   # in examples/: schema.sql, then sqlc v1.31.1 writes tododb
//	go run ./sqlc
//
// The tables are views, not the tables schema.sql describes; schema.sql is
// only for type checking and is never executed. Queries follow the rules of
// the views: TEXT ids made by the application (here github.com/google/uuid),
// no INSERT ... ON CONFLICT, RETURNING allowed. tododb is committed, so
// building the example needs no sqlc; go generate runs sqlc with go run (it
// builds without cgo), and CI fails when the committed code is not what it
// generates. The tests check that schema.sql has the columns and types of
// the views the PowerSync schema creates, and that every query prepares on
// both.
package main
