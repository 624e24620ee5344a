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
	// Sandboxes started by the tests (up serves its control API in
	// $XDG_RUNTIME_DIR/vpclab/NAME) live in a directory of this run, not
	// beside the user's own or another test run's: names would collide.
	// Processes the tests re-execute inherit it.
	runtimeDir, err := os.MkdirTemp("", "vpclab-test-run-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_RUNTIME_DIR", runtimeDir)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(runtimeDir)
		os.Exit(code)
	}))
}
