package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpclab/vpclab/netstack"
)

func init() {
	Register(Benchmark{
		Name: "scale",
		Doc:  "idle instances in one process, 1k → 100k: boot time, bytes and goroutines per instance",
		Run:  runScale,
	})
}

// scaleSizes are the instance counts of the scale sweep.
func scaleSizes(quick bool) []int {
	if quick {
		return []int{1000}
	}
	return []int{1000, 10_000, 100_000}
}

// scalePoint is one size of the sweep.
type scalePoint struct {
	n                 int
	bootUs            float64 // per instance, AddInstances included
	bootCPUUs         float64 // process CPU time (every thread, GC included) per instance
	bootKCycles       float64 // bootCPUUs at the clock measured then, in thousands of cycles
	heapKiB, stackKiB float64 // per instance
	rssKiB            float64 // per instance
	goroutines        float64 // per instance
	peakRSS           int64   // bytes, the process's high-water mark
}

// runScale adds n idle instances to one VPC through VPC.AddInstances in
// batches of 10,000 (what topology.Build does), with a firewall NIC in the
// default group each, and measures what they cost.
func runScale(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{Benchmark: "scale"}
	var pts []scalePoint
	for _, n := range scaleSizes(opts.Quick) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		opts.progress("scale: %d instances", n)
		p, err := measureScale(ctx, n)
		if err != nil {
			return nil, err
		}
		pts = append(pts, p)
		label := fmt.Sprintf("%d idle instances", n)
		note := fmt.Sprintf("GOMAXPROCS=%d, peak RSS %.2f GiB, load %s", runtime.GOMAXPROCS(0), float64(p.peakRSS)/(1<<30), loadAverage())
		// The targets are stated on the largest size, where the
		// report's summary shows them.
		var bootTarget, heapTarget, goTarget string
		if n == 100_000 {
			bootTarget = fmt.Sprintf("; target ≤ 150 µs/instance, and 100,000 in ≤ 20 s (%.1f s) within 6 GiB RSS",
				p.bootUs*float64(n)/1e6)
			heapTarget, goTarget = "target ≤ 48 KiB/instance", "target ≤ 2 goroutines/instance"
		}
		res.Rows = append(res.Rows,
			Row{Measure: label + ": boot", Unit: "µs/instance", Ours: p.bootUs, Better: "lower", Note: note + bootTarget},
			Row{Measure: label + ": boot CPU", Unit: "µs/instance", Ours: p.bootCPUUs, Better: "lower", Note: "process CPU time, every thread"},
			Row{Measure: label + ": boot CPU", Unit: "kcycles/instance", Ours: p.bootKCycles, Better: "lower"},
			Row{Measure: label + ": heap+stacks", Unit: "KiB/instance", Ours: p.heapKiB + p.stackKiB, Better: "lower", Note: heapTarget},
			Row{Measure: label + ": RSS", Unit: "KiB/instance", Ours: p.rssKiB, Better: "lower"},
			Row{Measure: label + ": goroutines", Unit: "goroutines/instance", Ours: p.goroutines, Better: "lower", Note: goTarget},
		)
	}
	series := func(chart, title, ylabel, name string, y func(scalePoint) float64) Series {
		s := Series{Chart: chart, Title: title, XLabel: "instances", YLabel: ylabel, Name: name, LogX: true}
		for _, p := range pts {
			s.X = append(s.X, float64(p.n))
			s.Y = append(s.Y, y(p))
		}
		return s
	}
	res.Series = []Series{
		series("scale-boot", "Boot time per idle instance", "µs/instance", "boot", func(p scalePoint) float64 { return p.bootUs }),
		series("scale-boot", "Boot time per idle instance", "µs/instance", "boot CPU", func(p scalePoint) float64 { return p.bootCPUUs }),
		series("scale-bytes", "Memory per idle instance", "KiB/instance", "heap+stacks", func(p scalePoint) float64 { return p.heapKiB + p.stackKiB }),
		series("scale-bytes", "Memory per idle instance", "KiB/instance", "rss", func(p scalePoint) float64 { return p.rssKiB }),
		series("scale-goroutines", "Goroutines per idle instance", "goroutines/instance", "goroutines", func(p scalePoint) float64 { return p.goroutines }),
	}
	return res, nil
}

func measureScale(ctx context.Context, n int) (scalePoint, error) {
	p := scalePoint{n: n}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	g0, rss0 := runtime.NumGoroutine(), procStatusBytes("VmRSS")
	ghz := clockGHz()
	start, cpu0 := time.Now(), processCPU()
	v, err := netstack.NewVPC(netstack.VPCConfig{Name: "scale", CIDR: netip.MustParsePrefix("10.0.0.0/8")})
	if err != nil {
		return p, err
	}
	defer v.Close()
	// A vswitch is at most a /16 (65,532 assignable addresses): one per
	// 60,000 instances.
	const perVSwitch = 60_000
	var specs []netstack.InstanceSpec
	for i := range n {
		if i%perVSwitch == 0 {
			name := fmt.Sprintf("vsw-%d", i/perVSwitch)
			if err := v.AddVSwitch(name, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(1 + i/perVSwitch), 0, 0}), 16)); err != nil {
				return p, err
			}
		}
		specs = append(specs, netstack.InstanceSpec{Name: fmt.Sprintf("vm-%d", i), VSwitch: fmt.Sprintf("vsw-%d", i/perVSwitch)})
		if len(specs) == 10_000 || i == n-1 {
			if err := ctx.Err(); err != nil {
				return p, err
			}
			if _, err := v.AddInstances(specs); err != nil {
				return p, err
			}
			specs = specs[:0]
		}
	}
	p.bootUs = float64(time.Since(start).Microseconds()) / float64(n)
	cpu := processCPU() - cpu0
	p.bootCPUUs = float64(cpu.Microseconds()) / float64(n)
	p.bootKCycles = float64(cpu.Nanoseconds()) * ghz / 1000 / float64(n)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	p.heapKiB = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(n) / 1024
	p.stackKiB = float64(int64(m1.StackInuse)-int64(m0.StackInuse)) / float64(n) / 1024
	p.rssKiB = float64(procStatusBytes("VmRSS")-rss0) / float64(n) / 1024
	p.goroutines = float64(runtime.NumGoroutine()-g0) / float64(n)
	p.peakRSS = procStatusBytes("VmHWM")
	return p, nil
}

// processCPU returns the CPU time the process has used, every thread; 0
// where getrusage fails.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the machine's 1-minute load average as
// /proc/loadavg has it, "?" where there is none: boot times on a shared
// machine read against it.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// procStatusBytes returns a size field of /proc/self/status ("VmRSS",
// "VmHWM") in bytes, 0 where there is none.
func procStatusBytes(field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "123456 kB"
		if len(f) < 1 {
			return 0
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		return kb << 10
	}
	return 0
}
