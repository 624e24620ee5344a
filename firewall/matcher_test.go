package firewall

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// naiveMatch is the reference of references: the first rule whose Matches
// holds.
func naiveMatch(rules []MatchRule, t *Tuple) int {
	for i := range rules {
		if rules[i].Matches(t) {
			return i
		}
	}
	return -1
}

// ruleGen draws rules and tuples from a small, clustered space so that
// ranges overlap, touch and nest, and tuples often match.
type ruleGen struct{ rng *rand.Rand }

func newRuleGen(seed uint64) *ruleGen {
	return &ruleGen{rand.New(rand.NewPCG(seed, seed^0x5eed))}
}

var (
	genNets   = []uint32{0x00000000, 0x0a000000, 0xc0a80000, 0xffff0000}
	genEdges  = []uint32{0, 1, 2, 0x7fffffff, 0x80000000, math.MaxUint32 - 1, math.MaxUint32}
	genPorts  = []uint16{0, 1, 22, 80, 443, 1023, 1024, 65534, 65535}
	genProtos = []uint8{0, ProtoICMP, ProtoTCP, ProtoUDP, 255}
)

func (g *ruleGen) addr() uint32 {
	if g.rng.IntN(8) == 0 {
		return genEdges[g.rng.IntN(len(genEdges))]
	}
	return genNets[g.rng.IntN(len(genNets))] + uint32(g.rng.IntN(1<<12))
}

func (g *ruleGen) prefix() Range32 {
	bits := g.rng.IntN(33)
	if g.rng.IntN(2) == 0 {
		bits = 20 + g.rng.IntN(13) // mostly narrow
	}
	mask := uint32(0)
	if bits > 0 {
		mask = math.MaxUint32 << (32 - bits)
	}
	a := g.addr() & mask
	return Range32{a, a | ^mask}
}

// rng32 returns an arbitrary range: possibly reversed (empty), possibly a
// single address, possibly touching 0 or MaxUint32.
func (g *ruleGen) rng32() Range32 {
	a, b := g.addr(), g.addr()
	switch g.rng.IntN(8) {
	case 0:
		return Range32{b, a} // either order: reversed ranges are empty
	case 1:
		return Range32{a, a}
	case 2:
		return Range32{0, max(a, b)}
	case 3:
		return Range32{min(a, b), math.MaxUint32}
	}
	return Range32{min(a, b), max(a, b)}
}

func (g *ruleGen) addrSet() []Range32 {
	switch r := g.rng.IntN(20); {
	case r == 0:
		return nil // matches nothing
	case r == 1:
		return []Range32{}
	case r == 2:
		return AnyAddr
	case r < 11:
		return []Range32{g.prefix()}
	case r < 14:
		return []Range32{g.rng32()}
	default:
		// A union of prefixes and ranges, overlapping or adjacent now and then.
		set := make([]Range32, 2+g.rng.IntN(4))
		for i := range set {
			switch g.rng.IntN(4) {
			case 0:
				set[i] = g.prefix()
			case 1:
				if i > 0 && set[i-1].Hi < math.MaxUint32 {
					lo := set[i-1].Hi + 1 // adjacent to the one before
					set[i] = Range32{lo, lo + uint32(g.rng.IntN(100))}
					break
				}
				fallthrough
			default:
				set[i] = g.rng32()
			}
		}
		return set
	}
}

func (g *ruleGen) port() uint16 {
	if g.rng.IntN(2) == 0 {
		return genPorts[g.rng.IntN(len(genPorts))]
	}
	return uint16(g.rng.IntN(1 << 16))
}

func (g *ruleGen) portRange() PortRange {
	switch g.rng.IntN(8) {
	case 0:
		return AnyPort
	case 1, 2, 3:
		p := g.port()
		return PortRange{p, p}
	case 4:
		return PortRange{0, g.port()}
	case 5:
		return PortRange{g.port(), math.MaxUint16}
	case 6:
		a, b := g.port(), g.port()
		return PortRange{max(a, b), min(a, b)} // empty unless equal
	}
	a, b := g.port(), g.port()
	return PortRange{min(a, b), max(a, b)}
}

