package firewall

// Path says where a packet goes, as the data plane's router knows it.
type Path struct {
	// Src is the sending NIC (nil: the packet comes from the internet).
	Src *NIC
	// Dst is the receiving NIC (nil: the packet leaves for the internet).
	Dst *NIC
	// ToInternet is set when the packet leaves the VPC for the internet
	// (through an EIP or SNAT); the platform blocks apply to it.
	ToInternet bool
}

// Decide evaluates one parsed packet along its path, in the order of
// semantics.md §2: platform blocks, connection tracking, the sender's egress
// policy, the receiver's ingress policy; a first packet allowed by both
// creates a conntrack entry. The returned verdict names the step (and rule)
// that decided. Decide never allocates.
func (fw *Firewall) Decide(h *Header, path Path) Verdict {
	// Step 1: platform blocks.
	if path.ToInternet && h.Proto == ProtoTCP && h.DstPort == 25 &&
		!h.Has(FlagLaterFragment) && !fw.allow25.Load() {
		return Verdict{Code: PlatformPortBlocked, Dir: Egress, Entry: -1}
	}
	// Step 2: connection tracking (and related ICMP errors, later fragments).
	if fw.ct.Lookup(h) {
		return Verdict{Code: ConntrackEstablished, Entry: -1}
	}
	if h.Has(FlagLaterFragment) {
		return Verdict{Code: FragmentUntracked, Entry: -1}
	}
	// Steps 3–6 on the sender's egress, then the receiver's ingress.
	v := Verdict{Code: SGDefaultAccept, Dir: Egress, Entry: -1}
	if path.Src != nil {
		v = path.Src.Policy().Egress.Classify(&h.Tuple)
		if !v.Allowed() {
			return v
		}
	}
	if path.Dst != nil {
		v = path.Dst.Policy().Ingress.Classify(&h.Tuple)
		if !v.Allowed() {
			return v
		}
	}
	// §2.8: the first packet allowed both ways creates the entry.
	if !fw.ct.Insert(h) {
		return Verdict{Code: ConntrackFull, Entry: -1}
	}
	return v
}
