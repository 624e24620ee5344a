package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/firewall"
)

// classifyReport is the result of `vpclab bench classify`, as printed by
// -o json.
type classifyReport struct {
	RulesFile           string  `json:"rules_file"`
	Rules               int     `json:"rules"`
	Headers             int     `json:"headers"`
	HeaderSource        string  `json:"header_source"` // the trace file, or "random"
	Mismatches          int     `json:"mismatches"`
	CompileNs           int64   `json:"compile_ns"`
	MatcherBytes        int     `json:"matcher_bytes"`
	CompiledNsPerHeader float64 `json:"compiled_ns_per_header"`
	LinearNsPerHeader   float64 `json:"linear_ns_per_header"`
	Speedup             float64 `json:"speedup"`
}

// defaultRandomHeaders is the number of headers drawn when there is no
// trace and no --count.
const defaultRandomHeaders = 1 << 16

// benchMinTime is how long each classifier is timed for, at least: whole
// passes over the headers are repeated until it has elapsed.
var benchMinTime = 200 * time.Millisecond

// benchSink keeps the timed Match calls observable.
var benchSink int

// newBenchClassifyCmd is `vpclab bench classify`: the suite's classify
// benchmark, or with --rules FILE the check and timing of one ClassBench
// rule file. bf holds the flags it shares with `vpclab bench`.
func newBenchClassifyCmd(bf *benchFlags) *cobra.Command {
	var (
		rulesFile, traceFile string
		limit, count         int
	)
	cmd := &cobra.Command{
		Use:   "classify [--rules FILE [--trace FILE]]",
		Short: "Compare the compiled firewall matcher with a linear scan on ClassBench rules",
		Long: `Without --rules, classify runs the suite's classify benchmark, as
"vpclab bench classify" always did: --quick, --report and -o as for
"vpclab bench".

With --rules FILE it loads that ClassBench rule file, compiles it, checks that
the compiled matcher and the linear scan pick the same rule for every header
(from --trace, or drawn around the rules when there is no trace), then times
both.

Exit status: 0 when they agree on every header (or the benchmark ran), 1 when
they do not (or it failed), 2 on invalid input, 130 when interrupted.`,
		// Without --rules, further names run too: "vpclab bench classify
		// conntrack" means the two benchmarks, as it reads.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			output := bf.output
			if rulesFile == "" {
				for _, name := range []string{"trace", "limit", "count"} {
					if cmd.Flags().Changed(name) {
						return usageError("--%s needs --rules FILE", name)
					}
				}
				return runBench(cmd, append([]string{"classify"}, args...), commandLine(cmd, args), *bf)
			}
			if len(args) > 0 {
				return usageError("unexpected argument %q: with --rules FILE, classify takes no benchmark names", args[0])
			}
			if err := checkOutput(output); err != nil {
				return err
			}
			if bf.quick || bf.report != "" {
				return usageError("--quick and --report apply to the suite's classify benchmark, not to --rules FILE")
			}
			if limit < 0 {
				return usageError("--limit %d: want 0 (all rules) or more", limit)
			}
			if count < 0 {
				return usageError("--count %d: want 0 (default) or more", count)
			}
			rules, err := readClassBench("--rules", rulesFile, firewall.ParseClassBenchRules)
			if err != nil {
				return err
			}
			if limit > 0 && limit < len(rules) {
				rules = rules[:limit]
			}
			var headers []firewall.Tuple
			source := "random"
			if traceFile != "" {
				if headers, err = readClassBench("--trace", traceFile, firewall.ParseClassBenchTrace); err != nil {
					return err
				}
				if len(headers) == 0 {
					return usageError("--trace %s: no headers", traceFile)
				}
				if count > 0 && count < len(headers) {
					headers = headers[:count]
				}
				source = traceFile
			} else {
				n := count
				if n == 0 {
					n = defaultRandomHeaders
				}
				headers = firewall.RandomTuples(rules, n, 1)
			}

			rep, err := benchClassify(rules, headers, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rep.RulesFile, rep.HeaderSource = rulesFile, source
			if err := writeClassifyReport(cmd.OutOrStdout(), output, rep); err != nil {
				return err
			}
			if rep.Mismatches > 0 {
				return &exitError{code: 1, err: fmt.Errorf("compiled matcher and linear scan disagree on %d of %d headers",
					rep.Mismatches, rep.Headers)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&rulesFile, "rules", "", "ClassBench rule `FILE` (default: run the suite's classify benchmark)")
	f.StringVar(&traceFile, "trace", "", "ClassBench trace `FILE` of headers (default: headers drawn around the rules)")
	f.IntVar(&limit, "limit", 0, "use the first `N` rules only (0: all)")
	f.IntVar(&count, "count", 0, fmt.Sprintf("use `N` headers: the first N of the trace, or N drawn at random (default: the whole trace, or %d)", defaultRandomHeaders))
	return cmd
}

// readClassBench opens file and parses it; errors name the flag and the
// file and are invalid input.
func readClassBench[T any](flag, file string, parse func(io.Reader) ([]T, error)) ([]T, error) {
	fh, err := os.Open(file)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usageError("%s %s: %w", flag, file, err)
	}
	defer fh.Close()
	v, err := parse(fh)
	if err != nil {
		return nil, usageError("%s %s: %w", flag, file, err)
	}
	return v, nil
}

// benchClassify compiles rules, compares the compiled matcher with the
// linear scan on every header (describing the first few differences on
// log), and times both.
func benchClassify(rules []firewall.MatchRule, headers []firewall.Tuple, log io.Writer) (classifyReport, error) {
	rep := classifyReport{Rules: len(rules), Headers: len(headers)}
	start := time.Now()
	m, err := firewall.Compile(rules)
	rep.CompileNs = time.Since(start).Nanoseconds()
	if err != nil {
		return rep, &exitError{code: 1, err: err}
	}
	rep.MatcherBytes = m.MemoryBytes()
	l := firewall.NewLinear(rules)
	for i := range headers {
		if got, want := m.Match(&headers[i]), l.Match(&headers[i]); got != want {
			if rep.Mismatches++; rep.Mismatches <= 5 {
				fmt.Fprintf(log, "header %d %+v: compiled rule %d, linear rule %d\n", i, headers[i], got, want)
			}
		}
	}
	rep.CompiledNsPerHeader = nsPerHeader(m, headers)
	rep.LinearNsPerHeader = nsPerHeader(l, headers)
	if rep.CompiledNsPerHeader > 0 {
		rep.Speedup = rep.LinearNsPerHeader / rep.CompiledNsPerHeader
	}
	return rep, nil
}

// nsPerHeader times c over whole passes of headers until benchMinTime has
// elapsed and returns the mean time per header.
func nsPerHeader(c firewall.Classifier, headers []firewall.Tuple) float64 {
	if len(headers) == 0 {
		return 0
	}
	sum, passes := 0, 0
	start := time.Now()
	var elapsed time.Duration
	for elapsed < benchMinTime {
		for i := range headers {
			sum += c.Match(&headers[i])
		}
		passes++
		elapsed = time.Since(start)
	}
	benchSink = sum
	return float64(elapsed.Nanoseconds()) / float64(passes*len(headers))
}

func writeClassifyReport(w io.Writer, format string, rep classifyReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rules file\t%s\n", rep.RulesFile)
	fmt.Fprintf(tw, "headers from\t%s\n", rep.HeaderSource)
	fmt.Fprintf(tw, "rules\t%d\n", rep.Rules)
	fmt.Fprintf(tw, "headers\t%d\n", rep.Headers)
	fmt.Fprintf(tw, "mismatches\t%d\n", rep.Mismatches)
	fmt.Fprintf(tw, "compile\t%v\n", time.Duration(rep.CompileNs))
	fmt.Fprintf(tw, "matcher bytes\t%d\n", rep.MatcherBytes)
	fmt.Fprintf(tw, "compiled\t%.1f ns/header\n", rep.CompiledNsPerHeader)
	fmt.Fprintf(tw, "linear\t%.1f ns/header\n", rep.LinearNsPerHeader)
	fmt.Fprintf(tw, "speedup\t%.1fx\n", rep.Speedup)
	return tw.Flush()
}