func (g *ruleGen) rule() MatchRule {
	r := MatchRule{Src: g.addrSet(), Dst: g.addrSet(), SrcPort: g.portRange(), DstPort: g.portRange()}
	if g.rng.IntN(5) < 2 {
		r.AnyProto = true
		r.Proto = genProtos[g.rng.IntN(len(genProtos))] // ignored
	} else {
		r.Proto = genProtos[g.rng.IntN(len(genProtos))]
	}
	return r
}

func (g *ruleGen) rules(n int) []MatchRule {
	rules := make([]MatchRule, n)
	for i := range rules {
		if i > 0 && g.rng.IntN(20) == 0 {
			rules[i] = rules[g.rng.IntN(i)] // duplicates shadow nothing new
			continue
		}
		rules[i] = g.rule()
	}
	return rules
}

func (g *ruleGen) tuple() Tuple {
	return Tuple{Src: g.addr(), Dst: g.addr(), SrcPort: g.port(), DstPort: g.port(),
		Proto: genProtos[g.rng.IntN(len(genProtos))]}
}

// inside returns a value of the set, or a random address when it is empty.
func (g *ruleGen) inside(set []Range32) uint32 {
	var ok []Range32
	for _, r := range set {
		if r.Lo <= r.Hi {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return g.addr()
	}
	r := ok[g.rng.IntN(len(ok))]
	return r.Lo + uint32(g.rng.Uint64N(uint64(r.Hi-r.Lo)+1))
}

func (g *ruleGen) insidePort(p PortRange) uint16 {
	if p.Lo > p.Hi {
		return g.port()
	}
	return p.Lo + uint16(g.rng.IntN(int(p.Hi-p.Lo)+1))
}

// edgeTuples returns, for every rule, tuples inside it except for one field,
// which sits at an endpoint of one of the rule's ranges or one past it.
func (g *ruleGen) edgeTuples(rules []MatchRule) []Tuple {
	var out []Tuple
	for i := range rules {
		r := &rules[i]
		base := Tuple{Src: g.inside(r.Src), Dst: g.inside(r.Dst),
			SrcPort: g.insidePort(r.SrcPort), DstPort: g.insidePort(r.DstPort), Proto: r.Proto}
		out = append(out, base)
		for _, s := range r.Src {
			for _, v := range []uint32{s.Lo - 1, s.Lo, s.Hi, s.Hi + 1} {
				t := base
				t.Src = v
				out = append(out, t)
			}
		}
		for _, d := range r.Dst {
			for _, v := range []uint32{d.Lo - 1, d.Lo, d.Hi, d.Hi + 1} {
				t := base
				t.Dst = v
				out = append(out, t)
			}
		}
		for _, p := range []PortRange{r.SrcPort, r.DstPort} {
			for _, v := range []uint16{p.Lo - 1, p.Lo, p.Hi, p.Hi + 1} {
				t, u := base, base
				t.SrcPort, u.DstPort = v, v
				out = append(out, t, u)
			}
		}
		for _, p := range []uint8{r.Proto - 1, r.Proto + 1} {
			t := base
			t.Proto = p
			out = append(out, t)
		}
	}
	return out
}

// scans runs f once for every word scan Match can use here: the Go scan,
// and8 where it runs (AVX-512 on amd64) and match5 where it runs (the
// same, or its Go model elsewhere). It restores the default.
func scans(f func(scan string)) {
	defer func(v, w bool) { vectorScan, vectorSearch = v, w }(vectorScan, vectorSearch)
	vectorScan, vectorSearch = false, false
	f("go")
	if canVectorScan {
		vectorScan = true
		f("and8")
	}
	if canVectorSearch {
		vectorSearch = true
		f("match5")
	}
}

// checkSame fails t for every tuple on which the compiled matcher, the
// linear scan and the naive loop disagree (reporting at most a few).
func checkSame(t *testing.T, rules []MatchRule, tuples []Tuple) {
	t.Helper()
	m, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != len(rules) {
		t.Errorf("Len() = %d, want %d", m.Len(), len(rules))
	}
	checkPadding(t, m)
	l := NewLinear(rules)
	bad, matched, decided := 0, 0, map[int]bool{}
	for i := range tuples {
		tp := &tuples[i]
		want := naiveMatch(rules, tp)
		if want >= 0 {
			matched++
			decided[want] = true
		}
		lin := l.Match(tp)
		got, scan := want, ""
		scans(func(s string) {
			if g := m.Match(tp); g != want && got == want {
				got, scan = g, s
			}
		})
		if m.kern.ok {
			if g := match5Go(&m.kern, tp); g != want && got == want {
				got, scan = g, "match5Go"
			}
		}
		if got == want && lin == want {
			continue
		}
		t.Errorf("tuple %d %+v: compiled %d (%s scan), linear %d, naive %d", i, *tp, got, scan, lin, want)
		if want >= 0 {
			t.Logf("  naive rule %d: %+v", want, rules[want])
		}
		if got >= 0 {
			t.Logf("  compiled rule %d: %+v", got, rules[got])
		}
		if bad++; bad == 5 {
			t.Fatalf("too many mismatches")
		}
	}
	t.Logf("%d rules: %d of %d tuples match one of %d rules", len(rules), matched, len(tuples), len(decided))
}

// checkPadding checks the invariants that let dim.lookup read starts and
// Match read words without bounds checks: every probe of every search stays
// in starts and rows, and every row's words in words.
func checkPadding(t *testing.T, m *Matcher) {
	t.Helper()
	for _, d := range []*dim{&m.src, &m.dst, &m.sport, &m.dport} {
		last := slices.Max(d.first) + max(2*d.half, 1) - 1
		if int(last) >= len(d.starts) || int(last) >= len(d.rows) {
			t.Fatalf("a search may probe index %d of %d starts, %d rows", last, len(d.starts), len(d.rows))
		}
		// Match reads the words of every row without bounds checks.
		for _, r := range d.rows {
			if int(r)+m.sum+m.nw > len(m.words) {
				t.Fatalf("row at %d has %d+%d words past it of %d", r, m.sum, m.nw, len(m.words))
			}
		}
	}
	for p, r := range m.proto {
		if int(r)+m.sum+m.nw > len(m.words) {
			t.Fatalf("protocol %d: row at %d has %d+%d words past it of %d", p, r, m.sum, m.nw, len(m.words))
		}
	}
}

func TestMatcherRandom(t *testing.T) {
	for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 500, 1000, 2049, 4097} {
		for seed := range uint64(3) {
			t.Run(fmt.Sprintf("rules=%d/seed=%d", n, seed), func(t *testing.T) {
				g := newRuleGen(seed*1000 + uint64(n))
				rules := g.rules(n)
				tuples := g.edgeTuples(rules)
				for range 2000 {
					tuples = append(tuples, g.tuple())
				}
				tuples = append(tuples, RandomTuples(rules, 2000, seed)...)
				checkSame(t, rules, tuples)
			})
		}
	}
}

