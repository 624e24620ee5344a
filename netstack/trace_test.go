package netstack

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// steps returns the hops' steps, and "!" after those that block.
func steps(tr *Trace) string {
	var s []string
	for _, h := range tr.Hops {
		st := h.Step
		if !h.Allowed {
			st += "!"
		}
		s = append(s, st)
	}
	return strings.Join(s, " ")
}

func hop(t *testing.T, tr *Trace, step string) Hop {
	t.Helper()
	for _, h := range tr.Hops {
		if h.Step == step {
			return h
		}
	}
	t.Fatalf("no %s hop in %s", step, steps(tr))
	return Hop{}
}

func trace(t *testing.T, v *VPC, from string, dst netip.Addr, proto uint8, port uint16) *Trace {
	t.Helper()
	tr, err := v.Trace(from, dst, proto, port)
	require.NoError(t, err)
	return tr
}

// TestTraceEIPInbound checks an allowed path from the internet through an
// EIP: the NAT hop shows the header before and after, the ingress rules see
// the client's real address, and the listener answers.
func TestTraceEIPInbound(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", client1.String()+"/32")}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Addr: netip.MustParseAddr("10.0.1.5"), Groups: []string{"sg-web"}, EIP: webEIP})
	addHost(t, v, "client1", client1.String())
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	tr := trace(t, v, "client1", webEIP, firewall.ProtoTCP, 80)
	assert.Equal(t, "route nat ingress listener", steps(tr))
	assert.True(t, tr.Allowed)
	assert.Equal(t, "web", tr.To)
	nat := hop(t, tr, HopNAT)
	assert.Equal(t, "tcp 203.0.113.7:40000 -> 47.0.0.80:80", nat.Before)
	assert.Equal(t, "tcp 203.0.113.7:40000 -> 10.0.1.5:80", nat.After)
	in := hop(t, tr, HopIngress)
	require.NotNil(t, in.Verdict)
	assert.Equal(t, firewall.SGRuleAccept, in.Verdict.Code)
	assert.Equal(t, "sg-web", in.Explanation.Group)
	assert.Equal(t, "SG_RULE_ACCEPT", tr.Final.Code)
	assert.Equal(t, firewall.SGRuleAccept, tr.Verdict.Code)
	assert.Equal(t, client1, tr.Probe.Src, "the rules see the client's real address")
	assert.Equal(t, web.Addr(), tr.Probe.Dst)
	assert.True(t, tr.Probe.FromInternet)
}

// TestTraceIngressDeny checks the deciding rule of a blocked ingress: the
// implicit default and a user rule with its priority, description and
// managed_by; and that Probe feeds firewall.Diagnose.
func TestTraceIngressDeny(t *testing.T) {
	v := newTestVPC(t)
	drop := rule(firewall.Ingress, firewall.Drop, "tcp", "6379/6379", "0.0.0.0/0")
	drop.Priority, drop.Description, drop.ManagedBy = 5, "no redis from outside", "dms"
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", client1.String()+"/32"), drop}})
	addInstance(t, v, InstanceSpec{Name: "web", Groups: []string{"sg-web"}, EIP: webEIP})
	addHost(t, v, "client2", client2.String())

	tr := trace(t, v, "client2", webEIP, firewall.ProtoTCP, 80)
	assert.False(t, tr.Allowed)
	assert.Equal(t, "route nat ingress! listener!", steps(tr))
	assert.Equal(t, "SG_DEFAULT_DENY", tr.Final.Code)
	assert.Equal(t, "ingress", tr.Final.Direction)
	assert.Equal(t, 110, tr.Final.Priority)
	d := firewall.Diagnose(tr.Verdict, tr.Probe)
	assert.Equal(t, "add ingress accept tcp 80/80 from 198.51.100.9/32 to sg-web", d.Fix)

	tr = trace(t, v, "client2", webEIP, firewall.ProtoTCP, 6379)
	assert.Equal(t, "SG_RULE_DROP", tr.Final.Code)
	assert.Equal(t, "sg-web", tr.Final.Group)
	assert.Equal(t, 1, tr.Final.RuleIndex)
	assert.Equal(t, 5, tr.Final.Priority)
	assert.Equal(t, "drop", tr.Final.Policy)
	assert.Equal(t, "no redis from outside", tr.Final.Description)
	assert.Equal(t, "dms", tr.Final.ManagedBy)
}

