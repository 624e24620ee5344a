package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Direction is the direction a rule applies to, seen from the instance.
type Direction uint8

// Directions.
const (
	Ingress Direction = iota
	Egress
)

func (d Direction) String() string {
	if d == Egress {
		return "egress"
	}
	return "ingress"
}

// ParseDirection parses "ingress" or "egress" (any case).
func ParseDirection(s string) (Direction, bool) {
	switch strings.ToLower(s) {
	case "ingress":
		return Ingress, true
	case "egress":
		return Egress, true
	}
	return 0, false
}

// Action is what a rule does with a matching packet (the spec's "policy").
type Action uint8

// Actions. The zero value is Accept, the cloud's default.
const (
	Accept Action = iota
	Drop
)

func (a Action) String() string {
	if a == Drop {
		return "drop"
	}
	return "accept"
}

// ParseAction parses "accept" or "drop" (any case).
func ParseAction(s string) (Action, bool) {
	switch strings.ToLower(s) {
	case "accept":
		return Accept, true
	case "drop":
		return Drop, true
	}
	return 0, false
}

// Protocol names accepted in rules.
const (
	ProtocolTCP  = "tcp"
	ProtocolUDP  = "udp"
	ProtocolICMP = "icmp"
	ProtocolGRE  = "gre"
	ProtocolAll  = "all"
)

// AllowedProtocols lists the protocol values for error messages.
const AllowedProtocols = "tcp, udp, icmp, gre, all"

// protocolNumber maps a lower-case protocol name to its IP protocol number;
// any is true for "all".
func protocolNumber(p string) (num uint8, any, ok bool) {
	switch p {
	case ProtocolTCP:
		return ProtoTCP, false, true
	case ProtocolUDP:
		return ProtoUDP, false, true
	case ProtocolICMP:
		return ProtoICMP, false, true
	case ProtocolGRE:
		return ProtoGRE, false, true
	case ProtocolAll:
		return 0, true, true
	}
	return 0, false, false
}

// Ports is a rule's port range as the cloud writes it: "start/end", with
// -1/-1 meaning any port (required for icmp, gre and all). The zero value means
// "not given": -1/-1 for protocols without ports, an error for tcp and udp.
type Ports struct{ Start, End int }

// AnyPorts is -1/-1.
var AnyPorts = Ports{-1, -1}

func (p Ports) String() string {
	if p == (Ports{}) {
		return ""
	}
	return strconv.Itoa(p.Start) + "/" + strconv.Itoa(p.End)
}

// IsAny reports whether p is -1/-1.
func (p Ports) IsAny() bool { return p == AnyPorts }

// ParsePorts parses "start/end", "-1/-1" or a single port "80" (= 80/80).
// It checks only the form; the values are checked against the protocol when
// the rule is validated.
func ParsePorts(s string) (Ports, error) {
	s = strings.TrimSpace(s)
	a, b, found := strings.Cut(s, "/")
	if !found {
		b = a
	}
	start, err1 := strconv.Atoi(strings.TrimSpace(a))
	end, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return Ports{}, fmt.Errorf("port range %q: want \"start/end\" (1..65535) or \"-1/-1\"", s)
	}
	return Ports{start, end}, nil
}

// Rule is one security-group rule (docs/semantics.md §1). The remote side is
// Remote (a CIDR) or RemoteGroup (a group name): source for ingress,
// destination for egress — exactly one of the two.
type Rule struct {
	Direction Direction
	Policy    Action
	Priority  int    // 1..100, 1 is the highest; 0 means the default, 1
	Protocol  string // tcp, udp, icmp, gre, all; any case, stored lower-case
	Ports     Ports  // destination port range
	// Remote is the source (ingress) or destination (egress) CIDR.
	Remote netip.Prefix
	// RemoteGroup is the source_group (ingress) or destination_group (egress).
	RemoteGroup string
	// SourcePorts optionally restricts the source port (five-tuple rules);
	// zero means any.
	SourcePorts Ports
	// LocalCIDR optionally restricts the instance-side address.
	LocalCIDR   netip.Prefix
	NICType     string // "intranet" (default) or "internet" (refused in a VPC)
	Description string
	ManagedBy   string // the service that added the rule (dts, dms, ...), or ""

	// system marks the rules of the default group at priority 110.
	system bool
}

