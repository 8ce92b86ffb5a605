// Package sqlxutil uses github.com/jmoiron/sqlx with PowerSync databases:
// opening them, and typed helpers that mirror the official SDKs' get,
// getOptional, getAll and watch.
//
// # Opening
//
// [Open] opens a database by DSN as sqlx.Open would; [NewDB] wraps a
// *sql.DB opened with the "powersync" driver, for example one made by
// sql.OpenDB(driver.NewConnector(path, driver.WithSchema(s))). Importing
// this package tells sqlx that the "powersync" driver takes ? placeholders,
// so Rebind, In and named queries work.
//
// # Typed reads
//
// [Get], [GetOptional] and [Select] run a query and scan its rows into a
// type parameter, a struct (columns matched to fields by `db` tag) or a
// single value:
//
//	type Todo struct {
//		ID          string `db:"id"`
//		Description string `db:"description"`
//	}
//	todo, err := sqlxutil.Get[Todo](ctx, db, "SELECT id, description FROM todos WHERE id = ?", id)
//	n, err := sqlxutil.Get[int](ctx, db, "SELECT count(*) FROM todos")
//	all, err := sqlxutil.Select[Todo](ctx, db, "SELECT id, description FROM todos")
//
// Get's error wraps sql.ErrNoRows when there is no row; GetOptional returns
// nil instead.
//
// # Watched queries
//
// [Watch] and [WatchWith] are typed versions of hooks.Watch: the rows now
// and again after each committed change to a table the query reads, until
// the context ends.
//
//	for todos, err := range sqlxutil.Watch[Todo](ctx, db, "SELECT id, description FROM todos") {
//		...
//	}
package sqlxutil
