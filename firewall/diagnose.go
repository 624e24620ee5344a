package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// Probe describes a connection attempt whose verdict Diagnose explains. The
// addresses are those the deciding step saw: for internet traffic, the real
// public address of the remote side (docs/semantics.md §5.2–5.3).
type Probe struct {
	Proto    uint8
	Port     uint16 // destination port (unused for ICMP)
	Src, Dst netip.Addr
	// SrcName and DstName name the two ends for the text ("" = the address).
	SrcName, DstName string
	// SrcGroups and DstGroups are the groups of the sending and receiving
	// NICs (nil for an internet host).
	SrcGroups, DstGroups []string
	// ToInternet / FromInternet say that the destination / source is
	// outside the VPC.
	ToInternet, FromInternet bool
}

// Diagnosis names, for a user's symptom (docs/semantics.md §9), the step that
// decided and the smallest change that would make the connection work. A
// connection that works has Works set, the symptom "none" (or "rules were
// added that I did not write" when a managed_by rule allowed it), what
// allowed it as the cause, and no fix.
type Diagnosis struct {
	Works       bool        `json:"works"`
	Symptom     string      `json:"symptom"`
	Cause       string      `json:"cause"`
	Fix         string      `json:"fix,omitempty"`
	Explanation Explanation `json:"explanation"`
}

// String renders the diagnosis on two or three lines.
func (d Diagnosis) String() string {
	s := "symptom: " + d.Symptom + "\ncause:   " + d.Cause
	if d.Fix != "" {
		s += "\nfix:     " + d.Fix
	}
	return s
}

// Symptom names what a user sees when p fails, in the words of
// docs/semantics.md §9.
func Symptom(p Probe) string {
	switch {
	case p.Proto == ProtoICMP:
		return "ping fails"
	case p.Proto == ProtoTCP && p.Port == 22:
		return "SSH (22) fails"
	case p.Proto == ProtoTCP && p.Port == 3389:
		return "RDP (3389) fails"
	case p.Proto == ProtoTCP && (p.Port == 80 || p.Port == 443 || p.Port == 8080 || p.Port == 8443):
		return fmt.Sprintf("HTTP/HTTPS (%d) fails", p.Port)
	case p.Proto == ProtoTCP && p.Port == 25:
		return "mail on 25 fails"
	case !p.ToInternet && !p.FromInternet:
		return fmt.Sprintf("intranet access fails (%s %d)", ProtoName(p.Proto), p.Port)
	}
	return fmt.Sprintf("%s %d fails", ProtoName(p.Proto), p.Port)
}

// works names a connection that works, in the words of Symptom.
func works(p Probe, src, dst string) string {
	if p.Proto == ProtoICMP {
		return fmt.Sprintf("none — %s gets ping replies from %s", src, dst)
	}
	return fmt.Sprintf("none — %s reaches %s on %s %d", src, dst, ProtoName(p.Proto), p.Port)
}

