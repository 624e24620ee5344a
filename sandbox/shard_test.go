package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// shardedTopology spreads a client and a server over each of 3 shards
// (FNV-1a of the name mod 3: cli-2, srv-3 on 0; cli-1, srv-0 on 1; cli-0,
// srv-1 on 2). Nothing lets a client into a server yet; sg-srv has room
// for two rules.
const shardedTopology = `version: 1
name: shards
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: a, cidr: 10.0.1.0/24}]
quotas: {rules_per_group: 2}
security_groups:
  - {name: sg-cli, rules: []}
  - {name: sg-srv, rules: []}
  - {name: sg-spare, rules: []}
instances:
  - {name: cli-2, vswitch: a, security_groups: [sg-cli]}
  - {name: cli-1, vswitch: a, security_groups: [sg-cli]}
  - {name: cli-0, vswitch: a, security_groups: [sg-cli]}
  - {name: srv-3, vswitch: a, security_groups: [sg-srv], services: [{kind: echo, port: 7}]}
  - {name: srv-0, vswitch: a, security_groups: [sg-srv], services: [{kind: echo, port: 7}]}
  - {name: srv-1, vswitch: a, security_groups: [sg-srv], services: [{kind: echo, port: 7}]}
`

var (
	shardCli = []string{"cli-2", "cli-1", "cli-0"} // by shard
	shardSrv = []string{"srv-3", "srv-0", "srv-1"}
)

type testShard struct {
	lab *topology.Lab
	srv *Server
	c   *Client
	cfg topology.ShardConfig
}

func (s *testShard) close() {
	s.srv.Close()
	s.lab.Close()
}

// startShards builds the 3 shards of shardedTopology in this process, each
// with its own WireGuard device on a loopback port, and serves each one's
// control API.
func startShards(t *testing.T) []*testShard {
	t.Helper()
	topo, err := topology.Load("shards.yaml", []byte(shardedTopology))
	require.NoError(t, err)
	const n = 3
	for s := range n {
		require.Equal(t, s, topology.ShardOf(shardCli[s], n))
		require.Equal(t, s, topology.ShardOf(shardSrv[s], n))
	}
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		keys[i], err = netstack.NewShardKey()
		require.NoError(t, err)
	}
	shards := make([]*testShard, n)
	for i := range n {
		c := topology.ShardConfig{Index: i, Count: n, PrivateKey: keys[i]}
		for j := range n {
			if j != i {
				c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: keys[j].Public()})
			}
		}
		shards[i] = startShard(t, topo, c)
	}
	for i, s := range shards {
		s.cfg.ListenPort = int(s.lab.Shard.Port())
		for j, o := range shards {
			if i != j {
				require.NoError(t, s.lab.Shard.SetEndpoint(j, fmt.Sprintf("127.0.0.1:%d", o.lab.Shard.Port())))
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range shards {
		require.NoError(t, s.lab.Shard.WaitReady(ctx))
	}
	waitCaughtUp(t, shards...)
	return shards
}

// waitCaughtUp waits until each shard has caught up with the others (its
// change slot is free for changes).
func waitCaughtUp(t *testing.T, shards ...*testShard) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ready := true
		for _, s := range shards {
			ready = ready && s.srv.peers.ready.Load()
		}
		if ready {
			return
		}
		require.False(t, time.Now().After(deadline), "the shards did not catch up")
	}
}

