package main

import "context"

func syncCommand() *command {
	c := &command{name: "sync", summary: "connect to a PowerSync Service and sync FILE", usage: "Usage: powersync sync FILE --endpoint URL --token T\n"}
	c.run = func(a *app, ctx context.Context, args []string) int { return exitError }
	return c
}
