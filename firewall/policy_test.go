package firewall

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Helpers to build rules and packets tersely.

func pfx(s string) netip.Prefix {
	p, err := ParseCIDR("source", s)
	if err != nil {
		panic(err)
	}
	return p
}

func in(proto string, ports Ports, src string) Rule {
	return Rule{Direction: Ingress, Protocol: proto, Ports: ports, Remote: pfx(src)}
}

func out(proto string, ports Ports, dst string) Rule {
	return Rule{Direction: Egress, Protocol: proto, Ports: ports, Remote: pfx(dst)}
}

func u32(s string) uint32 {
	v, _ := AddrToU32(netip.MustParseAddr(s))
	return v
}

func syn(src, dst string, sport, dport uint16) *Header {
	return &Header{Tuple: Tuple{Src: u32(src), Dst: u32(dst), SrcPort: sport, DstPort: dport, Proto: ProtoTCP}, TCPFlags: TCPSyn}
}

func synack(src, dst string, sport, dport uint16) *Header {
	h := syn(src, dst, sport, dport)
	h.TCPFlags = TCPSyn | TCPAck
	return h
}

func udp(src, dst string, sport, dport uint16) *Header {
	return &Header{Tuple: Tuple{Src: u32(src), Dst: u32(dst), SrcPort: sport, DstPort: dport, Proto: ProtoUDP}}
}

func echo(src, dst string, id uint16, reply bool) *Header {
	h := &Header{Tuple: Tuple{Src: u32(src), Dst: u32(dst), Proto: ProtoICMP}, Flags: FlagICMPEcho, ICMPType: ICMPEchoRequest, ICMPID: id}
	if reply {
		h.ICMPType = ICMPEchoReply
	}
	return h
}

// lab is a small VPC for policy tests.
type lab struct {
	t  *testing.T
	fw *Firewall
}

func newLab(t *testing.T, cfg Config) *lab {
	t.Helper()
	fw := New(cfg)
	t.Cleanup(fw.Close)
	return &lab{t: t, fw: fw}
}

func (l *lab) group(g Group) {
	l.t.Helper()
	require.NoError(l.t, l.fw.CreateGroup(g))
}

func (l *lab) nic(id, addr string, groups ...string) *NIC {
	l.t.Helper()
	n, err := l.fw.AddNIC(id, netip.MustParseAddr(addr), groups...)
	require.NoError(l.t, err)
	return n
}