func startShard(t *testing.T, topo *topology.Topology, c topology.ShardConfig) *testShard {
	t.Helper()
	lab, err := topology.Build(topo, topology.Sharded(c))
	require.NoError(t, err)
	srv, err := Start(lab, Options{Name: fmt.Sprintf("shard%d", c.Index), Dir: filepath.Join(t.TempDir(), "run"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("shard", c.Index)})
	if err != nil {
		lab.Close()
	}
	require.NoError(t, err)
	s := &testShard{lab: lab, srv: srv, c: NewClient(srv.Info()), cfg: c}
	t.Cleanup(s.close)
	return s
}

// restartShard brings shard i back on its port with its key, as a
// restarted process: from the file.
func restartShard(t *testing.T, shards []*testShard, i int) {
	t.Helper()
	s := startShard(t, shards[0].lab.Topology, shards[i].cfg)
	for j, o := range shards {
		if j != i {
			require.NoError(t, s.lab.Shard.SetEndpoint(j, fmt.Sprintf("127.0.0.1:%d", o.cfg.ListenPort)))
		}
	}
	shards[i] = s
}

// observe probes from → to on TCP 7 through shard s's control API.
func observe(t *testing.T, s *testShard, from, to string) string {
	t.Helper()
	// A blocked probe ends with its drop event; the timeout only bounds an
	// allowed one on a loaded machine.
	res, err := s.c.Probe(context.Background(), ProbeRequest{From: from, To: to, Port: 7, TimeoutMs: 8000})
	require.NoError(t, err)
	if res.Observed != topology.Allow {
		t.Logf("probe %s → %s on shard %d: %s (%s)", from, to, s.cfg.Index, res.Observed, res.Detail)
	}
	return res.Observed
}

// policyText is what every shard must agree on: every NIC's groups and
// the rules of every group.
func policyText(s *testShard) string {
	fw := s.lab.VPC.Firewall()
	out := ""
	for _, g := range fw.Groups() {
		grp, _ := fw.Group(g)
		out += fmt.Sprintf("%s members=%v rules:", g, fw.Members(g))
		for _, r := range grp.Rules {
			out += " " + r.String()
		}
		out += "\n"
	}
	return out
}

func requireAgree(t *testing.T, shards []*testShard) string {
	t.Helper()
	want := policyText(shards[0])
	for i, s := range shards[1:] {
		require.Equal(t, want, policyText(s), "shard %d differs from shard 0", i+1)
	}
	return want
}

func apiCode(t *testing.T, err error) (*APIError, string) {
	t.Helper()
	var ae *APIError
	require.True(t, errors.As(err, &ae), "want an API refusal, got %v", err)
	return ae, ae.Errors[0].Code
}

// TestShardedChanges: a change on one shard's control API changes the
// traffic decisions of every shard; a refused change (by this shard or by
// another) changes nothing anywhere; concurrent changes on two shards both
// apply everywhere; a change while a shard is down is refused naming it,
// and the other shards keep working.
func TestShardedChanges(t *testing.T) {
	shards := startShards(t)
	ctx := context.Background()
	// Before: no client reaches any server, on any shard, across shards.
	require.Equal(t, topology.Block, observe(t, shards[0], shardCli[0], shardSrv[2]))
	require.Equal(t, topology.Block, observe(t, shards[2], shardCli[2], shardSrv[0]))

	// A rule added on shard 1 ...
	rule := map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "7/7", "source_group": "sg-cli"}
	resp, err := shards[1].c.AddRule(ctx, RuleRequest{Group: "sg-srv", Rule: rule, Actor: "alice"})
	require.NoError(t, err)
	require.True(t, resp.Changed)
	// ... decides on shards 0 and 2, locally and across shards.
	require.Equal(t, topology.Allow, observe(t, shards[0], shardCli[0], shardSrv[2]))
	require.Equal(t, topology.Allow, observe(t, shards[0], shardCli[0], shardSrv[0]))
	require.Equal(t, topology.Allow, observe(t, shards[2], shardCli[2], shardSrv[1]))
	// A probe asked of shard 0 from shard 2's client runs on shard 2.
	require.Equal(t, topology.Allow, observe(t, shards[0], shardCli[2], shardSrv[2]))
	agreed := requireAgree(t, shards)
	for i, s := range shards {
		recs, err := s.c.Audit(ctx)
		require.NoError(t, err)
		last := recs[len(recs)-1]
		require.Equal(t, "alice", last.Actor, "shard %d", i)
		require.Equal(t, "authorize", last.Action)
		require.NotNil(t, last.Shard)
		require.Equal(t, 1, *last.Shard, "shard %d: the change came from shard 1", i)
	}

	// Refused by every shard's state alike (an unknown group): nothing changes.
	_, err = shards[2].c.AddRule(ctx, RuleRequest{Group: "sg-srv", Rule: map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "8/8", "source_group": "sg-nope"}})
	_, code := apiCode(t, err)
	require.Equal(t, firewall.ErrGroupNotFound, code)
	_, err = shards[2].c.JoinGroup(ctx, "nobody", "sg-spare")
	ae, code := apiCode(t, err)
	require.Equal(t, firewall.ErrNICNotFound, code)
	require.Contains(t, ae.Errors[0].Allowed, shardCli[0], "the alternatives list every shard's instances")
	require.Contains(t, ae.Errors[0].Allowed, shardSrv[1])
	require.Equal(t, agreed, requireAgree(t, shards))

	// Refused by another shard only (its state was changed behind the API:
	// sg-srv is full there): nothing changes on any shard.
	full := firewall.Rule{Direction: firewall.Ingress, Policy: firewall.Accept, Protocol: "udp", Ports: firewall.Ports{Start: 9, End: 9}, RemoteGroup: "sg-cli"}
	require.NoError(t, shards[2].lab.VPC.Firewall().AuthorizeRules("sg-srv", "test", full))
	before0, before1 := policyText(shards[0]), policyText(shards[1])
	_, err = shards[0].c.AddRule(ctx, RuleRequest{Group: "sg-srv", Rule: map[string]string{"direction": "ingress", "protocol": "icmp", "source_group": "sg-cli"}})
	ae, code = apiCode(t, err)
	require.Equal(t, ErrShardRefused, code)
	require.Contains(t, ae.Error(), "shard 2 refused the change")
	require.Contains(t, ae.Error(), firewall.ErrAuthorizationLimitExceed)
	require.Equal(t, before0, policyText(shards[0]))
	require.Equal(t, before1, policyText(shards[1]))
	require.NoError(t, shards[2].lab.VPC.Firewall().RevokeRules("sg-srv", "test", full))
	require.Equal(t, agreed, requireAgree(t, shards))

	// Two changes at once on two shards: both apply on every shard.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k, s := range []*testShard{shards[0], shards[2]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[k] = s.c.JoinGroup(ctx, shardCli[k], "sg-spare")
		}()
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	requireAgree(t, shards)
	for _, s := range shards {
		require.ElementsMatch(t, []string{shardCli[0], shardCli[1]}, s.lab.VPC.Firewall().Members("sg-spare"))
		recs, err := s.c.Audit(ctx)
		require.NoError(t, err)
		var joins []string
		for _, r := range recs {
			if r.Action == "join" {
				require.NotNil(t, r.Shard)
				joins = append(joins, fmt.Sprintf("%s@%d", r.Instance, *r.Shard))
			}
		}
		require.ElementsMatch(t, []string{shardCli[0] + "@0", shardCli[1] + "@2"}, joins)
	}
	agreed = requireAgree(t, shards)

	// Shard 2 goes away: a change is refused naming it, nothing changes on
	// the others, and their traffic goes on.
	shards[2].close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = shards[0].c.RemoveRule(ctx, RuleRequest{Group: "sg-srv", Rule: rule})
		require.Error(t, err, "a change applied while shard 2 is gone")
		ae, code = apiCode(t, err)
		require.Equal(t, ErrShardUnavailable, code)
		require.Contains(t, ae.Error(), "shard 2")
		require.Contains(t, ae.Error(), "applied on no shard")
		if ae.Errors[0].Value == "2" || time.Now().After(deadline) {
			break
		}
	}
	require.Equal(t, agreed, policyText(shards[0]))
	require.Equal(t, agreed, policyText(shards[1]))
	require.Equal(t, topology.Allow, observe(t, shards[0], shardCli[0], shardSrv[1]))
	require.Equal(t, topology.Allow, observe(t, shards[1], shardCli[1], shardSrv[0]))
	// A probe from shard 2's instance cannot run; one to it drops.
	_, err = shards[0].c.Probe(ctx, ProbeRequest{From: shardCli[2], To: shardSrv[0], Port: 7})
	require.ErrorContains(t, err, "shard 2")
	res, err := shards[0].c.Probe(ctx, ProbeRequest{From: shardCli[0], To: shardSrv[2], Port: 7, TimeoutMs: 1500})
	require.NoError(t, err)
	require.Equal(t, topology.Block, res.Observed)
	require.NotNil(t, res.Why, res.Detail)
	require.Equal(t, firewall.PeerShardDown.String(), res.Why.Code)

	// Shard 2 comes back from the file: it replays the changes the others
	// applied, and takes part in the next change.
	restartShard(t, shards, 2)
	for deadline := time.Now().Add(20 * time.Second); policyText(shards[2]) != agreed; {
		require.False(t, time.Now().After(deadline), "shard 2 did not catch up:\n%s\nwant:\n%s", policyText(shards[2]), agreed)
		time.Sleep(50 * time.Millisecond)
	}
	recs, err := shards[2].c.Audit(ctx)
	require.NoError(t, err)
	require.Equal(t, "alice", recs[len(recs)-3].Actor, "the replayed changes keep their actor")
	require.Equal(t, 1, *recs[len(recs)-3].Shard, "and their shard")
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err = shards[2].c.RemoveRule(ctx, RuleRequest{Group: "sg-srv", Rule: rule})
		if err == nil {
			break
		}
		require.False(t, time.Now().After(deadline), "no change through the restarted shard: %v", err)
		time.Sleep(100 * time.Millisecond)
	}
	requireAgree(t, shards)
	require.Equal(t, topology.Block, observe(t, shards[2], shardCli[2], shardSrv[0]))
	require.Equal(t, topology.Block, observe(t, shards[0], shardCli[0], shardSrv[2]))
}
