package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gopowersync/powersync/sync/pstest"
)

const serveUsage = `Usage: powersync serve [flags]

Runs pstest, the in-process PowerSync Service of this module, as a local
development server: it streams buckets with real checksums, accepts uploads
at POST /upload (applying them to its rows, which then sync back) and answers
write checkpoints. Every row goes to the bucket "global[]" unless the seed
file puts ops into other buckets. Data lives in memory until the server stops
(Ctrl-C).

On start it prints the endpoint and a development token for --user, ready to
paste into 'powersync sync'.

Seed file (JSON):
  {"priorities": {"lists[]": 0},
   "rows": [{"table": "todos", "id": "t1", "data": {"description": "buy milk"}}],
   "ops":  [{"bucket": "lists[]", "table": "lists", "id": "l1", "data": {"name": "Groceries"}}]}

Examples:
  powersync serve
  powersync serve --addr 127.0.0.1:9090 --seed seed.json --user alice
  powersync serve --secret devsecret --token-ttl 24h
`

func serveCommand() *command {
	c := &command{name: "serve", summary: "run a local PowerSync Service for development (pstest)", usage: serveUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		addr := fs.String("addr", "127.0.0.1:8080", "`host:port` to listen on")
		seed := fs.String("seed", "", "JSON seed `file` with rows and ops to start with")
		user := fs.String("user", "dev", "user `id` (sub claim) of the printed token")
		secret := fs.String("secret", "", "HS256 `secret` tokens are signed with (default: random per run)")
		ttl := fs.Duration("token-ttl", time.Hour, "lifetime of the printed token")
		pos, code, ok := a.parseFlags(c, fs, args)
		if !ok {
			return code
		}
		if len(pos) > 0 {
			fmt.Fprintf(a.stderr, "powersync serve: unexpected argument %q\nRun 'powersync serve -h' for usage.\n", pos[0])
			return exitUsage
		}
		var seedData *os.File
		if *seed != "" {
			f, err := os.Open(*seed)
			if err != nil {
				return a.fail(c, fmt.Errorf("seed: %w", err))
			}
			defer f.Close()
			seedData = f
		}
		opts := []pstest.Option{}
		if *secret != "" {
			opts = append(opts, pstest.WithSecret([]byte(*secret)))
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var readyErr error
		opts = append(opts, pstest.OnReady(func(s *pstest.Server) {
			if seedData != nil {
				if err := s.LoadSeed(seedData); err != nil {
					readyErr = fmt.Errorf("seed %s: %w", *seed, err)
					fmt.Fprintf(a.stderr, "powersync serve: %v\n", readyErr)
					cancel()
					return
				}
			}
			fmt.Fprintf(a.stdout, "PowerSync test service listening on %s\n", s.URL)
			fmt.Fprintf(a.stdout, "Uploads:  POST %s/upload\n", s.URL)
			fmt.Fprintf(a.stdout, "Token for user %q (valid %s):\n%s\n", *user, durationText(*ttl), s.TokenWithTTL(*user, *ttl))
			fmt.Fprintf(a.stdout, "Sync a file with:\n  powersync sync app.db --schema schema.json --endpoint %s --token <token> --upload-url %s/upload\n", s.URL, s.URL)
		}))
		err := pstest.ListenAndServe(ctx, *addr, opts...)
		if err != nil && !errors.Is(err, context.Canceled) {
			return a.fail(c, err)
		}
		if readyErr != nil {
			return exitError
		}
		return exitOK
	}
	return c
}
