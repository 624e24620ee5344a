package netstack

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// whoami runs a TCP service on port that writes back the address it sees
// the client at, and a UDP one that does the same per datagram.
func whoami(t *testing.T, inst *Instance, port uint16) {
	t.Helper()
	l, err := inst.Listen(port)
	require.NoError(t, err)
	pc, err := inst.ListenPacket(port)
	require.NoError(t, err)
	var wg sync.WaitGroup
	var closed atomic.Bool
	t.Cleanup(func() { closed.Store(true); l.Close(); pc.Close(); wg.Wait() })
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				if closed.Load() {
					return
				}
				continue // an ICMP error about an earlier answer
			}
			pc.WriteTo([]byte(from.String()), from)
		}
	}()
}

// seenAs asks a whoami service at to which address it sees cli at.
func seenAs(cli *Instance, proto string, to netip.AddrPort, d time.Duration) (netip.AddrPort, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := cli.Dial(ctx, proto, to)
	if err != nil {
		return netip.AddrPort{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	if proto == "udp" {
		if _, err := c.Write([]byte("?")); err != nil {
			return netip.AddrPort{}, err
		}
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.ParseAddrPort(string(buf[:n]))
}

var (
	client1 = netip.MustParseAddr("203.0.113.7")
	client2 = netip.MustParseAddr("198.51.100.9")
	webEIP  = netip.MustParseAddr("47.0.0.80")
	gwEIP   = netip.MustParseAddr("47.0.0.1")
)

// TestVPCEIPInbound checks docs/semantics.md §5.1–§5.2: the EIP is translated
// first, the instance never sees it, and its ingress rules see the client's
// real public address.
func TestVPCEIPInbound(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", client1.String()+"/32"), allowIn("udp", "80/80", client1.String()+"/32"),
		allowIn("icmp", "", client1.String()+"/32"),
	}})
	web := addInstance(t, v, InstanceSpec{Name: "web", Groups: []string{"sg-web"}, EIP: webEIP})
	h1 := addHost(t, v, "client1", client1.String())
	h2 := addHost(t, v, "client2", client2.String())
	whoami(t, web, 80)
	sub := v.SubscribeDrops(16)
	defer sub.Close()
	assert.Equal(t, webEIP, v.EIPOf("web"))
	name, kind := v.Owner(webEIP)
	assert.Equal(t, "web", name)
	assert.Equal(t, OwnerEIP, kind)

	for _, proto := range []string{"tcp", "udp"} {
		got, err := seenAs(h1, proto, ap(webEIP, 80), allowWait)
		require.NoError(t, err, proto)
		assert.Equal(t, client1, got.Addr(), "%s: the instance sees the client's real address", proto)
	}
	require.NoError(t, probe(h1, "icmp", ap(webEIP, 0), allowWait))

	_, err := seenAs(h2, "tcp", ap(webEIP, 80), blockWait)
	require.True(t, isTimeout(err), "err = %v", err)
	ev := waitDrop(t, sub, firewall.SGDefaultDeny, "client2", "web")
	assert.Equal(t, client2, firewall.U32ToAddr(ev.Flow.Src), "the rules saw the client's real address")
	assert.Equal(t, web.Addr(), firewall.U32ToAddr(ev.Flow.Dst), "the rules saw the private address")

	// The instance's address itself is not reachable from the internet.
	require.True(t, isTimeout(probe(h1, "tcp", ap(web.Addr(), 80), blockWait)))
	waitDrop(t, sub, firewall.NoRouteToDestination, "client1", "web")

	// Without the EIP the address leads nowhere.
	require.NoError(t, v.UnassociateEIP("web"))
	require.True(t, isTimeout(probe(h1, "icmp", ap(webEIP, 0), blockWait)))
	waitDrop(t, sub, firewall.NoRouteToDestination, "client1", "")
}

