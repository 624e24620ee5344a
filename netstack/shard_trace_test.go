package netstack

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
)

// TestShardTraceRemoteListener: a trace to an instance another shard runs
// ends at its listener as in one process once the link knows what the
// other shards listen on; without that, the hop passes and names the shard.
func TestShardTraceRemoteListener(t *testing.T) {
	keys := newShardKeys(t, 2)
	ports := freeUDPPorts(t, keys)
	s0 := startShard(t, 0, keys, ports)
	srv := netip.MustParseAddr("10.0.2.10")
	last := func(port uint16) Hop {
		tr, err := s0.v.Trace("cli", srv, firewall.ProtoTCP, port)
		require.NoError(t, err)
		h := tr.Hops[len(tr.Hops)-1]
		require.Equal(t, HopListener, h.Step)
		return h
	}
	h := last(7)
	require.True(t, h.Allowed)
	require.Contains(t, h.Explanation.Step, "srv runs on shard 1")

	s0.link.SetRemoteListeners(func(name, proto string, port uint16) bool {
		return name == "srv" && proto == "tcp" && port == 7
	})
	h = last(7)
	require.True(t, h.Allowed)
	require.Equal(t, "listener: srv listens on tcp 7", h.Explanation.Step)
	s0.link.SetRemoteListeners(func(string, string, uint16) bool { return false })
	tr, err := s0.v.Trace("cli", srv, firewall.ProtoTCP, 7)
	require.NoError(t, err)
	require.False(t, tr.Allowed)
	require.Equal(t, firewall.NoListener.String(), tr.Final.Code)
	require.Equal(t, "nothing listens on tcp 7 at srv: the stack answers with a TCP RST", tr.Hops[len(tr.Hops)-1].Note)
}
