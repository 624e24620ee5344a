package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vpclab/vpclab/firewall"
	"github.com/vpclab/vpclab/topology"
)

// controlTopology: web-1 serves http on 80 to app-1 (sg-app); sg-web has
// room for one more rule (quota 3).
const controlTopology = `version: 1
name: ctl
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
quotas: {rules_per_group: 3}
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 80/80, source_group: sg-app, description: web from app}
      - {direction: ingress, protocol: icmp, source: 10.0.0.0/16}
  - name: sg-app
    rules: []
  - name: sg-spare
    rules: []
instances:
  - {name: web-1, vswitch: web, security_groups: [sg-web], services: [{kind: http, port: 80}, {kind: echo, port: 7}]}
  - {name: app-1, vswitch: web, security_groups: [sg-app]}
`

// startLab brings controlTopology up and serves its control API in a
// temporary run directory.
func startLab(t testing.TB) (*topology.Lab, *Server, *Client, chan struct{}) {
	t.Helper()
	topo, err := topology.Load("ctl.yaml", []byte(controlTopology))
	require.NoError(t, err)
	lab, err := topology.Build(topo)
	require.NoError(t, err)
	t.Cleanup(func() { lab.Close() })
	downed := make(chan struct{})
	srv, err := Start(lab, Options{Name: "ctl", File: "ctl.yaml", Dir: filepath.Join(t.TempDir(), "ctl"),
		OnDown: func() { close(downed) }})
	require.NoError(t, err)
	t.Cleanup(func() { srv.Close() })
	return lab, srv, NewClient(srv.Info()), downed
}

// state is what a refused request must leave unchanged.
type state struct {
	audit  int
	groups map[string][]string
	rules  map[string]int
}

func snapshot(t *testing.T, c *Client) state {
	t.Helper()
	ctx := context.Background()
	a, err := c.Audit(ctx)
	require.NoError(t, err)
	st, err := c.Stats(ctx, "")
	require.NoError(t, err)
	s := state{audit: len(a), groups: map[string][]string{}, rules: map[string]int{}}
	for _, n := range st.NICs {
		s.groups[n.Name] = n.Groups
		s.rules[n.Name] = len(n.Rules)
	}
	return s
}

func apiErr(t *testing.T, err error) *APIError {
	t.Helper()
	var ae *APIError
	require.True(t, errors.As(err, &ae), "want an *APIError, got %v", err)
	return ae
}

func TestControlRuleChangeAppliesToNextConnection(t *testing.T) {
	lab, _, c, _ := startLab(t)
	ctx := context.Background()
	probe := func(want string) topology.Result {
		t.Helper()
		r, err := c.Probe(ctx, ProbeRequest{From: "app-1", To: "web-1", Port: 80, Expect: want})
		require.NoError(t, err)
		require.True(t, r.Pass, "%+v", r)
		return r
	}
	probe(topology.Allow)

	// A connection opened before the change keeps working (tracked).
	web := netip.MustParseAddrPort("10.0.1.1:7")
	_, err := c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: map[string]string{"direction": "ingress", "protocol": "TCP", "port_range": "7", "source": "10.0.0.0/16"}})
	require.NoError(t, err)
	conn, err := lab.VPC.Instance("app-1").Dial(ctx, "tcp", web)
	require.NoError(t, err)
	defer conn.Close()
	echo := func() error {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		_, err := conn.Read(buf)
		return err
	}
	require.NoError(t, echo())

	resp, err := c.RemoveRule(ctx, RuleRequest{Group: "sg-web", Rule: map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "7/7", "source": "10.0.0.0/16"}})
	require.NoError(t, err)
	assert.True(t, resp.Changed)
	assert.Equal(t, "user", resp.Actor)
	require.NoError(t, echo(), "a tracked connection survives the revoke")
	r, err := c.Probe(ctx, ProbeRequest{From: "app-1", To: "web-1", Port: 7})
	require.NoError(t, err)
	assert.Equal(t, topology.Block, r.Observed, "a new connection sees the revoke: %+v", r)

	// Flushing app-1's entries cuts the tracked connection too.
	fl, err := c.Flush(ctx, "app-1")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, fl.Flushed, 1)
	assert.Error(t, echo(), "a flushed connection must pass the rules again")

	// The http rule goes with a managed_by actor and comes back.
	httpRule := map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "80", "source_group": "sg-app", "managed_by": "dms"}
	resp, err = c.RemoveRule(ctx, RuleRequest{Group: "sg-web", Rule: httpRule})
	require.NoError(t, err)
	assert.Equal(t, "dms", resp.Actor)
	probe(topology.Block)
	resp, err = c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: httpRule})
	require.NoError(t, err)
	assert.True(t, resp.Changed)
	probe(topology.Allow)
	resp, err = c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: httpRule})
	require.NoError(t, err)
	assert.False(t, resp.Changed, "an identical rule changes nothing")

	audit, err := c.Audit(ctx)
	require.NoError(t, err)
	var lines []string
	for _, a := range audit {
		lines = append(lines, a.Actor+" "+a.Action+" "+a.Group+" "+a.Rule)
	}
	assert.Equal(t, []string{
		"user authorize sg-web ingress accept priority 1 tcp 80/80 source_group sg-app \"web from app\"",
		"user authorize sg-web ingress accept priority 1 icmp source 10.0.0.0/16",
		"user authorize sg-web ingress accept priority 1 tcp 7/7 source 10.0.0.0/16",
		"user revoke sg-web ingress accept priority 1 tcp 7/7 source 10.0.0.0/16",
		"dms revoke sg-web ingress accept priority 1 tcp 80/80 source_group sg-app \"web from app\"",
		"dms authorize sg-web ingress accept priority 1 tcp 80/80 source_group sg-app managed_by dms",
	}, lines)
}

