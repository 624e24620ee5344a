package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpclab/vpclab/bench"
	"github.com/vpclab/vpclab/bench/report"
)

// fakeRuns records the Options each fake benchmark ran with, by name.
type fakeRuns struct {
	mu   sync.Mutex
	runs map[string]bench.Options
	// order is the names in the order they ran.
	order []string
}

func (f *fakeRuns) record(name string, o bench.Options) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[name] = o
	f.order = append(f.order, name)
}

// fakeSuite is a suite of test-only benchmarks: a cost, a rate with a
// chart, one that fails, one that panics, one that waits for Ctrl-C.
// It replaces benchSuite until the test ends.
func fakeSuite(t *testing.T) *fakeRuns {
	t.Helper()
	runs := &fakeRuns{runs: map[string]bench.Options{}}
	suite := []bench.Benchmark{
		{Name: "classify", Doc: "a fake cost", Run: func(_ context.Context, o bench.Options) (*bench.Result, error) {
			runs.record("classify", o)
			o.Progress("acl1 500 rules")
			return &bench.Result{
				Benchmark: "classify",
				Rows: []bench.Row{{Measure: "acl1, 500 rules", Unit: "cycles/header", Ours: 40, Better: "lower",
					Baselines: []bench.Baseline{{Name: "linear", Value: 2000, Ratio: bench.Ratio(40, 2000, "lower")}}}},
				Series: []bench.Series{
					{Chart: "cycles-per-header", Title: "Classify", XLabel: "rules", YLabel: "cycles/header", Name: "compiled", X: []float64{100, 1000}, Y: []float64{30, 40}, LogX: true},
					{Chart: "cycles-per-header", Name: "linear", X: []float64{100, 1000}, Y: []float64{200, 2000}, LogX: true},
				},
				Skipped: []string{"acl1 100k rules: not with --quick"},
			}, nil
		}},
		{Name: "fabric", Doc: "a fake rate", Run: func(_ context.Context, o bench.Options) (*bench.Result, error) {
			runs.record("fabric", o)
			return &bench.Result{Benchmark: "fabric", Rows: []bench.Row{{Measure: "TCP bulk", Unit: "Gbit/s", Ours: 3, Better: "higher",
				Baselines: []bench.Baseline{{Name: "direct", Value: 6, Ratio: bench.Ratio(3, 6, "higher")}}}}}, nil
		}},
		{Name: "broken", Doc: "fails", Run: func(_ context.Context, o bench.Options) (*bench.Result, error) {
			runs.record("broken", o)
			return nil, errors.New("no kernel")
		}},
		{Name: "panics", Doc: "panics", Run: func(_ context.Context, o bench.Options) (*bench.Result, error) {
			runs.record("panics", o)
			var r *bench.Result
			return &bench.Result{Rows: r.Rows}, nil
		}},
		{Name: "waits", Doc: "runs until cancelled", Run: func(ctx context.Context, o bench.Options) (*bench.Result, error) {
			runs.record("waits", o)
			o.Progress("started")
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}
	old := benchSuite
	benchSuite = func() []bench.Benchmark { return suite }
	t.Cleanup(func() { benchSuite = old })
	return runs
}

// runBenchCmd runs the root command with ctx, as main would.
func runBenchCmd(t *testing.T, ctx context.Context, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(ctx)
	if err != nil {
		code = 2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return out.String(), errb.String(), code, err
}

func TestBenchTable(t *testing.T) {
	runs := fakeSuite(t)
	stdout, stderr, code, err := runBenchCmd(t, context.Background(), "bench", "fabric", "classify", "--quick")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	if stderr != "" {
		t.Errorf("stderr is not a terminal, yet: %q", stderr)
	}
	if !slices.Equal(runs.order, []string{"classify", "fabric"}) {
		t.Errorf("ran %q, want the suite's order: classify, fabric", runs.order)
	}
	if !runs.runs["classify"].Quick {
		t.Errorf("--quick did not reach the benchmark")
	}
	lines := strings.Split(stdout, "\n")
	for i, key := range []string{"date", "cpu", "cores", "GOMAXPROCS", "clock", "go", "os", "kernel"} {
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != key {
			t.Errorf("machine line %d = %q, want %s first", i, lines[i], key)
		}
	}
	for _, want := range []string{
		"== classify: a fake cost", "measure  ", "vs linear", "×50.0 better", "skipped: acl1 100k rules: not with --quick",
		"== fabric: a fake rate", "×2.0 worse", runtime.Version(),
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestBenchJSON(t *testing.T) {
	fakeSuite(t)
	stdout, stderr, code, err := runBenchCmd(t, context.Background(), "bench", "classify", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	// The document's keys are its contract.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := "benchmarks command date interrupted machine quick schema"; strings.Join(keys, " ") != want {
		t.Errorf("keys %q, want %q", keys, want)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != report.Schema || doc.Command != "vpclab bench classify --output json" || doc.Quick || doc.Interrupted {
		t.Errorf("document head %+v", doc)
	}
	m := doc.Machine
	if m.Cores < 1 || m.GOMAXPROCS < 1 || m.GHz <= 0 || m.Go != runtime.Version() || m.OS == "" || m.Kernel == "" || m.CPU == "" {
		t.Errorf("machine %+v", m)
	}
	if len(doc.Benchmarks) != 1 {
		t.Fatalf("benchmarks %+v", doc.Benchmarks)
	}
	b := doc.Benchmarks[0]
	if b.Name != "classify" || len(b.Rows) != 1 || b.Rows[0].Baselines[0].Ratio != 50 || len(b.Series) != 2 || len(b.Skipped) != 1 || b.Error != "" {
		t.Errorf("benchmark %+v", b)
	}
}

func TestBenchBadInput(t *testing.T) {
	fakeSuite(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"bench", "nope"}, []string{`unknown benchmark "nope"`, "classify, fabric, broken, panics, waits, all"}},
		{[]string{"bench", "classify", "nope"}, []string{"nope"}},
		{[]string{"bench", "-o", "yaml"}, []string{"yaml", "table or json"}},
		{[]string{"bench", "classify", "-o", "yaml"}, []string{"yaml", "table or json"}},
	} {
		stdout, _, code, err := runBenchCmd(t, context.Background(), tc.args...)
		if code != 2 {
			t.Errorf("%q: exit %d (%v), want 2", tc.args, code, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.args, err, w)
			}
		}
		if stdout != "" {
			t.Errorf("%q: stdout %q", tc.args, stdout)
		}
	}
	old := benchSuite
	benchSuite = func() []bench.Benchmark { return nil }
	defer func() { benchSuite = old }()
	if _, _, code, err := runBenchCmd(t, context.Background(), "bench", "all"); code != 2 || !strings.Contains(err.Error(), "no benchmarks") {
		t.Errorf("empty suite: exit %d, %v", code, err)
	}
}

// TestBenchFailures: a failing and a panicking benchmark are reported,
// the others still run, and the exit status is 1.
func TestBenchFailures(t *testing.T) {
	runs := fakeSuite(t)
	stdout, _, code, err := runBenchCmd(t, context.Background(), "bench", "broken", "panics", "fabric", "-o", "json")
	if code != 1 || !strings.Contains(err.Error(), "2 of 3 benchmarks failed: broken, panics") {
		t.Fatalf("exit %d, %v", code, err)
	}
	if !slices.Equal(runs.order, []string{"fabric", "broken", "panics"}) {
		t.Errorf("ran %q", runs.order)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Benchmarks) != 3 || doc.Benchmarks[1].Error != "no kernel" || !strings.HasPrefix(doc.Benchmarks[2].Error, "panic: ") ||
		len(doc.Benchmarks[0].Rows) != 1 {
		t.Errorf("benchmarks %+v", doc.Benchmarks)
	}
}

// TestBenchInterrupt: cancelling the context (what Ctrl-C does) ends the
// running benchmark, keeps what finished, runs nothing after, and exits
// 130.
func TestBenchInterrupt(t *testing.T) {
	runs := fakeSuite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			runs.mu.Lock()
			started := slices.Contains(runs.order, "waits")
			runs.mu.Unlock()
			if started {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	dir := t.TempDir()
	stdout, stderr, code, err := runBenchCmd(t, ctx, "bench", "all", "-o", "json", "--report", dir)
	<-done
	if code != exitInterrupted || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("exit %d, %v", code, err)
	}
	if !strings.Contains(stderr, filepath.Join(dir, "RESULTS.md")) {
		t.Errorf("stderr does not name the report: %q", stderr)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range doc.Benchmarks {
		names = append(names, b.Name)
	}
	if !doc.Interrupted || !slices.Equal(names, []string{"classify", "fabric", "broken", "panics"}) {
		t.Errorf("interrupted %v, benchmarks %q", doc.Interrupted, names)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if !strings.Contains(string(md), "**Interrupted:**") {
		t.Errorf("RESULTS.md does not say it was interrupted")
	}
}

// TestBenchReport: --report writes RESULTS.md and a chart that parses as
// SVG; a hand-written RESULTS.md without markers is refused (exit 2) and
// left as it was.
func TestBenchReport(t *testing.T) {
	fakeSuite(t)
	dir := t.TempDir()
	stdout, stderr, code, err := runBenchCmd(t, context.Background(), "bench", "classify", "--report", dir)
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	if !strings.Contains(stdout, "== classify") {
		t.Errorf("no table on stdout with --report:\n%s", stdout)
	}
	md, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Command: `vpclab bench classify --report " + dir + "`", "| vs linear |", "![Classify](classify-cycles-per-header.svg)"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("RESULTS.md lacks %q:\n%s", w, md)
		}
	}
	svg, err := os.ReadFile(filepath.Join(dir, "classify-cycles-per-header.svg"))
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("chart is not XML: %v", err)
		}
	}

	// bench/'s layout: the hand-written history keeps its place, the
	// marked section links the full report in report/.
	orig, err := os.ReadFile(filepath.Join("..", "..", "bench", "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	benchDir := t.TempDir()
	os.WriteFile(filepath.Join(benchDir, "RESULTS.md"), orig, 0o644)
	if _, stderr, code, err := runBenchCmd(t, context.Background(), "bench", "classify", "fabric", "broken", "--report", benchDir, "--quick"); code != 1 {
		t.Fatalf("exit %d, want 1 (broken fails): %v\n%s", code, err, stderr)
	}
	idx, _ := os.ReadFile(filepath.Join(benchDir, "RESULTS.md"))
	i := bytes.Index(idx, []byte(report.SectionBegin))
	if i < 0 || !bytes.Equal(idx[:i], orig[:i]) || !bytes.Contains(idx, []byte("[report/RESULTS.md](report/RESULTS.md)")) ||
		!bytes.HasSuffix(idx, orig[bytes.Index(orig, []byte(report.SectionEnd)):]) {
		t.Errorf("bench/RESULTS.md after the run:\n%s", idx)
	}
	if _, err := os.Stat(filepath.Join(benchDir, "report", "classify-cycles-per-header.svg")); err != nil {
		t.Error(err)
	}

	hand := t.TempDir()
	os.WriteFile(filepath.Join(hand, "RESULTS.md"), []byte("# notes\n"), 0o644)
	_, _, code, err = runBenchCmd(t, context.Background(), "bench", "classify", "--report", hand)
	if code != 2 || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("hand-written RESULTS.md: exit %d, %v", code, err)
	}
	if b, _ := os.ReadFile(filepath.Join(hand, "RESULTS.md")); string(b) != "# notes\n" {
		t.Errorf("hand-written RESULTS.md changed: %q", b)
	}
}

// TestBenchClassifySuite: `bench classify` without --rules runs the
// suite's classify benchmark, with the shared flags.
func TestBenchClassifySuite(t *testing.T) {
	runs := fakeSuite(t)
	stdout, stderr, code, err := runBenchCmd(t, context.Background(), "bench", "classify", "--quick", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	if !slices.Equal(runs.order, []string{"classify"}) || !runs.runs["classify"].Quick {
		t.Errorf("ran %q with %+v", runs.order, runs.runs)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Benchmarks) != 1 {
		t.Fatalf("%v: %s", err, stdout)
	}
}

func TestBenchProgress(t *testing.T) {
	var b bytes.Buffer
	clock := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	p := newBenchProgress(&b, true, 3)
	p.now = func() time.Time { return clock }
	p.width = 40
	p.start(1, "conntrack")
	clock = clock.Add(12 * time.Second)
	p.set("1M flows,\n adversarial keys")
	p.clear()
	p.clear()
	want := "\r\033[Kvpclab bench [2/3] conntrack (0s)" +
		"\r\033[Kvpclab bench [2/3] conntrack: 1M flows…" +
		"\r\033[K"
	if b.String() != want {
		t.Errorf("progress %q\nwant     %q", b.String(), want)
	}

	b.Reset()
	q := newBenchProgress(&b, false, 3)
	q.start(0, "classify")
	q.set("x")
	q.clear()
	if b.Len() != 0 {
		t.Errorf("progress off a terminal wrote %q", b.String())
	}
}

// TestBenchShardWorker drives the hidden command the shard benchmark
// starts its shard processes with: by hand (without bench.ShardWorkerEnv)
// it refuses with exit 2; started as the benchmark starts it, it builds
// the bulk pair unsharded from its setup line, reports "built" and
// "ready", and exits 0 when its stdin ends.
func TestBenchShardWorker(t *testing.T) {
	t.Setenv(bench.ShardWorkerEnv, "")
	if _, _, code, err := runBenchCmd(t, context.Background(), "bench", "shard-worker"); code != 2 || !strings.Contains(err.Error(), "not by hand") {
		t.Errorf("by hand: exit %d, %v; want 2", code, err)
	}
	cmd := exec.Command(os.Args[0], bench.ShardWorkerArgs...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", bench.ShardWorkerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	lines := bufio.NewScanner(stdout)
	expect := func(event string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("no %q line; stderr: %s", event, stderr.String())
		}
		var r struct{ Event, Error string }
		if err := json.Unmarshal(lines.Bytes(), &r); err != nil || r.Event != event {
			t.Fatalf("line %q, want event %q (%v)", lines.Text(), event, err)
		}
	}
	io.WriteString(stdin, `{"Count":1}`+"\n")
	expect("built")
	io.WriteString(stdin, `{"Endpoints":{}}`+"\n")
	expect("ready")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("worker: %v; stderr: %s", err, stderr.String())
	}
}
