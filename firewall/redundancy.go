package firewall

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Cause says why an entry is redundant.
type Cause uint8

const (
	// NotRedundant: removing the entry changes the verdict of some packet.
	NotRedundant Cause = iota
	// Duplicate: an identical entry (same box, same code) comes earlier.
	Duplicate
	// Shadowed: earlier entries cover every packet it matches (By empty: it
	// matches no packet the NIC can see at all — an empty group reference, a
	// local_cidr that does not hold the NIC's address).
	Shadowed
	// NoEffect: what follows it (later entries and the fallback) decides the
	// same for every packet it decides.
	NoEffect
	// CoveredByInnerAccept: it only matches members of a group whose members
	// already accept each other (an inner-accept entry decides them first,
	// or would decide them the same).
	CoveredByInnerAccept
)

// String returns the finding code of the cause, or "" for NotRedundant.
func (c Cause) String() string {
	switch c {
	case Duplicate:
		return "DUPLICATE"
	case Shadowed:
		return "SHADOWED"
	case NoEffect:
		return "NO_EFFECT"
	case CoveredByInnerAccept:
		return "COVERED_BY_INNER_ACCEPT"
	}
	return ""
}

// EntryAnalysis is the verdict of the analysis on one entry of a Policy.
type EntryAnalysis struct {
	Entry int   // index in Policy.Entries
	Cause Cause // NotRedundant when removing the entry changes some verdict
	// By lists the entries that make it redundant, in list order: the earlier
	// identical one (Duplicate), the earlier ones that overlap it (Shadowed,
	// CoveredByInnerAccept), or the later ones that decide its packets the
	// same (NoEffect, CoveredByInnerAccept).
	By []int
	// ByFallback is set when the fallback (the implicit default) decides
	// some of its packets the same: with By empty, the entry only repeats the
	// default (a drop on ingress under the default deny).
	ByFallback bool
	// Witness, for a non-redundant entry: a packet (five-tuple) this entry
	// decides in the reduced list (see Analyze) whose verdict changes when
	// the entry is removed from it, and the two verdict codes.
	Witness       Tuple
	With, Without Code
}

// Redundant reports whether the entry can be removed.
func (a *EntryAnalysis) Redundant() bool { return a.Cause != NotRedundant }

// AnalyzeOptions bound the work: the analysis is exact or it says it could
// not finish.
type AnalyzeOptions struct {
	// MaxBoxes bounds the number of disjoint boxes that describe one entry's
	// region at any time; 0 means DefaultMaxBoxes.
	MaxBoxes int
	// Keep, when not nil, holds one flag per entry: a set entry is not
	// judged (its analysis says NotRedundant with no witness: With is
	// NONE) and stays in the list the others are judged against. A caller
	// that removes a rule from a group, and so from every NIC the group is
	// on, uses it to find a removal set safe on all of them: only the
	// entries a NIC reports can go together (a subset of them may not be
	// safe: a shadowed drop under an accept that has no effect), so keep
	// every entry outside the candidate set, take as the new candidates
	// the ones every NIC still reports, and repeat until it stops
	// shrinking — then each NIC reports exactly the candidates.
	Keep []bool
	// KeptAsIs, with Keep, puts the kept entries in the list the others
	// are judged against as they are, without finding first whether
	// earlier entries shadow them. Which entries are redundant stays the
	// same (a shadowed entry adds nothing to the boxes before it), but By
	// may then name a shadowed kept entry, a Duplicate may be reported
	// where Shadowed was, and a witness may be another packet. For callers
	// that read only Redundant (a fixpoint over Keep, which keeps most
	// entries): it saves the subtractions of every kept entry.
	KeptAsIs bool
}

// DefaultMaxBoxes is the per-entry bound of AnalyzeOptions.MaxBoxes.
const DefaultMaxBoxes = 1 << 20

// ErrTooComplex is returned (wrapped, naming the entry) when an entry's
// region exceeds AnalyzeOptions.MaxBoxes: the analysis never guesses.
var ErrTooComplex = errors.New("redundancy analysis: region too complex")