// decide runs one packet from src to dst (nil: the internet).
func (l *lab) decide(h *Header, src, dst *NIC) Verdict {
	return l.fw.Decide(h, Path{Src: src, Dst: dst, ToInternet: dst == nil})
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		code string // "" = valid
		want func(t *testing.T, r Rule)
	}{
		{name: "defaults", rule: Rule{Direction: Ingress, Protocol: "TCP", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")},
			want: func(t *testing.T, r Rule) {
				assert.Equal(t, "tcp", r.Protocol)
				assert.Equal(t, 1, r.Priority)
				assert.Equal(t, Accept, r.Policy)
				assert.Equal(t, "intranet", r.NICType)
			}},
		{name: "icmp ports default to -1/-1", rule: Rule{Direction: Ingress, Protocol: "icmp", Remote: pfx("10.0.0.0/8")},
			want: func(t *testing.T, r Rule) { assert.Equal(t, AnyPorts, r.Ports) }},
		{name: "all with -1/-1", rule: Rule{Direction: Egress, Protocol: "ALL", Ports: AnyPorts, Remote: pfx("10.0.0.0/8")},
			want: func(t *testing.T, r Rule) { assert.Equal(t, "all", r.Protocol) }},
		{name: "priority 100 ok", rule: Rule{Direction: Ingress, Protocol: "udp", Ports: Ports{53, 53}, Priority: 100, Remote: pfx("1.2.3.4")}},
		{name: "priority 101", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, Priority: 101, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPriority},
		{name: "priority -1", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, Priority: -1, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPriority},
		{name: "protocol sctp", rule: Rule{Direction: Ingress, Protocol: "sctp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidIPProtocol},
		{name: "protocol missing", rule: Rule{Direction: Ingress, Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidIPProtocol},
		{name: "tcp without ports", rule: Rule{Direction: Ingress, Protocol: "tcp", Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "tcp port 0", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{0, 80}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "tcp -1/-1", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: AnyPorts, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "tcp start > end", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{90, 80}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "tcp 65536", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 65536}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "icmp with ports", rule: Rule{Direction: Ingress, Protocol: "icmp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "gre with ports", rule: Rule{Direction: Ingress, Protocol: "gre", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "all with ports", rule: Rule{Direction: Ingress, Protocol: "all", Ports: Ports{1, 65535}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPortRange},
		{name: "source port range on icmp", rule: Rule{Direction: Ingress, Protocol: "icmp", SourcePorts: Ports{1, 2}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidSourcePortRange},
		{name: "source port range bad", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 2}, SourcePorts: Ports{5, 4}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidSourcePortRange},
		{name: "both remote kinds", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0"), RemoteGroup: "sg-b"}, code: ErrConflict},
		{name: "no remote", rule: Rule{Direction: Egress, Protocol: "tcp", Ports: Ports{1, 2}}, code: ErrMissingParameter},
		{name: "nic_type internet", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0"), NICType: "internet"}, code: ErrNicTypeNotSupported},
		{name: "nic_type bogus", rule: Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0"), NICType: "wifi"}, code: ErrInvalidNicType},
		{name: "bad direction", rule: Rule{Direction: 7, Protocol: "tcp", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidDirection},
		{name: "bad policy", rule: Rule{Direction: Ingress, Policy: 9, Protocol: "tcp", Ports: Ports{1, 2}, Remote: pfx("0.0.0.0/0")}, code: ErrInvalidPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, Config{})
			err := l.fw.CreateGroup(Group{Name: "sg-a", Rules: []Rule{tt.rule}})
			if tt.code == "" {
				require.NoError(t, err)
				g, _ := l.fw.Group("sg-a")
				require.Len(t, g.Rules, 1)
				if tt.want != nil {
					tt.want(t, g.Rules[0])
				}
				return
			}
			require.Error(t, err)
			var fe *Error
			require.True(t, errors.As(err, &fe), "error %v is not an *Error", err)
			assert.Equal(t, tt.code, fe.Code, "%v", err)
			assert.Equal(t, "sg-a", fe.Group)
			assert.Equal(t, 0, fe.Rule)
			assert.Contains(t, err.Error(), tt.code)
			assert.Contains(t, err.Error(), "group sg-a rule 0")
			_, exists := l.fw.Group("sg-a")
			assert.False(t, exists, "a refused group must not be created")
		})
	}
}

func TestNicTypeInternetSaysWhy(t *testing.T) {
	l := newLab(t, Config{})
	err := l.fw.CreateGroup(Group{Name: "sg", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{22, 22}, Remote: pfx("0.0.0.0/0"), NICType: "internet"}}})
	require.True(t, HasCode(err, ErrNicTypeNotSupported))
	assert.Contains(t, err.Error(), "intranet rules apply to both intranet and internet traffic")
}

func TestAllErrorsReportedTogether(t *testing.T) {
	l := newLab(t, Config{})
	err := l.fw.CreateGroup(Group{Name: "sg", Rules: []Rule{
		{Direction: Ingress, Protocol: "sctp", Remote: pfx("0.0.0.0/0")},
		{Direction: Ingress, Protocol: "tcp", Ports: Ports{1, 2}, Priority: 500, Remote: pfx("0.0.0.0/0")},
	}})
	errs := Errors(err)
	require.Len(t, errs, 2, "%v", err)
	assert.Equal(t, ErrInvalidIPProtocol, errs[0].Code)
	assert.Equal(t, 0, errs[0].Rule)
	assert.Equal(t, ErrInvalidPriority, errs[1].Code)
	assert.Equal(t, 1, errs[1].Rule)
}

func TestGroupReferences(t *testing.T) {
	t.Run("self reference refused", func(t *testing.T) {
		l := newLab(t, Config{})
		err := l.fw.CreateGroup(Group{Name: "sg-a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: "sg-a"}}})
		assert.True(t, HasCode(err, ErrConflict), "%v", err)
	})
	t.Run("enterprise may not reference groups", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "sg-b"})
		err := l.fw.CreateGroup(Group{Name: "sg-e", Type: Enterprise, Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: "sg-b"}}})
		assert.True(t, HasCode(err, ErrEnterpriseGroupReference), "%v", err)
	})
	t.Run("unknown group refused at commit", func(t *testing.T) {
		l := newLab(t, Config{})
		err := l.fw.CreateGroup(Group{Name: "sg-a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: "sg-nope"}}})
		assert.True(t, HasCode(err, ErrGroupNotFound), "%v", err)
	})
	t.Run("batch may create groups in any order", func(t *testing.T) {
		l := newLab(t, Config{})
		err := l.fw.Update(func(tx *Tx) error {
			if err := tx.CreateGroup(Group{Name: "sg-a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: "sg-b"}}}); err != nil {
				return err
			}
			return tx.CreateGroup(Group{Name: "sg-b"})
		})
		assert.NoError(t, err)
	})
	t.Run("at most 20 distinct groups", func(t *testing.T) {
		for _, n := range []int{20, 21} {
			l := newLab(t, Config{})
			var rules []Rule
			for i := range n {
				name := "sg-" + string(rune('a'+i))
				l.group(Group{Name: name})
				rules = append(rules, Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: name},
					Rule{Direction: Ingress, Protocol: "tcp", Ports: Ports{81, 81}, RemoteGroup: name})
			}
			err := l.fw.CreateGroup(Group{Name: "sg-main", Rules: rules})
			if n == 20 {
				assert.NoError(t, err)
			} else {
				assert.True(t, HasCode(err, ErrGroupReferenceLimitExceed), "%v", err)
			}
		}
	})
	t.Run("referenced group cannot be deleted", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "sg-b"})
		l.group(Group{Name: "sg-a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, RemoteGroup: "sg-b"}}})
		assert.True(t, HasCode(l.fw.DeleteGroup("sg-b"), ErrGroupInUse))
		l.nic("a", "10.0.0.1", "sg-a")
		assert.True(t, HasCode(l.fw.DeleteGroup("sg-a"), ErrGroupInUse))
	})
}

func TestIdempotentRules(t *testing.T) {
	l := newLab(t, Config{Quotas: Quotas{RulesPerGroup: 1}})
	r := in("tcp", Ports{80, 80}, "0.0.0.0/0")
	l.group(Group{Name: "sg", Rules: []Rule{r}})
	// The same rule again (even with another description) counts once and
	// does not hit the quota of one rule.
	r2 := r
	r2.Description = "again"
	require.NoError(t, l.fw.AuthorizeRules("sg", "user", r2, r))
	g, _ := l.fw.Group("sg")
	assert.Len(t, g.Rules, 1)
	assert.Len(t, l.fw.AuditLog(), 1)
	// Protocol case does not make a rule different.
	r3 := r
	r3.Protocol = "TCP"
	require.NoError(t, l.fw.AuthorizeRules("sg", "user", r3))
}

func TestQuotas(t *testing.T) {
	t.Run("rules per group, ingress and egress together", func(t *testing.T) {
		l := newLab(t, Config{Quotas: Quotas{RulesPerGroup: 4}})
		l.group(Group{Name: "sg", Rules: []Rule{
			in("tcp", Ports{1, 1}, "0.0.0.0/0"), in("tcp", Ports{2, 2}, "0.0.0.0/0"),
			out("tcp", Ports{3, 3}, "0.0.0.0/0"), out("tcp", Ports{4, 4}, "0.0.0.0/0"),
		}})
		err := l.fw.AuthorizeRules("sg", "user", out("tcp", Ports{5, 5}, "0.0.0.0/0"))
		require.True(t, HasCode(err, ErrAuthorizationLimitExceed), "%v", err)
		g, _ := l.fw.Group("sg")
		assert.Len(t, g.Rules, 4, "a refused change changes nothing")
	})
	t.Run("default 100", func(t *testing.T) {
		l := newLab(t, Config{})
		var rules []Rule
		for i := range 101 {
			rules = append(rules, in("tcp", Ports{i + 1, i + 1}, "0.0.0.0/0"))
		}
		assert.NoError(t, l.fw.CreateGroup(Group{Name: "ok", Rules: rules[:100]}))
		assert.True(t, HasCode(l.fw.CreateGroup(Group{Name: "too-many", Rules: rules}), ErrAuthorizationLimitExceed))
	})
	t.Run("groups per nic", func(t *testing.T) {
		l := newLab(t, Config{})
		var names []string
		for i := range 6 {
			n := "sg-" + string(rune('a'+i))
			l.group(Group{Name: n})
			names = append(names, n)
		}
		_, err := l.fw.AddNIC("x", netip.MustParseAddr("10.0.0.1"), names...)
		assert.True(t, HasCode(err, ErrInstanceSecurityGroupLimitExceeded), "%v", err)
		_, ok := l.fw.NIC("x")
		assert.False(t, ok)
		l.nic("x", "10.0.0.1", names[:5]...)
		err = l.fw.JoinGroup("x", names[5])
		assert.True(t, HasCode(err, ErrInstanceSecurityGroupLimitExceeded), "%v", err)
	})
	t.Run("lowering below usage is refused naming each", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "big", Rules: []Rule{in("tcp", Ports{1, 1}, "0.0.0.0/0"), in("tcp", Ports{2, 2}, "0.0.0.0/0"), in("tcp", Ports{3, 3}, "0.0.0.0/0")}})
		l.group(Group{Name: "g2"})
		l.group(Group{Name: "g3"})
		l.nic("n1", "10.0.0.1", "big", "g2", "g3")
		err := l.fw.SetQuotas(Quotas{RulesPerGroup: 2, GroupsPerNIC: 2})
		errs := Errors(err)
		require.Len(t, errs, 2, "%v", err)
		assert.Equal(t, "big", errs[0].Group)
		assert.Equal(t, "n1", errs[1].NIC)
		assert.Equal(t, DefaultQuotas, l.fw.Quotas(), "nothing changes")
	})
	t.Run("a quota change binds existing groups", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "sg", Rules: []Rule{in("tcp", Ports{1, 1}, "0.0.0.0/0")}})
		require.NoError(t, l.fw.SetQuotas(Quotas{RulesPerGroup: 1, GroupsPerNIC: 5}))
		assert.True(t, HasCode(l.fw.AuthorizeRules("sg", "", in("tcp", Ports{2, 2}, "0.0.0.0/0")), ErrAuthorizationLimitExceed))
		require.NoError(t, l.fw.SetQuotas(Quotas{RulesPerGroup: 2, GroupsPerNIC: 5}))
		assert.NoError(t, l.fw.AuthorizeRules("sg", "", in("tcp", Ports{2, 2}, "0.0.0.0/0")))
	})
	t.Run("invalid quota", func(t *testing.T) {
		l := newLab(t, Config{})
		assert.True(t, HasCode(l.fw.SetQuotas(Quotas{RulesPerGroup: -1}), ErrInvalidQuota))
	})
}