// Diagnose explains verdict v of probe p: the cause in words and, when it
// blocks, the smallest change that would fix it. v is the deciding verdict
// of the path (netstack.Trace.Verdict): the first step that blocks, else the
// last that allowed, else CodeNone when no firewall step applies. An allowed
// verdict says the connection works, names what allowed it and has no fix;
// when its deciding rule carries managed_by it answers the symptom "rules
// were added that I did not write".
func Diagnose(v Verdict, p Probe) Diagnosis {
	e := Explain(v)
	d := Diagnosis{Symptom: Symptom(p), Explanation: e, Cause: e.Step}
	src, dst := name(p.SrcName, p.Src), name(p.DstName, p.Dst)
	service := ruleService(p)
	switch v.Code {
	case SGDefaultDeny:
		if v.Dir == Egress {
			d.Cause = fmt.Sprintf("no egress rule of %s's groups (%s) matches, and a NIC with an enterprise group denies egress by default",
				src, strings.Join(p.SrcGroups, ", "))
			d.Fix = fmt.Sprintf("add egress accept %s to %s to %s", service, prefixOf(p.Dst), first(p.SrcGroups))
		} else {
			d.Cause = fmt.Sprintf("no ingress rule of %s's groups (%s) matches %s from %s, and ingress is denied by default",
				dst, strings.Join(p.DstGroups, ", "), service, p.Src)
			d.Fix = fmt.Sprintf("add ingress accept %s from %s to %s", service, prefixOf(p.Src), first(p.DstGroups))
		}
	case SGRuleDrop:
		d.Cause = fmt.Sprintf("%s rule %d of %s (priority %d, drop%s) matches first", e.Direction, e.RuleIndex, e.Group, e.Priority, managed(e.ManagedBy))
		if e.Priority <= 1 {
			d.Fix = fmt.Sprintf("revoke or narrow rule %d of %s: at priority 1 no accept rule can outrank it (drop wins ties)", e.RuleIndex, e.Group)
		} else {
			remote, verb, group := "from "+prefixOf(p.Src), "ingress", first(p.DstGroups)
			if v.Dir == Egress {
				remote, verb, group = "to "+prefixOf(p.Dst), "egress", first(p.SrcGroups)
			}
			d.Fix = fmt.Sprintf("revoke rule %d of %s, or add %s accept %s %s to %s with priority %d (a lower number outranks it; drop wins ties)",
				e.RuleIndex, e.Group, verb, service, remote, group, e.Priority-1)
		}
	case SGInnerDrop:
		d.Cause = fmt.Sprintf("%s and %s are both in %s, whose inner_access is drop, and no ingress rule allows %s", src, dst, e.Group, service)
		d.Fix = fmt.Sprintf("add ingress accept %s from %s to %s (any priority re-allows it), or set inner_access: accept", service, prefixOf(p.Src), e.Group)
	case PlatformPortBlocked:
		d.Cause = "the platform drops TCP to port 25 on the internet, whatever the security groups say"
		d.Fix = "send mail on 465 or 587 instead (not blocked), or set platform.block_outbound_smtp: false (the cloud lifts the block on application)"
	case NoRouteToInternet:
		d.Cause = fmt.Sprintf("%s has no EIP and its vswitch is in no NAT gateway's snat list, so nothing leaves for the internet", src)
		d.Fix = fmt.Sprintf("associate an EIP with %s, or add its vswitch to a NAT gateway's snat list", src)
	case NoRouteToDestination:
		d.Cause = fmt.Sprintf("%s is not reachable from the internet: private addresses have no route, and an EIP or NAT port without a mapping leads nowhere", p.Dst)
		d.Fix = "connect to the instance's EIP (associate one if it has none), or add a DNAT entry for the port on a NAT gateway"
	case NoListener:
		answer, svc := "a TCP RST (connection refused)", fmt.Sprintf("{kind: echo, port: %d}", p.Port)
		if p.Proto == ProtoUDP {
			answer, svc = "ICMP port unreachable", fmt.Sprintf("{kind: echo, port: %d, protocol: udp}", p.Port)
		}
		d.Cause = fmt.Sprintf("the security groups allow it, but nothing listens on %s %d at %s: its stack answers with %s",
			ProtoName(p.Proto), p.Port, dst, answer)
		d.Fix = fmt.Sprintf("start a listener on %s %d in %s (e.g. services: [%s]); no rule change is needed", ProtoName(p.Proto), p.Port, dst, svc)
	case ConntrackFull:
		d.Cause = "the connection-tracking table is full: new connections are dropped, tracked ones keep working"
		d.Fix = "raise the conntrack limit, or flush stale connections"
	case FragmentUntracked:
		d.Fix = "send the first fragment first (or avoid fragmentation): later fragments follow an accepted first one"
	case MalformedFrame, IPv6NotSupported:
		d.Fix = "send well-formed IPv4"
	case CodeNone:
		d.Works, d.Symptom = true, works(p, src, dst)
		d.Cause = "it works: no security group or platform step applies on this path"
	default:
		if !v.Allowed() {
			break
		}
		d.Works, d.Symptom = true, works(p, src, dst)
		switch {
		case e.ManagedBy != "":
			d.Symptom = "rules were added that I did not write"
			d.Cause = fmt.Sprintf("it works: %s rule %d of %s was added by %s (managed_by) and allows it [%s]; it belongs to %s — revoke it there, not by hand, if it is no longer needed",
				e.Direction, e.RuleIndex, e.Group, e.ManagedBy, e.Rule, e.ManagedBy)
		case v.Code == SGRuleAccept:
			d.Cause = fmt.Sprintf("it works: %s rule %d of %s allows it [%s]", e.Direction, e.RuleIndex, e.Group, e.Rule)
		default:
			d.Cause = "it works: " + e.Step
		}
	}
	return d
}

// ruleService renders the protocol and port the way a rule says them.
func ruleService(p Probe) string {
	switch p.Proto {
	case ProtoTCP, ProtoUDP:
		return fmt.Sprintf("%s %d/%d", ProtoName(p.Proto), p.Port, p.Port)
	}
	return ProtoName(p.Proto) + " -1/-1"
}

func prefixOf(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0/0"
	}
	return netip.PrefixFrom(a, a.BitLen()).String()
}

func first(groups []string) string {
	if len(groups) == 0 {
		return "the instance's group"
	}
	return groups[0]
}

func name(n string, a netip.Addr) string {
	if n != "" {
		return n
	}
	return a.String()
}

func managed(by string) string {
	if by == "" {
		return ""
	}
	return ", managed_by " + by
}

// ProtoName returns the rule-syntax name of an IP protocol number.
func ProtoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return ProtocolTCP
	case ProtoUDP:
		return ProtocolUDP
	case ProtoICMP:
		return ProtocolICMP
	case 47:
		return "gre"
	}
	return fmt.Sprintf("proto-%d", p)
}
