package sync

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	gosync "sync"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/synccore"
)

// createWriteCheckpoint asks the service for a write checkpoint covering
// everything uploaded so far and returns its id (legacy mode:
// GET /write-checkpoint2.json; requests mode: a new checkpoint request).
func (s *Syncer) createWriteCheckpoint(ctx context.Context, sess *session) (string, error) {
	if sess.cr != nil {
		return s.nextCheckpointRequest(ctx, sess)
	}
	const op = "GET /write-checkpoint2.json"
	clientID, err := ClientID(ctx, s.db)
	if err != nil {
		return "", err
	}
	var body struct {
		Data struct {
			WriteCheckpoint json.RawMessage `json:"write_checkpoint"`
		} `json:"data"`
	}
	if err := s.serviceJSON(ctx, op, http.MethodGet, "/write-checkpoint2.json?client_id="+url.QueryEscape(clientID), nil, &body); err != nil {
		return "", err
	}
	id, err := opIDText(body.Data.WriteCheckpoint)
	if err != nil {
		return "", pserr.Errorf("powersync: %s: %w", op, err)
	}
	return id, nil
}

// serviceJSON makes a JSON request to the service and decodes the response.
func (s *Syncer) serviceJSON(ctx context.Context, op, method, path string, in, out any) error {
	creds, err := s.creds.get(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return pserr.Errorf("powersync: %s: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, creds.endpoint(path), rd)
	if err != nil {
		return pserr.Errorf("powersync: %s: %w", op, err)
	}
	s.setHeaders(req, creds)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := doRequest(s.o.httpClient, op, req, s.o.responseTimeout, false)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		herr := readHTTPError(op, resp)
		if herr.Unauthorized() {
			s.creds.invalidate()
		}
		return herr
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		if errors.Is(err, ErrResponseTimeout) {
			return err
		}
		return pserr.Errorf("powersync: %s: decode response: %w", op, err)
	}
	return nil
}

// opIDText accepts an op id sent as a JSON string or number.
func opIDText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("invalid checkpoint id %s", raw)
		}
		s = n.String()
	}
	if v, err := strconv.ParseInt(s, 10, 64); err != nil || v <= 0 {
		return "", fmt.Errorf("invalid checkpoint id %q", s)
	}
	return s, nil
}

// updateLocalTarget replaces the "local writes pending" gate with a
// concrete write checkpoint once the upload queue is drained
// (synccore.WriteCheckpointNeeded and CommitWriteCheckpoint;
// docs/upload.md). It reports whether the target was updated.
func (s *Syncer) updateLocalTarget(ctx context.Context, sess *session) (bool, error) {
	seqBefore, needed, err := synccore.WriteCheckpointNeeded(ctx, s.db)
	if err != nil || !needed {
		return false, err
	}
	id, err := s.createWriteCheckpoint(ctx, sess)
	if err != nil {
		return false, err
	}
	wc, _ := strconv.ParseInt(id, 10, 64)
	updated := false
	err = inWriteTx(ctx, s.db, "set write checkpoint", func(tx *sql.Tx) (err error) {
		updated, err = synccore.CommitWriteCheckpoint(ctx, tx, seqBefore, wc)
		return err
	})
	return updated, err
}

// checkpointRequests is the per-connection state of checkpoint-request mode
// (docs/upload.md, "Write checkpoints").
type checkpointRequests struct {
	mu     gosync.Mutex  // guards the fields below
	ready  chan struct{} // closed once the counter was seeded on this connection
	seeded bool
}

func newCheckpointRequests() *checkpointRequests {
	return &checkpointRequests{ready: make(chan struct{})}
}

// reset blocks allocation until the next connection seeds the counter.
func (c *checkpointRequests) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seeded {
		c.ready, c.seeded = make(chan struct{}), false
	}
}

func (c *checkpointRequests) markReady() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seeded {
		c.seeded = true
		close(c.ready)
	}
}

func (c *checkpointRequests) readyChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// postCheckpointRequest posts a checkpoint request and returns the id the
// service answered with (at least the posted one).
func (s *Syncer) postCheckpointRequest(ctx context.Context, r synccore.CheckpointRequest) (string, error) {
	const op = "POST /sync/checkpoint-request"
	var body struct {
		Data struct {
			ID json.RawMessage `json:"checkpoint_request_id"`
		} `json:"data"`
	}
	if err := s.serviceJSON(ctx, op, http.MethodPost, "/sync/checkpoint-request", r, &body); err != nil {
		return "", err
	}
	id, err := opIDText(body.Data.ID)
	if err != nil {
		return "", pserr.Errorf("powersync: %s: %w", op, err)
	}
	return id, nil
}

// seedCheckpointRequests affirms the connection's checkpoint request and
// seeds the local counter with the service's answer.
func (s *Syncer) seedCheckpointRequests(ctx context.Context, sess *session, r synccore.CheckpointRequest) error {
	id, err := s.postCheckpointRequest(ctx, r)
	if err != nil {
		return err
	}
	seed, _ := strconv.ParseInt(id, 10, 64) // opIDText checked it
	err = inWriteTx(ctx, s.db, "seed checkpoint requests", func(tx *sql.Tx) error {
		return synccore.SeedCheckpointRequests(ctx, tx, seed)
	})
	if err != nil {
		return err
	}
	sess.cr.markReady()
	return nil
}

// nextCheckpointRequest allocates the next checkpoint request id, posts it
// and returns the service's answer.
func (s *Syncer) nextCheckpointRequest(ctx context.Context, sess *session) (string, error) {
	select {
	case <-sess.cr.readyChan():
	case <-ctx.Done():
		return "", ctx.Err()
	}
	clientID, err := ClientID(ctx, s.db)
	if err != nil {
		return "", err
	}
	var next int64
	err = inWriteTx(ctx, s.db, "allocate checkpoint request", func(tx *sql.Tx) (err error) {
		next, err = synccore.AllocateCheckpointRequestID(ctx, tx)
		return err
	})
	if err != nil {
		return "", err
	}
	return s.postCheckpointRequest(ctx, synccore.CheckpointRequest{ClientID: clientID, CheckpointRequestID: next})
}