func TestMixedGroupTypesRefused(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "b"})
	l.group(Group{Name: "e", Type: Enterprise})
	_, err := l.fw.AddNIC("x", netip.MustParseAddr("10.0.0.1"), "b", "e")
	assert.True(t, HasCode(err, ErrGroupTypeMismatch), "%v", err)
}

func TestFailedUpdateChangesNothing(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "web", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}})
	a := l.nic("a", "10.0.0.1", "web")
	before := a.Policy()
	err := l.fw.Update(func(tx *Tx) error {
		if err := tx.AuthorizeRules("web", "", in("tcp", Ports{443, 443}, "0.0.0.0/0")); err != nil {
			return err
		}
		_, err := tx.AddNIC("b", netip.MustParseAddr("10.0.0.1"), "web") // address in use
		return err
	})
	require.True(t, HasCode(err, ErrAddressInUse), "%v", err)
	g, _ := l.fw.Group("web")
	assert.Len(t, g.Rules, 1)
	assert.Same(t, before, a.Policy())
	_, ok := l.fw.NIC("b")
	assert.False(t, ok)
	assert.Len(t, l.fw.AuditLog(), 1)
}

func TestEvaluationOrder(t *testing.T) {
	const client, server = "192.0.2.7", "10.0.0.10"
	tests := []struct {
		name   string
		groups []Group
		member []string // server's groups
		pkt    *Header
		code   Code
		group  string
		rule   int
	}{
		{name: "no rule: default deny",
			groups: []Group{{Name: "a"}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGDefaultDeny, rule: -1},
		{name: "accept rule",
			groups: []Group{{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGRuleAccept, group: "a", rule: 0},
		{name: "port outside range",
			groups: []Group{{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 81), code: SGDefaultDeny, rule: -1},
		{name: "protocol differs",
			groups: []Group{{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}}}, member: []string{"a"},
			pkt: udp(client, server, 40000, 80), code: SGDefaultDeny, rule: -1},
		{name: "source outside cidr",
			groups: []Group{{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "198.51.100.0/24")}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGDefaultDeny, rule: -1},
		{name: "higher priority accept beats drop",
			groups: []Group{{Name: "a", Rules: []Rule{
				{Direction: Ingress, Policy: Drop, Priority: 2, Protocol: "tcp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")},
				{Direction: Ingress, Policy: Accept, Priority: 1, Protocol: "tcp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")},
			}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGRuleAccept, group: "a", rule: 1},
		{name: "drop wins ties",
			groups: []Group{{Name: "a", Rules: []Rule{
				{Direction: Ingress, Policy: Accept, Priority: 5, Protocol: "tcp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")},
				{Direction: Ingress, Policy: Drop, Priority: 5, Protocol: "all", Remote: pfx(client)},
			}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGRuleDrop, group: "a", rule: 1},
		{name: "rules of all groups form one list",
			groups: []Group{
				{Name: "a", Rules: []Rule{{Direction: Ingress, Priority: 10, Protocol: "tcp", Ports: Ports{80, 80}, Remote: pfx("0.0.0.0/0")}}},
				{Name: "b", Rules: []Rule{{Direction: Ingress, Policy: Drop, Priority: 5, Protocol: "tcp", Ports: Ports{1, 65535}, Remote: pfx("0.0.0.0/0")}}},
			}, member: []string{"a", "b"},
			pkt: syn(client, server, 40000, 80), code: SGRuleDrop, group: "b", rule: 0},
		{name: "equal priority and policy: group order decides which rule is named",
			groups: []Group{
				{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}},
				{Name: "b", Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}},
			}, member: []string{"b", "a"},
			pkt: syn(client, server, 40000, 80), code: SGRuleAccept, group: "b", rule: 0},
		{name: "source port range",
			groups: []Group{{Name: "a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, SourcePorts: Ports{1024, 65535}, Remote: pfx("0.0.0.0/0")}}}}, member: []string{"a"},
			pkt: syn(client, server, 1000, 80), code: SGDefaultDeny, rule: -1},
		{name: "local cidr restricts the instance side",
			groups: []Group{{Name: "a", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{80, 80}, LocalCIDR: pfx("10.0.1.0/24"), Remote: pfx("0.0.0.0/0")}}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGDefaultDeny, rule: -1},
		{name: "ipv6 rule never matches ipv4",
			groups: []Group{{Name: "a", Rules: []Rule{in("tcp", Ports{80, 80}, "::/0")}}}, member: []string{"a"},
			pkt: syn(client, server, 40000, 80), code: SGDefaultDeny, rule: -1},
		{name: "icmp rule",
			groups: []Group{{Name: "a", Rules: []Rule{in("icmp", Ports{}, "0.0.0.0/0")}}}, member: []string{"a"},
			pkt: echo(client, server, 7, false), code: SGRuleAccept, group: "a", rule: 0},
		{name: "all protocols",
			groups: []Group{{Name: "a", Rules: []Rule{in("all", AnyPorts, "192.0.2.0/24")}}}, member: []string{"a"},
			pkt: udp(client, server, 5, 53), code: SGRuleAccept, group: "a", rule: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, Config{})
			for _, g := range tt.groups {
				l.group(g)
			}
			srv := l.nic("srv", server, tt.member...)
			v := l.decide(tt.pkt, nil, srv)
			e := Explain(v)
			assert.Equal(t, tt.code, v.Code, "%s", e)
			assert.Equal(t, tt.group, e.Group)
			assert.Equal(t, tt.rule, e.RuleIndex)
		})
	}
}

func TestInnerAccess(t *testing.T) {
	const a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.3"
	t.Run("accept: members talk in both directions before any rule", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "sg", Rules: []Rule{
			{Direction: Ingress, Policy: Drop, Priority: 1, Protocol: "all", Remote: pfx("0.0.0.0/0")},
			{Direction: Egress, Policy: Drop, Priority: 1, Protocol: "all", Remote: pfx("0.0.0.0/0")},
		}})
		l.group(Group{Name: "other"})
		na, nb := l.nic("a", a, "sg"), l.nic("b", b, "sg")
		nc := l.nic("c", c, "other")
		v := l.decide(syn(a, b, 1000, 5432), na, nb)
		assert.Equal(t, SGInnerAccept, v.Code, "%s", Explain(v))
		assert.Equal(t, Ingress, v.Dir)
		v = l.fw.Decide(syn(a, c, 1000, 5432), Path{Src: na, Dst: nc})
		assert.Equal(t, SGRuleDrop, v.Code, "%s", Explain(v))
		assert.Equal(t, Egress, v.Dir)
	})
	t.Run("drop: isolated on ingress, egress still allowed, one rule re-allows", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "iso", InnerAccess: InnerDrop})
		na, nb := l.nic("a", a, "iso"), l.nic("b", b, "iso")
		v := l.decide(syn(a, b, 1000, 22), na, nb)
		assert.Equal(t, SGInnerDrop, v.Code, "%s", Explain(v))
		assert.Equal(t, "iso", Explain(v).Group)
		// Egress of a basic group stays allowed (it was ingress that dropped).
		ve := na.Policy().Egress.Classify(&syn(a, b, 1000, 22).Tuple)
		assert.Equal(t, SGDefaultAccept, ve.Code)
		require.NoError(t, l.fw.AuthorizeRules("iso", "", Rule{Direction: Ingress, Priority: 100, Protocol: "tcp", Ports: Ports{22, 22}, Remote: pfx("10.0.0.0/24")}))
		v = l.decide(syn(a, b, 1001, 22), na, nb)
		assert.Equal(t, SGRuleAccept, v.Code, "%s", Explain(v))
		v = l.decide(syn(a, b, 1001, 23), na, nb)
		assert.Equal(t, SGInnerDrop, v.Code, "%s", Explain(v))
	})
	t.Run("drop group plus a shared accept group still talk", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "iso", InnerAccess: InnerDrop})
		l.group(Group{Name: "shared"})
		na, nb := l.nic("a", a, "iso", "shared"), l.nic("b", b, "iso", "shared")
		v := l.decide(syn(a, b, 1000, 22), na, nb)
		assert.Equal(t, SGInnerAccept, v.Code, "%s", Explain(v))
	})
	t.Run("enterprise: egress denied by default, members isolated", func(t *testing.T) {
		l := newLab(t, Config{})
		l.group(Group{Name: "ent", Type: Enterprise, InnerAccess: InnerAccept})
		na, nb := l.nic("a", a, "ent"), l.nic("b", b, "ent")
		v := l.decide(syn(a, b, 1000, 22), na, nb)
		assert.Equal(t, SGDefaultDeny, v.Code, "%s", Explain(v))
		assert.Equal(t, Egress, v.Dir)
		require.NoError(t, l.fw.AuthorizeRules("ent", "", out("all", AnyPorts, "0.0.0.0/0")))
		v = l.decide(syn(a, b, 1000, 22), na, nb)
		assert.Equal(t, SGInnerDrop, v.Code, "%s", Explain(v))
		assert.Equal(t, Ingress, v.Dir)
	})
}

