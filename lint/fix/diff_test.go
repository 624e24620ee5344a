package fix

import (
	"fmt"
	"github.com/vpclab/vpclab/lint"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// bruteRemovals finds, rule by rule in file order, rules whose removal
// (together with the ones already found) changes no verdict on any NIC of
// the rule's group, in the rule's direction, on the headers the final
// comparison uses: a slow stand-in for the lint engine that is obviously
// right on those headers, so that a difference the final comparison finds
// is the rewrite's.
func bruteRemovals(t testing.TB, topo *topology.Topology, random int) []Removal {
	t.Helper()
	orig := compiled(t, topo)
	tuples := testHeaders(orig, nicNames(topo), random)
	gone := map[Removal]bool{}
	var out []Removal
	for gi := range topo.SecurityGroups {
		g := &topo.SecurityGroups[gi]
		members := orig.Members(g.Name)
		for j := range g.Rules {
			r := Removal{g.Name, j}
			gone[r] = true
			fw := compiled(t, without(topo, gone))
			dir, _ := firewall.ParseDirection(g.Rules[j].Direction)
			if n, _ := diffDirs(orig, fw, members, []firewall.Direction{dir}, tuples, true); n == 0 {
				out = append(out, r)
			} else {
				delete(gone, r)
			}
			fw.Close()
		}
	}
	return out
}

// without is topo with the rules in gone left out.
func without(topo *topology.Topology, gone map[Removal]bool) *topology.Topology {
	c := *topo
	c.SecurityGroups = slices.Clone(topo.SecurityGroups)
	for gi := range c.SecurityGroups {
		g := &c.SecurityGroups[gi]
		var rs []topology.Rule
		for j, r := range g.Rules {
			if !gone[Removal{g.Name, j}] {
				rs = append(rs, r)
			}
		}
		g.Rules = rs
	}
	return &c
}

// engineRemovals is what vpclab lint --fix removes: the rules lint's exact
// analysis reports redundant on every NIC of their group (Report.Redundant).
func engineRemovals(t testing.TB, topo *topology.Topology) []Removal {
	t.Helper()
	rep, err := lint.Run(topo, lint.Options{})
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	var rm []Removal
	for g, idx := range rep.Redundant {
		for _, i := range idx {
			rm = append(rm, Removal{Group: g, Index: i})
		}
	}
	return rm
}

// checkFix removes what lint's engine finds redundant and merges, loads the
// result and compares every NIC's verdicts with the original's on every
// corner header and random ones. (bruteRemovals, the engine-free search the
// rewriter was first tested with, stays as a cross-check in
// TestEngineFindsBruteRemovals.)
func checkFix(t *testing.T, path string, data []byte, topo *topology.Topology, random int) *Report {
	t.Helper()
	if raceEnabled {
		random /= 10 // the same corners; fewer random headers under -race
	}
	rm := engineRemovals(t, topo)
	out, rep, err := Fix(data, topo, rm)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	nt, err := topology.Load(path, out)
	if err != nil {
		t.Fatalf("%s: rewritten file does not load: %v\n%s", path, err, out)
	}
	sameVerdicts(t, topo, nt, random)
	if t.Failed() {
		t.Logf("removals %v\n%s", rm, out)
	}
	return rep
}

func TestFixExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, topo := loadFile(t, f)
			checkFix(t, f, data, topo, 100_000)
		})
	}
}

func TestFixGenerated(t *testing.T) {
	cb := classBench(t)
	seeds := 10
	if testing.Short() {
		seeds = 3
	}
	saved := 0
	for seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			data := generate(uint64(seed), cb)
			path := fmt.Sprintf("gen-%d.yaml", seed)
			topo, err := topology.Load(path, data)
			if err != nil {
				t.Fatalf("generated file does not load: %v\n%s", err, data)
			}
			rep := checkFix(t, path, data, topo, 100_000)
			var b strings.Builder
			WriteReport(&b, rep)
			t.Log(b.String())
			for _, g := range rep.Groups {
				saved += g.Saved
			}
		})
	}
	if saved == 0 {
		t.Error("no generated file saved a rule: the test checks nothing")
	}
}

