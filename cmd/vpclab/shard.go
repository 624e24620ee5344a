package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// shardFlags are up's flags for running one shard of a sharded VPC.
type shardFlags struct {
	shard  string   // I/N
	key    string   // base64 private key, or @FILE
	listen int      // UDP port
	peers  []string // J=PUBKEY@HOST:PORT
	// downAfter is how long a silent shard takes to be down (zero:
	// netstack.DefaultShardDownAfter).
	downAfter time.Duration
}

func addShardFlags(cmd *cobra.Command, sf *shardFlags) {
	cmd.Flags().StringVar(&sf.shard, "shard", "", "run shard I of N (I/N, 0 ≤ I < N; I alone takes N from the file's cluster.shards): the instances whose shard (their shard:, else FNV-1a of the name mod N) is I; the others are reached over WireGuard")
	cmd.Flags().StringVar(&sf.key, "shard-key", "", "with --shard: this shard's WireGuard private key, base64 (wg genkey), or @FILE holding it")
	cmd.Flags().IntVar(&sf.listen, "shard-listen", 0, "with --shard: UDP port of this shard's WireGuard device (default: the port of its cluster.peers entry)")
	cmd.Flags().DurationVar(&sf.downAfter, "shard-down-after", netstack.DefaultShardDownAfter, "with --shard: how long a silent shard takes to be down (its instances then drop PEER_SHARD_DOWN); longer on a machine short of CPU")
	cmd.Flags().StringArrayVar(&sf.peers, "shard-peer", nil, "with --shard: another shard, J=PUBLIC_KEY@HOST:PORT (once per other shard not in cluster.peers; replaces its entry); a HOST name is looked up again while that shard is silent")
}

