package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/sandbox"
	"github.com/vpclab/vpclab/topology"
)

// TestControlShardedChange runs shard 1 of shardTopology as a real `vpclab
// up --shard 1/2` process and shard 0 in-process, each with its control
// API: a rule removed through shard 1's API changes what shard 0 decides;
// refused requests (exit 2) change neither shard; both audit logs name the
// shard the change came from; once shard 1 is killed a change on shard 0
// is refused naming it (exit 1) and changes nothing.
func TestControlShardedChange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("re-executes the test binary")
	}
	file := writeTopology(t, shardTopology)
	require.Equal(t, 0, topology.ShardOf("a", 2))
	require.Equal(t, 1, topology.ShardOf("web-1", 2))
	k0, err := netstack.NewShardKey()
	require.NoError(t, err)
	k1, err := netstack.NewShardKey()
	require.NoError(t, err)
	p0, p1 := freeUDPPort(t), freeUDPPort(t)
	dir0, dir1 := t.TempDir()+"/run", t.TempDir()+"/run"

	child, childOut, done := startVpclab(t, "up", file, "--duration", "2m", "--shard", "1/2", "--shard-key", k1.String(),
		"--shard-listen", fmt.Sprint(p1), "--shard-peer", fmt.Sprintf("0=%s@127.0.0.1:%d", k0.Public(), p0), "--run-dir", dir1)
	runningUp(t, file, "--shard", "0/2", "--shard-key", k0.String(), "--shard-listen", fmt.Sprint(p0),
		"--shard-peer", fmt.Sprintf("1=%s@127.0.0.1:%d", k1.Public(), p1), "--run-dir", dir0)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, _, code := vpclab("audit", "--run-dir", dir1); code == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "shard 1 did not come up:\n%s", childOut)
		time.Sleep(50 * time.Millisecond)
	}
	probe := func() string {
		out := mustVerb(t, "probe", "--run-dir", dir0, "--from", "a", "--to", "web-1", "--port", "80", "-o", "json")
		var r topology.Result
		require.NoError(t, json.Unmarshal([]byte(out), &r))
		return r.Observed
	}
	require.Equal(t, topology.Allow, probe())

	rule := []string{"sg-web", "--direction", "ingress", "--protocol", "tcp", "--port", "80/80", "--source-group", "sg-a"}
	mustVerb(t, append([]string{"rule", "remove", "--run-dir", dir1}, rule...)...)
	require.Equal(t, topology.Block, probe(), "shard 0 still allows what shard 1 revoked")
	audit0 := mustVerb(t, "audit", "--run-dir", dir0)
	require.Regexp(t, `user\s+revoke\s+sg-web\s+.*tcp 80/80.*\s1\n`, audit0)
	require.Contains(t, audit0, "SHARD")

	state := func() string {
		return mustVerb(t, "audit", "--run-dir", dir0, "-o", "json") + mustVerb(t, "audit", "--run-dir", dir1, "-o", "json") +
			mustVerb(t, "stats", "--run-dir", dir0, "-o", "json") + mustVerb(t, "stats", "--run-dir", dir1, "-o", "json")
	}
	before := state()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"rule", "add", "--run-dir", dir0, "sg-nope", "--direction", "ingress", "--protocol", "tcp", "--port", "22", "--source", "10.0.0.0/8"},
			"InvalidSecurityGroupId.NotFound: group sg-nope: no such group (allowed: sg-a, sg-web)"},
		{[]string{"group", "join", "--run-dir", dir1, "web-9", "sg-a"}, "no such NIC (allowed: a, web-1)"},
		{[]string{"group", "leave", "--run-dir", dir0, "web-1", "sg-web"}, "InvalidParameter.Conflict"},
		{[]string{"probe", "--run-dir", dir0, "--from", "web-2", "--to", "a", "--port", "80"}, `did you mean "web-1"?`},
	} {
		out, errOut, code := vpclab(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("vpclab %s: exit %d, want 2 and %q\n%s%s", strings.Join(c.args, " "), code, c.want, out, errOut)
		}
	}
	require.Equal(t, before, state(), "a refused request changed a shard")

	// A probe asked of shard 0 from shard 1's instance runs there.
	out := mustVerb(t, "probe", "--run-dir", dir0, "--from", "web-1", "--to", "a", "--port", "80", "-o", "json")
	var r topology.Result
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, "web-1", r.From)
	require.NotEqual(t, topology.Failed, r.Observed, r.Detail)

	// Shard 1 is killed: a change is refused naming it, exit 1.
	require.NoError(t, child.Process.Kill())
	<-done
	before0 := mustVerb(t, "audit", "--run-dir", dir0, "-o", "json") + mustVerb(t, "stats", "--run-dir", dir0, "-o", "json")
	var errOut string
	var code int
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, errOut, code = vpclab(append([]string{"rule", "add", "--run-dir", dir0}, rule...)...)
		if code != 0 && strings.Contains(errOut, "shard 1 is down") || time.Now().After(deadline) {
			break
		}
		require.NotEqual(t, 0, code, "a change applied while shard 1 is gone")
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, sandbox.ErrShardUnavailable+": shard \"1\": shard 1 is down")
	require.Equal(t, before0, mustVerb(t, "audit", "--run-dir", dir0, "-o", "json")+mustVerb(t, "stats", "--run-dir", dir0, "-o", "json"))
}
