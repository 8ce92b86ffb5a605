package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "psbench:", err)
		os.Exit(1)
	}
}

const usage = `usage: psbench gen|gen-diffs|serve|token|case|table [flags]  (see go doc ./bench)`

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := args[0], args[1:]
	var caseName string
	if cmd == "case" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		caseName, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	var o caseOptions
	fs.IntVar(&o.n, "n", 100_000, "rows")
	fs.StringVar(&o.ids, "ids", "random", "row ids: random (UUID v4) or seq (the oracle's)")
	fs.IntVar(&o.per, "per", 1000, "ops per data line")
	fs.StringVar(&o.stream, "stream", "", "NDJSON stream file (from psbench gen)")
	fs.StringVar(&o.diffs, "diffs", "", "incremental checkpoints file (from psbench gen-diffs)")
	fs.StringVar(&o.dir, "dir", os.TempDir(), "directory for database files")
	fs.StringVar(&o.url, "url", "", "sync service URL (case sync_e2e)")
	fs.StringVar(&o.secret, "secret", "", "pstest token secret; empty sends a fixed dev token")
	fs.StringVar(&o.token, "token", "", "a token to send as it is (case sync_e2e against the real PowerSync Service); overrides -secret")
	fs.StringVar(&o.label, "label", "", "extra label stored in the result as \"server\"")
	fs.IntVar(&o.small, "small", 20, "one-row checkpoints (gen-diffs)")
	fs.IntVar(&o.big, "big", 5, "1000-op checkpoints (gen-diffs)")
	fs.IntVar(&o.remove, "remove", 20, "one-row REMOVE checkpoints (gen-diffs)")
	fs.IntVar(&o.samples, "samples", 200, "latency samples (watch)")
	fs.IntVar(&o.batch, "batch", 1, "data lines per transaction (floor_ndjson)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the timed work to this file")
	fs.StringVar(&o.memprofile, "memprofile", "", "write an allocation profile to this file at exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch cmd {
	case "gen":
		ids, err := newIDs(o.ids)
		if err != nil {
			return err
		}
		return writeStream(stdout, o.n, o.per, ids)
	case "gen-diffs":
		ids, err := newIDs(o.ids)
		if err != nil {
			return err
		}
		return writeDiffs(stdout, o.n, o.small, o.big, o.remove, ids)
	case "serve":
		return serve(ctx, o, stdout)
	case "token":
		// a token for the service that psbench serve -secret runs
		tok, err := devToken(o.secret)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, tok)
		return err
	case "table":
		return printTable(stdout, o.dir)
	case "case":
		if caseName == "" || fs.NArg() != 0 {
			return fmt.Errorf("usage: psbench case NAME [flags], NAME one of %v", caseNames())
		}
		return runCase(ctx, caseName, o, stdout)
	}
	return errors.New(usage)
}

// caseOptions are the flags of every subcommand.
type caseOptions struct {
	n, per, small, big, remove, samples, batch int
	ids, stream, diffs, dir                    string
	url, secret, token, label                  string
	cpuprofile, memprofile                     string
}

// result is one JSON line of output, in the shape bench_oracle.py prints.
type result map[string]any

func newResult(name string, n int, d time.Duration) result {
	r := result{"case": name, "n": n, "seconds": round3(d.Seconds())}
	if d > 0 && n > 0 {
		r["rows_per_s"] = int64(float64(n) / d.Seconds())
	}
	return r
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

var cases = map[string]func(ctx context.Context, o caseOptions) ([]result, error){
	"replay":              caseReplay,
	"floor_ndjson":        caseFloorNDJSON,
	"sync_e2e":            caseSyncE2E,
	"view_insert_tx":      caseViewInsertTx,
	"plain_insert_tx":     casePlainInsertTx,
	"view_insert_single":  caseViewInsertSingle,
	"plain_insert_single": casePlainInsertSingle,
	"checkpoint":          caseCheckpoint,
	"upload_drain":        caseUploadDrain,
	"watch":               caseWatch,
	"reads":               caseReads,
}

func caseNames() []string {
	var out []string
	for k := range cases {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// runCase runs one workload and prints its results, each with the peak RSS
// of this process so far and the Go heap allocated in total.
func runCase(ctx context.Context, name string, o caseOptions, w io.Writer) error {
	f, ok := cases[name]
	if !ok {
		return fmt.Errorf("unknown case %q, want one of %v", name, caseNames())
	}
	stop, err := startCPUProfile(o.cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	res, err := f(ctx, o)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if o.memprofile != "" {
		mf, err := os.Create(o.memprofile)
		if err != nil {
			return err
		}
		defer mf.Close()
		if err := pprof.Lookup("allocs").WriteTo(mf, 0); err != nil {
			return err
		}
	}
	rss := peakRSSMB()
	alloc := totalAllocMB()
	for _, r := range res {
		r["max_rss_mb"] = rss
		r["go_alloc_mb"] = alloc
		if o.ids != "" {
			r["ids"] = o.ids
		}
		if o.label != "" {
			r["server"] = o.label
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, string(b))
	}
	return nil
}

// peakRSSMB is this process's maximum resident set size (getrusage), in MB
// as the oracle's measure.py reports it (KiB / 1024).
func peakRSSMB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Maxrss / 1024
}

// totalAllocMB is the Go heap allocated since the process started, in MB.
func totalAllocMB() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.TotalAlloc >> 20)
	}
	return int64(s[0].Value.Uint64() >> 20)
}

// startCPUProfile starts a CPU profile written to path ("" for none) and
// returns the function that stops it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
