package hooks

import (
	"context"
	"database/sql"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/pserr"
)

// subscribe subscribes to the committed changes of db through the driver's
// change hub.
func subscribe(ctx context.Context, db *sql.DB) (subscription, error) {
	h, err := driver.HubOf(ctx, db)
	if err != nil {
		return nil, pserr.Errorf("powersync: listen for changes: %w", err)
	}
	return hubSub{h.Subscribe()}, nil
}

type hubSub struct{ s *driver.Subscription }

func (h hubSub) ready() <-chan struct{}    { return h.s.C }
func (h hubSub) take() map[string]struct{} { return h.s.Take() }
func (h hubSub) close()                    { h.s.Close() }
