package sync

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gopowersync/powersync/internal/pserr"
)

// HTTPConnector is a ready-made [Connector] for backends that accept
// uploads as JSON over HTTP. It uploads the queue one local transaction per
// request:
//
//	POST UploadURL
//	{"batch": [{"op_id": 1, "op": "PUT", "type": "todos", "id": "…", "tx_id": 1, "data": {…}}, …]}
//
// (plus "client_id" when WriteCheckpoints is set). A 2xx response completes
// the transaction; if its body is {"data": {"write_checkpoint": "N"}} the
// transaction is completed with that write checkpoint. A response that
// IsPermanent classifies as permanent sets the transaction's entries aside
// (see [RejectedCrud]); any other failure is retried by the syncer.
type HTTPConnector struct {
	// Credentials returns the PowerSync credentials (required).
	Credentials func(ctx context.Context) (*Credentials, error)
	// UploadURL is the backend endpoint receiving the batches (required).
	UploadURL string
	// Client is the HTTP client for uploads. The default is a client of
	// this package (not http.DefaultClient) with bounded dialing and TLS
	// handshakes. Redirects are followed only within UploadURL's origin;
	// others fail with [ErrRedirectRefused].
	Client *http.Client
	// ResponseTimeout bounds each upload request, until its response is
	// read: a backend that does not answer in time fails the upload with an
	// error matching [ErrResponseTimeout], which the syncer shows as the
	// status's UploadError and retries. 0 means [DefaultResponseTimeout];
	// negative means no bound.
	ResponseTimeout time.Duration
	// Authorize, if set, prepares each upload request, e.g. by adding the
	// backend's authentication header.
	Authorize func(ctx context.Context, req *http.Request) error
	// WriteCheckpoints sends the database's client id with each batch so
	// that a backend using custom write checkpoints can create one.
	WriteCheckpoints bool
	// IsPermanent reports whether a response status means the backend can
	// never accept the batch. Nil means 400 Bad Request and 422
	// Unprocessable Entity are permanent.
	IsPermanent func(status int) bool
}

// FetchCredentials calls c.Credentials.
func (c *HTTPConnector) FetchCredentials(ctx context.Context) (*Credentials, error) {
	if c.Credentials == nil {
		return nil, errors.New("powersync: HTTPConnector: no Credentials function")
	}
	return c.Credentials(ctx)
}

// uploadRequest is the body HTTPConnector posts.
type uploadRequest struct {
	ClientID string      `json:"client_id,omitempty"`
	Batch    []CrudEntry `json:"batch"`
}

// UploadData posts every queued transaction, oldest first.
func (c *HTTPConnector) UploadData(ctx context.Context, db *sql.DB) error {
	if c.UploadURL == "" {
		return errors.New("powersync: HTTPConnector: no UploadURL")
	}
	var clientID string
	if c.WriteCheckpoints {
		id, err := ClientID(ctx, db)
		if err != nil {
			return err
		}
		clientID = id
	}
	for {
		tx, err := NextCrudTransaction(ctx, db)
		if err != nil || tx == nil {
			return err
		}
		wc, err := c.post(ctx, uploadRequest{ClientID: clientID, Batch: tx.Entries})
		var herr *HTTPError
		if errors.As(err, &herr) && c.permanent(herr.StatusCode) {
			return Permanent(err, tx.Entries...)
		}
		if err != nil {
			return err
		}
		if wc != "" {
			err = tx.CompleteWithWriteCheckpoint(ctx, wc)
		} else {
			err = tx.Complete(ctx)
		}
		if err != nil {
			return err
		}
	}
}

func (c *HTTPConnector) permanent(status int) bool {
	if c.IsPermanent != nil {
		return c.IsPermanent(status)
	}
	return status == http.StatusBadRequest || status == http.StatusUnprocessableEntity
}

func (c *HTTPConnector) post(ctx context.Context, body uploadRequest) (writeCheckpoint string, err error) {
	op := "POST " + c.UploadURL
	b, err := json.Marshal(body)
	if err != nil {
		return "", pserr.Errorf("powersync: upload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.UploadURL, bytes.NewReader(b))
	if err != nil {
		return "", pserr.Errorf("powersync: upload: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Authorize != nil {
		if err := c.Authorize(ctx, req); err != nil {
			return "", pserr.Errorf("powersync: upload: authorize: %w", err)
		}
	}
	client := c.Client
	if client == nil {
		client = connectorClient()
	}
	timeout := c.ResponseTimeout
	if timeout == 0 {
		timeout = DefaultResponseTimeout
	}
	resp, err := doRequest(client, op, req, max(timeout, 0), false)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", readHTTPError(op, resp)
	}
	var res struct {
		Data struct {
			WriteCheckpoint json.RawMessage `json:"write_checkpoint"`
		} `json:"data"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if errors.Is(err, ErrResponseTimeout) {
		return "", err
	}
	if json.Unmarshal(raw, &res) == nil && len(res.Data.WriteCheckpoint) > 0 && string(res.Data.WriteCheckpoint) != "null" {
		if wc, err := opIDText(res.Data.WriteCheckpoint); err == nil {
			return wc, nil
		}
	}
	return "", nil
}

// DevConnector returns a connector for a development service such as
// package pstest, which also plays the application's backend: credentials
// are endpoint plus a token from token (called on every fetch, so it can
// mint a fresh one), and uploads go to endpoint + "/upload" with the same
// token.
func DevConnector(endpoint string, token func(ctx context.Context) (string, error)) *HTTPConnector {
	endpoint = strings.TrimRight(endpoint, "/")
	c := &HTTPConnector{UploadURL: endpoint + "/upload"}
	c.Credentials = func(ctx context.Context) (*Credentials, error) {
		t, err := token(ctx)
		if err != nil {
			return nil, err
		}
		return &Credentials{Endpoint: endpoint, Token: t}, nil
	}
	c.Authorize = func(ctx context.Context, req *http.Request) error {
		t, err := token(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Token "+t)
		return nil
	}
	return c
}

var _ Connector = (*HTTPConnector)(nil)
var _ Connector = ConnectorFuncs{}