func TestDefaultGroup(t *testing.T) {
	const client = "203.0.113.9"
	l := newLab(t, Config{})
	a := l.nic("a", "10.0.0.1")
	b := l.nic("b", "10.0.0.2")
	assert.Equal(t, []string{DefaultGroupName}, l.fw.NICGroups("a"))
	for _, tt := range []struct {
		pkt  *Header
		code Code
	}{
		{syn(client, "10.0.0.1", 1, 22), SGRuleAccept},
		{syn(client, "10.0.0.1", 2, 3389), SGRuleAccept},
		{echo(client, "10.0.0.1", 3, false), SGRuleAccept},
		{syn(client, "10.0.0.1", 4, 80), SGDefaultDeny},
		{udp(client, "10.0.0.1", 5, 22), SGDefaultDeny},
	} {
		v := l.decide(tt.pkt, nil, a)
		assert.Equal(t, tt.code, v.Code, "%+v %s", tt.pkt.Tuple, Explain(v))
		if tt.code == SGRuleAccept {
			e := Explain(v)
			assert.Equal(t, 110, e.Priority)
			assert.Equal(t, "system", e.ManagedBy)
		}
	}
	// Egress allows everything; members reach each other on any port.
	v := l.fw.Decide(syn("10.0.0.1", "10.0.0.2", 9, 8080), Path{Src: a, Dst: b})
	assert.Equal(t, SGInnerAccept, v.Code, "%s", Explain(v))
	v = l.decide(syn("10.0.0.1", "198.51.100.1", 9, 443), a, nil)
	assert.Equal(t, SGDefaultAccept, v.Code)
	// A user rule (priority 1..100) outranks the system rules at 110.
	require.NoError(t, l.fw.AuthorizeRules(DefaultGroupName, "", Rule{Direction: Ingress, Policy: Drop, Priority: 100, Protocol: "tcp", Ports: Ports{22, 22}, Remote: pfx("0.0.0.0/0")}))
	v = l.decide(syn(client, "10.0.0.1", 6, 22), nil, a)
	assert.Equal(t, SGRuleDrop, v.Code, "%s", Explain(v))
	// System rules cannot be revoked and do not count against the quota.
	g, _ := l.fw.Group(DefaultGroupName)
	assert.Equal(t, 1, g.UserRules())
	assert.True(t, HasCode(l.fw.RevokeRules(DefaultGroupName, "", in("tcp", Ports{22, 22}, "0.0.0.0/0")), ErrRuleNotFound))
}

