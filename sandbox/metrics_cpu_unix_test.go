//go:build unix

package sandbox

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system: the
// scrapes' cost shows there even when a spare core hides it from the
// throughput.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
