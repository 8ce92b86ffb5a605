// Command gorm uses GORM on a PowerSync database: GORM's SQLite dialect
// (gorm.io/driver/sqlite) with the "powersync" database/sql driver instead
// of mattn/go-sqlite3, so everything stays pure Go (CGO_ENABLED=0 builds;
// without cgo mattn's package compiles to a stub that is never used).
//
//	go run ./gorm              # in examples/, a module of its own
//	go run ./gorm -db todo.db   # keep the file
//
// It defines GORM models, derives the PowerSync schema from their db tags
// (schema.TableFrom), opens the database with
//
//	sqlite.New(sqlite.Config{DriverName: "powersync", DSN: "todo.db?_powersync_schema=gorm-example"})
//
// and creates, finds, updates, saves and deletes rows, then prints the
// upload queue those writes produced: every write through GORM is queued
// for upload like any other write to a PowerSync table.
//
// # What works and what does not
//
// PowerSync tables are views with INSTEAD OF triggers (see package driver).
// With GORM that means:
//
//   - Create, First/Find/Where, Update/Updates, Save of an existing row,
//     Delete, Count, Preload and Transaction work. RowsAffected is correct
//     (the driver counts the rows the triggers wrote), which Save relies on.
//   - RETURNING works on the views (for example
//     db.Clauses(clause.Returning{}).Create(...)).
//   - AutoMigrate does not: the tables exist as views already and GORM's
//     CREATE TABLE fails with "view ... already exists". The schema comes
//     from package schema instead (here schema.TableFrom over the models), and
//     changes with driver.UpdateSchema; no migration is ever needed.
//   - Auto-increment ids do not exist: ids are TEXT and required ("id is
//     required"). Give models a string primary key and set it before insert,
//     as the BeforeCreate hooks here do with a UUID (or use SQL's uuid()).
//   - INSERT ... ON CONFLICT is rejected by SQLite on views ("cannot UPSERT
//     a view"). So Save of a row that does not exist yet fails (GORM
//     falls back to an upsert when its UPDATE matched no row), and so do
//     clause.OnConflict and the creation of associations together with their
//     parent (GORM upserts them). Use Create for new rows, Save or Updates
//     for existing ones, and create associated rows with their own Create
//     (or db.Omit(clause.Associations)).
//   - time.Time fields do not round-trip through the TEXT columns of the
//     views (SQLite has no time type, and modernc only converts columns
//     declared DATE/DATETIME/TIMESTAMP). Keep times as ISO 8601 strings,
//     the form the PowerSync Service sends Postgres timestamps in.
package main
