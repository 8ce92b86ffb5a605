package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/gopowersync/powersync/examples/internal/todoschema"
)

// config holds the command line.
type config struct {
	listen, postgres, secret, kid, audience, powersyncURL string
	init                                                  bool

	filesDir, filesKey, publicURL string
	filesMax                      int64
	filesTTL                      time.Duration
}

// envOr returns the environment variable key, or def when it is empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	fs.StringVar(&c.listen, "listen", envOr("BACKEND_LISTEN", "127.0.0.1:6060"), "listen `address`")
	fs.StringVar(&c.postgres, "postgres", os.Getenv("DATABASE_URL"), "Postgres connection `URL` (env DATABASE_URL)")
	fs.BoolVar(&c.init, "init", false, "create the tables if they are missing")
	fs.StringVar(&c.secret, "jwt-secret", os.Getenv("POWERSYNC_JWT_SECRET"), "HS256 `secret` shared with the PowerSync Service (env POWERSYNC_JWT_SECRET)")
	secret64 := fs.String("jwt-secret-b64url", os.Getenv("POWERSYNC_JWT_SECRET_B64URL"), "the HS256 `secret` in base64url, as the service's client_auth \"k\" has it (env POWERSYNC_JWT_SECRET_B64URL)")
	fs.StringVar(&c.kid, "jwt-kid", envOr("POWERSYNC_JWT_KID", "powersync-dev"), "key `id` of the secret in the service's client_auth")
	fs.StringVar(&c.audience, "audience", envOr("POWERSYNC_AUDIENCE", "powersync-dev"), "token `audience` the service expects")
	fs.StringVar(&c.powersyncURL, "powersync-url", os.Getenv("POWERSYNC_URL"), "PowerSync Service `URL` returned with tokens")
	fs.StringVar(&c.filesDir, "attachments-dir", os.Getenv("ATTACHMENTS_DIR"), "serve attachment files from `directory` through signed URLs (env ATTACHMENTS_DIR)")
	fs.StringVar(&c.filesKey, "attachments-key", os.Getenv("ATTACHMENTS_KEY"), "HMAC `key` of the signed URLs (env ATTACHMENTS_KEY; default a random key per run)")
	fs.Int64Var(&c.filesMax, "attachments-max", 32<<20, "largest attachment accepted, in `bytes`")
	fs.DurationVar(&c.filesTTL, "attachments-ttl", 15*time.Minute, "how long a signed URL is `valid`")
	fs.StringVar(&c.publicURL, "public-url", os.Getenv("BACKEND_PUBLIC_URL"), "`URL` the signed URLs start with (default from the request's Host)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.postgres == "" {
		return c, errors.New("-postgres (or DATABASE_URL) is required")
	}
	if *secret64 != "" {
		if c.secret != "" {
			return c, errors.New("give -jwt-secret or -jwt-secret-b64url, not both")
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(*secret64, "="))
		if err != nil {
			return c, fmt.Errorf("-jwt-secret-b64url: %w", err)
		}
		c.secret = string(b)
	}
	return c, nil
}

// handler returns the backend's routes.
// files, if not nil, serves attachments; its signing endpoint takes the
// same tokens as uploads.
func handler(b *Backend, auth *Auth, powersyncURL string, files *Files) http.Handler {
	mux := http.NewServeMux()
	upload := b.ServeUpload
	if auth != nil {
		upload = auth.Require(upload)
		mux.HandleFunc("GET /api/auth/token", auth.ServeToken(powersyncURL))
	}
	mux.HandleFunc("POST /api/data", upload)
	if files != nil {
		sign := files.ServeSign
		if auth != nil {
			sign = auth.Require(sign)
		}
		files.routes(mux, sign)
	}
	return mux
}

// newFiles returns the attachment storage the flags ask for, or nil.
func newFiles(c config) (*Files, error) {
	if c.filesDir == "" {
		return nil, nil
	}
	key := []byte(c.filesKey)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.filesDir, 0o755); err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	return &Files{Dir: c.filesDir, Key: key, TTL: c.filesTTL, MaxSize: c.filesMax, BaseURL: c.publicURL}, nil
}

// serve runs the backend on l until ctx ends.
func serve(ctx context.Context, l net.Listener, c config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := sql.Open("pgx", c.postgres)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if c.init {
		if err := initTables(ctx, db); err != nil {
			return err
		}
	}
	var auth *Auth
	if c.secret != "" {
		auth = &Auth{Secret: []byte(c.secret), KeyID: c.kid, Audience: c.audience, TTL: time.Hour}
	} else {
		log.Warn("no -jwt-secret: uploads are not authenticated (development only)")
	}
	files, err := newFiles(c)
	if err != nil {
		return err
	}
	if files != nil {
		log.Info("serving attachments", "dir", files.Dir, "max_bytes", files.MaxSize)
	}
	srv := &http.Server{
		Handler:           handler(NewBackend(db, todoschema.WithPhotos(), log), auth, c.powersyncURL, files),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	log.Info("backend listening", "url", "http://"+l.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", c.listen)
	if err == nil {
		err = serve(ctx, l, c, log)
	}
	if err != nil {
		log.Error("backend stopped", "error", err)
		os.Exit(1)
	}
}
