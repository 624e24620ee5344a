package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
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
}

func addShardFlags(cmd *cobra.Command, sf *shardFlags) {
	cmd.Flags().StringVar(&sf.shard, "shard", "", "run shard I of N (I/N, 0 ≤ I < N): the instances whose shard (FNV-1a of the name mod N) is I; the others are reached over WireGuard")
	cmd.Flags().StringVar(&sf.key, "shard-key", "", "with --shard: this shard's WireGuard private key, base64 (wg genkey), or @FILE holding it")
	cmd.Flags().IntVar(&sf.listen, "shard-listen", 0, "with --shard: UDP port of this shard's WireGuard device (required)")
	cmd.Flags().StringArrayVar(&sf.peers, "shard-peer", nil, "with --shard: another shard, J=PUBLIC_KEY@HOST:PORT (once per other shard)")
}

// config checks the flags; nil without --shard.
func (sf *shardFlags) config() (*topology.ShardConfig, error) {
	if sf.shard == "" {
		if sf.key != "" || sf.listen != 0 || len(sf.peers) > 0 {
			return nil, usageError("--shard-key, --shard-listen and --shard-peer need --shard I/N")
		}
		return nil, nil
	}
	is, ns, ok := strings.Cut(sf.shard, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 {
		return nil, usageError("--shard %q: want I/N with N ≥ 1 (e.g. 0/3)", sf.shard)
	}
	if i < 0 || i >= n {
		return nil, usageError("--shard %s: index %d is out of range (allowed: 0..%d)", sf.shard, i, n-1)
	}
	c := &topology.ShardConfig{Index: i, Count: n, ListenPort: sf.listen}
	if sf.listen < 1 || sf.listen > 65535 {
		return nil, usageError("--shard-listen %d: want a UDP port 1..65535", sf.listen)
	}
	keyText := sf.key
	if f, ok := strings.CutPrefix(keyText, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError("--shard-key %s: %v", sf.key, err)
		}
		keyText = string(b)
	}
	if keyText == "" {
		return nil, usageError("--shard-key: required with --shard (a base64 WireGuard private key, or @FILE)")
	}
	if c.PrivateKey, err1 = netstack.ParseShardKey(keyText); err1 != nil {
		return nil, usageError("--shard-key: %v", err1)
	}
	seen := map[int]bool{}
	for _, p := range sf.peers {
		js, rest, ok1 := strings.Cut(p, "=")
		pub, ep, ok2 := strings.Cut(rest, "@")
		j, err := strconv.Atoi(js)
		if !ok1 || !ok2 || err != nil {
			return nil, usageError("--shard-peer %q: want J=PUBLIC_KEY@HOST:PORT", p)
		}
		if j < 0 || j >= n || j == i {
			return nil, usageError("--shard-peer %q: shard %d is out of range or this shard (allowed: 0..%d except %d)", p, j, n-1, i)
		}
		if seen[j] {
			return nil, usageError("--shard-peer %q: shard %d given twice", p, j)
		}
		seen[j] = true
		k, err := netstack.ParseShardKey(pub)
		if err != nil {
			return nil, usageError("--shard-peer %q: %v", p, err)
		}
		ep, err = resolveEndpoint(ep)
		if err != nil {
			return nil, usageError("--shard-peer %q: %v", p, err)
		}
		c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: k, Endpoint: ep})
	}
	for j := range n {
		if j != i && !seen[j] {
			return nil, usageError("--shard %s: no --shard-peer for shard %d (every other shard needs one)", sf.shard, j)
		}
	}
	return c, nil
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

// resolveEndpoint returns HOST:PORT with HOST an address: wireguard-go
// takes only addresses as endpoints, so a name (a Kubernetes headless
// Service's pod name) is looked up here, once, at start — an IPv4 address
// first. A name that does not resolve is an error naming it.
func resolveEndpoint(ep string) (string, error) {
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
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
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