// TestTraceEnterpriseEgress checks that the sender's egress decides first
// and that the receiver's ingress verdict is still shown.
func TestTraceEnterpriseEgress(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-ent", Type: firewall.Enterprise})
	createGroup(t, v, firewall.Group{Name: "sg-db", Rules: []firewall.Rule{allowIn("tcp", "5432/5432", "10.0.0.0/16")}})
	addInstance(t, v, InstanceSpec{Name: "app", Groups: []string{"sg-ent"}})
	db := addInstance(t, v, InstanceSpec{Name: "db", VSwitch: "vsw-b", Groups: []string{"sg-db"}})

	tr := trace(t, v, "app", db.Addr(), firewall.ProtoTCP, 5432)
	assert.Equal(t, "platform egress! route ingress listener!", steps(tr))
	assert.Equal(t, "SG_DEFAULT_DENY", tr.Final.Code)
	assert.Equal(t, "egress", tr.Final.Direction)
	assert.Equal(t, firewall.SGRuleAccept, hop(t, tr, HopIngress).Verdict.Code, "ingress shown although egress decided")
	d := firewall.Diagnose(tr.Verdict, tr.Probe)
	assert.Equal(t, "add egress accept tcp 5432/5432 to "+db.Addr().String()+"/32 to sg-ent", d.Fix)
}

// TestTracePlatformSMTP checks that TCP 25 to the internet is blocked
// before any rule, and inside the VPC is not.
func TestTracePlatformSMTP(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-mx", Rules: []firewall.Rule{allowIn("tcp", "25/25", "10.0.0.0/16")}})
	addInstance(t, v, InstanceSpec{Name: "app", EIP: webEIP})
	mx := addInstance(t, v, InstanceSpec{Name: "mx", Groups: []string{"sg-mx"}})
	addHost(t, v, "mail", client1.String())
	serve(t, mx, ServiceSpec{Kind: ServiceBanner, Port: 25, Text: "220 mx\r\n"})

	tr := trace(t, v, "app", client1, firewall.ProtoTCP, 25)
	assert.Equal(t, "platform! egress route nat listener!", steps(tr))
	assert.Equal(t, "PLATFORM_PORT_BLOCKED", tr.Final.Code)
	assert.True(t, tr.Probe.ToInternet)

	tr = trace(t, v, "app", mx.Addr(), firewall.ProtoTCP, 25)
	assert.True(t, tr.Allowed, steps(tr))
	assert.Contains(t, hop(t, tr, HopPlatform).Explanation.Step, "inside the VPC")

	v.Firewall().SetBlockOutboundSMTP(false)
	tr = trace(t, v, "app", client1, firewall.ProtoTCP, 25)
	assert.True(t, hop(t, tr, HopPlatform).Allowed)
}

// TestTraceNoRoute checks NO_ROUTE_TO_INTERNET and NO_ROUTE_TO_DESTINATION.
func TestTraceNoRoute(t *testing.T) {
	v := newTestVPC(t)
	lonely := addInstance(t, v, InstanceSpec{Name: "lonely", VSwitch: "vsw-b"})
	addInstance(t, v, InstanceSpec{Name: "pub", EIP: webEIP})
	addHost(t, v, "client1", client1.String())

	tr := trace(t, v, "lonely", client1, firewall.ProtoTCP, 443)
	assert.Equal(t, "platform egress route!", steps(tr))
	assert.Equal(t, "NO_ROUTE_TO_INTERNET", tr.Final.Code)
	assert.Contains(t, firewall.Diagnose(tr.Verdict, tr.Probe).Fix, "associate an EIP with lonely")

	tr = trace(t, v, "client1", lonely.Addr(), firewall.ProtoTCP, 22)
	assert.Equal(t, "route!", steps(tr))
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code)
	assert.Contains(t, tr.Hops[0].Explanation.Step, "private address of instance lonely")

	tr = trace(t, v, "lonely", netip.MustParseAddr("10.0.2.200"), firewall.ProtoTCP, 22)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code)
	assert.Contains(t, tr.Hops[len(tr.Hops)-1].Explanation.Step, "no instance holds")

	tr = trace(t, v, "pub", webEIP, firewall.ProtoTCP, 22)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code, "no hairpin through an EIP")
	assert.Contains(t, tr.Final.Step, "no hairpin NAT); use its private address "+v.Instance("pub").Addr().String())

	tr = trace(t, v, "pub", netip.MustParseAddr("203.0.113.99"), firewall.ProtoTCP, 22)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code)
	assert.Contains(t, tr.Final.Step, "nobody owns the public address 203.0.113.99")

	tr = trace(t, v, "lonely", webEIP, firewall.ProtoTCP, 22)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code, "a hairpin is no route even without any translation")
	assert.Equal(t, "pub", tr.Hops[len(tr.Hops)-1].Where)

	tr = trace(t, v, "client1", netip.MustParseAddr("10.0.2.200"), firewall.ProtoTCP, 22)
	assert.Contains(t, tr.Final.Step, "the internet cannot reach private addresses")

	_, err := v.Trace("nobody", client1, firewall.ProtoTCP, 1)
	var ve *Error
	require.True(t, errors.As(err, &ve), "err = %v", err)
	assert.Equal(t, ErrInstanceNotFound, ve.Code)
}