// TestMatcherShapes covers rule sets whose shape the random ones reach
// only by luck.
func TestMatcherShapes(t *testing.T) {
	const top = math.MaxUint32
	full := Tuple{Src: top, Dst: top, SrcPort: math.MaxUint16, DstPort: math.MaxUint16, Proto: 255}
	tests := []struct {
		name  string
		rules []MatchRule
	}{
		{"any", []MatchRule{{Src: AnyAddr, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true}}},
		{"empty sets", []MatchRule{
			{Src: nil, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true},
			{Src: AnyAddr, Dst: []Range32{{5, 4}}, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true},
			{Src: AnyAddr, Dst: AnyAddr, SrcPort: PortRange{2, 1}, DstPort: AnyPort, AnyProto: true},
		}},
		{"edges", []MatchRule{
			{Src: []Range32{{top, top}}, Dst: []Range32{{0, 0}}, SrcPort: PortRange{65535, 65535}, DstPort: PortRange{0, 0}, Proto: 255},
			{Src: []Range32{{0, 0}}, Dst: []Range32{{top, top}}, SrcPort: PortRange{0, 0}, DstPort: PortRange{65535, 65535}, Proto: 0},
			{Src: []Range32{{1, top - 1}}, Dst: AnyAddr, SrcPort: PortRange{1, 65534}, DstPort: AnyPort, AnyProto: true},
		}},
		{"overlapping union", []MatchRule{
			{Src: []Range32{{10, 20}, {15, 30}, {31, 31}, {0, 5}, {top - 1, top}, {40, 39}}, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, Proto: ProtoTCP},
		}},
		{"complement", []MatchRule{
			{Src: []Range32{{0, 0x0a000000 - 1}, {0x0b000000, top}}, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true},
		}},
		{"all protos", func() []MatchRule {
			var rs []MatchRule
			for p := 255; p >= 0; p-- {
				rs = append(rs, MatchRule{Src: AnyAddr, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, Proto: uint8(p)})
			}
			return rs
		}()},
		{"many points", func() []MatchRule {
			// Thousands of intervals in one bucket: the search takes its
			// longest path.
			var rs []MatchRule
			for i := range uint32(1500) {
				rs = append(rs, MatchRule{Src: []Range32{{0x0a000000 + 2*i, 0x0a000000 + 2*i}}, Dst: AnyAddr,
					SrcPort: PortRange{uint16(i), uint16(i)}, DstPort: AnyPort, AnyProto: true})
			}
			return rs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRuleGen(1)
			tuples := append(g.edgeTuples(tt.rules), Tuple{}, full)
			for range 1000 {
				tuples = append(tuples, g.tuple())
			}
			checkSame(t, tt.rules, tuples)
		})
	}
}

