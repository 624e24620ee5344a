package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

func TestShardFlagErrors(t *testing.T) {
	k, err := netstack.NewShardKey()
	require.NoError(t, err)
	key, pub := k.String(), k.Public().String()
	file := writeTopology(t, shardTopology)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--shard", "3/3"}, "--shard 3/3: index 3 is out of range (allowed: 0..2)"},
		{[]string{"--shard", "-1/3"}, "index -1 is out of range"},
		{[]string{"--shard", "1"}, `--shard "1": want I/N with N ≥ 1`},
		{[]string{"--shard", "0/2", "--shard-listen", "5000"}, "--shard-key: required with --shard"},
		{[]string{"--shard", "0/2", "--shard-listen", "5000", "--shard-key", "not-a-key"}, `--shard-key: malformed WireGuard key "not-a-key"`},
		{[]string{"--shard", "0/2", "--shard-key", key}, "--shard-listen 0: want a UDP port"},
		{[]string{"--shard", "0/2", "--shard-listen", "5000", "--shard-key", key}, "no --shard-peer for shard 1"},
		{[]string{"--shard", "0/2", "--shard-listen", "5000", "--shard-key", key, "--shard-peer", "1=" + pub[:10] + "@127.0.0.1:5001"}, "malformed WireGuard key"},
		{[]string{"--shard", "0/2", "--shard-listen", "5000", "--shard-key", key, "--shard-peer", "2=" + pub + "@127.0.0.1:5001"}, "shard 2 is out of range or this shard (allowed: 0..1 except 0)"},
		{[]string{"--shard", "0/2", "--shard-listen", "5000", "--shard-key", key, "--shard-peer", "1=" + pub}, "want J=PUBLIC_KEY@HOST:PORT"},
		{[]string{"--shard-key", key}, "need --shard I/N"},
		{[]string{"--shard-down-after", "10s"}, "--shard-down-after need --shard I/N"},
		{[]string{"--shard", "0/2", "--shard-down-after", "1s"}, "--shard-down-after 1s: out of range (allowed: 2s..1h)"},
	} {
		_, stderr, code := vpclab(append([]string{"up", file}, c.args...)...)
		require.Equal(t, 2, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.want, "%v", c.args)
	}
	_, stderr, code := vpclab("test", file, "--shards", "0")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--shards 0: out of range (allowed: 1..64)")
	_, stderr, code = vpclab("test", file, "--shards", "2", "--shard-down-after", "2h")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--shard-down-after 2h0m0s: out of range (allowed: 2s..1h)")
}

// TestShardDownAfter: --shard-down-after reaches the shard's link
// configuration (default: netstack.DefaultShardDownAfter), and test
// --shards passes it to its shard processes, which still agree.
func TestShardDownAfter(t *testing.T) {
	k, err := netstack.NewShardKey()
	require.NoError(t, err)
	top, err := topology.Load("shards.yaml", []byte(shardTopology))
	require.NoError(t, err)
	for _, want := range []time.Duration{netstack.DefaultShardDownAfter, 10 * time.Second} {
		sf := shardFlags{shard: "0/2", key: k.String(), listen: 5000, downAfter: want,
			peers: []string{"1=" + k.Public().String() + "@127.0.0.1:5001"}}
		c, _, err := sf.config(top)
		require.NoError(t, err)
		require.Equal(t, want, c.DownAfter)
	}
	out, stderr, code := vpclab("test", writeTopology(t, shardTopology), "--shards", "2", "--shard-down-after", "10s")
	require.Equal(t, 0, code, "%s%s", out, stderr)
}

// shardTopology: with 2 shards, "a" is on shard 0 and "web-1" on shard 1
// (FNV-1a mod 2); a's group may reach web-1's http by group reference.
const shardTopology = `version: 1
name: shards
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.1.0/24}]
security_groups:
  - {name: sg-a}
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source_group: sg-a}]
instances:
  - {name: a, vswitch: vsw, security_groups: [sg-a]}
  - {name: web-1, vswitch: vsw, security_groups: [sg-web], services: [{kind: http, port: 80}]}
expect:
  - {from: a, to: web-1, protocol: tcp, port: 80, result: allow}
  - {from: web-1, to: a, protocol: tcp, port: 80, result: block}
`