// IsSystem reports whether the rule is one of the default group's system
// rules (priority 110), which no user rule can add or remove.
func (r *Rule) IsSystem() bool { return r.system }

// RemoteString renders the remote side as the spec names it.
func (r *Rule) RemoteString() string {
	side := "source"
	if r.Direction == Egress {
		side = "destination"
	}
	if r.RemoteGroup != "" {
		return side + "_group " + r.RemoteGroup
	}
	return side + " " + r.Remote.String()
}

// String renders the rule in one line, the way explanations show it.
func (r *Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s priority %d %s", r.Direction, r.Policy, r.Priority, r.Protocol)
	if !r.Ports.IsAny() && r.Ports != (Ports{}) {
		fmt.Fprintf(&b, " %s", r.Ports)
	}
	fmt.Fprintf(&b, " %s", r.RemoteString())
	if r.SourcePorts != (Ports{}) && !r.SourcePorts.IsAny() {
		fmt.Fprintf(&b, " source_port_range %s", r.SourcePorts)
	}
	if r.LocalCIDR.IsValid() {
		fmt.Fprintf(&b, " local_cidr %s", r.LocalCIDR)
	}
	if r.Description != "" {
		fmt.Fprintf(&b, " %q", r.Description)
	}
	if r.ManagedBy != "" {
		fmt.Fprintf(&b, " managed_by %s", r.ManagedBy)
	}
	return b.String()
}

// identity is the part of a rule that decides whether two rules are the same
// rule (docs/semantics.md §1.4): everything but description and managed_by.
type identity struct {
	dir         Direction
	policy      Action
	priority    int
	protocol    string
	ports       Ports
	remote      netip.Prefix
	remoteGroup string
	srcPorts    Ports
	local       netip.Prefix
}

func (r *Rule) identity() identity {
	return identity{r.Direction, r.Policy, r.Priority, r.Protocol, r.Ports,
		r.Remote, r.RemoteGroup, r.SourcePorts, r.LocalCIDR}
}

