package firewall

import (
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Entry is one step of a NIC's ordered decision list for one direction: a
// user or system rule, or a synthetic intra-group entry.
type Entry struct {
	Code  Code   // verdict when the entry matches: SGRuleAccept, SGRuleDrop, SGInnerAccept, SGInnerDrop
	Group string // the group the entry comes from
	// Rule is the index of the rule in the group's rule list, or -1 for the
	// intra-group entries (inner accept / inner drop).
	Rule int
	// R is a copy of the deciding rule (zero for intra-group entries).
	R     Rule
	Match MatchRule
}

// Policy is the compiled decision list of one NIC group-set for one
// direction (docs/semantics.md §2.3–§2.6). It is immutable once published, except
// for its hit counters.
type Policy struct {
	Dir      Direction
	Entries  []Entry
	Fallback Code // SGDefaultDeny, or SGDefaultAccept for basic egress
	m        *Matcher
	hits     []atomic.Uint64 // per entry, plus one for the fallback at the end
}

// NICPolicy is what a NIC's groups compile to: both directions.
type NICPolicy struct {
	Groups  []string
	Ingress *Policy
	Egress  *Policy
	deps    []string // groups whose rules or membership this policy depends on
}

// Direction returns the policy for d.
func (p *NICPolicy) Direction(d Direction) *Policy {
	if d == Egress {
		return p.Egress
	}
	return p.Ingress
}

// Verdict is the firewall's answer for one packet: a code, the direction
// that decided, and the deciding entry of Policy (or -1). It is a small value:
// computing it never allocates; Explain renders it.
type Verdict struct {
	Code   Code
	Dir    Direction
	Detail uint8 // for MalformedFrame: the ParseError
	Entry  int32 // index in Policy.Entries, or -1
	Policy *Policy
}

// Allowed reports whether the packet passes.
func (v Verdict) Allowed() bool { return v.Code.Allows() }

// Classify runs the first-match decision list over a packet's five-tuple
// and counts the hit on the deciding entry. It never allocates.
func (p *Policy) Classify(t *Tuple) Verdict {
	v := p.Lookup(t)
	i := int(v.Entry)
	if i < 0 {
		i = len(p.Entries)
	}
	p.hits[i].Add(1)
	return v
}

// Lookup is Classify without the hit counter: the verdict the policy would
// give t, for explanations of packets that are not sent.
func (p *Policy) Lookup(t *Tuple) Verdict {
	var i int
	if p.m != nil {
		i = p.m.Match(t)
	} else {
		i = p.linearMatch(t)
	}
	if i < 0 {
		return Verdict{Code: p.Fallback, Dir: p.Dir, Entry: -1, Policy: p}
	}
	return Verdict{Code: p.Entries[i].Code, Dir: p.Dir, Entry: int32(i), Policy: p}
}

// Hits returns how many first packets each entry decided; the last element
// counts the fallback (implicit default).
func (p *Policy) Hits() []uint64 {
	out := make([]uint64, len(p.hits))
	for i := range p.hits {
		out[i] = p.hits[i].Load()
	}
	return out
}

// Matcher returns the compiled classifier behind the policy: nil in a
// firewall of Config.DecisionListsOnly.
func (p *Policy) Matcher() *Matcher { return p.m }

// groupsKey is the cache key of a NIC's ordered group list.
func groupsKey(groups []string) string { return strings.Join(groups, "\x00") }

// recompile rebuilds the compiled policy of every group list whose
// dependencies changed, and publishes it to the NICs that use it. Called with
// fw.mu held, off the data path. Distinct group lists compile in parallel
// (one worker per CPU): compiling reads the state and writes only its own
// policy, and a change to a group shared by many distinct lists (a rule of
// a base group every NIC has) recompiles each of them.
func (fw *Firewall) recompile(dirty map[string]bool) {
	type job struct {
		groups []string
		p      *NICPolicy
	}
	used := map[string]*job{} // each key once; nil: the cached policy stays
	var jobs []*job
	for _, n := range fw.st.nics {
		key := groupsKey(n.groups)
		if _, seen := used[key]; seen {
			continue
		}
		if p, ok := fw.cache[key]; ok && !slices.ContainsFunc(p.deps, func(g string) bool { return dirty[g] }) {
			used[key] = nil
			continue
		}
		j := &job{groups: n.groups}
		used[key], jobs = j, append(jobs, j)
	}
	if len(jobs) > 0 {
		members := memberSets(fw.st)
		compileAll(len(jobs), func(i int) { jobs[i].p = compileNICPolicy(fw.st, jobs[i].groups, members, fw.listsOnly) })
	}
	for key, j := range used {
		if j != nil {
			fw.cache[key] = j.p
		}
	}
	for _, n := range fw.st.nics {
		if p := fw.cache[groupsKey(n.groups)]; n.nic.policy.Load() != p {
			n.nic.policy.Store(p)
		}
	}
	for key := range fw.cache {
		if _, ok := used[key]; !ok {
			delete(fw.cache, key)
		}
	}
}

// compileAll runs compile(0..n-1) on up to GOMAXPROCS goroutines and
// returns when every call has; one job runs on the caller's goroutine.
func compileAll(n int, compile func(i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		for i := range n {
			compile(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				compile(i)
			}
		})
	}
	wg.Wait()
}

