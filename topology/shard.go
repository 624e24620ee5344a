package topology

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/vpclab/vpclab/netstack"
)

// ShardConfig makes Build build one shard of a VPC spread over Count
// processes: every shard knows the whole topology (groups, memberships,
// addresses) and runs the instances whose shard (ShardOf) is Index; the
// others' frames cross a WireGuard link to their shard.
type ShardConfig struct {
	Index, Count int
	PrivateKey   netstack.ShardKey
	ListenPort   int                      // UDP; 0: any (Lab.Shard.Port says which)
	Peers        []netstack.ShardLinkPeer // every other shard
	// DownAfter is how long a silent shard takes to be down (zero:
	// netstack.DefaultShardDownAfter).
	DownAfter time.Duration
}

// Sharded makes Build build one shard (see ShardConfig).
func Sharded(cfg ShardConfig) BuildOption {
	return func(o *buildOptions) { c := cfg; o.shard = &c }
}

// ShardOf is the shard of an instance in a VPC of n shards: the FNV-1a
// hash of its name, modulo n. It depends on the name alone, so every
// shard, and every run, agrees.
func ShardOf(name string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

// Shard is the shard of instance i of t in a VPC of n shards: its shard
// field when set (checkShard keeps it below n), else ShardOf its name.
func (t *Topology) Shard(i, n int) int {
	if s := t.Instances[i].Shard; s != nil && n > 1 && *s < n {
		return *s
	}
	return ShardOf(t.Instances[i].Name, n)
}

// EdgeShard is the shard that runs a sharded VPC's internet side: every
// internet host (with `expose`'s host client, so every host port), and
// every translation between the VPC and the internet — EIP, SNAT and
// DNAT, with the NAT gateways' SNAT tables — so the state of each such flow
// lives in one process. The other shards reach it over the link in the
// VPC's private view (docs/semantics.md §5.6).
const EdgeShard = 0

// checkShard refuses a shard configuration out of range and a sharded
// topology with VPN gateways, whose peers' tunnels and probe stand-ins
// live in one process.
func (t *Topology) checkShard(c *ShardConfig) error {
	if c == nil {
		return nil
	}
	if c.Count < 1 || c.Index < 0 || c.Index >= c.Count {
		return fmt.Errorf("shard %d/%d: the index must be 0..%d", c.Index, c.Count, max(c.Count-1, 0))
	}
	errs := &errorList{file: t.File, pos: t.Pos}
	for i := range t.VPNGateways {
		errs.add(fmt.Sprintf("vpn_gateways[%d]", i), "",
			"a sharded VPC does not carry VPN gateways (their peers' tunnels end in one process); run it unsharded or without vpn_gateways", "")
	}
	for i, in := range t.Instances {
		if in.Shard != nil && *in.Shard >= c.Count {
			errs.add(fmt.Sprintf("instances[%d].shard", i), "", fmt.Sprintf("shard %d is out of range for a VPC of %d shards", *in.Shard, c.Count), fmt.Sprintf("0..%d", c.Count-1))
		}
	}
	if len(errs.errs) > 0 {
		errs.nameEntities(t)
		return errs.all()
	}
	return nil
}

// addInternetHost adds internet host h: on the edge shard (or unsharded)
// as a netstack with its services, on any other shard as a proxy of the
// edge's.
func (l *Lab) addInternetHost(h *Host) error {
	if c := l.shard; c != nil && c.Index != EdgeShard {
		return l.VPC.AddRemoteInternetHost(h.Name, h.IP, l.Shard.Peer(EdgeShard))
	}
	inst, err := l.VPC.AddInternetHost(h.Name, h.IP)
	if err != nil {
		return err
	}
	if l.local != nil {
		l.local[h.Name] = true
	}
	return serve(inst, h.Services)
}

// listens reports whether the services of the file's instance or
// internet host name listen on proto ("tcp" or "udp") port.
func (t *Topology) listens(name, proto string, port uint16) bool {
	var ss []Service
	if in := t.instance(name); in != nil {
		ss = in.Services
	} else if h := t.host(name); h != nil {
		ss = h.Services
	}
	for _, s := range ss {
		if (s.Port == int(port) || s.Port == AllPorts) && slices.Contains(s.Protocols(), proto) {
			return true
		}
	}
	return false
}

// Edge reports whether this process runs the VPC's internet side: its
// internet hosts, translations and exposed ports (always, unsharded).
func (l *Lab) Edge() bool { return l.shard == nil || l.shard.Index == EdgeShard }

// addInstances plugs the instances in: all of them, or for a shard its
// own as netstacks and the others' as proxies behind its link.
func (l *Lab) addInstances(specs []netstack.InstanceSpec, plugged func(int)) ([]*netstack.Instance, error) {
	c := l.shard
	if c == nil {
		return l.VPC.AddInstancesProgress(specs, plugged)
	}
	link, err := l.VPC.StartShardLink(netstack.ShardLinkConfig{
		Index: c.Index, PrivateKey: c.PrivateKey, ListenPort: c.ListenPort, Peers: c.Peers, DownAfter: c.DownAfter,
	})
	if err != nil {
		return nil, err
	}
	l.Shard = link
	link.SetRemoteListeners(l.Topology.listens)
	for j := range c.Count {
		if j != c.Index && link.Peer(j) == nil {
			return nil, fmt.Errorf("shard %d/%d: no peer for shard %d", c.Index, c.Count, j)
		}
	}
	l.local = map[string]bool{}
	return l.VPC.AddShardedInstances(specs, func(i int) *netstack.ShardPeer {
		s := l.Topology.Shard(i, c.Count)
		if s == c.Index {
			l.local[specs[i].Name] = true
			return nil
		}
		return link.Peer(s)
	}, plugged)
}

// Local reports whether this process runs the named instance (always, for
// an unsharded lab).
func (l *Lab) Local(name string) bool {
	if l.shard == nil {
		return true
	}
	return l.local[name]
}

// RunShards runs t's expectations across the labs of its shards (labs[i]
// is shard i), each probe on the shard that runs its `from`, and returns
// the results in the order of t.Expect, as Run does for one lab.
func RunShards(ctx context.Context, labs []*Lab, opts RunOptions) []Result {
	if len(labs) == 0 {
		return nil
	}
	t := labs[0].Topology
	for _, l := range labs {
		if l.Shard != nil {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			l.Shard.WaitReady(wctx) // a shard that never answers: its probes say so
			cancel()
		}
	}
	byShard := make([][]int, len(labs))
	for i, e := range t.Expect {
		s := 0
		for j, l := range labs {
			if l.Local(e.From) {
				s = j
				break
			}
		}
		byShard[s] = append(byShard[s], i)
	}
	results := make([]Result, len(t.Expect))
	done := make(chan struct{}, len(labs))
	for s, idx := range byShard {
		go func() {
			defer func() { done <- struct{}{} }()
			expects := make([]Expect, len(idx))
			for k, i := range idx {
				expects[k] = t.Expect[i]
			}
			for k, r := range labs[s].RunExpects(ctx, expects, opts) {
				r.Index = idx[k]
				results[idx[k]] = r
			}
		}()
	}
	for range labs {
		<-done
	}
	return results
}

// RunLocal runs the expectations whose from this shard runs (all of them
// in an unsharded lab), each Result's Index that of t.Expect.
func (l *Lab) RunLocal(ctx context.Context, opts RunOptions) []Result {
	if l.shard == nil {
		return l.Run(ctx, opts)
	}
	var idx []int
	var expects []Expect
	for i, e := range l.Topology.Expect {
		if l.Local(e.From) {
			idx = append(idx, i)
			expects = append(expects, e)
		}
	}
	res := l.RunExpects(ctx, expects, opts)
	for k := range res {
		res[k].Index = idx[k]
	}
	return res
}
