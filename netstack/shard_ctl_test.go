package netstack

import (
	"context"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestShardControlAddr(t *testing.T) {
	for _, tc := range []struct {
		i    int
		want string
	}{{0, "169.254.0.1"}, {1, "169.254.0.2"}, {254, "169.254.0.255"}, {255, "169.254.1.0"}, {1000, "169.254.3.233"}} {
		a := ShardControlAddr(tc.i)
		require.Equal(t, tc.want, a.String())
		require.Equal(t, tc.i, shardOfControlAddr(a))
	}
	require.Equal(t, -1, shardOfControlAddr(netip.MustParseAddr("10.0.0.1")))
	require.Equal(t, -1, shardOfControlAddr(netip.MustParseAddr("::1")))
}

// TestShardControl: shard 0 reaches shard 1's control endpoint through the
// WireGuard link, which names the caller's shard by its in-tunnel address;
// an instance cannot reach a control address; instance traffic between the
// shards flows as before.
func TestShardControl(t *testing.T) {
	keys := newShardKeys(t, 2)
	ports := freeUDPPorts(t, keys)
	s0 := startShard(t, 0, keys, ports)
	s1 := startShard(t, 1, keys, ports)
	c0, err := s0.link.StartControl()
	require.NoError(t, err)
	again, err := s0.link.StartControl()
	require.NoError(t, err)
	require.Same(t, c0, again)
	c1, err := s1.link.StartControl()
	require.NoError(t, err)
	require.Equal(t, []int{1}, c0.Peers())
	require.Equal(t, 1, c1.Index())

	ln, err := c1.Listen()
	require.NoError(t, err)
	defer ln.Close()
	from := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			from <- -2
			return
		}
		defer c.Close()
		from <- c1.ShardOf(c.RemoteAddr())
		io.Copy(c, c) // echo until the caller closes
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c0.Dial(ctx, 1)
	require.NoError(t, err)
	msg := make([]byte, 5000) // several segments
	for i := range msg {
		msg[i] = byte(i)
	}
	go conn.Write(msg)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(conn, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
	conn.Close()
	require.Equal(t, 0, <-from)
	require.True(t, c0.PeerUp(1))
	_, err = c0.Dial(ctx, 7)
	require.ErrorContains(t, err, "no peer shard 7")

	// An instance of shard 0 has no route to either control address.
	cli := s0.v.Instance("cli")
	for _, a := range []netip.Addr{ShardControlAddr(0), ShardControlAddr(1)} {
		err := probe(cli, "tcp", ap(a, ShardControlPort), 300*time.Millisecond)
		require.Error(t, err, "instance reached control address %v", a)
	}
	// Instance traffic still crosses.
	echoAll(t, 7, s1.v.Instance("srv"))
	require.NoError(t, probe(cli, "tcp", ap(netip.MustParseAddr("10.0.2.10"), 7), 5*time.Second))
}
