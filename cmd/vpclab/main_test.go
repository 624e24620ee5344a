package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// runMainEnv, set in the environment, makes the test binary run vpclab's
// main with its arguments instead of the tests: tests that need a real
// process (signals, exit status, ports freed at exit) re-execute it.
const runMainEnv = "VPCLAB_TEST_RUN_MAIN"

// TestMain runs vpclab itself when re-executed (see runMainEnv); else the
// tests, failing the run when one leaves a goroutine behind.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
