// Package testtier splits sim's tests into two tiers. Plain `go test ./...` runs the default
// tier: unit tests, the model, and short real-socket checks of the deadlock and its absence,
// within a few minutes on 2 cores. The long tier — real-socket runs of whole profiles, long
// hangs at the fd limit, browser and benchmark-rig tests — runs only when the environment
// variable SIM_LONG is 1 (`SIM_LONG=1 go test ./...`, as .ci/run does).
package testtier

import (
	"os"
	"testing"
)

// Env is the environment variable that turns the long tier on.
const Env = "SIM_LONG"

// Enabled reports whether the long tier was asked for: SIM_LONG=1 and not -short.
func Enabled() bool {
	return os.Getenv(Env) == "1" && !testing.Short()
}

// Long marks t as a long-tier test: it is skipped, saying how to run it, unless the long tier
// was asked for.
func Long(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("long tier: runs with %s=1 (go test -short skips it too)", Env)
	}
}