// TestTraceDNAT checks a DNAT entry: public port to private port, ingress
// on the private view; an unmapped port of the gateway leads nowhere.
func TestTraceDNAT(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "0.0.0.0/0")}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Addr: netip.MustParseAddr("10.0.2.4"), VSwitch: "vsw-b", Groups: []string{"sg-web"}})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP,
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 8080, Instance: "web", Port: 80}}}))
	addHost(t, v, "client1", client1.String())
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})

	tr := trace(t, v, "client1", gwEIP, firewall.ProtoTCP, 8080)
	assert.True(t, tr.Allowed, steps(tr))
	nat := hop(t, tr, HopNAT)
	assert.Equal(t, "ngw", nat.Where)
	assert.Equal(t, "tcp 203.0.113.7:40000 -> 47.0.0.1:8080", nat.Before)
	assert.Equal(t, "tcp 203.0.113.7:40000 -> 10.0.2.4:80", nat.After)
	assert.Equal(t, "web", hop(t, tr, HopIngress).Where)
	assert.Equal(t, uint16(80), tr.Probe.Port, "the rules see the private port")

	tr = trace(t, v, "web", gwEIP, firewall.ProtoTCP, 8080)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code, "no hairpin through a DNAT entry")
	assert.Contains(t, tr.Final.Step, "use web's private address 10.0.2.4:80")

	tr = trace(t, v, "client1", gwEIP, firewall.ProtoTCP, 9999)
	assert.Equal(t, "NO_ROUTE_TO_DESTINATION", tr.Final.Code)
	assert.Contains(t, tr.Hops[0].Explanation.Step, "no DNAT entry")
}

// TestTraceSNAT checks that SNAT shows the gateway's EIP and its port pool
// and allocates nothing.
func TestTraceSNAT(t *testing.T) {
	v := newTestVPC(t)
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"}}))
	addInstance(t, v, InstanceSpec{Name: "app", Addr: netip.MustParseAddr("10.0.1.5")})
	host := addHost(t, v, "client1", client1.String())
	serve(t, host, ServiceSpec{Kind: ServiceHTTP, Port: 443})

	tr := trace(t, v, "app", client1, firewall.ProtoTCP, 443)
	assert.Equal(t, "platform egress route nat listener", steps(tr))
	assert.True(t, tr.Allowed)
	nat := hop(t, tr, HopNAT)
	assert.Equal(t, "ngw", nat.Where)
	assert.Equal(t, "tcp 10.0.1.5:40000 -> 203.0.113.7:443", nat.Before)
	assert.Equal(t, "tcp 47.0.0.1:[1024-65535] -> 203.0.113.7:443", nat.After)
	assert.Contains(t, nat.Note, "allocates none")
	assert.Equal(t, "SG_DEFAULT_ACCEPT", tr.Final.Code, "the deciding verdict is the egress default of a basic group")

	tr = trace(t, v, "app", client1, firewall.ProtoICMP, 0)
	assert.True(t, tr.Allowed, steps(tr))
	st, _ := v.NATStats("ngw")
	for proto, n := range st.Mappings {
		assert.Zero(t, n, "trace allocated a %s mapping", proto)
	}
}

