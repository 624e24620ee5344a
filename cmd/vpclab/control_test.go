package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/vpclab/vpclab/sandbox"
)

// controlTopology exposes web-1's http (80) and echo (7) services; one rule,
// tcp 1/1024 from anywhere, allows both. sg-web's quota leaves room for one
// more rule.
func controlTopology(httpPort, echoPort int) string {
	return fmt.Sprintf(`version: 1
name: ctl-e2e
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
quotas: {rules_per_group: 2}
security_groups:
  - name: sg-web
    rules:
      - {direction: ingress, protocol: tcp, port_range: 1/1024, source: 0.0.0.0/0, description: web and echo}
  - name: sg-spare
    rules: []
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 80}, {kind: echo, port: 7}]
    expose: [{port: 80, host_port: %d}, {port: 7, host_port: %d}]
  - {name: app-1, vswitch: web, security_groups: [sg-spare]}
`, httpPort, echoPort)
}

// vpclab runs one verb in-process through the root command, as a user's
// shell would run it, and returns its output and exit status.
func vpclab(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		errb.WriteString("vpclab: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), code
}

// runningUp starts `vpclab up FILE args...` in-process and waits until it is
// up; the returned function stops it (if it still runs) and returns its
// output and status.
func runningUp(t *testing.T, file string, args ...string) (wait func() (string, string, int), stderrSoFar func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := newSyncBuffer(), newSyncBuffer()
	root := newRootCmd()
	root.SetArgs(append([]string{"up", file, "--duration", "2m"}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var result *[3]any
	wait = func() (string, string, int) {
		if result == nil {
			cancel()
			err := <-done
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				code = 2
			}
			result = &[3]any{stdout.String(), stderr.String(), code}
		}
		return result[0].(string), result[1].(string), result[2].(int)
	}
	t.Cleanup(func() { wait() })
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), " is up for "); {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("up ended: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("up did not come up:\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	return wait, stderr.String
}

func mustVerb(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := vpclab(args...)
	if code != 0 {
		t.Fatalf("vpclab %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// curlPage fetches the exposed page with the real curl.
func curlPage(curl string, port int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, curl, "-sS", "--max-time", "5", fmt.Sprintf("http://127.0.0.1:%d/", port)).CombinedOutput()
	return string(out), err
}

// TestControlRuleRemoveWhileTrafficFlows is issue 11's scenario: curl gets
// the page through an exposed port; `vpclab rule remove` of the rule that
// allowed it makes a new curl fail while a connection opened before keeps
// working; `vpclab audit` shows the removal with its actor; `vpclab rule
// add` brings it back; `vpclab down` stops up and removes its run directory.
func TestControlRuleRemoveWhileTrafficFlows(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after up's cleanup
	curl := requireTool(t, "curl", "curl")
	httpPort, echoPort := hostPort(t), hostPort(t)
	file := writeTopology(t, controlTopology(httpPort, echoPort))
	wait, stderr := runningUp(t, file)
	if !strings.Contains(stderr(), "vpclab up: control: vpclab --sandbox ctl-e2e ") {
		t.Fatalf("up does not say where its control API is:\n%s", stderr())
	}

	if page, err := curlPage(curl, httpPort); err != nil || !strings.Contains(page, "web-1") {
		t.Fatalf("curl before the change: %v\n%s", err, page)
	}
	// A connection opened before the change: echo through the exposed port.
	echo, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", echoPort), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	roundTrip := func(msg string) error {
		echo.SetDeadline(time.Now().Add(time.Second))
		if _, err := echo.Write([]byte(msg)); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(echo, buf); err != nil {
			return err
		}
		if string(buf) != msg {
			return fmt.Errorf("echo returned %q", buf)
		}
		return nil
	}
	if err := roundTrip("before"); err != nil {
		t.Fatal(err)
	}

	rule := []string{"sg-web", "--direction", "ingress", "--protocol", "TCP", "--port", "1/1024", "--source", "0.0.0.0/0"}
	out := mustVerb(t, append([]string{"rule", "remove"}, rule...)...)
	if want := "ctl-e2e: revoked from sg-web by user: ingress accept priority 1 tcp 1/1024 source 0.0.0.0/0 \"web and echo\"\n"; out != want {
		t.Errorf("rule remove printed %q, want %q", out, want)
	}
	if page, err := curlPage(curl, httpPort); err == nil || strings.Contains(page, "web-1") {
		t.Errorf("a new curl after the revoke must fail: %v\n%s", err, page)
	}
	if err := roundTrip("after"); err != nil {
		t.Errorf("the connection opened before the revoke must keep working (tracked): %v", err)
	}

	out = mustVerb(t, "audit")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(last) < 4 || last[1] != "user" || last[2] != "revoke" || last[3] != "sg-web" || !strings.Contains(out, "tcp 1/1024 source 0.0.0.0/0") {
		t.Errorf("audit does not end with the revoke by user:\n%s", out)
	}

	// A flush cuts the tracked connection: its next packet meets the rules.
	out = mustVerb(t, "conntrack", "list", "--instance", "web-1")
	if !strings.Contains(out, "10.0.1.1:7 (web-1)") {
		t.Errorf("conntrack list does not show the echo connection:\n%s", out)
	}
	out = mustVerb(t, "conntrack", "flush", "--instance", "web-1")
	if !strings.HasPrefix(out, "ctl-e2e: flushed ") || strings.HasPrefix(out, "ctl-e2e: flushed 0 ") {
		t.Errorf("conntrack flush printed %q", out)
	}
	if err := roundTrip("flushed"); err == nil {
		t.Errorf("the flushed connection still works with no rule allowing it")
	}

	out = mustVerb(t, append([]string{"rule", "add", "--managed-by", "dms"}, rule...)...)
	if !strings.Contains(out, "authorized in sg-web by dms") {
		t.Errorf("rule add printed %q", out)
	}
	if page, err := curlPage(curl, httpPort); err != nil || !strings.Contains(page, "web-1") {
		t.Errorf("curl after rule add: %v\n%s", err, page)
	}
	out = mustVerb(t, "audit", "-o", "json")
	var recs []sandbox.AuditRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	if r := recs[len(recs)-1]; r.Actor != "dms" || r.Action != "authorize" {
		t.Errorf("the last audit record is %+v, want dms authorize", r)
	}

	out = mustVerb(t, "ls")
	if !strings.Contains(out, "ctl-e2e") || !strings.Contains(out, fmt.Sprint(os.Getpid())) {
		t.Errorf("ls:\n%s", out)
	}
	list, _ := sandbox.List(sandbox.BaseDir())
	if len(list) != 1 {
		t.Fatalf("sandboxes: %+v", list)
	}
	dir := list[0].Dir
	echo.Close()

	out = mustVerb(t, "down")
	if !strings.HasPrefix(out, "ctl-e2e: down") {
		t.Errorf("down printed %q", out)
	}
	_, upErr, code := wait()
	if code != 0 {
		t.Errorf("up after down: exit %d\n%s", code, upErr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the run directory %s is left: %v", dir, err)
	}
	if _, errOut, code := vpclab("stats"); code != 2 || !strings.Contains(errOut, "no sandbox is running") {
		t.Errorf("stats with no sandbox: exit %d\n%s", code, errOut)
	}
}

// TestControlBadInputChangesNothing: every verb on bad input exits 2 with
// the precise error and cloud code, and stats and audit are unchanged.
func TestControlBadInputChangesNothing(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after up's cleanup
	file := writeTopology(t, controlTopology(hostPort(t), hostPort(t)))
	runningUp(t, file)
	// Fill sg-web to its quota of 2, so that one more rule is over it.
	mustVerb(t, "rule", "add", "sg-web", "--direction", "ingress", "--protocol", "udp", "--port", "53", "--source", "10.0.0.0/8")

	state := func() string {
		st := mustVerb(t, "stats", "-o", "json")
		var s sandbox.StatsResponse
		if err := json.Unmarshal([]byte(st), &s); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, n := range s.NICs {
			fmt.Fprintf(&b, "%s %v %d rules\n", n.Name, n.Groups, len(n.Rules))
			for _, r := range n.Rules {
				fmt.Fprintf(&b, "  %s %s\n", r.Direction, r.Text)
			}
		}
		return b.String() + mustVerb(t, "audit", "-o", "json")
	}
	before := state()
	rule := []string{"--direction", "ingress", "--protocol", "tcp", "--source", "10.0.0.0/8"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{append([]string{"rule", "add", "sg-nope", "--port", "22"}, rule...),
			"vpclab: InvalidSecurityGroupId.NotFound: group sg-nope: no such group (allowed: sg-spare, sg-web)\n"},
		{append([]string{"rule", "remove", "sg-nope", "--port", "22"}, rule...),
			"vpclab: InvalidSecurityGroupId.NotFound: group sg-nope: no such group (allowed: sg-spare, sg-web)\n"},
		{append([]string{"rule", "add", "sg-web", "--port", "80-90"}, rule...),
			`vpclab: InvalidPortRange.Malformed: port_range "80-90": port range "80-90": want "start/end" (1..65535) or "-1/-1" (allowed: start/end within 1..65535, a single port, or -1/-1)` + "\n"},
		{append([]string{"rule", "add", "sg-web", "--port", "22", "--priority", "0"}, rule...),
			`vpclab: InvalidPriority.ValueNotSupported: priority "0": 0 is out of range (allowed: 1..100)` + "\n"},
		{append([]string{"rule", "add", "sg-web", "--port", "22"}, rule...),
			"vpclab: AuthorizationLimitExceed: group sg-web: the group would have 3 rules; the quota is 2 rules per group (ingress and egress counted together)\n"},
		{append([]string{"rule", "remove", "sg-web", "--port", "23"}, rule...),
			"vpclab: InvalidSecurityGroupRule.NotFound: group sg-web: no such rule: ingress accept priority 1 tcp 23/23 source 10.0.0.0/8\n"},
		{[]string{"group", "join", "web-9", "sg-spare"},
			"vpclab: InvalidNetworkInterfaceId.NotFound: nic web-9: no such NIC (allowed: web-1, app-1)\n"},
		{[]string{"group", "join", "web-1", "sg-nope"}, "group sg-nope"},
		{[]string{"group", "leave", "app-1", "sg-spare"}, "vpclab: InvalidParameter.Conflict"},
		{[]string{"probe", "--from", "app-2", "--to", "web-1", "--port", "80"},
			`vpclab: InvalidInstanceId.NotFound: from "app-2": no instance or internet host "app-2", did you mean "app-1"?`},
		{[]string{"probe", "--from", "app-1", "--to", "web-1", "--port", "0"},
			`vpclab: InvalidPortRange.Malformed: port "0": tcp needs a destination port (allowed: 1..65535)` + "\n"},
		{[]string{"probe", "--from", "app-1", "--to", "web-1", "--port", "eighty"}, `invalid argument "eighty" for "--port"`},
		{[]string{"conntrack", "list", "--instance", "web-2"},
			`vpclab: InvalidInstanceId.NotFound: instance "web-2": no such instance (allowed: web-1, app-1)` + "\n"},
		{[]string{"conntrack", "flush", "--instance", "web-2"}, `no such instance (allowed: web-1, app-1)`},
		{[]string{"stats", "--sandbox", "nope"}, `vpclab: no sandbox "nope" is running`},
		{[]string{"stats", "--instance", "web-2"}, `vpclab: InvalidInstanceId.NotFound: instance "web-2": no such instance or internet host (allowed: web-1, app-1)` + "\n"},
		{[]string{"down", "nope"}, `running: ctl-e2e`},
		{[]string{"audit", "-o", "yaml"}, `-o "yaml": want table or json`},
	} {
		out, errOut, code := vpclab(c.args...)
		if code != 2 {
			t.Errorf("vpclab %s: exit %d, want 2\n%s%s", strings.Join(c.args, " "), code, out, errOut)
			continue
		}
		if strings.HasSuffix(c.want, "\n") && !strings.HasSuffix(errOut, c.want) || !strings.Contains(errOut, strings.TrimSuffix(c.want, "\n")) {
			t.Errorf("vpclab %s:\n got: %s\nwant: %s", strings.Join(c.args, " "), errOut, c.want)
		}
	}
	// Under -o json the refusal is JSON on stdout too.
	out, _, code := vpclab(append([]string{"rule", "add", "sg-nope", "--port", "22", "-o", "json"}, rule...)...)
	var ae sandbox.APIError
	if err := json.Unmarshal([]byte(out), &ae); code != 2 || err != nil || ae.Status != 404 || ae.Errors[0].Code != "InvalidSecurityGroupId.NotFound" {
		t.Errorf("-o json refusal: exit %d, %v\n%s", code, err, out)
	}
	if after := state(); after != before {
		t.Errorf("refused requests changed the sandbox:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestControlRefusesOtherUsers runs clients as nobody: the 0600 socket
// refuses the connection; a socket made reachable by a chmod still answers
// only its owner (SO_PEERCRED): 403.
func TestControlRefusesOtherUsers(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after up's cleanup
	if os.Getuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	curl := requireTool(t, "curl", "curl")
	// A run directory nobody can reach through its parents.
	parent, err := os.MkdirTemp("", "vpclab-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(parent)
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "run")
	file := writeTopology(t, controlTopology(hostPort(t), hostPort(t)))
	runningUp(t, file, "--run-dir", dir)
	sock := filepath.Join(dir, sandbox.SocketFile)

	asNobody := func() (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, curl, "-sSv", "--unix-socket", sock, "-w", "\nHTTP %{http_code}\n", "http://sandbox"+sandbox.PathAudit)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := asNobody()
	if err == nil || !strings.Contains(out, "ermission denied") {
		t.Errorf("nobody through the 0600 socket in a 0700 directory: %v\n%s", err, out)
	}
	// The owner's own client works.
	if out := mustVerb(t, "audit", "--run-dir", dir); !strings.Contains(out, "web and echo") {
		t.Errorf("audit as the owner:\n%s", out)
	}

	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err = asNobody()
	if err != nil || !strings.Contains(out, "HTTP 403") || !strings.Contains(out, "Forbidden.NotOwner") || strings.Contains(out, "web and echo") {
		t.Errorf("nobody through a socket opened by chmod must get 403: %v\n%s", err, out)
	}
}