// TestCreateDefaultGroup checks that creating the group named default, as a
// topology file that declares it does, keeps the system rules and adds the
// given rules beside them; the default group is basic.
func TestCreateDefaultGroup(t *testing.T) {
	const client = "203.0.113.9"
	l := newLab(t, Config{Quotas: Quotas{RulesPerGroup: 1}})
	require.NoError(t, l.fw.CreateGroup(Group{Name: DefaultGroupName, InnerAccess: InnerDrop,
		Rules: []Rule{in("tcp", Ports{80, 80}, "0.0.0.0/0")}}))
	a := l.nic("a", "10.0.0.1")
	b := l.nic("b", "10.0.0.2", DefaultGroupName)
	for _, tt := range []struct {
		pkt      *Header
		code     Code
		priority int
	}{
		{syn(client, "10.0.0.1", 1, 22), SGRuleAccept, 110},
		{syn(client, "10.0.0.1", 2, 3389), SGRuleAccept, 110},
		{echo(client, "10.0.0.1", 3, false), SGRuleAccept, 110},
		{syn(client, "10.0.0.1", 4, 80), SGRuleAccept, 1},
		{syn(client, "10.0.0.1", 5, 443), SGDefaultDeny, 0},
	} {
		v := l.decide(tt.pkt, nil, a)
		assert.Equal(t, tt.code, v.Code, "%+v %s", tt.pkt.Tuple, Explain(v))
		if tt.priority != 0 {
			assert.Equal(t, tt.priority, Explain(v).Priority, "%+v", tt.pkt.Tuple)
		}
	}
	// The given inner_access holds; system rules do not count against the quota of 1.
	v := l.fw.Decide(syn("10.0.0.2", "10.0.0.1", 9, 8080), Path{Src: b, Dst: a})
	assert.Equal(t, SGInnerDrop, v.Code, "%s", Explain(v))
	g, _ := l.fw.Group(DefaultGroupName)
	assert.Equal(t, 1, g.UserRules())

	// An enterprise default group is refused, and its rules are still checked.
	l = newLab(t, Config{})
	err := l.fw.CreateGroup(Group{Name: DefaultGroupName, Type: Enterprise,
		Rules: []Rule{in("icmp", Ports{80, 80}, "0.0.0.0/0")}})
	assert.True(t, HasCode(err, ErrInvalidGroupType), "%v", err)
	assert.True(t, HasCode(err, ErrInvalidPortRange), "%v", err)
	_, ok := l.fw.Group(DefaultGroupName)
	assert.False(t, ok)
}