// TestTestShardsSameReport: vpclab test --shards 3, with every shard a
// process of its own, prints for every example it can shard the report it
// prints unsharded (timings aside).
func TestTestShardsSameReport(t *testing.T) {
	if testing.Short() {
		t.Skip("brings examples up twice")
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	require.NoError(t, err)
	ran := 0
	for _, path := range files {
		out3, stderr, code3 := vpclab("test", path, "--shards", "3")
		ran++
		out1, _, code1 := vpclab("test", path)
		require.Equal(t, code1, code3, "%s: %s", path, stderr)
		require.Equal(t, sameReport(out1), sameReport(out3), path)
	}
	require.GreaterOrEqual(t, ran, 16)
	// What a shard cannot run is named, in the file, exit 2.
	out, _, code := vpclab("test", filepath.Join("..", "..", "topology", "testdata", "valid-vpn.yaml"), "--shards", "3")
	require.Equal(t, 2, code)
	require.Contains(t, out, "valid-vpn.yaml:6:5: vpn_gateways[0] (office): a sharded VPC does not carry VPN gateways")
}

// startVpclab runs this binary as vpclab with args (a shard process, say),
// its output in out; done closes when it has exited, and the test's end
// kills it and waits.
func startVpclab(t *testing.T, args ...string) (cmd *exec.Cmd, out *lockedWriter, done chan struct{}) {
	t.Helper()
	cmd = exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	out = &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done = make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	return cmd, out, done
}

func freeUDPPort(t *testing.T) int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestShardProcessKilled runs shard 1 as a real `vpclab up --shard 1/2`
// process and shard 0 here: a's probe to web-1 crosses WireGuard; once the
// process is killed, the probe reports PEER_SHARD_DOWN within about 2 s;
// a restarted process serves it again.
func TestShardProcessKilled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("re-executes the test binary with signals")
	}
	file := writeTopology(t, shardTopology)
	topo, err := topology.LoadFile(file)
	require.NoError(t, err)
	require.Equal(t, 0, topology.ShardOf("a", 2))
	require.Equal(t, 1, topology.ShardOf("web-1", 2))
	k0, err := netstack.NewShardKey()
	require.NoError(t, err)
	k1, err := netstack.NewShardKey()
	require.NoError(t, err)
	p0, p1 := freeUDPPort(t), freeUDPPort(t)

	start := func() (*exec.Cmd, chan struct{}) {
		cmd, _, done := startVpclab(t, "up", file, "--shard", "1/2", "--shard-key", k1.String(),
			"--shard-listen", fmt.Sprint(p1), "--shard-peer", fmt.Sprintf("0=%s@127.0.0.1:%d", k0.Public(), p0),
			"--run-dir", t.TempDir())
		return cmd, done
	}
	child, done := start()

	lab, err := topology.Build(topo, topology.Sharded(topology.ShardConfig{Index: 0, Count: 2, PrivateKey: k0, ListenPort: p0,
		Peers: []netstack.ShardLinkPeer{{Index: 1, PublicKey: k1.Public(), Endpoint: fmt.Sprintf("127.0.0.1:%d", p1)}}}))
	require.NoError(t, err)
	defer lab.Close()
	ctx := context.Background()
	// A short fallback: until the link is known down, a probe waits for
	// it; this bounds how late the loop sees the change.
	probe := func() topology.Result {
		return lab.RunExpects(ctx, topo.Expect[:1], topology.RunOptions{Timeout: 200 * time.Millisecond})[0]
	}
	until := func(what string, d time.Duration, ok func(topology.Result) bool) (topology.Result, time.Duration) {
		t.Helper()
		begin := time.Now()
		for {
			r := probe()
			if ok(r) {
				return r, time.Since(begin)
			}
			if time.Since(begin) > d {
				t.Fatalf("%s: not within %v; last: %s %s", what, d, r.Observed, r.Detail)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	pass := func(r topology.Result) bool { return r.Pass }
	until("the child shard serves web-1", 30*time.Second, pass)

	require.NoError(t, child.Process.Kill())
	<-done
	r, took := until("PEER_SHARD_DOWN", 3*time.Second, func(r topology.Result) bool {
		return strings.Contains(r.Detail, "PEER_SHARD_DOWN")
	})
	t.Logf("PEER_SHARD_DOWN %v after the kill: %s", took, r.Detail)
	// Down means 2 s without a byte from the shard, counted from the last
	// one it sent (a reply just before the kill): 2 s, plus the link's
	// 100 ms poll and a probe in flight (200 ms).
	require.Less(t, took, 2500*time.Millisecond)

	start()
	until("web-1 back after the restart", 30*time.Second, pass)
}

// TestResolveEndpoint: a --shard-peer host name is looked up once at start
// (wireguard-go takes only addresses; a Kubernetes example names pods), and
// a name that does not resolve is an error naming it.
func TestResolveEndpoint(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"127.0.0.1:5001", "127.0.0.1:5001", ""},
		{"[::ffff:10.0.0.1]:5001", "10.0.0.1:5001", ""},
		{"localhost:5001", "127.0.0.1:5001", ""},
		{"no-such-shard.invalid:5001", "", `host "no-such-shard.invalid" does not resolve`},
		{"localhost:0", "", "want 1..65535"},
		{"localhost", "", "missing port"},
	} {
		got, err := resolveEndpoint(c.in)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.in)
			continue
		}
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, c.in)
	}
}

