package report

import (
	"bufio"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vpclab/vpclab/bench/cycles"
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
		GHz:        cycles.GHz(),
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
