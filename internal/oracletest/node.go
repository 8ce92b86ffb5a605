package oracletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NodeModules returns the node_modules directory of the oracle's Node SDK
// (@powersync/node and better-sqlite3, installed by `oracle.sh setup
// --node`). When node or the SDK is missing it skips the test with the
// reason, or fails it under CI ([InCI]).
func NodeModules(tb testing.TB) string {
	tb.Helper()
	oracle := Require(tb)
	unavailable := func(msg string) string {
		tb.Helper()
		if InCI() {
			tb.Fatalf("Node SDK oracle required under CI=true but unavailable: %s", msg)
		}
		tb.Skipf("Node SDK oracle unavailable (%s); run oracle.sh setup --node", msg)
		return ""
	}
	if _, err := exec.LookPath("node"); err != nil {
		return unavailable("node not on PATH")
	}
	out, err := exec.Command("bash", oracle, "env").Output()
	if err != nil {
		return unavailable("oracle.sh env: " + err.Error())
	}
	var home string
	for line := range strings.SplitSeq(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "PSORACLE_HOME="); ok {
			home = strings.Trim(v, `"'`)
		}
	}
	dir := filepath.Join(home, "node", "node_modules")
	for _, m := range []string{"@powersync/node", "better-sqlite3"} {
		if _, err := os.Stat(filepath.Join(dir, m)); err != nil {
			return unavailable(m + " not installed in " + dir)
		}
	}
	return dir
}

// NodeScript copies the script at path into a new temporary directory
// beside a node_modules link to the oracle's Node SDK (ES modules resolve
// packages from the script's directory) and returns the copy's path. It
// skips or fails as [NodeModules] does.
func NodeScript(tb testing.TB, path string) string {
	tb.Helper()
	modules := NodeModules(tb)
	script, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	work := tb.TempDir()
	dst := filepath.Join(work, filepath.Base(path))
	if err := os.WriteFile(dst, script, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(work, "node_modules")); err != nil {
		tb.Fatal(err)
	}
	return dst
}