// TestVPCEIPOutbound checks docs/semantics.md §5.3: egress rules see the real
// public destination, then the source becomes the EIP.
func TestVPCEIPOutbound(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-app", Rules: []firewall.Rule{
		rule(firewall.Egress, firewall.Drop, "all", "", client2.String()+"/32"),
	}})
	app := addInstance(t, v, InstanceSpec{Name: "app", Groups: []string{"sg-app"}, EIP: webEIP})
	h1 := addHost(t, v, "client1", client1.String())
	h2 := addHost(t, v, "client2", client2.String())
	whoami(t, h1, 80)
	whoami(t, h2, 80)
	serve(t, h1, ServiceSpec{Kind: ServiceEcho, Port: 7, Protocol: "udp"})
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	for _, proto := range []string{"tcp", "udp"} {
		got, err := seenAs(app, proto, ap(client1, 80), allowWait)
		require.NoError(t, err, proto)
		assert.Equal(t, webEIP, got.Addr(), "%s: the host sees the EIP", proto)
	}
	require.NoError(t, probe(app, "icmp", ap(client1, 0), allowWait))
	require.NoError(t, probe(app, "udp", ap(client1, 7), allowWait))

	_, err := seenAs(app, "tcp", ap(client2, 80), blockWait)
	require.True(t, isTimeout(err), "err = %v", err)
	ev := waitDrop(t, sub, firewall.SGRuleDrop, "app", "client2")
	assert.Equal(t, firewall.Egress, ev.Verdict.Dir)
	assert.Equal(t, client2, firewall.U32ToAddr(ev.Flow.Dst), "egress rules saw the real destination")
	assert.Equal(t, app.Addr(), firewall.U32ToAddr(ev.Flow.Src), "egress rules saw the private source")

	// A UDP probe to a closed port: the ICMP error comes back through the EIP.
	c, err := app.Dial(ctxTimeout(t, allowWait), "udp", ap(client1, 9))
	require.NoError(t, err)
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(allowWait))
	_, err = c.Read(make([]byte, 8))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused")
}

// TestVPCSNAT checks a NAT gateway shared by several instances: each one's
// flows leave from the gateway's EIP with a port of their own; ping and ICMP
// errors find their way back; an instance with an EIP uses its EIP
// (docs/semantics.md §5.3–§5.4).
func TestVPCSNAT(t *testing.T) {
	v := newTestVPC(t)
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"}}))
	var insts []*Instance
	for _, name := range []string{"a1", "a2", "a3"} {
		insts = append(insts, addInstance(t, v, InstanceSpec{Name: name}))
	}
	withEIP := addInstance(t, v, InstanceSpec{Name: "a4", EIP: webEIP})
	host := addHost(t, v, "client1", client1.String())
	whoami(t, host, 80)
	name, kind := v.Owner(gwEIP)
	assert.Equal(t, "ngw", name)
	assert.Equal(t, OwnerNATGateway, kind)

	for _, proto := range []string{"tcp", "udp"} {
		ports := map[uint16]string{}
		for _, inst := range insts {
			for range 2 {
				got, err := seenAs(inst, proto, ap(client1, 80), allowWait)
				require.NoError(t, err, "%s from %s", proto, inst.Name())
				assert.Equal(t, gwEIP, got.Addr(), "%s from %s", proto, inst.Name())
				if prev, dup := ports[got.Port()]; dup && prev != inst.Name() {
					t.Errorf("%s: %s and %s share public port %d", proto, prev, inst.Name(), got.Port())
				}
				ports[got.Port()] = inst.Name()
			}
		}
	}
	for _, inst := range insts {
		require.NoError(t, probe(inst, "icmp", ap(client1, 0), allowWait), "ping from %s", inst.Name())
	}
	got, err := seenAs(withEIP, "tcp", ap(client1, 80), allowWait)
	require.NoError(t, err)
	assert.Equal(t, webEIP, got.Addr(), "an EIP takes precedence over SNAT")

	c, err := insts[0].Dial(ctxTimeout(t, allowWait), "udp", ap(client1, 9))
	require.NoError(t, err)
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(allowWait))
	_, err = c.Read(make([]byte, 8))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refused", "the port unreachable is translated back through SNAT")

	st, ok := v.NATStats("ngw")
	require.True(t, ok)
	assert.NotZero(t, st.Mappings["tcp"])
	assert.NotZero(t, st.Mappings["udp"])
	assert.NotZero(t, st.Mappings["icmp"])
}

// TestVPCSNATExhaustion checks that a gateway out of public ports drops new
// flows (reported as NO_ROUTE_TO_INTERNET, SNAT exhausted) and that an idle
// mapping frees its port after the timeout.
func TestVPCSNATExhaustion(t *testing.T) {
	clock := firewall.NewManualClock()
	v := newTestVPC(t, VPCConfig{Name: "vpc", CIDR: netip.MustParsePrefix("10.0.0.0/16"),
		Firewall: firewall.Config{Conntrack: firewall.ConntrackConfig{Clock: clock}}})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"},
		PortMin: 40000, PortMax: 40000, UDPTimeout: 30 * time.Second}))
	a := addInstance(t, v, InstanceSpec{Name: "a"})
	b := addInstance(t, v, InstanceSpec{Name: "b"})
	host := addHost(t, v, "client1", client1.String())
	whoami(t, host, 80)
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	got, err := seenAs(a, "udp", ap(client1, 80), allowWait)
	require.NoError(t, err)
	assert.Equal(t, netip.AddrPortFrom(gwEIP, 40000), got)

	_, err = seenAs(b, "udp", ap(client1, 80), blockWait)
	require.True(t, isTimeout(err), "err = %v", err)
	ev := waitDrop(t, sub, firewall.NoRouteToInternet, "b", "client1")
	assert.Contains(t, ev.Explanation.Step, "exhausted")
	st, _ := v.NATStats("ngw")
	assert.NotZero(t, st.Exhausted["udp"])

	clock.Advance(31 * time.Second)
	got, err = seenAs(b, "udp", ap(client1, 80), allowWait)
	require.NoError(t, err, "the idle mapping's port is free again")
	assert.Equal(t, netip.AddrPortFrom(gwEIP, 40000), got)
}

