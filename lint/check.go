package lint

import (
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// Run lints a loaded topology: the state its file describes.
func Run(t *topology.Topology, opts Options) (*Report, error) {
	return Check(t, FileState(t), opts)
}

// group is one group of the state with what lint knows of it.
type group struct {
	g       firewall.Group // as the firewall holds it: system rules first in default, identical rules once
	file    *topology.SecurityGroup
	path    string    // "security_groups[i]", or "" when the file does not declare it
	refs    []RuleRef // per rule of g
	members []string
	refd    bool // a rule of some group references it
}

// checker holds one Check.
type checker struct {
	t      *topology.Topology
	st     State
	fw     *firewall.Firewall
	groups map[string]*group
	order  []string // group names, sorted
	rep    *Report
	rules  map[RuleID]*verdicts
	// conflicts seen, by the two rules, with the NICs they conflict on
	conflicts map[[2]RuleID]*conflict
	dups      map[string]int // per group, the file's rules the firewall holds once (not counted by the quota)
	nicJobs   []*analysis    // the distinct analyses of the NICs
}

// verdicts collect, for one rule, what the analysis said on each NIC.
type verdicts struct {
	redundantOn, neededOn []string
	cause                 firewall.EntryAnalysis // first redundant analysis
	causeBy               []RuleRef
	causeNIC              string
	witness               firewall.EntryAnalysis // first non-redundant analysis
	witnessNIC            string
	dir                   firewall.Direction
	seenRedundant, seen   bool
}

type conflict struct {
	accept, drop RuleID
	nics         []string
}

// Check lints st, a state of the topology t (t gives names, positions and
// origins of the rules the file holds).
func Check(t *topology.Topology, st State, opts Options) (*Report, error) {
	fw, err := st.build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.File, err)
	}
	defer fw.Close()
	c := &checker{t: t, st: st, fw: fw, groups: map[string]*group{}, rep: &Report{File: t.File, Findings: []Finding{}, Redundant: map[string][]int{}, why: map[whyKey]*Why{}},
		rules: map[RuleID]*verdicts{}, conflicts: map[[2]RuleID]*conflict{}, dups: map[string]int{}}
	c.index()
	if err := c.analyzeNICs(); err != nil {
		return nil, err
	}
	if err := c.analyzeAlone(); err != nil {
		return nil, err
	}
	together, err := c.settle()
	if err != nil {
		return nil, err
	}
	c.redundancy(together)
	c.risky()
	c.conflictFindings()
	if opts.Hits != nil {
		c.neverMatched(opts.Hits)
	}
	sortFindings(c.rep.Findings)
	for g, idx := range c.rep.Redundant {
		slices.Sort(idx)
		c.rep.Redundant[g] = slices.Compact(idx)
	}
	return c.rep, nil
}

// index learns every group: its rules as the firewall holds them, where the
// file gives each, its members and whether a rule references it. It also
// reports the file's duplicate rules, which the firewall holds once.
func (c *checker) index() {
	c.order = c.fw.Groups()
	for _, name := range c.order {
		fg, _ := c.fw.Group(name)
		g := &group{g: fg, members: c.fw.Members(name)}
		for i := range c.t.SecurityGroups {
			if c.t.SecurityGroups[i].Name == name {
				g.file, g.path = &c.t.SecurityGroups[i], fmt.Sprintf("security_groups[%d]", i)
				break
			}
		}
		first := map[firewall.Rule]int{} // identity → first file index
		if g.file != nil {
			fr := g.file.Firewall().Rules
			for j, r := range fr {
				k := identity(r)
				if j0, ok := first[k]; ok {
					c.duplicate(g, j, j0, &r, &fr[j0])
					continue
				}
				first[k] = j
			}
		}
		g.refs = make([]RuleRef, len(fg.Rules))
		for k := range fg.Rules {
			r := &fg.Rules[k]
			g.refs[k] = RuleRef{Group: name, Kind: KindRuntime, Index: -1, Text: r.String()}
			if r.IsSystem() {
				g.refs[k].Kind = KindSystem
				continue
			}
			if j, ok := first[identity(*r)]; ok {
				g.refs[k] = c.fileRef(g, j, r)
			}
		}
		c.groups[name] = g
	}
	for _, g := range c.groups {
		for _, r := range g.g.Rules {
			if ref, ok := c.groups[r.RemoteGroup]; ok && r.RemoteGroup != g.g.Name {
				ref.refd = true
			}
		}
	}
}