// Analyze decides for every entry of p whether removing it changes the
// verdict of any packet p can see: on ingress the destination is the NIC's
// own address local, on egress the source (an invalid or IPv6 local leaves
// that dimension free: the analysis of a group without members). User
// rules (Entry.Rule >= 0), system rules and intra-group entries are all
// analysed; a caller mostly reports rule entries. The result has one
// element per entry, in list order.
//
// Exact in both directions, over the five-tuple space of MatchRule (every
// protocol 0–255 and every port 0–65535 for every protocol: rules of a
// protocol without ports match any port, so this is the space of the real
// packets too). The verdict compared is the packet's fate (Code.Allows):
// SGRuleAccept, SGInnerAccept and SGDefaultAccept are the same verdict, as
// are SGRuleDrop, SGInnerDrop and SGDefaultDeny; only the trace's code
// differs.
//
// Removing every reported entry at once is safe: the entries that remain
// (the reduced list) decide every packet exactly as p does. Two identical
// entries are each redundant given the other, so the causes are defined in
// this order, which is what makes the set safe:
//
//  1. Forward, Duplicate and Shadowed: the entry's box lies within the union
//     of the boxes of the earlier entries (removing such an entry never
//     changes the union of the boxes before any later entry, so all of them
//     go together). By names the earlier entries not themselves shadowed
//     that overlap it (for Duplicate, the first identical one); when they
//     are all inner-accept entries the cause is CoveredByInnerAccept.
//  2. Backward, over the rest from the last entry to the first, NoEffect:
//     the entry's effective region (its box minus the earlier boxes still
//     there) is decided with the same fate by the later entries that are
//     kept (the ones this pass has not removed) and the fallback.
//
// Every entry not reported is needed in the reduced list: its Witness is a
// packet the reduced list decides by that entry (With) and that the reduced
// list without it decides with the other fate (Without). Entries of By may
// themselves be reported (a duplicate of an entry that has no effect).
// Removing only some of the reported entries is not always safe (an accept
// with no effect once the drop it shadows is gone): to remove a chosen set,
// pin the rest with AnalyzeOptions.Keep, or use RemovableRules across NICs.
//
// Cost: an entry's effective region is a set of disjoint boxes whose sides
// are sets of intervals; subtracting a box splits a box it overlaps into at
// most 5 (one per dimension), and boxes it does not overlap are untouched.
// In practice the count stays small because addresses are CIDRs (two of
// them either nest or are disjoint) and few distinct port ranges occur; the
// bound MaxBoxes turns a pathological policy into ErrTooComplex instead of
// a guess. Measured (BenchmarkAnalyze, bench/RESULTS.md): a NIC in 5
// groups of ClassBench rules takes about 0.3 ms at 100 rules, 1 ms at 200,
// 5–12 ms at 500 and 10–30 ms at 1000 (both directions); the raw
// ClassBench sets as one list, every rule a full five-tuple box, are the
// stress case (fw1, 857 rules: seconds).
func (p *Policy) Analyze(local netip.Addr, opts AnalyzeOptions) ([]EntryAnalysis, error) {
	maxBoxes := opts.MaxBoxes
	if maxBoxes <= 0 {
		maxBoxes = DefaultMaxBoxes
	}
	localDim := -1
	var lv uint32
	if v, ok := AddrToU32(local); ok {
		lv = v
		localDim = 1
		if p.Dir == Egress {
			localDim = 0
		}
	}
	n := len(p.Entries)
	boxes := make([]rbox, n)
	for i := range p.Entries {
		boxes[i] = boxOf(&p.Entries[i].Match)
		if localDim >= 0 {
			boxes[i][localDim] = intersectSet(boxes[i][localDim], iset{{lv, lv}})
		}
	}
	out := make([]EntryAnalysis, n)
	removed := make([]bool, n)
	eff := make([]region, n) // effective region of every entry not shadowed
	var prior []int          // earlier entries not shadowed
	if opts.Keep != nil && len(opts.Keep) != n {
		return nil, fmt.Errorf("redundancy analysis: Keep has %d flags for %d entries", len(opts.Keep), n)
	}
	keep := func(i int) bool { return opts.Keep != nil && opts.Keep[i] }
	for i := range n {
		out[i].Entry = i
		b := boxes[i]
		if keep(i) && opts.KeptAsIs {
			if !b.empty() {
				prior = append(prior, i)
			}
			continue
		}
		if b.empty() {
			if !keep(i) {
				out[i].Cause, removed[i] = Shadowed, true
			}
			continue
		}
		r := region{b}
		var by []int
		for _, j := range prior {
			if !boxes[j].overlaps(&b) {
				continue
			}
			by = append(by, j)
			var err error
			if r, err = r.subtract(&boxes[j], maxBoxes); err != nil {
				return nil, fmt.Errorf("entry %d (group %q rule %d): %w", i, p.Entries[i].Group, p.Entries[i].Rule, err)
			}
			if len(r) == 0 {
				break
			}
		}
		if len(r) > 0 {
			eff[i] = r
			prior = append(prior, i)
			continue
		}
		if keep(i) {
			// Kept but shadowed: it adds nothing to the boxes before the
			// later entries, so it is no entry's By (By names the earlier
			// entries not themselves shadowed).
			continue
		}
		removed[i] = true
		out[i].Cause = Shadowed
		out[i].By = by
		for _, j := range prior {
			if p.Entries[j].Code == p.Entries[i].Code && boxes[j].equal(&b) {
				out[i].Cause, out[i].By = Duplicate, []int{j}
				break
			}
		}
		if out[i].Cause == Shadowed && allInnerAccept(p, by) {
			out[i].Cause = CoveredByInnerAccept
		}
	}
	for i := n - 1; i >= 0; i-- {
		if removed[i] || keep(i) {
			continue
		}
		allow := p.Entries[i].Code.Allows()
		r := eff[i]
		eff[i] = nil
		var by []int
		decided := false
		for j := i + 1; j < n && len(r) > 0; j++ {
			if removed[j] || !r.overlaps(&boxes[j]) {
				continue
			}
			if p.Entries[j].Code.Allows() != allow {
				t := r.cornerIn(&boxes[j])
				out[i].Witness, out[i].With, out[i].Without = t, p.Entries[i].Code, p.Entries[j].Code
				decided = true
				break
			}
			by = append(by, j)
			var err error
			if r, err = r.subtract(&boxes[j], maxBoxes); err != nil {
				return nil, fmt.Errorf("entry %d (group %q rule %d): %w", i, p.Entries[i].Group, p.Entries[i].Rule, err)
			}
		}
		if decided {
			continue
		}
		if len(r) > 0 && p.Fallback.Allows() != allow {
			out[i].Witness, out[i].With, out[i].Without = r[0].corner(), p.Entries[i].Code, p.Fallback
			continue
		}
		removed[i] = true
		out[i].Cause, out[i].By, out[i].ByFallback = NoEffect, by, len(r) > 0
		if !out[i].ByFallback && allInnerAccept(p, by) {
			out[i].Cause = CoveredByInnerAccept
		}
	}
	return out, nil
}

