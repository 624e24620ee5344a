package topology

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/vpclab/vpclab/netstack"
)

// MaxShards bounds the shards of a sharded VPC (cluster.shards, --shard
// I/N, test --shards).
const MaxShards = 64

// Cluster describes the shards of a sharded VPC (cluster:), so that
// `vpclab up FILE --shard I` needs only its own private key: the number of
// shards, and each shard's public key and WireGuard endpoint. Each shard
// listens on the port of its own endpoint. Flags override it.
type Cluster struct {
	Shards int           `yaml:"shards" topo:"required,min=1,max=64" doc:"The number of shards."`
	Peers  []ClusterPeer `yaml:"peers" doc:"The shards, one entry each: index, WireGuard public key, endpoint. A shard listens on its own entry's port."`
}

// ClusterPeer is one shard of a Cluster.
type ClusterPeer struct {
	Index     int    `yaml:"index" topo:"required,min=0,max=63" doc:"The shard, 0 ≤ index < shards."`
	PublicKey string `yaml:"public_key" topo:"required" doc:"Its WireGuard public key, base64 (wg pubkey)."`
	Endpoint  string `yaml:"endpoint" topo:"required" doc:"HOST:PORT of its WireGuard UDP socket; a host name is looked up at start and again while the shard is silent."`
}

// Peer returns the entry of shard i, or nil.
func (c *Cluster) Peer(i int) *ClusterPeer {
	for k := range c.Peers {
		if c.Peers[k].Index == i {
			return &c.Peers[k]
		}
	}
	return nil
}

// cluster checks cluster: (indexes in range and unique, keys well formed
// and unique, endpoints HOST:PORT and unique) and the instances' shard
// fields against cluster.shards.
func (v *validator) cluster() {
	c := &v.t.Cluster
	n := c.Shards
	if n > 0 {
		for i, in := range v.t.Instances {
			p := fmt.Sprintf("instances[%d].shard", i)
			if in.Shard != nil && *in.Shard >= n && !v.bad(p) {
				v.add(p, "", fmt.Sprintf("shard %d is out of range: cluster.shards is %d", *in.Shard, n), fmt.Sprintf("0..%d", n-1))
			}
		}
	}
	indexes, keys, endpoints := map[int]int{}, map[string]int{}, map[string]int{}
	for i, p := range c.Peers {
		at := fmt.Sprintf("cluster.peers[%d]", i)
		if n > 0 && p.Index >= n && !v.bad(at+".index") {
			v.add(at+".index", "", fmt.Sprintf("shard %d is out of range: cluster.shards is %d", p.Index, n), fmt.Sprintf("0..%d", n-1))
		} else if j, dup := indexes[p.Index]; dup {
			v.add(at+".index", "", fmt.Sprintf("shard %d is already given by cluster.peers[%d]", p.Index, j), "each shard once")
		} else {
			indexes[p.Index] = i
		}
		if p.PublicKey != "" && !v.bad(at+".public_key") {
			if k, err := netstack.ParseShardKey(p.PublicKey); err != nil {
				v.add(at+".public_key", "", err.Error(), "")
			} else if j, dup := keys[k.String()]; dup {
				v.add(at+".public_key", "", fmt.Sprintf("the public key of cluster.peers[%d] again: every shard has its own key", j), "")
			} else {
				keys[k.String()] = i
			}
		}
		if p.Endpoint != "" && !v.bad(at+".endpoint") {
			if err := checkEndpoint(p.Endpoint); err != nil {
				v.add(at+".endpoint", "", err.Error(), "HOST:PORT, PORT 1..65535")
			} else if j, dup := endpoints[strings.ToLower(p.Endpoint)]; dup {
				v.add(at+".endpoint", "", fmt.Sprintf("endpoint %s is already cluster.peers[%d]'s: every shard has its own", p.Endpoint, j), "")
			} else {
				endpoints[strings.ToLower(p.Endpoint)] = i
			}
		}
	}
}

// checkEndpoint checks that ep is HOST:PORT with a port 1..65535.
func checkEndpoint(ep string) error {
	host, port, err := net.SplitHostPort(ep)
	if err != nil || host == "" {
		return fmt.Errorf("endpoint %q is not HOST:PORT", ep)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("endpoint %q: port %q is out of range", ep, port)
	}
	return nil
}

// CheckSharded returns the errors, placed in the file, that keep shard
// index of a VPC of count shards from being built (what Build with
// Sharded would refuse about the file), without building anything.
func (t *Topology) CheckSharded(index, count int) error {
	return t.checkShard(&ShardConfig{Index: index, Count: count})
}
