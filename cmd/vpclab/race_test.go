//go:build race

package main

// raceEnabled: the test binary runs under the race detector (5–10 times
// slower), so tests that start several of it as processes keep them few.
const raceEnabled = true
