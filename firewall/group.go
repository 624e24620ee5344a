package firewall

import (
	"fmt"
	"net/netip"
	"strings"
)

// GroupType is basic or enterprise (docs/semantics.md §1, §2.6).
type GroupType uint8

// Group types. The zero value is Basic, the default.
const (
	Basic GroupType = iota
	Enterprise
)

func (t GroupType) String() string {
	if t == Enterprise {
		return "enterprise"
	}
	return "basic"
}

// ParseGroupType parses "basic" or "enterprise" (any case).
func ParseGroupType(s string) (GroupType, bool) {
	switch strings.ToLower(s) {
	case "basic":
		return Basic, true
	case "enterprise":
		return Enterprise, true
	}
	return 0, false
}

// InnerAccess is a basic group's policy between its own members.
type InnerAccess uint8

// Inner access policies. The zero value is InnerAccept, the default of basic
// groups; enterprise groups are always InnerDrop.
const (
	InnerAccept InnerAccess = iota
	InnerDrop
)

func (a InnerAccess) String() string {
	if a == InnerDrop {
		return "drop"
	}
	return "accept"
}

// ParseInnerAccess parses "accept" or "drop" (any case).
func ParseInnerAccess(s string) (InnerAccess, bool) {
	switch strings.ToLower(s) {
	case "accept":
		return InnerAccept, true
	case "drop":
		return InnerDrop, true
	}
	return 0, false
}

// DefaultGroupName is the system group an instance joins when it names none.
const DefaultGroupName = "default"

// MaxGroupReferences is how many distinct groups a basic group's rules may
// reference (docs/semantics.md §1.3).
const MaxGroupReferences = 20

// Group is a security group: a named set of rules and a membership policy.
type Group struct {
	Name        string
	Type        GroupType
	InnerAccess InnerAccess // basic only; enterprise groups always drop
	Rules       []Rule
}

// Inner returns the effective inner access: always drop for enterprise groups.
func (g *Group) Inner() InnerAccess {
	if g.Type == Enterprise {
		return InnerDrop
	}
	return g.InnerAccess
}

// UserRules counts the rules that count against the quota (system rules do not).
func (g *Group) UserRules() int {
	n := 0
	for i := range g.Rules {
		if !g.Rules[i].system {
			n++
		}
	}
	return n
}

func (g *Group) clone() *Group {
	c := *g
	c.Rules = append([]Rule(nil), g.Rules...)
	return &c
}

// defaultGroup is the system group of docs/semantics.md §3: ingress accept TCP 22,
// TCP 3389 and ICMP from anywhere at priority 110, egress allow all (the basic
// default), intra-group accept.
func defaultGroup() *Group {
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	sys := func(proto string, ports Ports, desc string) Rule {
		return Rule{Direction: Ingress, Policy: Accept, Priority: 110, Protocol: proto, Ports: ports,
			Remote: any4, NICType: "intranet", Description: desc, ManagedBy: "system", system: true}
	}
	return &Group{
		Name: DefaultGroupName,
		Type: Basic,
		Rules: []Rule{
			sys(ProtocolTCP, Ports{22, 22}, "default group: SSH"),
			sys(ProtocolTCP, Ports{3389, 3389}, "default group: RDP"),
			sys(ProtocolICMP, AnyPorts, "default group: ICMP"),
		},
	}
}

// SystemRules returns the system rules of the default group (docs/semantics.md
// §3). They come first in the group, before the rules users add.
func SystemRules() []Rule { return defaultGroup().Rules }

// Quotas are the limits of docs/semantics.md §6. Zero fields take the defaults.
type Quotas struct {
	RulesPerGroup int // default 100, ingress and egress counted together
	GroupsPerNIC  int // default 5
}

// DefaultQuotas are the cloud's defaults.
var DefaultQuotas = Quotas{RulesPerGroup: 100, GroupsPerNIC: 5}

func (q Quotas) withDefaults() Quotas {
	if q.RulesPerGroup == 0 {
		q.RulesPerGroup = DefaultQuotas.RulesPerGroup
	}
	if q.GroupsPerNIC == 0 {
		q.GroupsPerNIC = DefaultQuotas.GroupsPerNIC
	}
	return q
}

// RulesPerNIC is the most rules that may act on one NIC.
func (q Quotas) RulesPerNIC() int { return q.RulesPerGroup * q.GroupsPerNIC }

func validGroupName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, c := range name {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func (q Quotas) validate() []*Error {
	var errs []*Error
	if q.RulesPerGroup < 1 {
		errs = append(errs, &Error{Code: ErrInvalidQuota, Rule: -1, Field: "rules_per_group",
			Value: fmt.Sprint(q.RulesPerGroup), Allowed: "an integer >= 1", Msg: "quota must be positive"})
	}
	if q.GroupsPerNIC < 1 {
		errs = append(errs, &Error{Code: ErrInvalidQuota, Rule: -1, Field: "groups_per_nic",
			Value: fmt.Sprint(q.GroupsPerNIC), Allowed: "an integer >= 1", Msg: "quota must be positive"})
	}
	return errs
}
