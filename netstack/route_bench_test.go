package netstack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/vpclab/vpclab/firewall"
)

// BenchmarkVPCRoute measures the route decision with the firewall on each
// path through the VPC — intranet, EIP and SNAT out, EIP and DNAT in, an
// SNAT answer, a dead end — for a frame of an established flow (a dead end
// for its SYN), calling the Router directly: no PacketBuffer, no rewrite,
// no delivery.
func BenchmarkVPCRoute(b *testing.B) {
	v := newTestVPC(b)
	createGroup(b, v, firewall.Group{Name: "sg-pub", Rules: []firewall.Rule{allowIn("tcp", "1/65535", "0.0.0.0/0")}})
	app := addInstance(b, v, InstanceSpec{Name: "app", Addr: netip.MustParseAddr("10.0.1.10")})
	peer := addInstance(b, v, InstanceSpec{Name: "peer", Addr: netip.MustParseAddr("10.0.1.11"), Groups: []string{"sg-pub"}})
	pub := addInstance(b, v, InstanceSpec{Name: "pub", Addr: netip.MustParseAddr("10.0.2.10"), VSwitch: "vsw-b", Groups: []string{"sg-pub"}, EIP: webEIP})
	addInstance(b, v, InstanceSpec{Name: "dnat", Addr: netip.MustParseAddr("10.0.2.20"), VSwitch: "vsw-b", Groups: []string{"sg-pub"}})
	if err := v.AddNATGateway(NATGatewaySpec{Name: "ngw", VSwitch: "vsw-a", EIP: gwEIP, SNAT: []string{"vsw-a"},
		DNAT: []DNATEntry{{Protocol: "tcp", PublicPort: 2222, Instance: "dnat", Port: 22}}}); err != nil {
		b.Fatal(err)
	}
	host := addHost(b, v, "client1", client1.String())
	r := vpcRouter{v}
	port := func(i *Instance) *Port { return v.Fabric().Port(i.Addr()) }
	frame := func(src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
		ip := make([]byte, 40)
		ip[0], ip[8], ip[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(ip[2:], 40)
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[20:], sport)
		binary.BigEndian.PutUint16(ip[22:], dport)
		ip[32], ip[33] = 5<<4, flags
		return ip
	}
	const syn, ack = 0x02, 0x10
	_, out := r.Route(port(app), frame(app.Addr(), client1, 40000, 80, syn), 40)
	for _, f := range []struct {
		from *Instance
		ip   []byte
	}{
		{app, frame(app.Addr(), peer.Addr(), 40009, 22, syn)},
		{pub, frame(pub.Addr(), client1, 40001, 80, syn)},
		{host, frame(client1, webEIP, 40002, 22, syn)},
		{host, frame(client1, gwEIP, 40003, 2222, syn)},
	} {
		if dst, _ := r.Route(port(f.from), f.ip, len(f.ip)); dst == nil {
			b.Fatal("a flow the benchmark needs was not allowed")
		}
	}
	for _, bc := range []struct {
		name string
		from *Instance
		ip   []byte
	}{
		{"intranet", app, frame(app.Addr(), peer.Addr(), 40009, 22, ack)},
		{"snat-out", app, frame(app.Addr(), client1, 40000, 80, ack)},
		{"snat-answer", host, frame(client1, gwEIP, 80, out.SrcPort, ack)},
		{"eip-out", pub, frame(pub.Addr(), client1, 40001, 80, ack)},
		{"eip-in", host, frame(client1, webEIP, 40002, 22, ack)},
		{"dnat-in", host, frame(client1, gwEIP, 40003, 2222, ack)},
		{"dead-end", app, frame(app.Addr(), netip.MustParseAddr("10.0.2.200"), 40005, 22, syn)},
	} {
		b.Run("path="+bc.name, func(b *testing.B) {
			src := port(bc.from)
			b.ReportAllocs()
			for b.Loop() {
				r.Route(src, bc.ip, len(bc.ip))
			}
		})
	}
}
