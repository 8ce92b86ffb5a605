package pstest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
)

func wcKey(userID, clientID string) string { return userID + "/" + clientID }

// CreateWriteCheckpoint creates a write checkpoint for userID/clientID the
// way GET /write-checkpoint2.json does and returns its id. Since pstest
// applies changes immediately, every later checkpoint sent to that client
// carries it as write_checkpoint.
func (s *Server) CreateWriteCheckpoint(userID, clientID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := wcKey(userID, clientID)
	s.writeCheckpoints[k]++
	s.notifyLocked()
	return s.writeCheckpoints[k]
}

// WriteCheckpoint returns the current write checkpoint id of userID/clientID (0 if none).
func (s *Server) WriteCheckpoint(userID, clientID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeCheckpoints[wcKey(userID, clientID)]
}

// RequestCheckpoint records a client-numbered checkpoint request the way
// POST /sync/checkpoint-request does: the stored id becomes the maximum of
// id and the stored one, which is returned.
func (s *Server) RequestCheckpoint(userID, clientID string, id int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := wcKey(userID, clientID)
	if id > s.writeCheckpoints[k] {
		s.writeCheckpoints[k] = id
		s.notifyLocked()
	}
	return s.writeCheckpoints[k]
}

func (s *Server) handleWriteCheckpoint(w http.ResponseWriter, r *http.Request) {
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	clientID := r.URL.Query().Get("client_id")
	wc := s.CreateWriteCheckpoint(id.userID, clientID)
	writeData(w, map[string]string{"write_checkpoint": strconv.FormatInt(wc, 10)})
}

func (s *Server) handleCheckpointRequest(w http.ResponseWriter, r *http.Request) {
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var body struct {
		ClientID            string      `json:"client_id"`
		CheckpointRequestID json.Number `json:"checkpoint_request_id"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, validationError(err.Error()))
		return
	}
	n, err := parseRequestID(body.CheckpointRequestID)
	if err != nil {
		writeError(w, validationError(err.Error()))
		return
	}
	got := s.RequestCheckpoint(id.userID, body.ClientID, n)
	writeData(w, map[string]string{"checkpoint_request_id": strconv.FormatInt(got, 10)})
}

// parseRequestID accepts a JSON number or a decimal string in [1, 2^63-1].
func parseRequestID(v json.Number) (int64, error) {
	s := string(v)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < 1 || f >= math.MaxInt64 {
			return 0, fmt.Errorf("checkpoint_request_id %q must be an integer in [1, 2^63-1]", string(v))
		}
		n = int64(f)
	}
	if n < 1 {
		return 0, fmt.Errorf("checkpoint_request_id %q must be an integer in [1, 2^63-1]", string(v))
	}
	return n, nil
}
