package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syncWriter is a goroutine-safe buffer that reports each written line.
type syncWriter struct {
	mu    sync.Mutex // guards buf
	buf   bytes.Buffer
	lines chan string
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		select {
		case w.lines <- sc.Text():
		default:
		}
	}
	return len(p), nil
}

func TestRunServesSeedAndStops(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.json")
	if err := os.WriteFile(seed, []byte(`{"rows":[{"table":"todos","id":"t1","data":{"title":"a"}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out := &syncWriter{lines: make(chan string, 16)}
	var stderr bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-seed", seed, "-user", "u1"}, out, &stderr) }()

	var url, token string
	for url == "" || token == "" {
		line := <-out.lines
		if u, ok := strings.CutPrefix(line, "PowerSync test service listening on "); ok {
			url = u
		}
		if strings.Count(line, ".") == 2 && !strings.Contains(line, " ") {
			token = line
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/sync/stream", strings.NewReader(`{"client_id":"c"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	var got []string
	for len(got) < 3 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v (%q)", err, got)
		}
		got = append(got, line)
	}
	if !strings.Contains(got[1], `"object_id":"t1"`) || !strings.HasPrefix(got[2], `{"checkpoint_complete"`) {
		t.Errorf("stream lines %q", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit code %d, stderr %s", code, stderr.String())
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func TestRunBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-seed", filepath.Join(t.TempDir(), "missing.json")}} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code == 0 {
			t.Errorf("run(%q) = 0", args)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"rows": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-seed", bad}, &out, &errb); code != 1 {
		t.Errorf("bad seed: exit %d, stderr %s", code, errb.String())
	}
}
