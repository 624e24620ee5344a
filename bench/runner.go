package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/vpclab/vpclab/topology"
)

func init() {
	Register(Benchmark{
		Name: "runner",
		Doc:  "vpclab test on a generated topology, expectations 1k → 100k (half blocked): load, build and run time, RSS",
		Run:  runRunner,
	})
}

// runnerSizes are the (instances, expectations) of the runner sweep.
func runnerSizes(quick bool) [][2]int {
	if quick {
		return [][2]int{{200, 1000}}
	}
	return [][2]int{{10_000, 1000}, {10_000, 10_000}, {10_000, 100_000}}
}

// RunnerTopology returns a topology of n instances and e expectations, as
// `vpclab test` would read it: even instances are web servers (sg-web lets
// the VPC in on 80 and they answer HTTP), odd ones databases in sg-db, which
// lets nothing in; every even expectation is an allowed HTTP request
// between web servers, every odd one a blocked connection to a database's
// 5432. 10,000 instances with 100,000 expectations are about 6.5 MiB.
func RunnerTopology(n, e int) []byte {
	if n < 4 {
		n = 4
	}
	n &^= 1 // as many web servers as databases
	var b strings.Builder
	b.WriteString("version: 1\nvpc: {name: big, cidr: 10.0.0.0/8}\nvswitches:\n")
	const perVSwitch = 60_000
	for i := 0; i <= (n-1)/perVSwitch; i++ {
		fmt.Fprintf(&b, "  - {name: vsw-%d, cidr: 10.%d.0.0/16}\n", i, i+1)
	}
	b.WriteString("security_groups:\n  - name: sg-web\n    rules:\n      - {direction: ingress, protocol: tcp, port_range: 80/80, source: 10.0.0.0/8}\n  - name: sg-db\n    rules: []\n")
	b.WriteString("instances:\n")
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {name: web-%d, vswitch: vsw-%d, security_groups: [sg-web], services: [{kind: http, port: 80}]}\n", i, i/perVSwitch)
		} else {
			fmt.Fprintf(&b, "  - {name: db-%d, vswitch: vsw-%d, security_groups: [sg-db]}\n", i, i/perVSwitch)
		}
	}
	b.WriteString("expect:\n")
	for i := range e {
		from := (i * 7) % n &^ 1
		to := (i*13 + 2) % n
		if i%2 == 0 {
			fmt.Fprintf(&b, "  - {from: web-%d, to: web-%d, port: 80, result: allow}\n", from, to&^1)
		} else {
			fmt.Fprintf(&b, "  - {from: web-%d, to: db-%d, port: 5432, result: block}\n", from, to|1)
		}
	}
	return []byte(b.String())
}

// runnerTimeout is the runner's probe timeout (RunOptions.Timeout).
const runnerTimeout = 10 * time.Second

// runnerPoint is one size of the sweep.
type runnerPoint struct {
	instances, expects int
	bytes              int
	load, build, run   time.Duration
	// CPU time of the process (all threads) in each phase: on a shared
	// machine the wall times measure the load more than the code.
	loadCPU, buildCPU, runCPU time.Duration
	failed                    int
	timedOut                  int
	peakRSS                   int64
}

// runnerTarget is the target, on the size it names.
func runnerTarget(p runnerPoint) string {
	if p.instances == 10_000 && p.expects == 100_000 {
		return "; target ≤ 20 s and ≤ 6 GiB RSS"
	}
	return ""
}

func runRunner(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{Benchmark: "runner"}
	var pts []runnerPoint
	for _, sz := range runnerSizes(opts.Quick) {
		opts.progress("runner: %d instances, %d expectations", sz[0], sz[1])
		p, err := measureRunner(ctx, sz[0], sz[1])
		if err != nil {
			return nil, err
		}
		if p.failed > 0 {
			return nil, fmt.Errorf("runner: %d of %d expectations failed", p.failed, p.expects)
		}
		pts = append(pts, p)
		label := fmt.Sprintf("%d instances, %d expectations", p.instances, p.expects)
		total := p.load + p.build + p.run
		res.Rows = append(res.Rows,
			Row{Measure: label + ": load+build+run", Unit: "s", Ours: total.Seconds(), Better: "lower",
				Note: fmt.Sprintf("%.1f MiB file; load %.1f s, build %.1f s, run %.1f s; CPU load %.1f s, build %.1f s, run %.1f s; %d blocked by timeout; peak RSS %.2f GiB",
					float64(p.bytes)/(1<<20), p.load.Seconds(), p.build.Seconds(), p.run.Seconds(), p.loadCPU.Seconds(), p.buildCPU.Seconds(), p.runCPU.Seconds(), p.timedOut, float64(p.peakRSS)/(1<<30)) +
					runnerTarget(p)},
			Row{Measure: label + ": run", Unit: "µs/expectation", Ours: float64(p.run.Microseconds()) / float64(p.expects), Better: "lower"},
			Row{Measure: label + ": run CPU", Unit: "cpu-µs/expectation", Ours: float64(p.runCPU.Microseconds()) / float64(p.expects), Better: "lower"},
		)
	}
	series := func(chart, title, ylabel, name string, y func(runnerPoint) float64) Series {
		s := Series{Chart: chart, Title: title, XLabel: "expectations", YLabel: ylabel, Name: name, LogX: true}
		for _, p := range pts {
			s.X = append(s.X, float64(p.expects))
			s.Y = append(s.Y, y(p))
		}
		return s
	}
	res.Series = []Series{
		series("runner-seconds", "vpclab test time by phase", "s", "load", func(p runnerPoint) float64 { return p.load.Seconds() }),
		series("runner-seconds", "vpclab test time by phase", "s", "build", func(p runnerPoint) float64 { return p.build.Seconds() }),
		series("runner-seconds", "vpclab test time by phase", "s", "run", func(p runnerPoint) float64 { return p.run.Seconds() }),
		series("runner-per-expectation", "Run time per expectation", "µs/expectation", "run", func(p runnerPoint) float64 { return float64(p.run.Microseconds()) / float64(p.expects) }),
	}
	return res, nil
}

func measureRunner(ctx context.Context, n, e int) (runnerPoint, error) {
	data := RunnerTopology(n, e)
	p := runnerPoint{expects: e, bytes: len(data)}
	start, cpu := time.Now(), processCPU()
	t, err := topology.Load("runner.yaml", data)
	if err != nil {
		return p, err
	}
	p.instances = len(t.Instances)
	p.load, p.loadCPU = time.Since(start), processCPU()-cpu
	start, cpu = time.Now(), processCPU()
	lab, err := topology.Build(t)
	if err != nil {
		return p, err
	}
	defer lab.Close()
	p.build, p.buildCPU = time.Since(start), processCPU()-cpu
	start, cpu = time.Now(), processCPU()
	// A blocked probe ends on its drop event, not the timeout: the
	// timeout only bounds allowed probes, which on a machine shared by
	// many jobs can take seconds to be scheduled. 10 s keeps a loaded
	// machine from failing them without slowing anything down.
	results := lab.Run(ctx, topology.RunOptions{Timeout: runnerTimeout})
	p.run, p.runCPU = time.Since(start), processCPU()-cpu
	for _, r := range results {
		if !r.Pass {
			p.failed++
		}
		if r.TimedOut {
			p.timedOut++
		}
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	p.peakRSS = procStatusBytes("VmHWM")
	runtime.KeepAlive(results)
	return p, nil
}
