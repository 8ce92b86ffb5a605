//go:build !powersync_hub

package hooks

import (
	"context"
	"database/sql"
	"errors"
)

// subscribe is unavailable until the driver's change hub is built in.
func subscribe(context.Context, *sql.DB) (subscription, error) {
	return nil, errors.New("powersync: listen for changes: driver change hub not available")
}
