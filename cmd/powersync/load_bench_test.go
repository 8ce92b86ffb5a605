package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

// benchSecret signs the tokens of the benchmark's pstest process.
const benchSecret = "load-bench-secret"

// TestLoadHelperServe is not a test: started by BenchmarkLoadIdleClients
// with LOAD_HELPER_SERVE=1, it runs pstest in a process of its own, so
// that the server's memory is not counted as the clients'.
func TestLoadHelperServe(t *testing.T) {
	if os.Getenv("LOAD_HELPER_SERVE") != "1" {
		t.Skip("helper process of BenchmarkLoadIdleClients")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	go func() { // the benchmark closes stdin when done
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	pstest.ListenAndServe(ctx, "127.0.0.1:0", pstest.WithSecret([]byte(benchSecret)), pstest.OnReady(func(s *pstest.Server) {
		fmt.Printf("URL %s\n", s.URL)
	}))
}

// startPstestProcess runs pstest in a child process and returns its URL.
func startPstestProcess(b *testing.B) string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadHelperServe$", "-test.v")
	cmd.Env = append(os.Environ(), "LOAD_HELPER_SERVE=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			go func() { // drain the rest
				for sc.Scan() {
				}
			}()
			return u
		}
	}
	b.Fatal("pstest process printed no URL")
	return ""
}

// BenchmarkLoadIdleClients measures the memory of idle connected clients
// against pstest (in a process of its own): LOAD_BENCH_CLIENTS clients (default 500) connect and
// sync, and the resident memory they add, the Go runtime's share of it and
// their goroutines are reported per client. Run it once:
//
//	go test ./cmd/powersync -run '^$' -bench LoadIdleClients -benchtime 1x
//
// LOAD_BENCH_HEAP=FILE writes a heap profile taken at the idle point.
func BenchmarkLoadIdleClients(b *testing.B) {
	n := 500
	if v := os.Getenv("LOAD_BENCH_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		url := startPstestProcess(b)
		cfg := loadTestConfig(b, nil, n)
		cfg.endpoint, cfg.uploadURL = url, url+"/upload"
		cfg.token = func(_ context.Context, user string) (string, error) {
			now := time.Now()
			return pstest.MintToken([]byte(benchSecret), pstest.Claims{Subject: user, Audience: []string{pstest.DefaultAudience},
				IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
		}
		cfg.ramp = time.Duration(n) * 5 * time.Millisecond
		cfg.duration = time.Millisecond
		cfg.writesPerMin = 0
		if v := os.Getenv("LOAD_BENCH_CACHE_KIB"); v != "" {
			cfg.cacheKiB, _ = strconv.Atoi(v)
		}
		cfg.onIdle = func(r *loadRun) {
			if path := os.Getenv("LOAD_BENCH_HEAP"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					b.Error(err)
					return
				}
				pprof.WriteHeapProfile(f)
				f.Close()
			}
			u := sampleUsage(true)
			b.ReportMetric(float64(u.goHeap)/float64(n), "heap-B/client")
			b.ReportMetric(float64(u.goStacks)/float64(n), "stack-B/client")
			open := 0
			for _, c := range r.liveClients() {
				open += c.db.Stats().OpenConnections
			}
			b.ReportMetric(float64(open)/float64(n), "sqlite-conns/client")
		}
		rep, err := runLoad(b.Context(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		t := rep.Tool
		b.ReportMetric(float64(t.IdleRSSPerClient), "rss-B/client")
		b.ReportMetric(float64(t.IdleGoPerClient), "go-B/client")
		b.ReportMetric(t.IdleGoroutinesPerClient, "goroutines/client")
		b.ReportMetric(float64(t.IdleClients), "clients")
	}
}
