package firewall

// Linear is the plain first-match classifier: it tests the rules one by one
// in priority order. It is the baseline the compiled Matcher is measured and
// tested against.
//
// Each rule is one compact row: the protocol is checked first, then the
// ports, then the first range of each address set; sets of more than one
// range keep the rest in a side table.
type Linear struct {
	rows  []linearRow
	extra []Range32 // the second and later ranges of multi-range sets
}

type linearRow struct {
	src, dst     Range32 // first range of each set; {1, 0} for an empty set
	sport, dport PortRange
	proto, mask  uint8 // mask is 0 for any protocol, else 0xff
	// The ranges of Src beyond the first are extra[srcMore:dstMore], those
	// of Dst extra[dstMore:end].
	srcMore, dstMore, end uint32
}

// NewLinear returns a Linear classifier over rules, in priority order.
func NewLinear(rules []MatchRule) *Linear {
	l := &Linear{rows: make([]linearRow, len(rules))}
	var buf, src, dst []Range32
	for i := range rules {
		r := &rules[i]
		row := &l.rows[i]
		row.sport, row.dport = r.SrcPort, r.DstPort
		row.proto, row.mask = r.Proto, 0xff
		if r.AnyProto {
			row.proto, row.mask = 0, 0
		}
		buf, src = appendNormalized(buf[:0], r.Src)
		buf, dst = appendNormalized(buf, r.Dst)
		row.src, row.dst = Range32{1, 0}, Range32{1, 0}
		row.srcMore = uint32(len(l.extra))
		if len(src) > 0 {
			row.src = src[0]
			l.extra = append(l.extra, src[1:]...)
		}
		row.dstMore = uint32(len(l.extra))
		if len(dst) > 0 {
			row.dst = dst[0]
			l.extra = append(l.extra, dst[1:]...)
		}
		row.end = uint32(len(l.extra))
	}
	return l
}

// Match returns the index of the first rule that matches t, or -1.
func (l *Linear) Match(t *Tuple) int {
	for i := range l.rows {
		r := &l.rows[i]
		if (t.Proto^r.proto)&r.mask != 0 ||
			t.DstPort < r.dport.Lo || t.DstPort > r.dport.Hi ||
			t.SrcPort < r.sport.Lo || t.SrcPort > r.sport.Hi {
			continue
		}
		if (t.Src < r.src.Lo || t.Src > r.src.Hi) && !inRanges(l.extra[r.srcMore:r.dstMore], t.Src) {
			continue
		}
		if (t.Dst < r.dst.Lo || t.Dst > r.dst.Hi) && !inRanges(l.extra[r.dstMore:r.end], t.Dst) {
			continue
		}
		return i
	}
	return -1
}

// Len returns the number of rules.
func (l *Linear) Len() int { return len(l.rows) }