// TestTraceNoListener checks the listener hop: TCP and UDP ports nothing
// listens on give NO_LISTENER; ICMP echo is always answered.
func TestTraceNoListener(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{
		allowIn("tcp", "1/65535", "10.0.0.0/16"), allowIn("udp", "1/65535", "10.0.0.0/16"), allowIn("icmp", "", "10.0.0.0/16"),
		allowIn("gre", "", "10.0.0.0/16"),
	}})
	addInstance(t, v, InstanceSpec{Name: "cli"})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", VSwitch: "vsw-b", Groups: []string{"sg-srv"}})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7})
	serve(t, srv, ServiceSpec{Kind: ServiceEcho, Port: 7, Protocol: "udp"})
	l, err := srv.Listen(8) // a caller's own listener counts too
	require.NoError(t, err)
	defer l.Close()

	for _, tc := range []struct {
		proto   uint8
		port    uint16
		allowed bool
		note    string
	}{
		{firewall.ProtoTCP, 7, true, ""},
		{firewall.ProtoUDP, 7, true, ""},
		{firewall.ProtoTCP, 8, true, ""},
		{firewall.ProtoTCP, 9, false, "TCP RST"},
		{firewall.ProtoUDP, 8, false, "port unreachable"},
		{firewall.ProtoICMP, 0, true, ""},
		{firewall.ProtoGRE, 0, false, "no handler"},
	} {
		tr := trace(t, v, "cli", srv.Addr(), tc.proto, tc.port)
		last := tr.Hops[len(tr.Hops)-1]
		assert.Equal(t, HopListener, last.Step)
		assert.Equal(t, tc.allowed, tr.Allowed, "%s %d: %s", firewall.ProtoName(tc.proto), tc.port, steps(tr))
		if !tc.allowed {
			assert.Equal(t, "NO_LISTENER", tr.Final.Code)
			assert.Contains(t, last.Note, tc.note)
		}
	}
	assert.True(t, srv.Listening("tcp", 8))
	l.Close()
	assert.False(t, srv.Listening("tcp", 8), "a closed listener no longer counts")
}