// config checks the flags against t's cluster: section (which gives
// what flags leave out: N, the listen port, the other shards' keys and
// endpoints); nil without --shard. A peer given by host name is also in
// names, for reresolveShards.
func (sf *shardFlags) config(t *topology.Topology) (c *topology.ShardConfig, names map[int]*peerName, err error) {
	cl := &t.Cluster
	if sf.shard == "" {
		if sf.key != "" || sf.listen != 0 || len(sf.peers) > 0 || (sf.downAfter != 0 && sf.downAfter != netstack.DefaultShardDownAfter) {
			return nil, nil, usageError("--shard-key, --shard-listen, --shard-peer and --shard-down-after need --shard I/N")
		}
		return nil, nil, nil
	}
	at := func(path string) string { // where the file says it
		p := t.Pos(path)
		return fmt.Sprintf("%s:%d:%d: %s", t.File, p.Line, p.Column, path)
	}
	is, ns, hasN := strings.Cut(sf.shard, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := cl.Shards, error(nil)
	if hasN {
		n, err2 = strconv.Atoi(ns)
	}
	switch {
	case !hasN && cl.Shards == 0:
		return nil, nil, usageError("--shard %q: want I/N with N ≥ 1 (e.g. 0/3), or I alone with a cluster: section giving N", sf.shard)
	case err1 != nil || err2 != nil || n < 1:
		return nil, nil, usageError("--shard %q: want I/N with N ≥ 1 (e.g. 0/3)", sf.shard)
	case n > topology.MaxShards:
		return nil, nil, usageError("--shard %s: %d shards is out of range (allowed: 1..%d)", sf.shard, n, topology.MaxShards)
	case i < 0 || i >= n:
		return nil, nil, usageError("--shard %s: index %d is out of range (allowed: 0..%d)", sf.shard, i, n-1)
	case cl.Shards != 0 && n != cl.Shards:
		return nil, nil, usageError("--shard %s: %d shards, but %s is %d", sf.shard, n, at("cluster.shards"), cl.Shards)
	}
	for k, in := range t.Instances {
		if in.Shard != nil && *in.Shard >= n {
			return nil, nil, usageError("--shard %s: %d shards, but %s is %d (allowed: 0..%d)", sf.shard, n, at(fmt.Sprintf("instances[%d].shard", k)), *in.Shard, n-1)
		}
	}
	if sf.downAfter == 0 {
		sf.downAfter = netstack.DefaultShardDownAfter
	}
	if err := checkShardDownAfter(sf.downAfter); err != nil {
		return nil, nil, err
	}
	c = &topology.ShardConfig{Index: i, Count: n, ListenPort: sf.listen, DownAfter: sf.downAfter}
	own := cl.Peer(i)
	ownAt := ""
	if own != nil {
		ownAt = fmt.Sprintf("cluster.peers[%d]", slices.IndexFunc(cl.Peers, func(p topology.ClusterPeer) bool { return p.Index == i }))
	}
	if sf.listen == 0 && own != nil {
		_, port, _ := net.SplitHostPort(own.Endpoint) // Load checked it
		c.ListenPort, _ = strconv.Atoi(port)
	}
	if c.ListenPort < 1 || c.ListenPort > 65535 {
		return nil, nil, usageError("--shard-listen %d: want a UDP port 1..65535 (or a cluster.peers entry for shard %d whose endpoint's port it takes)", sf.listen, i)
	}
	keyText := sf.key
	if f, ok := strings.CutPrefix(keyText, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, usageError("--shard-key %s: %v", sf.key, err)
		}
		keyText = string(b)
	}
	if keyText == "" {
		return nil, nil, usageError("--shard-key: required with --shard (a base64 WireGuard private key, or @FILE)")
	}
	if c.PrivateKey, err1 = netstack.ParseShardKey(keyText); err1 != nil {
		return nil, nil, usageError("--shard-key: %v", err1)
	}
	if own != nil {
		if pub, _ := netstack.ParseShardKey(own.PublicKey); pub != c.PrivateKey.Public() {
			return nil, nil, usageError("--shard-key: its public key is %s, but %s is %s (the key of another shard?)", c.PrivateKey.Public(), at(ownAt+".public_key"), own.PublicKey)
		}
	}
	// The file's peers, then the flags', which replace the file's.
	type peer struct {
		pub      netstack.ShardKey
		endpoint string
		from     string // for errors
	}
	peers := map[int]peer{}
	for k, p := range cl.Peers {
		if p.Index != i && p.Index < n {
			pub, _ := netstack.ParseShardKey(p.PublicKey) // Load checked it
			peers[p.Index] = peer{pub, p.Endpoint, at(fmt.Sprintf("cluster.peers[%d].endpoint", k))}
		}
	}
	seen := map[int]bool{}
	for _, p := range sf.peers {
		js, rest, ok1 := strings.Cut(p, "=")
		pub, ep, ok2 := strings.Cut(rest, "@")
		j, err := strconv.Atoi(js)
		if !ok1 || !ok2 || err != nil {
			return nil, nil, usageError("--shard-peer %q: want J=PUBLIC_KEY@HOST:PORT", p)
		}
		if j < 0 || j >= n || j == i {
			return nil, nil, usageError("--shard-peer %q: shard %d is out of range or this shard (allowed: 0..%d except %d)", p, j, n-1, i)
		}
		if seen[j] {
			return nil, nil, usageError("--shard-peer %q: shard %d given twice", p, j)
		}
		seen[j] = true
		k, err := netstack.ParseShardKey(pub)
		if err != nil {
			return nil, nil, usageError("--shard-peer %q: %v", p, err)
		}
		peers[j] = peer{k, ep, fmt.Sprintf("--shard-peer %q", p)}
	}
	names = map[int]*peerName{}
	at2 := map[string]int{} // resolved endpoint → shard
	for j := range n {
		if j == i {
			continue
		}
		p, ok := peers[j]
		if !ok {
			return nil, nil, usageError("--shard %s: no --shard-peer for shard %d (every other shard needs one, or an entry in cluster.peers)", sf.shard, j)
		}
		ep, err := resolveEndpoint(p.endpoint)
		if err != nil {
			return nil, nil, usageError("%s: %v", p.from, err)
		}
		if k, dup := at2[ep]; dup {
			return nil, nil, usageError("%s: shards %d and %d both at %s (every shard has its own endpoint)", p.from, k, j, ep)
		}
		at2[ep] = j
		if host, _, _ := net.SplitHostPort(p.endpoint); !isAddr(host) {
			names[j] = &peerName{name: p.endpoint, endpoint: ep}
		}
		c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: p.pub, Endpoint: ep})
	}
	return c, names, nil
}

