package netstack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// shardSpecs is the topology every test shard knows: cli (shard 0) may
// reach srv (shard 1) on TCP 7 and ICMP by group reference; other (shard
// 1) lets nothing in.
var shardSpecs = []InstanceSpec{
	{Name: "cli", VSwitch: "vsw-a", Addr: netip.MustParseAddr("10.0.1.10"), Groups: []string{"sg-cli"}},
	{Name: "srv", VSwitch: "vsw-b", Addr: netip.MustParseAddr("10.0.2.10"), Groups: []string{"sg-srv"}},
	{Name: "other", VSwitch: "vsw-b", Addr: netip.MustParseAddr("10.0.2.11"), Groups: []string{"sg-closed"}},
}

var shardOwner = []int{0, 1, 1}

type testShard struct {
	v    *VPC
	link *ShardLink
}

func (s *testShard) close() {
	s.link.Close()
	s.v.Close()
}

// startShard builds shard idx of the test topology with the given keys,
// its link listening on port (0: any) and peers at the given ports.
func startShard(t *testing.T, idx int, keys []ShardKey, ports []uint16) *testShard {
	t.Helper()
	v := newTestVPC(t, VPCConfig{Name: "vpc-test", CIDR: netip.MustParsePrefix("10.0.0.0/16"), NoOffload: true})
	createGroup(t, v, firewall.Group{Name: "sg-cli"})
	createGroup(t, v, firewall.Group{Name: "sg-closed"})
	createGroup(t, v, firewall.Group{Name: "sg-srv", Rules: []firewall.Rule{
		allowIn("tcp", "7", "sg-cli"),
		allowIn("icmp", "", "sg-cli"),
	}})
	s := linkShard(t, v, idx, keys, ports)
	l := s.link
	_, err := v.AddShardedInstances(shardSpecs, func(i int) *ShardPeer {
		if shardOwner[i] == idx {
			return nil
		}
		return l.Peer(shardOwner[i])
	}, nil)
	require.NoError(t, err)
	return s
}

// linkShard starts v's link as shard idx of len(keys), listening on
// ports[idx] with its peers on loopback at theirs; the test's cleanup
// closes both.
func linkShard(t *testing.T, v *VPC, idx int, keys []ShardKey, ports []uint16) *testShard {
	t.Helper()
	cfg := ShardLinkConfig{Index: idx, PrivateKey: keys[idx], ListenPort: int(ports[idx])}
	for j := range keys {
		if j != idx {
			cfg.Peers = append(cfg.Peers, ShardLinkPeer{Index: j, PublicKey: keys[j].Public(), Endpoint: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ports[j]).String()})
		}
	}
	l, err := v.StartShardLink(cfg)
	require.NoError(t, err)
	s := &testShard{v: v, link: l}
	t.Cleanup(s.close)
	return s
}

func freeUDPPorts(t *testing.T, keys []ShardKey) []uint16 {
	// Bring up throwaway links on port 0 to learn free ports, then close them.
	ports := make([]uint16, len(keys))
	for i := range keys {
		v, err := NewVPC(VPCConfig{Name: "probe", CIDR: netip.MustParsePrefix("10.0.0.0/16")})
		require.NoError(t, err)
		l, err := v.StartShardLink(ShardLinkConfig{Index: i, PrivateKey: keys[i]})
		require.NoError(t, err)
		ports[i] = l.Port()
		l.Close()
		v.Close()
	}
	return ports
}

// TestShardLinkCrossShard: an instance on shard 0 reaches one on shard 1
// through WireGuard exactly as the security groups allow (a group
// reference that resolves to the other shard's NIC); a frame the
// receiver's groups refuse drops on the sender's shard with the rule's
// code; a shard that goes away makes its instances PEER_SHARD_DOWN within
// 2 s, and they answer again once it is back.
func TestShardLinkCrossShard(t *testing.T) {
	keys := newShardKeys(t, 2)
	ports := freeUDPPorts(t, keys)
	s0 := startShard(t, 0, keys, ports)
	s1 := startShard(t, 1, keys, ports)
	require.Nil(t, s0.v.Instance("srv"), "srv runs on shard 1 only")
	cli := s0.v.Instance("cli")
	echoAll(t, 7, s1.v.Instance("srv"), s1.v.Instance("other"))
	srv := netip.MustParseAddr("10.0.2.10")
	other := netip.MustParseAddr("10.0.2.11")

	require.NoError(t, probe(cli, "tcp", ap(srv, 7), 5*time.Second))
	require.NoError(t, probe(cli, "icmp", ap(srv, 0), 5*time.Second))

	sub := s0.v.SubscribeDrops(64)
	defer sub.Close()
	err := probe(cli, "tcp", ap(other, 7), 300*time.Millisecond)
	require.True(t, isTimeout(err), "got %v", err)
	waitDrop(t, sub, firewall.SGDefaultDeny, "cli", "other")

	// Shard 1 goes away.
	s1.close()
	start := time.Now()
	for {
		drain(sub)
		err := probe(cli, "icmp", ap(srv, 0), 200*time.Millisecond)
		require.Error(t, err)
		select {
		case ev := <-sub.C:
			if ev.Verdict.Code == firewall.PeerShardDown {
				require.Equal(t, "srv", ev.To)
				goto down
			}
		default:
		}
		require.Less(t, time.Since(start), 3*time.Second, "no PEER_SHARD_DOWN within 2 s")
	}
down:
	require.Less(t, time.Since(start), 2500*time.Millisecond)
	st, _ := s0.v.NICStats("cli")
	require.NotZero(t, st.Drops["PEER_SHARD_DOWN"])

	// It comes back on its port with its key.
	s1 = startShard(t, 1, keys, ports)
	echoAll(t, 7, s1.v.Instance("srv"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := probe(cli, "tcp", ap(srv, 7), time.Second)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("srv unreachable after its shard returned: %v", err)
		}
	}
}

func TestParseShardKey(t *testing.T) {
	k, err := NewShardKey()
	require.NoError(t, err)
	got, err := ParseShardKey(k.String())
	require.NoError(t, err)
	require.Equal(t, k, got)
	for _, bad := range []string{"", "abc", "AAAA", k.String()[:40] + "===="} {
		_, err := ParseShardKey(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "malformed WireGuard key")
	}
}