func TestMatcherEmpty(t *testing.T) {
	for _, rules := range [][]MatchRule{nil, {}} {
		m, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		if m.Len() != 0 {
			t.Errorf("Len() = %d, want 0", m.Len())
		}
		for _, tp := range append(RandomTuples(nil, 100, 1), Tuple{}, Tuple{Src: math.MaxUint32, Dst: math.MaxUint32,
			SrcPort: math.MaxUint16, DstPort: math.MaxUint16, Proto: 255}) {
			scans(func(scan string) {
				if got := m.Match(&tp); got != -1 {
					t.Fatalf("%s scan: Match(%+v) = %d with no rules, want -1", scan, tp, got)
				}
			})
		}
	}
}

// TestMatcherClassBenchFixture compares the compiled matcher with the
// linear scan on the ClassBench fixture every clone holds: the first 100,
// 250 and 500 rules of fw1 over the fixture trace and over headers drawn
// around the rules.
func TestMatcherClassBenchFixture(t *testing.T) {
	all, trace := loadFixture(t)
	for _, n := range []int{100, 250, 500} {
		t.Run(fmt.Sprintf("set=fw1-fixture/rules=%d", n), func(t *testing.T) {
			compareClassBench(t, all[:n], []classBenchHeaders{
				{"fixture trace", trace},
				{"random", RandomTuples(all[:n], 1<<14, uint64(n))},
			})
		})
	}
}

// TestMatcherClassBench does the same on the full sets when they are
// present (classbenchDir), at 100, 250, 500 and all rules, over the acl1
// trace.
func TestMatcherClassBench(t *testing.T) {
	dir := classbenchDir(t)
	trace := loadClassBenchTrace(t, dir, acl1Trace)
	for _, set := range classbenchSets {
		all := loadClassBenchRules(t, dir, set.file)
		for _, n := range []int{100, 250, 500, len(all)} {
			t.Run(fmt.Sprintf("set=%s/rules=%d", set.name, n), func(t *testing.T) {
				compareClassBench(t, all[:n], []classBenchHeaders{
					{"acl1 trace", trace},
					{"random", RandomTuples(all[:n], 1<<14, uint64(n))},
				})
			})
		}
	}
}

// classBenchHeaders is a named list of headers to classify.
type classBenchHeaders struct {
	name string
	hs   []Tuple
}

