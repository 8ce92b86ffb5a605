package synccore

import (
	"context"
	"database/sql"
	"slices"
	"strconv"

	"github.com/gopowersync/powersync/internal/pserr"
)

// Querier is what the package-level helpers need: *sql.DB, *sql.Tx and
// *sql.Conn all implement it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadPriorityStatus(ctx context.Context, q Querier) ([]PriorityStatus, error) {
	rows, err := q.QueryContext(ctx, "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority")
	if err != nil {
		return nil, pserr.Errorf("powersync: read sync state: %w", err)
	}
	defer rows.Close()
	out := []PriorityStatus{}
	for rows.Next() {
		var p int32
		var at int64
		if err := rows.Scan(&p, &at); err != nil {
			return nil, err
		}
		yes := true
		out = append(out, PriorityStatus{Priority: p, LastSyncedAt: &at, HasSynced: &yes})
	}
	return out, rows.Err()
}

func (c *call) loadPriorityStatus() ([]PriorityStatus, error) { return loadPriorityStatus(c.ctx, c.tx) }

// OfflineStatus returns the sync status stored in the database, as the
// core's powersync_offline_sync_status(): not connected, with the completed
// priorities and the stream subscriptions.
func OfflineStatus(ctx context.Context, q Querier) (CoreStatus, error) {
	ps, err := loadPriorityStatus(ctx, q)
	if err != nil {
		return CoreStatus{}, err
	}
	streams, err := loadStreams(ctx, q)
	if err != nil {
		return CoreStatus{}, err
	}
	return CoreStatus{PriorityStatus: ps, Streams: streamStatuses(streams, nil)}, nil
}

func streamStatuses(streams []trackedStream, progress map[string]*progressEntry) []StreamStatus {
	out := make([]StreamStatus, 0, len(streams))
	for _, s := range streams {
		st := StreamStatus{
			Name: s.name, Parameters: s.params, Priority: s.priority, Active: s.active,
			IsDefault: s.isDefault, HasExplicitSubscription: s.ttl != nil,
			ExpiresAt: s.expiresAt, LastSyncedAt: s.lastSyncedAt,
		}
		if st.Parameters == nil {
			st.Parameters = []byte("null")
		}
		for _, b := range s.buckets {
			if p, ok := progress[b]; ok {
				st.Progress.Total += p.target - p.atLast
				st.Progress.Downloaded += p.sinceLast
			}
		}
		out = append(out, st)
	}
	return out
}

// coreStatus builds the status JSON of the iteration.
func (it *iteration) coreStatus() CoreStatus {
	st := CoreStatus{
		Connected:      it.connected,
		Connecting:     it.connecting,
		PriorityStatus: slices.Clone(it.priorityStatus),
		Streams:        streamStatuses(it.streams, it.progress),
	}
	if st.PriorityStatus == nil {
		st.PriorityStatus = []PriorityStatus{}
	}
	if it.downloading {
		// Summed by priority first: a status is built after every line,
		// and a key string per bucket made that cost most of a line's
		// time in a large checkpoint.
		byPrio := map[int32]BucketProgress{}
		for _, p := range it.progress {
			e := byPrio[p.priority]
			e.Priority = p.priority
			e.SinceLast += p.sinceLast
			e.TargetCount += p.target - p.atLast
			byPrio[p.priority] = e
		}
		d := &DownloadProgress{Buckets: make(map[string]BucketProgress, len(byPrio))}
		for prio, e := range byPrio {
			d.Buckets["prio_"+strconv.Itoa(int(prio))] = e
		}
		st.Downloading = d
	}
	if it.appliedID != nil {
		v := *it.appliedID
		st.InternalLastAppliedCheckpointRequestID = &v
	}
	return st
}