func TestControlRefusalsChangeNothing(t *testing.T) {
	_, _, c, _ := startLab(t)
	ctx := context.Background()
	rule := func(extra ...string) map[string]string {
		m := map[string]string{"direction": "ingress", "protocol": "tcp", "port_range": "22", "source": "10.0.0.0/8"}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	before := snapshot(t, c)
	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
		text   string
	}{
		{"unknown group", func() error { _, err := c.AddRule(ctx, RuleRequest{Group: "sg-nope", Rule: rule()}); return err },
			404, firewall.ErrGroupNotFound, "InvalidSecurityGroupId.NotFound: group sg-nope: no such group (allowed: sg-app, sg-spare, sg-web)"},
		{"malformed port", func() error {
			_, err := c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: rule("port_range", "80-81")})
			return err
		},
			400, firewall.ErrInvalidPortRange, `InvalidPortRange.Malformed: port_range "80-81": port range "80-81"`},
		{"port out of range", func() error {
			_, err := c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: rule("port_range", "0/70000")})
			return err
		},
			400, firewall.ErrInvalidPortRange, "InvalidPortRange.Malformed"},
		{"over the quota", func() error {
			_, err := c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: rule("port_range", "23")})
			if err != nil {
				return errors.New("the third rule must fit: " + err.Error())
			}
			_, err = c.AddRule(ctx, RuleRequest{Group: "sg-web", Rule: rule("port_range", "24")})
			return err
		}, 409, firewall.ErrAuthorizationLimitExceed, "AuthorizationLimitExceed: group sg-web: the group would have 4 rules; the quota is 3 rules per group"},
		{"revoke a rule that is not there", func() error {
			_, err := c.RemoveRule(ctx, RuleRequest{Group: "sg-web", Rule: rule("port_range", "9")})
			return err
		},
			404, firewall.ErrRuleNotFound, "no such rule: ingress accept priority 1 tcp 9/9 source 10.0.0.0/8"},
		{"join: unknown instance", func() error { _, err := c.JoinGroup(ctx, "web-9", "sg-spare"); return err },
			404, firewall.ErrNICNotFound, "(allowed: web-1, app-1)"},
		{"join: unknown group", func() error { _, err := c.JoinGroup(ctx, "web-1", "sg-nope"); return err },
			404, firewall.ErrGroupNotFound, "(allowed: sg-app, sg-spare, sg-web)"},
		{"leave the last group", func() error { _, err := c.LeaveGroup(ctx, "app-1", "sg-app"); return err },
			409, firewall.ErrConflict, ""},
		{"leave a group it is not in", func() error { _, err := c.LeaveGroup(ctx, "app-1", "sg-web"); return err },
			409, firewall.ErrNotMember, ""},
		{"probe: unknown instance", func() error { _, err := c.Probe(ctx, ProbeRequest{From: "app-2", To: "web-1", Port: 80}); return err },
			404, ErrInstanceNotFound, `did you mean "app-1"?`},
		{"probe: no port", func() error { _, err := c.Probe(ctx, ProbeRequest{From: "app-1", To: "web-1"}); return err },
			400, firewall.ErrInvalidPortRange, "tcp needs a destination port (allowed: 1..65535)"},
		{"conntrack: unknown instance", func() error { _, err := c.Conntrack(ctx, "web-2", 0); return err },
			404, ErrInstanceNotFound, `instance "web-2": no such instance (allowed: web-1, app-1)`},
		{"stats: unknown instance", func() error { _, err := c.Stats(ctx, "web-2"); return err },
			404, ErrInstanceNotFound, `instance "web-2": no such instance or internet host (allowed: web-1, app-1)`},
		{"flush: unknown instance", func() error { _, err := c.Flush(ctx, "web-2"); return err },
			404, ErrInstanceNotFound, `no such instance`},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			ae := apiErr(t, cs.call())
			assert.Equal(t, cs.status, ae.Status)
			require.NotEmpty(t, ae.Errors)
			assert.Equal(t, cs.code, ae.Errors[0].Code)
			assert.Contains(t, ae.Error(), cs.text)
		})
	}
	after := snapshot(t, c)
	// The one rule that fit (port 23) is the only change.
	assert.Equal(t, before.audit+1, after.audit)
	assert.Equal(t, before.groups, after.groups)
	assert.Equal(t, before.rules["app-1"], after.rules["app-1"])
	assert.Equal(t, before.rules["web-1"]+1, after.rules["web-1"])
}

