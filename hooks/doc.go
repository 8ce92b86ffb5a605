// Package hooks tells a program when the tables of a PowerSync database
// change, and keeps query results live.
//
// The "powersync" driver records, for each committed transaction, the SQLite
// tables it wrote. This package turns that into notifications named the way
// users know their tables, and into queries that re-run when what they read
// changes.
//
// # Change notifications
//
// [OnChange] (an iterator) and [Listen] (a [Listener] pulled with
// [Listener.Next]) report which of the given tables changed:
//
//	for c, err := range hooks.OnChange(ctx, db, "todos", "lists") {
//		if err != nil {
//			return err
//		}
//		fmt.Println("changed:", c.Tables)
//	}
//
// A change is reported only after its transaction commits, never for a
// rollback, and a read started after the notification sees it. A PowerSync
// table is reported under its own name, whether it was written through its
// view or, by the sync engine, in its ps_data__ (or ps_data_local__) storage
// table; other internal ps_ tables are left out unless asked for by name
// (for example ps_crud); raw tables and plain SQLite tables keep their
// names.
//
// # Throttling and slow listeners
//
// Notifications are merged: everything committed since the previous
// notification comes as one [Change], so a sync checkpoint that writes ten
// thousand rows in one transaction gives one notification. After a
// notification, the next one waits at least the throttle ([DefaultThrottle],
// 30 ms, as in the official SDKs; see [Watcher.Throttle]); a change after a
// quiet period is reported at once.
//
// Listening costs a writer nothing: the driver records table names in a set
// and signals a channel without blocking, and this package runs no
// goroutine of its own. A listener that does not read for a while finds the
// merged changes when it next does.
//
// # Watched queries
//
// [Watch] yields a query's result now and again after each committed change
// to a table it reads, until the context ends:
//
//	for res, err := range hooks.Watch(ctx, db, "SELECT * FROM todos WHERE list_id = ?", listID) {
//		if err != nil {
//			return err
//		}
//		render(res.Rows)
//	}
//
// The tables are found the way the JavaScript SDK finds them: SQLite's
// EXPLAIN of the query lists the b-trees it opens, and their root pages map
// to tables in sqlite_master, so a view counts as the tables it reads (see
// [QueryTables]). [Watcher.Tables] names them by hand instead.
//
// A [Watcher] holds the settings: the throttle, the tables, and the
// [Mode]: every re-run ([ModeEvery], as the SDKs), only results that
// differ from the previous one ([ModeChanged]), or the rows added, removed
// and updated, matched by key columns ([ModeDiff]). [WatchFunc] re-runs any
// function instead of a query; package sqlxutil builds typed watches on it.
//
// # Lifetimes
//
// Iterators subscribe when a range starts and unsubscribe when it ends: when
// the loop breaks or the context ends. Nothing runs after that. A
// [Listener] must be closed.
package hooks