// fileRef names rule j of the file's group g.
func (c *checker) fileRef(g *group, j int, r *firewall.Rule) RuleRef {
	p := c.t.Pos(fmt.Sprintf("%s.rules[%d]", g.path, j))
	ref := RuleRef{Group: g.g.Name, Kind: KindRule, Index: j, Text: r.String(), File: c.t.File, Line: p.Line, Column: p.Column}
	o := g.file.Rules[j].Origin
	if o.IsZero() {
		o = g.file.Origin
	}
	if !o.IsZero() {
		ref.Origin = &o
	}
	return ref
}

// groupPos places a group finding.
func (c *checker) groupPos(g *group, f *Finding) {
	f.File = c.t.File
	if g.path != "" {
		p := c.t.Pos(g.path)
		f.Line, f.Column = p.Line, p.Column
	}
}

// add appends a finding about rule ref (nil: about the group g).
func (c *checker) add(f Finding, g *group, ref *RuleRef) {
	f.Group = g.g.Name
	if ref != nil && ref.Line > 0 {
		r := *ref
		f.Rule = &r
		f.File, f.Line, f.Column = ref.File, ref.Line, ref.Column
	} else {
		if ref != nil {
			r := *ref
			f.Rule = &r
		}
		c.groupPos(g, &f)
	}
	c.rep.Findings = append(c.rep.Findings, f)
}

func (c *checker) duplicate(g *group, j, j0 int, r, r0 *firewall.Rule) {
	ref, by := c.fileRef(g, j, r), c.fileRef(g, j0, r0)
	c.add(Finding{Code: CodeDuplicate, Severity: SeverityWarning, By: []RuleRef{by},
		Message: fmt.Sprintf("rule %d repeats rule %d (description, managed_by and nic_type aside): the cloud holds it once", j, j0),
		Fix:     fmt.Sprintf("delete rule %d of %s", j, g.g.Name)}, g, &ref)
	c.rep.Redundant[g.g.Name] = append(c.rep.Redundant[g.g.Name], j)
	c.dups[g.g.Name]++
	c.rep.why[whyKey{g.g.Name, j}] = &Why{Rule: ref, Redundant: true, Cause: CodeDuplicate, By: []RuleRef{by}}
}

// policyKey identifies one analysis: NICs with the same compiled policy and
// the same set of entries whose local side holds their address give the
// same answer.
type policyKey struct {
	p   *firewall.Policy
	sig string
}

// analysis is one problem (a policy and the NIC address it is seen from)
// and its answer.
type analysis struct {
	p         *firewall.Policy
	addr      netip.Addr
	nic       string // the first NIC it was asked for, for errors
	res       []firewall.EntryAnalysis
	conflicts [][2]int // entry pairs (accept, drop)
	err       error
}

// localSig lists the entries whose instance-side addresses (ingress: the
// destination, egress: the source) hold addr.
func localSig(p *firewall.Policy, addr netip.Addr) string {
	a, ok := firewall.AddrToU32(addr)
	if !ok {
		return ""
	}
	b := make([]byte, (len(p.Entries)+7)/8)
	for i := range p.Entries {
		m := &p.Entries[i].Match
		side := m.Dst
		if p.Dir == firewall.Egress {
			side = m.Src
		}
		for _, r := range side {
			if a >= r.Lo && a <= r.Hi {
				b[i/8] |= 1 << (i % 8)
				break
			}
		}
	}
	return string(b)
}

// analyzeNICs analyses both decision lists of every NIC: each distinct
// problem once, the problems in parallel (one worker per CPU), then the
// answers recorded NIC by NIC.
func (c *checker) analyzeNICs() error {
	cache := map[policyKey]*analysis{}
	type use struct {
		a   *analysis
		p   *firewall.Policy
		nic string
	}
	var uses []use
	var jobs []*analysis
	for _, n := range c.st.NICs {
		nic, ok := c.fw.NIC(n.Name)
		if !ok || nic.Policy() == nil {
			continue
		}
		pol := nic.Policy()
		for _, p := range []*firewall.Policy{pol.Ingress, pol.Egress} {
			key := policyKey{p, localSig(p, nic.Addr())}
			a, ok := cache[key]
			if !ok {
				a = &analysis{p: p, addr: nic.Addr(), nic: n.Name}
				cache[key] = a
				jobs = append(jobs, a)
			}
			uses = append(uses, use{a, p, n.Name})
		}
	}
	if err := c.runAll(jobs, fixed, true); err != nil {
		return err
	}
	for _, u := range uses {
		c.record(u.a, u.p, u.nic)
	}
	c.nicJobs = jobs
	return nil
}

