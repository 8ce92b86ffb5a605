// Command sqlx uses github.com/jmoiron/sqlx and package sqlxutil on a
// PowerSync database: typed reads (sqlxutil.Get, GetOptional, Select), named
// inserts, sqlx.In, transactions, and a live query (sqlxutil.Watch) that
// follows the writes.
//
//	go run ./sqlx              # in examples/, a module of its own
//	go run ./sqlx -db todo.db   # keep the file
//
// The database is opened with the "powersync" driver and the schema of the
// todo-list demos:
//
//	c, err := driver.NewConnector(path, driver.WithSchema(todoschema.Schema()))
//	db := sqlxutil.NewDB(sql.OpenDB(c))
//
// (or sqlxutil.Open("todo.db?_powersync_schema=name") after
// driver.RegisterSchema). Tables are views whose writes are queued for
// upload; the program prints the queue at the end.
//
// Ids are TEXT: let SQLite make them with uuid() and read them back with
// RETURNING, or make them in Go. LastInsertId means nothing on the views,
// and INSERT ... ON CONFLICT is not supported on views by SQLite: use INSERT
// and UPDATE. RowsAffected is correct.
package main
