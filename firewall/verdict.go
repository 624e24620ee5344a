package firewall

// Code is the reason of a verdict (docs/semantics.md §8), plus the frame-level
// reasons vpclab adds (marked "ours").
type Code uint8

// Verdict codes. The zero Code is never returned by the firewall.
const (
	CodeNone Code = iota
	SGRuleAccept
	SGRuleDrop
	SGInnerAccept
	SGInnerDrop
	SGDefaultDeny
	SGDefaultAccept // ours: the implicit egress allow of basic groups (priority 110)
	ConntrackEstablished
	PlatformPortBlocked
	NoRouteToDestination
	NoRouteToInternet
	ConntrackFull
	NoListener
	MalformedFrame    // ours: the frame could not be parsed (Verdict.Detail says why)
	IPv6NotSupported  // ours: IPv6 frames are recognised and dropped until IPv6 is built
	FragmentUntracked // ours: a later fragment whose first fragment was not accepted
	PeerShardDown     // ours: the destination lives on a shard whose link is down
	SourceSpoofed     // ours: a VPN peer's packet whose source is not the peer's address
	numCodes
)

var codeNames = [numCodes]string{
	CodeNone:             "NONE",
	SGRuleAccept:         "SG_RULE_ACCEPT",
	SGRuleDrop:           "SG_RULE_DROP",
	SGInnerAccept:        "SG_INNER_ACCEPT",
	SGInnerDrop:          "SG_INNER_DROP",
	SGDefaultDeny:        "SG_DEFAULT_DENY",
	SGDefaultAccept:      "SG_DEFAULT_ACCEPT",
	ConntrackEstablished: "CONNTRACK_ESTABLISHED",
	PlatformPortBlocked:  "PLATFORM_PORT_BLOCKED",
	NoRouteToDestination: "NO_ROUTE_TO_DESTINATION",
	NoRouteToInternet:    "NO_ROUTE_TO_INTERNET",
	ConntrackFull:        "CONNTRACK_FULL",
	NoListener:           "NO_LISTENER",
	MalformedFrame:       "MALFORMED_FRAME",
	IPv6NotSupported:     "IPV6_NOT_SUPPORTED",
	FragmentUntracked:    "FRAGMENT_UNTRACKED",
	PeerShardDown:        "PEER_SHARD_DOWN",
	SourceSpoofed:        "SOURCE_SPOOFED",
}

// String returns the code's name as the spec writes it (SG_RULE_ACCEPT, ...).
func (c Code) String() string {
	if c < numCodes {
		return codeNames[c]
	}
	return "CODE_UNKNOWN"
}

// Allows reports whether a verdict with this code lets the packet through.
func (c Code) Allows() bool {
	switch c {
	case SGRuleAccept, SGInnerAccept, SGDefaultAccept, ConntrackEstablished:
		return true
	}
	return false
}

// Codes lists every code, in order, for reports and counters.
func Codes() []Code {
	cs := make([]Code, 0, numCodes-1)
	for c := CodeNone + 1; c < numCodes; c++ {
		cs = append(cs, c)
	}
	return cs
}

// NumCodes is one more than the largest Code, for arrays indexed by Code.
const NumCodes = int(numCodes)
