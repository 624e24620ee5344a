package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestMain makes the test binary a shard worker when the shard benchmark
// started it (ShardWorkerEnv): the benchmark re-executes its own binary.
func TestMain(m *testing.M) {
	if os.Getenv(ShardWorkerEnv) == "1" {
		if err := ShardWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
