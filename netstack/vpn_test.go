package netstack

import (
	"context"
	"net/netip"
	"time"

	"encoding/binary"
	"github.com/vpclab/vpclab/firewall"
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// TestVPNSegmentsSuperSegments checks that a TCP super-segment (host GSO,
// partial checksum) leaves for a peer as MTU-sized segments with
// consecutive sequence numbers, FIN and PSH only on the last, and full
// IPv4 and TCP checksums; a small UDP frame gets its checksum filled in.
func TestVPNSegmentsSuperSegments(t *testing.T) {
	const mtu = 1420
	tn := newVPNTUN("t", mtu, nil)
	defer tn.Close()
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i)
	}
	p := make([]byte, 20+32+len(payload))
	ip := header.IPv4(p)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), ID: 100, TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 1, 10}), DstAddr: tcpip.AddrFrom4([4]byte{10, 99, 0, 2})})
	tcp := header.TCP(p[20:])
	tcp.Encode(&header.TCPFields{SrcPort: 80, DstPort: 40000, SeqNum: 0xfffff000, AckNum: 9, DataOffset: 32,
		Flags: header.TCPFlagAck | header.TCPFlagPsh | header.TCPFlagFin, WindowSize: 1000, Checksum: 0x1234})
	copy(p[52:], payload)
	tn.toPeer(p)

	var got []byte
	seq := uint32(0xfffff000)
	for n := 0; len(got) < len(payload); n++ {
		b := <-tn.out
		require.LessOrEqual(t, len(b), mtu)
		ip := header.IPv4(b)
		require.True(t, ip.IsChecksumValid(), "segment %d: IPv4 checksum", n)
		require.Equal(t, uint16(100+n), ip.ID())
		require.Equal(t, int(ip.TotalLength()), len(b))
		tcp := header.TCP(b[20:])
		require.Equal(t, seq, tcp.SequenceNumber())
		pseudo := header.PseudoHeaderChecksum(header.TCPProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(b)-20))
		require.Equal(t, uint16(0xffff), checksum.Checksum(b[20:], pseudo), "segment %d: TCP checksum", n)
		last := len(got)+len(b)-52 == len(payload)
		require.Equal(t, last, tcp.Flags()&header.TCPFlagFin != 0, "segment %d: FIN", n)
		require.Equal(t, last, tcp.Flags()&header.TCPFlagPsh != 0, "segment %d: PSH", n)
		got = append(got, b[52:]...)
		seq += uint32(len(b) - 52)
	}
	require.Equal(t, payload, got)
	require.Empty(t, tn.out)

	u := make([]byte, 20+8+10)
	header.IPv4(u).Encode(&header.IPv4Fields{TotalLength: uint16(len(u)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 1, 10}), DstAddr: tcpip.AddrFrom4([4]byte{10, 99, 0, 2})})
	binary.BigEndian.PutUint16(u[24:], uint16(len(u)-20))
	tn.toPeer(u)
	b := <-tn.out
	pseudo := header.PseudoHeaderChecksum(header.UDPProtocolNumber, header.IPv4(b).SourceAddress(), header.IPv4(b).DestinationAddress(), uint16(len(b)-20))
	require.Equal(t, uint16(0xffff), checksum.Checksum(b[20:], pseudo))
}

func TestVPNProbeStandsInForPeer(t *testing.T) {
	v := newTestVPC(t)
	require.NoError(t, v.Firewall().CreateGroup(firewall.Group{Name: "sg", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.99.0.0/24")}}))
	web := addInstance(t, v, InstanceSpec{Name: "web", Groups: []string{"sg"}})
	serve(t, web, ServiceSpec{Kind: ServiceHTTP, Port: 80})
	priv, pub, err := NewVPNKey()
	require.NoError(t, err)
	_, err = v.AddVPNGateway(VPNGatewaySpec{Name: "gw", VSwitch: "vsw-a", Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		ClientCIDR: netip.MustParsePrefix("10.99.0.0/24"), PrivateKey: priv,
		Peers: []VPNPeerSpec{{Name: "laptop", PublicKey: pub, Addr: netip.MustParseAddr("10.99.0.2")}}})
	require.NoError(t, err)
	// Twice: a probe stack's end must leave the peer attached.
	for range 2 {
		inst, release, err := v.VPNProbe(context.Background(), "laptop")
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := inst.Dial(ctx, "tcp", netip.AddrPortFrom(web.Addr(), 80))
		cancel()
		require.NoError(t, err)
		c.Close()
		release()
	}
}

// TestVPNGatewayRefused checks the refusals of AddVPNGateway: a client CIDR
// overlapping the VPC, a non-loopback listen address, a peer outside the
// client CIDR, a listen address in use — and that a refused gateway leaves
// no peer attached.
func TestVPNGatewayRefused(t *testing.T) {
	v := newTestVPC(t)
	priv, pub, err := NewVPNKey()
	require.NoError(t, err)
	ok := VPNGatewaySpec{Name: "gw", VSwitch: "vsw-a", Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		ClientCIDR: netip.MustParsePrefix("10.99.0.0/24"), PrivateKey: priv,
		Peers: []VPNPeerSpec{{Name: "laptop", PublicKey: pub, Addr: netip.MustParseAddr("10.99.0.2")}}}
	gw, err := v.AddVPNGateway(ok)
	require.NoError(t, err)
	ports := v.Fabric().Ports()
	for _, tc := range []struct {
		name string
		edit func(*VPNGatewaySpec)
		code string
	}{
		{"overlaps VPC", func(s *VPNGatewaySpec) { s.ClientCIDR = netip.MustParsePrefix("10.0.200.0/24") }, ErrVPNClientCIDR},
		{"not loopback", func(s *VPNGatewaySpec) { s.Listen = netip.MustParseAddrPort("0.0.0.0:51820") }, ErrVPNListen},
		{"peer outside", func(s *VPNGatewaySpec) { s.Peers[0].Addr = netip.MustParseAddr("10.98.0.2") }, ErrVPNPeerAddress},
		{"listen in use", func(s *VPNGatewaySpec) { s.Listen = gw.Addr(); s.Peers[0].Addr = netip.MustParseAddr("10.99.0.3") }, ErrVPNListen},
		{"name taken", func(s *VPNGatewaySpec) { s.Name = "gw" }, ErrVPNGatewayExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			s.Name = "gw2"
			s.Peers = []VPNPeerSpec{ok.Peers[0]}
			s.Peers[0].Name = "phone"
			s.Peers[0].Addr = netip.MustParseAddr("10.99.0.9")
			tc.edit(&s)
			_, err := v.AddVPNGateway(s)
			var ve *Error
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.code, ve.Code, err.Error())
			require.Equal(t, ports, v.Fabric().Ports(), "a refused gateway left ports attached")
			require.Nil(t, v.VPNGateway("gw2"))
		})
	}
}