// TestShardClusterConfig: up --shard takes N, its listen port and the
// other shards' keys and endpoints from the file's cluster: section;
// --shard-peer replaces an entry; what disagrees is an error naming the
// file's line and column.
func TestShardClusterConfig(t *testing.T) {
	keys := make([]netstack.ShardKey, 3)
	for i := range keys {
		k, err := netstack.NewShardKey()
		require.NoError(t, err)
		keys[i] = k
	}
	other, err := netstack.NewShardKey()
	require.NoError(t, err)
	clusterFile := func(peers string) *topology.Topology {
		t.Helper()
		top, err := topology.Load("c.yaml", []byte(shardTopology+"cluster:\n  shards: 3\n  peers:\n"+peers))
		require.NoError(t, err)
		return top
	}
	entry := func(i int, ep string) string {
		return fmt.Sprintf("    - {index: %d, public_key: %q, endpoint: %q}\n", i, keys[i].Public(), ep)
	}
	full := clusterFile(entry(0, "127.0.0.1:7000") + entry(1, "localhost:7001") + entry(2, "127.0.0.1:7002"))

	sf := shardFlags{shard: "1", key: keys[1].String()}
	c, names, err := sf.config(full)
	require.NoError(t, err)
	require.Equal(t, 1, c.Index)
	require.Equal(t, 3, c.Count)
	require.Equal(t, 7001, c.ListenPort, "the port of its own entry")
	require.Equal(t, []netstack.ShardLinkPeer{
		{Index: 0, PublicKey: keys[0].Public(), Endpoint: "127.0.0.1:7000"},
		{Index: 2, PublicKey: keys[2].Public(), Endpoint: "127.0.0.1:7002"},
	}, c.Peers)
	require.Empty(t, names, "addresses need no looking up again")

	sf = shardFlags{shard: "0/3", key: keys[0].String(), listen: 9000, peers: []string{fmt.Sprintf("2=%s@127.0.0.1:9002", other.Public())}}
	c, names, err = sf.config(full)
	require.NoError(t, err)
	require.Equal(t, 9000, c.ListenPort, "--shard-listen overrides the file")
	require.Equal(t, []netstack.ShardLinkPeer{
		{Index: 1, PublicKey: keys[1].Public(), Endpoint: "127.0.0.1:7001"},
		{Index: 2, PublicKey: other.Public(), Endpoint: "127.0.0.1:9002"},
	}, c.Peers, "--shard-peer replaces entry 2")
	require.Equal(t, map[int]*peerName{1: {name: "localhost:7001", endpoint: "127.0.0.1:7001"}}, names)

	for _, tc := range []struct {
		top  *topology.Topology
		sf   shardFlags
		want string
	}{
		{full, shardFlags{shard: "1/4", key: keys[1].String()}, "--shard 1/4: 4 shards, but c.yaml:16:11: cluster.shards is 3"},
		{full, shardFlags{shard: "3", key: keys[1].String()}, "--shard 3: index 3 is out of range (allowed: 0..2)"},
		{full, shardFlags{shard: "1", key: keys[0].String()}, "--shard-key: its public key is " + keys[0].Public().String() + ", but c.yaml:19:30: cluster.peers[1].public_key is " + keys[1].Public().String()},
		{clusterFile(entry(1, "127.0.0.1:7001") + entry(2, "127.0.0.1:7002")), shardFlags{shard: "1", key: keys[1].String()}, "no --shard-peer for shard 0 (every other shard needs one, or an entry in cluster.peers)"},
		{clusterFile(entry(0, "127.0.0.1:7000") + entry(2, "127.0.0.1:7002")), shardFlags{shard: "1", key: keys[1].String()}, "--shard-listen 0: want a UDP port 1..65535 (or a cluster.peers entry for shard 1"},
		{clusterFile(entry(0, "no-such-shard.invalid:7000") + entry(1, "127.0.0.1:7001") + entry(2, "127.0.0.1:7002")), shardFlags{shard: "1", key: keys[1].String()}, `c.yaml:18:88: cluster.peers[0].endpoint: endpoint "no-such-shard.invalid:7000": host "no-such-shard.invalid" does not resolve`},
		{&topology.Topology{}, shardFlags{shard: "1", key: keys[1].String()}, "or I alone with a cluster: section giving N"},
		{full, shardFlags{shard: "1", key: keys[1].String(), peers: []string{fmt.Sprintf("2=%s@localhost:7000", keys[2].Public())}},
			fmt.Sprintf(`--shard-peer "2=%s@localhost:7000": shards 0 and 2 both at 127.0.0.1:7000`, keys[2].Public())},
		{full, shardFlags{shard: "1", key: keys[1].String(), peers: []string{"2=" + keys[2].Public().String()[:20] + "@127.0.0.1:7002"}}, "malformed WireGuard key"},
	} {
		_, _, err := tc.sf.config(tc.top)
		require.ErrorContains(t, err, tc.want, "%+v", tc.sf)
		var ee *exitError
		require.ErrorAs(t, err, &ee)
		require.Equal(t, 2, ee.code)
	}

	// Through the command: exit 2, the file's position, nothing started.
	placed := writeTopology(t, strings.Replace(shardTopology, "{name: a, vswitch: vsw, security_groups: [sg-a]}", "{name: a, vswitch: vsw, security_groups: [sg-a], shard: 2}", 1))
	_, stderr, code := vpclab("up", placed, "--shard", "0/2", "--shard-key", keys[0].String(), "--shard-listen", "7000", "--shard-peer", fmt.Sprintf("1=%s@127.0.0.1:7001", keys[1].Public()))
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--shard 0/2: 2 shards, but "+placed+":10:61: instances[0].shard is 2 (allowed: 0..1)")
}

