package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gopowersync/powersync/internal/tokencmd"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// service is where the app syncs: a connector for the PowerSync Service and
// the backend and, in the embedded mode, the in-process service itself.
type service struct {
	// connector is what the syncer uses.
	connector pssync.Connector
	// srv is the embedded service (nil for a real one).
	srv *pstest.Server
	// where names the service for the user.
	where string
	// uploads is false when local changes have nowhere to go.
	uploads bool
	// authorize adds the app's token to a request to the backend (nil
	// for the embedded service).
	authorize func(ctx context.Context, req *http.Request) error
}

// close stops the embedded service, if any.
func (s *service) close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// embeddedPageSize is the number of operations per data line of the
// embedded service: small, so that the first download comes in steps that
// the progress bar shows.
const embeddedPageSize = 50

// startEmbedded starts an in-process PowerSync Service (package pstest)
// with demo data for user. It also plays the app's backend: uploads go to
// its /upload endpoint, which applies them to its rows at once.
func startEmbedded(user string, archived int) (*service, error) {
	srv := pstest.NewServer(pstest.WithPageSize(embeddedPageSize))
	if err := seed(srv, user, archived); err != nil {
		srv.Close()
		return nil, fmt.Errorf("seed the embedded service: %w", err)
	}
	token := func(context.Context) (string, error) { return srv.Token(user), nil }
	return &service{
		connector: pssync.DevConnector(srv.URL, token),
		srv:       srv,
		where:     "the embedded service at " + srv.URL,
		uploads:   true,
	}, nil
}

// seed fills the embedded service: a Welcome list with a few todos, and
// an Archive list with archived completed todos, as one checkpoint.
func seed(srv *pstest.Server, user string, archived int) error {
	day := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	at := func(i int) string { return day.Add(time.Duration(i) * time.Minute).Format(time.RFC3339) }
	return srv.Update(func(tx *pstest.Tx) error {
		welcome := uuid.NewString()
		tx.SetRow("lists", welcome, map[string]any{"name": "Welcome", "owner_id": user, "created_at": at(0)})
		for i, d := range []string{"type help for the commands", "add Welcome <text> adds a todo", "server add Welcome <text> plays another user"} {
			tx.SetRow("todos", uuid.NewString(), map[string]any{
				"list_id": welcome, "description": d, "completed": 0, "created_by": user, "created_at": at(i + 1),
			})
		}
		if archived > 0 {
			archive := uuid.NewString()
			tx.SetRow("lists", archive, map[string]any{"name": "Archive", "owner_id": user, "created_at": at(10)})
			for i := range archived {
				tx.SetRow("todos", uuid.NewString(), map[string]any{
					"list_id": archive, "description": fmt.Sprintf("archived item %d", i+1), "completed": 1,
					"created_by": user, "created_at": at(i + 11), "completed_at": at(i + 12), "completed_by": user,
				})
			}
		}
		return nil
	})
}

// connectRemote returns the connector for a real PowerSync Service and
// backend (examples/backend or one like it). The token is c.token, or the
// output of c.tokenCmd (run for every new token), or else comes from the
// backend's GET /api/auth/token?user_id=…; uploads go to the backend's
// POST /api/data.
func connectRemote(c config) (*service, error) {
	endpoint, backend := strings.TrimRight(c.endpoint, "/"), strings.TrimRight(c.backend, "/")
	switch {
	case endpoint == "" && backend == "":
		return nil, errors.New("a real service needs -endpoint or -backend")
	case c.token != "" && c.tokenCmd != "":
		return nil, errors.New("give either -token or -token-command, not both")
	case c.token == "" && c.tokenCmd == "" && backend == "":
		return nil, errors.New("give -token, -token-command, or -backend to fetch tokens from")
	case endpoint == "" && (c.token != "" || c.tokenCmd != ""):
		return nil, errors.New("-token and -token-command need -endpoint")
	}
	creds := &remoteCredentials{endpoint: endpoint, token: c.token, command: c.tokenCmd, backend: backend, user: c.user}
	s := &service{where: "the PowerSync Service at " + endpoint}
	if endpoint == "" {
		s.where = "the PowerSync Service named by " + backend
	}
	if backend == "" {
		s.connector = pssync.ConnectorFuncs{FetchCredentialsFunc: creds.fetch}
		return s, nil
	}
	s.uploads = true
	s.authorize = func(ctx context.Context, req *http.Request) error {
		c, err := creds.current(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Token "+c.Token)
		return nil
	}
	s.connector = &pssync.HTTPConnector{
		Credentials: creds.fetch,
		UploadURL:   backend + "/api/data",
		Authorize:   s.authorize,
	}
	return s, nil
}

// remoteCredentials fetches credentials from the backend (or uses a fixed
// token) and keeps the last ones for upload requests.
type remoteCredentials struct {
	endpoint, token, command, backend, user string

	mu   sync.Mutex // guards last
	last *pssync.Credentials
}

// fetch returns new credentials: the fixed token, the token command's
// output, or a fresh token from the backend.
func (r *remoteCredentials) fetch(ctx context.Context) (*pssync.Credentials, error) {
	var c *pssync.Credentials
	switch {
	case r.token != "":
		c = &pssync.Credentials{Endpoint: r.endpoint, Token: r.token, ExpiresAt: tokenExpiry(r.token)}
	case r.command != "":
		tok, err := tokencmd.Run(ctx, r.command)
		if err != nil {
			return nil, err
		}
		c = &pssync.Credentials{Endpoint: r.endpoint, Token: tok, ExpiresAt: tokenExpiry(tok)}
	default:
		var err error
		if c, err = r.fromBackend(ctx); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.last = c
	r.mu.Unlock()
	return c, nil
}

// tokenExpiry returns the exp claim of a JWT, or the zero time if it has
// none or is not a JWT (the service decides; this only tells when to fetch
// a new one for uploads).
func tokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}

// current returns the last credentials, fetching them if there are none.
func (r *remoteCredentials) current(ctx context.Context) (*pssync.Credentials, error) {
	r.mu.Lock()
	c := r.last
	r.mu.Unlock()
	if c != nil && (c.ExpiresAt.IsZero() || time.Until(c.ExpiresAt) > time.Minute) {
		return c, nil
	}
	return r.fetch(ctx)
}

// fromBackend asks the backend for a token, as the PowerSync demo apps do.
func (r *remoteCredentials) fromBackend(ctx context.Context) (*pssync.Credentials, error) {
	u := r.backend + "/api/auth/token?user_id=" + url.QueryEscape(r.user)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch token: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var res struct {
		Token        string    `json:"token"`
		PowerSyncURL string    `json:"powersync_url"`
		ExpiresAt    time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Token == "" {
		return nil, fmt.Errorf("fetch token: unexpected answer %.200q", body)
	}
	endpoint := r.endpoint
	if endpoint == "" {
		endpoint = res.PowerSyncURL
	}
	if endpoint == "" {
		return nil, errors.New("fetch token: the backend names no PowerSync Service; give -endpoint")
	}
	return &pssync.Credentials{Endpoint: endpoint, Token: res.Token, ExpiresAt: res.ExpiresAt}, nil
}
