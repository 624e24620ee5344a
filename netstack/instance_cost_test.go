package netstack

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// idleCostChild, when set in the environment, makes TestIdleInstanceCost
// measure in this process (run by its parent with GOMAXPROCS set) and print
// the figures as JSON.
const idleCostChild = "VPCLAB_IDLE_COST_CHILD"

type idleCost struct {
	GOMAXPROCS    int
	Instances     int
	Goroutines    int     // exact delta with every instance up
	KiBPerInst    float64 // heap + goroutine stacks
	BootUsPerInst float64 // reported, not asserted
}

// TestIdleInstanceCost checks that an idle instance's cost does not grow
// with the machine: at GOMAXPROCS 2, 16 and 64 it runs itself again with
// GOMAXPROCS set and checks each instance adds exactly one goroutine (its
// TCP processor) and at most 48 KiB of heap and stacks. Boot time is
// logged, not asserted.
func TestIdleInstanceCost(t *testing.T) {
	const n = 200
	if os.Getenv(idleCostChild) != "" {
		c := measureIdle(t, n)
		out, _ := json.Marshal(c)
		fmt.Printf("IDLECOST %s\n", out)
		return
	}
	if testing.Short() {
		t.Skip("re-executes the test binary three times")
	}
	for _, procs := range []int{2, 16, 64} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestIdleInstanceCost$", "-test.count=1")
			cmd.Env = append(os.Environ(), idleCostChild+"=1", fmt.Sprintf("GOMAXPROCS=%d", procs))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			var c idleCost
			found := false
			for _, line := range strings.Split(string(out), "\n") {
				if rest, ok := strings.CutPrefix(line, "IDLECOST "); ok {
					if err := json.Unmarshal([]byte(rest), &c); err != nil {
						t.Fatalf("child output %q: %v", rest, err)
					}
					found = true
				}
			}
			if !found {
				t.Fatalf("child printed no figures:\n%s", out)
			}
			if c.GOMAXPROCS != procs {
				t.Fatalf("child ran with GOMAXPROCS=%d, want %d", c.GOMAXPROCS, procs)
			}
			t.Logf("GOMAXPROCS=%d: %d goroutines for %d instances, %.1f KiB and %.0f µs boot per instance",
				procs, c.Goroutines, c.Instances, c.KiBPerInst, c.BootUsPerInst)
			if c.Goroutines != n {
				t.Errorf("%d instances added %d goroutines, want %d (one TCP processor each)", n, c.Goroutines, n)
			}
			// The race detector's shadow state makes everything bigger.
			if limit := 48.0; !raceEnabled && c.KiBPerInst > limit {
				t.Errorf("an idle instance costs %.1f KiB of heap and stacks, want ≤ %.0f", c.KiBPerInst, limit)
			}
		})
	}
}

func measureIdle(t *testing.T, n int) idleCost {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	insts := make([]*Instance, n)
	for i := range insts {
		inst, err := NewInstance(Config{Name: "idle", Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})})
		if err != nil {
			t.Fatal(err)
		}
		insts[i] = inst
	}
	boot := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	c := idleCost{
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		Instances:     n,
		Goroutines:    runtime.NumGoroutine() - g0,
		KiBPerInst:    float64(int64(m1.HeapAlloc+m1.StackInuse)-int64(m0.HeapAlloc+m0.StackInuse)) / float64(n) / 1024,
		BootUsPerInst: float64(boot.Microseconds()) / float64(n),
	}
	for _, inst := range insts {
		inst.Close()
	}
	return c
}
