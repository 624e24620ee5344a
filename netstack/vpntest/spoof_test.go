package vpntest_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	. "github.com/vpclab/vpclab/netstack"
)

// TestVPNSpoofedSourceEvent: a gateway's only peer sending from another
// address (10.99.0.3, not its 10.99.0.2) gets no answer; each packet drops
// with SOURCE_SPOOFED, an event naming the gateway, the peer, the claimed
// source and the destination, counted in the gateway's Spoofed.
func TestVPNSpoofedSourceEvent(t *testing.T) {
	f := newVPNFixture(t, firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.99.0.0/24")}})
	sub := f.v.SubscribeDrops(64)
	defer sub.Close()
	peer := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.3"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	_, err := peer.get("http://10.0.1.10/", 2*time.Second)
	require.True(t, isTimeout(err), "want a timeout, got %v", err)

	ev := waitDrop(t, sub, firewall.SourceSpoofed, "laptop", "web")
	require.Equal(t, netip.MustParseAddr("10.99.0.3"), u32(ev.Flow.Src))
	require.Equal(t, netip.MustParseAddr("10.0.1.10"), u32(ev.Flow.Dst))
	require.Equal(t, uint16(80), ev.Flow.DstPort)
	require.Equal(t, "SOURCE_SPOOFED", ev.Explanation.Code)
	require.False(t, ev.Explanation.Allowed)
	require.Equal(t, "vpn gateway office: peer laptop (10.99.0.2) sent a packet with source 10.99.0.3; only its own address may be a source", ev.Explanation.Step)
	require.NotZero(t, f.gw.Stats().Spoofed)

	// The same peer from its own address is served.
	good := newWGPeer(t, f.peerKey, netip.MustParseAddr("10.99.0.2"), f.gwPub, f.gw.Addr(), f.v.CIDR())
	_, err = good.get("http://10.0.1.10/", 10*time.Second)
	require.NoError(t, err)
}

// TestVPNSpoofedSourceTwoPeers: with two peers, phone sending from
// laptop's address is dropped by WireGuard's own allowed-IPs check; the
// event names the gateway and phone (the packet itself never reaches
// vpclab), and laptop is unaffected.
func TestVPNSpoofedSourceTwoPeers(t *testing.T) {
	v := newTestVPC(t)
	require.NoError(t, v.Firewall().CreateGroup(firewall.Group{Name: "sg-web", Rules: []firewall.Rule{allowIn("tcp", "80/80", "10.99.0.0/24")}}))
	web, err := v.AddInstance(InstanceSpec{Name: "web", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg-web"}})
	require.NoError(t, err)
	require.NoError(t, web.Serve(ServiceSpec{Kind: ServiceHTTP, Port: 80}))
	gwPriv, gwPub, err := NewVPNKey()
	require.NoError(t, err)
	lapPriv, lapPub, err := NewVPNKey()
	require.NoError(t, err)
	phonePriv, phonePub, err := NewVPNKey()
	require.NoError(t, err)
	gw, err := v.AddVPNGateway(VPNGatewaySpec{
		Name: "office", VSwitch: "vsw-a", Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		ClientCIDR: netip.MustParsePrefix("10.99.0.0/24"), PrivateKey: gwPriv,
		Peers: []VPNPeerSpec{
			{Name: "laptop", PublicKey: lapPub, Addr: netip.MustParseAddr("10.99.0.2")},
			{Name: "phone", PublicKey: phonePub, Addr: netip.MustParseAddr("10.99.0.3")},
		},
	})
	require.NoError(t, err)
	sub := v.SubscribeDrops(64)
	defer sub.Close()

	phone := newWGPeer(t, phonePriv, netip.MustParseAddr("10.99.0.2"), gwPub, gw.Addr(), v.CIDR())
	_, err = phone.get("http://10.0.1.10/", 2*time.Second)
	require.True(t, isTimeout(err), "want a timeout, got %v", err)
	ev := waitDrop(t, sub, firewall.SourceSpoofed, "phone", "")
	require.Equal(t, "vpn gateway office: peer phone (10.99.0.3) sent a packet whose source is not its address; "+
		"WireGuard's allowed-IPs check dropped it, so the claimed source is not known", ev.Explanation.Step)
	require.NotZero(t, gw.Stats().Spoofed)

	laptop := newWGPeer(t, lapPriv, netip.MustParseAddr("10.99.0.2"), gwPub, gw.Addr(), v.CIDR())
	_, err = laptop.get("http://10.0.1.10/", 10*time.Second)
	require.NoError(t, err)
}

func u32(x uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}
