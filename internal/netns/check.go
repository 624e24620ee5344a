package netns

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vpclab/vpclab/topology"
)

// Case is one expectation answered by vpclab and by the kernel.
type Case struct {
	Label          string
	Expected       string
	Ours, Kernel   string
	OursDetail     string
	KernelDetail   string
	Skip           string // why the kernel did not probe it
	Agree, Correct bool   // Correct: ours matches the file's expectation
}

// Check builds t both ways — vpclab's lab and namespaces — runs every
// expectation in both, and returns each answer side by side, with what the
// namespace build left out.
func Check(ctx context.Context, t *topology.Topology, timeout time.Duration) ([]Case, []string, error) {
	c, s, _, err := CheckTimed(ctx, t, timeout)
	return c, s, err
}

// Times are how long each side took to build and answer every expectation.
type Times struct{ Ours, Kernel time.Duration }

// CheckTimed is Check, with how long each side took.
func CheckTimed(ctx context.Context, t *topology.Topology, timeout time.Duration) ([]Case, []string, Times, error) {
	var times Times
	start := time.Now()
	lab, err := topology.Build(t)
	if err != nil {
		return nil, nil, times, fmt.Errorf("vpclab: %w", err)
	}
	ours := lab.Run(ctx, topology.RunOptions{Timeout: timeout})
	lab.Close()
	times.Ours = time.Since(start)
	start = time.Now()
	tp, err := Build(t)
	if err != nil {
		return nil, nil, times, fmt.Errorf("namespaces: %w", err)
	}
	kernel := tp.Run(ctx, timeout)
	// A kernel block is a timeout, which a loaded machine can fake: one
	// that vpclab does not share is probed again, waiting five times as
	// long, before it counts as a disagreement.
	for i, k := range kernel {
		if k.Observed == Block && strings.HasPrefix(k.Detail, "timeout") && ours[i].Observed != Block {
			kernel[i] = tp.ProbeExpect(ctx, i, 5*timeout)
			kernel[i].Detail += " (probed again after a timeout)"
		}
	}
	if err := tp.Close(); err != nil {
		return nil, nil, times, fmt.Errorf("namespaces: %w", err)
	}
	times.Kernel = time.Since(start)
	cases := make([]Case, len(ours))
	for i, o := range ours {
		k := kernel[i]
		cases[i] = Case{Label: o.Label(), Expected: o.Expected, Ours: o.Observed, Kernel: k.Observed,
			OursDetail: o.Detail, KernelDetail: k.Detail, Skip: k.Skip,
			Agree: k.Skip == "" && o.Observed == k.Observed, Correct: o.Pass}
	}
	return cases, tp.Skipped, times, nil
}
