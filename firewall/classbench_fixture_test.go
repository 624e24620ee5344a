package firewall

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the ClassBench fixture trace (testdata/classbench/fw1_500.trace)")

// The ClassBench fixture kept in the repository (testdata/classbench/README.md):
// the first 500 rules of neurocuts fw1_1k and a trace of 10,000 headers that
// fixtureTrace derives from them.
const (
	fixtureDir     = "testdata/classbench"
	fixtureRules   = "fw1_500.rules"
	fixtureTraceF  = "fw1_500.trace"
	fixtureHeaders = 10000
	fixtureSeed    = 20261202
)

// fixtureHeader is one line of the fixture trace: the header and the rule it
// was drawn from (-1: drawn uniformly at random).
type fixtureHeader struct {
	Tuple
	From int
}

// fixtureTrace derives n headers from rules, deterministically from seed:
// nine in ten pick a rule and a point inside it (each field at its low or
// high bound one time in four, else uniform inside), so they exercise the
// rules' edges and interiors; the rest are uniformly random. It uses only
// the PCG generator's raw output, whose sequence Go specifies, so the trace
// does not change with the Go release.
func fixtureTrace(rules []MatchRule, n int, seed uint64) []fixtureHeader {
	pcg := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	// below returns a value of [0, k) with a negligible bias (k ≤ 2^32).
	below := func(k uint64) uint64 { return (pcg.Uint64() >> 32) * k >> 32 }
	in := func(lo, hi uint32) uint32 {
		switch pcg.Uint64() & 7 {
		case 0:
			return lo
		case 1:
			return hi
		}
		return lo + uint32(below(uint64(hi-lo)+1))
	}
	protos := [...]uint8{6, 17, 1, 47}
	out := make([]fixtureHeader, n)
	for i := range out {
		h := &out[i]
		if len(rules) == 0 || below(10) == 0 {
			x := pcg.Uint64()
			h.Src, h.Dst = uint32(x), uint32(x>>32)
			x = pcg.Uint64()
			h.SrcPort, h.DstPort = uint16(x), uint16(x>>16)
			h.Proto = protos[x>>32&3]
			h.From = -1
			continue
		}
		h.From = int(below(uint64(len(rules))))
		r := &rules[h.From]
		s, d := r.Src[0], r.Dst[0]
		h.Src, h.Dst = in(s.Lo, s.Hi), in(d.Lo, d.Hi)
		h.SrcPort = uint16(in(uint32(r.SrcPort.Lo), uint32(r.SrcPort.Hi)))
		h.DstPort = uint16(in(uint32(r.DstPort.Lo), uint32(r.DstPort.Hi)))
		h.Proto = r.Proto
		if r.AnyProto {
			h.Proto = protos[below(uint64(len(protos)))]
		}
	}
	return out
}

// formatFixtureTrace writes headers in the ClassBench trace format:
// "SIP DIP SPORT DPORT PROTO FLAGS RULE", decimal, tab-separated, with flags
// 0 and RULE the rule the header was drawn from (-1 for random headers) —
// like ClassBench's own traces, not necessarily the first rule that matches.
func formatFixtureTrace(hs []fixtureHeader) []byte {
	var b bytes.Buffer
	for _, h := range hs {
		fmt.Fprintf(&b, "%d\t%d\t%d\t%d\t%d\t0\t%d\n", h.Src, h.Dst, h.SrcPort, h.DstPort, h.Proto, h.From)
	}
	return b.Bytes()
}

// loadFixture returns the fixture's rules and trace.
func loadFixture(t testing.TB) ([]MatchRule, []Tuple) {
	t.Helper()
	return loadClassBenchRules(t, fixtureDir, fixtureRules), loadClassBenchTrace(t, fixtureDir, fixtureTraceF)
}

// TestClassBenchFixtureTrace checks that the committed trace is the one
// fixtureTrace derives from the committed rules; -update rewrites it.
func TestClassBenchFixtureTrace(t *testing.T) {
	rules := loadClassBenchRules(t, fixtureDir, fixtureRules)
	if len(rules) != 500 {
		t.Fatalf("%s: %d rules, want 500", fixtureRules, len(rules))
	}
	got := formatFixtureTrace(fixtureTrace(rules, fixtureHeaders, fixtureSeed))
	path := filepath.Join(fixtureDir, fixtureTraceF)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./firewall -run ClassBenchFixtureTrace -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not the trace fixtureTrace derives from %s; run go test ./firewall -run ClassBenchFixtureTrace -update", path, fixtureRules)
	}
	hs, err := ParseClassBenchTrace(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != fixtureHeaders {
		t.Errorf("%s: %d headers, want %d", path, len(hs), fixtureHeaders)
	}
}

// TestClassBenchFixtureCoverage checks that the trace does what it is for:
// most headers match a rule, many distinct rules decide, and some headers
// match none.
func TestClassBenchFixtureCoverage(t *testing.T) {
	rules, trace := loadFixture(t)
	l := NewLinear(rules)
	decided := make(map[int]bool)
	misses := 0
	for i := range trace {
		if m := l.Match(&trace[i]); m >= 0 {
			decided[m] = true
		} else {
			misses++
		}
	}
	t.Logf("%d of %d headers match no rule; %d distinct rules decide", misses, len(trace), len(decided))
	if misses == 0 || misses > len(trace)/4 {
		t.Errorf("%d of %d headers match no rule, want some but at most a quarter", misses, len(trace))
	}
	if len(decided) < len(rules)/4 {
		t.Errorf("only %d distinct rules decide a header, want at least %d", len(decided), len(rules)/4)
	}
}
