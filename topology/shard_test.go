package topology

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
)

// buildShards builds the n shards of t in this process, each with its own
// WireGuard device on a loopback UDP port, and points them at each other.
func buildShards(t *testing.T, topo *Topology, n int) ([]*Lab, error) {
	t.Helper()
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		k, err := netstack.NewShardKey()
		require.NoError(t, err)
		keys[i] = k
	}
	labs := make([]*Lab, n)
	for i := range n {
		// A loaded machine (the race detector, 2 shared cores) can starve a
		// link's keepalives for the default 2 s: these tests compare results,
		// not PEER_SHARD_DOWN (netstack's tests check that).
		c := ShardConfig{Index: i, Count: n, PrivateKey: keys[i], DownAfter: 10 * time.Second}
		for j := range n {
			if j != i {
				c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: keys[j].Public()})
			}
		}
		lab, err := Build(topo, Sharded(c))
		if err != nil {
			for _, l := range labs[:i] {
				l.Close()
			}
			return nil, err
		}
		t.Cleanup(func() { lab.Close() })
		labs[i] = lab
	}
	for i, l := range labs {
		for j, o := range labs {
			if i != j {
				require.NoError(t, l.Shard.SetEndpoint(j, fmt.Sprintf("127.0.0.1:%d", o.Shard.Port())))
			}
		}
	}
	return labs, nil
}

func TestShardOfStable(t *testing.T) {
	// FNV-1a (32 bits) of the name mod n, pinned: every process, every
	// release, must place an instance on the same shard.
	for _, c := range []struct {
		name string
		n    int
		want int
	}{{"web-1", 3, 2}, {"web-1", 2, 1}, {"db-2", 3, 0}, {"a", 3, 1}, {"a", 2, 0}, {"", 3, 1}, {"web-1", 1, 0}} {
		require.Equal(t, c.want, ShardOf(c.name, c.n), "%q mod %d", c.name, c.n)
	}
	counts := make([]int, 3)
	for i := range 300 {
		counts[ShardOf(fmt.Sprintf("i-%d", i), 3)]++
	}
	for s, c := range counts {
		require.Greater(t, c, 60, "shard %d gets %d of 300", s, c)
	}
}

// TestShardedExamplesMatch: every example, and the default topology, gives
// the same results with 3 shards, over WireGuard, as in one process —
// internet hosts, EIPs, SNAT and DNAT included, translated on the edge
// shard — result, verdict code and reason alike.
func TestShardedExamplesMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("brings every example up 4 times")
	}
	for _, f := range exampleFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			topo, err := LoadFile(f)
			require.NoError(t, err)
			requireShardedMatch(t, topo, 3)
		})
	}
}

// requireShardedMatch runs topo unsharded and with n shards and requires
// the same results, field by field.
func requireShardedMatch(t *testing.T, topo *Topology, n int) {
	t.Helper()
	labs, err := buildShards(t, topo, n)
	require.NoError(t, err)
	requireShardedMatchLabs(t, topo, labs)
}

// requireShardedMatchLabs runs topo unsharded and on the shards labs and
// requires the same results, field by field; it returns the unsharded ones.
func requireShardedMatchLabs(t *testing.T, topo *Topology, labs []*Lab) []Result {
	t.Helper()
	want := runOne(t, topo)
	got := RunShards(context.Background(), labs, matchRun)
	require.Len(t, got, len(want))
	for i := range want {
		w, g := want[i], got[i]
		label := fmt.Sprintf("%s: expectation %d %s", topo.File, i, w.Label())
		require.Equal(t, [5]any{w.Index, w.Target, w.Observed, w.Pass, w.TimedOut}, [5]any{g.Index, g.Target, g.Observed, g.Pass, g.TimedOut}, "%s: unsharded %q, sharded %q", label, w.Detail, g.Detail)
		require.Equal(t, timing.ReplaceAllString(w.Detail, "T"), timing.ReplaceAllString(g.Detail, "T"), label)
		require.Equal(t, w.Why != nil, g.Why != nil, label)
		if w.Why != nil {
			require.Equal(t, *w.Why, *g.Why, "%s: verdict (code, step, rule)", label)
		}
	}
	return want
}

// timing matches the durations and ephemeral ports a result's detail may hold.
var timing = regexp.MustCompile(`[0-9.]+(ms|µs|s)\b|:[0-9]+\b`)

// matchRun runs the compared probes: every block of the compared
// scenarios is known from its drop event, so a long timeout costs nothing
// but keeps a probe on a loaded machine (the race detector, 2 shared
// cores) from ending by the timeout in one run and not the other.
var matchRun = RunOptions{Timeout: 10 * time.Second}

func runOne(t *testing.T, topo *Topology) []Result {
	lab, err := Build(topo)
	require.NoError(t, err)
	defer lab.Close()
	return lab.Run(context.Background(), matchRun)
}

func TestShardConfigErrors(t *testing.T) {
	topo, err := LoadFile("../examples/eip.yaml")
	require.NoError(t, err)
	_, err = Build(topo, Sharded(ShardConfig{Index: 3, Count: 3}))
	require.EqualError(t, err, "shard 3/3: the index must be 0..2")
}

// TestShardRefusesVPN: VPN gateways end their peers' tunnels in one
// process, so a sharded build refuses them at their position, building
// nothing.
func TestShardRefusesVPN(t *testing.T) {
	topo, err := LoadFile("testdata/valid-vpn.yaml")
	require.NoError(t, err)
	_, err = Build(topo, Sharded(ShardConfig{Index: 1, Count: 2}))
	var list Errors
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 1)
	require.Equal(t, "testdata/valid-vpn.yaml:6:5: vpn_gateways[0] (office): a sharded VPC does not carry VPN gateways (their peers' tunnels end in one process); run it unsharded or without vpn_gateways", list[0].Error())
}
