package main

import "time"

// checkTimeout refuses a --timeout that is zero or negative: a probe needs
// some time to run, and a negative one would fail every probe at once.
func checkTimeout(d time.Duration) error {
	if d <= 0 {
		return usageError("--timeout %v: must be positive (e.g. 2s)", d)
	}
	return nil
}

// checkParallel refuses a --parallel that is zero or negative.
func checkParallel(n int) error {
	if n <= 0 {
		return usageError("--parallel %d: must be positive", n)
	}
	return nil
}