// TestReresolveShards: a shard given by host name that stays silent is
// looked up again, and once the name points at the shard's new address
// the link comes up there (as wg-quick's reresolve-dns).
func TestReresolveShards(t *testing.T) {
	topo, err := topology.LoadFile(writeTopology(t, shardTopology))
	require.NoError(t, err)
	k0, err := netstack.NewShardKey()
	require.NoError(t, err)
	k1, err := netstack.NewShardKey()
	require.NoError(t, err)
	// Shard 1 first: its port is what the name will resolve to.
	lab1, err := topology.Build(topo, topology.Sharded(topology.ShardConfig{Index: 1, Count: 2, PrivateKey: k1,
		Peers: []netstack.ShardLinkPeer{{Index: 0, PublicKey: k0.Public()}}}))
	require.NoError(t, err)
	defer lab1.Close()
	name := fmt.Sprintf("shard-1.test:%d", lab1.Shard.Port())
	var (
		mu      sync.Mutex
		lookups int
		moved   bool // the name points at shard 1's address
	)
	lookup := func(_ context.Context, _, host string) ([]netip.Addr, error) {
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, "shard-1.test", host)
		lookups++
		if moved {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil // TEST-NET-1: nobody
	}
	ep, err := resolveEndpointWith(name, lookup)
	require.NoError(t, err)
	lab0, err := topology.Build(topo, topology.Sharded(topology.ShardConfig{Index: 0, Count: 2, PrivateKey: k0,
		Peers: []netstack.ShardLinkPeer{{Index: 1, PublicKey: k1.Public(), Endpoint: ep}}}))
	require.NoError(t, err)
	defer lab0.Close()
	require.NoError(t, lab1.Shard.SetEndpoint(0, fmt.Sprintf("127.0.0.1:%d", lab0.Shard.Port())))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		reresolveShards(ctx, lab0.Shard, map[int]*peerName{1: {name: name, endpoint: ep}}, 50*time.Millisecond, lookup, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()

	// At the old address shard 1 stays silent: once down, it is looked
	// up again (and again, while the name has not moved).
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return lookups >= 3 }, 10*time.Second, 10*time.Millisecond)
	require.False(t, lab0.Shard.Peer(1).Up())
	mu.Lock()
	moved = true
	mu.Unlock()
	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	require.NoError(t, lab0.Shard.WaitReady(wctx))
	r := lab0.RunExpects(context.Background(), topo.Expect[:1], topology.RunOptions{})[0]
	require.True(t, r.Pass, "%s %s", r.Observed, r.Detail)
}