// settle returns the rules lint --fix may remove together. Each NIC's
// analysis gives a set of entries safe to remove at once, but a rule must
// go from every NIC of its group: where another rule of that NIC's set stays
// (it is needed elsewhere), a rule judged against its absence (NO_EFFECT)
// may be needed after all. So the set shrinks until every NIC, analysed
// with only the set's rules removable, removes all of them. Groups without
// members are analysed alone, on one NIC: their sets are safe as they are.
func (c *checker) settle() (map[RuleID]bool, error) {
	set := map[RuleID]bool{}
	for id, v := range c.rules {
		if v.seenRedundant && len(v.neededOn) == 0 && len(c.groups[id.Group].members) > 0 {
			set[id] = true
		}
	}
	// A NIC's answer depends only on which of its entries are in the set:
	// a round analyses again only the NICs one of whose entries left it.
	dirty := func(a *analysis, changed map[RuleID]bool) bool {
		for i := range a.p.Entries {
			if e := &a.p.Entries[i]; changed[RuleID{e.Group, e.Rule}] {
				return true
			}
		}
		return false
	}
	// The first round need not analyse a NIC whose first analysis reported
	// exactly its entries of the set: kept entries are judged nowhere and
	// stay in the list, the others go through the same forward and backward
	// passes, so keeping every entry it did not report gives the same answer
	// (each entry of the set reported, none needed). Every entry of the set
	// was reported by every NIC that holds it, so that NIC is one that
	// reported no entry outside the set.
	first := func(a *analysis) bool {
		for _, ea := range a.res {
			e := &a.p.Entries[ea.Entry]
			if ea.Cause != firewall.NotRedundant && !fixed(e) && !set[RuleID{e.Group, e.Rule}] {
				return true
			}
		}
		return false
	}
	// Nor need any round analyse a NIC whose rules of the set were all
	// found redundant by the forward pass (the earlier entries cover them):
	// that pass gives the same answer whichever entries are kept, as the
	// boxes before an entry cover the same packets either way.
	backward := func(a *analysis) bool {
		for _, ea := range a.res {
			e := &a.p.Entries[ea.Entry]
			if set[RuleID{e.Group, e.Rule}] && !fixed(e) && !forward(ea) {
				return true
			}
		}
		return false
	}
	changed := set
	for round := 0; len(set) > 0; round++ {
		var jobs []*analysis
		for _, a := range c.nicJobs {
			if backward(a) && (round == 0 && first(a) || round > 0 && dirty(a, changed)) {
				jobs = append(jobs, &analysis{p: a.p, addr: a.addr, nic: a.nic})
			}
		}
		keep := func(e *firewall.Entry) bool { return fixed(e) || !set[RuleID{e.Group, e.Rule}] }
		if err := c.runAll(jobs, keep, false); err != nil {
			return nil, err
		}
		next := maps.Clone(set)
		changed = map[RuleID]bool{}
		for _, a := range jobs {
			for _, ea := range a.res {
				e := &a.p.Entries[ea.Entry]
				if id := (RuleID{e.Group, e.Rule}); ea.Cause == firewall.NotRedundant && set[id] {
					delete(next, id)
					changed[id] = true
				}
			}
		}
		if len(changed) == 0 {
			break
		}
		set = next
	}
	return set, nil
}

// forward reports whether Analyze found the entry redundant in its forward
// pass: the entries before it cover it (By, if any, are earlier entries).
func forward(ea firewall.EntryAnalysis) bool {
	switch ea.Cause {
	case firewall.Shadowed, firewall.Duplicate:
		return true
	case firewall.CoveredByInnerAccept:
		return !ea.ByFallback && len(ea.By) > 0 && ea.By[len(ea.By)-1] < ea.Entry
	}
	return false
}

// runAll analyses jobs with one worker per CPU, keep naming the entries
// that stay; the first error wins. full asks for what findings need (the
// conflicts, By and witnesses as the file's order gives them); settle asks
// only which entries are redundant, which KeptAsIs answers faster.
func (c *checker) runAll(jobs []*analysis, keep func(*firewall.Entry) bool, full bool) error {
	next := make(chan *analysis)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for a := range next {
				flags := make([]bool, len(a.p.Entries))
				for i := range a.p.Entries {
					flags[i] = keep(&a.p.Entries[i])
				}
				a.res, a.err = a.p.Analyze(a.addr, firewall.AnalyzeOptions{Keep: flags, KeptAsIs: !full})
				if full {
					a.conflicts = conflicts(a.p, a.addr)
				}
			}
		})
	}
	for _, a := range jobs {
		next <- a
	}
	close(next)
	wg.Wait()
	for _, a := range jobs {
		if a.err != nil {
			return fmt.Errorf("%s: %s %s: %w", c.t.File, nicLabel(a.nic), a.p.Dir, a.err)
		}
	}
	return nil
}

