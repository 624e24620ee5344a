package firewall

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: a
// table's own clock runs one until Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
