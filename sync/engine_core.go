package sync

import (
	"context"
	"database/sql"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
	"github.com/gopowersync/powersync/schema"
)

// newDefaultEngine returns the production state machine for db.
func newDefaultEngine(db *sql.DB, o options) engine {
	return &coreEngine{Engine: synccore.New(db, synccore.Options{Logger: o.logger, Now: o.now}), db: db}
}

// coreEngine is synccore's engine with the schema's raw tables added to
// every start request and clear.
type coreEngine struct {
	*synccore.Engine
	db *sql.DB
}

func (c *coreEngine) Start(ctx context.Context, req synccore.StartRequest) ([]synccore.Instruction, error) {
	raw, err := c.rawTables(ctx)
	if err != nil {
		return nil, err
	}
	req.RawTables = raw
	return c.Engine.Start(ctx, req)
}

// clear empties the database as powersync_clear does; clearLocal also
// empties the local-only tables.
func (c *coreEngine) clear(ctx context.Context, clearLocal bool) error {
	raw, err := c.rawTables(ctx)
	if err != nil {
		return err
	}
	var flags synccore.ClearFlags
	if clearLocal {
		flags = synccore.ClearLocalTables
	}
	return c.Engine.Clear(ctx, flags, raw)
}

// rawTables returns the raw tables of the schema applied to the database.
func (c *coreEngine) rawTables(ctx context.Context) ([]schema.RawTable, error) {
	sch, err := driver.CurrentSchema(ctx, c.db)
	if err != nil {
		return nil, pserr.Errorf("powersync: read schema: %w", err)
	}
	if sch == nil {
		return nil, nil
	}
	return sch.RawTables, nil
}