func classBench(t testing.TB) []firewall.MatchRule {
	t.Helper()
	f, err := os.Open("../../firewall/testdata/classbench/fw1_500.rules")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := firewall.ParseClassBenchRules(f)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// prefixOf is the CIDR a ClassBench address range was written as.
func prefixOf(r firewall.Range32) (netip.Prefix, bool) {
	size := uint64(r.Hi) - uint64(r.Lo) + 1
	if size&(size-1) != 0 || uint64(r.Lo)%size != 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(firewall.U32ToAddr(r.Lo), 32-bits.TrailingZeros64(size)), true
}

// generate writes a topology with ClassBench-shaped rules: a few groups,
// block and flow style, with comments, rules split into halves, adjacent
// port ranges and duplicates, group references and overlapping
// memberships.
func generate(seed uint64, cb []firewall.MatchRule) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var b strings.Builder
	fmt.Fprintf(&b, "# generated, seed %d\nversion: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches:\n  - {name: vsw, cidr: 10.0.0.0/24}\nsecurity_groups:\n", seed)
	groups := 2 + rng.IntN(3)
	for g := range groups {
		basic := "basic"
		inner := []string{"accept", "drop"}[rng.IntN(2)]
		fmt.Fprintf(&b, "  - name: sg-%d # group %d\n    type: %s\n    inner_access: %s\n", g, g, basic, inner)
		flow := rng.IntN(3) == 0
		var rules []string
		n := 3 + rng.IntN(10)
		for range n {
			m := cb[rng.IntN(len(cb))]
			r := ruleFrom(rng, m, g, groups)
			if r == nil {
				continue
			}
			rules = append(rules, r.text())
			switch rng.IntN(8) {
			case 0: // a duplicate, later
				rules = append(rules, r.text())
			case 1: // the other half of the remote CIDR
				if r.remote.Bits() > 0 && r.group == "" {
					h := *r
					h.remote = sibling(r.remote)
					rules = append(rules, h.text())
				}
			case 2: // the next ports
				if r.ports[0] >= 1 && r.ports[1] < 65000 {
					h := *r
					h.ports = [2]int{r.ports[1] + 1, r.ports[1] + 1 + rng.IntN(50)}
					rules = append(rules, h.text())
				}
			case 4, 5: // the next CIDR or ports, but another policy or priority: must not merge
				h := *r
				if rng.IntN(2) == 0 {
					h.policy = map[string]string{"accept": "drop", "drop": "accept"}[r.policy]
				} else {
					h.prio = r.prio%3 + 1
				}
				if r.remote.Bits() > 0 && r.group == "" {
					h.remote = sibling(r.remote)
				}
				rules = append(rules, h.text())
			case 3: // an overlapping source port range
				if r.sports[0] >= 1 && r.sports[1] < 65000 {
					h := *r
					h.sports = [2]int{r.sports[0] + 1, r.sports[1] + 10}
					rules = append(rules, h.text())
				}
			}
		}
		if len(rules) == 0 {
			continue
		}
		if flow {
			fmt.Fprintf(&b, "    rules: [%s]\n", strings.Join(rules, ", "))
			continue
		}
		b.WriteString("    rules:\n")
		for i, r := range rules {
			if rng.IntN(4) == 0 {
				fmt.Fprintf(&b, "      # rule %d\n", i)
			}
			fmt.Fprintf(&b, "      - %s\n", r)
			if rng.IntN(5) == 0 {
				b.WriteString("\n")
			}
		}
	}
	b.WriteString("instances:\n")
	for i := range 3 + rng.IntN(5) {
		k := 1 + rng.IntN(min(3, groups))
		perm := rng.Perm(groups)[:k]
		var gs []string
		for _, g := range perm {
			gs = append(gs, fmt.Sprintf("sg-%d", g))
		}
		fmt.Fprintf(&b, "  - {name: vm-%d, vswitch: vsw, security_groups: [%s]}\n", i, strings.Join(gs, ", "))
	}
	return []byte(b.String())
}

