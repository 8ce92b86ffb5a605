package driver

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/schema"
)

// CreateRawTableTriggers creates the triggers that queue local writes to a
// raw table for upload, as the official SDKs do with the SQL function
// powersync_create_raw_table_crud_trigger: one AFTER INSERT, UPDATE and DELETE
// trigger on rt.TableName, named ps_raw_<table>_insert, _update and _delete,
// replacing triggers of those names. The local table must exist; its columns
// are read now, so call it again after changing them.
//
// Writes the sync client makes to the table are not uploaded, and with
// SyncedColumns set, updates that change only local columns are not either.
func CreateRawTableTriggers(ctx context.Context, db *sql.DB, rt *schema.RawTable) error {
	if err := rt.Validate(); err != nil {
		return pserr.Errorf("powersync: raw table triggers: %w", err)
	}
	if rt.TableName == "" {
		return fmt.Errorf("powersync: raw table triggers: raw table %q has no local table name", rt.Name)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return pserr.Errorf("powersync: raw table triggers: %w", err)
	}
	defer tx.Rollback()
	cols, err := queryStrings(ctx, tx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, rt.TableName)
	if err != nil {
		return pserr.Errorf("powersync: raw table triggers: read columns of %q: %w", rt.TableName, err)
	}
	for _, w := range []schema.WriteType{schema.WriteInsert, schema.WriteUpdate, schema.WriteDelete} {
		name := "ps_raw_" + rt.TableName + "_" + strings.ToLower(string(w))
		q, err := rt.TriggerSQL(name, w, cols)
		if err != nil {
			return pserr.Errorf("powersync: raw table triggers: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER IF EXISTS `+quoteIdent(name)); err != nil {
			return pserr.Errorf("powersync: raw table triggers: %w", err)
		}
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return pserr.Errorf("powersync: raw table triggers: create %s: %w", name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return pserr.Errorf("powersync: raw table triggers: %w", err)
	}
	return nil
}