func TestPlatformBlock(t *testing.T) {
	const inst, remote = "10.0.0.1", "198.51.100.25"
	for _, tt := range []struct {
		name       string
		allow25    bool
		port       uint16
		toInternet bool
		code       Code
	}{
		{"port 25 to the internet", false, 25, true, PlatformPortBlocked},
		{"port 465 to the internet", false, 465, true, SGRuleAccept},
		{"port 25 inside the VPC", false, 25, false, SGRuleAccept},
		{"port 25 with the block off", true, 25, true, SGRuleAccept},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, Config{AllowOutboundSMTP: tt.allow25})
			l.group(Group{Name: "sg", Rules: []Rule{out("tcp", Ports{1, 65535}, "0.0.0.0/0")}})
			n := l.nic("n", inst, "sg")
			v := l.fw.Decide(syn(inst, remote, 40000, tt.port), Path{Src: n, ToInternet: tt.toInternet})
			assert.Equal(t, tt.code, v.Code, "%s", Explain(v))
		})
	}
}

func TestConntrackAndRuleChanges(t *testing.T) {
	const cli, srv = "10.0.0.1", "10.0.0.2"
	l := newLab(t, Config{})
	l.group(Group{Name: "web", Rules: []Rule{in("tcp", Ports{80, 80}, "10.0.0.0/24")}})
	l.group(Group{Name: "app"})
	c, s := l.nic("cli", cli, "app"), l.nic("srv", srv, "web")
	// Reply direction: the client's ingress would deny it, conntrack allows it.
	require.Equal(t, SGRuleAccept, l.fw.Decide(syn(cli, srv, 40000, 80), Path{Src: c, Dst: s}).Code)
	v := l.fw.Decide(synack(srv, cli, 80, 40000), Path{Src: s, Dst: c})
	assert.Equal(t, ConntrackEstablished, v.Code)
	// Revoking the rule does not cut the tracked connection ...
	require.NoError(t, l.fw.RevokeRules("web", "", in("tcp", Ports{80, 80}, "10.0.0.0/24")))
	v = l.fw.Decide(syn(cli, srv, 40000, 80), Path{Src: c, Dst: s})
	assert.Equal(t, ConntrackEstablished, v.Code)
	// ... but a new connection sees the change at once.
	v = l.fw.Decide(syn(cli, srv, 40001, 80), Path{Src: c, Dst: s})
	assert.Equal(t, SGDefaultDeny, v.Code)
	// Flush cuts everything.
	l.fw.Conntrack().Flush()
	v = l.fw.Decide(synack(srv, cli, 80, 40000), Path{Src: s, Dst: c})
	assert.Equal(t, SGDefaultDeny, v.Code)
	// Blocked first packets create no entry.
	v = l.fw.Decide(synack(srv, cli, 80, 40001), Path{Src: s, Dst: c})
	assert.Equal(t, SGDefaultDeny, v.Code)
}

