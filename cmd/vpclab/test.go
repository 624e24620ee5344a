package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

type testFileReport struct {
	File    string            `json:"file"`
	Valid   bool              `json:"valid"`
	Errors  []fileError       `json:"errors,omitempty"`
	Error   string            `json:"error,omitempty"` // the VPC could not be built
	Results []topology.Result `json:"results,omitempty"`
	Passed  int               `json:"passed"`
	Failed  int               `json:"failed"`

	// Warnings are printed on stderr as text, and here with -o json.
	Warnings []fileWarning `json:"warnings,omitempty"`
}

func newTestCmd() *cobra.Command {
	var (
		output    string
		timeout   time.Duration
		parallel  int
		budget    memoryBudget
		shards    int
		downAfter time.Duration
	)
	cmd := &cobra.Command{
		Use:   "test FILE...",
		Short: "Run every expect line as a real probe (exit 0 all pass, 1 any fails, 2 invalid file)",
		Long: `Test brings each file's VPC up, runs every expect line as a real probe through
the netstacks (TCP connect plus the service's reply, UDP echo, ICMP echo) and
prints one line per expectation: pass/FAIL, the observed result and, for a
mismatch, the explanation (deciding step, group, rule, priority, policy,
description, managed_by). A blocked probe is known from the data plane's drop
event at once; --timeout is only the fallback, and a result that relied on it
says so.

Exit status: 0 when every expectation passes, 1 when any fails, 2 when a file
is invalid (nothing of that file starts).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if err := cmp.Or(checkTimeout(timeout), checkParallel(parallel)); err != nil {
				return err
			}
			if shards < 1 || shards > maxTestShards {
				return usageError("--shards %d: out of range (allowed: 1..%d)", shards, maxTestShards)
			}
			if err := checkShardDownAfter(downAfter); err != nil {
				return err
			}
			ctx := cmd.Context()
			if shards > 1 {
				// The shard processes are stopped on Ctrl-C and SIGTERM,
				// not left behind.
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(cmp.Or(ctx, context.Background()), os.Interrupt, syscall.SIGTERM)
				defer stop()
			}
			var reports []testFileReport
			invalid, failed := 0, 0
			for _, f := range args {
				r := testFileShards(ctx, f, topology.RunOptions{Timeout: timeout, Parallel: parallel}, &budget, cmd.ErrOrStderr(), shards, downAfter)
				printWarnings(cmd.ErrOrStderr(), r.Warnings)
				if ctx.Err() != nil {
					return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted; the shard processes are stopped")}
				}
				if !r.Valid || r.Error != "" {
					invalid++
				}
				failed += r.Failed
				reports = append(reports, r)
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				if err := writeJSON(w, reports); err != nil {
					return err
				}
			} else {
				for _, r := range reports {
					printTestReport(w, r)
				}
			}
			switch {
			case invalid > 0:
				return &exitError{code: 2, err: fmt.Errorf("%d of %s invalid", invalid, count(len(args), "file"))}
			case failed > 0:
				return &exitError{code: 1, err: fmt.Errorf("%s failed", count(failed, "expectation"))}
			}
			return nil
		},
	}
	addOutputFlag(cmd, &output)
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "fallback timeout of one probe (blocks are normally known from drop events)")
	cmd.Flags().IntVar(&parallel, "parallel", 32, "probes in flight at once")
	addMemoryBudgetFlag(cmd, &budget)
	addMaxFileSizeFlag(cmd)
	cmd.Flags().DurationVar(&downAfter, "shard-down-after", netstack.DefaultShardDownAfter, "with --shards: how long a silent shard takes to be down (PEER_SHARD_DOWN); longer on a machine short of CPU")
	cmd.Flags().IntVar(&shards, "shards", 1, "spread the VPC over N shard processes joined by WireGuard on loopback (each with its own keys and UDP port), each probe run on the shard of its from; the report is the same as unsharded")
	return cmd
}

func testFile(ctx context.Context, file string, opts topology.RunOptions, budget *memoryBudget, stderr io.Writer) testFileReport {
	return testFileShards(ctx, file, opts, budget, stderr, 1, 0)
}

// maxTestShards bounds test --shards.
const maxTestShards = topology.MaxShards

func testFileShards(ctx context.Context, file string, opts topology.RunOptions, budget *memoryBudget, stderr io.Writer, shards int, downAfter time.Duration) testFileReport {
	r := testFileReport{File: file}
	t, err := topology.LoadFile(file)
	if err != nil {
		r.Errors = loadErrors(file, err)
		return r
	}
	r.Valid = true
	r.Warnings = loadWarnings(t)
	if err := budget.check(t); err != nil {
		r.Error = err.Error()
		return r
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if shards > 1 {
		res, invalid, err := runShardProcesses(ctx, file, t, shards, downAfter, opts)
		if invalid != nil { // what a sharded VPC cannot run, placed in the file
			r.Valid, r.Errors = false, invalid
			return r
		}
		if err != nil {
			r.Error = err.Error()
			return r
		}
		r.Results = res
		r.count()
		return r
	}
	buildOpts, endProgress := buildProgress(stderr, "vpclab test: "+file, t) // a bar only on a terminal
	// Offline VPN gateways: probes from a peer use a stand-in at its
	// gateway, and a running lab of the same file may hold the listen
	// address.
	lab, err := topology.Build(t, append(buildOpts, topology.VPNOffline())...)
	endProgress()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer lab.Close()
	if ctx == nil {
		ctx = context.Background()
	}
	r.Results = lab.Run(ctx, opts)
	r.count()
	return r
}

func (r *testFileReport) count() {
	for _, res := range r.Results {
		if res.Pass {
			r.Passed++
		} else {
			r.Failed++
		}
	}
}

func printTestReport(w io.Writer, r testFileReport) {
	if !r.Valid {
		for _, e := range r.Errors {
			fmt.Fprintln(w, errorLine(e))
		}
		return
	}
	if r.Error != "" {
		if !strings.HasPrefix(r.Error, r.File+": ") { // Build's errors name the file
			fmt.Fprintf(w, "%s: ", r.File)
		}
		fmt.Fprintln(w, r.Error)
		return
	}
	fmt.Fprintf(w, "%s\n", r.File)
	printResults(w, r.Results)
	fmt.Fprintf(w, "%d passed, %d failed\n", r.Passed, r.Failed)
}

// printResults prints one line per result (pass/FAIL, name, probe,
// expected, observed and what was seen) and, for each failure, the reason:
// the deciding step with its group, priority, policy, description and
// managed_by. vpclab test and vpclab up both print results with it, so a
// failing expectation reads the same in both.
func printResults(w io.Writer, results []topology.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, res := range results {
		status := "pass"
		if !res.Pass {
			status = "FAIL"
		}
		probe := res.Protocol
		if res.Port != 0 {
			probe += fmt.Sprintf("/%d", res.Port)
		}
		name := res.Name // the probe column says it when the line has no name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s → %s %s\texpected %s\tobserved %s\t%s\n", status, name, res.From, res.To, probe, res.Expected, res.Observed, res.Detail)
	}
	tw.Flush()
	for _, res := range results {
		if res.Pass || res.Why == nil {
			continue
		}
		x := res.Why
		fmt.Fprintf(w, "  FAIL %s: %s\n", res.Label(), x.String())
		var parts []string
		for _, kv := range [][2]string{{"group", x.Group}, {"priority", prio(x.Priority)}, {"policy", x.Policy}, {"description", x.Description}, {"managed_by", x.ManagedBy}} {
			if kv[1] != "" {
				parts = append(parts, kv[0]+"="+kv[1])
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "       %s\n", strings.Join(parts, " "))
		}
		if res.Origin != "" {
			fmt.Fprintf(w, "       from %s\n", res.Origin)
		}
	}
}

func prio(p int) string {
	if p == 0 {
		return ""
	}
	return fmt.Sprint(p)
}
