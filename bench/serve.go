package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

// serve runs package pstest on a loopback port with the rows of the stream
// file in its default bucket, prints "listening PORT" (the line the oracle's
// fake_service.py prints) and serves until ctx ends. With -cpuprofile, the
// profile covers the serving, not the loading.
func serve(ctx context.Context, o caseOptions, stdout io.Writer) error {
	if o.stream == "" || o.secret == "" {
		return errors.New("serve: -stream and -secret are required")
	}
	srv := pstest.NewServer(pstest.WithSecret([]byte(o.secret)))
	defer srv.Close()
	f, err := os.Open(o.stream)
	if err != nil {
		return err
	}
	defer f.Close()
	err = srv.Update(func(tx *pstest.Tx) error {
		return eachRow(f, func(r streamRow) { tx.Put(pstest.DefaultBucket, r.Type, r.ID, r.Data) })
	})
	if err != nil {
		return fmt.Errorf("serve: load %s: %w", o.stream, err)
	}
	var port int
	if _, err := fmt.Sscanf(srv.URL, "http://127.0.0.1:%d", &port); err != nil {
		return fmt.Errorf("serve: unexpected URL %s", srv.URL)
	}
	// A profile of the serving only, written when the server stops.
	stop, err := startCPUProfile(o.cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "listening %d\n", port)
	<-ctx.Done()
	return nil
}

// devToken is a token for pstest signed with secret, or a fixed token for
// services that accept any (the oracle's fake_service.py) when secret is empty.
func devToken(secret string) (string, error) {
	if secret == "" {
		return "dev-token", nil
	}
	now := time.Now()
	return pstest.MintToken([]byte(secret), pstest.Claims{
		Subject: "bench", Audience: []string{pstest.DefaultAudience},
		IssuedAt: now, ExpiresAt: now.Add(time.Hour),
	})
}
