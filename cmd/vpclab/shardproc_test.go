package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/netstack"
	"github.com/vpclab/vpclab/topology"
)

// The shard processes test --shards starts are this test binary: it runs
// vpclab's main when runMainEnv is set.
func init() { shardChildEnv = []string{runMainEnv + "=1"} }

var durations = regexp.MustCompile(`[0-9.]+(ms|µs|s)\b`)

// sameReport is a test report with its timings blanked.
func sameReport(out string) string { return durations.ReplaceAllString(out, "T") }

// TestLargeScenarioShards: a generated VPC of 200 instances (group
// references, an explicit drop, a group without inner access, shard:
// overrides; 510 expectations over TCP, UDP and ICMP, allow, block and
// refuse) passes with 3 shard processes exactly as unsharded.
//
// Under the race detector the VPC has 50 instances (124 expectations),
// probed 4 at a time: 3 race-instrumented shards probing 200 instances 32
// at a time on a loaded 2-core machine go silent for more than 2 s at
// times, in processes and in one process alike, and their peers then
// rightly report PEER_SHARD_DOWN.
func TestLargeScenarioShards(t *testing.T) {
	if testing.Short() {
		t.Skip("brings 200 instances up 4 times")
	}
	n, want, parallel := 200, "510 passed, 0 failed", "32"
	if raceEnabled {
		n, want, parallel = 50, "124 passed, 0 failed", "4"
	}
	file := writeTopology(t, largeShardScenario(n, 3))
	// A blocked probe is known from its drop event; the fallback timeout
	// only bounds an allowed one, which under -race on a loaded machine
	// (510 probes, 32 at a time) may take more than the default 2 s.
	out1, stderr1, code1 := vpclab("test", file, "--timeout", "30s", "--parallel", parallel)
	require.Equal(t, 0, code1, "%s%s", out1, stderr1)
	require.Contains(t, out1, want)
	for _, kind := range []string{"observed allow", "observed block", "observed refuse", " icmp ", " udp/", " tcp/"} {
		require.Contains(t, out1, kind)
	}
	out3, stderr3, code3 := vpclab("test", file, "--timeout", "30s", "--parallel", parallel, "--shards", "3")
	require.Equal(t, 0, code3, "%s%s", failures(out3), stderr3)
	require.Equal(t, sameReport(out1), sameReport(out3))
}

// failures is the FAIL lines of a report, at most 20.
func failures(out string) string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.Contains(l, "FAIL") && len(lines) < 20 {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "")
}

// TestShardField: shard: N places an instance on shard N instead of the
// hash of its name, and a shard beyond the count is refused at its line
// and column with the allowed range, exit 2, before any process starts.
func TestShardField(t *testing.T) {
	// By hash, with 3 shards: a on 1, web-1 on 2 (TestShardOfStable).
	const placed = `version: 1
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: vsw, cidr: 10.0.1.0/24}]
security_groups:
  - {name: sg-a}
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source_group: sg-a}]
instances:
  - {name: a, vswitch: vsw, security_groups: [sg-a], shard: 0}
  - {name: web-1, vswitch: vsw, security_groups: [sg-web], services: [{kind: http, port: 80}], shard: 2}
expect:
  - {from: a, to: web-1, protocol: tcp, port: 80, result: allow}
  - {from: web-1, to: a, protocol: tcp, port: 80, result: block}
`
	file := writeTopology(t, placed)
	topo, err := topology.LoadFile(file)
	require.NoError(t, err)
	labs := buildShardsInProcess(t, topo, 3)
	for s, names := range [][]string{{"a"}, nil, {"web-1"}} {
		for _, name := range []string{"a", "web-1"} {
			require.Equal(t, contains(names, name), labs[s].Local(name), "shard %d runs %s", s, name)
		}
	}
	res := topology.RunShards(context.Background(), labs, topology.RunOptions{})
	require.True(t, res[0].Pass && res[1].Pass, "%+v", res)

	out1, _, code1 := vpclab("test", file)
	out3, stderr, code3 := vpclab("test", file, "--shards", "3")
	require.Equal(t, 0, code1)
	require.Equal(t, 0, code3, stderr)
	require.Equal(t, sameReport(out1), sameReport(out3))

	out, _, code := vpclab("test", file, "--shards", "2")
	require.Equal(t, 2, code)
	require.Equal(t, file+":10:103: instances[1] (web-1).shard: shard 2 is out of range for a VPC of 2 shards (allowed: 0..1)\n", out)
}

