package netstack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// tcpBytes is a contiguous IPv4+TCP header from src to dst.
func tcpBytes(src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8] = 64
	b[9] = firewall.ProtoTCP
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	copy(b[20:], l4(sport, dport, 20, flags))
	return b
}

// TestShardInternetRouteAllocatesNothing: on a shard that is not the edge,
// routing a frame to an internet host (untranslated, to the edge's proxy)
// and one the edge translated back (decided again on this shard's
// conntrack) allocates nothing.
func TestShardInternetRouteAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	k0, err := NewShardKey()
	require.NoError(t, err)
	k1, err := NewShardKey()
	require.NoError(t, err)
	v := newTestVPC(t, VPCConfig{Name: "vpc-test", CIDR: netip.MustParsePrefix("10.0.0.0/16"), NoOffload: true})
	l, err := v.StartShardLink(ShardLinkConfig{Index: 1, PrivateKey: k1, Peers: []ShardLinkPeer{{Index: 0, PublicKey: k0.Public()}}})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	cliAddr := netip.MustParseAddr("10.0.1.10")
	_, err = v.AddShardedInstances([]InstanceSpec{{Name: "cli", VSwitch: "vsw-a", Addr: cliAddr, EIP: netip.MustParseAddr("47.100.0.10"), Groups: addPolicy500(t, v, "cli")}},
		func(int) *ShardPeer { return nil }, nil)
	require.NoError(t, err)
	require.NoError(t, v.AddRemoteInternetHost("h", client1, l.Peer(0)))
	r := vpcRouter{v}
	cli, h := v.Fabric().Port(cliAddr), v.Fabric().Port(client1)

	syn := tcpBytes(cliAddr, client1, 40000, 443, 0x02)
	to, rw := r.Route(cli, syn, len(syn))
	require.Equal(t, h, to, "to the edge's proxy")
	require.Zero(t, rw.Flags, "untranslated: the edge translates")
	synack := tcpBytes(client1, cliAddr, 443, 40000, 0x12)
	to, rw = r.Route(h, synack, len(synack))
	require.Equal(t, cli, to, "the edge's translated answer, delivered")
	require.Zero(t, rw.Flags)

	ack := tcpBytes(cliAddr, client1, 40000, 443, 0x10)
	back := tcpBytes(client1, cliAddr, 443, 40000, 0x10)
	require.Zero(t, testing.AllocsPerRun(1000, func() { r.Route(cli, ack, len(ack)) }), "out")
	require.Zero(t, testing.AllocsPerRun(1000, func() { r.Route(h, back, len(back)) }), "back")
}
