package pstest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
)

// CrudEntry is one uploaded local change: a ps_crud entry's JSON plus its
// op_id and tx_id, as a client's connector posts it to the upload endpoint.
type CrudEntry struct {
	OpID     int64          `json:"op_id"`
	TxID     int64          `json:"tx_id,omitempty"`
	Op       string         `json:"op"` // PUT, PATCH or DELETE
	Type     string         `json:"type"`
	ID       string         `json:"id"`
	Data     map[string]any `json:"data,omitempty"`
	Old      map[string]any `json:"old,omitempty"`
	Metadata string         `json:"metadata,omitempty"`
}

// UploadRequest is the body of POST /upload.
type UploadRequest struct {
	// ClientID, when set, makes the upload also create a write checkpoint
	// for the user and this client, returned in the result.
	ClientID string      `json:"client_id,omitempty"`
	Batch    []CrudEntry `json:"batch"`
}

// UploadResult is the data of a successful upload.
type UploadResult struct {
	// WriteCheckpoint is the write checkpoint created for the upload ("" when
	// no client id was given).
	WriteCheckpoint string `json:"write_checkpoint,omitempty"`
	// Applied is the number of entries applied.
	Applied int `json:"applied"`
}

// Upload is an applied CRUD entry with the user that uploaded it.
type Upload struct {
	UserID string
	Entry  CrudEntry
}

// ApplyBatch plays the application's backend: it applies a client's CRUD
// batch to the server's source rows (PUT replaces a row, PATCH merges into
// it, DELETE deletes it) as one checkpoint, so the change streams back to
// every client whose buckets hold those rows. If clientID is not empty it
// then creates a write checkpoint for userID/clientID and returns its id.
// A batch with an unknown op or an entry without type or id changes nothing.
func (s *Server) ApplyBatch(ctx context.Context, userID, clientID string, batch []CrudEntry) (UploadResult, error) {
	if err := ctx.Err(); err != nil {
		return UploadResult{}, err
	}
	changes := make([]change, 0, len(batch))
	for i, e := range batch {
		if e.Type == "" || e.ID == "" {
			return UploadResult{}, fmt.Errorf("powersync: pstest: upload entry %d (op_id %d): type and id are required", i, e.OpID)
		}
		switch e.Op {
		case "PUT":
			changes = append(changes, change{kind: chSetRow, table: e.Type, id: e.ID, row: nonNil(maps.Clone(e.Data))})
		case "PATCH":
			changes = append(changes, change{kind: chPatchRow, table: e.Type, id: e.ID, row: maps.Clone(e.Data)})
		case "DELETE":
			changes = append(changes, change{kind: chDeleteRow, table: e.Type, id: e.ID})
		default:
			return UploadResult{}, fmt.Errorf("powersync: pstest: upload entry %d (op_id %d): unknown op %q", i, e.OpID, e.Op)
		}
		if _, err := json.Marshal(e.Data); err != nil {
			return UploadResult{}, fmt.Errorf("powersync: pstest: upload entry %d (op_id %d): %w", i, e.OpID, err)
		}
	}
	s.mu.Lock()
	s.applyLocked(changes)
	for _, e := range batch {
		s.st.applied[rowKey{e.Type, e.ID}]++
		s.uploads = append(s.uploads, Upload{UserID: userID, Entry: e})
	}
	res := UploadResult{Applied: len(batch)}
	if clientID != "" {
		k := wcKey(userID, clientID)
		s.writeCheckpoints[k]++
		res.WriteCheckpoint = strconv.FormatInt(s.writeCheckpoints[k], 10)
		s.notifyLocked()
	}
	s.mu.Unlock()
	return res, nil
}

// AppliedCount returns how many uploaded CRUD entries were applied to the
// row (table, id): tests use it to check each local change arrived exactly once.
func (s *Server) AppliedCount(table, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.applied[rowKey{table, id}]
}

// Uploads returns every applied CRUD entry in the order applied.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// UploadHandler returns the upload endpoint (POST /upload of the server's
// own handler) for mounting elsewhere. It authenticates the request with a
// token of this server, decodes an UploadRequest, applies it with ApplyBatch
// and answers {"data": UploadResult}.
func (s *Server) UploadHandler() http.Handler { return http.HandlerFunc(s.handleUpload) }

func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	id, aerr := s.authenticate(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var req UploadRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		writeError(w, validationError(fmt.Sprintf("invalid JSON body: %v", err)))
		return
	}
	res, err := s.ApplyBatch(r.Context(), id.userID, req.ClientID, req.Batch)
	if err != nil {
		writeError(w, validationError(err.Error()))
		return
	}
	writeData(w, res)
}