// compareClassBench fails t for every header on which the compiled matcher
// of rules, with each scan, disagrees with the linear scan.
func compareClassBench(t *testing.T, rules []MatchRule, headers []classBenchHeaders) {
	t.Helper()
	m, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLinear(rules)
	for _, x := range headers {
		name, hs := x.name, x.hs
		want := make([]int, len(hs)) // the linear scan's, once for every scan
		for i := range hs {
			want[i] = l.Match(&hs[i])
		}
		scans(func(scan string) {
			bad, matched := 0, 0
			for i := range hs {
				got, want := m.Match(&hs[i]), want[i]
				if want >= 0 {
					matched++
				}
				if got != want {
					if bad++; bad <= 5 {
						t.Errorf("%s, %s scan, header %d %+v: compiled %d, linear %d", name, scan, i, hs[i], got, want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%s, %s scan: %d of %d headers differ", name, scan, bad, len(hs))
			}
			t.Logf("%s, %s scan: %d of %d headers match a rule", name, scan, matched, len(hs))
		})
	}
}

// matcherMemoryLimit bounds the compiled size of 500 ClassBench rules.
const matcherMemoryLimit = 256 << 10

// TestMatcherMemoryFixture bounds the compiled size of the fixture's 500
// rules; TestMatcherMemory does the same for the first 500 of each full set.
func TestMatcherMemoryFixture(t *testing.T) {
	rules, _ := loadFixture(t)
	checkMatcherMemory(t, "fw1-fixture", rules)
}

func TestMatcherMemory(t *testing.T) {
	dir := classbenchDir(t)
	for _, set := range classbenchSets {
		checkMatcherMemory(t, set.name, loadClassBenchRules(t, dir, set.file)[:500])
	}
}

func checkMatcherMemory(t *testing.T, set string, rules []MatchRule) {
	t.Helper()
	m, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	size := m.MemoryBytes()
	t.Logf("set=%s rules=%d: MemoryBytes %d (%.1f KiB)", set, len(rules), size, float64(size)/1024)
	if size > matcherMemoryLimit {
		t.Errorf("set=%s rules=%d: MemoryBytes %d, want at most %d", set, len(rules), size, matcherMemoryLimit)
	}
}

var matchSink int

// TestMatcherAllocs checks that Match never allocates, for header kinds
// that take different paths: a hit on the first rule, a late hit, a miss.
func TestMatcherAllocs(t *testing.T) {
	g := newRuleGen(7)
	for _, n := range []int{0, 1, 65, 1000} {
		rules := g.rules(n)
		m, err := Compile(rules)
		if err != nil {
			t.Fatal(err)
		}
		tuples := append(g.edgeTuples(rules), RandomTuples(rules, 100, 7)...)
		tuples = append(tuples, Tuple{}, g.tuple())
		scans(func(scan string) {
			i := 0
			allocs := testing.AllocsPerRun(1000, func() {
				matchSink += m.Match(&tuples[i%len(tuples)])
				i++
			})
			if allocs != 0 {
				t.Errorf("rules=%d, %s scan: Match allocates %v times per call, want 0", n, scan, allocs)
			}
		})
	}
}

// TestAnd8 checks the word scan Match uses (and8: AVX-512 on amd64) on its
// own: every word count, every answer bit, and set bits past word nw, which
// must be ignored.
func TestAnd8(t *testing.T) {
	if !canVectorScan {
		t.Skip("no vector scan on this machine")
	}
	ref := func(rows *[5][8]uint64, nw int) int {
		for k := range nw {
			if x := rows[0][k] & rows[1][k] & rows[2][k] & rows[3][k] & rows[4][k]; x != 0 {
				return k<<6 + bits.TrailingZeros64(x)
			}
		}
		return -1
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for nw := 0; nw <= scanWords; nw++ {
		for trial := range 2000 {
			var rows [5][8]uint64
			for r := range rows {
				for k := range rows[r] {
					// Dense rows early on, sparse ones later, so that both
					// early and late answers (and none) occur.
					rows[r][k] = rng.Uint64()
					if trial%2 == 1 {
						rows[r][k] &= rng.Uint64() & rng.Uint64()
					}
				}
			}
			if trial%7 == 0 { // one common bit, anywhere
				for r := range rows {
					clear(rows[r][:])
				}
				k, bit := rng.IntN(8), rng.IntN(64)
				for r := range rows {
					rows[r][k] = 1 << bit
				}
			}
			p := func(r int) unsafe.Pointer { return unsafe.Pointer(&rows[r][0]) }
			if got, want := and8(p(0), p(1), p(2), p(3), p(4), nw), ref(&rows, nw); got != want {
				t.Fatalf("nw=%d trial %d: and8 = %d, want %d (rows %x)", nw, trial, got, want, rows)
			}
		}
	}
}

// TestKernelLayout checks the offsets match5's assembly reads the kernel
// and the tuple at.
func TestKernelLayout(t *testing.T) {
	var k kernel
	var tp Tuple
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"words", unsafe.Offsetof(k.words), 0},
		{"proto", unsafe.Offsetof(k.proto), 8},
		{"nwMask", unsafe.Offsetof(k.nwMask), 16},
		{"d", unsafe.Offsetof(k.d), 24},
		{"kdim size", unsafe.Sizeof(k.d[0]), 32},
		{"first", unsafe.Offsetof(k.d[0].first), 0},
		{"starts", unsafe.Offsetof(k.d[0].starts), 8},
		{"rows", unsafe.Offsetof(k.d[0].rows), 16},
		{"shift", unsafe.Offsetof(k.d[0].shift), 24},
		{"Tuple.Src", unsafe.Offsetof(tp.Src), 0},
		{"Tuple.Dst", unsafe.Offsetof(tp.Dst), 4},
		{"Tuple.SrcPort", unsafe.Offsetof(tp.SrcPort), 8},
		{"Tuple.DstPort", unsafe.Offsetof(tp.DstPort), 10},
		{"Tuple.Proto", unsafe.Offsetof(tp.Proto), 12},
	} {
		if c.got != c.want {
			t.Errorf("%s at %d, match5 reads it at %d", c.name, c.got, c.want)
		}
	}
}

// TestMatcherKernelApplies checks that match5 serves the ClassBench fixture
// at 1 to 1,000 rules (so that the differential tests exercise it) and not
// a set whose intervals crowd one bucket beyond searchWidth, nor one of
// more than kernelWords words.
func TestMatcherKernelApplies(t *testing.T) {
	all, _ := loadFixture(t)
	for _, n := range []int{1, 100, 250, 500} {
		if m, err := Compile(all[:n]); err != nil || !m.kern.ok {
			t.Errorf("fw1 fixture, %d rules: kernel ok = %v (err %v), want true", n, m.kern.ok, err)
		}
	}
	// The ends of every field, where match5 counts the padding (a start
	// of MaxUint32 is at most x = MaxUint32).
	var ends []Tuple
	for _, a := range []uint32{0, 1, math.MaxUint32 - 1, math.MaxUint32} {
		for _, p := range []uint16{0, 65535} {
			ends = append(ends, Tuple{Src: a, Dst: a, SrcPort: p, DstPort: p, Proto: uint8(p)},
				Tuple{Src: a, Dst: ^a, SrcPort: p, DstPort: ^p, Proto: 6})
		}
	}
	checkSame(t, all, ends)
	// 200 single addresses 0..199: one bucket of 201 intervals.
	var crowded []MatchRule
	for i := range uint32(200) {
		crowded = append(crowded, MatchRule{Src: []Range32{{i, i}}, Dst: []Range32{{0, math.MaxUint32}},
			SrcPort: PortRange{0, 65535}, DstPort: PortRange{0, 65535}, AnyProto: true})
	}
	m, err := Compile(crowded)
	if err != nil {
		t.Fatal(err)
	}
	if m.kern.ok {
		t.Errorf("200 crowded addresses: kernel ok, want not (src half %d)", m.src.half)
	}
	checkSame(t, crowded, []Tuple{{Src: 0}, {Src: 150}, {Src: 199}, {Src: 200}, {Src: math.MaxUint32}})
	// 500 single destination ports: at most 16 in a bucket of 16 ports,
	// which a port's search covers.
	var ports []MatchRule
	var tuples []Tuple
	for i := range uint16(500) {
		ports = append(ports, MatchRule{Src: []Range32{{0, math.MaxUint32}}, Dst: []Range32{{0, math.MaxUint32}},
			SrcPort: PortRange{0, 65535}, DstPort: PortRange{i, i}, AnyProto: true})
		tuples = append(tuples, Tuple{DstPort: i}, Tuple{DstPort: 65535 - i})
	}
	if m, err := Compile(ports); err != nil || !m.kern.ok {
		t.Errorf("500 single ports: kernel ok = %v (err %v), want true", m.kern.ok, err)
	}
	checkSame(t, ports, tuples)
	big := slices.Concat(all, all) // 1,000 rules: 16 words
	if m, err := Compile(big); err != nil || !m.kern.ok {
		t.Errorf("%d rules: kernel ok = %v (err %v), want true", len(big), m.kern.ok, err)
	}
	big = slices.Concat(big, all[:25]) // 1,025 rules: 17 words
	if m, err := Compile(big); err != nil || m.kern.ok {
		t.Errorf("%d rules: kernel ok = %v (err %v), want not (more than %d words)", len(big), m.kern.ok, err, kernelWords)
	}
}