// peerName is a shard given by host name: HOST:PORT as given, and the
// address:port the link uses.
type peerName struct{ name, endpoint string }

func isAddr(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// waitShards waits up to 10 s for the WireGuard handshakes of a shard and
// says on stderr which shards did not answer.
func waitShards(ctx context.Context, lab *topology.Lab, stderr io.Writer) {
	if lab.Shard == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := lab.Shard.WaitReady(ctx); err != nil {
		fmt.Fprintf(stderr, "vpclab up: %v; probes to their instances drop with PEER_SHARD_DOWN until they answer\n", err)
	}
}

// lookupFunc looks a host name up, as net.Resolver.LookupNetIP does.
type lookupFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

// resolveEndpoint returns HOST:PORT with HOST an address: wireguard-go
// takes only addresses as endpoints, so a name (a Kubernetes headless
// Service's pod name) is looked up here at start — an IPv4 address first —
// and again by reresolveShards while its shard is silent. A name that does
// not resolve is an error naming it.
func resolveEndpoint(ep string) (string, error) {
	return resolveEndpointWith(ep, net.DefaultResolver.LookupNetIP)
}

func resolveEndpointWith(ep string, lookup lookupFunc) (string, error) {
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %v", ep, err)
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil || pn == 0 {
		return "", fmt.Errorf("endpoint %q: port %q: want 1..65535", ep, port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(pn)).String(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := lookup(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return "", fmt.Errorf("endpoint %q: host %q does not resolve (%v); give an address or a name this machine can look up", ep, host, err)
	}
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { // IPv4 first
		return cmp.Compare(boolInt(!a.Unmap().Is4()), boolInt(!b.Unmap().Is4()))
	})
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(pn)).String(), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// reresolveInterval is how often reresolveShards looks again at the
// names of silent shards.
const reresolveInterval = 5 * time.Second

// reresolveShards looks up again, every interval, the host name of each
// shard in names that is silent (not Up), and points
// the link at its new address when it changed — as wg-quick's
// reresolve-dns does: a shard restarted elsewhere (a rescheduled pod)
// keeps its name, not its address. It returns when ctx ends.
func reresolveShards(ctx context.Context, link *netstack.ShardLink, names map[int]*peerName, interval time.Duration, lookup lookupFunc, log *slog.Logger) {
	if link == nil || len(names) == 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, j := range slices.Sorted(maps.Keys(names)) {
			p := link.Peer(j)
			if p == nil || p.Up() {
				continue
			}
			pn := names[j]
			ep, err := resolveEndpointWith(pn.name, lookup)
			if err != nil {
				log.Warn("shard link: looking a silent shard up again", "shard", j, "err", err)
				continue
			}
			if ep == pn.endpoint {
				continue
			}
			if err := link.SetEndpoint(j, ep); err != nil {
				log.Warn("shard link: new endpoint", "shard", j, "endpoint", ep, "err", err)
				continue
			}
			log.Warn("shard link: silent shard has a new address", "shard", j, "name", pn.name, "endpoint", ep, "was", pn.endpoint)
			pn.endpoint = ep
		}
	}
}

// startReresolve runs reresolveShards for lab's link until the returned
// stop is called (stop waits for it to end; calling it again is a no-op).
func startReresolve(ctx context.Context, lab *topology.Lab, names map[int]*peerName, log *slog.Logger) (stop func()) {
	if lab.Shard == nil || len(names) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		reresolveShards(ctx, lab.Shard, names, reresolveInterval, net.DefaultResolver.LookupNetIP, log)
	}()
	return func() { cancel(); <-done }
}

// checkShardDownAfter refuses a --shard-down-after the link cannot keep:
// shards keep each other alive once a second, so under 2 s a live shard
// would be taken for down between two keepalives.
func checkShardDownAfter(d time.Duration) error {
	if d < 2*time.Second || d > time.Hour {
		return usageError("--shard-down-after %v: out of range (allowed: 2s..1h)", d)
	}
	return nil
}
