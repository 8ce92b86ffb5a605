package sync

import (
	"context"
	"database/sql"

	"github.com/gopowersync/powersync/driver"
)

// defaultChangeSource watches the database's committed table changes through
// the driver's change hub.
func defaultChangeSource(ctx context.Context, db *sql.DB) (changeFeed, error) {
	h, err := driver.HubOf(ctx, db)
	if err != nil {
		return nil, err
	}
	return hubFeed{h.Subscribe()}, nil
}

type hubFeed struct{ s *driver.Subscription }

func (f hubFeed) C() <-chan struct{}        { return f.s.C }
func (f hubFeed) Take() map[string]struct{} { return f.s.Take() }
func (f hubFeed) Close()                    { f.s.Close() }
