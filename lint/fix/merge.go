package fix

import (
	"net/netip"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// dim is the one field in which two merged rules may differ.
type dim int

const (
	dimPorts    dim = iota // port_range
	dimRemote              // source / destination CIDR
	dimSrcPorts            // source_port_range
)

// cand is a rule the planner may merge: its firewall form, grown as rules
// merge into it.
type cand struct {
	idx     int
	r       firewall.Rule
	changed [3]bool // the field's value differs from the file's
	from    []int
}

// planMerges folds the rules of g that are neither removed nor imported,
// in file order: a later rule merges into the first rule it can, until no
// two rules merge. It returns the merges and the rules absorbed.
func planMerges(tx *text, fg *fileGroup, g *topology.SecurityGroup, rules []firewall.Rule, gone map[int]bool, owned func(int) bool) ([]Merge, map[int]bool) {
	var cs []*cand
	for j := range rules {
		if gone[j] || !owned(j) || j >= len(fg.rules) {
			continue
		}
		if fg.removable(tx, j) != "" {
			continue
		}
		r := rules[j]
		if r.SourcePorts == (firewall.Ports{}) {
			r.SourcePorts = firewall.AnyPorts
		}
		cs = append(cs, &cand{idx: j, r: r})
	}
	absorbed := map[int]bool{}
	for changed := true; changed; {
		changed = false
		for a := 0; a < len(cs); a++ {
			for b := a + 1; b < len(cs); b++ {
				x, y := cs[a], cs[b]
				if absorbed[x.idx] || absorbed[y.idx] {
					continue
				}
				if y.r.Description != "" && y.r.Description != x.r.Description {
					continue
				}
				for d := dimPorts; d <= dimSrcPorts; d++ {
					u, ok := union(&x.r, &y.r, d)
					if !ok {
						continue
					}
					grows := !sameDim(&u, &x.r, d)
					if grows && !fg.mergeEditable(tx, x.idx, fieldName(&x.r, d)) {
						continue
					}
					x.r = u
					if grows {
						x.changed[d] = true
					}
					x.from = append(x.from, y.idx)
					x.from = append(x.from, y.from...)
					absorbed[y.idx] = true
					changed = true
					break
				}
			}
		}
	}
	var out []Merge
	for _, c := range cs {
		if len(c.from) == 0 {
			continue
		}
		m := Merge{Into: c.idx, From: c.from}
		n := 0
		for d := dimPorts; d <= dimSrcPorts; d++ {
			if c.changed[d] {
				n++
				m.Field, m.Value = fieldName(&c.r, d), dimValue(&c.r, d)
			}
		}
		if n > 1 {
			// Grown in two fields over successive merges: write each.
			for d := dimPorts; d <= dimSrcPorts; d++ {
				if c.changed[d] {
					out = append(out, Merge{Into: c.idx, Field: fieldName(&c.r, d), Value: dimValue(&c.r, d)})
				}
			}
			m.Field, m.Value = "", ""
		}
		out = append(out, m)
	}
	return out, absorbed
}

// sameExcept reports whether a and b are equal in every field that decides
// what a rule matches and how it ranks, d aside, and in managed_by.
func sameExcept(a, b *firewall.Rule, d dim) bool {
	if a.Direction != b.Direction || a.Policy != b.Policy || a.Priority != b.Priority ||
		a.Protocol != b.Protocol || a.RemoteGroup != b.RemoteGroup || a.LocalCIDR != b.LocalCIDR ||
		a.NICType != b.NICType || a.ManagedBy != b.ManagedBy {
		return false
	}
	return (d == dimPorts || a.Ports == b.Ports) &&
		(d == dimRemote || a.Remote == b.Remote) &&
		(d == dimSrcPorts || a.SourcePorts == b.SourcePorts)
}

func sameDim(a, b *firewall.Rule, d dim) bool {
	switch d {
	case dimPorts:
		return a.Ports == b.Ports
	case dimRemote:
		return a.Remote == b.Remote
	}
	return a.SourcePorts == b.SourcePorts
}

// union is a with field d set to the union of a's and b's, when the two
// rules differ in d alone and the union is one range of its kind.
func union(a, b *firewall.Rule, d dim) (firewall.Rule, bool) {
	if !sameExcept(a, b, d) {
		return firewall.Rule{}, false
	}
	u := *a
	switch d {
	case dimPorts:
		p, ok := portUnion(a.Ports, b.Ports)
		u.Ports = p
		return u, ok
	case dimSrcPorts:
		p, ok := portUnion(a.SourcePorts, b.SourcePorts)
		u.SourcePorts = p
		return u, ok
	}
	if a.RemoteGroup != "" {
		return u, true // same group: identical remote
	}
	p, ok := cidrUnion(a.Remote, b.Remote)
	u.Remote = p
	return u, ok
}

// portUnion is the range covering a and b when they overlap or touch.
func portUnion(a, b firewall.Ports) (firewall.Ports, bool) {
	if a == b {
		return a, true
	}
	if a.IsAny() || b.IsAny() || a.Start < 1 || b.Start < 1 {
		return firewall.Ports{}, false // -1/-1 ranges only merge when equal
	}
	if max(a.Start, b.Start) > min(a.End, b.End)+1 {
		return firewall.Ports{}, false
	}
	return firewall.Ports{Start: min(a.Start, b.Start), End: max(a.End, b.End)}, true
}

// cidrUnion is the CIDR covering exactly a and b: one of them when it holds
// the other, their parent when they are its two halves.
func cidrUnion(a, b netip.Prefix) (netip.Prefix, bool) {
	switch {
	case a == b:
		return a, true
	case a.Bits() <= b.Bits() && a.Contains(b.Addr()):
		return a, true
	case b.Bits() <= a.Bits() && b.Contains(a.Addr()):
		return b, true
	case a.Bits() == b.Bits() && a.Bits() > 0:
		pa, _ := a.Addr().Prefix(a.Bits() - 1)
		pb, _ := b.Addr().Prefix(b.Bits() - 1)
		if pa == pb {
			return pa, true
		}
	}
	return netip.Prefix{}, false
}

func fieldName(r *firewall.Rule, d dim) string {
	switch d {
	case dimPorts:
		return "port_range"
	case dimSrcPorts:
		return "source_port_range"
	}
	if r.Direction == firewall.Egress {
		return "destination"
	}
	return "source"
}

func dimValue(r *firewall.Rule, d dim) string {
	switch d {
	case dimPorts:
		return r.Ports.String()
	case dimSrcPorts:
		return r.SourcePorts.String()
	}
	return r.Remote.String()
}