// record adds what the analysis a says of policy p to the verdicts of the
// rules on nic.
func (c *checker) record(a *analysis, p *firewall.Policy, nic string) {
	for _, ea := range a.res {
		e := &p.Entries[ea.Entry]
		if e.Rule < 0 || e.R.IsSystem() {
			continue
		}
		id := RuleID{e.Group, e.Rule}
		v := c.rules[id]
		if v == nil {
			v = &verdicts{dir: p.Dir}
			c.rules[id] = v
		}
		v.seen = true
		if ea.Cause == firewall.NotRedundant {
			v.neededOn = append(v.neededOn, nic)
			if v.witnessNIC == "" && len(v.neededOn) == 1 {
				v.witness, v.witnessNIC = ea, nic
			}
			continue
		}
		v.redundantOn = append(v.redundantOn, nic)
		if !v.seenRedundant {
			v.seenRedundant = true
			v.cause, v.causeNIC = ea, nic
			for _, b := range ea.By {
				v.causeBy = append(v.causeBy, c.entryRef(&p.Entries[b]))
			}
		}
	}
	for _, pr := range a.conflicts {
		acc, drop := &p.Entries[pr[0]], &p.Entries[pr[1]]
		k := [2]RuleID{{acc.Group, acc.Rule}, {drop.Group, drop.Rule}}
		cf := c.conflicts[k]
		if cf == nil {
			cf = &conflict{accept: k[0], drop: k[1]}
			c.conflicts[k] = cf
		}
		cf.nics = append(cf.nics, nic)
	}
}

// fixed reports whether an entry is not the user's to remove: a system
// rule of the default group, or an intra-group entry.
func fixed(e *firewall.Entry) bool { return e.Rule < 0 || e.R.IsSystem() }

// entryRef names the rule (or intra-group entry) behind a policy entry.
func (c *checker) entryRef(e *firewall.Entry) RuleRef {
	g := c.groups[e.Group]
	if e.Rule >= 0 && g != nil && e.Rule < len(g.refs) {
		return g.refs[e.Rule]
	}
	text := "members of " + e.Group + " reach each other (inner_access accept)"
	if e.Code == firewall.SGInnerDrop {
		text = "members of " + e.Group + " do not reach each other (inner_access drop)"
	}
	return RuleRef{Group: e.Group, Kind: KindInner, Index: -1, Text: text}
}

// aloneNIC is the name of the NIC a group without members is analysed on.
const aloneNIC = "(group alone)"

func nicLabel(nic string) string {
	if nic == aloneNIC {
		return nic
	}
	return "instance " + nic
}