func allInnerAccept(p *Policy, by []int) bool {
	if len(by) == 0 {
		return false
	}
	for _, j := range by {
		if p.Entries[j].Code != SGInnerAccept {
			return false
		}
	}
	return true
}

// iset is a set of uint32 values: sorted, disjoint, non-adjacent inclusive
// ranges. Every dimension of a box is one (protocols and ports too).
type iset []Range32

// rbox is a product of five sets: source, destination, protocol, source
// port, destination port.
type rbox [5]iset

// region is a union of disjoint boxes.
type region []rbox

// boxOf returns the box a classifier row matches.
func boxOf(m *MatchRule) rbox {
	var b rbox
	b[0] = normSet(m.Src)
	b[1] = normSet(m.Dst)
	if m.AnyProto {
		b[2] = iset{{0, 255}}
	} else {
		b[2] = iset{{uint32(m.Proto), uint32(m.Proto)}}
	}
	b[3] = portSet(m.SrcPort)
	b[4] = portSet(m.DstPort)
	return b
}

func portSet(p PortRange) iset {
	if p.Lo > p.Hi {
		return nil
	}
	return iset{{uint32(p.Lo), uint32(p.Hi)}}
}

// normSet sorts and merges ranges into an iset; reversed ranges are empty.
func normSet(rs []Range32) iset {
	s := make(iset, 0, len(rs))
	for _, r := range rs {
		if r.Lo <= r.Hi {
			s = append(s, r)
		}
	}
	slices.SortFunc(s, func(a, b Range32) int {
		if a.Lo != b.Lo {
			if a.Lo < b.Lo {
				return -1
			}
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, r := range s {
		if k := len(out); k > 0 && (r.Lo <= out[k-1].Hi || r.Lo-1 == out[k-1].Hi) {
			out[k-1].Hi = max(out[k-1].Hi, r.Hi)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// intersectSet returns a ∩ b. The result may be a or b itself (sets are
// never changed once made): most sides of a box are one interval, and one
// usually holds the other.
func intersectSet(a, b iset) iset {
	if len(a) == 1 && len(b) == 1 {
		lo, hi := max(a[0].Lo, b[0].Lo), min(a[0].Hi, b[0].Hi)
		switch {
		case lo > hi:
			return nil
		case lo == a[0].Lo && hi == a[0].Hi:
			return a
		case lo == b[0].Lo && hi == b[0].Hi:
			return b
		}
		return iset{{lo, hi}}
	}
	switch {
	case subsetOf(a, b):
		return a
	case subsetOf(b, a):
		return b
	}
	var out iset
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].Lo, b[j].Lo), min(a[i].Hi, b[j].Hi)
		if lo <= hi {
			out = append(out, Range32{lo, hi})
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// subsetOf reports whether every value of a is in b.
func subsetOf(a, b iset) bool {
	j := 0
	for _, r := range a {
		for j < len(b) && b[j].Hi < r.Lo {
			j++
		}
		if j == len(b) || b[j].Lo > r.Lo || b[j].Hi < r.Hi {
			return false
		}
	}
	return true
}

// overlapsSet reports whether a ∩ b is not empty.
func overlapsSet(a, b iset) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if max(a[i].Lo, b[j].Lo) <= min(a[i].Hi, b[j].Hi) {
			return true
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return false
}

// subtractSet returns a − b; a itself when b does not overlap it.
func subtractSet(a, b iset) iset {
	if len(a) == 1 && len(b) == 1 {
		switch x, y := a[0], b[0]; {
		case y.Hi < x.Lo || y.Lo > x.Hi:
			return a
		case y.Lo <= x.Lo && y.Hi >= x.Hi:
			return nil
		case y.Lo <= x.Lo:
			return iset{{y.Hi + 1, x.Hi}}
		case y.Hi >= x.Hi:
			return iset{{x.Lo, y.Lo - 1}}
		default:
			return iset{{x.Lo, y.Lo - 1}, {y.Hi + 1, x.Hi}}
		}
	}
	if !overlapsSet(a, b) {
		return a
	}
	var out iset
	j := 0
	for _, r := range a {
		lo := r.Lo
		done := false
		for j < len(b) && b[j].Hi < lo {
			j++
		}
		for k := j; k < len(b) && b[k].Lo <= r.Hi; k++ {
			if b[k].Lo > lo {
				out = append(out, Range32{lo, b[k].Lo - 1})
			}
			if b[k].Hi >= r.Hi {
				done = true
				break
			}
			lo = b[k].Hi + 1
		}
		if !done {
			out = append(out, Range32{lo, r.Hi})
		}
	}
	return out
}

func (b *rbox) empty() bool {
	for d := range b {
		if len(b[d]) == 0 {
			return true
		}
	}
	return false
}

func (b *rbox) overlaps(c *rbox) bool {
	for d := range b {
		if !overlapsSet(b[d], c[d]) {
			return false
		}
	}
	return true
}

func (b *rbox) equal(c *rbox) bool {
	for d := range b {
		if !slices.Equal(b[d], c[d]) {
			return false
		}
	}
	return true
}

// corner is the box's witness point: in each dimension the lowest value,
// except that it prefers what a reader recognizes as a packet — tcp, then
// udp, then icmp over protocol 0; port 1 over port 0; a host address over
// the .0 that starts a range.
func (b *rbox) corner() Tuple {
	proto := b[2][0].Lo
	for _, p := range []uint32{uint32(ProtoTCP), uint32(ProtoUDP), uint32(ProtoICMP)} {
		if inSet(b[2], p) {
			proto = p
			break
		}
	}
	return Tuple{Src: pickAddr(b[0]), Dst: pickAddr(b[1]), Proto: uint8(proto),
		SrcPort: uint16(pickPort(b[3])), DstPort: uint16(pickPort(b[4]))}
}

func inSet(s iset, v uint32) bool {
	for _, r := range s {
		if v >= r.Lo && v <= r.Hi {
			return true
		}
	}
	return false
}

func pickAddr(s iset) uint32 {
	if r := s[0]; r.Lo&0xff == 0 && r.Lo < r.Hi {
		return r.Lo + 1
	}
	return s[0].Lo
}

func pickPort(s iset) uint32 {
	if r := s[0]; r.Lo == 0 && r.Hi > 0 {
		return 1
	}
	return s[0].Lo
}

// cornerIn returns the lowest point of the first box of r that overlaps c,
// within c. r must overlap c.
func (r region) cornerIn(c *rbox) Tuple {
	for i := range r {
		if r[i].overlaps(c) {
			var x rbox
			for d := range x {
				x[d] = intersectSet(r[i][d], c[d])
			}
			return x.corner()
		}
	}
	panic("firewall: cornerIn without overlap")
}

func (r region) overlaps(c *rbox) bool {
	for i := range r {
		if r[i].overlaps(c) {
			return true
		}
	}
	return false
}

// subtract returns r − c as disjoint boxes: a box b that overlaps c becomes
// up to five boxes, the d-th holding b ∩ c in the dimensions before d and
// b − c in dimension d. It works in place: r's boxes are reused and the
// result may share r's array, so r must not be used afterwards.
func (r region) subtract(c *rbox, maxBoxes int) (region, error) {
	n := len(r) // r[:n] are the boxes still to look at; r[n:] the new ones
	for i := 0; i < n; {
		if !r[i].overlaps(c) {
			i++
			continue
		}
		b := r[i]
		first := true
		var prefix rbox
		for d := range b {
			diff := subtractSet(b[d], c[d])
			if len(diff) > 0 {
				var x rbox
				copy(x[:d], prefix[:d])
				x[d] = diff
				copy(x[d+1:], b[d+1:])
				if first {
					r[i], first = x, false
				} else {
					r = append(r, x)
				}
			}
			if d < len(b)-1 {
				prefix[d] = intersectSet(b[d], c[d])
			}
		}
		if !first {
			i++
			continue
		}
		// b lies within c: fill its place with the last box still to look
		// at, and that one's with the last new box.
		n--
		last := len(r) - 1
		r[i] = r[n]
		r[n] = r[last]
		r[last] = rbox{}
		r = r[:last]
	}
	if len(r) > maxBoxes {
		return nil, fmt.Errorf("%w: more than %d boxes", ErrTooComplex, maxBoxes)
	}
	return r, nil
}

// RuleRef names a rule of a group: its index in the group's rule list.
type RuleRef struct {
	Group string
	Rule  int
}

// PolicyAt is one NIC's decision list for one direction and the NIC's own
// address, as Analyze takes them.
type PolicyAt struct {
	Policy *Policy
	Local  netip.Addr
}

// RemovableRules returns the user rules that can be removed from their
// groups all together without changing the verdict of any packet on any of
// the policies (every NIC's two directions): a rule leaves every NIC its
// group is on. It is the fixpoint of AnalyzeOptions.Keep's doc: start from
// every user rule, keep what is not a candidate, keep as candidates the
// rules every policy holding them still reports, until the set stops
// shrinking. Intra-group entries and the default group's system rules are
// never candidates. A rule that appears in no policy (its group has no
// members) is not in the result.
func RemovableRules(pols []PolicyAt, opts AnalyzeOptions) (map[RuleRef]bool, error) {
	cand := map[RuleRef]bool{}
	for _, pa := range pols {
		for _, e := range pa.Policy.Entries {
			if e.Rule >= 0 && !e.R.IsSystem() {
				cand[RuleRef{e.Group, e.Rule}] = true
			}
		}
	}
	for len(cand) > 0 {
		drop := map[RuleRef]bool{}
		for _, pa := range pols {
			p := pa.Policy
			keep := make([]bool, len(p.Entries))
			for i, e := range p.Entries {
				keep[i] = !cand[RuleRef{e.Group, e.Rule}] || e.Rule < 0
			}
			o := opts
			o.Keep, o.KeptAsIs = keep, true // only Redundant is read
			as, err := p.Analyze(pa.Local, o)
			if err != nil {
				return nil, err
			}
			for i, e := range p.Entries {
				if !keep[i] && !as[i].Redundant() {
					drop[RuleRef{e.Group, e.Rule}] = true
				}
			}
		}
		if len(drop) == 0 {
			break
		}
		for r := range drop {
			delete(cand, r)
		}
	}
	return cand, nil
}
