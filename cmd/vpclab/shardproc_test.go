package main

import (
	"context"
	"fmt"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// The shard processes test --shards starts are this test binary: it runs
// vpclab's main when runMainEnv is set.
func init() { shardChildEnv = []string{runMainEnv + "=1"} }

// runShardsInProcess builds the n shards of t in this process, each with
// its own WireGuard device on a loopback UDP port and its own key, and
// runs t's expectations across them.
func runShardsInProcess(ctx context.Context, t *topology.Topology, n int, opts topology.RunOptions) ([]topology.Result, error) {
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		k, err := netstack.NewShardKey()
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	labs := make([]*topology.Lab, 0, n)
	defer func() {
		for _, l := range labs {
			l.Close()
		}
	}()
	for i := range n {
		c := topology.ShardConfig{Index: i, Count: n, PrivateKey: keys[i]}
		for j := range n {
			if j != i {
				c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: keys[j].Public()})
			}
		}
		lab, err := topology.Build(t, topology.Sharded(c))
		if err != nil {
			return nil, err
		}
		labs = append(labs, lab)
	}
	for i, l := range labs {
		for j, o := range labs {
			if i != j {
				if err := l.Shard.SetEndpoint(j, fmt.Sprintf("127.0.0.1:%d", o.Shard.Port())); err != nil {
					return nil, err
				}
			}
		}
	}
	return topology.RunShards(ctx, labs, opts), nil
}

