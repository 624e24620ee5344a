package bench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/vpclab/vpclab/internal/netns"
	"github.com/vpclab/vpclab/topology"
)

func init() {
	Register(Benchmark{
		Name: "kernel-check",
		Doc:  "every example and generated scenarios built as Linux namespaces with iptables (EIP, SNAT and DNAT as iptables nat in a gateway namespace): the kernel's answer to each expectation against vpclab's, and the namespace baseline (boot, memory, connections/s, throughput)",
		Run:  runKernelCheck,
	})
}

// examplesDir finds examples/ from the repository root or a package
// directory.
func examplesDir() string {
	for _, d := range []string{"examples", "../examples", "../../examples"} {
		if m, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(m) > 0 {
			return d
		}
	}
	return ""
}

func runKernelCheck(ctx context.Context, opts Options) (*Result, error) {
	res := &Result{Benchmark: "kernel-check"}
	if err := netns.Available(); err != nil {
		res.Skipped = append(res.Skipped, err.Error())
		return res, nil
	}
	type input struct {
		name string
		t    *topology.Topology
	}
	var inputs []input
	if dir := examplesDir(); dir == "" {
		res.Skipped = append(res.Skipped, "examples: no examples/ directory here (run from the repository)")
	} else {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, f := range files {
			t, err := topology.LoadFile(f)
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, input{"examples/" + filepath.Base(f), t})
		}
	}
	// A blocked probe is the timeout: between namespaces of one machine an
	// answer takes well under a millisecond, so quick runs wait 400 ms.
	seeds, size, timeout := 1, 8, 400*time.Millisecond
	if !opts.Quick {
		seeds, size, timeout = 3, 24, time.Second
	}
	for seed := range seeds {
		name := fmt.Sprintf("generated-%d.yaml", seed)
		t, err := topology.Load(name, netns.Scenario(uint64(seed), size, 5*size))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		inputs = append(inputs, input{name + fmt.Sprintf(" (%d instances)", size), t})
	}
	var disagreements []string
	for _, in := range inputs {
		if netns.Probeable(in.t) == 0 {
			res.Skipped = append(res.Skipped, in.name+": every expectation involves a VPN peer, which the namespaces do not translate")
			continue
		}
		opts.progress("kernel-check: %s", in.name)
		cases, skipped, times, err := netns.CheckTimed(ctx, in.t, timeout)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.name, err)
		}
		for _, s := range skipped {
			res.Skipped = append(res.Skipped, in.name+": "+s)
		}
		probed, agree := 0, 0
		for _, c := range cases {
			if c.Skip != "" {
				res.Skipped = append(res.Skipped, fmt.Sprintf("%s: %s: %s", in.name, c.Label, c.Skip))
				continue
			}
			probed++
			if c.Agree {
				agree++
			} else {
				disagreements = append(disagreements, fmt.Sprintf("%s: %s: vpclab %s, kernel %s (%s)", in.name, c.Label, c.Ours, c.Kernel, c.KernelDetail))
			}
		}
		note := fmt.Sprintf("%d/%d expectations agree; a kernel block is a %v timeout", agree, probed, timeout)
		if agree != probed {
			note += " — DISAGREE"
		}
		res.Rows = append(res.Rows, Row{
			Measure: in.name + ": build and answer every expectation", Unit: "ms", Better: "lower",
			Ours:      ms(times.Ours),
			Baselines: []Baseline{{Name: "linux-namespaces", Value: ms(times.Kernel), Ratio: Ratio(ms(times.Ours), ms(times.Kernel), "lower")}},
			Note:      note,
		})
	}
	if err := netnsRows(ctx, opts, res); err != nil {
		return nil, err
	}
	if len(disagreements) > 0 {
		return res, errors.New("vpclab and the kernel disagree:\n" + strings.Join(disagreements, "\n"))
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// netnsRows is the namespace baseline section: its figures sit in the
// baseline column; vpclab's own are in the scale, fabric and connrate
// tables, which can call netns.Boot, ConnRate and Bulk themselves.
func netnsRows(ctx context.Context, opts Options, res *Result) error {
	n, d := 20, 300*time.Millisecond
	if !opts.Quick {
		n, d = 100, 2*time.Second
	}
	opts.progress("kernel-check: netns boot %d", n)
	per, bytes, err := netns.Boot(ctx, n)
	if err != nil {
		return fmt.Errorf("netns boot: %w", err)
	}
	tables, err := fabricPolicyTables()
	if err != nil {
		return err
	}
	opts.progress("kernel-check: netns connections/s")
	rate, err := netns.ConnRate(ctx, tables, d, 2)
	if err != nil {
		return fmt.Errorf("netns connrate: %w", err)
	}
	opts.progress("kernel-check: netns bulk")
	bps, err := netns.Bulk(ctx, tables, d)
	if err != nil {
		return fmt.Errorf("netns bulk: %w", err)
	}
	const note = "linux namespaces alone; vpclab's figure is in the scale/fabric/connrate tables"
	row := func(measure, unit, better string, v float64) Row {
		return Row{Measure: "netns: " + measure, Unit: unit, Better: better, Note: note,
			Baselines: []Baseline{{Name: "linux-namespaces", Value: v}}}
	}
	res.Rows = append(res.Rows,
		row(fmt.Sprintf("boot per namespace (%d, veth + bridge + iptables)", n), "µs/instance", "lower", float64(per.Microseconds())),
		row(fmt.Sprintf("kernel memory per namespace (%d; slab+percpu+page tables from /proc/meminfo)", n), "KiB/instance", "lower", float64(bytes)/1024),
		row("TCP connections/s through the bridge, the fabric's 500-rule policy on both namespaces", "conns/s", "higher", rate),
		row("TCP bulk throughput through the bridge, the fabric's 500-rule policy on both namespaces", "Gbit/s", "higher", bps/1e9),
	)
	return nil
}