// TestTraceMatchesTraffic checks that Trace agrees with the data plane: for
// each probe, the trace's deciding code is what real traffic gets — the
// drop event's verdict and flow, a refused connection for NO_LISTENER, an
// answer when allowed. The traces run first and leave no state behind.
func TestTraceMatchesTraffic(t *testing.T) {
	v := newTestVPC(t)
	pubEIP := netip.MustParseAddr("47.0.0.90")
	createGroup(t, v, firewall.Group{Name: "sg-app"})
	createGroup(t, v, firewall.Group{Name: "sg-ent", Type: firewall.Enterprise, Rules: []firewall.Rule{
		rule(firewall.Egress, firewall.Accept, "tcp", "7/7", "10.0.2.0/24"),
	}})
	drop8 := rule(firewall.Ingress, firewall.Drop, "tcp", "8/8", "10.0.0.0/16")
	drop8.Priority = 5
	tcp79 := allowIn("tcp", "7/9", "10.0.0.0/16")
	tcp79.Priority = 10 // drop8 outranks it
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", "0.0.0.0/0"), tcp79, allowIn("udp", "7/9", "10.0.0.0/16"), drop8,
	}})
	createGroup(t, v, firewall.Group{Name: "sg-pub", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", client1.String()+"/32"), allowIn("icmp", "", "0.0.0.0/0"),
	}})
	app := addInstance(t, v, InstanceSpec{Name: "app", Groups: []string{"sg-app"}})
	ent := addInstance(t, v, InstanceSpec{Name: "ent", Groups: []string{"sg-ent"}})
	web := addInstance(t, v, InstanceSpec{Name: "web", VSwitch: "vsw-b", Groups: []string{"sg-web"}})
	pub := addInstance(t, v, InstanceSpec{Name: "pub", VSwitch: "vsw-b", Groups: []string{"sg-pub"}, EIP: pubEIP})
	lonely := addInstance(t, v, InstanceSpec{Name: "lonely", VSwitch: "vsw-b"})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"},
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 8080, Instance: "web", Port: 80}}}))
	h1 := addHost(t, v, "client1", client1.String())
	h2 := addHost(t, v, "client2", client2.String())
	serve(t, web, ServiceSpec{Kind: ServiceEcho, Port: 80})
	echoAll(t, 7, web, h1)
	serve(t, web, ServiceSpec{Kind: ServiceEcho, Port: 8})
	serve(t, pub, ServiceSpec{Kind: ServiceEcho, Port: 80})
	serve(t, h1, ServiceSpec{Kind: ServiceEcho, Port: 25})

	tcp, udp, icmp := firewall.ProtoTCP, firewall.ProtoUDP, firewall.ProtoICMP
	tests := []struct {
		from *Instance
		dst  netip.Addr
		prot uint8
		port uint16
		want firewall.Code // an allowing code, or the blocking one
	}{
		{app, web.Addr(), tcp, 7, firewall.SGRuleAccept},
		{app, web.Addr(), udp, 7, firewall.SGRuleAccept},
		{app, web.Addr(), icmp, 0, firewall.SGDefaultDeny},
		{app, web.Addr(), tcp, 8, firewall.SGRuleDrop},
		{app, web.Addr(), tcp, 9, firewall.NoListener},
		{app, web.Addr(), udp, 9, firewall.NoListener},
		{ent, web.Addr(), tcp, 7, firewall.SGRuleAccept},
		{ent, web.Addr(), tcp, 80, firewall.SGDefaultDeny},
		{app, client1, tcp, 7, firewall.SGDefaultAccept},
		{app, client1, udp, 9, firewall.NoListener},
		{app, client1, icmp, 0, firewall.SGDefaultAccept},
		{app, client1, tcp, 25, firewall.PlatformPortBlocked},
		{pub, client1, udp, 7, firewall.SGDefaultAccept},
		{lonely, client1, tcp, 7, firewall.NoRouteToInternet},
		{app, pubEIP, tcp, 80, firewall.NoRouteToDestination},
		{app, netip.MustParseAddr("10.0.2.200"), tcp, 7, firewall.NoRouteToDestination},
		{h1, pubEIP, tcp, 80, firewall.SGRuleAccept},
		{h2, pubEIP, tcp, 80, firewall.SGDefaultDeny},
		{h1, pubEIP, icmp, 0, firewall.SGRuleAccept},
		{h1, gwEIP, tcp, 8080, firewall.SGRuleAccept},
		{h2, gwEIP, tcp, 9999, firewall.NoRouteToDestination},
		{h1, web.Addr(), tcp, 80, firewall.NoRouteToDestination},
		{h1, client2, tcp, 7, firewall.NoListener},
		{app, gwEIP, tcp, 8080, firewall.NoRouteToDestination},                            // hairpin through a DNAT entry
		{app, netip.MustParseAddr("203.0.113.99"), tcp, 7, firewall.NoRouteToDestination}, // a public address nobody owns
		{h1, netip.MustParseAddr("203.0.113.99"), udp, 7, firewall.NoRouteToDestination},
		{h1, netip.MustParseAddr("10.0.2.200"), tcp, 7, firewall.NoRouteToDestination},
	}
	traces := make([]*Trace, len(tests))
	for i, tc := range tests {
		traces[i] = trace(t, v, tc.from.Name(), tc.dst, tc.prot, tc.port)
	}
	assert.Zero(t, v.Firewall().Conntrack().Len(), "traces create no conntrack entry")

	sub := v.SubscribeDrops(64)
	defer sub.Close()
	for i, tc := range tests {
		tr := traces[i]
		name := fmt.Sprintf("%s to %v %s %d", tc.from.Name(), tc.dst, firewall.ProtoName(tc.prot), tc.port)
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, tr.Verdict.Code, "trace: %s; %s", steps(tr), tr.Final)
			drain(sub)
			to := ap(tc.dst, tc.port)
			proto := firewall.ProtoName(tc.prot)
			switch {
			case tr.Allowed:
				require.NoError(t, probe(tc.from, proto, to, allowWait))
			case tc.want == firewall.NoListener:
				err := probe(tc.from, proto, to, allowWait)
				require.Error(t, err)
				if tc.prot == tcp {
					assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "err = %v", err)
				} else {
					assert.Contains(t, err.Error(), "refused")
				}
			default:
				err := probe(tc.from, proto, to, blockWait)
				require.True(t, isTimeout(err), "err = %v", err)
				ev := waitDrop(t, sub, tc.want, tc.from.Name(), "")
				assert.Equal(t, tr.Verdict.Dir, ev.Verdict.Dir)
				assert.Equal(t, tr.Verdict.Entry, ev.Verdict.Entry)
				assert.Equal(t, tr.Probe.Src, firewall.U32ToAddr(ev.Flow.Src), "the deciding step saw this source")
				assert.Equal(t, tr.Probe.Dst, firewall.U32ToAddr(ev.Flow.Dst), "the deciding step saw this destination")
				assert.Equal(t, tr.Final.Step, ev.Explanation.Step, "traffic and trace give the same reason")
				assert.NotEmpty(t, ev.To, "a drop event names both ends")
			}
		})
	}
}