// normalize fills defaults and checks one rule on its own (not against other
// rules or groups). It returns the normalized rule and every problem found.
func normalizeRule(group string, index int, in Rule) (Rule, []*Error) {
	r := in
	var errs []*Error
	bad := func(code, field, value, allowed, msg string) {
		errs = append(errs, &Error{Code: code, Group: group, Rule: index, Field: field,
			Value: value, Allowed: allowed, Msg: msg})
	}
	if r.Direction != Ingress && r.Direction != Egress {
		bad(ErrInvalidDirection, "direction", strconv.Itoa(int(r.Direction)), "ingress, egress", "unknown direction")
	}
	if r.Policy != Accept && r.Policy != Drop {
		bad(ErrInvalidPolicy, "policy", strconv.Itoa(int(r.Policy)), "accept, drop", "unknown policy")
	}
	if r.Priority == 0 {
		r.Priority = 1
	}
	if r.Priority < 1 || r.Priority > 100 {
		bad(ErrInvalidPriority, "priority", strconv.Itoa(r.Priority), "1..100", "priority out of range (1 is the highest)")
	}
	r.Protocol = strings.ToLower(strings.TrimSpace(r.Protocol))
	_, _, ok := protocolNumber(r.Protocol)
	hasPorts := r.Protocol == ProtocolTCP || r.Protocol == ProtocolUDP
	if !ok {
		if r.Protocol == "" {
			bad(ErrInvalidIPProtocol, "protocol", "", AllowedProtocols, "protocol is required")
		} else {
			bad(ErrInvalidIPProtocol, "protocol", in.Protocol, AllowedProtocols, "protocol not supported")
		}
	} else {
		switch {
		case hasPorts && r.Ports == (Ports{}):
			bad(ErrInvalidPortRange, "port_range", "", "1..65535 as start/end", "port_range is required for "+r.Protocol)
		case hasPorts && (r.Ports.Start < 1 || r.Ports.End > 65535 || r.Ports.Start > r.Ports.End):
			bad(ErrInvalidPortRange, "port_range", r.Ports.String(), "1..65535 as start/end with start <= end", "port range not valid for "+r.Protocol)
		case !hasPorts && r.Ports == (Ports{}):
			r.Ports = AnyPorts
		case !hasPorts && !r.Ports.IsAny():
			bad(ErrInvalidPortRange, "port_range", r.Ports.String(), "-1/-1", r.Protocol+" takes no ports")
		}
		if r.SourcePorts == AnyPorts {
			r.SourcePorts = Ports{}
		}
		if r.SourcePorts != (Ports{}) {
			switch {
			case !hasPorts:
				bad(ErrInvalidSourcePortRange, "source_port_range", r.SourcePorts.String(), "-1/-1", r.Protocol+" takes no ports")
			case r.SourcePorts.Start < 1 || r.SourcePorts.End > 65535 || r.SourcePorts.Start > r.SourcePorts.End:
				bad(ErrInvalidSourcePortRange, "source_port_range", r.SourcePorts.String(), "1..65535 as start/end with start <= end", "source port range not valid")
			}
		}
	}
	remoteField, remoteGroupField := "source", "source_group"
	if r.Direction == Egress {
		remoteField, remoteGroupField = "destination", "destination_group"
	}
	switch {
	case r.Remote.IsValid() && r.RemoteGroup != "":
		bad(ErrConflict, remoteField, r.Remote.String(), "", fmt.Sprintf("give %s or %s, not both", remoteField, remoteGroupField))
	case !r.Remote.IsValid() && r.RemoteGroup == "":
		bad(ErrMissingParameter, remoteField, "", "", fmt.Sprintf("one of %s or %s is required", remoteField, remoteGroupField))
	case r.Remote.IsValid():
		r.Remote = r.Remote.Masked()
	}
	if r.LocalCIDR.IsValid() {
		r.LocalCIDR = r.LocalCIDR.Masked()
	}
	switch strings.ToLower(r.NICType) {
	case "", "intranet":
		r.NICType = "intranet"
	case "internet":
		bad(ErrNicTypeNotSupported, "nic_type", r.NICType, "intranet",
			"nic_type internet is not supported in a VPC: a VPC instance reaches the internet through its intranet NIC mapping (EIP or NAT), so intranet rules apply to both intranet and internet traffic")
	default:
		bad(ErrInvalidNicType, "nic_type", r.NICType, "intranet", "unknown nic_type")
	}
	return r, errs
}

// ParseCIDR parses a rule's address field: a CIDR ("10.0.0.0/8") or a single
// address ("10.0.0.1" = /32). field names the rule field for the error code
// (source, destination or local_cidr).
func ParseCIDR(field, s string) (netip.Prefix, error) {
	code := ErrInvalidSourceCIDR
	switch field {
	case "destination":
		code = ErrInvalidDestCIDR
	case "local_cidr":
		code = ErrInvalidLocalCIDR
	}
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, &Error{Code: code, Rule: -1, Field: field, Value: s,
				Allowed: "an IPv4 or IPv6 CIDR (10.0.0.0/8) or address", Msg: "not a CIDR"}
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, &Error{Code: code, Rule: -1, Field: field, Value: s,
			Allowed: "an IPv4 or IPv6 CIDR (10.0.0.0/8) or address", Msg: "not an address"}
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