// TestUpShardFromCluster: `vpclab up FILE --shard 1 --shard-key @FILE`
// takes everything else from the file's cluster: section, and carries
// real traffic with shard 0 (a lab here, built from the same entries):
// its own expectation (web-1 → a, blocked on a's shard) and a's probe to
// web-1 across the link both pass.
func TestUpShardFromCluster(t *testing.T) {
	k0, err := netstack.NewShardKey()
	require.NoError(t, err)
	k1, err := netstack.NewShardKey()
	require.NoError(t, err)
	p0, p1 := freeUDPPort(t), freeUDPPort(t)
	file := writeTopology(t, shardTopology+fmt.Sprintf(`cluster:
  shards: 2
  peers:
    - {index: 0, public_key: %q, endpoint: "127.0.0.1:%d"}
    - {index: 1, public_key: %q, endpoint: "localhost:%d"}
`, k0.Public(), p0, k1.Public(), p1))
	keyFile := filepath.Join(t.TempDir(), "shard-1.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(k1.String()+"\n"), 0o600))
	topo, err := topology.LoadFile(file)
	require.NoError(t, err)
	lab0, err := topology.Build(topo, topology.Sharded(topology.ShardConfig{Index: 0, Count: 2, PrivateKey: k0, ListenPort: p0,
		Peers: []netstack.ShardLinkPeer{{Index: 1, PublicKey: k1.Public(), Endpoint: fmt.Sprintf("127.0.0.1:%d", p1)}}}))
	require.NoError(t, err)
	defer lab0.Close()

	wait, _ := runningUp(t, file, "--shard", "1", "--shard-key", "@"+keyFile, "--run-dir", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, lab0.Shard.WaitReady(ctx))
	r := lab0.RunExpects(context.Background(), topo.Expect[:1], topology.RunOptions{})[0]
	require.True(t, r.Pass, "%s %s", r.Observed, r.Detail)
	stdout, stderr, _ := wait()
	require.Contains(t, stdout, "reachability: 1 passed, 0 failed", stderr)
	require.Contains(t, stdout, "web-1 → a tcp/80", "shard 1 runs the expectation from web-1")
}
