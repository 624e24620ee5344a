package report

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Machine is what a benchmark's figures are read against.
type Machine struct {
	CPU        string  `json:"cpu"`   // /proc/cpuinfo's model name
	Cores      int     `json:"cores"` // logical CPUs the process may use
	GOMAXPROCS int     `json:"gomaxprocs"`
	GHz        float64 `json:"ghz"` // the core clock as measured at start, in cycles per ns
	Go         string  `json:"go"`
	OS         string  `json:"os"` // GOOS/GOARCH
	Kernel     string  `json:"kernel"`
}

// DetectMachine describes the machine the process runs on now.
func DetectMachine() Machine {
	return Machine{
		CPU:        cpuModel("/proc/cpuinfo"),
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GHz:        CoreGHz(),
		Go:         runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		Kernel:     kernel(),
	}
}

// cpuModel returns the first model name in a /proc/cpuinfo file ("model
// name" on x86, "Model" or "Hardware" on arm), or "unknown".
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	var fallback string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			return v
		case "Model", "Hardware":
			if fallback == "" {
				fallback = v
			}
		}
	}
	if fallback == "" {
		return "unknown"
	}
	return fallback
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
}

var clockSink uint64

// CoreGHz estimates the core's clock as it runs now, in cycles per ns: a
// chain of dependent 64-bit multiplies (3 cycles each on every x86 core
// since 2011 and on current arm64 cores), the fastest of 16 runs — the
// firewall benchmarks' approach. A shared VM's clock moves, so it is an
// estimate taken once, at start.
func CoreGHz() float64 {
	const n = 1 << 14
	best := time.Duration(1 << 62)
	x := uint64(1)
	for range 16 {
		start := time.Now()
		for range n {
			x *= 0x9e3779b97f4a7c15
		}
		best = min(best, time.Since(start))
	}
	clockSink = x
	if best <= 0 {
		return 0
	}
	return 3 * n / float64(best.Nanoseconds())
}
