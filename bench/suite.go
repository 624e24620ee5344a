// Package bench is the benchmark suite behind `vpclab bench`: each
// benchmark measures one of vpclab's costs and, in the same run, the
// baselines a user would pick instead (the linear scan, gVisor's own
// iptables, two stacks wired directly, a Go map, Linux namespaces with
// iptables), and reports the ratios. Its _test.go files also hold benchmarks
// of the machine itself: the floors the figures are read against.
package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Options are what every benchmark takes.
type Options struct {
	// Quick runs the smallest sizes only, for a CI smoke run (the whole
	// suite ≤ 60 s).
	Quick bool
	// Progress, when set, is told what runs now ("classify: acl1 500 rules").
	Progress func(string)
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// Result is one benchmark's table, its chart series and what it skipped.
type Result struct {
	Benchmark string
	Rows      []Row
	Series    []Series
	// Skipped names each baseline or size left out, with why ("linux
	// namespaces: not root").
	Skipped []string
}

// Row is one measure: ours and each baseline measured in the same run.
type Row struct {
	Measure   string // "classify acl1, 500 rules"
	Unit      string // "ns/header", "cycles/header", "Gbit/s", "conns/s", "KiB/instance"
	Ours      float64
	Baselines []Baseline
	// Better says which way is better: "lower" (a cost) or "higher" (a
	// rate); it decides how Ratio reads.
	Better string
	Note   string
}

// Baseline is a baseline's figure for a row. Ratio is how many times
// better ours is (baseline/ours for a cost, ours/baseline for a rate).
type Baseline struct {
	Name  string
	Value float64
	Ratio float64
}

// Series is one line of a chart: Chart groups the lines drawn together
// ("classify-ns-per-header").
type Series struct {
	Chart, Title, XLabel, YLabel string
	Name                         string // the line: "compiled", "linear", "gvisor-iptables"
	X, Y                         []float64
	LogX                         bool
}

// Benchmark is one entry of the suite.
type Benchmark struct {
	Name string // classify, conntrack, fabric, connrate, scale, runner, shard, kernel-check
	Doc  string // one line
	Run  func(ctx context.Context, opts Options) (*Result, error)
}

var (
	mu         sync.Mutex
	benchmarks []Benchmark
)

// Register adds a benchmark to the suite (at init). A name registered twice
// panics.
func Register(b Benchmark) {
	mu.Lock()
	defer mu.Unlock()
	for _, x := range benchmarks {
		if x.Name == b.Name {
			panic("bench: " + b.Name + " registered twice")
		}
	}
	benchmarks = append(benchmarks, b)
}

// All returns the registered benchmarks in a fixed order: the order of
// order, then by name.
func All() []Benchmark {
	mu.Lock()
	defer mu.Unlock()
	out := slices.Clone(benchmarks)
	rank := func(n string) int {
		if i := slices.Index(order, n); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(out, func(a, b Benchmark) int {
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra - rb
		}
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// order runs the benchmarks that take gigabytes, runner (1.1-1.7 GiB) and
// scale (1.7 GiB), where no benchmark before them has just returned
// gigabytes to the system: on this project's VM the runner after scale
// took 15-25 s (eight runs) against 11.5-17 s alone (ten), with twice the
// CPU time for the same work, though scale leaves nothing running. So the
// runner follows connrate, and scale comes last.
var order = []string{"classify", "conntrack", "fabric", "connrate", "runner", "shard", "kernel-check", "scale"}

// Ratio returns how many times better ours is than base: base/ours for a
// cost (better "lower"), ours/base for a rate.
func Ratio(ours, base float64, better string) float64 {
	if ours == 0 || base == 0 {
		return 0
	}
	if better == "higher" {
		return ours / base
	}
	return base / ours
}
