package watch

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The test binary doubles as the apps the self-call tests watch (selfcall_child_test.go):
	// a watcher must see the app's sockets held by another process than its own, as beside a
	// real app.
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	goleak.VerifyTestMain(m)
}
