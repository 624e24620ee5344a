package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// hostPort returns a host port that was free a moment ago.
func hostPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeTopology writes a topology into a temporary file and returns its path.
func writeTopology(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "topology.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// upTopology exposes web-1:80 (open to the internet) and web-1:22 (closed).
func upTopology(open, closed int) string {
	return fmt.Sprintf(`version: 1
name: up-test
vpc: {cidr: 10.0.0.0/16}
vswitches: [{name: web, cidr: 10.0.1.0/24}]
security_groups:
  - name: sg-web
    rules: [{direction: ingress, protocol: tcp, port_range: 80/80, source: 0.0.0.0/0}]
instances:
  - name: web-1
    vswitch: web
    security_groups: [sg-web]
    eip: 47.100.0.10
    services: [{kind: http, port: 80}, {kind: banner, port: 22, text: "SSH-2.0-x"}]
    expose: [{port: 80, host_port: %d}, {port: 22, host_port: %d}]
internet:
  hosts: [{name: client, ip: 192.0.2.7}]
expect:
  - {from: client, to: web-1, port: 80, result: allow}
  - {from: client, to: web-1, port: 22, result: block}
`, open, closed)
}

// startUp runs the root command with args in the background; wait returns
// its output and exit status once it ends.
func startUp(ctx context.Context, args ...string) (wait func() (stdout, stderr string, code int)) {
	var out, errb bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	return func() (string, string, int) {
		err := <-done
		code := 0
		if err != nil {
			code = 2
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			errb.WriteString(err.Error())
		}
		return out.String(), errb.String(), code
	}
}

// dialUntil retries until the host port accepts.
func dialUntil(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d never opened: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUpExposeAndTeardown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	open, closed := hostPort(t), hostPort(t)
	file := writeTopology(t, upTopology(open, closed))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := startUp(ctx, "up", file, "--duration", "30s")
	dialUntil(t, open)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", open))
	if err != nil {
		t.Fatalf("GET through the exposed port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "web-1") {
		t.Errorf("body = %q, want web-1", body)
	}
	if _, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", closed)); err == nil {
		t.Error("GET through an expose the group does not open succeeded")
	}

	cancel() // as SIGINT does
	stdout, stderr, code := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"web-1", "10.0.1.1", "47.100.0.10", "http/80", fmt.Sprintf("127.0.0.1:%d", open),
		"host-client", "reachability: 2 passed, 0 failed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "blocked") || !strings.Contains(stderr, "torn down") {
		t.Errorf("stderr lacks the blocked expose or the teardown:\n%s", stderr)
	}
	if _, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", open)); err == nil {
		t.Error("the host port still accepts after up ended")
	}
}

func TestUpDurationJSON(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	file := writeTopology(t, upTopology(hostPort(t), hostPort(t)))
	start := time.Now()
	stdout, stderr, code, _ := runVPCLab(t, "up", file, "--duration", "200ms", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("up --duration 200ms took %v", d)
	}
	var rep upReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, stdout)
	}
	if rep.Name != "up-test" || len(rep.Instances) != 1 || rep.Instances[0].EIP != "47.100.0.10" ||
		len(rep.Exposed) != 2 || rep.Passed != 2 || rep.Failed != 0 {
		t.Errorf("report = %+v", rep)
	}
}

func TestUpDefault(t *testing.T) {
	// The default topology exposes 8080, 2222 and 2525; skip when the host
	// has one busy.
	for _, port := range []string{"8080", "2222", "2525"} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Skipf("127.0.0.1:%s is busy: %v", port, err)
		}
		ln.Close()
	}
	stdout, stderr, code, _ := runVPCLab(t, "up", "--duration", "1ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "default.yaml (embedded)") || !strings.Contains(stdout, "0 failed") {
		t.Errorf("output:\n%s", stdout)
	}
}

func TestUpErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	failing := strings.Replace(upTopology(hostPort(t), hostPort(t)), "port: 22, result: block", "port: 22, result: allow", 1)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing file", []string{"up", "no/such.yaml"}, 2, "no/such.yaml"},
		{"invalid file", []string{"up", writeTopology(t, "version: 1\nvpc: {cidr: 10.0.0.0/16}\nvswitches: []\ninstances: [{name: a, vswitch: nope, prot: 1}]\n")}, 2, `unknown field "prot"`},
		{"bad output", []string{"up", "-o", "yaml"}, 2, "table or json"},
		{"busy host port", []string{"up", writeTopology(t, upTopology(hostPort(t), port)), "--duration", "1ms"}, 1,
			fmt.Sprintf("host port %d for web-1:22", port)},
		{"failed expectation", []string{"up", writeTopology(t, failing), "--duration", "1ms"}, 1, "1 of 2 expectations failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code, err := runVPCLab(t, tc.args...)
			msg := stderr
			if err != nil {
				msg += err.Error()
			}
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("exit %d, %q; want exit %d and %q", code, msg, tc.code, tc.want)
			}
		})
	}
}

// TestUpReportsLikeTest: a failing expectation in up's reachability summary
// reads exactly as vpclab test prints it: the same lines, the same reason.
func TestUpReportsLikeTest(t *testing.T) {
	file := writeTopology(t, dbDropTopology+`  - {name: "app reaches the db", from: app, to: db, port: 5432, result: allow}
  - {name: "nothing on 6000", from: app, to: db, port: 6000, result: allow}
  - {from: app, to: db, port: 6001, result: refuse}
`)
	testOut, _, code, _ := runVPCLab(t, "test", file)
	if code != 1 {
		t.Fatalf("test: exit %d, want 1\n%s", code, testOut)
	}
	upOut, stderr, code, err := runVPCLab(t, "up", file, "--duration", "1ms")
	if code != 1 || err == nil || err.Error() != "2 of 3 expectations failed" {
		t.Fatalf("up: exit %d, %v; want 1 and \"2 of 3 expectations failed\"\n%s\n%s", code, err, upOut, stderr)
	}
	// test prints the file name, the results, then the count.
	lines := strings.Split(strings.TrimSuffix(testOut, "\n"), "\n")
	results := strings.Join(lines[1:len(lines)-1], "\n") + "\n"
	for _, want := range []string{"SG_RULE_DROP", "group=sg-db priority=2 policy=drop description=no db from the subnet managed_by=dms",
		"FAIL nothing on 6000: NO_LISTENER", "observed refuse  connection refused (TCP RST)"} {
		if !strings.Contains(results, want) {
			t.Errorf("test output lacks %q:\n%s", want, testOut)
		}
	}
	if !strings.Contains(upOut, "\nreachability: 1 passed, 2 failed\n"+results) {
		t.Errorf("up's summary differs from test's results\ntest:\n%s\nup:\n%s", results, upOut)
	}
}
