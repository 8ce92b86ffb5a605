package oracletest

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata (also: UPDATE_GOLDEN=1)")

// Updating reports whether golden files are to be rewritten: the test binary runs with
// -update, or the environment has UPDATE_GOLDEN=1.
func Updating() bool {
	if update != nil && *update {
		return true
	}
	return os.Getenv("UPDATE_GOLDEN") == "1"
}

// Golden compares got with the golden file at path. When [Updating] it writes got to the
// file instead (creating directories). A missing golden file fails the test with a hint.
func Golden(tb testing.TB, path, got string) {
	tb.Helper()
	if Updating() {
		WriteGolden(tb, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("golden file %s missing; run the test with -update (or UPDATE_GOLDEN=1) to create it", path)
	}
	if err != nil {
		tb.Fatal(err)
	}
	if d := LineDiff(string(want), got); d != "" {
		tb.Errorf("differs from golden file %s (- golden, + got):\n%s", path, d)
	}
}

// WriteGolden writes text to the golden file at path, creating its directory.
func WriteGolden(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("wrote golden file %s", path)
}

// LineDiff returns "" when a and b are equal, else the lines that differ: a line-based
// diff (longest common subsequence) with "-" for lines only in a, "+" for lines only in b
// and up to two lines of context around each change. When the texts are too long for
// that (more than 4,000,000 line pairs), it shows only the first line that differs.
func LineDiff(a, b string) string {
	if a == b {
		return ""
	}
	x := strings.Split(a, "\n")
	y := strings.Split(b, "\n")
	if len(x)*len(y) > 4_000_000 { // too big for the quadratic table: show the first difference
		i := 0
		for i < len(x) && i < len(y) && x[i] == y[i] {
			i++
		}
		var got, want string
		if i < len(x) {
			want = x[i]
		}
		if i < len(y) {
			got = y[i]
		}
		return fmt.Sprintf("first difference at line %d:\n-%s\n+%s\n", i+1, want, got)
	}
	// lcs[i][j] = length of the LCS of x[i:] and y[j:]
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type op struct {
		kind byte
		text string
	}
	var ops []op
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, op{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, op{'-', x[i]})
			i++
		default:
			ops = append(ops, op{'+', y[j]})
			j++
		}
	}
	const context = 2
	show := make([]bool, len(ops))
	for k, o := range ops {
		if o.kind != ' ' {
			for c := max(k-context, 0); c <= min(k+context, len(ops)-1); c++ {
				show[c] = true
			}
		}
	}
	var b2 strings.Builder
	last := -1
	for k, o := range ops {
		if !show[k] {
			continue
		}
		if last >= 0 && k > last+1 {
			b2.WriteString("...\n")
		}
		fmt.Fprintf(&b2, "%c%s\n", o.kind, o.text)
		last = k
	}
	return b2.String()
}
