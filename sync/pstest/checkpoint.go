package pstest

import (
	"math"
	"math/big"
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
	params, perr := readParams(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	if verr := validateParams(writeCheckpointSchema, params); verr != nil {
		writeError(w, verr)
		return
	}
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var clientID string
	if c := params.get("client_id"); c != nil {
		clientID = c.s
	}
	wc := s.CreateWriteCheckpoint(id.userID, clientID)
	writeData(w, map[string]string{"write_checkpoint": strconv.FormatInt(wc, 10)})
}

func (s *Server) handleCheckpointRequest(w http.ResponseWriter, r *http.Request) {
	params, perr := readParams(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	if verr := validateParams(checkpointRequestSchema, params); verr != nil {
		writeError(w, verr)
		return
	}
	n, ok := parseRequestID(params.get("checkpoint_request_id"))
	if !ok {
		writeError(w, validationMessages("Expected checkpoint_request_id between 1 and 9223372036854775807"))
		return
	}
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	got := s.RequestCheckpoint(id.userID, params.get("client_id").s, n)
	writeData(w, map[string]string{"checkpoint_request_id": strconv.FormatInt(got, 10)})
}

// parseRequestID decodes a validated checkpoint_request_id (a decimal
// string or a JSON integer, which JavaScript holds as a double) and reports
// whether it is in [1, 2^63-1].
func parseRequestID(v *jsonValue) (int64, bool) {
	var b *big.Int
	if v.kind == jString {
		var ok bool
		if b, ok = new(big.Int).SetString(v.s, 10); !ok {
			return 0, false
		}
	} else {
		f, err := strconv.ParseFloat(v.s, 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, false
		}
		b, _ = new(big.Float).SetFloat64(f).Int(nil)
	}
	if b.Sign() <= 0 || !b.IsInt64() {
		return 0, false
	}
	return b.Int64(), true
}