func TestControlStatsAndConntrack(t *testing.T) {
	_, _, c, _ := startLab(t)
	ctx := context.Background()
	for range 3 {
		r, err := c.Probe(ctx, ProbeRequest{From: "app-1", To: "web-1", Port: 80, Expect: "allow"})
		require.NoError(t, err)
		require.True(t, r.Pass, "%+v", r)
	}
	r, err := c.Probe(ctx, ProbeRequest{From: "app-1", To: "web-1", Port: 22, Expect: "block"})
	require.NoError(t, err)
	require.True(t, r.Pass, "%+v", r)

	st, err := c.Stats(ctx, "web-1")
	require.NoError(t, err)
	require.Len(t, st.NICs, 1, "stats of one instance")
	var web *NICStats
	for i := range st.NICs {
		if st.NICs[i].Name == "web-1" {
			web = &st.NICs[i]
		}
	}
	require.NotNil(t, web)
	assert.Equal(t, []string{"sg-web"}, web.Groups)
	assert.Equal(t, uint64(1), web.Drops["SG_DEFAULT_DENY"], "%v", web.Drops)
	assert.NotZero(t, web.RxFrames)
	hits := map[string]uint64{}
	for _, h := range web.Rules {
		hits[h.Direction+" "+h.Kind+" "+h.Text] = h.Hits
	}
	assert.Equal(t, uint64(3), hits[`ingress rule ingress accept priority 1 tcp 80/80 source_group sg-app "web from app"`], "%v", hits)
	v, ok := hits["ingress rule ingress accept priority 1 icmp source 10.0.0.0/16"]
	assert.True(t, ok, "a rule that never matched is listed: %v", hits)
	assert.Zero(t, v)
	assert.Equal(t, uint64(1), hits["ingress default implicit default: SG_DEFAULT_DENY"])

	ct, err := c.Conntrack(ctx, "web-1", -1)
	require.NoError(t, err)
	require.NotEmpty(t, ct.Entries)
	one, err := c.Conntrack(ctx, "web-1", 1)
	require.NoError(t, err)
	assert.Len(t, one.Entries, 1)
	assert.Equal(t, len(ct.Entries)-1, one.Omitted)
	for _, e := range ct.Entries {
		assert.Equal(t, "tcp", e.Protocol)
		assert.ElementsMatch(t, []string{"app-1", "web-1"}, []string{e.AName, e.BName})
	}
	all, err := c.Flush(ctx, "")
	require.NoError(t, err)
	assert.Equal(t, len(ct.Entries), all.Flushed)
	ct, err = c.Conntrack(ctx, "", 0)
	require.NoError(t, err)
	assert.Empty(t, ct.Entries)
}

