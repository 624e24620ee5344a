package netstack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/vpclab/vpclab/firewall"
)

// ipFrame builds a frame from src to dst the way gVisor's transports do
// (headers pushed, payload in its own view).
func ipFrame(proto byte, src, dst netip.Addr, transport []byte, payload int) *stack.PacketBuffer {
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(transport)+payload))
	ip[8] = 64
	ip[9] = proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	var pl [][]byte
	if payload > 0 {
		pl = append(pl, make([]byte, payload))
	}
	return pushed(ip, transport, pl...)
}

func l4(sport, dport uint16, n int, flags byte) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	if n >= 20 {
		b[12] = 5 << 4
		b[13] = flags
	}
	return b
}

// TestVPCForwardAllocatesNothing checks the per-frame path without NAT —
// header peek, parse, conntrack, a 500-rule policy on both NICs, counters,
// delivery — allocates nothing, for allowed and dropped frames.
func TestVPCForwardAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v := newTestVPC(t)
	cli := addInstance(t, v, InstanceSpec{Name: "cli", Addr: netip.MustParseAddr("10.0.1.10"), Groups: addPolicy500(t, v, "cli")})
	srv := addInstance(t, v, InstanceSpec{Name: "srv", Addr: netip.MustParseAddr("10.0.1.20"), Groups: addPolicy500(t, v, "srv")})
	disp := &countingDispatcher{}
	srv.NIC().Attach(disp) // a stub in place of the server's stack
	src := v.Fabric().Port(cli.Addr())
	echo := make([]byte, 8)
	echo[0] = 8
	binary.BigEndian.PutUint16(echo[4:], 99)

	tests := []struct {
		name    string
		first   *stack.PacketBuffer // opens the flow
		pkt     *stack.PacketBuffer
		allowed bool
	}{
		{"tcp established", ipFrame(6, cli.Addr(), srv.Addr(), l4(40000, 5001, 20, 0x02), 0),
			ipFrame(6, cli.Addr(), srv.Addr(), l4(40000, 5001, 20, 0x10), 1400), true},
		{"udp established", nil, ipFrame(17, cli.Addr(), srv.Addr(), l4(40001, 5001, 8, 0), 512), true},
		{"icmp echo", nil, ipFrame(1, cli.Addr(), srv.Addr(), echo, 56), true},
		{"tcp syn denied", nil, ipFrame(6, cli.Addr(), srv.Addr(), l4(40002, 5002, 20, 0x02), 0), false},
		{"tcp syn to nowhere", nil, ipFrame(6, cli.Addr(), netip.MustParseAddr("10.0.1.99"), l4(40003, 80, 20, 0x02), 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.first != nil {
				src.transmit(tc.first)
				tc.first.DecRef()
			}
			defer tc.pkt.DecRef()
			before := disp.frames
			src.transmit(tc.pkt)
			assert.Equal(t, tc.allowed, disp.frames > before, "delivered")
			allocs := testing.AllocsPerRun(1000, func() { src.transmit(tc.pkt) })
			assert.Zero(t, allocs, "allocations per frame")
		})
	}
}

// TestVPCCloseLeavesNothing runs traffic of every kind, closes the VPC and
// checks that no goroutine of it is left and subscriptions are closed.
func TestVPCCloseLeavesNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	v, err := NewVPC(VPCConfig{Name: "vpc", CIDR: netip.MustParsePrefix("10.0.0.0/16")})
	require.NoError(t, err)
	require.NoError(t, v.AddVSwitch("vsw-a", netip.MustParsePrefix("10.0.1.0/24")))
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"}}))
	a, err := v.AddInstance(InstanceSpec{Name: "a", VSwitch: "vsw-a"})
	require.NoError(t, err)
	b, err := v.AddInstance(InstanceSpec{Name: "b", VSwitch: "vsw-a", EIP: webEIP})
	require.NoError(t, err)
	h, err := v.AddInternetHost("h", client1)
	require.NoError(t, err)
	for _, inst := range []*Instance{a, b, h} {
		require.NoError(t, inst.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 22}))
	}
	sub := v.SubscribeDrops(4)
	_, _, err = httpGet(ctxTimeout(t, allowWait), a, ap(client1, 22))
	require.NoError(t, err)
	_, _, err = httpGet(ctxTimeout(t, allowWait), h, ap(webEIP, 22))
	require.NoError(t, err)
	_, _, err = httpGet(ctxTimeout(t, allowWait), a, ap(b.Addr(), 22))
	require.NoError(t, err)
	c, err := a.Dial(ctxTimeout(t, allowWait), "tcp", ap(b.Addr(), 22)) // left open
	require.NoError(t, err)
	defer c.Close()
	a.Ping(ctxTimeout(t, blockWait), netip.MustParseAddr("10.0.1.99"), 1) // a drop event

	require.NoError(t, v.Close())
	require.NoError(t, v.Close())
	for range sub.C { // closed by Close
	}
	_, err = v.AddInstance(InstanceSpec{Name: "late", VSwitch: "vsw-a"})
	var ve *Error
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, ErrVPCClosed, ve.Code)
	goleak.VerifyNone(t, ignore)
}

