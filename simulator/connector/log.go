package connector

import (
	"io"
	"log"
)

// quietLog drops net/http's per-connection error lines: at the fd limit it would print one per
// failed accept, and the acceptor already counts them.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
