//go:build !synccore

package sync

import (
	"database/sql"
	"errors"
)

// newDefaultEngine returns the production state machine for db.
func newDefaultEngine(db *sql.DB, o options) (engine, error) {
	return nil, errors.New("powersync: new syncer: sync engine not available in this build")
}
