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
// docs/semantics.md §2: platform blocks, connection tracking, the sender's egress
// policy, the receiver's ingress policy; a first packet allowed by both
// creates a conntrack entry. The returned verdict names the step (and rule)
// that decided. Decide never allocates.
func (fw *Firewall) Decide(h *Header, path Path) Verdict {
	// Step 1: platform blocks.
	if fw.PlatformBlocked(h, path.ToInternet) {
		return platformVerdict
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

// Evaluate is Decide for a packet that is not sent: the verdict the first
// packet of a new connection would get along path — platform blocks, the
// sender's egress, the receiver's ingress — without looking up or creating
// a conntrack entry and without counting rule hits. It returns the first
// blocking verdict, else the last allowing one.
func (fw *Firewall) Evaluate(h *Header, path Path) Verdict {
	if fw.PlatformBlocked(h, path.ToInternet) {
		return platformVerdict
	}
	v := Verdict{Code: SGDefaultAccept, Dir: Egress, Entry: -1}
	if path.Src != nil {
		if v = fw.EvaluateDir(h, path.Src, Egress); !v.Allowed() {
			return v
		}
	}
	if path.Dst != nil {
		v = fw.EvaluateDir(h, path.Dst, Ingress)
	}
	return v
}

// EvaluateDir is the verdict of one NIC's policy in one direction alone
// (steps 3–6 of docs/semantics.md §2), without conntrack and hit counters: what
// an explanation shows for the sender's egress and the receiver's ingress.
func (fw *Firewall) EvaluateDir(h *Header, nic *NIC, dir Direction) Verdict {
	return nic.Policy().Direction(dir).Lookup(&h.Tuple)
}

// PlatformBlocked reports whether the platform drops h before any rule
// (docs/semantics.md §2.1): TCP to port 25 leaving the VPC for the internet,
// unless platform.block_outbound_smtp is off. A later fragment carries no
// port and is left to connection tracking.
func (fw *Firewall) PlatformBlocked(h *Header, toInternet bool) bool {
	return toInternet && h.Proto == ProtoTCP && h.DstPort == 25 &&
		!h.Has(FlagLaterFragment) && !fw.allow25.Load()
}

// platformVerdict is the verdict of a platform block.
var platformVerdict = Verdict{Code: PlatformPortBlocked, Dir: Egress, Entry: -1}
