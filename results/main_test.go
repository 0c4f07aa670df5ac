package results

import (
	"testing"

	"go.uber.org/goleak"
)

// The Writer runs a flush goroutine and the classify tests start servers: none may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
