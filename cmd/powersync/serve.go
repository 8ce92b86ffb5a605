package main

import "context"

func serveCommand() *command {
	c := &command{name: "serve", summary: "run a local PowerSync test service (pstest)", usage: "Usage: powersync serve\n"}
	c.run = func(a *app, ctx context.Context, args []string) int { return exitError }
	return c
}