func TestGroupReferenceFollowsMembership(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "app"})
	l.group(Group{Name: "other"})
	l.group(Group{Name: "db", Rules: []Rule{{Direction: Ingress, Protocol: "tcp", Ports: Ports{5432, 5432}, RemoteGroup: "app", Description: "app to db"}}})
	db := l.nic("db", "10.0.2.1", "db")
	app := l.nic("app", "10.0.1.1", "app")
	x := l.nic("x", "10.0.1.2", "other")
	v := l.fw.Decide(syn("10.0.1.1", "10.0.2.1", 1, 5432), Path{Src: app, Dst: db})
	require.Equal(t, SGRuleAccept, v.Code, "%s", Explain(v))
	assert.Equal(t, "app to db", Explain(v).Description)
	v = l.fw.Decide(syn("10.0.1.2", "10.0.2.1", 2, 5432), Path{Src: x, Dst: db})
	assert.Equal(t, SGDefaultDeny, v.Code)
	require.NoError(t, l.fw.JoinGroup("x", "app"))
	v = l.fw.Decide(syn("10.0.1.2", "10.0.2.1", 3, 5432), Path{Src: x, Dst: db})
	assert.Equal(t, SGRuleAccept, v.Code, "joining re-resolves the reference")
	require.NoError(t, l.fw.LeaveGroup("x", "app"))
	v = l.fw.Decide(syn("10.0.1.2", "10.0.2.1", 4, 5432), Path{Src: x, Dst: db})
	assert.Equal(t, SGDefaultDeny, v.Code, "leaving re-resolves the reference")
	require.NoError(t, l.fw.RemoveNIC("app"))
	v = l.fw.Decide(syn("10.0.1.1", "10.0.2.1", 5, 5432), Path{Src: nil, Dst: db})
	assert.Equal(t, SGDefaultDeny, v.Code, "a removed NIC leaves the group")
	assert.True(t, HasCode(l.fw.LeaveGroup("x", "other"), ErrConflict), "last group")
}

