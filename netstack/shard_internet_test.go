package netstack

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// The internet test topology: shard 0 is the edge and runs internet host
// mirror; shard 1 runs app (no EIP: SNAT through nat-1) and web (EIP).
var (
	edgeSpecs = []InstanceSpec{
		{Name: "app", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg-open"}},
		{Name: "web", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.11"), Groups: []string{"sg-open"}, EIP: netip.MustParseAddr("47.100.0.11")},
	}
	mirrorAddr = netip.MustParseAddr("203.0.113.80")
	natEIP     = netip.MustParseAddr("47.100.0.100")
)

// startEdgeShard builds shard idx (of 2) of the internet test topology;
// snatPort, when given, is the only public port of nat-1's SNAT.
func startEdgeShard(t *testing.T, idx int, keys []ShardKey, ports []uint16, snatPort ...uint16) *testShard {
	t.Helper()
	v := newTestVPC(t, VPCConfig{Name: "vpc-test", CIDR: netip.MustParsePrefix("10.0.0.0/16"), NoOffload: true})
	createGroup(t, v, firewall.Group{Name: "sg-open", Rules: []firewall.Rule{allowIn("tcp", "7", "0.0.0.0/0"), allowIn("udp", "7", "0.0.0.0/0")}})
	s := linkShard(t, v, idx, keys, ports)
	l := s.link
	_, err := v.AddShardedInstances(edgeSpecs, func(int) *ShardPeer {
		if idx == 1 {
			return nil
		}
		return l.Peer(1)
	}, nil)
	require.NoError(t, err)
	if idx == 0 {
		addHost(t, v, "mirror", mirrorAddr.String())
	} else {
		require.NoError(t, v.AddRemoteInternetHost("mirror", mirrorAddr, l.Peer(0)))
		require.Error(t, v.AddRemoteInternetHost("mirror", mirrorAddr, l.Peer(0)), "a name twice")
	}
	gw := NATGatewaySpec{Name: "nat-1", VSwitch: "vsw-b", EIP: natEIP, SNAT: []string{"vsw-a"}}
	if len(snatPort) > 0 {
		gw.PortMin, gw.PortMax = snatPort[0], snatPort[0]
	}
	require.NoError(t, v.AddNATGateway(gw))
	return s
}

// TestShardLinkInternet: instances of one shard reach an internet host the
// edge shard runs, through SNAT and through an EIP, and the host reaches
// an instance's EIP: the host sees the public addresses of one process,
// and the SNAT mappings live on the edge only. When the edge goes away,
// internet traffic drops on the sender's NIC with PEER_SHARD_DOWN.
func TestShardLinkInternet(t *testing.T) {
	keys := newShardKeys(t, 2)
	ports := freeUDPPorts(t, keys)
	edge := startEdgeShard(t, 0, keys, ports)
	s1 := startEdgeShard(t, 1, keys, ports)
	waitLinks(t, edge, s1)
	require.Nil(t, s1.v.Instance("mirror"), "mirror runs on the edge only")
	require.Nil(t, edge.v.Instance("app"))
	whoami(t, edge.v.Instance("mirror"), 7)
	whoami(t, s1.v.Instance("web"), 7)
	app, web := s1.v.Instance("app"), s1.v.Instance("web")

	for _, c := range []struct {
		from  *Instance
		proto string
		want  netip.Addr
	}{
		{app, "tcp", natEIP},
		{app, "udp", natEIP},
		{web, "tcp", netip.MustParseAddr("47.100.0.11")},
		{web, "udp", netip.MustParseAddr("47.100.0.11")},
	} {
		got, err := seenAs(c.from, c.proto, ap(mirrorAddr, 7), 5*time.Second)
		require.NoError(t, err, "%s %s", c.from.Name(), c.proto)
		require.Equal(t, c.want, got.Addr(), "%s %s: the internet sees", c.from.Name(), c.proto)
	}
	got, err := seenAs(edge.v.Instance("mirror"), "tcp", ap(netip.MustParseAddr("47.100.0.11"), 7), 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, mirrorAddr, got.Addr(), "web sees the host's real address")

	st, _ := edge.v.NATStats("nat-1")
	require.Equal(t, 1, st.Mappings["tcp"])
	require.Equal(t, 1, st.Mappings["udp"])
	st, _ = s1.v.NATStats("nat-1")
	require.Zero(t, st.Mappings["tcp"]+st.Mappings["udp"], "SNAT state on the instances' shard")

	// The edge goes away.
	sub := s1.v.SubscribeDrops(64)
	defer sub.Close()
	edge.close()
	start := time.Now()
	for {
		drain(sub)
		require.Error(t, probe(app, "tcp", ap(mirrorAddr, 7), 200*time.Millisecond))
		select {
		case ev := <-sub.C:
			if ev.Verdict.Code == firewall.PeerShardDown {
				require.Equal(t, "mirror", ev.To)
				require.Equal(t, "app", ev.From)
				n, _ := s1.v.NICStats("app")
				require.NotZero(t, n.Drops["PEER_SHARD_DOWN"])
				return
			}
		default:
		}
		require.Less(t, time.Since(start), 10*time.Second, "no PEER_SHARD_DOWN once the edge is silent (2 s)")
	}
}

// waitLinks waits until every shard's link has shaken hands with its peers.
func waitLinks(t *testing.T, shards ...*testShard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range shards {
		require.NoError(t, s.link.WaitReady(ctx))
	}
}

func newShardKeys(t *testing.T, n int) []ShardKey {
	keys := make([]ShardKey, n)
	for i := range keys {
		k, err := NewShardKey()
		require.NoError(t, err)
		keys[i] = k
	}
	return keys
}

// TestShardSNATExhaustedSeenBySender: the edge refuses a SNAT port to a
// flow of an instance another shard runs; a drop notice over the link makes
// that shard count and publish the drop on the sender's NIC with the code
// and reason of one process.
func TestShardSNATExhaustedSeenBySender(t *testing.T) {
	keys := newShardKeys(t, 2)
	ports := freeUDPPorts(t, keys)
	edge := startEdgeShard(t, 0, keys, ports, 40000)
	s1 := startEdgeShard(t, 1, keys, ports, 40000)
	waitLinks(t, edge, s1)
	whoami(t, edge.v.Instance("mirror"), 7)
	app := s1.v.Instance("app")
	got, err := seenAs(app, "udp", ap(mirrorAddr, 7), 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, netip.AddrPortFrom(natEIP, 40000), got, "the only SNAT port")

	sub := s1.v.SubscribeDrops(64)
	defer sub.Close()
	_, err = seenAs(app, "udp", ap(mirrorAddr, 7), 500*time.Millisecond) // a second flow: no port left
	require.Error(t, err)
	ev := waitDrop(t, sub, firewall.NoRouteToInternet, "app", "mirror")
	require.Equal(t, "nat: the NAT gateway has no free public port for this protocol (SNAT ports exhausted)", ev.Explanation.Step)
	st, _ := s1.v.NICStats("app")
	require.NotZero(t, st.Drops["NO_ROUTE_TO_INTERNET"], "counted on the sender's NIC, on its shard")
	est, _ := edge.v.NATStats("nat-1")
	require.NotZero(t, est.Exhausted["udp"])
}
