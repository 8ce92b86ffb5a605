package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// svc is the service shared by the package's tests.
var svc *service

// service is a running PowerSync Service with its Postgres, and the
// example backend in front of the same Postgres.
type service struct {
	sh     string // ps-service.sh
	dir    string
	url    string // the PowerSync endpoint
	pgURL  string // the app database
	secret []byte // HS256 key the service accepts
	kid    string
	aud    string

	backendURL string
	backend    *exec.Cmd

	pg *pgxpool.Pool
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ci := os.Getenv("CI") == "true"
	unavailable := func(format string, args ...any) int {
		msg := fmt.Sprintf(format, args...)
		if ci {
			fmt.Fprintln(os.Stderr, "e2e: FAIL: the real PowerSync Service is needed under CI=true:", msg)
			return 1
		}
		fmt.Println("e2e: skipped:", msg)
		return 0
	}
	if testing.Short() {
		fmt.Println("e2e: skipped with -short")
		return 0
	}
	sh := os.Getenv("PSSERVICE_SH")
	if sh == "" {
		sh = filepath.Join("..", "..", "shared", "realservice", "ps-service.sh")
	}
	if _, err := os.Stat(sh); err != nil {
		return unavailable("ps-service.sh not found (%v); set PSSERVICE_SH", err)
	}
	sh, _ = filepath.Abs(sh)
	s, err := startService(sh)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return unavailable("%v", err)
	}
	svc = s
	code := m.Run()
	if code != 0 {
		s.printLogs()
	}
	return code
}

// startService starts ps-service.sh in a new directory with the tests' app
// SQL and sync config, then the example backend.
func startService(sh string) (*service, error) {
	dir, err := os.MkdirTemp("/tmp", "powersync-e2e-")
	if err != nil {
		return nil, err
	}
	// Postgres runs as its own user when the tests run as root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	s := &service{sh: sh, dir: dir}
	app, _ := filepath.Abs("testdata/app.sql")
	cfg, _ := filepath.Abs("testdata/sync-config.yaml")
	if out, err := s.ctl(3*time.Minute, "start", dir, "--app-sql", app, "--sync-config", cfg); err != nil {
		return s, fmt.Errorf("ps-service.sh start: %v\n%s", err, out)
	}
	env, err := readEnv(filepath.Join(dir, "env"))
	if err != nil {
		return s, err
	}
	s.url, s.pgURL, s.kid, s.aud = env["PSSERVICE_URL"], env["PSSERVICE_PG_URL"], env["PSSERVICE_JWT_KID"], env["PSSERVICE_JWT_AUD"]
	if s.secret, err = base64.RawURLEncoding.DecodeString(env["PSSERVICE_JWT_SECRET_B64URL"]); err != nil {
		return s, fmt.Errorf("PSSERVICE_JWT_SECRET_B64URL: %w", err)
	}
	if s.pg, err = pgxpool.New(context.Background(), s.pgURL); err != nil {
		return s, err
	}
	return s, s.startBackend()
}

// startBackend builds examples/backend and runs it against the app
// database, accepting the same tokens as the service and serving
// attachment files from the service directory. The backend is in the
// examples module (../examples, with its own go.mod), so it is built there.
func (s *service) startBackend() error {
	bin := filepath.Join(s.dir, "backend")
	build := exec.Command("go", "build", "-o", bin, "./backend")
	build.Dir = filepath.Join("..", "examples")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build examples/backend: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(s.dir, "backend.log"))
	if err != nil {
		return err
	}
	s.backend = exec.Command(bin, "-listen", addr, "-postgres", s.pgURL,
		"-jwt-secret", string(s.secret), "-jwt-kid", s.kid, "-audience", s.aud,
		"-attachments-dir", filepath.Join(s.dir, "attachments"))
	s.backend.Stdout, s.backend.Stderr = logf, logf
	if err := s.backend.Start(); err != nil {
		return err
	}
	s.backendURL = "http://" + addr
	for range 200 {
		resp, err := http.Get(s.backendURL + "/api/data")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("examples/backend did not start (see backend.log)")
}

func (s *service) stop() {
	if s.pg != nil {
		s.pg.Close()
	}
	if s.backend != nil && s.backend.Process != nil {
		s.backend.Process.Kill()
		s.backend.Wait()
	}
	s.ctl(time.Minute, "stop", s.dir)
	if os.Getenv("PSSERVICE_KEEP") != "" {
		fmt.Println("e2e: service directory kept:", s.dir)
		return
	}
	os.RemoveAll(s.dir)
}

// ctl runs a ps-service.sh command.
func (s *service) ctl(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{s.sh}, args...)...)
	cmd.Env = append(os.Environ(), "PSSERVICE_QUIET=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// printLogs prints the end of the service's and the backend's logs, for a
// failed run.
func (s *service) printLogs() {
	for _, name := range []string{"service.log", "backend.log"} {
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(os.Stderr, "--- last lines of %s\n%s\n", name, strings.Join(lines, "\n"))
	}
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env, sc.Err()
}

// tokenOpts describe a JWT for the service.
type tokenOpts struct {
	sub       string
	ttl       time.Duration // default 1 h
	iatOffset time.Duration
	kid       string // default the service's
	aud       string // default the service's
	key       []byte // default the service's
}

// token mints an HS256 JWT the way an app's auth backend does.
func (s *service) token(o tokenOpts) (string, time.Time) {
	if o.ttl == 0 {
		o.ttl = time.Hour
	}
	if o.kid == "" {
		o.kid = s.kid
	}
	if o.aud == "" {
		o.aud = s.aud
	}
	if o.key == nil {
		o.key = s.secret
	}
	iat := time.Now().Add(o.iatOffset)
	exp := iat.Add(o.ttl)
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := enc(map[string]string{"alg": "HS256", "typ": "JWT", "kid": o.kid}) + "." +
		enc(map[string]any{"sub": o.sub, "aud": o.aud, "iat": iat.Unix(), "exp": exp.Unix()})
	mac := hmac.New(sha256.New, o.key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), exp
}
