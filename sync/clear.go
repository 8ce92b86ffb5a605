package sync

import (
	"context"
	"database/sql"

	"github.com/gopowersync/powersync/internal/synccore"
)

// clearDatabase deletes synced data, the upload queue and the sync state
// with the state machine's powersync_clear (docs/sync.md, "Clearing"),
// keeping the client id, then the entries set aside by RejectCrud. Raw
// tables are emptied by their Clear statements.
func clearDatabase(ctx context.Context, db *sql.DB, eng engine, clearLocal bool) error {
	core, ok := eng.(*coreEngine)
	if !ok {
		// A test's fake state machine leaves the database to synccore.
		core = &coreEngine{Engine: synccore.New(db, synccore.Options{}), db: db}
	}
	if err := core.clear(ctx, clearLocal); err != nil {
		return err // already prefixed "powersync: clear" or saying what failed
	}
	return inWriteTx(ctx, db, "clear", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+rejectedTable)
		return err
	})
}
