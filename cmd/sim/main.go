// Command sim reproduces, measures and plans around the self-call deadlock: a web app with a
// bounded worker pool that fetches its own static files over HTTP starves itself under load.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