// TestVPCDNAT checks DNAT entries: the public port reaches the instance,
// whose ingress rules see the client's address and the private port; the
// replies leave from the gateway's EIP. A DNAT entry to an instance with an
// EIP is refused (docs/semantics.md §5.4).
func TestVPCDNAT(t *testing.T) {
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{
		allowIn("tcp", "80/80", client1.String()+"/32"), allowIn("udp", "53/53", "0.0.0.0/0"),
	}})
	web := addInstance(t, v, InstanceSpec{Name: "web", VSwitch: "vsw-b", Groups: []string{"sg-web"}})
	eipInst := addInstance(t, v, InstanceSpec{Name: "has-eip", VSwitch: "vsw-b", EIP: webEIP})
	_ = eipInst
	err := v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP,
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 80, Instance: "has-eip", Port: 80}}})
	var ve *Error
	require.True(t, errors.As(err, &ve), "err = %v", err)
	assert.Equal(t, ErrDNATToEIPInstance, ve.Code)

	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, DNAT: []DNATEntry{
		{Protocol: "tcp", PublicPort: 8080, Instance: "web", Port: 80},
		{Protocol: "udp", PublicPort: 5353, Instance: "web", Port: 53},
	}}))
	err = v.AssociateEIP("web", netip.MustParseAddr("47.0.0.99"))
	require.True(t, errors.As(err, &ve), "err = %v", err)
	assert.Equal(t, ErrDNATToEIPInstance, ve.Code)

	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	serve(t, web, ServiceSpec{Kind: ServiceEcho, Port: 53, Protocol: "udp"})
	h1 := addHost(t, v, "client1", client1.String())
	h2 := addHost(t, v, "client2", client2.String())
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	_, body, err := httpGet(ctxTimeout(t, allowWait), h1, ap(gwEIP, 8080))
	require.NoError(t, err)
	assert.Equal(t, "web\n", body)
	require.NoError(t, probe(h2, "udp", ap(gwEIP, 5353), allowWait))

	_, _, err = httpGet(ctxTimeout(t, blockWait), h2, ap(gwEIP, 8080))
	require.True(t, isTimeout(err), "err = %v", err)
	ev := waitDrop(t, sub, firewall.SGDefaultDeny, "client2", "web")
	assert.Equal(t, client2, firewall.U32ToAddr(ev.Flow.Src))
	assert.Equal(t, web.Addr(), firewall.U32ToAddr(ev.Flow.Dst))
	assert.Equal(t, uint16(80), ev.Flow.DstPort, "ingress rules see the private port")

	// No DNAT entry, no SNAT session: no route.
	require.True(t, isTimeout(probe(h1, "tcp", ap(gwEIP, 9999), blockWait)))
	waitDrop(t, sub, firewall.NoRouteToDestination, "client1", "")
	err = v.RemoveInstance("web")
	require.True(t, errors.As(err, &ve), "err = %v", err)
	assert.Equal(t, ErrInstanceInUse, ve.Code)
}

// TestVPCNoRoute checks docs/semantics.md §5.3 and §5.5: an instance without EIP
// or SNAT cannot reach the internet, and internet hosts cannot reach
// private addresses.
func TestVPCNoRoute(t *testing.T) {
	v := newTestVPC(t)
	lonely := addInstance(t, v, InstanceSpec{Name: "lonely", VSwitch: "vsw-b"})
	host := addHost(t, v, "client1", client1.String())
	whoami(t, host, 80)
	serve(t, lonely, ServiceSpec{Kind: ServiceEcho, Port: 22})
	sub := v.SubscribeDrops(16)
	defer sub.Close()

	for _, proto := range []string{"tcp", "udp", "icmp"} {
		require.True(t, isTimeout(probe(lonely, proto, ap(client1, 80), blockWait)), proto)
		ev := waitDrop(t, sub, firewall.NoRouteToInternet, "lonely", "client1")
		assert.Contains(t, ev.Explanation.Step, "no EIP")
	}
	require.True(t, isTimeout(probe(host, "tcp", ap(lonely.Addr(), 22), blockWait)))
	waitDrop(t, sub, firewall.NoRouteToDestination, "client1", "lonely")
	st, _ := v.NICStats("lonely")
	assert.NotZero(t, st.Drops["NO_ROUTE_TO_INTERNET"])
}
