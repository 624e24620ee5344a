package firewall

import (
	"fmt"
	"strings"
)

// Explanation is a verdict rendered for people: the deciding step and, when a
// rule decided, the rule with its group, priority, policy, description and
// managed_by.
type Explanation struct {
	Code        string `json:"code"`
	Allowed     bool   `json:"allowed"`
	Direction   string `json:"direction,omitempty"`
	Step        string `json:"step"`
	Group       string `json:"group,omitempty"`
	RuleIndex   int    `json:"rule_index"` // -1 when no user rule decided
	Priority    int    `json:"priority,omitempty"`
	Policy      string `json:"policy,omitempty"`
	Rule        string `json:"rule,omitempty"`
	Description string `json:"description,omitempty"`
	ManagedBy   string `json:"managed_by,omitempty"`
}

// Explain renders a verdict. It is the slow path: call it only for verdicts
// that will be shown.
func Explain(v Verdict) Explanation {
	e := Explanation{Code: v.Code.String(), Allowed: v.Allowed(), RuleIndex: -1}
	if v.Policy != nil {
		e.Direction = v.Dir.String()
	}
	switch v.Code {
	case PlatformPortBlocked:
		e.Step = "platform: TCP port 25 to the internet is blocked (platform.block_outbound_smtp)"
		e.Direction = Egress.String()
	case ConntrackEstablished:
		e.Step = "connection tracking: part of (or an ICMP error about) a tracked connection"
	case ConntrackFull:
		e.Step = "connection tracking: the table is full, new connections are dropped"
	case FragmentUntracked:
		e.Step = "connection tracking: a later fragment whose first fragment was not accepted"
	case MalformedFrame:
		e.Step = "frame: malformed (" + ParseError(v.Detail).String() + ")"
	case PeerShardDown:
		e.Step = "route: the destination's shard is unreachable (no WireGuard handshake or keepalive for 2 s)"
	case SourceSpoofed:
		e.Step = "vpn: the peer's packet carries a source other than the peer's address"
	case IPv6NotSupported:
		e.Step = "frame: IPv6 is not supported yet"
	case NoRouteToDestination:
		e.Step = "route: no route to the destination (internet hosts cannot reach private addresses)"
	case NoRouteToInternet:
		e.Step = "route: the instance has no EIP and its vswitch no SNAT entry"
	case NoListener:
		e.Step = "listener: nothing listens on the destination port"
	case SGDefaultDeny:
		e.Step = v.Dir.String() + ": no rule matched; the implicit default (priority 110) denies"
		e.Priority = 110
		e.Policy = "drop"
	case SGDefaultAccept:
		e.Step = "egress: no rule matched; the implicit default of basic groups (priority 110) allows"
		e.Priority = 110
		e.Policy = "accept"
	case SGInnerAccept, SGInnerDrop, SGRuleAccept, SGRuleDrop:
		if v.Policy == nil || v.Entry < 0 || int(v.Entry) >= len(v.Policy.Entries) {
			e.Step = "security group"
			break
		}
		en := &v.Policy.Entries[v.Entry]
		e.Group = en.Group
		switch v.Code {
		case SGInnerAccept:
			e.Step = fmt.Sprintf("%s: both NICs are in %s (inner_access accept)", v.Dir, en.Group)
			e.Policy = "accept"
		case SGInnerDrop:
			e.Step = fmt.Sprintf("%s: both NICs are in %s (inner_access drop) and no rule allows it", v.Dir, en.Group)
			e.Policy = "drop"
		default:
			r := &en.R
			e.Step = fmt.Sprintf("%s: rule %d of %s", v.Dir, en.Rule, en.Group)
			e.RuleIndex = en.Rule
			e.Priority = r.Priority
			e.Policy = r.Policy.String()
			e.Rule = r.String()
			e.Description = r.Description
			e.ManagedBy = r.ManagedBy
		}
	default:
		e.Step = v.Code.String()
	}
	return e
}

// String renders the explanation in one line.
func (e Explanation) String() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(" — ")
	b.WriteString(e.Step)
	if e.Rule != "" {
		fmt.Fprintf(&b, " [%s]", e.Rule)
	}
	return b.String()
}