// memberSets returns, per group, the IPv4 addresses of its member NICs as
// merged ranges.
func memberSets(st *state) map[string][]Range32 {
	addrs := map[string][]uint32{}
	for _, n := range st.nics {
		v, ok := AddrToU32(n.addr)
		if !ok {
			continue
		}
		for _, g := range n.groups {
			addrs[g] = append(addrs[g], v)
		}
	}
	sets := make(map[string][]Range32, len(addrs))
	for g, vs := range addrs {
		slices.Sort(vs)
		var rs []Range32
		for _, v := range vs {
			if k := len(rs); k > 0 && (rs[k-1].Hi == v || rs[k-1].Hi+1 == v) {
				rs[k-1].Hi = v
				continue
			}
			rs = append(rs, Range32{v, v})
		}
		sets[g] = rs
	}
	return sets
}

// compileNICPolicy builds both directions' decision lists for a group list.
func compileNICPolicy(st *state, groups []string, members map[string][]Range32, listsOnly bool) *NICPolicy {
	p := &NICPolicy{Groups: slices.Clone(groups)}
	deps := slices.Clone(groups)
	for _, name := range groups {
		for _, r := range st.groups[name].Rules {
			if r.RemoteGroup != "" && !slices.Contains(deps, r.RemoteGroup) {
				deps = append(deps, r.RemoteGroup)
			}
		}
	}
	p.deps = deps
	p.Ingress = compilePolicy(st, groups, Ingress, members, listsOnly)
	p.Egress = compilePolicy(st, groups, Egress, members, listsOnly)
	return p
}

// compilePolicy builds the decision list of one direction (decisionList)
// and, unless listsOnly, compiles its matcher.
func compilePolicy(st *state, groups []string, dir Direction, members map[string][]Range32, listsOnly bool) *Policy {
	pol := decisionList(st, groups, dir, members)
	if !listsOnly {
		rows := make([]MatchRule, len(pol.Entries))
		for i := range pol.Entries {
			rows[i] = pol.Entries[i].Match
		}
		m, err := Compile(rows)
		if err != nil {
			// Compile fails only on internal limits; a policy that cannot be
			// compiled must not silently allow: match nothing and deny.
			m, _ = Compile(nil)
			pol.Entries = nil
			pol.Fallback = SGDefaultDeny
		}
		pol.m = m
	}
	pol.hits = make([]atomic.Uint64, len(pol.Entries)+1)
	return pol
}

// innerEntry matches any packet whose remote side is a member of the group.
func innerEntry(code Code, group string, dir Direction, set []Range32) Entry {
	mr := MatchRule{Src: AnyAddr, Dst: AnyAddr, SrcPort: AnyPort, DstPort: AnyPort, AnyProto: true}
	if set == nil {
		set = []Range32{}
	}
	if dir == Ingress {
		mr.Src = set
	} else {
		mr.Dst = set
	}
	return Entry{Code: code, Group: group, Rule: -1, Match: mr}
}

// ruleMatch converts a normalized rule into its classifier row. Ingress:
// remote = packet source, local = packet destination; egress the reverse.
// The destination port range always applies to the packet's destination port.
func ruleMatch(r *Rule, members map[string][]Range32) MatchRule {
	mr := MatchRule{SrcPort: AnyPort, DstPort: AnyPort}
	num, anyProto, _ := protocolNumber(r.Protocol)
	mr.Proto, mr.AnyProto = num, anyProto
	if !r.Ports.IsAny() && r.Ports != (Ports{}) {
		mr.DstPort = PortRange{uint16(r.Ports.Start), uint16(r.Ports.End)}
	}
	if r.SourcePorts != (Ports{}) && !r.SourcePorts.IsAny() {
		mr.SrcPort = PortRange{uint16(r.SourcePorts.Start), uint16(r.SourcePorts.End)}
	}
	var remote []Range32
	if r.RemoteGroup != "" {
		remote = members[r.RemoteGroup]
		if remote == nil {
			remote = []Range32{}
		}
	} else {
		remote = prefixRanges(r.Remote)
	}
	local := AnyAddr
	if r.LocalCIDR.IsValid() {
		local = prefixRanges(r.LocalCIDR)
	}
	if r.Direction == Ingress {
		mr.Src, mr.Dst = remote, local
	} else {
		mr.Src, mr.Dst = local, remote
	}
	return mr
}

// prefixRanges returns the IPv4 range of a prefix, or an empty set for an
// IPv6 prefix (it can never match IPv4 traffic).
func prefixRanges(p netip.Prefix) []Range32 {
	lo, ok := AddrToU32(p.Addr())
	if !ok || !p.Addr().Is4() {
		return []Range32{}
	}
	bits := p.Bits()
	if bits == 0 {
		return []Range32{{0, math.MaxUint32}}
	}
	mask := ^uint32(0) << (32 - bits)
	lo &= mask
	return []Range32{{lo, lo | ^mask}}
}