// rawFrame returns the contiguous headers of a frame from src to dst, as
// the fabric hands them to the Router.
func rawFrame(proto byte, src, dst netip.Addr, transport []byte) []byte {
	ip := make([]byte, 20, 20+len(transport))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(transport)))
	ip[8] = 64
	ip[9] = proto
	s, d := src.As4(), dst.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return append(ip, transport...)
}

// TestVPCRouteAllocatesNothing checks the route decision and the firewall
// on every path through the internet mapping — EIP in and out, SNAT out
// and its answers, DNAT in, and each kind of dead end — allocate nothing
// per frame (the NAT rewrite itself is measured by the fabric's tests).
func TestVPCRouteAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v := newTestVPC(t)
	createGroup(t, v, firewall.Group{Name: "sg-pub", Rules: []firewall.Rule{allowIn("tcp", "1/65535", "0.0.0.0/0")}})
	app := addInstance(t, v, InstanceSpec{Name: "app", Addr: netip.MustParseAddr("10.0.1.10")})
	pub := addInstance(t, v, InstanceSpec{Name: "pub", Addr: netip.MustParseAddr("10.0.2.10"), VSwitch: "vsw-b", Groups: []string{"sg-pub"}, EIP: webEIP})
	addInstance(t, v, InstanceSpec{Name: "dnat", Addr: netip.MustParseAddr("10.0.2.20"), VSwitch: "vsw-b", Groups: []string{"sg-pub"}})
	require.NoError(t, v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"},
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 2222, Instance: "dnat", Port: 22}}}))
	host := addHost(t, v, "client1", client1.String())
	r := vpcRouter{v}
	port := func(i *Instance) *Port { return v.Fabric().Port(i.Addr()) }
	syn, ack := byte(0x02), byte(0x10)

	// Open the flows the established cases use.
	_, out := r.Route(port(app), rawFrame(6, app.Addr(), client1, l4(40000, 80, 20, syn)), 40)
	require.NotZero(t, out.Flags&RewriteSrcPort, "SNAT allocated a public port")
	for _, f := range []struct {
		from *Instance
		ip   []byte
	}{
		{pub, rawFrame(6, pub.Addr(), client1, l4(40001, 80, 20, syn))},
		{host, rawFrame(6, client1, webEIP, l4(40002, 22, 20, syn))},
		{host, rawFrame(6, client1, gwEIP, l4(40003, 2222, 20, syn))},
	} {
		dst, _ := r.Route(port(f.from), f.ip, len(f.ip))
		require.NotNil(t, dst)
	}

	tests := []struct {
		name    string
		from    *Instance
		ip      []byte
		allowed bool
	}{
		{"snat out", app, rawFrame(6, app.Addr(), client1, l4(40000, 80, 20, ack)), true},
		{"snat answer", host, rawFrame(6, client1, gwEIP, l4(80, out.SrcPort, 20, ack)), true},
		{"eip out", pub, rawFrame(6, pub.Addr(), client1, l4(40001, 80, 20, ack)), true},
		{"eip in", host, rawFrame(6, client1, webEIP, l4(40002, 22, 20, ack)), true},
		{"dnat in", host, rawFrame(6, client1, gwEIP, l4(40003, 2222, 20, ack)), true},
		{"eip in, new flow", host, rawFrame(6, client1, webEIP, l4(40004, 23, 20, syn)), true},
		{"hairpin", app, rawFrame(6, app.Addr(), webEIP, l4(40005, 22, 20, syn)), false},
		{"public nobody owns", app, rawFrame(6, app.Addr(), netip.MustParseAddr("203.0.113.99"), l4(40006, 22, 20, syn)), false},
		{"internet to private", host, rawFrame(6, client1, pub.Addr(), l4(40007, 22, 20, syn)), false},
		{"gateway, no entry", host, rawFrame(6, client1, gwEIP, l4(40008, 9999, 20, syn)), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := port(tc.from)
			dst, _ := r.Route(src, tc.ip, len(tc.ip))
			assert.Equal(t, tc.allowed, dst != nil, "routed")
			allocs := testing.AllocsPerRun(1000, func() { r.Route(src, tc.ip, len(tc.ip)) })
			assert.Zero(t, allocs, "allocations per frame")
		})
	}
}
