package synccore

import (
	"fmt"
	"maps"
	"slices"
)

func (c *call) handleLine(l *syncLine, size int) error {
	c.then(func(it *iteration) { it.connected, it.connecting = true, false })
	var err error
	switch l.kind {
	case lineCheckpoint:
		err = c.onCheckpoint(l.checkpoint, false)
	case lineCheckpointDiff:
		err = c.onCheckpoint(l.checkpoint, true)
	case lineData:
		err = c.onData(l.data, size)
	case lineCheckpointComplete:
		err = c.onCheckpointComplete()
	case linePartialCheckpointComplete:
		err = c.onPartialComplete(l.priority)
	case lineTokenExpiresIn:
		err = c.onTokenExpiresIn(l.tokenExpiresIn)
	default:
		c.emit(LogLine{Severity: "DEBUG", Line: "Unknown sync line"})
	}
	if err != nil {
		return err
	}
	c.emitStatus()
	return nil
}

func (c *call) onCheckpoint(line *checkpointLine, diff bool) error {
	it := c.e.it
	cp := &checkpoint{
		lastOpID:           line.lastOpID,
		writeCheckpoint:    line.writeCheckpoint,
		hasWriteCheckpoint: line.hasWriteCheckpoint,
	}
	var toDelete []string
	streams := line.streams
	if diff {
		if !it.tracking {
			return fmt.Errorf("%w: Received checkpoint_diff without previous checkpoint", ErrProtocol)
		}
		cp.buckets = maps.Clone(it.cp.buckets)
		for _, name := range line.removed {
			delete(cp.buckets, name)
		}
		toDelete = line.removed
		streams = it.cpStreams
	} else {
		cp.buckets = make(map[string]*bucketChecksum, len(line.buckets))
	}
	for i := range line.buckets {
		cp.buckets[line.buckets[i].bucket] = &line.buckets[i]
	}
	if len(cp.buckets) > maxBuckets {
		// (The parsers already refuse a checkpoint line listing more.)
		what := "checkpoint has"
		if diff {
			what = "checkpoint_diff leads to a checkpoint of"
		}
		return fmt.Errorf("%w: %s %d buckets, more than the client's limit of %d", ErrProtocol, what, len(cp.buckets), maxBuckets)
	}
	if !diff {
		previous := it.localBuckets
		if it.tracking {
			previous = slices.Collect(maps.Keys(it.cp.buckets))
		}
		for _, name := range previous {
			if _, ok := cp.buckets[name]; !ok {
				toDelete = append(toDelete, name)
			}
		}
	}
	if err := c.deleteBuckets(toDelete); err != nil {
		return err
	}
	progress, err := c.loadProgress(cp)
	if err != nil {
		return err
	}
	tracked, err := c.resolveSubscriptions(it, cp, streams)
	if err != nil {
		return err
	}
	c.then(func(it *iteration) {
		it.tracking = true
		it.cp = cp
		it.cpStreams = streams
		it.progress = progress
		it.downloading = true
		it.streams = tracked
		it.pending = nil
	})
	return nil
}

func (c *call) onData(d *dataLine, size int) error {
	if err := c.insertOperations(d, size); err != nil {
		return err
	}
	n := int64(len(d.ops))
	bucket := d.bucket
	c.then(func(it *iteration) {
		if p, ok := it.progress[bucket]; ok && it.downloading {
			p.sinceLast += n
		}
	})
	return nil
}

func (c *call) onCheckpointComplete() error {
	it := c.e.it
	if !it.tracking {
		return fmt.Errorf("%w: Received checkpoint complete without previous checkpoint", ErrProtocol)
	}
	cp := it.cp
	res, err := c.syncLocal(cp, -1)
	if err != nil {
		return err
	}
	switch res.kind {
	case syncChecksumFailure:
		c.emit(LogLine{Severity: "WARNING", Line: "Could not apply checkpoint, " + res.detail})
		c.emit(CloseSyncStream{})
		c.endIt = true
	case syncPendingLocal:
		c.emit(LogLine{Severity: "INFO", Line: "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."})
		c.then(func(it *iteration) { it.pending = cp })
	default:
		c.emit(LogLine{Severity: "DEBUG", Line: "Validated and applied checkpoint"})
		return c.checkpointApplied(cp)
	}
	return nil
}

// checkpointApplied records a completely applied checkpoint.
func (c *call) checkpointApplied(cp *checkpoint) error {
	var applied *int64
	if cp.hasWriteCheckpoint {
		wc := cp.writeCheckpoint
		applied = &wc
		if err := writeKVInt(c.ctx, c.tx, keyApplied, wc); err != nil {
			return err
		}
		c.emit(LogLine{Severity: "DEBUG", Line: "Applied checkpoint request id " + i64s(wc)})
	}
	c.emit(DidCompleteSync{AppliedCheckpointRequestID: applied})
	now := c.now
	c.then(func(it *iteration) {
		it.downloading = false
		yes := true
		it.priorityStatus = []PriorityStatus{{Priority: FullSyncPriority, LastSyncedAt: &now, HasSynced: &yes}}
		it.appliedID = applied
		for name, b := range cp.buckets {
			if p, ok := it.progress[name]; ok && b.hasCount {
				p.atLast, p.sinceLast = b.count, 0
			}
		}
	})
	c.emitStatus()
	return nil
}

func (c *call) onPartialComplete(priority int32) error {
	it := c.e.it
	if !it.tracking {
		return fmt.Errorf("%w: Received partial checkpoint complete without previous checkpoint", ErrProtocol)
	}
	res, err := c.syncLocal(it.cp, priority)
	if err != nil {
		return err
	}
	switch res.kind {
	case syncChecksumFailure:
		c.emit(LogLine{Severity: "WARNING", Line: "Could not apply partial checkpoint, " + res.detail})
		c.emit(CloseSyncStream{})
		c.endIt = true
	case syncApplied:
		now := c.now
		c.then(func(it *iteration) {
			yes := true
			ps := []PriorityStatus{{Priority: priority, LastSyncedAt: &now, HasSynced: &yes}}
			for _, p := range it.priorityStatus {
				if p.Priority > priority {
					ps = append(ps, p)
				}
			}
			it.priorityStatus = ps
		})
	}
	return nil
}

func (c *call) onTokenExpiresIn(n int64) error {
	it := c.e.it
	if err := c.extendTTL(it.activeStreams); err != nil {
		return err
	}
	switch {
	case n <= 0:
		c.emit(FetchCredentials{DidExpire: true})
		c.emit(CloseSyncStream{})
		c.endIt = true
	case n <= 30:
		c.emit(FetchCredentials{DidExpire: false})
	default:
		sr, err := c.subscriptionRequest(it.req.IncludeDefaults)
		if err != nil {
			return err
		}
		if string(sr.body) != string(it.requested.body) {
			c.emit(CloseSyncStream{HideDisconnect: true})
			c.endIt = true
		}
	}
	return nil
}