type genRule struct {
	dir, policy, proto string
	prio               int
	ports, sports      [2]int // 0 0: not written
	remote             netip.Prefix
	group              string
}

func (r *genRule) text() string {
	var f []string
	f = append(f, "direction: "+r.dir, "policy: "+r.policy, fmt.Sprintf("priority: %d", r.prio), "protocol: "+r.proto)
	if r.ports[0] != 0 {
		f = append(f, fmt.Sprintf("port_range: %d/%d", r.ports[0], r.ports[1]))
	}
	side := "source"
	if r.dir == "egress" {
		side = "destination"
	}
	if r.group != "" {
		f = append(f, side+"_group: "+r.group)
	} else {
		f = append(f, side+": "+r.remote.String())
	}
	if r.sports[0] != 0 {
		f = append(f, fmt.Sprintf("source_port_range: %d/%d", r.sports[0], r.sports[1]))
	}
	return "{" + strings.Join(f, ", ") + "}"
}

func ruleFrom(rng *rand.Rand, m firewall.MatchRule, g, groups int) *genRule {
	r := &genRule{dir: "ingress", policy: "accept", prio: 1 + rng.IntN(3)}
	if rng.IntN(3) == 0 {
		r.dir = "egress"
	}
	if rng.IntN(4) == 0 {
		r.policy = "drop"
	}
	remote := m.Src
	if r.dir == "egress" {
		remote = m.Dst
	}
	if len(remote) == 0 {
		return nil
	}
	p, ok := prefixOf(remote[0])
	if !ok {
		return nil
	}
	// Put a third of the remotes inside the VPC, where the NICs are.
	if rng.IntN(3) == 0 && p.Bits() >= 16 {
		a := p.Addr().As4()
		p = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, a[3]}), max(p.Bits(), 24)).Masked()
	}
	r.remote = p
	if rng.IntN(8) == 0 && groups > 1 {
		r.group = fmt.Sprintf("sg-%d", (g+1+rng.IntN(groups-1))%groups)
	}
	switch {
	case m.AnyProto:
		r.proto = "all"
	case m.Proto == firewall.ProtoTCP, m.Proto == firewall.ProtoUDP:
		r.proto = map[uint8]string{firewall.ProtoTCP: "tcp", firewall.ProtoUDP: "udp"}[m.Proto]
		r.ports = [2]int{max(1, int(m.DstPort.Lo)), max(1, int(m.DstPort.Hi))}
		if m.SrcPort.Lo > 0 || m.SrcPort.Hi < 65535 {
			r.sports = [2]int{max(1, int(m.SrcPort.Lo)), max(1, int(m.SrcPort.Hi))}
		}
	case m.Proto == firewall.ProtoICMP:
		r.proto = "icmp"
	default:
		r.proto = "gre"
	}
	return r
}

func sibling(p netip.Prefix) netip.Prefix {
	a := p.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v ^= 1 << (32 - p.Bits())
	return netip.PrefixFrom(firewall.U32ToAddr(v), p.Bits())
}

// TestEngineFindsBruteRemovals: every rule the engine-free search can remove
// one at a time on a small generated file, lint's exact analysis finds too
// (lint may find more: it removes rules together, and judges each against
// the others kept).
func TestEngineFindsBruteRemovals(t *testing.T) {
	cb := classBench(t)
	data := generate(1, cb)
	topo, err := topology.Load("gen-1.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	random := 20_000
	if raceEnabled {
		random = 2_000
	}
	engine := map[Removal]bool{}
	for _, r := range engineRemovals(t, topo) {
		engine[r] = true
	}
	brute := bruteRemovals(t, topo, random)
	if len(brute) == 0 {
		t.Fatal("the brute-force search removed nothing: the test checks nothing")
	}
	found := 0
	for _, r := range brute {
		if engine[r] {
			found++
		}
	}
	t.Logf("brute force: %d removals, lint: %d, in both: %d", len(brute), len(engine), found)
	if found == 0 {
		t.Error("lint found none of the rules the brute-force search removes")
	}
}
