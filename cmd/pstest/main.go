// Command pstest runs the in-process PowerSync test service (package
// sync/pstest) as a standalone server, for trying a client against it by hand
// or from another language.
//
// Usage:
//
//	pstest [-addr 127.0.0.1:8080] [-secret S] [-kid K] [-aud A] [-seed seed.json] [-user dev] [-token-ttl 1h]
//
// It prints the URL and a development token for -user, then serves until
// interrupted. The seed file is a JSON pstest.Seed:
//
//	{"priorities": {"lists[]": 0},
//	 "rows": [{"table": "todos", "id": "t1", "data": {"title": "a"}}],
//	 "ops": [{"bucket": "lists[]", "table": "lists", "id": "l1", "data": {"name": "x"}}]}
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and serves until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pstest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "`host:port` to listen on")
	secret := fs.String("secret", "", "HS256 `secret` tokens are signed with (default: random per run)")
	kid := fs.String("kid", "", "key `id` tokens must carry as kid, like a JWKS key with a kid (default: none, any kid)")
	aud := fs.String("aud", pstest.DefaultAudience, "`audience` tokens must have")
	seed := fs.String("seed", "", "JSON seed `file` with rows and ops to start with")
	user := fs.String("user", "dev", "user `id` (sub claim) of the printed token")
	ttl := fs.Duration("token-ttl", time.Hour, "lifetime of the printed token (at most 24h)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pstest: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var seedFile *os.File
	if *seed != "" {
		f, err := os.Open(*seed)
		if err != nil {
			fmt.Fprintf(stderr, "pstest: %v\n", err)
			return 1
		}
		defer f.Close()
		seedFile = f
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var opts []pstest.Option
	if *secret != "" {
		opts = append(opts, pstest.WithSecret([]byte(*secret)))
	}
	if *kid != "" {
		opts = append(opts, pstest.WithKeyID(*kid))
	}
	opts = append(opts, pstest.WithAudience(*aud))
	failed := false
	opts = append(opts, pstest.OnReady(func(s *pstest.Server) {
		if seedFile != nil {
			if err := s.LoadSeed(seedFile); err != nil {
				fmt.Fprintf(stderr, "pstest: seed %s: %v\n", *seed, err)
				failed = true
				cancel()
				return
			}
		}
		fmt.Fprintf(stdout, "PowerSync test service listening on %s\n", s.URL)
		fmt.Fprintf(stdout, "Uploads: POST %s/upload {\"batch\": [crud entries]}\n", s.URL)
		fmt.Fprintf(stdout, "Token for user %q:\n%s\n", *user, s.TokenWithTTL(*user, *ttl))
	}))
	if err := pstest.ListenAndServe(ctx, *addr, opts...); err != nil {
		fmt.Fprintf(stderr, "pstest: %v\n", err)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}