// analyzeAlone analyses every group without members as if it were the only
// group of one NIC: a firewall with the whole state and one more NIC.
func (c *checker) analyzeAlone() error {
	used := map[netip.Addr]bool{}
	for _, n := range c.st.NICs {
		used[n.Addr] = true
	}
	addr := netip.AddrFrom4([4]byte{100, 64, 0, 1})
	for used[addr] {
		addr = addr.Next()
	}
	for _, name := range c.order {
		g := c.groups[name]
		if len(g.members) > 0 {
			continue
		}
		fw, err := c.st.build(NIC{Name: aloneNIC, Addr: addr, Groups: []string{name}})
		if err != nil {
			return fmt.Errorf("%s: group %s alone: %w", c.t.File, name, err)
		}
		nic, _ := fw.NIC(aloneNIC)
		pol := nic.Policy()
		// No address: the instance side stays free, as for any member.
		jobs := []*analysis{{p: pol.Ingress, nic: aloneNIC}, {p: pol.Egress, nic: aloneNIC}}
		if err = c.runAll(jobs, fixed, true); err == nil {
			for _, a := range jobs {
				c.record(a, a.p, aloneNIC)
			}
		}
		fw.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// causeCode is the finding code of a redundancy cause.
func causeCode(ea firewall.EntryAnalysis) string {
	switch ea.Cause {
	case firewall.Duplicate:
		return CodeDuplicate
	case firewall.Shadowed:
		return CodeShadowed
	case firewall.CoveredByInnerAccept:
		return CodeCoveredByInnerAccept
	default:
		return CodeNoEffect
	}
}

// causeText says in a few words why a rule is redundant.
func causeText(code string, ea *firewall.EntryAnalysis) string {
	switch {
	case code == CodeShadowed && len(ea.By) == 0:
		return "it matches no packet the instance can send or receive (an empty group reference, or a local_cidr without the instance's address)"
	case code == CodeNoEffect && len(ea.By) == 0 && ea.ByFallback:
		return "it only repeats the implicit default"
	}
	switch code {
	case CodeDuplicate:
		return "an identical rule decides every packet it matches"
	case CodeShadowed:
		return "rules before it decide every packet it matches"
	case CodeCoveredByInnerAccept:
		return "it only matches members of a group that already accept each other"
	default:
		return "removing it changes no verdict: what follows it decides the same"
	}
}

// redundancy turns the per-NIC analyses into findings per group rule;
// together are the rules removable at once (settle).
func (c *checker) redundancy(together map[RuleID]bool) {
	for _, name := range c.order {
		g := c.groups[name]
		for k := range g.g.Rules {
			v := c.rules[RuleID{name, k}]
			if v == nil || g.g.Rules[k].IsSystem() {
				continue
			}
			ref := g.refs[k]
			w := &Why{Rule: ref, Direction: v.dir.String(), RedundantOn: v.redundantOn, NeededOn: v.neededOn}
			if len(v.neededOn) > 0 {
				w.NIC, w.Witness, w.With, w.Without = v.witnessNIC, witnessText(v.witness.Witness), v.witness.With.String(), v.witness.Without.String()
			}
			if v.seenRedundant {
				w.Cause, w.By = causeCode(v.cause), v.causeBy
				if len(v.neededOn) == 0 {
					w.Redundant, w.NIC = true, v.causeNIC
				}
			}
			if ref.Index >= 0 {
				if _, dup := c.rep.why[whyKey{name, ref.Index}]; !dup {
					c.rep.why[whyKey{name, ref.Index}] = w
				}
			}
			switch {
			case !v.seenRedundant:
			case len(v.neededOn) == 0:
				code := causeCode(v.cause)
				where := "on every instance of the group"
				if len(g.members) == 0 {
					where = "within the group alone (it has no members)"
				}
				fix := fmt.Sprintf("delete rule %d of %s (lint --fix does)", ref.Index, name)
				if ref.Index < 0 {
					fix = "revoke it (vpclab rule remove " + name + " with its fields)"
				}
				sev, msg := SeverityWarning, fmt.Sprintf("redundant %s: %s", where, causeText(code, &v.cause))
				alone := len(g.members) == 0
				if !alone && !together[RuleID{name, k}] {
					sev, msg = SeverityInfo, msg+"; but not together with the other redundant rules (one that stays changes its effect)"
					fix = "lint --fix keeps it; delete it by hand only after checking with lint again"
				}
				c.add(Finding{Code: code, Severity: sev, By: v.causeBy, Message: msg, Fix: fix}, g, &ref)
				if ref.Index >= 0 && (alone || together[RuleID{name, k}]) {
					c.rep.Redundant[name] = append(c.rep.Redundant[name], ref.Index)
				}
			default:
				code := causeCode(v.cause)
				c.add(Finding{Code: CodeRedundantOnSomeNICs, Severity: SeverityInfo, NICs: v.redundantOn, By: v.causeBy,
					Message: fmt.Sprintf("redundant on %s of the group's %d instances (%s: %s), needed on the others",
						count(len(v.redundantOn), "instance"), len(v.redundantOn)+len(v.neededOn), code, causeText(code, &v.cause)),
					Fix: fmt.Sprintf("keep it; or move it to a group only the instances that need it are in (%s)", strings.Join(v.neededOn, ", "))},
					g, &ref)
			}
		}
	}
}

func indexText(i int) string {
	if i < 0 {
		return "(added at runtime)"
	}
	return fmt.Sprint(i)
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// witnessText renders a packet.
func witnessText(t firewall.Tuple) string {
	src, dst := firewall.U32ToAddr(t.Src), firewall.U32ToAddr(t.Dst)
	switch t.Proto {
	case 6, 17:
		name := "tcp"
		if t.Proto == 17 {
			name = "udp"
		}
		return fmt.Sprintf("%s %s:%d → %s:%d", name, src, t.SrcPort, dst, t.DstPort)
	case 1:
		return fmt.Sprintf("icmp %s → %s", src, dst)
	case 47:
		return fmt.Sprintf("gre %s → %s", src, dst)
	}
	return fmt.Sprintf("protocol %d %s → %s", t.Proto, src, dst)
}
