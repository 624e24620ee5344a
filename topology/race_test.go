//go:build race

package topology

// raceEnabled reports a -race build: the race detector doubles goroutine
// stacks, so memory measurements skip.
const raceEnabled = true