func TestControlDownAndRunDir(t *testing.T) {
	_, srv, c, downed := startLab(t)
	ctx := context.Background()
	info, err := c.GetInfo(ctx)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), info.PID)
	assert.Equal(t, "ctl", info.Name)

	fi, err := os.Stat(info.Socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "socket mode")
	fi, err = os.Stat(info.Dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "run directory mode")

	// A second sandbox of the same run directory is refused.
	_, err = Start(srv.lab, Options{Name: "ctl", Dir: info.Dir})
	var re *RunningError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, err.Error(), "sandbox ctl is already running")

	// down: the callback runs; Close removes everything.
	require.NoError(t, func() error {
		if err := c.do(ctx, http.MethodPost, PathDown, nil, nil); err != nil {
			return err
		}
		select {
		case <-downed:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("OnDown was not called")
		}
	}())
	srv.Close()
	_, err = os.Stat(info.Dir)
	assert.True(t, os.IsNotExist(err), "the run directory is removed: %v", err)
	_, err = c.GetInfo(ctx)
	var ce *ConnError
	assert.ErrorAs(t, err, &ce)
}

func TestRunDirStaleAndDiscovery(t *testing.T) {
	base := filepath.Join(t.TempDir(), "vpclab")
	require.NoError(t, os.MkdirAll(filepath.Join(base, "dead"), 0o700))
	// A dead sandbox: info.json of a pid that is gone, and its socket file.
	dead := filepath.Join(base, "dead")
	require.NoError(t, os.WriteFile(filepath.Join(dead, InfoFile), []byte(`{"name":"dead","pid":2147483646,"socket":"`+filepath.Join(dead, SocketFile)+`"}`), 0o600))
	ln, err := net.Listen("unix", filepath.Join(dead, SocketFile))
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the file stays, nobody listens

	list, err := List(base)
	require.NoError(t, err)
	assert.Empty(t, list, "a dead sandbox is not listed")
	_, err = Find(base, "")
	assert.ErrorContains(t, err, "no sandbox is running")

	rd, err := OpenRunDir(base, dead, Info{Name: "dead", PID: os.Getpid()})
	require.NoError(t, err, "a dead sandbox's leftovers are cleared")
	defer rd.Close()
	rd2, err := OpenRunDir(base, filepath.Join(base, "two"), Info{Name: "two", PID: os.Getpid()})
	require.NoError(t, err)
	defer rd2.Close()

	list, err = List(base)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "dead", list[0].Name)
	_, err = Find(base, "")
	assert.ErrorContains(t, err, "2 sandboxes are running (dead, two); choose one with --sandbox NAME")
	got, err := Find(base, "two")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(base, "two", SocketFile), got.Socket)
	_, err = Find(base, "three")
	assert.ErrorContains(t, err, `no sandbox "three" is running`)
	assert.ErrorContains(t, err, "running: dead, two")

	rd2.Close()
	_, err = os.Stat(filepath.Join(base, "two"))
	assert.True(t, os.IsNotExist(err))
}

func TestNameAndCheckName(t *testing.T) {
	assert.Equal(t, "shop", Name("shop", "x/three-tier.yaml"))
	assert.Equal(t, "three-tier", Name("", "x/three-tier.yaml"))
	assert.Equal(t, "default", Name("", ""))
	for _, bad := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("x", 65), "a\x1b"} {
		assert.Error(t, CheckName(bad), "%q", bad)
	}
	assert.NoError(t, CheckName("web-1.staging_2"))
}

// TestControlStream: an endpoint added with Handle streams to Client.Stream
// until the client stops, and Close ends a stream still running.
func TestControlStream(t *testing.T) {
	_, srv, c, _ := startLab(t)
	srv.Handle("GET /v1/test-stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			fmt.Fprintf(w, "%d\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}))
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.Stream(ctx, "/v1/test-stream", pw); pw.Close() }()
	br := bufio.NewReader(pr)
	for want := 0; want < 3; want++ {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d\n", want), line)
	}
	cancel()
	go io.Copy(io.Discard, pr)
	require.NoError(t, <-done, "a stream the caller stops ends without error")

	// A stream still running when the server closes ends too.
	go func() { done <- c.Stream(context.Background(), "/v1/test-stream", io.Discard) }()
	time.Sleep(20 * time.Millisecond)
	srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the stream")
	}

	// Refusals of a streaming endpoint are APIErrors.
	_, srv2, c2, _ := startLab(t)
	srv2.Handle("GET /v1/test-refuse", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse(w, &firewall.Error{Code: ErrInstanceNotFound, Rule: -1, Field: "instance", Value: "x", Msg: "no such instance"})
	}))
	err := c2.Stream(context.Background(), "/v1/test-refuse", io.Discard)
	assert.Equal(t, 404, apiErr(t, err).Status)
}
