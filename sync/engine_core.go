package sync

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/internal/synccore"
)

// newDefaultEngine returns the production state machine for db.
func newDefaultEngine(db *sql.DB, o options) (engine, error) {
	return &coreEngine{db: db, e: synccore.New(db, synccore.Options{Logger: o.logger, Now: o.now})}, nil
}

// coreEngine adapts internal/synccore to the engine interface.
type coreEngine struct {
	db *sql.DB
	e  *synccore.Engine
}

func (c *coreEngine) Start(ctx context.Context, req startRequest) ([]instruction, error) {
	sr := synccore.StartRequest{
		Parameters:      req.Parameters,
		IncludeDefaults: req.IncludeDefaults,
		CheckpointMode:  string(req.CheckpointMode),
		AppMetadata:     req.AppMetadata,
		ActiveStreams:   coreStreamKeys(req.ActiveStreams),
	}
	sch, err := driver.CurrentSchema(ctx, c.db)
	if err != nil {
		return nil, fmt.Errorf("powersync: read schema: %w", err)
	}
	if sch != nil {
		sr.RawTables = sch.RawTables
	}
	return convert(c.e.Start(ctx, sr))
}

func (c *coreEngine) ConnectionEstablished(ctx context.Context) ([]instruction, error) {
	return convert(c.e.ConnectionEstablished(ctx))
}

func (c *coreEngine) ConnectionEnd(ctx context.Context) ([]instruction, error) {
	return convert(c.e.ConnectionEnd(ctx))
}

func (c *coreEngine) LineText(ctx context.Context, line []byte) ([]instruction, error) {
	return convert(c.e.LineText(ctx, line))
}

func (c *coreEngine) LineBinary(ctx context.Context, doc []byte) ([]instruction, error) {
	return convert(c.e.LineBinary(ctx, doc))
}

func (c *coreEngine) CompletedUpload(ctx context.Context) ([]instruction, error) {
	return convert(c.e.CompletedUpload(ctx))
}

func (c *coreEngine) RefreshedToken(ctx context.Context) ([]instruction, error) {
	return convert(c.e.RefreshedToken(ctx))
}

func (c *coreEngine) UpdateSubscriptions(ctx context.Context, active []streamKey) ([]instruction, error) {
	return convert(c.e.UpdateSubscriptions(ctx, coreStreamKeys(active)))
}

func (c *coreEngine) Stop(ctx context.Context) ([]instruction, error) {
	return convert(c.e.Stop(ctx))
}

func coreStreamKeys(ks []streamKey) []synccore.StreamKey {
	out := make([]synccore.StreamKey, len(ks))
	for i, k := range ks {
		out[i] = synccore.StreamKey{Name: k.Name, Params: k.Params}
	}
	return out
}

func convert(in []synccore.Instruction, err error) ([]instruction, error) {
	if err != nil {
		return nil, err
	}
	out := make([]instruction, 0, len(in))
	for _, i := range in {
		switch i := i.(type) {
		case synccore.LogLine:
			out = append(out, insLog{Severity: i.Severity, Line: i.Line})
		case synccore.UpdateSyncStatus:
			out = append(out, insStatus{Status: convertStatus(i.Status)})
		case synccore.EstablishSyncStream:
			e := insEstablish{Request: i.Request}
			if r := i.CheckpointRequest; r != nil {
				e.CheckpointRequest = &checkpointRequest{ClientID: r.ClientID, CheckpointRequestID: strconv.FormatInt(r.CheckpointRequestID, 10)}
			}
			out = append(out, e)
		case synccore.FetchCredentials:
			out = append(out, insFetchCredentials{DidExpire: i.DidExpire})
		case synccore.CloseSyncStream:
			out = append(out, insClose{HideDisconnect: i.HideDisconnect})
		case synccore.DidCompleteSync:
			d := insDidCompleteSync{}
			if i.AppliedCheckpointRequestID != nil {
				d.AppliedCheckpointRequestID = strconv.FormatInt(*i.AppliedCheckpointRequestID, 10)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func convertStatus(s synccore.CoreStatus) coreStatus {
	out := coreStatus{Connected: s.Connected, Connecting: s.Connecting}
	for _, p := range s.PriorityStatus {
		out.PriorityStatus = append(out.PriorityStatus, corePriorityStatus{Priority: int(p.Priority), LastSyncedAt: p.LastSyncedAt, HasSynced: p.HasSynced})
	}
	if s.Downloading != nil {
		d := &coreDownloading{Buckets: make(map[string]coreBucketProgress, len(s.Downloading.Buckets))}
		for k, b := range s.Downloading.Buckets {
			d.Buckets[k] = coreBucketProgress{Priority: int(b.Priority), AtLast: b.AtLast, SinceLast: b.SinceLast, TargetCount: b.TargetCount}
		}
		out.Downloading = d
	}
	for _, st := range s.Streams {
		cs := coreStreamStatus{
			Name: st.Name, Parameters: st.Parameters, Active: st.Active, IsDefault: st.IsDefault,
			HasExplicitSubscription: st.HasExplicitSubscription, ExpiresAt: st.ExpiresAt, LastSyncedAt: st.LastSyncedAt,
		}
		if st.Priority != nil {
			p := int(*st.Priority)
			cs.Priority = &p
		}
		cs.Progress.Total, cs.Progress.Downloaded = st.Progress.Total, st.Progress.Downloaded
		out.Streams = append(out.Streams, cs)
	}
	if s.InternalLastAppliedCheckpointRequestID != nil {
		id := strconv.FormatInt(*s.InternalLastAppliedCheckpointRequestID, 10)
		out.AppliedID = &id
	}
	return out
}
