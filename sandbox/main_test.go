package sandbox

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind: every
// server, client and lab must end what it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
