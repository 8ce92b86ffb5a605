package sync

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/synccore"
)

// newDefaultEngine returns the production state machine for db.
func newDefaultEngine(db *sql.DB, o options) engine {
	return &coreEngine{Engine: synccore.New(db, synccore.Options{Logger: o.logger, Now: o.now}), db: db}
}

// coreEngine is synccore's engine with the schema's raw tables added to
// every start request.
type coreEngine struct {
	*synccore.Engine
	db *sql.DB
}

func (c *coreEngine) Start(ctx context.Context, req synccore.StartRequest) ([]synccore.Instruction, error) {
	sch, err := driver.CurrentSchema(ctx, c.db)
	if err != nil {
		return nil, fmt.Errorf("powersync: read schema: %w", err)
	}
	if sch != nil {
		req.RawTables = sch.RawTables
	}
	return c.Engine.Start(ctx, req)
}
