package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/vpclab/vpclab/bench"
	"github.com/vpclab/vpclab/bench/report"
)

// benchSuite is the suite `vpclab bench` runs; tests replace it with fakes.
var benchSuite = bench.All

// exitInterrupted is the status of a run Ctrl-C stopped: 128+SIGINT, as a
// shell reports it.
const exitInterrupted = 130

// benchFlags are the flags of `vpclab bench`, shared with `bench classify`.
type benchFlags struct {
	quick          bool
	report, output string
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench [NAME...|all]",
		Short: "Measure vpclab's components against the baselines a user would pick instead",
		Long: `Bench runs the named benchmarks of the suite (all of them with no name or
"all"), in the suite's order: classify, conntrack, fabric, connrate, runner,
shard, kernel-check, scale. It prints the machine, then one table per benchmark:
each measure, ours, every baseline measured in the same run and how many times
better ours is, and what was skipped and why.

--quick runs the smallest sizes (the whole suite in about a minute).
--report DIR writes DIR/RESULTS.md and one SVG per chart. When DIR/RESULTS.md
is a hand-written file holding the markers of a generated section (as
bench/RESULTS.md does), the full report goes to DIR/report/ and only that
section is rewritten, a summary linking it; any other hand-written
RESULTS.md is left alone (exit 2).

Ctrl-C stops the running benchmark; what finished is printed and reported.

Exit status: 0 when every benchmark ran, 1 when one failed or a chart could
not be drawn, 2 on invalid input, 130 when interrupted.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd, args, commandLine(cmd, args), f)
		},
	}
	pf := cmd.PersistentFlags()
	pf.BoolVar(&f.quick, "quick", false, "run the smallest sizes only (a smoke run: the whole suite in about a minute)")
	pf.StringVar(&f.report, "report", "", "write `DIR`/RESULTS.md and the SVG charts")
	pf.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	cmd.AddCommand(newBenchClassifyCmd(&f), newBenchShardWorkerCmd())
	return cmd
}

// newBenchShardWorkerCmd is the hidden command the shard benchmark starts
// its shard processes with (bench.ShardWorkerArgs): it speaks JSON lines on
// stdin and stdout and ends with its stdin.
func newBenchShardWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "shard-worker",
		Short:  "One shard process of `vpclab bench shard` (started by it; not for use by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv(bench.ShardWorkerEnv) != "1" {
				return usageError("bench shard-worker is started by `vpclab bench shard`, not by hand")
			}
			return bench.ShardWorker(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// chooseBenchmarks returns the benchmarks names select, in the suite's
// order; none or "all" selects every one. An unknown name is invalid input
// listing the names there are.
func chooseBenchmarks(suite []bench.Benchmark, names []string) ([]bench.Benchmark, error) {
	var known []string
	for _, b := range suite {
		known = append(known, b.Name)
	}
	want := map[string]bool{}
	for _, n := range names {
		if n != "all" && !slices.Contains(known, n) {
			if len(known) == 0 {
				return nil, usageError("unknown benchmark %q: this build has no benchmarks", n)
			}
			return nil, usageError("unknown benchmark %q: want one of %s, all", n, strings.Join(known, ", "))
		}
		want[n] = true
	}
	if len(names) == 0 || want["all"] {
		if len(suite) == 0 {
			return nil, usageError("this build has no benchmarks")
		}
		return suite, nil
	}
	var out []bench.Benchmark
	for _, b := range suite {
		if want[b.Name] {
			out = append(out, b)
		}
	}
	return out, nil
}

// commandLine is the command as run, flags as given: the report's record of
// how to reproduce it.
func commandLine(cmd *cobra.Command, args []string) string {
	parts := []string{cmd.CommandPath()}
	parts = append(parts, args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if f.Value.Type() == "bool" {
			parts = append(parts, "--"+f.Name)
			return
		}
		parts = append(parts, "--"+f.Name, f.Value.String())
	})
	return strings.Join(parts, " ")
}

// runBench runs the benchmarks names selects; line is the command line the
// report records.
func runBench(cmd *cobra.Command, names []string, line string, f benchFlags) error {
	if err := checkOutput(f.output); err != nil {
		return err
	}
	chosen, err := chooseBenchmarks(benchSuite(), names)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	doc := report.Document{
		Schema:     report.Schema,
		Date:       time.Now().UTC().Truncate(time.Second),
		Command:    line,
		Quick:      f.quick,
		Machine:    report.DetectMachine(),
		Benchmarks: []report.Benchmark{},
	}
	table := f.output == "table"
	if table {
		if err := report.WriteMachine(out, doc); err != nil {
			return err
		}
	}
	prog := newBenchProgress(stderr, isTerminal(stderr), len(chosen))
	var failed []string
	for i, b := range chosen {
		if ctx.Err() != nil {
			doc.Interrupted = true
			break
		}
		prog.start(i, b.Name)
		start := time.Now()
		res, err := runBenchmark(ctx, b, bench.Options{Quick: f.quick, Progress: prog.set})
		took := time.Since(start)
		prog.clear()
		if ctx.Err() != nil {
			// Cut short: a benchmark's partial figures would read as
			// real ones, so only one that finished regardless counts.
			doc.Interrupted = true
			if err != nil || res == nil {
				break
			}
		}
		rb := report.FromResult(b, res, err, took)
		if err != nil {
			failed = append(failed, b.Name)
		}
		doc.Benchmarks = append(doc.Benchmarks, rb)
		if table {
			if err := report.WriteBenchmark(out, rb); err != nil {
				return err
			}
		}
	}
	if !table {
		if err := writeJSON(out, doc); err != nil {
			return err
		}
	}
	var errs []error
	if f.report != "" {
		files, err := report.WriteDir(f.report, doc)
		if len(files) > 0 {
			fmt.Fprintf(stderr, "report: %s\n", strings.Join(files, " "))
		}
		if err != nil {
			var refuse *report.RefuseError
			if errors.As(err, &refuse) {
				return usageError("--report %s: %w", f.report, err)
			}
			errs = append(errs, fmt.Errorf("--report %s: %w", f.report, err))
		}
	}
	if doc.Interrupted {
		return &exitError{code: exitInterrupted, err: fmt.Errorf("interrupted: %d of %d benchmarks finished",
			len(doc.Benchmarks)-len(failed), len(chosen))}
	}
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d benchmarks failed: %s", len(failed), len(chosen), strings.Join(failed, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return &exitError{code: 1, err: err}
	}
	return nil
}

// runBenchmark runs b, turning a panic into its error: one broken
// benchmark does not lose the others' figures.
func runBenchmark(ctx context.Context, b bench.Benchmark, opts bench.Options) (res *bench.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	settleBefore()
	res, err = b.Run(ctx, opts)
	if err == nil && res == nil {
		err = errors.New("no result")
	}
	return res, err
}

// settleBefore gives a benchmark the process a run of it alone would
// see: the previous benchmark's garbage collected and its memory returned
// to the system (100,000 instances of scale left a heap that slowed the
// runner benchmark after it by half), and the peak RSS the benchmarks
// report (VmHWM) reset on Linux, which keeps a process's peak otherwise.
func settleBefore() {
	runtime.GC()
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // best effort: Linux only
}

// benchProgress is the one status line on a terminal's stderr: which
// benchmark of how many runs, and what it says it runs now. Off a terminal
// it writes nothing. Benchmarks may report from any goroutine.
type benchProgress struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	width int
	total int
	head  string
	shown bool
	began time.Time
	now   func() time.Time
}

func newBenchProgress(w io.Writer, tty bool, total int) *benchProgress {
	p := &benchProgress{w: w, on: tty, total: total, width: 80, now: time.Now}
	if f, ok := w.(*os.File); ok && tty {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 10 {
			p.width = cols
		}
	}
	return p
}

func (p *benchProgress) start(i int, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.head = fmt.Sprintf("vpclab bench [%d/%d] %s", i+1, p.total, name)
	p.began = p.now()
	p.draw("")
}

// set shows what the running benchmark does now.
func (p *benchProgress) set(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw(what)
}

func (p *benchProgress) draw(what string) {
	if !p.on {
		return
	}
	line := p.head
	if what != "" {
		line += ": " + strings.Join(strings.Fields(what), " ")
	}
	line += fmt.Sprintf(" (%ds)", int(p.now().Sub(p.began).Seconds()))
	if r := []rune(line); len(r) > p.width-1 {
		line = string(r[:p.width-2]) + "…"
	}
	fmt.Fprint(p.w, "\r\033[K"+line)
	p.shown = true
}

// clear erases the line, so that the table follows on a clean one.
func (p *benchProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}
