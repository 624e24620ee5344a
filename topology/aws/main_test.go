package aws

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a test leaves a goroutine behind (the round
// trip's firewalls must be closed).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
