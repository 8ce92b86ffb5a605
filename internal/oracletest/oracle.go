package oracletest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EnvOracle names the environment variable that overrides the path of oracle.sh.
const EnvOracle = "POWERSYNC_ORACLE"

// InCI reports whether the tests run under CI (environment CI set to a true value).
// There a missing oracle is a failure, not a skip.
func InCI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

// Locate returns the absolute path of oracle.sh: $POWERSYNC_ORACLE when set, else
// <repository root>/../shared/oracle/oracle.sh, where the repository root is the first
// directory holding go.mod at or above the working directory. It does not check that the
// oracle works; see [Require].
func Locate() (string, error) {
	if p := os.Getenv(EnvOracle); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("oracletest: %s=%q: %w", EnvOracle, p, err)
		}
		return abs, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(root), "shared", "oracle", "oracle.sh"), nil
}

// RepoRoot returns the first directory at or above the working directory that holds go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("oracletest: working directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("oracletest: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

var setup struct {
	once sync.Once
	path string // oracle.sh, valid when err is nil
	err  error  // why the oracle cannot be used
}

// setupOracle locates the oracle and runs `oracle.sh setup` once per test binary.
func setupOracle() (string, error) {
	setup.once.Do(func() {
		path, err := Locate()
		if err != nil {
			setup.err = err
			return
		}
		if st, err := os.Stat(path); err != nil {
			setup.err = fmt.Errorf("oracletest: oracle not found (set %s or check out shared/ beside the repository): %w", EnvOracle, err)
			return
		} else if st.IsDir() {
			setup.err = fmt.Errorf("oracletest: %s is a directory, want oracle.sh", path)
			return
		}
		cmd := exec.Command("bash", path, "setup")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			setup.err = fmt.Errorf("oracletest: %s setup: %w\n%s", path, err, tail(out.String(), 40))
			return
		}
		setup.path = path
	})
	return setup.path, setup.err
}

// Available reports whether the oracle can be used, building its cache on first use.
func Available() bool {
	_, err := setupOracle()
	return err == nil
}

// Require returns the path of a working oracle.sh. When the oracle cannot be used it
// skips the test with the reason, or fails it when running under CI ([InCI]).
func Require(tb testing.TB) string {
	tb.Helper()
	path, err := setupOracle()
	return decide(tb, path, err)
}

// decide skips or fails tb when err is set (see [Require]), else returns path.
func decide(tb testing.TB, path string, err error) string {
	tb.Helper()
	if err != nil {
		if InCI() {
			tb.Fatalf("oracle required under CI=true but unavailable: %v", err)
		} else {
			tb.Skipf("oracle unavailable (run ../shared/oracle/oracle.sh setup, or set %s): %v", EnvOracle, err)
		}
		return ""
	}
	return path
}

// Dir returns the oracle's folder (where oracle.sh, py and psoracle.py are). It calls [Require].
func Dir(tb testing.TB) string {
	tb.Helper()
	return filepath.Dir(Require(tb))
}

// Result is what one oracle command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Command runs `oracle.sh ARGS...` and returns its output and exit status. It fails the
// test when the command cannot be started or is killed; a non-zero exit is returned, not
// reported.
func Command(tb testing.TB, args ...string) Result {
	tb.Helper()
	return run(tb, "bash", append([]string{Require(tb)}, args...)...)
}

// Py runs the oracle's Python (Debian's python3 on the oracle's SQLite, with psoracle
// importable: `import psoracle as ps`) with ARGS, e.g. a script path and its arguments.
func Py(tb testing.TB, args ...string) Result {
	tb.Helper()
	return run(tb, "bash", append([]string{filepath.Join(Dir(tb), "py")}, args...)...)
}

func run(tb testing.TB, name string, args ...string) Result {
	tb.Helper()
	ctx := tb.Context()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.ExitCode = exit.ExitCode()
	default:
		tb.Fatalf("oracle: %s %s: %v\n%s", name, strings.Join(args, " "), err, tail(res.Stderr, 40))
	}
	return res
}

// must fails the test unless r exited 0.
func must(tb testing.TB, what string, r Result) string {
	tb.Helper()
	if r.ExitCode != 0 {
		tb.Fatalf("oracle %s: exit %d\nstderr:\n%s\nstdout:\n%s", what, r.ExitCode, tail(r.Stderr, 40), tail(r.Stdout, 40))
	}
	return r.Stdout
}

// Schema returns what the official core creates for a schema (`oracle.sh schema`), given
// the schema JSON text and extra options such as "--schema-only" or "--demo=lists".
func Schema(tb testing.TB, schemaJSON string, opts ...string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "schema.json")
	if err := os.WriteFile(path, []byte(schemaJSON), 0o644); err != nil {
		tb.Fatal(err)
	}
	return must(tb, "schema", Command(tb, append([]string{"schema", path}, opts...)...))
}

// Replay runs `oracle.sh replay` on an NDJSON file with an optional schema file ("" for
// none) into dbPath ("" for an in-memory database; an existing file is continued), in
// checkpoint mode mode ("" for the default, legacy). It returns the printed calls,
// instructions and final state, and fails the test when replay exits non-zero.
func Replay(tb testing.TB, linesPath, schemaPath, dbPath, mode string) string {
	tb.Helper()
	args := []string{"replay", linesPath}
	if schemaPath != "" {
		args = append(args, "--schema", schemaPath)
	}
	if dbPath != "" {
		args = append(args, "--db", dbPath)
	}
	if mode != "" {
		args = append(args, "--mode", mode)
	}
	return must(tb, "replay", Command(tb, args...))
}

// Dump returns the oracle's state dump of a database file (`oracle.sh dump`), with the
// client id normalised as [Normalize] does.
func Dump(tb testing.TB, dbPath string) string {
	tb.Helper()
	return Normalize(must(tb, "dump", Command(tb, "dump", dbPath)))
}

// Diff compares the states of two database files with `oracle.sh diff` (with --master
// when master is set) and returns whether they are the same and the unified diff. It
// fails the test when the oracle reports an error (exit status 2).
func Diff(tb testing.TB, a, b string, master bool) (same bool, diff string) {
	tb.Helper()
	args := []string{"diff", a, b}
	if master {
		args = append(args, "--master")
	}
	r := Command(tb, args...)
	switch r.ExitCode {
	case 0:
		return true, ""
	case 1:
		return false, r.Stdout
	}
	tb.Fatalf("oracle diff %s %s: exit %d\n%s%s", a, b, r.ExitCode, r.Stdout, tail(r.Stderr, 40))
	return false, ""
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