// buildShardsInProcess builds the n shards of t in this process, each
// with its own WireGuard device on a loopback UDP port and its own key,
// and points them at each other; the test closes them.
func buildShardsInProcess(t *testing.T, topo *topology.Topology, n int) []*topology.Lab {
	t.Helper()
	keys := make([]netstack.ShardKey, n)
	for i := range keys {
		k, err := netstack.NewShardKey()
		require.NoError(t, err)
		keys[i] = k
	}
	labs := make([]*topology.Lab, 0, n)
	for i := range n {
		c := topology.ShardConfig{Index: i, Count: n, PrivateKey: keys[i]}
		for j := range n {
			if j != i {
				c.Peers = append(c.Peers, netstack.ShardLinkPeer{Index: j, PublicKey: keys[j].Public()})
			}
		}
		lab, err := topology.Build(topo, topology.Sharded(c))
		require.NoError(t, err)
		t.Cleanup(func() { lab.Close() })
		labs = append(labs, lab)
	}
	for i, l := range labs {
		for j, o := range labs {
			if i != j {
				require.NoError(t, l.Shard.SetEndpoint(j, fmt.Sprintf("127.0.0.1:%d", o.Shard.Port())))
			}
		}
	}
	return labs
}

// TestShardProcessesStop: the shard processes of test --shards 3 do not
// outlive it, whether it is interrupted (SIGINT: exit 130), killed
// (SIGKILL: the children see their stdin close), or one child dies (the
// run fails naming it, and the others are stopped).
func TestShardProcessesStop(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if testing.Short() {
		t.Skip("starts shard processes of 200 instances")
	}
	file := writeTopology(t, largeShardScenario(200, 3))
	for _, c := range []struct {
		name string
		act  func(parent *os.Process, children []int)
		code int    // the parent's exit status; -1: killed
		want string // on its stderr or stdout
	}{
		{"SIGINT", func(p *os.Process, _ []int) { p.Signal(os.Interrupt) }, exitInterrupted, "interrupted; the shard processes are stopped"},
		{"SIGTERM", func(p *os.Process, _ []int) { p.Signal(syscall.SIGTERM) }, exitInterrupted, "interrupted"},
		{"SIGKILL", func(p *os.Process, _ []int) { p.Kill() }, -1, ""},
		{"a child dies", func(_ *os.Process, ch []int) { syscall.Kill(ch[1], syscall.SIGKILL) }, 2, "exited (signal: killed)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "test", file, "--shards", "3")
			cmd.Env = append(os.Environ(), runMainEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
			out := &lockedWriter{w: &bytes.Buffer{}}
			cmd.Stdout, cmd.Stderr = out, out
			require.NoError(t, cmd.Start())
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			t.Cleanup(func() { cmd.Process.Kill(); <-done })

			var children []int
			deadline := time.Now().Add(60 * time.Second)
			for len(children) < 3 {
				require.True(t, time.Now().Before(deadline), "no 3 shard processes of %d: %v", cmd.Process.Pid, children)
				time.Sleep(5 * time.Millisecond)
				children = childrenOf(cmd.Process.Pid)
			}
			c.act(cmd.Process, children)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the parent did not exit")
			}
			require.Equal(t, c.code, cmd.ProcessState.ExitCode(), out.w.(*bytes.Buffer).String())
			require.Contains(t, out.w.(*bytes.Buffer).String(), c.want)
			// Orphans are not reaped here: a zombie is gone.
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				var left []int
				for _, pid := range children {
					if alive(pid) {
						left = append(left, pid)
					}
				}
				if len(left) == 0 {
					break
				}
				require.True(t, time.Now().Before(deadline), "shard processes %v outlive the run", left)
			}
		})
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state := procStat(child); ppid == pid && state != "Z" {
			out = append(out, child)
		}
	}
	return out
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	_, state := procStat(pid)
	return state != "" && state != "Z"
}

// procStat returns the parent and state of pid from /proc/PID/stat.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, ""
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(fields[1])
	return ppid, fields[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

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