func TestSharedPolicies(t *testing.T) {
	l := newLab(t, Config{})
	l.group(Group{Name: "a"})
	l.group(Group{Name: "b"})
	n1, n2 := l.nic("n1", "10.0.0.1", "a", "b"), l.nic("n2", "10.0.0.2", "a", "b")
	n3 := l.nic("n3", "10.0.0.3", "a")
	assert.Same(t, n1.Policy(), n2.Policy(), "NICs with the same groups share one compiled policy")
	assert.NotSame(t, n1.Policy(), n3.Policy())
	// A change to an unrelated group keeps the policy object.
	l.group(Group{Name: "c"})
	l.nic("n4", "10.0.0.4", "c")
	p := n3.Policy()
	require.NoError(t, l.fw.AuthorizeRules("c", "", in("tcp", Ports{1, 1}, "0.0.0.0/0")))
	assert.Same(t, p, n3.Policy())
	require.NoError(t, l.fw.AuthorizeRules("a", "", in("tcp", Ports{1, 1}, "0.0.0.0/0")))
	assert.NotSame(t, p, n3.Policy())
}

func TestManagedByAndAudit(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	l := newLab(t, Config{Now: func() time.Time { return now }})
	l.group(Group{Name: "db"})
	r := Rule{Direction: Ingress, Priority: 1, Protocol: "tcp", Ports: Ports{3306, 3306}, Remote: pfx("100.104.0.0/16"), Description: "DTS access", ManagedBy: "dts"}
	require.NoError(t, l.fw.AuthorizeRules("db", "dts", r))
	require.NoError(t, l.fw.AuthorizeRules("db", "user", in("tcp", Ports{22, 22}, "10.0.0.0/8")))
	require.NoError(t, l.fw.RevokeRules("db", "user", in("tcp", Ports{22, 22}, "10.0.0.0/8")))
	log := l.fw.AuditLog()
	require.Len(t, log, 3)
	assert.Equal(t, "dts", log[0].Actor)
	assert.Equal(t, "authorize", log[0].Action)
	assert.Equal(t, now, log[0].Time)
	assert.Equal(t, "user", log[2].Actor)
	assert.Equal(t, "revoke", log[2].Action)
	n := l.nic("db-1", "10.0.3.1", "db")
	v := l.decide(syn("100.104.5.5", "10.0.3.1", 1, 3306), nil, n)
	e := Explain(v)
	assert.Equal(t, "dts", e.ManagedBy)
	assert.Equal(t, "DTS access", e.Description)
	assert.True(t, strings.Contains(e.String(), "managed_by dts"), e.String())
}

func TestDecideAllocatesNothing(t *testing.T) {
	l := newLab(t, Config{})
	var rules []Rule
	for i := range 100 {
		rules = append(rules, in("tcp", Ports{1000 + i, 1000 + i}, "10.0.0.0/8"))
	}
	l.group(Group{Name: "sg", Rules: rules})
	a, b := l.nic("a", "10.0.0.1", "sg"), l.nic("b", "10.1.0.1", "sg")
	_ = a
	accept := syn("10.9.0.1", "10.1.0.1", 1, 1050)
	drop := syn("10.9.0.1", "10.1.0.1", 1, 80)
	hit := synack("10.1.0.1", "10.9.0.1", 1050, 1)
	require.True(t, l.decide(accept, nil, b).Allowed())
	for name, h := range map[string]*Header{"accept": accept, "drop": drop, "conntrack hit": hit} {
		allocs := testing.AllocsPerRun(1000, func() { l.fw.Decide(h, Path{Dst: b}) })
		assert.Zero(t, allocs, name)
	}
	// A new flow each time (classify + insert) allocates nothing either.
	port := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		port++
		h := Header{Tuple: Tuple{Src: u32("10.9.0.2"), Dst: u32("10.1.0.1"), SrcPort: port, DstPort: 1001, Proto: ProtoTCP}, TCPFlags: TCPSyn}
		l.fw.Decide(&h, Path{Dst: b})
	})
	assert.Zero(t, allocs, "new flow")
}
