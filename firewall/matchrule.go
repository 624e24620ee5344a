package firewall

import "math"

// Range32 is an inclusive range of IPv4 addresses in host order.
type Range32 struct{ Lo, Hi uint32 }

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// Any ranges.
var (
	AnyAddr = []Range32{{0, math.MaxUint32}}
	AnyPort = PortRange{0, math.MaxUint16}
)

// MatchRule is one row of a classifier: a packet matches when its source is
// in one of Src, its destination in one of Dst, its ports in the port ranges
// and its protocol equals Proto (or AnyProto is set).
//
// Src and Dst are unions of ranges, so a group reference (the set of its
// members' addresses) or the complement of a CIDR is still a single rule.
// An empty Src or Dst matches nothing. Ranges within one set may be given in
// any order and may overlap; the classifier normalizes them.
type MatchRule struct {
	Src, Dst         []Range32
	SrcPort, DstPort PortRange
	Proto            uint8
	AnyProto         bool
}

// Matches reports whether t matches r. It is the obviously correct
// definition that the compiled classifier is tested against.
func (r *MatchRule) Matches(t *Tuple) bool {
	if !r.AnyProto && r.Proto != t.Proto {
		return false
	}
	if t.SrcPort < r.SrcPort.Lo || t.SrcPort > r.SrcPort.Hi ||
		t.DstPort < r.DstPort.Lo || t.DstPort > r.DstPort.Hi {
		return false
	}
	return inRanges(r.Src, t.Src) && inRanges(r.Dst, t.Dst)
}

func inRanges(rs []Range32, v uint32) bool {
	for _, x := range rs {
		if v >= x.Lo && v <= x.Hi {
			return true
		}
	}
	return false
}

// Classifier is a first-match classifier over rules in priority order:
// Match returns the index of the first rule that matches t, or -1.
type Classifier interface {
	Match(t *Tuple) int
}
