package cycles

import (
	"testing"
	"time"
)

// TestGHz checks the clock against a second, independent measure: a
// longer chain of the same multiplies timed as a whole, whose fastest run
// gives a lower bound of the clock (a run only loses time to preemption).
// GHz must be a plausible core clock and not below that bound by more than
// the timer's resolution allows.
func TestGHz(t *testing.T) {
	ghz := GHz()
	if ghz < 0.2 || ghz > 10 {
		t.Fatalf("GHz() = %.2f: not a core clock", ghz)
	}
	const n = 1 << 20
	best := time.Duration(1 << 62)
	x := uint64(3)
	for range 5 {
		start := time.Now()
		for range n {
			x *= 0x9e3779b97f4a7c15
		}
		best = min(best, time.Since(start))
	}
	sink += x
	floor := 3 * n / float64(best.Nanoseconds())
	if ghz < floor*0.8 {
		t.Errorf("GHz() = %.2f, but a chain of %d multiplies ran at %.2f GHz", ghz, n, floor)
	}
}
